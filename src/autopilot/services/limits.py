"""Rate limits shared by every process on one database (DESIGN §6 "Security").

A limit is ``N/period`` (``30/minute``). Requests are counted in fixed windows of the period,
aligned to the epoch, in the ``rate_limit_counters`` table: one atomic
``INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits`` per request decides it,
so two servers (or ten) on the same database draw on one budget, and no process keeps a count of
its own. The statement touches one row of one small table by its primary key, in a transaction
of its own: at 1,000 requests/s that is 1,000 single-row upserts a second, and a key's row is
locked only for the statement. The table holds a row per key and window, not per request, so
the check costs the same at the limit as under it. ``bench/rate_limits.py`` measures it: on
this project's 2-core machine one API process checks about 2,000/s on PostgreSQL and 7,000/s on
SQLite (WAL), against the target of 1,000/s. Old windows are purged now and then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from autopilot.services.ports import Clock, UnitOfWorkFactory

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")
PURGE_EVERY = 1000  # requests between purges of windows past


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    name: str
    count: int
    period_s: int

    @classmethod
    def parse(cls, name: str, text: str) -> RateLimit:
        """``"30/minute"`` (or second, hour, day); ``ValueError`` for anything else."""
        found = _LIMIT.match(text)
        if found is None or int(found.group(1)) <= 0:
            raise ValueError(f"not a rate limit: {text!r}")
        return cls(name=name, count=int(found.group(1)), period_s=PERIODS[found.group(2)])

    def __str__(self) -> str:
        unit = next(u for u, s in PERIODS.items() if s == self.period_s)
        return f"{self.count}/{unit}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Whether one more request fits the limit, and what the RateLimit headers say."""

    limit: RateLimit
    allowed: bool
    remaining: int
    reset_s: int
    """Seconds until the window ends (and the budget is whole again)."""


class RateLimiter:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        self._since_purge = 0

    def hit(self, limit: RateLimit, subject: str) -> Decision:
        """Count a request of ``subject`` (a key, an address) against ``limit``."""
        now = self._clock.now()
        window, reset = _window(now, limit.period_s)
        with self._uow() as uow:
            hits = uow.limits.hit(f"{limit.name}:{subject}", window)
            self._since_purge += 1
            if self._since_purge >= PURGE_EVERY:
                self._since_purge = 0
                uow.limits.purge(window - 86_400)  # the longest period there is, and one more
        return Decision(
            limit=limit,
            allowed=hits <= limit.count,
            remaining=max(limit.count - hits, 0),
            reset_s=reset,
        )


def _window(now: datetime, period_s: int) -> tuple[int, int]:
    """The start of the window ``now`` is in (epoch seconds), and the seconds left in it."""
    epoch = int(now.timestamp())
    start = epoch - epoch % period_s
    return start, max(start + period_s - epoch, 1)
