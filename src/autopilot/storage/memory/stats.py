"""The operator's counts, in memory."""

from __future__ import annotations

from datetime import date

from autopilot.domain.rebalancing.rule import ProposalStatus, RebalancingStatus, TriggerMode
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.services.records import OperationsCounts
from autopilot.storage.memory.tables import Tables


class MemoryStats:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def counts(self, today: date) -> OperationsCounts:
        auto = [r.rule for r in self._t.auto_invest.values()]
        rebalancing = [r.rule for r in self._t.rebalancing.values()]
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
                1 for p in self._t.proposals.values() if p.status is ProposalStatus.PENDING_APPROVAL
            ),
            active_triggers=sum(
                1 for t in self._t.triggers.values() if t.trigger.status is TriggerStatus.ACTIVE
            ),
        )
