"""One contract for every store behind the services' ports: in memory, SQLite and PostgreSQL.

The services rely on these behaviours of the repositories (orderings, the claims' filters and
cursors, the outcome key, the no-op rows, the ratcheting marks, the columns' scales and that a
unit of work that raises leaves nothing behind); each test runs against each store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from autopilot.domain.auto_invest.rule import Allocation, AutoInvestRule, RuleStatus
from autopilot.domain.orders import Order, OrderStatus, OrderType, Side, notional_buy
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.plan import Trade
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingRule,
    RebalancingStatus,
    TriggerMode,
)
from autopilot.domain.schedule import Frequency, Schedule
from autopilot.domain.triggers.conditions import PriceBelow, TrailingStop, Trigger, TriggerStatus
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.ports import RefusedByDatabase, UnitOfWorkFactory
from autopilot.services.records import (
    Balance,
    DueCursor,
    FailedAttempts,
    LogEntry,
    LogFilter,
    NewOrder,
    OrderChange,
    PositionRecord,
    TriggerOrderRecord,
)
from autopilot.storage.db import make_engine
from autopilot.storage.memory.store import InMemoryStore
from autopilot.storage.migrate import upgrade
from autopilot.storage.unit_of_work import UnitOfWorkFactory as SqlStore

NOW = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
DAY = date(2026, 6, 1)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield InMemoryStore()
        return
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    upgrade(url)
    engine = make_engine(url)
    try:
        yield SqlStore(engine)
    finally:
        engine.dispose()


@pytest.fixture
def account(store: UnitOfWorkFactory) -> tuple[int, int]:
    """A client and its account; the securities AAA, BBB and CCC, priced."""
    with store() as uow:
        client = uow.clients.add("Ada", None, NOW)
        opened = uow.accounts.add(client.id, "USD", NOW)
        uow.market.record_prices(
            [("AAA", Decimal("100"), NOW), ("BBB", Decimal("30"), NOW), ("CCC", Decimal("7"), NOW)]
        )
    return client.id, opened.id


def buy(order_id: str, account_id: int, symbol: str = "AAA", amount: str = "10.00") -> Order:
    return notional_buy(order_id, account_id, symbol, Decimal(amount))


def sell(order_id: str, account_id: int, symbol: str = "AAA") -> Order:
    return replace(
        buy(order_id, account_id, symbol),
        side=Side.SELL,
        notional=None,
        quantity=Decimal("1"),
        reserved_amount=Decimal("0.00"),
    )


def auto_rule(rule_id: str, who: tuple[int, int], **fields: object) -> AutoInvestRule:
    values: dict[str, object] = {
        "id": rule_id,
        "client_id": who[0],
        "account_id": who[1],
        "name": "DCA",
        "amount": Decimal("100"),
        "allocations": (Allocation(symbol="AAA", weight=Decimal(100)),),
        "schedule": Schedule(frequency=Frequency.DAILY, start_date=DAY),
        "next_execution_date": DAY,
    }
    values.update(fields)
    return AutoInvestRule(**values)  # type: ignore[arg-type]


def rebalancing_rule(rule_id: str, who: tuple[int, int], **fields: object) -> RebalancingRule:
    values: dict[str, object] = {
        "id": rule_id,
        "client_id": who[0],
        "account_id": who[1],
        "name": "Model",
        "targets": (Target(symbol="AAA", weight=Decimal(100)),),
        "trigger_mode": TriggerMode.DRIFT,
        "drift_threshold": Decimal("5"),
        "relative_threshold": None,
        "schedule": None,
        "next_check_date": None,
        "require_confirmation": True,
        "min_trade_amount": Decimal("1"),
        "allow_sells": True,
        "cash_reserve": Decimal("0"),
        "cooldown_days": 0,
        "last_executed_at": None,
        "status": RebalancingStatus.ACTIVE,
        "is_enabled": True,
    }
    values.update(fields)
    return RebalancingRule(**values)  # type: ignore[arg-type]


def proposal(proposal_id: str, rule: RebalancingRule, expires_in: timedelta) -> Proposal:
    trade = Trade(symbol="AAA", side=Side.BUY, quantity=Decimal("1"), amount=Decimal("100.00"))
    return Proposal(
        id=proposal_id,
        rule_id=rule.id,
        client_id=rule.client_id,
        account_id=rule.account_id,
        occurrence=DAY,
        status=ProposalStatus.PENDING_APPROVAL,
        trades=(trade,),
        skipped=(),
        drift_before=Decimal("12.3456"),
        prices={"AAA": Decimal("100.00")},
        created_at=NOW,
        expires_at=NOW + expires_in,
    )


def entry(
    rule_id: str,
    status: OutcomeStatus,
    *,
    day: date = DAY,
    no_op: bool = False,
    message: str = "",
    started: datetime = NOW,
) -> LogEntry:
    return LogEntry(
        automation_type=AutomationType.AUTO_INVEST,
        automation_id=rule_id,
        client_id=1,
        execution_date=day,
        status=status,
        message=message or status.value,
        triggered_by="test",
        attempt=1,
        started_at=started,
        no_op=no_op,
    )


def trigger_record(
    trigger_id: str, who: tuple[int, int], *, group: str | None = None, **fields: object
) -> TriggerOrderRecord:
    values: dict[str, object] = {
        "id": trigger_id,
        "account_id": who[1],
        "symbol": "AAA",
        "condition": PriceBelow(level=Decimal("90")),
        "oco_group": group,
    }
    values.update(fields)
    return TriggerOrderRecord(
        trigger=Trigger(**values),  # type: ignore[arg-type]
        client_id=who[0],
        order=OrderTemplate(side=Side.SELL, sell_all=True),
        created_at=NOW,
        updated_at=NOW,
    )


# --- transactions -------------------------------------------------------------------------------


def test_a_unit_of_work_that_raises_leaves_nothing_behind(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with pytest.raises(RuntimeError), store() as uow:
        uow.accounts.set_cash({account[1]: Decimal("500.00")}, NOW)
        uow.orders.add_many([NewOrder(order=buy("ORD-1", account[1]), client_id=account[0])], NOW)
        raise RuntimeError("changed my mind")
    with store() as uow:
        assert uow.accounts.lock_available([account[1]]) == {account[1]: Decimal("0.00")}
        assert uow.orders.get("ORD-1") is None


def test_a_refused_write_rolls_the_whole_unit_of_work_back(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    first = NewOrder(order=buy("ORD-1", account[1]), client_id=account[0])
    with store() as uow:
        uow.orders.add_many([first], NOW)
    with pytest.raises(RefusedByDatabase), store() as uow:
        uow.accounts.set_cash({account[1]: Decimal("500.00")}, NOW)
        uow.orders.add_many([first], NOW)  # the same id again
    with store() as uow:
        assert uow.accounts.lock_available([account[1]]) == {account[1]: Decimal("0.00")}


# --- platform -----------------------------------------------------------------------------------


def test_cash_is_set_and_held_to_the_cent_and_read_in_id_order(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        second = uow.accounts.add(account[0], "USD", NOW).id
        uow.accounts.set_cash({account[1]: Decimal("100"), second: Decimal("50.5")}, NOW)
        uow.accounts.hold({account[1]: Decimal("30.25"), second: Decimal("0")}, NOW)
    with store() as uow:
        available = uow.accounts.lock_available([second, account[1], 999_999])
        balances = uow.accounts.lock_balances([account[1]])
        opened = uow.accounts.get(second)
        first = uow.accounts.get(account[1])
    assert list(available) == [account[1], second]
    assert available == {account[1]: Decimal("69.75"), second: Decimal("50.50")}
    assert balances == {account[1]: Balance(Decimal("100.00"), Decimal("30.25"))}
    assert opened is not None and opened.cash == Decimal("50.50") and opened.client_id == account[0]
    assert first is not None and (first.cash, first.held) == (Decimal("100.00"), Decimal("30.25"))


def test_holds_are_released_and_balances_set_together(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        uow.accounts.set_cash({account[1]: Decimal("100.00")}, NOW)
        uow.accounts.hold({account[1]: Decimal("40.10")}, NOW)
        uow.accounts.hold({account[1]: Decimal("9.90")}, NOW)
        uow.accounts.release({account[1]: Decimal("10.00")}, NOW)
        uow.accounts.set_cash({account[1]: Decimal("120.00")}, NOW)  # a deposit keeps the holds
    with store() as uow:
        assert uow.accounts.lock_balances([account[1]]) == {
            account[1]: Balance(Decimal("120.00"), Decimal("40.00"))
        }
        uow.accounts.set_balances({account[1]: Balance(Decimal("80.01"), Decimal("0"))}, NOW)
    with store() as uow:
        record = uow.accounts.get(account[1])
    assert record is not None
    assert (record.cash, record.held, record.available) == (
        Decimal("80.01"),
        Decimal("0.00"),
        Decimal("80.01"),
    )


def test_positions_are_upserted_and_read_without_the_empty_ones(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    a = account[1]
    with store() as uow:
        other = uow.accounts.add(account[0], "USD", NOW).id
        uow.accounts.save_positions(
            {
                (a, "BBB"): PositionRecord(
                    symbol="BBB", quantity=Decimal("2.5"), cost_basis=Decimal("75")
                ),
                (a, "AAA"): PositionRecord(
                    symbol="AAA", quantity=Decimal("1"), cost_basis=Decimal("100")
                ),
                (a, "CCC"): PositionRecord(
                    symbol="CCC", quantity=Decimal("0"), cost_basis=Decimal("0")
                ),
            },
            NOW,
        )
        uow.accounts.save_positions(
            {
                (a, "AAA"): PositionRecord(
                    symbol="AAA", quantity=Decimal("3"), cost_basis=Decimal("300")
                )
            },
            NOW,
        )
    with store() as uow:
        held = uow.accounts.positions(a)
        by_account = uow.accounts.positions_of([a, other])
        holdings = uow.accounts.holdings([(a, "CCC"), (a, "AAA"), (other, "AAA")])
    assert [(p.symbol, p.quantity, p.cost_basis) for p in held] == [
        ("AAA", Decimal("3.000000"), Decimal("300.00")),
        ("BBB", Decimal("2.500000"), Decimal("75.00")),
    ]
    assert by_account == {a: held, other: []}
    assert set(holdings) == {(a, "CCC"), (a, "AAA")}  # an emptied position is still a row


def test_the_newest_price_is_the_latest_and_new_symbols_become_securities(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        uow.market.record_prices(
            [("AAA", Decimal("101.5"), NOW + timedelta(minutes=1)), ("NEW", Decimal("9"), NOW)]
        )
        uow.market.record_prices([("AAA", Decimal("99"), NOW - timedelta(minutes=1))])  # older
        uow.market.upsert_security("BBB", tradable=False, fractionable=False)
    with store() as uow:
        quotes = uow.market.quotes(["AAA", "BBB", "NEW", "ZZZ"])
        known = uow.market.known_symbols(["AAA", "ZZZ"])
        bbb = uow.market.security("BBB")
    assert quotes["AAA"].price == Decimal("101.500000")
    assert (quotes["NEW"].tradable, quotes["NEW"].fractionable) == (True, True)
    assert (quotes["BBB"].tradable, quotes["BBB"].fractionable) == (False, False)
    assert bbb is not None and bbb.last_price == Decimal("30.000000")  # the flags alone changed
    assert "ZZZ" not in quotes and known == {"AAA"}


# --- orders -------------------------------------------------------------------------------------


def test_orders_come_back_at_their_columns_scale_and_open_ones_are_claimed(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    a = account[1]
    limit = replace(
        sell("ORD-2", a),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("120.5"),
        quantity=Decimal("1.2"),
    )
    with store() as uow:
        uow.orders.add_many(
            [
                NewOrder(
                    order=buy("ORD-1", a),
                    client_id=account[0],
                    automation_type=AutomationType.AUTO_INVEST,
                    automation_id="AUTO-1",
                ),
                NewOrder(order=limit, client_id=account[0]),
            ],
            NOW,
        )
        uow.orders.mark(
            [
                OrderChange(
                    id="ORD-1",
                    status=OrderStatus.FILLED,
                    filled_quantity=Decimal("0.1"),
                    filled_price=Decimal("100"),
                    filled_amount=Decimal("10"),
                )
            ],
            NOW,
        )
        uow.orders.mark([OrderChange(id="ORD-2", status=OrderStatus.SUBMITTED)], NOW)
    later = NOW + timedelta(minutes=5)
    with store() as uow:
        uow.orders.mark(
            [OrderChange(id="ORD-2", status=OrderStatus.REJECTED, reject_reason="no")], later
        )
    with store() as uow:
        filled, rejected = uow.orders.get("ORD-1"), uow.orders.get("ORD-2")
        assert uow.orders.claim_open(["ORD-1", "ORD-2", "ORD-9"]) == {}
    assert filled is not None and rejected is not None
    assert filled.automation_type is AutomationType.AUTO_INVEST and filled.automation_id == "AUTO-1"
    assert (filled.order.status, filled.filled_quantity, filled.filled_amount) == (
        OrderStatus.FILLED,
        Decimal("0.100000"),
        Decimal("10.00"),
    )
    assert filled.filled_at == NOW and filled.submitted_at == NOW
    assert rejected.order.quantity == Decimal("1.200000")
    assert rejected.order.limit_price == Decimal("120.500000")
    assert rejected.submitted_at == NOW and rejected.updated_at == later  # submitted once
    assert (rejected.order.status, rejected.reject_reason) == (OrderStatus.REJECTED, "no")


def test_pending_orders_page_by_account_sells_first(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    a = account[1]
    with store() as uow:
        b = uow.accounts.add(account[0], "USD", NOW).id
        orders = [
            buy("ORD-3", b),
            sell("ORD-4", b),
            buy("ORD-1", a),
            sell("ORD-2", a),
            buy("ORD-5", a),
        ]
        uow.orders.add_many([NewOrder(order=o, client_id=account[0]) for o in orders], NOW)
        uow.orders.mark([OrderChange(id="ORD-5", status=OrderStatus.SUBMITTED)], NOW)
    with store() as uow:
        first = uow.orders.pending(after=None, limit=2)
        rest = uow.orders.pending(after=first[-1], limit=10)
        busy = uow.orders.accounts_with_open_orders([a, b, 999])
        resting = uow.orders.open_orders(status=OrderStatus.SUBMITTED, symbols=["AAA"])
        claimed = uow.orders.claim_open(["ORD-1", "ORD-5"])
    assert [o.id for o in first] == ["ORD-2", "ORD-1"]
    assert [o.id for o in rest] == ["ORD-4", "ORD-3"]
    assert busy == {a, b}
    assert [o.id for o in resting] == ["ORD-5"]
    assert claimed == {"ORD-1": OrderStatus.PENDING, "ORD-5": OrderStatus.SUBMITTED}


def test_order_search_filters_pages_and_counts(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    a = account[1]
    with store() as uow:
        for i in range(5):
            new = NewOrder(
                order=buy(f"ORD-{i}", a, "BBB" if i % 2 else "AAA"), client_id=account[0]
            )
            uow.orders.add_many([new], NOW + timedelta(seconds=i))
    with store() as uow:
        page, total = uow.orders.search(
            client_id=account[0],
            account_id=None,
            status="Pending",
            symbol="AAA",
            automation_id=None,
            offset=1,
            limit=1,
        )
        none, zero = uow.orders.search(
            client_id=account[0] + 1,
            account_id=None,
            status=None,
            symbol=None,
            automation_id=None,
            offset=0,
            limit=10,
        )
    assert total == 3 and [r.order.id for r in page] == ["ORD-2"]  # newest first: 4, 2, 0
    assert (none, zero) == ([], 0)


# --- rules --------------------------------------------------------------------------------------


def test_due_auto_invest_rules_are_claimed_in_date_then_id_order_past_the_cursor(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    early = DAY - timedelta(days=3)
    with store() as uow:
        uow.auto_invest.add_many(
            [
                auto_rule("AUTO-3", account),
                auto_rule("AUTO-1", account),
                auto_rule("AUTO-2", account, next_execution_date=early),
                auto_rule("AUTO-4", account, next_execution_date=DAY + timedelta(days=1)),
                auto_rule("AUTO-5", account, status=RuleStatus.PAUSED),
                auto_rule("AUTO-6", account, is_enabled=False),
            ],
            NOW,
        )
    with store() as uow:
        first = uow.auto_invest.claim_due(DAY, None, 2)
        rest = uow.auto_invest.claim_due(DAY, DueCursor(DAY, "AUTO-1"), 10)
    assert [r.id for r in first] == ["AUTO-2", "AUTO-1"]
    assert [r.id for r in rest] == ["AUTO-3"]


def test_a_rules_state_and_its_whole_replacement_are_written(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    rule = auto_rule("AUTO-1", account, max_total_amount=Decimal("600"))
    with store() as uow:
        uow.auto_invest.add(rule, NOW)
        moved = replace(
            rule,
            next_execution_date=DAY + timedelta(days=1),
            execution_count=1,
            total_invested=Decimal("100"),
            name="ignored by save_state",
        )
        uow.auto_invest.save_state([moved], NOW + timedelta(hours=1))
    with store() as uow:
        saved = uow.auto_invest.get("AUTO-1")
        uow.auto_invest.replace(replace(rule, name="Renamed", status=RuleStatus.PAUSED), NOW)
        [locked] = uow.auto_invest.lock_many(["AUTO-1", "AUTO-9"])
    assert saved is not None
    assert (saved.rule.execution_count, saved.rule.total_invested) == (1, Decimal("100.00"))
    assert saved.rule.name == "DCA" and saved.rule.max_total_amount == Decimal("600.00")
    assert saved.updated_at == NOW + timedelta(hours=1) and saved.created_at == NOW
    assert (locked.name, locked.status) == ("Renamed", RuleStatus.PAUSED)


def test_watched_rebalancing_rules_skip_those_with_a_proposal_waiting(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    rules = [rebalancing_rule(f"REBAL-{i}", account) for i in range(1, 5)]
    paused = replace(rules[3], status=RebalancingStatus.PAUSED)
    with store() as uow:
        for rule in [*rules[:3], paused]:
            uow.rebalancing.add(rule, NOW)
        uow.proposals.add_many([proposal("PROP-1", rules[1], timedelta(hours=1))])
    with store() as uow:
        first = uow.rebalancing.claim_watching(None, 1)
        rest = uow.rebalancing.claim_watching(first[-1].id, 10)
    assert [r.id for r in first] == ["REBAL-1"]
    assert [r.id for r in rest] == ["REBAL-3"]


def test_a_rule_has_at_most_one_proposal_waiting_and_overdue_ones_are_claimed(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    rule = rebalancing_rule("REBAL-1", account)
    with store() as uow:
        uow.rebalancing.add(rule, NOW)
        uow.proposals.add_many([proposal("PROP-1", rule, timedelta(hours=-1))])
    with pytest.raises(RefusedByDatabase), store() as uow:
        uow.proposals.add_many([proposal("PROP-2", rule, timedelta(hours=1))])
    with store() as uow:
        [overdue] = uow.proposals.claim_overdue(NOW, 10)
        assert uow.proposals.pending_of(["REBAL-1", "REBAL-9"]) == {"REBAL-1"}
        uow.proposals.decide("PROP-1", ProposalStatus.EXPIRED, NOW)
        uow.proposals.add_many([proposal("PROP-2", rule, timedelta(hours=1))])  # allowed now
    with store() as uow:
        expired = uow.proposals.get("PROP-1")
        found, total = uow.proposals.search(rule_id="REBAL-1", status=None, offset=0, limit=10)
    assert overdue.drift_before == Decimal("12.35")  # read back to the 0.01 pp it is shown at
    assert expired is not None and (expired.status, expired.decided_at) == (
        ProposalStatus.EXPIRED,
        NOW,
    )
    assert total == 2 and [p.id for p in found] == ["PROP-1", "PROP-2"]


# --- the execution log --------------------------------------------------------------------------


def test_the_outcome_key_allows_one_outcome_per_rule_and_occurrence(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        uow.logs.add_many(
            [
                entry("AUTO-1", OutcomeStatus.FAILED),
                entry("AUTO-1", OutcomeStatus.PENDING_APPROVAL),
                entry("AUTO-1", OutcomeStatus.SUCCESS),
                entry("AUTO-1", OutcomeStatus.FAILED),  # an attempt beside the outcome
                entry("AUTO-1", OutcomeStatus.SKIPPED, day=DAY + timedelta(days=1)),
            ],
            NOW,
        )
    for second in (OutcomeStatus.SUCCESS, OutcomeStatus.SKIPPED):
        with pytest.raises(RefusedByDatabase), store() as uow:
            uow.logs.add_many([entry("AUTO-1", second)], NOW)
    with pytest.raises(RefusedByDatabase), store() as uow:  # two in one write, too
        uow.logs.add_many(
            [entry("AUTO-2", OutcomeStatus.SKIPPED), entry("AUTO-2", OutcomeStatus.SUCCESS)], NOW
        )
    with store() as uow:
        _, total = uow.logs.search(LogFilter(), offset=0, limit=100)
        assert uow.logs.with_outcome(["AUTO-1", "AUTO-2"], DAY) == {"AUTO-1"}
        assert uow.logs.last_occurrence("AUTO-1") == DAY + timedelta(days=1)
        assert uow.logs.last_occurrence("AUTO-2") is None
    assert total == 5


def test_a_no_op_check_keeps_one_row_a_day_outside_the_outcome_key(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    later = NOW + timedelta(hours=2)
    with store() as uow:
        uow.logs.add_many(
            [entry("REBAL-1", OutcomeStatus.SKIPPED, no_op=True, message="first")], NOW
        )
    with store() as uow:
        uow.logs.add_many(
            [entry("REBAL-1", OutcomeStatus.SKIPPED, no_op=True, message="second", started=later)],
            later,
        )
        assert uow.logs.with_outcome(["REBAL-1"], DAY) == set()
        assert uow.logs.last_occurrence("REBAL-1") is None
        uow.logs.add_many([entry("REBAL-1", OutcomeStatus.SUCCESS)], later)  # the day is open
    with store() as uow:
        rows, total = uow.logs.search(LogFilter(automation_id="REBAL-1"), offset=0, limit=10)
    assert total == 2
    success, check = rows  # newest first
    assert success.entry.status is OutcomeStatus.SUCCESS and not success.entry.no_op
    assert (check.entry.message, check.entry.no_op, check.entry.started_at) == (
        "second",
        True,
        later,
    )
    assert check.created_at == NOW  # the first check's row, overwritten
    assert check.id < success.id


def test_log_search_filters_and_pages_newest_first(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        for i in range(4):
            uow.logs.add_many(
                [entry(f"AUTO-{i}", OutcomeStatus.SUCCESS, day=DAY + timedelta(days=i))], NOW
            )
        uow.logs.add_many([entry("AUTO-9", OutcomeStatus.FAILED)], NOW)
    with store() as uow:
        page, total = uow.logs.search(
            LogFilter(status=OutcomeStatus.SUCCESS, date_from=DAY + timedelta(days=1)),
            offset=1,
            limit=1,
        )
        typed, _ = uow.logs.search(
            LogFilter(automation_type=AutomationType.REBALANCING), offset=0, limit=9
        )
    assert total == 3 and [r.entry.automation_id for r in page] == ["AUTO-2"]
    assert page[0].entry.finished_at == NOW  # unset: the moment it was written
    assert typed == []


# --- trigger orders -----------------------------------------------------------------------------


def test_a_trigger_is_claimed_once_and_its_group_locked_with_it(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        uow.triggers.add_many(
            [
                trigger_record("TRIG-1", account, group="bracket"),
                trigger_record("TRIG-2", account, group="bracket"),
                trigger_record("TRIG-3", account),
            ]
        )
    with store() as uow:
        locked = uow.triggers.lock_for_fire(["TRIG-1"], [(account[0], "bracket")])
        assert list(locked) == ["TRIG-1", "TRIG-2"]
        assert uow.triggers.claim("TRIG-1", Decimal("89.5"), NOW) is True
        assert uow.triggers.claim("TRIG-1", Decimal("89.5"), NOW) is False
        assert uow.triggers.close_open(["TRIG-1", "TRIG-2"], TriggerStatus.CANCELLED, NOW) == [
            "TRIG-2"
        ]
        uow.triggers.set_outcome("TRIG-1", NOW, order_id="ORD-1", failure=None)
        uow.triggers.set_outcome("TRIG-3", NOW, order_id=None, failure="nothing to sell")
    with store() as uow:
        fired = uow.triggers.get("TRIG-1")
        failed = uow.triggers.get("TRIG-3")
        active = uow.triggers.active(client_id=account[0])
    assert fired is not None and fired.trigger.status is TriggerStatus.TRIGGERED
    assert (fired.trigger_price, fired.order_id, fired.triggered_at) == (
        Decimal("89.500000"),
        "ORD-1",
        NOW,
    )
    assert failed is not None and (failed.trigger.status, failed.failure_reason) == (
        TriggerStatus.FAILED,
        "nothing to sell",
    )
    assert active == []


def test_transitions_move_only_triggers_in_a_source_status_and_expiry_is_tracked(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    soon, later = NOW + timedelta(hours=1), NOW + timedelta(days=1)
    with store() as uow:
        uow.triggers.add_many(
            [
                trigger_record("TRIG-1", account, expires_at=later),
                trigger_record("TRIG-2", account, expires_at=soon),
                trigger_record("TRIG-3", account),
            ]
        )
        moved = uow.triggers.transition(
            ["TRIG-2", "TRIG-3"], [TriggerStatus.ACTIVE], TriggerStatus.PAUSED, NOW
        )
        again = uow.triggers.transition(
            ["TRIG-2"], [TriggerStatus.ACTIVE], TriggerStatus.PAUSED, NOW
        )
    with store() as uow:
        assert (moved, again) == (["TRIG-2", "TRIG-3"], [])
        assert uow.triggers.next_expiry() == soon  # a Paused trigger expires too
        assert [r.trigger.id for r in uow.triggers.expiring(soon)] == ["TRIG-2"]
        members = uow.triggers.oco_members(account[0], "none")
        found, total = uow.triggers.search(client_id=account[0], status="Paused", offset=1, limit=5)
    assert members == [] and total == 2 and [r.trigger.id for r in found] == ["TRIG-3"]


def test_trailing_marks_only_ratchet_and_an_edit_replaces_the_condition(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    trail = TrailingStop(side=Side.SELL, percent=Decimal("5"), mark=Decimal("100"))
    with store() as uow:
        uow.triggers.add_many([trigger_record("TRIG-1", account, condition=trail)])
        uow.triggers.save_marks([("TRIG-1", Decimal("104.25"))], NOW)
        uow.triggers.save_marks([("TRIG-1", Decimal("101"))], NOW)  # a lagging index: ignored
    with store() as uow:
        record = uow.triggers.get("TRIG-1")
        assert record is not None
        condition = record.trigger.condition
        assert isinstance(condition, TrailingStop) and condition.mark == Decimal("104.2500")
        edited = replace(condition, percent=Decimal("7"))
        uow.triggers.replace(
            replace(record, trigger=replace(record.trigger, condition=edited)), NOW
        )
    with store() as uow:
        again = uow.triggers.many(["TRIG-1", "TRIG-9"])
    assert list(again) == ["TRIG-1"]
    condition = again["TRIG-1"].trigger.condition
    assert isinstance(condition, TrailingStop)
    assert (condition.percent, condition.mark) == (Decimal("7"), Decimal("104.2500"))


# --- failed attempts ----------------------------------------------------------------------------


def test_failed_attempts_are_upserted_per_automation_and_cleared(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    def counted(automation_id: str, count: int) -> FailedAttempts:
        return FailedAttempts(
            automation_type=AutomationType.AUTO_INVEST,
            automation_id=automation_id,
            client_id=account[0],
            occurrence=DAY,
            count=count,
            last_error="RuntimeError: boom",
        )

    with store() as uow:
        uow.attempts.save([counted("AUTO-1", 1), counted("AUTO-2", 1)], NOW)
        uow.attempts.save([counted("AUTO-1", 2)], NOW)
    with store() as uow:
        found = uow.attempts.of(["AUTO-1", "AUTO-2", "AUTO-3"])
        uow.attempts.clear(["AUTO-2", "AUTO-3"])
    with store() as uow:
        left = uow.attempts.of(["AUTO-1", "AUTO-2"])
    assert {k: v.count for k, v in found.items()} == {"AUTO-1": 2, "AUTO-2": 1}
    assert found["AUTO-1"].before(DAY) == 2 and found["AUTO-1"].before(DAY + timedelta(1)) == 0
    assert list(left) == ["AUTO-1"]


def test_the_change_feed_names_each_trigger_changed_since_a_cursor_but_not_a_moved_mark(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    trail = TrailingStop(side=Side.SELL, percent=Decimal("5"), mark=Decimal("100"))
    with store() as uow:
        start = uow.triggers.change_cursor()
        uow.triggers.add_many(
            [trigger_record("TRIG-1", account), trigger_record("TRIG-2", account, condition=trail)]
        )
    with store() as uow:
        assert uow.triggers.changed_since(start) == ["TRIG-1", "TRIG-2"]
        after_insert = uow.triggers.change_cursor()
    with store() as uow:
        assert uow.triggers.changed_since(after_insert) == []
        uow.triggers.save_marks([("TRIG-2", Decimal("104"))], NOW)  # every process moves it
    with store() as uow:
        assert uow.triggers.changed_since(after_insert) == []
        uow.triggers.transition(["TRIG-1"], [TriggerStatus.ACTIVE], TriggerStatus.PAUSED, NOW)
    with store() as uow:
        assert uow.triggers.changed_since(after_insert) == ["TRIG-1"]
        after_pause = uow.triggers.change_cursor()
        record = uow.triggers.get("TRIG-2")
        assert record is not None
        edited = replace(trail, percent=Decimal("7"))
        uow.triggers.replace(
            replace(record, trigger=replace(record.trigger, condition=edited)), NOW
        )
    with store() as uow:
        assert uow.triggers.changed_since(after_pause) == ["TRIG-2"]
        assert uow.triggers.changed_since(start) == ["TRIG-1", "TRIG-2"]


# --- the dashboard's reads and sessions ------------------------------------------------------


def test_failures_are_failed_attempts_and_occurrences_given_up_and_nothing_else(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        uow.logs.add_many(
            [
                entry("AUTO-1", OutcomeStatus.FAILED, message="attempt 1 of 3 failed"),
                entry("AUTO-2", OutcomeStatus.SKIPPED, message="gave up after 3 failed attempt(s)"),
                entry("AUTO-3", OutcomeStatus.SKIPPED, message="insufficient cash"),
                entry("AUTO-4", OutcomeStatus.SUCCESS),
                entry("AUTO-5", OutcomeStatus.SKIPPED, message="gave_up_after: not the prefix"),
            ],
            NOW,
        )
    with store() as uow:
        found, total = uow.logs.search(LogFilter(failures=True), offset=0, limit=10)
    assert total == 2
    assert {r.entry.automation_id for r in found} == {"AUTO-1", "AUTO-2"}


def test_executions_are_counted_by_the_hour_they_were_written_and_by_client(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    hour = NOW.replace(minute=0)
    with store() as uow:
        uow.logs.add_many([entry("AUTO-1", OutcomeStatus.SUCCESS)], hour - timedelta(hours=3))
        uow.logs.add_many(
            [
                entry("AUTO-2", OutcomeStatus.SUCCESS, day=DAY + timedelta(days=1)),
                entry("AUTO-3", OutcomeStatus.FAILED),
            ],
            hour + timedelta(minutes=59, seconds=59),
        )
        uow.logs.add_many(
            [entry("AUTO-4", OutcomeStatus.SUCCESS, day=DAY + timedelta(days=2))],
            hour + timedelta(minutes=5),
        )
        other = replace(entry("AUTO-5", OutcomeStatus.SUCCESS), client_id=2)
        uow.logs.add_many([other], hour + timedelta(minutes=1))
    with store() as uow:
        everyone = uow.stats.executions_by_hour(hour - timedelta(hours=2))
        mine = uow.stats.executions_by_hour(hour - timedelta(hours=5), client_id=1)
    assert {(c.hour, c.status, c.count) for c in everyone} == {
        (hour, OutcomeStatus.SUCCESS, 3),
        (hour, OutcomeStatus.FAILED, 1),
    }
    assert all(c.hour.tzinfo is not None for c in everyone)
    assert {(c.hour, c.status, c.count) for c in mine} == {
        (hour - timedelta(hours=3), OutcomeStatus.SUCCESS, 1),
        (hour, OutcomeStatus.SUCCESS, 2),
        (hour, OutcomeStatus.FAILED, 1),
    }


def test_a_session_is_found_by_its_hash_until_it_ends_or_expires(store: UnitOfWorkFactory) -> None:
    from autopilot.services.access import Role

    with store() as uow:
        key = uow.keys.add(
            name="ops",
            role=Role.OPERATOR,
            client_id=None,
            key_hash="k" * 64,
            expires_at=None,
            now=NOW,
        )
        uow.keys.open_session("a" * 64, key.id, now=NOW, expires_at=NOW + timedelta(hours=1))
        uow.keys.open_session("b" * 64, key.id, now=NOW, expires_at=NOW + timedelta(hours=1))
    with store() as uow:
        found = uow.keys.session_key("a" * 64, NOW + timedelta(minutes=59))
        expired = uow.keys.session_key("a" * 64, NOW + timedelta(hours=1))
        unknown = uow.keys.session_key("c" * 64, NOW)
        uow.keys.end_session("b" * 64, NOW)
    with store() as uow:
        ended = uow.keys.session_key("b" * 64, NOW)
    assert found is not None and found.id == key.id and found.role is Role.OPERATOR
    assert expired is None and unknown is None and ended is None


def test_still_failing_names_each_rule_with_a_matching_failure_not_resolved_yet(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    with store() as uow:
        uow.logs.add_many(
            [
                entry("AUTO-1", OutcomeStatus.FAILED, message="attempt 1 of 3 failed"),
                entry("AUTO-1", OutcomeStatus.FAILED, message="attempt 2 of 3 failed"),
                entry("AUTO-2", OutcomeStatus.FAILED, message="attempt 1 of 3 failed"),
                entry("AUTO-3", OutcomeStatus.SKIPPED, message="gave up after 3 failed attempt(s)"),
                entry("AUTO-4", OutcomeStatus.FAILED, day=DAY - timedelta(days=9)),
            ],
            NOW,
        )
        uow.attempts.save(  # AUTO-1 and AUTO-4 still retrying; AUTO-2 recovered since
            [
                FailedAttempts(
                    automation_type=AutomationType.AUTO_INVEST,
                    automation_id=rule,
                    client_id=1,
                    occurrence=DAY,
                    count=1,
                    last_error="boom",
                )
                for rule in ("AUTO-1", "AUTO-4")
            ],
            NOW,
        )
    with store() as uow:
        every = uow.logs.still_failing(LogFilter(failures=True), limit=10)
        recent = uow.logs.still_failing(LogFilter(failures=True, date_from=DAY), limit=10)
        one = uow.logs.still_failing(LogFilter(failures=True), limit=1)
    assert every == [(AutomationType.AUTO_INVEST, "AUTO-1"), (AutomationType.AUTO_INVEST, "AUTO-4")]
    assert recent == [(AutomationType.AUTO_INVEST, "AUTO-1")]
    assert one == [(AutomationType.AUTO_INVEST, "AUTO-1")]


def test_ended_and_expired_sessions_are_purged_and_open_ones_kept(
    store: UnitOfWorkFactory,
) -> None:
    from autopilot.services.access import Role

    with store() as uow:
        key = uow.keys.add(
            name="ops",
            role=Role.OPERATOR,
            client_id=None,
            key_hash="p" * 64,
            expires_at=None,
            now=NOW,
        )
        uow.keys.open_session("a" * 64, key.id, now=NOW, expires_at=NOW + timedelta(hours=1))
        uow.keys.open_session("b" * 64, key.id, now=NOW, expires_at=NOW + timedelta(hours=9))
        uow.keys.open_session("c" * 64, key.id, now=NOW, expires_at=NOW + timedelta(hours=9))
        uow.keys.end_session("c" * 64, NOW)
    with store() as uow:
        purged = uow.keys.purge_sessions(NOW + timedelta(hours=2))
    with store() as uow:
        kept = uow.keys.session_key("b" * 64, NOW + timedelta(hours=2))
    assert purged == 2 and kept is not None


def test_waiting_work_counts_a_proposal_until_it_expires_and_a_clients_own_alone(
    store: UnitOfWorkFactory, account: tuple[int, int]
) -> None:
    waiting = rebalancing_rule("REBAL-1", account)
    overdue = rebalancing_rule("REBAL-2", account)
    with store() as uow:
        uow.rebalancing.add(waiting, NOW)
        uow.rebalancing.add(overdue, NOW)
        uow.proposals.add_many(
            [
                proposal("PROP-1", waiting, timedelta(hours=1)),
                proposal("PROP-2", overdue, timedelta(hours=-1)),  # not expired by a pass yet
            ]
        )
    with store() as uow:
        everyone = uow.stats.counts(DAY, now=NOW)
        theirs = uow.stats.counts(DAY, now=NOW, client_id=account[0] + 1)
    assert everyone.pending_approvals == 1
    assert theirs.pending_approvals == 0
