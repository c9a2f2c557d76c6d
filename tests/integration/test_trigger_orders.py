"""Trigger orders through the services, on SQLite and PostgreSQL: each condition fires at its
boundary and not a cent before, trailing stops ratchet, OCO groups fire once, and bad input
writes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.errors import Conflict, InvalidInput
from autopilot.domain.orders import OrderStatus, OrderType, Side
from autopilot.domain.triggers.conditions import Direction, TrailingStop, TriggerStatus, stop_level
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.triggers.orders import TriggerChange, TriggerSpec
from autopilot.storage.trigger_repo import TriggerOrders
from tests.support.services import (
    Investor,
    MakeServices,
    SettableClock,
    count_rows,
    failed_attempts,
    logs_of,
    refuse_orders_for,
)
from tests.support.triggers import (
    BUY_TEN,
    SELL_ALL,
    bracket,
    create,
    fields_of,
    hold,
    price,
    status,
    trigger,
)


@pytest.mark.parametrize(
    ("kind", "order", "fields", "before", "boundary"),
    [
        ("priceBelow", SELL_ALL, {"level": Decimal("95.00")}, "95.01", "95.00"),
        ("priceAbove", SELL_ALL, {"level": Decimal("110.00")}, "109.99", "110.00"),
        (
            "percentChange",
            BUY_TEN,
            {"percent": Decimal("10"), "direction": Direction.DOWN},
            "90.01",
            "90.00",
        ),
        (
            "percentChange",
            SELL_ALL,
            {"percent": Decimal("10"), "direction": Direction.UP},
            "109.99",
            "110.00",
        ),
        ("trailingStop", SELL_ALL, {"percent": Decimal("5")}, "95.01", "95.00"),
        ("trailingStop", BUY_TEN, {"amount": Decimal("5")}, "104.99", "105.00"),
    ],
)
def test_each_condition_fires_at_its_boundary_and_not_a_cent_before(
    services: Services,
    investor: Investor,
    kind: str,
    order: OrderTemplate,
    fields: dict[str, Any],
    before: str,
    boundary: str,
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, kind, order, **fields))
    price(services, "AAA", before)
    assert status(services, record) is TriggerStatus.ACTIVE
    price(services, "AAA", boundary)
    fired = services.trigger_orders.get(record.trigger.id)
    assert fired.trigger.status is TriggerStatus.TRIGGERED
    assert fired.trigger_price == Decimal(boundary)
    assert fired.order_id is not None
    placed = services.orders.get(fired.order_id)
    assert placed.order.status is OrderStatus.FILLED
    assert placed.automation_type == "TriggerOrder"
    assert [log.entry.status for log in logs_of(services, record.trigger.id)] == ["Success"]


def test_a_trailing_stop_follows_a_rising_price_and_fires_on_the_fall(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "trailingStop", percent=Decimal("10")))
    for value in ("105.00", "120.00", "115.00"):
        price(services, "AAA", value)
    current = services.trigger_orders.get(record.trigger.id)
    assert isinstance(current.trigger.condition, TrailingStop)
    assert current.trigger.condition.mark == Decimal("120.00")
    price(services, "AAA", "108.01")
    assert status(services, record) is TriggerStatus.ACTIVE
    price(services, "AAA", "108.00")
    assert status(services, record) is TriggerStatus.TRIGGERED
    assert services.platform.account(investor.account_id).positions == []  # sold it all


def test_the_trailing_mark_is_stored_and_survives_a_restart(
    make_services: MakeServices, investor: Investor, services: Services
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "trailingStop", percent=Decimal("10")))
    price(services, "AAA", "130.00")
    fresh = make_services()
    reread = fresh.trigger_orders.get(record.trigger.id)
    assert isinstance(reread.trigger.condition, TrailingStop)
    assert reread.trigger.condition.mark == Decimal("130.00")
    price(fresh, "AAA", "117.00")  # the stop at 117.00 of the stored mark, in a new process
    assert status(fresh, record) is TriggerStatus.TRIGGERED


def test_when_one_leg_of_a_bracket_fires_the_other_is_cancelled(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    price(services, "AAA", "89.00")
    price(services, "AAA", "125.00")
    assert status(services, stop) is TriggerStatus.TRIGGERED
    assert status(services, take) is TriggerStatus.CANCELLED
    assert count_rows(services, "orders") == 2  # the buy that made the holding, and the stop


def test_cancelling_one_leg_cancels_the_group_and_nothing_fires(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    services.trigger_orders.cancel(take.trigger.id)
    price(services, "AAA", "80.00")
    assert status(services, stop) is TriggerStatus.CANCELLED
    assert status(services, take) is TriggerStatus.CANCELLED
    assert count_rows(services, "orders") == 1


def test_a_sell_whose_position_is_gone_fails_with_the_reason(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    services.orders.place(
        PlaceOrder(
            account_id=investor.account_id,
            symbol="AAA",
            side=Side.SELL,
            order_type=OrderType.MARKET,
            quantity=Decimal("10"),
        )
    )
    price(services, "AAA", "89.00")
    failed = services.trigger_orders.get(record.trigger.id)
    assert failed.trigger.status is TriggerStatus.FAILED
    assert failed.failure_reason is not None and "position is gone" in failed.failure_reason
    [log] = logs_of(services, record.trigger.id)
    assert (log.entry.status, log.entry.error) == ("Failed", failed.failure_reason)


def test_a_price_to_another_process_fires_the_triggers_this_one_created(
    make_services: MakeServices, services: Services, investor: Investor
) -> None:
    hold(services, investor)
    other = make_services()
    price(other, "AAA", "100.00")  # the other process builds its index now
    record = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    price(other, "AAA", "89.00")  # its index reads the change feed first
    assert status(services, record) is TriggerStatus.TRIGGERED
    again = other.triggers.run_all(client_id=None, triggered_by="scheduler")
    assert sum(again.counts.values()) == 0  # fired once, by the price


def test_a_trigger_paused_resumed_or_edited_through_one_process_is_in_force_in_another(
    make_services: MakeServices, services: Services, investor: Investor
) -> None:
    hold(services, investor)
    other = make_services()
    price(other, "AAA", "100.00")
    record = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    price(other, "AAA", "95.00")  # indexed there now, not crossed
    services.trigger_orders.pause(record.trigger.id)
    price(other, "AAA", "89.00")
    assert status(services, record) is TriggerStatus.PAUSED
    price(other, "AAA", "95.00")
    services.trigger_orders.resume(record.trigger.id)
    services.trigger_orders.update(record.trigger.id, TriggerChange(level=Decimal("80.00")))
    price(other, "AAA", "85.00")  # below the old level, above the new
    assert status(services, record) is TriggerStatus.ACTIVE
    price(other, "AAA", "79.00")
    assert status(services, record) is TriggerStatus.TRIGGERED


@pytest.mark.parametrize(
    ("spec_fields", "field"),
    [
        ({"symbol": "BBB"}, "symbol"),
        ({"symbol": "ZZZ"}, "symbol"),
        ({"level": Decimal("101.00")}, "condition.level"),
        ({"kind": "trailingStop", "level": None, "percent": Decimal("100")}, "condition.percent"),
        ({"kind": "trailingStop", "level": None, "percent": Decimal("0")}, "condition.percent"),
        (
            {"order": OrderTemplate(side=Side.SELL, sell_all=True, order_type=OrderType.LIMIT)},
            "order.limit_price",
        ),
        ({"account_id": 999}, "account_id"),
    ],
)
def test_bad_trigger_orders_are_refused_naming_the_field_and_write_nothing(
    services: Services, investor: Investor, spec_fields: dict[str, Any], field: str
) -> None:
    hold(services, investor)
    values: dict[str, Any] = {"kind": "priceBelow", "level": Decimal("95.00"), **spec_fields}
    kind = values.pop("kind")
    spec = trigger(
        investor,
        kind,
        values.pop("order", SELL_ALL),
        values.pop("symbol", "AAA"),
        **{k: v for k, v in values.items() if k != "account_id" and v is not None},
    )
    if "account_id" in values:
        spec = TriggerSpec(**{**fields_of(spec), "account_id": values["account_id"]})
    with pytest.raises(InvalidInput) as raised:
        services.trigger_orders.create([spec])
    assert raised.value.field == field
    assert count_rows(services, "trigger_orders") == 0


def test_a_stop_that_would_fire_at_once_says_which_way(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    with pytest.raises(InvalidInput, match=r"at or below 101\.00.*already 100"):
        create(services, trigger(investor, "priceBelow", level=Decimal("101.00")))


def test_an_oco_group_across_accounts_is_refused(services: Services, investor: Investor) -> None:
    hold(services, investor)
    second = services.platform.open_account(investor.client_id, "USD")
    services.platform.deposit(second.id, Decimal("1000.00"))
    spec = trigger(investor, "priceAbove", BUY_TEN, level=Decimal("120.00"))
    other = TriggerSpec(**{**fields_of(spec), "account_id": second.id, "oco_group": "g"})
    with pytest.raises(InvalidInput) as raised:
        services.trigger_orders.create(
            [TriggerSpec(**{**fields_of(spec), "oco_group": "g"}), other]
        )
    assert raised.value.field == "oco_group"
    assert count_rows(services, "trigger_orders") == 0


def test_oco_legs_never_both_fire_when_two_processes_see_both_at_once(
    make_services: MakeServices, investor: Investor, services: Services
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    first, second = make_services(), make_services()
    for s in (first, second):
        price(s, "AAA", "100.00")  # each builds its own index holding both legs
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def feed(s: Services, value: str) -> None:
        try:
            barrier.wait()
            price(s, "AAA", value)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=feed, args=(first, "89.00")),
        threading.Thread(target=feed, args=(second, "121.00")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    states = sorted([status(services, stop).value, status(services, take).value])
    assert states == ["Cancelled", "Triggered"]
    assert count_rows(services, "orders") == 2


@pytest.mark.parametrize(("action", "after"), [("cancel", "Cancelled"), ("pause", "Paused")])
def test_a_trigger_cancelled_or_paused_while_a_price_update_is_evaluated_does_not_fire(
    make_services: MakeServices,
    services: Services,
    investor: Investor,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    after: str,
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    evaluating = make_services()  # another process: its index, built on first use, holds it
    price(evaluating, "AAA", "95.00")
    evaluator = evaluating.triggers
    fire = evaluator._fire
    fired: list[str] = []

    def act_then_fire(index: Any, items: list[Any], *args: Any) -> Any:
        # The index has said "fire"; the claim has not run yet. Cancel or pause it elsewhere.
        fired.extend(item.trigger_id for item in items)
        if items:
            getattr(services.trigger_orders, action)(record.trigger.id)
        return fire(index, items, *args)

    claims: list[tuple[str, bool]] = []
    claim = TriggerOrders.claim

    def recorded_claim(repo: TriggerOrders, trigger_id: str, *args: Any) -> bool:
        claimed = claim(repo, trigger_id, *args)
        claims.append((trigger_id, claimed))
        return claimed

    monkeypatch.setattr(evaluator, "_fire", act_then_fire)
    monkeypatch.setattr(TriggerOrders, "claim", recorded_claim)
    price(evaluating, "AAA", "89.00")
    assert fired == [record.trigger.id]
    assert claims == [(record.trigger.id, False)]  # the conditional update found it not Active
    untouched = services.trigger_orders.get(record.trigger.id)
    assert untouched.trigger.status.value == after
    assert untouched.order_id is None
    assert count_rows(services, "orders") == 1  # only the buy that made the holding
    assert logs_of(services, record.trigger.id) == []


@pytest.mark.parametrize("paused", [False, True], ids=["active", "paused"])
@pytest.mark.parametrize("at", ["price update", "scheduler pass"])
def test_a_trigger_past_its_expiry_becomes_expired_and_is_logged(
    services: Services, investor: Investor, clock: SettableClock, at: str, paused: bool
) -> None:
    hold(services, investor)
    spec = trigger(investor, "priceBelow", level=Decimal("90.00"))
    spec = TriggerSpec(**{**fields_of(spec), "expires_at": clock.at + timedelta(hours=1)})
    record = create(services, spec)
    price(services, "AAA", "95.00")
    assert status(services, record) is TriggerStatus.ACTIVE
    if paused:  # a Paused trigger does not fire, but it does expire
        services.trigger_orders.pause(record.trigger.id)
    clock.at += timedelta(hours=1)  # the expiry instant itself
    if at == "price update":
        price(services, "AAA", "89.00")  # past its level too: expiry comes first
    else:
        services.triggers.run_all(client_id=None, triggered_by="scheduler")
    expired = services.trigger_orders.get(record.trigger.id)
    assert expired.trigger.status is TriggerStatus.EXPIRED
    assert expired.order_id is None
    assert count_rows(services, "orders") == 1
    [log] = logs_of(services, record.trigger.id)
    assert log.entry.status == "Skipped"
    assert log.entry.message.startswith("expired at")


def test_changing_a_trailing_stops_trail_keeps_its_mark_and_moves_the_stop(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "trailingStop", percent=Decimal("10")))
    price(services, "AAA", "120.00")
    assert stop_level(services.trigger_orders.get(record.trigger.id).trigger) == Decimal("108.00")
    updated = services.trigger_orders.update(record.trigger.id, TriggerChange(percent=Decimal("5")))
    assert isinstance(updated.trigger.condition, TrailingStop)
    assert updated.trigger.condition.mark == Decimal("120.00")
    assert (updated.trigger.condition.percent, updated.trigger.condition.amount) == (
        Decimal("5"),
        None,
    )
    assert stop_level(updated.trigger) == Decimal("114.00")
    assert stop_level(services.trigger_orders.get(record.trigger.id).trigger) == Decimal("114.00")
    price(services, "AAA", "114.01")
    assert status(services, record) is TriggerStatus.ACTIVE
    price(services, "AAA", "114.00")  # the new stop, not the old one at 108.00
    assert status(services, record) is TriggerStatus.TRIGGERED


@pytest.mark.parametrize("end", ["cancelled", "triggered"])
def test_changing_a_trigger_that_is_no_longer_active_is_a_conflict(
    services: Services, investor: Investor, end: str
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    if end == "cancelled":
        services.trigger_orders.cancel(record.trigger.id)
    else:
        price(services, "AAA", "89.00")
    before = services.trigger_orders.get(record.trigger.id)
    with pytest.raises(Conflict, match="only Active or Paused triggers change"):
        services.trigger_orders.update(record.trigger.id, TriggerChange(level=Decimal("80.00")))
    assert services.trigger_orders.get(record.trigger.id) == before


def test_a_buy_fired_early_in_a_multi_price_update_holds_enough_for_the_fill_at_its_end(
    services: Services, investor: Investor
) -> None:
    # Fires at 110.00, but the same update ends at 110.50: the broker fills at the latest price.
    record = create(services, trigger(investor, "priceAbove", BUY_TEN, level=Decimal("110.00")))
    ticks = [PriceTick(symbol="AAA", price=Decimal(p)) for p in ("110.00", "110.50")]
    services.platform.record_prices(ticks)
    fired = services.trigger_orders.get(record.trigger.id)
    assert fired.trigger.status is TriggerStatus.TRIGGERED and fired.order_id is not None
    placed = services.orders.get(fired.order_id)
    assert placed.order.status is OrderStatus.FILLED, placed.reject_reason
    assert placed.filled_amount == Decimal("1105.00")


def test_a_fire_the_database_refuses_is_a_failed_attempt_retried_then_given_up(
    services: Services, investor: Investor
) -> None:
    """Its order refused (as an audit trigger would), the stop is counted a failed attempt and
    stays Active for the next price; the third attempt gives it up. The others fire meanwhile."""
    hold(services, investor)
    hold(services, investor, symbol="BBB")
    refused = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    healthy = create(services, trigger(investor, "priceBelow", symbol="BBB", level=Decimal("25")))
    refuse_orders_for(services, "AAA")

    services.platform.record_prices(
        [
            PriceTick(symbol="AAA", price=Decimal("89.00")),
            PriceTick(symbol="BBB", price=Decimal("24.00")),
        ]
    )

    assert status(services, healthy) is TriggerStatus.TRIGGERED
    assert status(services, refused) is TriggerStatus.ACTIVE
    assert failed_attempts(services, refused.trigger.id) == 1
    price(services, "AAA", "88.00")  # the index still holds it: the next price tries again
    assert failed_attempts(services, refused.trigger.id) == 2
    price(services, "AAA", "87.00")

    gave_up = services.trigger_orders.get(refused.trigger.id)
    assert gave_up.trigger.status is TriggerStatus.FAILED
    assert gave_up.failure_reason is not None and "refused" in gave_up.failure_reason
    assert failed_attempts(services, refused.trigger.id) == 0
    rows = [(r.entry.status.value, r.entry.attempt) for r in logs_of(services, refused.trigger.id)]
    assert rows == [("Failed", 1), ("Failed", 2), ("Failed", 3), ("Skipped", 3)]
    price(services, "AAA", "80.00")  # given up: nothing more
    assert len(logs_of(services, refused.trigger.id)) == 4
