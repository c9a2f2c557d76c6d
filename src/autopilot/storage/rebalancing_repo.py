"""Rebalancing rules and proposals in the database: mapping, claims and state writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, exists, func, select, update

from autopilot.domain.orders import Side
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.plan import SkippedTrade, Trade
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingRule,
    RebalancingStatus,
    TriggerMode,
)
from autopilot.domain.schedule import Frequency, Schedule
from autopilot.services.records import RebalancingRuleRecord
from autopilot.storage.bulk import update_rows
from autopilot.storage.tables import active_and_enabled
from autopilot.storage.tables import rebalancing_proposals as p
from autopilot.storage.tables import rebalancing_rules as t

PENDING = ProposalStatus.PENDING_APPROVAL.value
PP = Decimal("0.01")


def _schedule(row: Any) -> Schedule | None:
    if row.frequency is None or row.start_date is None:
        return None
    day = row.day_of_month
    return Schedule(
        frequency=Frequency(row.frequency),
        start_date=row.start_date,
        day_of_month=None if day is None else (day if day == "last" else int(day)),
    )


@lru_cache(maxsize=4096)
def _targets(pairs: tuple[tuple[str, str], ...]) -> tuple[Target, ...]:
    # Shared instances: the batch drift check prepares each model portfolio once.
    return tuple(Target(symbol=symbol, weight=Decimal(weight)) for symbol, weight in pairs)


def rule_from_row(row: Any) -> RebalancingRule:
    return RebalancingRule(
        id=row.id,
        client_id=row.client_id,
        account_id=row.account_id,
        name=row.name,
        targets=_targets(tuple((x["symbol"], x["weight"]) for x in row.targets)),
        trigger_mode=TriggerMode(row.trigger_mode),
        drift_threshold=row.drift_threshold,
        relative_threshold=row.relative_threshold,
        schedule=_schedule(row),
        next_check_date=row.next_check_date,
        require_confirmation=row.require_confirmation,
        min_trade_amount=row.min_trade_amount,
        allow_sells=row.allow_sells,
        cash_reserve=row.cash_reserve,
        cooldown_days=row.cooldown_days,
        last_executed_at=row.last_executed_at,
        status=RebalancingStatus(row.status),
        is_enabled=row.is_enabled,
    )


def rule_to_row(rule: RebalancingRule) -> dict[str, Any]:
    s = rule.schedule
    return {
        "id": rule.id,
        "client_id": rule.client_id,
        "account_id": rule.account_id,
        "name": rule.name,
        "targets": [{"symbol": x.symbol, "weight": str(x.weight)} for x in rule.targets],
        "trigger_mode": rule.trigger_mode.value,
        "drift_threshold": rule.drift_threshold,
        "relative_threshold": rule.relative_threshold,
        "frequency": None if s is None else s.frequency.value,
        "day_of_month": None if s is None or s.day_of_month is None else str(s.day_of_month),
        "start_date": None if s is None else s.start_date,
        "next_check_date": rule.next_check_date,
        "require_confirmation": rule.require_confirmation,
        "min_trade_amount": rule.min_trade_amount,
        "allow_sells": rule.allow_sells,
        "cash_reserve": rule.cash_reserve,
        "cooldown_days": rule.cooldown_days,
        "last_executed_at": rule.last_executed_at,
        "status": rule.status.value,
        "is_enabled": rule.is_enabled,
    }


def _record(row: Any) -> RebalancingRuleRecord:
    return RebalancingRuleRecord(
        rule=rule_from_row(row), created_at=row.created_at, updated_at=row.updated_at
    )


class RebalancingRules:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add(self, rule: RebalancingRule, now: datetime) -> None:
        self._c.execute(t.insert().values(**rule_to_row(rule), created_at=now, updated_at=now))

    def get(self, rule_id: str, *, lock: bool = False) -> RebalancingRuleRecord | None:
        stmt = select(t).where(t.c.id == rule_id)
        if lock and self._pg:
            stmt = stmt.with_for_update()
        row = self._c.execute(stmt).first()
        return None if row is None else _record(row)

    def search(
        self,
        *,
        client_id: int | None,
        account_id: int | None,
        status: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[RebalancingRuleRecord], int]:
        stmt: Select[Any] = select(t)
        for column, value in (
            (t.c.client_id, client_id),
            (t.c.account_id, account_id),
            (t.c.status, status),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(t.c.created_at, t.c.id).offset(offset).limit(limit))
        return [_record(r) for r in rows], total

    def claim_watching(
        self, after: str | None, limit: int, client_id: int | None = None
    ) -> list[RebalancingRule]:
        """Lock and return up to ``limit`` Active, enabled rules past id ``after`` that have no
        proposal waiting, in id order (SKIP LOCKED on PostgreSQL: workers claim disjoint
        batches; SQLite has one writer at a time)."""
        waiting = exists().where(p.c.rule_id == t.c.id, p.c.status == PENDING)
        stmt = select(t).where(active_and_enabled(t), ~waiting)
        if after is not None:
            stmt = stmt.where(t.c.id > after)
        if client_id is not None:
            stmt = stmt.where(t.c.client_id == client_id)
        stmt = stmt.order_by(t.c.id).limit(limit)
        if self._pg:
            stmt = stmt.with_for_update(of=t, skip_locked=True)
        return [rule_from_row(r) for r in self._c.execute(stmt)]

    def save_state(self, rules: Sequence[RebalancingRule], now: datetime) -> None:
        """Write the execution state (next check date, last execution) of many rules at once."""
        rows = [
            {
                "id": r.id,
                "next_check_date": r.next_check_date,
                "last_executed_at": r.last_executed_at,
                "updated_at": now,
            }
            for r in rules
        ]
        if rows:
            update_rows(self._c, t, rows, key="id")

    def replace(self, rule: RebalancingRule, now: datetime) -> None:
        """Write every field of one rule (rule management)."""
        row = rule_to_row(rule)
        del row["id"]
        self._c.execute(update(t).where(t.c.id == rule.id).values(**row, updated_at=now))


def _trade_json(trade: Trade) -> dict[str, str]:
    return {
        "symbol": trade.symbol,
        "side": trade.side.value,
        "quantity": str(trade.quantity),
        "amount": str(trade.amount),
    }


def proposal_from_row(row: Any) -> Proposal:
    return Proposal(
        id=row.id,
        rule_id=row.rule_id,
        client_id=row.client_id,
        account_id=row.account_id,
        occurrence=row.occurrence,
        status=ProposalStatus(row.status),
        trades=tuple(
            Trade(
                symbol=x["symbol"],
                side=Side(x["side"]),
                quantity=Decimal(x["quantity"]),
                amount=Decimal(x["amount"]),
            )
            for x in row.trades
        ),
        skipped=tuple(SkippedTrade(symbol=x["symbol"], reason=x["reason"]) for x in row.skipped),
        drift_before=row.drift_before.quantize(PP),
        prices={s: Decimal(v) for s, v in row.prices.items()},
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        order_ids=tuple(row.order_ids),
    )


class RebalancingProposals:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add_many(self, proposals: Sequence[Proposal]) -> None:
        rows = [
            {
                "id": x.id,
                "rule_id": x.rule_id,
                "client_id": x.client_id,
                "account_id": x.account_id,
                "occurrence": x.occurrence,
                "status": x.status.value,
                "trades": [_trade_json(trade) for trade in x.trades],
                "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in x.skipped],
                "drift_before": x.drift_before,
                "prices": {s: str(v) for s, v in sorted(x.prices.items())},
                "created_at": x.created_at,
                "expires_at": x.expires_at,
                "decided_at": x.decided_at,
                "order_ids": list(x.order_ids),
            }
            for x in proposals
        ]
        if rows:
            self._c.execute(p.insert(), rows)

    def get(self, proposal_id: str, *, lock: bool = False) -> Proposal | None:
        stmt = select(p).where(p.c.id == proposal_id)
        if lock and self._pg:
            stmt = stmt.with_for_update()
        row = self._c.execute(stmt).first()
        return None if row is None else proposal_from_row(row)

    def search(
        self,
        *,
        rule_id: str | None,
        status: str | None,
        offset: int,
        limit: int,
        client_id: int | None = None,
    ) -> tuple[list[Proposal], int]:
        stmt: Select[Any] = select(p)
        if rule_id is not None:
            stmt = stmt.where(p.c.rule_id == rule_id)
        if client_id is not None:
            stmt = stmt.where(p.c.client_id == client_id)
        if status is not None:
            stmt = stmt.where(p.c.status == status)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(p.c.created_at, p.c.id).offset(offset).limit(limit))
        return [proposal_from_row(r) for r in rows], total

    def pending_of(self, rule_ids: Sequence[str]) -> set[str]:
        """Which of the rules have a proposal waiting."""
        if not rule_ids:
            return set()
        rows = self._c.execute(
            select(p.c.rule_id).where(p.c.rule_id.in_(sorted(set(rule_ids))), p.c.status == PENDING)
        )
        return {r.rule_id for r in rows}

    def claim_overdue(self, now: datetime, limit: int) -> list[Proposal]:
        """Pending proposals past their expiry, locked (SKIP LOCKED on PostgreSQL)."""
        stmt = (
            select(p)
            .where(p.c.status == PENDING, p.c.expires_at <= now)
            .order_by(p.c.id)
            .limit(limit)
        )
        if self._pg:
            stmt = stmt.with_for_update(skip_locked=True)
        return [proposal_from_row(r) for r in self._c.execute(stmt)]

    def decide(
        self,
        proposal_id: str,
        status: ProposalStatus,
        now: datetime,
        *,
        order_ids: Sequence[str] = (),
        trades: Sequence[Trade] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status.value,
            "decided_at": now,
            "order_ids": list(order_ids),
        }
        if trades is not None:
            values["trades"] = [_trade_json(trade) for trade in trades]
        self._c.execute(update(p).where(p.c.id == proposal_id).values(**values))
