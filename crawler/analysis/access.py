"""Opening a crawl database for reading, with errors a user can act on.

Readers open the file read-only (``mode=ro``), so they never take the write lock and keep
working while a crawl writes (WAL lets readers and one writer run at once).
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable

import sqlite_utils

from crawler import store
from crawler.errors import UserError


class NotFound(UserError, LookupError):
    """A story or article id that the database does not hold."""


def open_readonly(path: str | Path) -> sqlite_utils.Database:
    """The crawl database at ``path``, read-only; UserError if it is missing or not ours."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no database at {path} (crawl first, or pass --db PATH)")
    try:
        db = store.open_db(path, readonly=True)
        tables = set(db.table_names())
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path} is not a SQLite database ({exc})") from None
    missing = {"articles", "stories"} - tables
    if missing:
        db.close()
        raise UserError(f"{path} is not a crawler database (no table {', '.join(sorted(missing))})")
    return db


def has_table(db: sqlite_utils.Database, name: str) -> bool:
    return db[name].exists()


def build_once(path: str | Path, what: str, command: str,
               build: Callable[[sqlite_utils.Database], object]) -> None:
    """Build something a reader needs (``what``: "a full-text index", ...) with ``build`` on a
    writable connection, once; UserError if the file is read-only here or a writer holds it."""
    path = Path(path)
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise UserError(f"{path} has no {what} and is read-only here; run `{command}` once "
                        f"with write access to build it")
    try:
        writable = store.open_db(path)
        try:
            build(writable)
        finally:
            writable.close()
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise UserError(f"{path} has no {what} yet and is locked by a writer (a crawl?); "
                        f"try again when it ends") from None
