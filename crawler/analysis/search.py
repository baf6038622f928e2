"""Full-text search over articles, on the FTS5 index of :mod:`crawler.store.fts`."""
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
from crawler.store.fts import ensure_fts, fts_ready

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
