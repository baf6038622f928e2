"""SQLite failures the user has to fix (disk full, read-only, damaged file), as one clear line.

A crawl that can no longer write must stop at once with a message that says what to do, not
log a traceback for every page it can no longer store. SQLite rolls the failed transaction
back, so what was stored before stays intact and the next crawl fetches the rest.
"""
from __future__ import annotations

import errno
import sqlite3

#: SQLite primary error names -> what to tell the user ({path}: the database, {error}: SQLite's words).
MESSAGES = {
    "SQLITE_FULL": "disk full: cannot write to the database {path} ({error}); free some space "
                   "and run the crawl again: what is stored is intact",
    "SQLITE_READONLY": "the database {path} is read-only ({error}): make the file and its folder "
                       "writable (SQLite writes -wal and -shm files beside it)",
    "SQLITE_CANTOPEN": "cannot open the database {path} for writing ({error}): check that its "
                       "folder exists and is writable",
    "SQLITE_IOERR": "disk error writing the database {path} ({error}): the disk may be full or "
                    "failing; what is stored is intact",
    "SQLITE_CORRUPT": "the database {path} is damaged ({error}): restore it from a backup or "
                      "start a new one with --db",
    "SQLITE_NOTADB": "{path} is not a crawler database ({error}): choose another file with --db",
}

OS_ERRORS = {errno.ENOSPC: "SQLITE_FULL", errno.EDQUOT: "SQLITE_FULL",
             errno.EROFS: "SQLITE_READONLY", errno.EACCES: "SQLITE_READONLY",
             errno.EPERM: "SQLITE_READONLY"}


def fatal_database_error(exc: BaseException, path: str | None) -> str | None:
    """The message for an error that stops every further write, or None for any other error."""
    kind = classify(exc)
    if kind is None:
        return None
    if isinstance(exc, OSError) and exc.filename:
        path = exc.filename
    return MESSAGES[kind].format(path=path or "?", error=str(exc).strip() or kind)


def classify(exc: BaseException) -> str | None:
    """The SQLITE_* name (a key of MESSAGES) of a fatal storage error, else None."""
    kind = None
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        kind = next((k for k in MESSAGES if name.startswith(k)), None)
        if kind is None:  # older SQLite builds give only the text
            text = str(exc).lower()
            kind = ("SQLITE_FULL" if "disk is full" in text else
                    "SQLITE_READONLY" if "readonly" in text else
                    "SQLITE_IOERR" if "disk i/o error" in text else
                    "SQLITE_CANTOPEN" if "unable to open database" in text else
                    "SQLITE_CORRUPT" if "malformed" in text else
                    "SQLITE_NOTADB" if "not a database" in text else None)
    elif isinstance(exc, OSError):
        kind = OS_ERRORS.get(exc.errno)
    return kind
