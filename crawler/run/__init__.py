"""Running crawls: the options both front ends share, and the Python API (crawler.run.api)."""
