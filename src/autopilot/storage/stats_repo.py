"""The counts the operator's gauges read at scrape time (backlog, approvals, active triggers)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, func, select

from autopilot.services.records import OperationsCounts
from autopilot.storage.tables import (
    auto_invest_rules,
    rebalancing_proposals,
    rebalancing_rules,
    trigger_orders,
)


class Stats:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def counts(self, today: date) -> OperationsCounts:
        a, r = auto_invest_rules.c, rebalancing_rules.c
        due_auto = select(func.count()).where(
            a.status == "Active", a.is_enabled.is_(True), a.next_execution_date <= today
        )
        due_rebalancing = select(func.count()).where(
            r.status == "Active",
            r.is_enabled.is_(True),
            r.trigger_mode.in_(("schedule", "both")),
            r.next_check_date <= today,
        )
        pending = select(func.count()).where(rebalancing_proposals.c.status == "PendingApproval")
        active = select(func.count()).where(trigger_orders.c.status == "Active")
        return OperationsCounts(
            due_auto_invest=int(self._c.execute(due_auto).scalar_one()),
            due_rebalancing=int(self._c.execute(due_rebalancing).scalar_one()),
            pending_approvals=int(self._c.execute(pending).scalar_one()),
            active_triggers=int(self._c.execute(active).scalar_one()),
        )
