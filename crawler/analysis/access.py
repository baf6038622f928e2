"""Opening a crawl database for reading, with errors a user can act on.

Readers open the file read-only (``mode=ro``), so they never take the write lock and keep
working while a crawl writes (WAL lets readers and one writer run at once).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

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
