"""Timestamps as the analysis shows them: parsing stored ISO strings, `--since`, durations.

Stored timestamps are ISO 8601 strings (UTC, sometimes date-only or with an offset). SQL compares
them through ``julianday()``, which understands all those forms, so no format is assumed.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from crawler.errors import UserError

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (naive values are taken as UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_since(value: str, now: datetime | None = None) -> str:
    """``--since`` as an ISO UTC string: a date, a date-time, or an age such as 36h, 7d, 2w."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value)
    if match:
        moment = now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        moment = parse_time(value)
        if moment is None:
            raise UserError(f"--since {value!r}: expected a date (2025-03-01), a date-time "
                            f"(2025-03-01T12:00) or an age (36h, 7d, 2w)")
    return moment.isoformat(timespec="seconds")


def show_time(value: datetime | str | None) -> str:
    """Minutes-precision UTC, the way tables show times; blank when unknown."""
    if isinstance(value, str):
        value = parse_time(value)
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def show_duration(delta: timedelta | float | None) -> str:
    """A spread such as ``45m``, ``5h 05m``, ``3d 4h`` or ``2y 41d``; blank when unknown."""
    if delta is None:
        return ""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    minutes = int(round(abs(seconds) / 60))
    hours, days = minutes // 60, minutes // 1440
    if minutes < 60:
        text = f"{minutes}m"
    elif hours < 48:
        text = f"{hours}h {minutes % 60:02d}m"
    elif days < 365:
        text = f"{days}d {hours % 24}h"
    else:
        text = f"{days // 365}y {days % 365}d"
    return ("-" if seconds < 0 else "") + text
