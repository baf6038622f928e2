"""News crawler: feeds and sites into SQLite, syndicated copies merged into stories."""

__version__ = "0.1.0"
