from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopilot.domain.errors import InvalidInput
from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import (
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    Trigger,
    TriggerStatus,
    evaluate,
    expire,
    is_expired,
    new_trailing_stop,
    oco_siblings_to_cancel,
    resume,
    stop_level,
)
from autopilot.domain.triggers.specs import TriggerChange, check_change_fields
from autopilot.domain.triggers.validation import (
    validate_condition,
    validate_not_met_at,
    validate_oco_group,
)

D = Decimal


def trigger(condition: Condition, **fields: object) -> Trigger:
    values: dict[str, object] = {"id": "TRIG-1", "account_id": 1, "symbol": "VTI"}
    values.update(fields)
    return Trigger(condition=condition, **values)  # type: ignore[arg-type]


def fires(t: Trigger, price: str) -> bool:
    return evaluate(t, D(price))[1]


def run(t: Trigger, *prices: str) -> tuple[Trigger, list[bool]]:
    outcomes = []
    for price in prices:
        t, fired = evaluate(t, D(price))
        outcomes.append(fired)
    return t, outcomes


# --- boundaries ---------------------------------------------------------------------------


def test_price_below_fires_at_its_level_and_not_one_cent_above() -> None:
    stop_loss = trigger(PriceBelow(level=D("95.00")))
    assert not fires(stop_loss, "95.01")
    assert fires(stop_loss, "95.00")
    assert fires(stop_loss, "80")


def test_price_above_fires_at_its_level_and_not_one_cent_below() -> None:
    take_profit = trigger(PriceAbove(level=D("110.00")))
    assert not fires(take_profit, "109.99")
    assert fires(take_profit, "110.00")


def test_percent_change_up_fires_at_the_full_move() -> None:
    up = trigger(PercentChange(percent=D(10), direction=Direction.UP, reference_price=D(100)))
    assert stop_level(up) == D("110.00")
    assert not fires(up, "109.99")
    assert fires(up, "110.00")


def test_percent_change_down_fires_at_the_full_move() -> None:
    dip = trigger(PercentChange(percent=D(10), direction=Direction.DOWN, reference_price=D(250)))
    assert stop_level(dip) == D("225.00")
    assert not fires(dip, "225.01")
    assert fires(dip, "225.00")


def test_percent_levels_round_to_the_cent_away_from_firing() -> None:
    up = PercentChange(percent=D(10), direction=Direction.UP, reference_price=D("100.05"))
    down = PercentChange(percent=D(10), direction=Direction.DOWN, reference_price=D("100.05"))
    assert stop_level(trigger(up)) == D("110.06")  # 110.055 rounded up
    assert stop_level(trigger(down)) == D("90.04")  # 90.045 rounded down
    assert not fires(trigger(up), "110.05")
    assert not fires(trigger(down), "90.05")


# --- trailing stops -----------------------------------------------------------------------


def sell_trail(percent: str = "10", mark: str = "100", **fields: object) -> Trigger:
    return trigger(TrailingStop(side=Side.SELL, percent=D(percent), mark=D(mark)), **fields)


def test_trailing_stop_follows_a_rising_price_and_fires_on_the_fall_to_its_stop() -> None:
    t, outcomes = run(sell_trail(), "105", "120", "110", "108.01")
    assert outcomes == [False] * 4
    assert isinstance(t.condition, TrailingStop)
    assert t.condition.mark == D("120")
    assert stop_level(t) == D("108.00")
    t, fired = evaluate(t, D("108.00"))
    assert fired
    assert t.status is TriggerStatus.TRIGGERED


def test_trailing_stop_mark_only_ratchets_up() -> None:
    t, _ = run(sell_trail(), "130", "95", "100")
    assert isinstance(t.condition, TrailingStop)
    assert t.condition.mark == D("130")


def test_trailing_stop_by_percent_rounds_its_stop_down_to_the_cent() -> None:
    t = sell_trail(percent="10", mark="100.05")
    assert stop_level(t) == D("90.04")
    assert not fires(t, "90.05")
    assert fires(t, "90.04")


def test_trailing_stop_by_amount_is_exact() -> None:
    t = trigger(TrailingStop(side=Side.SELL, amount=D("2.50"), mark=D(100)))
    assert stop_level(t) == D("97.50")
    assert not fires(t, "97.51")
    assert fires(t, "97.50")


def test_buy_trailing_stop_mirrors_with_a_low_water_mark() -> None:
    t = trigger(TrailingStop(side=Side.BUY, percent=D(5), mark=D(100)))
    t, outcomes = run(t, "90", "80", "83.99")
    assert outcomes == [False, False, False]
    assert isinstance(t.condition, TrailingStop)
    assert t.condition.mark == D("80")
    assert stop_level(t) == D("84.00")
    assert fires(t, "84.00")


