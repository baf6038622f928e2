"""A DNS resolver for tests (``-s DNS_RESOLVER=tests.loopback_resolver.LoopbackResolver``):
a few made-up host names resolve to loopback addresses, every other name fails. It never asks
a real DNS server, so a test using host names still cannot reach any other address."""
from __future__ import annotations

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

#: Two hosts of one publisher (example.com) on two addresses, and another publisher.
NAMES = {
    "www.example.com": "127.0.0.51",
    "feeds.example.com": "127.0.0.52",
    "www.example.org": "127.0.0.53",
}


class LoopbackResolver(CachingThreadedResolver):
    def getHostByName(self, name: str, timeout=()):
        address = NAMES.get(name.lower())
        if address is None:
            return defer.fail(DNSLookupError(f"{name}: not a test name"))
        return defer.succeed(address)
