"""The operator's counts, in memory."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from autopilot.domain.rebalancing.rule import ProposalStatus, RebalancingStatus, TriggerMode
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.services.records import HourlyCount, OperationsCounts
from autopilot.storage.memory.tables import Tables


class MemoryStats:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def counts(
        self, today: date, *, now: datetime, client_id: int | None = None
    ) -> OperationsCounts:
        def mine(owner: int) -> bool:
            return client_id is None or owner == client_id

        auto = [r.rule for r in self._t.auto_invest.values() if mine(r.rule.client_id)]
        rebalancing = [r.rule for r in self._t.rebalancing.values() if mine(r.rule.client_id)]
        return OperationsCounts(
            due_auto_invest=len([r for r in auto if r.is_due(today)]),
            due_rebalancing=sum(
                1
                for r in rebalancing
                if r.status is RebalancingStatus.ACTIVE
                and r.is_enabled
                and r.trigger_mode in (TriggerMode.SCHEDULE, TriggerMode.BOTH)
                and r.next_check_date is not None
                and r.next_check_date <= today
            ),
            pending_approvals=sum(
                1
                for p in self._t.proposals.values()
                if p.status is ProposalStatus.PENDING_APPROVAL
                and p.expires_at > now
                and mine(p.client_id)
            ),
            active_triggers=sum(
                1
                for t in self._t.triggers.values()
                if t.trigger.status is TriggerStatus.ACTIVE and mine(t.client_id)
            ),
        )

    def executions_by_hour(
        self, since: datetime, *, client_id: int | None = None
    ) -> list[HourlyCount]:
        counted = Counter(
            (
                r.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0),
                r.entry.status,
            )
            for r in self._t.logs.values()
            if r.created_at >= since and (client_id is None or r.entry.client_id == client_id)
        )
        return [
            HourlyCount(hour=hour, status=status, count=n)
            for (hour, status), n in sorted(counted.items(), key=lambda item: item[0][0])
        ]