def test_trailing_stop_waits_for_its_activation_price() -> None:
    waiting = new_trailing_stop(
        side=Side.SELL, price=D(100), percent=D(10), activation_price=D(110)
    )
    assert waiting.mark is None
    t, outcomes = run(trigger(waiting), "50", "109.99")
    assert outcomes == [False, False]
    assert stop_level(t) is None
    t, outcomes = run(t, "110", "99.01")
    assert outcomes == [False, False]
    assert stop_level(t) == D("99.00")
    assert fires(t, "99.00")


def test_trailing_stop_activates_at_once_when_placed_past_its_activation_price() -> None:
    trail = new_trailing_stop(side=Side.BUY, price=D(90), amount=D(5), activation_price=D(95))
    assert trail.mark == D(90)


def test_an_inactive_trigger_never_fires() -> None:
    cancelled = trigger(PriceBelow(level=D(95)), status=TriggerStatus.CANCELLED)
    assert evaluate(cancelled, D(1)) == (cancelled, False)


# --- pause and resume ---------------------------------------------------------------------

PAUSED = TriggerStatus.PAUSED


def test_a_paused_trigger_never_fires_and_its_mark_does_not_move() -> None:
    stop = trigger(PriceBelow(level=D(95)), status=PAUSED)
    trail = trigger(TrailingStop(side=Side.SELL, percent=D(10), mark=D(100)), status=PAUSED)
    assert evaluate(stop, D(1)) == (stop, False)
    assert evaluate(trail, D(150)) == (trail, False)


def test_resuming_a_sell_trailing_stop_ratchets_its_high_water_mark_with_the_latest_price() -> None:
    paused = trigger(TrailingStop(side=Side.SELL, percent=D(10), mark=D(100)), status=PAUSED)
    higher = resume(paused, D(120))
    assert (higher.status, higher.condition) == (
        TriggerStatus.ACTIVE,
        TrailingStop(side=Side.SELL, percent=D(10), mark=D(120)),
    )
    assert stop_level(higher) == D("108.00")
    lower = resume(paused, D(95))  # the mark only ratchets up: it stays at 100
    assert lower.condition == paused.condition and lower.status is TriggerStatus.ACTIVE


def test_resuming_a_buy_trailing_stop_ratchets_its_low_water_mark_down() -> None:
    paused = trigger(TrailingStop(side=Side.BUY, amount=D(5), mark=D(100)), status=PAUSED)
    assert stop_level(resume(paused, D(90))) == D(95)
    assert stop_level(resume(paused, D(102))) == D(105)


def test_resuming_a_waiting_trailing_stop_honours_its_activation_price() -> None:
    waiting = TrailingStop(side=Side.SELL, percent=D(10), activation_price=D(110))
    paused = trigger(waiting, status=PAUSED)
    assert resume(paused, D("109.99")).condition == waiting
    assert resume(paused, D(112)).condition == TrailingStop(
        side=Side.SELL, percent=D(10), activation_price=D(110), mark=D(112)
    )


PRICE_VALUES = st.decimals(min_value=D("0.01"), max_value=D(500), places=2)


@given(
    sell=st.booleans(),
    mark=st.none() | PRICE_VALUES,
    activation=st.none() | PRICE_VALUES,
    price=PRICE_VALUES,
    by_percent=st.booleans(),
)
def test_resume_ratchets_exactly_as_evaluate_moves_the_mark(
    sell: bool, mark: Decimal | None, activation: Decimal | None, price: Decimal, by_percent: bool
) -> None:
    # evaluate() inlines the ratchet for speed; the two must never disagree.
    trail = TrailingStop(
        side=Side.SELL if sell else Side.BUY,
        percent=D(10) if by_percent else None,
        amount=None if by_percent else D(5),
        activation_price=activation,
        mark=mark if mark is not None or activation is not None else price,
    )
    evaluated, _ = evaluate(trigger(trail), price)
    assert resume(trigger(trail, status=PAUSED), price).condition == evaluated.condition


def test_a_resumed_trigger_whose_condition_is_met_fires_on_the_next_price_not_at_resume() -> None:
    stop = resume(trigger(PriceBelow(level=D(95)), status=PAUSED), D(90))
    assert (stop.status, stop.condition) == (TriggerStatus.ACTIVE, PriceBelow(level=D(95)))
    assert fires(stop, "90")
    trail = resume(
        trigger(TrailingStop(side=Side.SELL, percent=D(10), mark=D(100)), status=PAUSED), D(80)
    )
    assert trail.status is TriggerStatus.ACTIVE
    assert fires(trail, "80")


def test_a_paused_trigger_expires_and_a_firing_sibling_cancels_it() -> None:
    paused = trigger(PriceAbove(level=D(110)), id="TRIG-P", oco_group="G", status=PAUSED)
    paused = replace(paused, expires_at=NOON)
    assert expire(paused, NOON).status is TriggerStatus.EXPIRED
    stop, _ = evaluate(trigger(PriceBelow(level=D(95)), id="TRIG-S", oco_group="G"), D(94))
    cancelled = oco_siblings_to_cancel(stop, [stop, paused])
    assert [(t.id, t.status) for t in cancelled] == [("TRIG-P", TriggerStatus.CANCELLED)]


