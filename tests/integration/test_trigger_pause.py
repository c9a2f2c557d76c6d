"""Pausing and resuming trigger orders, editing one, and what a firing writes to the execution log,
through the services on SQLite and PostgreSQL: a paused trigger never fires (not even when the
pause lands while a price update is being evaluated), its OCO group pauses and resumes with it,
it still expires, and a resumed trailing stop catches up with the market."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from autopilot.bootstrap import Services
from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.triggers.conditions import Direction, TrailingStop, TriggerStatus, stop_level
from autopilot.services.records import TriggerOrderRecord
from autopilot.services.triggers.orders import TriggerChange, TriggerSpec
from autopilot.storage.trigger_repo import TriggerOrders
from tests.support.logs import action_of
from tests.support.services import (
    Investor,
    MakeServices,
    SettableClock,
    count_rows,
    logs_of,
)
from tests.support.triggers import (
    BUY_TEN,
    bracket,
    create,
    fields_of,
    hold,
    price,
    status,
    trigger,
)
from tests.support.waiting import wait_for, wait_for_a_lock_wait

ACTIVE, PAUSED = TriggerStatus.ACTIVE, TriggerStatus.PAUSED


def stop_loss(services: Services, who: Investor, level: str = "90.00") -> TriggerOrderRecord:
    return create(services, trigger(who, "priceBelow", level=Decimal(level)))


def trailing(services: Services, who: Investor, percent: str = "10") -> TriggerOrderRecord:
    return create(services, trigger(who, "trailingStop", percent=Decimal(percent)))


def mark(services: Services, record: TriggerOrderRecord) -> Decimal | None:
    condition = services.trigger_orders.get(record.trigger.id).trigger.condition
    assert isinstance(condition, TrailingStop)
    return condition.mark


# --- pause and resume -----------------------------------------------------------------------


def test_a_paused_trigger_does_not_fire_and_once_resumed_the_next_price_fires_it(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = stop_loss(services, investor)
    paused = services.trigger_orders.pause(record.trigger.id)
    assert paused.trigger.status is PAUSED
    price(services, "AAA", "89.00")
    assert status(services, record) is PAUSED
    assert count_rows(services, "orders") == 1  # only the buy that made the holding

    resumed = services.trigger_orders.resume(record.trigger.id)
    assert resumed.trigger.status is ACTIVE  # the price meets it, but resuming fires nothing
    assert count_rows(services, "orders") == 1
    price(services, "AAA", "89.50")  # in this process's index again: the update fires it
    fired = services.trigger_orders.get(record.trigger.id)
    assert fired.trigger.status is TriggerStatus.TRIGGERED
    assert fired.trigger_price == Decimal("89.50")


def test_a_resumed_trigger_already_met_fires_on_the_next_pass(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = stop_loss(services, investor)
    services.trigger_orders.pause(record.trigger.id)
    price(services, "AAA", "85.00")
    services.trigger_orders.resume(record.trigger.id)
    result = services.triggers.run_all(client_id=None, triggered_by="scheduler")
    assert result.counts[OutcomeStatus.SUCCESS] == 1
    assert status(services, record) is TriggerStatus.TRIGGERED


def test_pause_and_resume_act_on_the_whole_oco_group(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    services.trigger_orders.pause(take.trigger.id)
    assert (status(services, stop), status(services, take)) == (PAUSED, PAUSED)
    price(services, "AAA", "80.00")
    assert (status(services, stop), status(services, take)) == (PAUSED, PAUSED)

    services.trigger_orders.resume(stop.trigger.id)
    assert (status(services, stop), status(services, take)) == (ACTIVE, ACTIVE)
    price(services, "AAA", "79.00")
    assert status(services, stop) is TriggerStatus.TRIGGERED
    assert status(services, take) is TriggerStatus.CANCELLED


def test_pause_and_resume_from_the_wrong_state_are_conflicts_that_change_nothing(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = stop_loss(services, investor)
    with pytest.raises(Conflict, match=r"is Active, not Paused"):
        services.trigger_orders.resume(record.trigger.id)
    services.trigger_orders.pause(record.trigger.id)
    before = services.trigger_orders.get(record.trigger.id)
    with pytest.raises(Conflict, match=r"is Paused, not Active"):
        services.trigger_orders.pause(record.trigger.id)
    assert services.trigger_orders.get(record.trigger.id) == before
    services.trigger_orders.cancel(record.trigger.id)
    for act in (services.trigger_orders.pause, services.trigger_orders.resume):
        with pytest.raises(Conflict, match=r"is Cancelled, not"):
            act(record.trigger.id)
    for act in (services.trigger_orders.pause, services.trigger_orders.resume):
        with pytest.raises(NotFound):
            act("TRIG-NOPE")


# --- trailing stops -------------------------------------------------------------------------


def test_a_paused_trailing_stop_leaves_the_index_and_resumes_at_the_latest_price(
    make_services: MakeServices, services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = trailing(services, investor)
    services.trigger_orders.pause(record.trigger.id)
    assert services.triggers.mark_of(record.trigger.id) is None  # not in the index
    price(services, "AAA", "130.00")
    assert mark(services, record) == Decimal("100.00")  # frozen while paused

    resumed = services.trigger_orders.resume(record.trigger.id)
    assert stop_level(resumed.trigger) == Decimal("117.00")
    assert services.triggers.mark_of(record.trigger.id) == Decimal("130.00")
    assert mark(make_services(), record) == Decimal("130.00")  # stored, not only indexed
    price(services, "AAA", "117.01")
    assert status(services, record) is ACTIVE
    price(services, "AAA", "117.00")
    assert status(services, record) is TriggerStatus.TRIGGERED


def test_a_resumed_trailing_stop_keeps_its_higher_mark_and_fires_if_the_price_fell_through(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = trailing(services, investor)
    price(services, "AAA", "110.00")
    services.trigger_orders.pause(record.trigger.id)
    price(services, "AAA", "95.00")
    resumed = services.trigger_orders.resume(record.trigger.id)
    assert isinstance(resumed.trigger.condition, TrailingStop)
    assert resumed.trigger.condition.mark == Decimal("110.00")  # the mark only ratchets
    assert resumed.trigger.status is ACTIVE
    price(services, "AAA", "98.00")  # below the stop at 99.00: it fires now
    assert status(services, record) is TriggerStatus.TRIGGERED


def test_a_waiting_trailing_stop_activates_on_resume_once_the_price_reached_it(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = create(
        services,
        trigger(
            investor, "trailingStop", percent=Decimal("10"), activation_price=Decimal("120.00")
        ),
    )
    services.trigger_orders.pause(record.trigger.id)
    price(services, "AAA", "119.99")
    services.trigger_orders.resume(record.trigger.id)
    assert mark(services, record) is None
    services.trigger_orders.pause(record.trigger.id)
    price(services, "AAA", "125.00")
    services.trigger_orders.resume(record.trigger.id)
    assert mark(services, record) == Decimal("125.00")


# --- expiry, OCO siblings, cancel and update of a paused trigger -----------------------------


def test_when_a_member_fires_its_paused_siblings_are_cancelled(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    services.trigger_orders.pause(stop.trigger.id)
    third = trigger(investor, "priceAbove", level=Decimal("110.00"))
    added = create(services, TriggerSpec(**{**fields_of(third), "oco_group": "bracket"}))
    price(services, "AAA", "111.00")
    assert status(services, added) is TriggerStatus.TRIGGERED
    assert (status(services, stop), status(services, take)) == (
        TriggerStatus.CANCELLED,
        TriggerStatus.CANCELLED,
    )


def test_cancelling_a_paused_trigger_cancels_its_group(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    services.trigger_orders.pause(stop.trigger.id)
    services.trigger_orders.cancel(take.trigger.id)
    assert (status(services, stop), status(services, take)) == (
        TriggerStatus.CANCELLED,
        TriggerStatus.CANCELLED,
    )


def test_a_paused_trigger_can_be_moved_and_stays_paused_until_resumed(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = stop_loss(services, investor)
    services.trigger_orders.pause(record.trigger.id)
    moved = services.trigger_orders.update(record.trigger.id, TriggerChange(level=Decimal("95")))
    assert (moved.trigger.status, stop_level(moved.trigger)) == (PAUSED, Decimal("95"))
    price(services, "AAA", "94.00")
    assert status(services, record) is PAUSED
    services.trigger_orders.resume(record.trigger.id)
    price(services, "AAA", "94.50")
    assert status(services, record) is TriggerStatus.TRIGGERED


@pytest.mark.parametrize(
    ("kind", "fields", "change", "field"),
    [
        (
            "percentChange",
            {"percent": Decimal("10"), "direction": Direction.DOWN},
            {"level": Decimal("5")},
            "condition.level",
        ),
        ("priceBelow", {"level": Decimal("90")}, {"percent": Decimal("5")}, "condition.percent"),
        (
            "priceAbove",
            {"level": Decimal("120")},
            {"activation_price": Decimal("5")},
            "condition.activation_price",
        ),
        (
            "trailingStop",
            {"percent": Decimal("10")},
            {"reference_price": Decimal("5")},
            "condition.reference_price",
        ),
    ],
)
def test_an_update_naming_a_field_its_condition_does_not_use_is_refused_and_writes_nothing(
    services: Services,
    investor: Investor,
    kind: str,
    fields: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, kind, BUY_TEN, **fields))
    before = services.trigger_orders.get(record.trigger.id)
    with pytest.raises(InvalidInput) as raised:
        services.trigger_orders.update(record.trigger.id, TriggerChange(**change))
    assert raised.value.field == field
    assert raised.value.message == f"{field}: not used by a {kind} condition"
    assert services.trigger_orders.get(record.trigger.id) == before


def test_an_update_to_a_zero_level_is_refused_not_ignored(
    services: Services, investor: Investor
) -> None:
    hold(services, investor)
    record = stop_loss(services, investor)
    with pytest.raises(InvalidInput) as raised:
        services.trigger_orders.update(record.trigger.id, TriggerChange(level=Decimal("0")))
    assert raised.value.field == "condition.level"


def test_a_zero_reference_price_is_refused_not_replaced_by_the_current_price(
    services: Services, investor: Investor
) -> None:
    spec = trigger(
        investor,
        "percentChange",
        BUY_TEN,
        percent=Decimal("10"),
        direction=Direction.DOWN,
        reference_price=Decimal("0"),
    )
    with pytest.raises(InvalidInput) as raised:
        create(services, spec)
    assert raised.value.field == "condition.reference_price"
    assert count_rows(services, "trigger_orders") == 0


# --- the execution log and the scheduler's lines --------------------------------------------


def ticking(clock: SettableClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every read of the clock a millisecond later than the one before, as a real clock."""

    def now() -> datetime:
        clock.at += timedelta(milliseconds=1)
        return clock.at

    monkeypatch.setattr(clock, "now", now)


