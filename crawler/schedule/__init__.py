"""When to fetch each feed next: an adaptive interval per feed, within the user's bounds.

Pure policy, no database and no clock of its own (tested on its own); crawler.runtime.crawl applies it
to the `feeds` table after every finished crawl, and ``crawler crawl --every`` / ``--due`` read
`feeds.next_fetch` to decide which feeds a pass fetches.

The rule, after each fetch of a feed:

- it failed: the interval doubles from the base interval with every failure in a row
  (base, 2x, 4x ... up to the maximum); after ``max_failures`` failures in a row the feed is
  disabled (a plain ``crawler crawl`` of it enables it again when it answers).
- it brought new articles: the interval is scaled by ``target_new / n_new`` (at most halved), so
  a feed that publishes a lot is fetched more often, one new article per fetch keeps the pace.
- it brought nothing new (304, or only known articles): the interval grows by ``slowdown``.
- the first fetch of a feed keeps the base interval (all its entries are new, which says
  nothing about its pace).

The interval always stays within [minimum, maximum].
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90s', '15m', '2h', '1d', '1h30m' or plain seconds -> seconds. ValueError if unreadable."""
    text = str(text).strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        parts = re.fullmatch(r"(?:\d+(?:\.\d+)?[smhd])+", text)
        if not parts:
            raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 2h, 1d)")
        seconds = int(sum(float(n) * UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])",
                                                                      text)))
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {text!r}")
    return seconds


def format_duration(seconds: float | None) -> str:
    """3600 -> '1h', 5400 -> '1h30m', 45 -> '45s'."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not out):
            n, seconds = divmod(seconds, size)
            out.append(f"{n}{unit}")
    return "".join(out[:2])


@dataclass(frozen=True)
class Policy:
    """The bounds the user sets (CRAWLER_INTERVAL, CRAWLER_MIN_INTERVAL, CRAWLER_MAX_INTERVAL,
    CRAWLER_MAX_FAILURES) and how fast the interval adapts."""

    base: int = 900
    minimum: int = 300
    maximum: int = 86400
    max_failures: int = 10
    target_new: float = 1.0
    slowdown: float = 1.5
    fastest_step: float = 0.5

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        minimum = settings.getint("CRAWLER_MIN_INTERVAL")
        maximum = max(minimum, settings.getint("CRAWLER_MAX_INTERVAL"))
        base = min(max(settings.getint("CRAWLER_INTERVAL"), minimum), maximum)
        return cls(base=base, minimum=minimum, maximum=maximum,
                   max_failures=settings.getint("CRAWLER_MAX_FAILURES"))

    def clamp(self, seconds: float) -> int:
        return int(round(min(max(seconds, self.minimum), self.maximum)))


@dataclass(frozen=True)
class Outcome:
    """What one fetch of a feed brought."""

    n_new: int = 0            # articles new to the database, through this feed
    failed: bool = False      # the feed gave nothing (error, not a feed, robots.txt...)
    n_errors: int = 0         # failures in a row, this one included
    first_fetch: bool = False


@dataclass(frozen=True)
class Decision:
    interval: int
    disabled: bool


def next_interval(previous: int | None, outcome: Outcome, policy: Policy) -> Decision:
    """The feed's next interval (seconds) and whether it is disabled now."""
    if outcome.failed:
        errors = max(1, outcome.n_errors)
        backoff = policy.base * 2 ** min(errors - 1, 30)
        return Decision(policy.clamp(backoff), errors >= policy.max_failures)
    current = policy.clamp(previous or policy.base)
    if outcome.first_fetch:
        return Decision(policy.base, False)
    if outcome.n_new <= 0:
        return Decision(policy.clamp(current * policy.slowdown), False)
    factor = max(policy.fastest_step, min(1.0, policy.target_new / outcome.n_new))
    return Decision(policy.clamp(current * factor), False)


def next_fetch_time(now: datetime, interval: int) -> str:
    """ISO 8601 UTC (the `feeds.next_fetch` format) ``interval`` seconds after ``now``."""
    return (now + timedelta(seconds=interval)).astimezone(timezone.utc) \
        .isoformat(timespec="seconds")


def is_due(next_fetch: str | None, disabled: int | None, now: datetime) -> bool:
    """A feed is due when it was never scheduled or its time has come, and it is enabled."""
    if disabled:
        return False
    return not next_fetch or datetime.fromisoformat(next_fetch) <= now


def plan_updates(outcomes: dict[str, dict], policy: Policy, now: datetime) -> dict[str, dict]:
    """The `feeds` columns to set after a crawl, from ``store.feed_outcomes`` (feed rows plus
    ``n_new`` and ``newest``): interval_seconds, next_fetch, disabled, last_new_article."""
    updates = {}
    for url, feed in outcomes.items():
        outcome = Outcome(n_new=feed.get("n_new") or 0, failed=bool(feed.get("error")),
                          n_errors=feed.get("n_errors") or 0,
                          first_fetch=(feed.get("n_fetches") or 0) <= 1)
        decision = next_interval(feed.get("interval_seconds"), outcome, policy)
        fields = {"interval_seconds": decision.interval, "disabled": int(decision.disabled),
                  "next_fetch": next_fetch_time(now, decision.interval)}
        if outcome.n_new and feed.get("newest"):
            fields["last_new_article"] = feed["newest"]
        updates[url] = fields
    return updates
