"""Shaping auto-invest rules."""

from __future__ import annotations

from autopilot.api.presenters.common import WEEKDAYS, amount, at, day, on, text
from autopilot.api.schemas.responses import AutoInvestRulePublic, WeightPublic
from autopilot.services.records import RuleRecord


def rule(record: RuleRecord) -> AutoInvestRulePublic:
    r = record.rule
    s = r.schedule
    return AutoInvestRulePublic(
        id=r.id,
        client_id=r.client_id,
        account_id=r.account_id,
        name=r.name,
        amount=amount(r.amount),
        allocations=[WeightPublic(symbol=a.symbol, weight=amount(a.weight)) for a in r.allocations],
        frequency=s.frequency.value,
        # The day it really runs on, also where the client left it to the start date.
        day_of_week=None if s.weekday is None else WEEKDAYS[s.weekday],
        day_of_month=s.month_day,
        holiday_rule=s.holiday_rule.value,
        start_date=on(s.start_date),
        end_date=day(s.end_date),
        max_total_amount=text(r.max_total_amount),
        status=r.status.value,
        is_enabled=r.is_enabled,
        next_execution_date=day(r.next_execution_date),
        execution_count=r.execution_count,
        total_invested=amount(r.total_invested),
        created_at=at(record.created_at),
        updated_at=at(record.updated_at),
    )
