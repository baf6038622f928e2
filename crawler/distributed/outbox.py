"""The worker's writes to Redis, batched: results for the writer, requests for the queue, lease
releases, all in one MULTI/EXEC every CRAWLER_REDIS_FLUSH seconds (or CRAWLER_REDIS_FLUSH_SIZE
commands); new requests go out at the next tick of the reactor, as other workers may be
waiting for them.

Batching keeps every guarantee: a request's lease is released only in the transaction that
queues its result or its follow-up requests, so a worker killed before a flush has its leases
requeued and its pages fetched again; nothing it had not flushed was acknowledged anywhere.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from . import Keys
from .leases import _PUSH
from .messages import encode


class Outbox:
    """Buffers sends, pushes and releases; ``flush`` writes them in one round trip."""

    def __init__(self, server, keys: Keys, worker: str, max_commands: int = 200):
        self.server = server
        self.keys = keys
        self.inflight = keys.inflight(worker)
        self.max_commands = max_commands
        self.pipe = server.pipeline(transaction=True)
        self.pushed = 0  # requests in the buffer: the engine looks at the queue after a flush
        self.on_pushed: Callable[[], None] | None = None
        self.queue = None
        self.sent = 0  # messages to the writer, flushed
        self.sending = 0

    def send(self, kind: str, done: Iterable[str] = (), **fields: Any) -> None:
        """A message for the writer, and the leases it releases."""
        self.pipe.xadd(self.keys.results, encode(kind, **fields))
        self.sending += 1
        self.release(done)

    def release(self, done: Iterable[str]) -> None:
        done = list(done)
        if done:
            self.pipe.hdel(self.inflight, *done)
        self._maybe_flush()

    def push(self, site: str, base: float, data: bytes, fingerprint: str, link: bytes,
             leases: list[str]) -> None:
        """Queue a request (see leases._PUSH) and release the leases it carried."""
        k = self.keys
        # EVAL, not EVALSHA: a script missing from the server's cache fails inside EXEC while
        # the rest of the transaction (lease releases) would still apply
        self.pipe.execute_command("EVAL", _PUSH, 5, k.requests, k.seen, self.inflight,
                                  k.results, k.site_counts, site, base, data, fingerprint,
                                  link, *leases)
        self.pushed += 1
        if self.pushed == 1:  # a feed's requests come together: flush once they are all in
            from twisted.internet import reactor

            reactor.callLater(0, self.flush)
        self._maybe_flush()

    def command(self, name: str, *args: Any) -> None:
        """Any other write (e.g. SREM of a fingerprint), in order with the rest."""
        self.pipe.execute_command(name, *args)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.pipe.command_stack) >= self.max_commands:
            self.flush()

    def flush(self) -> None:
        if not self.pipe.command_stack:
            return
        pushed, sending = self.pushed, self.sending
        self.pushed = self.sending = 0
        self.pipe.execute()
        self.sent += sending
        if pushed and self.on_pushed:
            self.on_pushed()
