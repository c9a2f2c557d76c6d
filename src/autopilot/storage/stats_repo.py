"""The operator's counts: what is waiting (the gauges read them at scrape time, the dashboard
shows them) and the execution log's rows by hour (the dashboard's chart)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select

from autopilot.domain.outcomes import OutcomeStatus
from autopilot.services.records import HourlyCount, OperationsCounts
from autopilot.storage.tables import (
    auto_invest_rules,
    automation_execution_logs,
    rebalancing_proposals,
    rebalancing_rules,
    trigger_orders,
)


class Stats:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def counts(
        self, today: date, *, now: datetime, client_id: int | None = None
    ) -> OperationsCounts:
        a, r = auto_invest_rules.c, rebalancing_rules.c
        p, t = rebalancing_proposals.c, trigger_orders.c
        due_auto = select(func.count()).where(
            a.status == "Active", a.is_enabled.is_(True), a.next_execution_date <= today
        )
        due_rebalancing = select(func.count()).where(
            r.status == "Active",
            r.is_enabled.is_(True),
            r.trigger_mode.in_(("schedule", "both")),
            r.next_check_date <= today,
        )
        pending = select(func.count()).where(p.status == "PendingApproval", p.expires_at > now)
        active = select(func.count()).where(t.status == "Active")
        if client_id is not None:
            due_auto = due_auto.where(a.client_id == client_id)
            due_rebalancing = due_rebalancing.where(r.client_id == client_id)
            pending = pending.where(p.client_id == client_id)
            active = active.where(t.client_id == client_id)
        return OperationsCounts(
            due_auto_invest=self._count(due_auto),
            due_rebalancing=self._count(due_rebalancing),
            pending_approvals=self._count(pending),
            active_triggers=self._count(active),
        )

    def executions_by_hour(
        self, since: datetime, *, client_id: int | None = None
    ) -> list[HourlyCount]:
        logs = automation_execution_logs.c
        hour = self._hour(logs.created_at).label("hour")
        stmt = (
            select(hour, logs.status, func.count().label("n"))
            .where(logs.created_at >= since)
            .group_by(hour, logs.status)
            .order_by(hour)
        )
        if client_id is not None:
            stmt = stmt.where(logs.client_id == client_id)
        return [
            HourlyCount(hour=_utc(row.hour), status=OutcomeStatus(row.status), count=int(row.n))
            for row in self._c.execute(stmt)
        ]

    def _hour(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """The hour a timestamp falls in: PostgreSQL truncates it, SQLite (which stores the
        ISO text) formats it."""
        if self._c.dialect.name == "postgresql":
            return func.date_trunc("hour", func.timezone("UTC", column))
        return func.strftime("%Y-%m-%d %H:00:00", column)

    def _count(self, stmt: Select[Any]) -> int:
        return int(self._c.execute(stmt).scalar_one())


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
