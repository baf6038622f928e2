"""Errors that are the user's to fix: the CLI prints them as one clear line, no traceback."""


class UserError(Exception):
    """A mistake in the command line or an input file, with a message that says how to fix it."""
