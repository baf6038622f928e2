"""What workers send the writer through the results stream, and how it is encoded.

One stream entry holds one pickled message ``{"kind": ..., ...}``; kinds:

- ``article``: ``page`` (crawler.items.Page; its body only with --keep-html), ``article`` (the
  ExtractPipeline's dict with its text fingerprint), ``feeds`` (every feed that listed it);
- ``failure``: the keyword arguments of ``store.record_failure``, its ``kind`` as ``what``;
- ``feed``: the keyword arguments of ``store.feed_fetched`` (url, status, error, ETag...);
- ``validators``: ``url``, ``etag``, ``last_modified`` of a feed whose entries are queued;
- ``link``: ``url``, ``feed_url``: one more feed lists an article fetched already.

Pickle, like scrapy-redis's request queue: the fingerprint holds numpy arrays, and the Redis
server is trusted by every process of the crawl anyway (keep it on a private network).
"""
from __future__ import annotations

import pickle
from typing import Any

FIELD = b"m"


def encode(kind: str, **fields: Any) -> dict[bytes, bytes]:
    """The stream entry for a message."""
    return {FIELD: pickle.dumps({"kind": kind, **fields}, protocol=pickle.HIGHEST_PROTOCOL)}


def decode(entry: dict[bytes, bytes]) -> dict[str, Any]:
    return pickle.loads(entry[FIELD])