def test_every_log_row_of_a_price_update_finishes_after_it_started(
    services: Services,
    investor: Investor,
    clock: SettableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = [
        create(services, trigger(investor, "priceBelow", BUY_TEN, level=Decimal(level)))
        for level in ("90.00", "91.00", "92.00")
    ]
    ticking(clock, monkeypatch)
    price(services, "AAA", "89.00")
    rows = [log for r in records for log in logs_of(services, r.trigger.id)]
    assert [row.entry.status for row in rows] == ["Success"] * 3
    for row in rows:
        assert row.entry.finished_at is not None
        assert row.entry.started_at <= row.entry.finished_at <= row.created_at, row


def test_a_price_update_that_expires_one_trigger_and_fires_another_logs_each_once(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    hold(services, investor)
    spec = trigger(investor, "priceBelow", level=Decimal("80.00"))
    expiring = create(
        services, TriggerSpec(**{**fields_of(spec), "expires_at": clock.at + timedelta(hours=1)})
    )
    firing = stop_loss(services, investor, "95.00")
    price(services, "AAA", "99.00")
    clock.at += timedelta(hours=2)
    price(services, "AAA", "94.00")  # on the update itself, not left for the next pass
    assert status(services, expiring) is TriggerStatus.EXPIRED
    assert status(services, firing) is TriggerStatus.TRIGGERED
    assert [log.entry.status for log in logs_of(services, expiring.trigger.id)] == ["Skipped"]
    assert [log.entry.status for log in logs_of(services, firing.trigger.id)] == ["Success"]


def scheduler_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autopilot.scheduler"]


@pytest.mark.parametrize("at", ["price update", "scheduler pass"])
def test_a_firing_trigger_writes_the_executing_line_before_its_outcome(
    services: Services,
    investor: Investor,
    clock: SettableClock,
    caplog: pytest.LogCaptureFixture,
    at: str,
) -> None:
    hold(services, investor)
    record = stop_loss(services, investor)
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    if at == "price update":
        price(services, "AAA", "89.00")
    else:
        with services.uow() as uow:  # stored without the update's own evaluation
            uow.market.record_prices([("AAA", Decimal("89.00"), clock.at)])
        services.triggers.run_all(client_id=None, triggered_by="scheduler")
    order_id = services.trigger_orders.get(record.trigger.id).order_id
    lines = [line for line in scheduler_lines(caplog) if record.trigger.id in line]
    assert lines == [
        f"[Automation Scheduler] Executing trigger order: {record.trigger.id}",
        f"[Automation Scheduler] Trigger order {record.trigger.id} executed successfully. "
        f"Order ID: {order_id}",
    ]


# --- concurrent changes (found in review) --------------------------------------------------------


def test_a_pause_and_a_resume_racing_leave_the_index_as_the_last_commit_left_the_trigger(
    services: Services, investor: Investor, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold(services, investor)
    record = create(services, trigger(investor, "priceBelow", level=Decimal("90.00")))
    price(services, "AAA", "95.00")  # the index is built
    evaluator = services.triggers
    real_refresh = evaluator.refresh
    committed, go_on = threading.Event(), threading.Event()

    def late_refresh(trigger_ids: Sequence[str]) -> None:
        committed.set()  # the pause has committed; the resume runs before its index update
        go_on.wait(10)
        real_refresh(trigger_ids)

    monkeypatch.setattr(evaluator, "refresh", late_refresh)
    pausing = threading.Thread(target=services.trigger_orders.pause, args=(record.trigger.id,))
    pausing.start()
    assert committed.wait(10)
    monkeypatch.setattr(evaluator, "refresh", real_refresh)
    services.trigger_orders.resume(record.trigger.id)
    go_on.set()
    pausing.join(10)

    assert status(services, record) is ACTIVE
    price(services, "AAA", "89.00")  # the stop is met: an Active stop fires on the update
    assert status(services, record) is TriggerStatus.TRIGGERED


def firing_queues(services: Services) -> Callable[[], None]:
    """A wait for the moment the "firing" thread is queued behind another transaction:
    PostgreSQL says a session waits for a row lock; SQLite's one writer makes the firing's
    first transaction wait at its BEGIN IMMEDIATE (seen as its connection is taken)."""
    engine = services.engine
    assert engine is not None
    if engine.dialect.name == "postgresql":
        return lambda: wait_for_a_lock_wait(engine, what="the firing to wait for the group")
    beginning = threading.Event()

    def on_connect(connection: Any) -> None:
        if threading.current_thread().name == "firing":
            beginning.set()

    event.listen(engine, "engine_connect", on_connect)
    return lambda: wait_for(beginning.is_set, what="the firing's transaction to begin")


def test_pausing_a_bracket_while_a_price_fires_it_queues_instead_of_deadlocking(
    make_services: MakeServices,
    services: Services,
    investor: Investor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hold(services, investor)
    stop, take = bracket(services, investor)
    evaluating = make_services()  # another process's services, its own index
    price(evaluating, "AAA", "95.00")
    higher = max(stop.trigger.id, take.trigger.id)
    locked, go_on = threading.Event(), threading.Event()
    real_members = TriggerOrders.oco_members

    def held_members(self: TriggerOrders, *args: Any, **kwargs: Any) -> Any:
        members = real_members(self, *args, **kwargs)
        if threading.current_thread().name == "pauser":
            locked.set()  # the pause holds its rows; a price now crosses the stop
            go_on.wait(10)
        return members

    monkeypatch.setattr(TriggerOrders, "oco_members", held_members)
    caplog.set_level(logging.ERROR)
    errors: list[BaseException] = []

    def pause() -> None:
        try:
            services.trigger_orders.pause(higher)
        except BaseException as exc:  # reported below
            errors.append(exc)

    pauser = threading.Thread(target=pause, name="pauser")
    pauser.start()
    assert locked.wait(10)
    queued = firing_queues(evaluating)
    firing = threading.Thread(target=price, args=(evaluating, "AAA", "89.00"), name="firing")
    firing.start()
    queued()  # the firing now waits behind the pause's hold on the group's rows
    go_on.set()
    pauser.join(20)
    firing.join(20)

    assert errors == []
    assert [action_of(r) for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert {status(services, stop), status(services, take)} == {PAUSED}  # paused first: no fire


def test_a_paused_trigger_whose_expiry_moves_earlier_expires_and_cannot_resume(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    hold(services, investor)
    spec = trigger(investor, "priceBelow", level=Decimal("90.00"))
    record = create(
        services, TriggerSpec(**{**fields_of(spec), "expires_at": clock.at + timedelta(days=10)})
    )
    price(services, "AAA", "95.00")  # the index knows the later expiry
    services.trigger_orders.pause(record.trigger.id)
    soon = TriggerChange(expires_at=clock.at + timedelta(hours=1))
    services.trigger_orders.update(record.trigger.id, soon)
    clock.at += timedelta(hours=2)

    with pytest.raises(Conflict, match="expired"):
        services.trigger_orders.resume(record.trigger.id)
    price(services, "AAA", "96.00")
    assert status(services, record) is TriggerStatus.EXPIRED
