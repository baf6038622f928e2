"""The worker's side of the results stream: send a message and release leases in one step."""
from __future__ import annotations

from typing import Any, Iterable

from . import Keys
from .messages import encode


class Outbox:
    """Sends results to the writer; ``done`` leases are released in the same MULTI/EXEC, so a
    request is either still leased (and redone if the worker dies) or its result is queued."""

    def __init__(self, server, keys: Keys, worker: str):
        self.server = server
        self.keys = keys
        self.inflight = keys.inflight(worker)

    def send(self, kind: str, done: Iterable[str] = (), **fields: Any) -> None:
        done = list(done)
        with self.server.pipeline(transaction=bool(done)) as pipe:
            pipe.xadd(self.keys.results, encode(kind, **fields))
            if done:
                pipe.hdel(self.inflight, *done)
            pipe.execute()

    def release(self, done: Iterable[str]) -> None:
        done = list(done)
        if done:
            self.server.hdel(self.inflight, *done)
