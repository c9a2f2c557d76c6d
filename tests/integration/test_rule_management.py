"""Creating and managing auto-invest rules: validation names the field and writes nothing."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.auto_invest.rule import Allocation, RuleStatus
from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.domain.schedule import Frequency
from autopilot.services.auto_invest import rules as rule_service
from autopilot.services.auto_invest.rules import RuleChanges, RuleSpec
from autopilot.storage.db import make_engine
from tests.support.services import (
    START,
    Investor,
    MakeServices,
    SettableClock,
    count_rows,
    logs_of,
    open_funded_account,
    spec,
)
from tests.support.waiting import wait_for_a_lock_wait


def _weights(**weights: str) -> tuple[Allocation, ...]:
    return tuple(Allocation(symbol=s, weight=Decimal(w)) for s, w in weights.items())


INVALID: list[Any] = [
    pytest.param({"amount": Decimal("0.00")}, "amount", id="zero-amount"),
    pytest.param({"amount": Decimal("-25.00")}, "amount", id="negative-amount"),
    pytest.param({"amount": Decimal("10.001")}, "amount", id="amount-below-a-cent"),
    pytest.param(
        {"allocations": _weights(AAA="60", BBB="30")}, "allocations", id="weights-sum-to-90"
    ),
    pytest.param(
        {"allocations": _weights(AAA="60", BBB="50")}, "allocations", id="weights-sum-to-110"
    ),
    pytest.param({"allocations": _weights(ZZZ="100")}, "allocations", id="unknown-symbol"),
    pytest.param({"allocations": ()}, "allocations", id="no-allocations"),
    pytest.param({"account_id": 999_999}, "account_id", id="unknown-account"),
    pytest.param({"client_id": 999_999}, "client_id", id="unknown-client"),
    pytest.param({"day_of_month": 0}, "day_of_month", id="day-of-month-0"),
    pytest.param({"day_of_month": 32}, "day_of_month", id="day-of-month-32"),
    pytest.param(
        {"frequency": Frequency.WEEKLY, "day_of_week": 7}, "day_of_week", id="day-of-week-7"
    ),
    pytest.param({"end_date": date(2026, 5, 31)}, "end_date", id="end-before-start"),
    pytest.param({"max_total_amount": Decimal("0.00")}, "max_total_amount", id="zero-cap"),
    pytest.param({"name": "   "}, "name", id="blank-name"),
]


@pytest.mark.parametrize(("change", "field"), INVALID)
def test_invalid_rule_is_refused_naming_the_field_and_nothing_is_written(
    services: Services, investor: Investor, change: dict[str, Any], field: str
) -> None:
    bad = replace(spec(investor, weights={"AAA": "60", "BBB": "40"}), **change)

    with pytest.raises(InvalidInput) as raised:
        services.rules.create(bad)

    assert raised.value.field == field
    assert count_rows(services, "auto_invest_rules") == 0


def test_account_of_another_client_is_refused(services: Services, investor: Investor) -> None:
    other = open_funded_account(services)
    stolen = replace(spec(investor), account_id=other.account_id)

    with pytest.raises(InvalidInput) as raised:
        services.rules.create(stolen)

    assert raised.value.field == "account_id"
    assert "another client" in raised.value.message
    assert count_rows(services, "auto_invest_rules") == 0


def test_new_rule_is_active_with_its_first_occurrence_on_or_after_today(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    clock.on(date(2026, 6, 10))

    record = services.rules.create(
        spec(investor, weights={"AAA": "33.33", "BBB": "33.33", "CCC": "33.34"}, day_of_month=15)
    )

    rule = record.rule
    assert rule.id.startswith("AUTO-20260610-")
    assert rule.status is RuleStatus.ACTIVE
    assert rule.next_execution_date == date(2026, 6, 15)
    assert (rule.execution_count, rule.total_invested) == (0, Decimal("0.00"))
    assert sum((a.weight for a in rule.allocations), Decimal(0)) == Decimal(100)
    assert services.rules.get(rule.id).rule == rule
    assert count_rows(services, "auto_invest_rules") == 1


def test_paused_rule_is_not_due_and_resumes_from_today_without_the_missed_occurrences(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    rule_id = services.rules.create(
        spec(investor, frequency=Frequency.WEEKLY, day_of_week=0)
    ).rule.id
    services.rules.pause(rule_id)

    assert services.auto_invest.run_due(date(2026, 6, 15), triggered_by="scheduler").results == []

    clock.on(date(2026, 6, 17))
    resumed = services.rules.resume(rule_id).rule
    assert resumed.status is RuleStatus.ACTIVE
    assert resumed.next_execution_date == date(2026, 6, 22)
    assert logs_of(services, rule_id) == []


def test_pausing_twice_and_cancelling_twice_are_conflicts(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(spec(investor)).rule.id
    services.rules.pause(rule_id)
    with pytest.raises(Conflict):
        services.rules.pause(rule_id)

    cancelled = services.rules.cancel(rule_id).rule
    assert cancelled.status is RuleStatus.CANCELLED
    assert cancelled.next_execution_date is None
    with pytest.raises(Conflict):
        services.rules.cancel(rule_id)
    with pytest.raises(Conflict):
        services.auto_invest.run_one(rule_id, START, triggered_by="tester")


def test_invalid_update_is_refused_and_leaves_the_rule_unchanged(
    services: Services, investor: Investor
) -> None:
    record = services.rules.create(spec(investor))

    with pytest.raises(InvalidInput) as raised:
        services.rules.update(record.rule.id, RuleChanges(amount=Decimal("-1.00")))

    assert raised.value.field == "amount"
    assert services.rules.get(record.rule.id).rule == record.rule


def test_unknown_rule_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound):
        services.rules.get("AUTO-20260601-000000000000000")
    with pytest.raises(NotFound):
        services.rules.pause("AUTO-20260601-000000000000000")


def test_two_updates_at_once_apply_one_after_the_other_and_lose_nothing(
    migrated_url: str,
    make_services: MakeServices,
    investor: Investor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One update changes the name, another the amount, at the same moment: each reads the rule
    under its row lock, so the second waits for the first and both changes stand."""
    if not migrated_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: two updates cannot overlap there")
    first, second = make_services(), make_services()
    rule_id = first.rules.create(spec(investor)).rule.id
    locked, second_waits = threading.Event(), threading.Event()
    real_check = rule_service.AutoInvestRuleService._check_references

    def check_then_hold(service: Any, uow: Any, checked: RuleSpec, **kwargs: Any) -> None:
        real_check(service, uow, checked, **kwargs)
        if checked.name == "Renamed":  # the first update, holding the row lock
            locked.set()
            assert second_waits.wait(30), "the second update never queued behind the lock"

    monkeypatch.setattr(rule_service.AutoInvestRuleService, "_check_references", check_then_hold)
    renaming = threading.Thread(
        target=first.rules.update, args=(rule_id, RuleChanges(name="Renamed"))
    )
    renaming.start()
    assert locked.wait(30)
    resizing = threading.Thread(
        target=second.rules.update, args=(rule_id, RuleChanges(amount=Decimal("250.00")))
    )
    resizing.start()
    engine = make_engine(migrated_url)
    try:
        wait_for_a_lock_wait(engine, what="the second update to queue behind the row lock")
    finally:
        engine.dispose()
    second_waits.set()
    renaming.join(30)
    resizing.join(30)

    rule = first.rules.get(rule_id).rule
    assert (rule.name, rule.amount) == ("Renamed", Decimal("250.00"))