# --- OCO ----------------------------------------------------------------------------------


def test_when_one_leg_of_a_bracket_fires_the_others_are_cancelled() -> None:
    stop = trigger(PriceBelow(level=D(95)), id="TRIG-S", oco_group="G")
    take = trigger(PriceAbove(level=D(110)), id="TRIG-T", oco_group="G")
    other = trigger(PriceAbove(level=D(120)), id="TRIG-O", oco_group="H")
    done = trigger(
        PriceAbove(level=D(130)), id="TRIG-D", oco_group="G", status=TriggerStatus.EXPIRED
    )
    fired, _ = evaluate(stop, D(94))
    cancelled = oco_siblings_to_cancel(fired, [stop, take, other, done])
    assert [(t.id, t.status) for t in cancelled] == [("TRIG-T", TriggerStatus.CANCELLED)]


def test_a_trigger_outside_any_group_has_no_siblings() -> None:
    lone = trigger(PriceBelow(level=D(95)))
    assert oco_siblings_to_cancel(lone, [lone, trigger(PriceAbove(level=D(1)), id="X")]) == []


def test_an_oco_group_must_stay_in_one_account() -> None:
    with pytest.raises(InvalidInput) as error:
        validate_oco_group(
            [
                trigger(PriceBelow(level=D(1)), account_id=1),
                trigger(PriceBelow(level=D(1)), account_id=2),
            ]
        )
    assert error.value.field == "oco_group"


# --- expiry -------------------------------------------------------------------------------

NOON = datetime(2025, 6, 16, 12, tzinfo=UTC)


def test_a_trigger_expires_at_its_expiry_instant() -> None:
    t = trigger(PriceBelow(level=D(95)), expires_at=NOON)
    assert not is_expired(t, NOON - timedelta(microseconds=1))
    assert is_expired(t, NOON)
    assert expire(t, NOON).status is TriggerStatus.EXPIRED


def test_a_trigger_without_expiry_is_good_till_cancelled() -> None:
    t = trigger(PriceBelow(level=D(95)))
    assert not is_expired(t, NOON + timedelta(days=3650))
    assert expire(t, NOON) is t


def test_expiry_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidInput):
        is_expired(trigger(PriceBelow(level=D(95))), datetime(2025, 6, 16))


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("percent", ["0", "-1", "100", "150"])
def test_trailing_stop_percent_must_be_between_0_and_100(percent: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_condition(TrailingStop(side=Side.SELL, percent=D(percent), mark=D(100)))
    assert error.value.field == "condition.percent"


def test_trailing_stop_needs_exactly_one_of_percent_and_amount() -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        validate_condition(TrailingStop(side=Side.SELL, percent=D(5), amount=D(1), mark=D(1)))


def test_levels_must_be_positive_with_at_most_four_places() -> None:
    for level in ("0", "-5", "1.00001"):
        with pytest.raises(InvalidInput) as error:
            validate_condition(PriceBelow(level=D(level)))
        assert error.value.field == "condition.level"
    validate_condition(PriceBelow(level=D("0.1234")))


def test_a_sell_stop_above_the_price_is_refused_saying_it_would_fire_at_once() -> None:
    with pytest.raises(InvalidInput) as error:
        validate_not_met_at(PriceBelow(level=D("105.00")), D("100.00"))
    assert error.value.field == "condition.level"
    assert "at or below 105.00" in error.value.message
    assert "would fire immediately" in error.value.message
    assert "below 100.00" in error.value.message


def test_a_level_not_yet_met_passes() -> None:
    validate_not_met_at(PriceBelow(level=D("95.00")), D("100.00"))
    validate_not_met_at(PriceAbove(level=D("100.01")), D("100.00"))
    validate_not_met_at(TrailingStop(side=Side.SELL, percent=D(5), mark=D(100)), D(100))


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (PriceAbove(level=D("1000000000000")), "condition.level"),
        (
            PercentChange(
                percent=D("999999999999"), direction=Direction.UP, reference_price=D("999999")
            ),
            "condition.percent",
        ),
        (TrailingStop(side=Side.SELL, amount=D("150"), mark=D("100")), "condition.amount"),
        (
            TrailingStop(side=Side.BUY, amount=D("999999999999"), mark=D("100")),
            "condition.amount",
        ),
    ],
)
def test_a_level_the_market_cannot_reach_is_refused_naming_the_field(
    condition: Condition, field: str
) -> None:
    # Found by fuzzing: such a level overflowed the index after the trigger was stored.
    with pytest.raises(InvalidInput) as refused:
        validate_condition(condition)
    assert refused.value.field == field


def test_a_change_giving_a_trail_both_a_percent_and_an_amount_is_refused_as_create_refuses_it() -> (
    None
):
    trail = TrailingStop(side=Side.SELL, amount=D("3"), mark=D("100"))
    with pytest.raises(InvalidInput) as refused:
        check_change_fields(trail, TriggerChange(percent=D("7"), amount=D("3")))
    assert refused.value.field == "condition"
