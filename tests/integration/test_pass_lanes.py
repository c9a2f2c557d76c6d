"""A long pass runs in lanes on PostgreSQL (one lane on SQLite), and still executes every due rule
exactly once: the lanes claim from one shared cursor, so a rule that failed is not tried again in
the same pass, and a batch the database refuses is retried one by one in its own lane."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.services.auto_invest import execution as auto_invest_execution
from autopilot.services.platform import PriceTick
from tests.support.services import (
    OPENING_CASH,
    PRICES,
    START,
    MakeServices,
    logs_of,
    open_funded_account,
    refuse_orders_for,
    spec,
)

BATCH = 10
RULES_PER_ACCOUNT = 19


def test_a_pass_in_lanes_executes_each_due_rule_once_and_a_failed_one_once(
    make_services: MakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    services: Services = make_services(automation_batch_size=BATCH)
    services.platform.record_prices(
        [PriceTick(symbol=s, price=p) for s, p in sorted(PRICES.items())]
    )
    investors = [open_funded_account(services) for _ in range(5)]
    healthy = {
        services.rules.create(spec(investor)).rule.id: investor
        for investor in investors
        for _ in range(RULES_PER_ACCOUNT)
    }
    broken = services.rules.create(spec(investors[0])).rule.id
    refused = services.rules.create(spec(investors[1], weights={"BBB": "100"})).rule.id
    refuse_orders_for(services, "BBB")
    threads = _decided_in_threads(monkeypatch, broken)

    result = services.auto_invest.run_due(START, triggered_by="scheduler")

    assert result.counts[OutcomeStatus.SUCCESS] == len(healthy)
    assert result.counts[OutcomeStatus.FAILED] == 2
    for rule_id in healthy:
        assert [r.entry.status for r in logs_of(services, rule_id)] == ["Success"]
    for rule_id in (broken, refused):
        entries = [r.entry for r in logs_of(services, rule_id)]
        assert [(e.status, e.attempt) for e in entries] == [("Failed", 1)]
    spent = Counter(i.account_id for i in healthy.values())
    for investor in investors:
        cash = services.platform.account(investor.account_id).account.cash
        assert cash == OPENING_CASH - Decimal("100.00") * spent[investor.account_id]
    assert (
        services.auto_invest.run_due(START, triggered_by="scheduler").counts[OutcomeStatus.SUCCESS]
        == 0
    )
    on_postgres = services.engine is not None and services.engine.dialect.name != "sqlite"
    expected = services.settings.automation_pass_lanes if on_postgres else 1
    assert len(threads) == expected


def _decided_in_threads(monkeypatch: pytest.MonkeyPatch, broken: str) -> set[str]:
    """Make `broken` raise whenever it is decided; the names of the threads that decided."""
    real = auto_invest_execution.execute_auto_invest
    seen: set[str] = set()
    lock = threading.Lock()

    def deciding(rule: Any, **kwargs: Any) -> Any:
        with lock:
            seen.add(threading.current_thread().name)
        if rule.id == broken:
            raise RuntimeError("quote feed exploded")
        return real(rule, **kwargs)

    monkeypatch.setattr(auto_invest_execution, "execute_auto_invest", deciding)
    return seen
