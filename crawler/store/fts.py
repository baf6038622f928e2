"""The full-text index over articles: an SQLite FTS5 table kept current by triggers.

``articles_fts`` is an external-content FTS5 table over ``articles(title, text)`` (the layout
sqlite-utils and Datasette detect). Tokenizer ``unicode61 remove_diacritics 0``: case-folded,
but umlauts and accents are kept, so "Schüler" matches "Schüler" and "schüler", never "Schuler".

Triggers keep the index current for every writer, so it only has to be created once per
database: ``ensure_fts(db)`` is cheap when the index exists. The update trigger fires only when
``title`` or ``text`` change (sqlite-utils' own trigger fires on every update and would re-index
an article each time dedup sets its ``story_id``).
"""
from __future__ import annotations

import sqlite_utils

FTS_TABLE = "articles_fts"
FTS_COLUMNS = ("title", "text")
TOKENIZE = "unicode61 remove_diacritics 0"

_CREATE = f"""CREATE VIRTUAL TABLE IF NOT EXISTS [{FTS_TABLE}] USING FTS5 (
    [title], [text],
    tokenize='{TOKENIZE}',
    content=[articles]
)"""
_TRIGGERS = {
    "articles_ai": f"""CREATE TRIGGER IF NOT EXISTS [articles_ai] AFTER INSERT ON [articles] BEGIN
  INSERT INTO [{FTS_TABLE}] (rowid, [title], [text]) VALUES (new.rowid, new.[title], new.[text]);
END""",
    "articles_ad": f"""CREATE TRIGGER IF NOT EXISTS [articles_ad] AFTER DELETE ON [articles] BEGIN
  INSERT INTO [{FTS_TABLE}] ([{FTS_TABLE}], rowid, [title], [text])
    VALUES ('delete', old.rowid, old.[title], old.[text]);
END""",
    "articles_au": f"""CREATE TRIGGER IF NOT EXISTS [articles_au]
AFTER UPDATE OF [title], [text] ON [articles] BEGIN
  INSERT INTO [{FTS_TABLE}] ([{FTS_TABLE}], rowid, [title], [text])
    VALUES ('delete', old.rowid, old.[title], old.[text]);
  INSERT INTO [{FTS_TABLE}] (rowid, [title], [text]) VALUES (new.rowid, new.[title], new.[text]);
END""",
}


def fts_ready(db: sqlite_utils.Database) -> bool:
    """The index and all three triggers exist (so it is complete and stays current)."""
    names = {row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE name IN (?, ?, ?, ?)", [FTS_TABLE, *_TRIGGERS])}
    return names == {FTS_TABLE, *_TRIGGERS}


def ensure_fts(db: sqlite_utils.Database) -> bool:
    """Create and fill the index and its triggers if missing (one transaction); True if built.

    Needs a writable database. Call it where the crawl opens the database; any reader that
    finds the index missing builds it once when it may write.
    """
    if fts_ready(db):
        return False
    from crawler.store import transaction

    with transaction(db):
        db.execute(_CREATE)
        # 'rebuild' re-reads every article: also mends an index whose triggers were lost.
        db.execute(f"INSERT INTO [{FTS_TABLE}]([{FTS_TABLE}]) VALUES ('rebuild')")
        for sql in _TRIGGERS.values():
            db.execute(sql)
    return True
