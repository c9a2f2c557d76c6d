"""Auto-invest rules in the database: mapping, set-based claims and batched writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, Text, cast, func, select, tuple_, update

from autopilot.domain.auto_invest.rule import Allocation, AutoInvestRule, RuleStatus
from autopilot.domain.schedule import Frequency, HolidayRule, Schedule
from autopilot.services.records import DueCursor, RuleRecord
from autopilot.storage.bulk import update_rows
from autopilot.storage.tables import active_and_enabled
from autopilot.storage.tables import auto_invest_rules as t


def _day_of_month(value: str | None) -> int | str | None:
    if value is None or value == "last":
        return value
    return int(value)


@lru_cache(maxsize=4096)
def _schedule(
    frequency: str,
    start: date,
    end: date | None,
    day_of_week: int | None,
    day_of_month: str | None,
    holiday_rule: str,
) -> Schedule:
    # Shared instances: a pass loads thousands of rules with a handful of distinct schedules.
    return Schedule(
        frequency=Frequency(frequency),
        start_date=start,
        end_date=end,
        day_of_week=day_of_week,
        day_of_month=_day_of_month(day_of_month),  # type: ignore[arg-type]
        holiday_rule=HolidayRule(holiday_rule),
    )


@lru_cache(maxsize=4096)
def _allocations(pairs: tuple[tuple[str, str], ...]) -> tuple[Allocation, ...]:
    return tuple(Allocation(symbol=symbol, weight=Decimal(weight)) for symbol, weight in pairs)


@lru_cache(maxsize=4096)
def _allocations_of_text(document: str) -> tuple[Allocation, ...]:
    # A claim reads the allocations as their JSON text (`_CLAIMED`): a pass parses each distinct
    # document once, not each rule's.
    return _allocations(tuple((a["symbol"], a["weight"]) for a in json.loads(document)))


def _allocations_in(value: Any) -> tuple[Allocation, ...]:
    if isinstance(value, str):
        return _allocations_of_text(value)
    return _allocations(tuple((a["symbol"], a["weight"]) for a in value))


# What a claim reads of a rule: what deciding it needs, the allocations as their JSON text.
_CLAIMED = [
    *(c for c in t.c if c.name not in ("allocations", "created_at", "updated_at")),
    cast(t.c.allocations, Text).label("allocations"),
]


def rule_from_row(row: Any) -> AutoInvestRule:
    schedule = _schedule(
        row.frequency,
        row.start_date,
        row.end_date,
        row.day_of_week,
        row.day_of_month,
        row.holiday_rule,
    )
    return AutoInvestRule(
        id=row.id,
        client_id=row.client_id,
        account_id=row.account_id,
        name=row.name,
        amount=row.amount,
        allocations=_allocations_in(row.allocations),
        schedule=schedule,
        next_execution_date=row.next_execution_date,
        execution_count=row.execution_count,
        total_invested=row.total_invested,
        max_total_amount=row.max_total_amount,
        status=RuleStatus(row.status),
        is_enabled=row.is_enabled,
    )


def rule_to_row(rule: AutoInvestRule) -> dict[str, Any]:
    s = rule.schedule
    return {
        "id": rule.id,
        "client_id": rule.client_id,
        "account_id": rule.account_id,
        "name": rule.name,
        "amount": rule.amount,
        "allocations": [{"symbol": a.symbol, "weight": str(a.weight)} for a in rule.allocations],
        "frequency": s.frequency.value,
        "day_of_week": s.day_of_week,
        "day_of_month": None if s.day_of_month is None else str(s.day_of_month),
        "holiday_rule": s.holiday_rule.value,
        "start_date": s.start_date,
        "end_date": s.end_date,
        "next_execution_date": rule.next_execution_date,
        "execution_count": rule.execution_count,
        "total_invested": rule.total_invested,
        "max_total_amount": rule.max_total_amount,
        "status": rule.status.value,
        "is_enabled": rule.is_enabled,
    }


class AutoInvestRules:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add(self, rule: AutoInvestRule, now: datetime) -> None:
        self._c.execute(t.insert().values(**rule_to_row(rule), created_at=now, updated_at=now))

    def add_many(self, rules: Sequence[AutoInvestRule], now: datetime) -> None:
        rows = [{**rule_to_row(r), "created_at": now, "updated_at": now} for r in rules]
        if rows:
            self._c.execute(t.insert(), rows)

    def get(self, rule_id: str, *, lock: bool = False) -> RuleRecord | None:
        stmt = select(t).where(t.c.id == rule_id)
        if lock and self._pg:
            stmt = stmt.with_for_update()
        row = self._c.execute(stmt).first()
        if row is None:
            return None
        return RuleRecord(
            rule=rule_from_row(row), created_at=row.created_at, updated_at=row.updated_at
        )

    def lock_many(self, rule_ids: Sequence[str]) -> list[AutoInvestRule]:
        """The given rules, rows locked in id order (PostgreSQL; SQLite has one writer anyway)."""
        stmt = select(*_CLAIMED).where(t.c.id.in_(sorted(set(rule_ids)))).order_by(t.c.id)
        if self._pg:
            stmt = stmt.with_for_update()
        return [rule_from_row(r) for r in self._c.execute(stmt).all()]

    def search(
        self,
        *,
        client_id: int | None,
        status: str | None,
        account_id: int | None,
        offset: int,
        limit: int,
    ) -> tuple[list[RuleRecord], int]:
        stmt: Select[Any] = select(t)
        if client_id is not None:
            stmt = stmt.where(t.c.client_id == client_id)
        if account_id is not None:
            stmt = stmt.where(t.c.account_id == account_id)
        if status is not None:
            stmt = stmt.where(t.c.status == status)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(t.c.created_at, t.c.id).offset(offset).limit(limit))
        records = [
            RuleRecord(rule=rule_from_row(r), created_at=r.created_at, updated_at=r.updated_at)
            for r in rows
        ]
        return records, total

    def claim_due(
        self, today: date, after: DueCursor | None, limit: int, client_id: int | None = None
    ) -> list[AutoInvestRule]:
        """Lock and return up to `limit` due rules past `after`, in (next date, id) order.

        On PostgreSQL the rows are locked FOR UPDATE SKIP LOCKED, so concurrent workers claim
        disjoint batches; SQLite has one writer at a time (BEGIN IMMEDIATE) and needs no lock.
        """
        stmt = select(*_CLAIMED).where(active_and_enabled(t), t.c.next_execution_date <= today)
        if client_id is not None:
            stmt = stmt.where(t.c.client_id == client_id)
        if after is not None:
            stmt = stmt.where(
                tuple_(t.c.next_execution_date, t.c.id)
                > tuple_(after.next_execution_date, after.id)
            )
        stmt = stmt.order_by(t.c.next_execution_date, t.c.id).limit(limit)
        if self._pg:
            stmt = stmt.with_for_update(skip_locked=True)
        return [rule_from_row(r) for r in self._c.execute(stmt).all()]

    def save_state(self, rules: Sequence[AutoInvestRule], now: datetime) -> None:
        """Write the execution state (next date, counters, status) of many rules at once."""
        if not rules:
            return
        rows = [
            {
                "id": r.id,
                "next_execution_date": r.next_execution_date,
                "execution_count": r.execution_count,
                "total_invested": r.total_invested,
                "status": r.status._value_,  # `.value` without its descriptor
                "updated_at": now,
            }
            for r in rules
        ]
        update_rows(self._c, t, rows, key="id")

    def replace(self, rule: AutoInvestRule, now: datetime) -> None:
        """Write every field of one rule (rule management: update, pause, resume, cancel)."""
        row = rule_to_row(rule)
        del row["id"]
        self._c.execute(update(t).where(t.c.id == rule.id).values(**row, updated_at=now))
