"""An auto-invest rule: what the client chose and where its schedule stands (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from autopilot.domain.money import ZERO
from autopilot.domain.schedule import Schedule


class RuleStatus(StrEnum):
    ACTIVE = "Active"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    symbol: str
    weight: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoInvestRule:
    id: str
    client_id: int
    account_id: int
    name: str
    amount: Decimal
    allocations: tuple[Allocation, ...]
    schedule: Schedule
    next_execution_date: date | None
    execution_count: int = 0
    total_invested: Decimal = ZERO
    max_total_amount: Decimal | None = None
    status: RuleStatus = RuleStatus.ACTIVE
    is_enabled: bool = True

    def with_state(
        self,
        *,
        next_execution_date: date | None,
        execution_count: int,
        total_invested: Decimal,
        status: RuleStatus,
    ) -> AutoInvestRule:
        """The rule with a new execution state (what a pass changes), every other field kept.

        ``dataclasses.replace`` does the same at twice the cost, and a pass makes one or two of
        these per rule; a test checks that no field is left out.
        """
        return AutoInvestRule(
            id=self.id,
            client_id=self.client_id,
            account_id=self.account_id,
            name=self.name,
            amount=self.amount,
            allocations=self.allocations,
            schedule=self.schedule,
            next_execution_date=next_execution_date,
            execution_count=execution_count,
            total_invested=total_invested,
            max_total_amount=self.max_total_amount,
            status=status,
            is_enabled=self.is_enabled,
        )

    def is_due(self, today: date) -> bool:
        return (
            self.status is RuleStatus.ACTIVE
            and self.is_enabled
            and self.next_execution_date is not None
            and self.next_execution_date <= today
        )
