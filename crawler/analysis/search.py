"""Full-text search over articles: an SQLite FTS5 index kept current by triggers.

``articles_fts`` is an external-content FTS5 table over ``articles(title, text)`` (the layout
sqlite-utils and Datasette detect). Tokenizer ``unicode61 remove_diacritics 0``: case-folded,
but umlauts and accents are kept, so "Schüler" matches "Schüler" and "schüler", never "Schuler".

Triggers keep the index current for every writer, so it only has to be created once per
database: ``ensure_fts(db)`` is cheap when the index exists. The update trigger fires only when
``title`` or ``text`` change (sqlite-utils' own trigger fires on every update and would re-index
an article each time dedup sets its ``story_id``).
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from crawler import store
from crawler.analysis.access import build_once
from crawler.analysis.filters import article_conditions
from crawler.errors import UserError

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
    with store.transaction(db):
        db.execute(_CREATE)
        # 'rebuild' re-reads every article: also mends an index whose triggers were lost.
        db.execute(f"INSERT INTO [{FTS_TABLE}]([{FTS_TABLE}]) VALUES ('rebuild')")
        for sql in _TRIGGERS.values():
            db.execute(sql)
    return True


def require_fts(db: sqlite_utils.Database, path: str | Path) -> None:
    """Make sure a read-only connection can search: build the index once if the file allows."""
    if fts_ready(db):
        return
    build_once(path, "full-text index", "crawler search", ensure_fts)


def fts_query(text: str, *, raw: bool = False) -> str:
    """User words as an FTS5 query: every word must occur (quoted, so '-' or ':' are no syntax).

    ``raw`` passes FTS5 syntax through (phrases "..", prefix Schul*, OR, NOT, NEAR).
    """
    if raw:
        return text
    words = re.findall(r"\w+", text)
    if not words:
        raise UserError(f"search {text!r}: no words to search for")
    return " ".join(f'"{w}"' for w in words)


@dataclass(frozen=True)
class SearchHit:
    """One matching article and the story it belongs to."""

    article_id: int
    story_id: int | None
    site: str | None
    published: str | None
    first_seen: str | None
    language: str | None
    title: str | None
    url: str
    snippet: str
    rank: float


def search(db: sqlite_utils.Database, query: str, *, raw: bool = False, limit: int | None = 20,
           site: str | None = None, language: str | None = None,
           since: str | None = None) -> list[SearchHit]:
    """Articles matching ``query``, best first (bm25), with a snippet around the match."""
    where, params = article_conditions("a.", since=since, site=site, language=language)
    where.insert(0, "[articles_fts] MATCH :q")
    params["q"] = fts_query(query, raw=raw)
    sql = f"""
        SELECT a.id AS article_id, a.story_id, a.site, a.published, a.first_seen, a.language,
               a.title, a.url,
               snippet([articles_fts], 1, '[', ']', ' … ', 16) AS snippet,
               [articles_fts].rank AS rank
        FROM [articles_fts] JOIN articles a ON a.rowid = [articles_fts].rowid
        WHERE {' AND '.join(where)}
        ORDER BY [articles_fts].rank
        {'LIMIT :limit' if limit else ''}"""
    if limit:
        params["limit"] = limit
    try:
        return [SearchHit(**row) for row in db.query(sql, params)]
    except sqlite3.OperationalError as exc:
        if raw:  # fts5: syntax error, unterminated string, no such column, ...
            raise UserError(f"search {query!r}: not valid FTS5 syntax ({exc})") from None
        raise


def matching_story_ids_sql() -> str:
    """SQL (one parameter :q) for the ids of stories with an article matching an FTS query."""
    return ("SELECT a.story_id FROM [articles_fts] JOIN articles a ON a.rowid = "
            "[articles_fts].rowid WHERE [articles_fts] MATCH :q")
