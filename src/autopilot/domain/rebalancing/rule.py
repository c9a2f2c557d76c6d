"""Rebalancing rules and proposals as values, and when a rule is due (DESIGN §4, §5).

The drift arithmetic is in :mod:`autopilot.domain.rebalancing.drift`, the trade planning in
:mod:`autopilot.domain.rebalancing.plan`; this module holds the rule's own state and the calendar
and cooldown parts of "due".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.plan import SkippedTrade, Trade
from autopilot.domain.schedule import Frequency, Schedule, next_occurrence

SCHEDULE_FREQUENCIES = (Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.ANNUALLY)


class TriggerMode(StrEnum):
    DRIFT = "drift"
    SCHEDULE = "schedule"
    BOTH = "both"

    @property
    def watches_drift(self) -> bool:
        return self is not TriggerMode.SCHEDULE

    @property
    def follows_schedule(self) -> bool:
        return self is not TriggerMode.DRIFT


class RebalancingStatus(StrEnum):
    ACTIVE = "Active"
    PAUSED = "Paused"
    CANCELLED = "Cancelled"


class ProposalStatus(StrEnum):
    PENDING_APPROVAL = "PendingApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    EXPIRED = "Expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalancingRule:
    """A rule's settings and state. ``schedule`` is set when the mode follows a schedule."""

    id: str
    client_id: int
    account_id: int
    name: str
    targets: tuple[Target, ...]
    trigger_mode: TriggerMode
    drift_threshold: Decimal
    relative_threshold: Decimal | None
    schedule: Schedule | None
    next_check_date: date | None
    require_confirmation: bool
    min_trade_amount: Decimal
    allow_sells: bool
    cash_reserve: Decimal
    cooldown_days: int
    last_executed_at: datetime | None
    status: RebalancingStatus
    is_enabled: bool

    @property
    def watching(self) -> bool:
        return self.status is RebalancingStatus.ACTIVE and self.is_enabled

    def schedule_due(self, today: date) -> bool:
        return (
            self.trigger_mode.follows_schedule
            and self.next_check_date is not None
            and self.next_check_date <= today
        )


def in_cooldown(last_executed_on: date | None, cooldown_days: int, today: date) -> bool:
    """Whether ``today`` is fewer than ``cooldown_days`` days after the last execution's
    market date (0 days: never; 1 day: not again the same day)."""
    if last_executed_on is None or cooldown_days <= 0:
        return False
    return today < last_executed_on + timedelta(days=cooldown_days)


def next_check_after(
    schedule: Schedule | None, calendar: TradingCalendar, after: date
) -> date | None:
    """The schedule's first date strictly after ``after``: missed dates are not replayed (one
    rebalance brings the account back whatever it missed)."""
    if schedule is None:
        return None
    return next_occurrence(schedule, calendar, after)


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """Trades awaiting the client's approval, planned at ``prices``."""

    id: str
    rule_id: str
    client_id: int
    account_id: int
    occurrence: date
    status: ProposalStatus
    trades: tuple[Trade, ...]
    skipped: tuple[SkippedTrade, ...]
    drift_before: Decimal
    prices: dict[str, Decimal]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    order_ids: tuple[str, ...] = ()

    def expired(self, now: datetime) -> bool:
        return self.status is ProposalStatus.PENDING_APPROVAL and now >= self.expires_at


def prices_moved(before: dict[str, Decimal], now: dict[str, Decimal], percent: Decimal) -> bool:
    """Whether some price moved by more than ``percent`` of its old value, or is gone."""
    for symbol, old in before.items():
        new = now.get(symbol)
        if new is None:
            return True
        if old > 0 and abs(new - old) * 100 > percent * old:
            return True
    return False
