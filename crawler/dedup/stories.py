"""Story assignment (placeholder: every article is its own story; the real one follows)."""
from __future__ import annotations

from typing import Callable

import sqlite_utils

from . import DedupParams
from .sketch import Fingerprint


class StoryAssigner:
    def __init__(self, db: sqlite_utils.Database, params: DedupParams):
        self.db = db
        self.params = params

    def add(self, article_id: int, fp: Fingerprint) -> int:
        from .. import store
        return store.new_story_for(self.db, article_id)


def rebuild(db: sqlite_utils.Database, params: DedupParams,
            progress: Callable[[int, int], None] | None = None) -> dict:
    from .. import store
    ids = [r[0] for r in db.execute("SELECT id FROM articles ORDER BY id")]
    with store.transaction(db):
        db.execute("DELETE FROM stories")
        for article_id in ids:
            store.new_story_for(db, article_id)
    return {"articles": len(ids), "stories": len(ids)}
