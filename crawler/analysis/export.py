"""Stream articles or stories out as JSON Lines or CSV, for other tools.

Rows go straight from the SQLite cursor to the output, so memory stays flat however large the
database. Every column of the table is exported as stored (NULL as JSON null, or an empty CSV
field), except the compressed page HTML.
"""
from __future__ import annotations

import csv
import json
import sys
import time
from typing import IO, Iterator

import sqlite_utils

from crawler.analysis.filters import article_conditions, story_conditions, where_clause

FORMATS = ("jsonl", "csv")
TABLES = ("articles", "stories")
#: Columns never exported (binary page bodies; re-extract from the database instead).
SKIPPED_COLUMNS = {"html"}
#: Exports of more rows than this show a progress bar when stderr is a terminal.
PROGRESS_MIN_ROWS = 10_000


def export_columns(db: sqlite_utils.Database, table: str) -> list[str]:
    return [c for c in db[table].columns_dict if c not in SKIPPED_COLUMNS]


def _where(table: str, since: str | None, site: str | None, language: str | None,
           story_id: int | None) -> tuple[str, dict]:
    conditions = story_conditions if table == "stories" else article_conditions
    where, params = conditions(since=since, site=site, language=language, story_id=story_id)
    return where_clause(where), params


def count_rows(db: sqlite_utils.Database, table: str = "articles", *, since: str | None = None,
               site: str | None = None, language: str | None = None,
               story_id: int | None = None) -> int:
    where, params = _where(table, since, site, language, story_id)
    return db.execute(f"SELECT count(*) FROM [{table}]{where}", params).fetchone()[0]


def iter_rows(db: sqlite_utils.Database, table: str = "articles", *, since: str | None = None,
              site: str | None = None, language: str | None = None,
              story_id: int | None = None) -> Iterator[dict]:
    """Rows of ``table`` in id order, filtered, one at a time."""
    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}")
    columns = ", ".join(f"[{c}]" for c in export_columns(db, table))
    where, params = _where(table, since, site, language, story_id)
    yield from db.query(f"SELECT {columns} FROM [{table}]{where} ORDER BY id", params)


def write_rows(rows: Iterator[dict], out: IO[str], fmt: str, columns: list[str],
               progress: "ProgressBar | None" = None) -> int:
    """Write ``rows`` as ``fmt`` to ``out``; returns how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
            if progress:
                progress.update(n)
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False))
            out.write("\n")
            n += 1
            if progress:
                progress.update(n)
    if progress:
        progress.finish(n)
    return n


class ProgressBar:
    """A one-line bar on stderr, redrawn at most every ``interval`` seconds."""

    def __init__(self, total: int, label: str = "rows", stream: IO[str] | None = None,
                 width: int = 30, interval: float = 0.2):
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = interval
        self.started = time.monotonic()
        self.last_draw = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last_draw >= self.interval:
            self.last_draw = now
            self._draw(done, now)

    def finish(self, done: int) -> None:
        self._draw(done, time.monotonic())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, done: int, now: float) -> None:
        share = done / self.total if self.total else 1.0
        filled = int(round(self.width * min(share, 1.0)))
        rate = done / max(now - self.started, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} "
                          f"{done:,}/{self.total:,} {self.label} · {rate:,.0f}/s")
        self.stream.flush()
