"""Errors that are the user's to fix: the CLI prints them as one clear line, no traceback.

Also the error of a crawl that broke down (crawler.launch: its process failed without a summary).
"""


class UserError(Exception):
    """A mistake in the command line or an input file, with a message that says how to fix it."""


class CrawlError(RuntimeError):
    """A crawl's process failed before it could sum the crawl up (a bug, or it was killed)."""
