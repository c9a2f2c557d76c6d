from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
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
    resume,
)
from autopilot.domain.triggers.index import NaiveEvaluator, TriggerIndex, from_ticks, to_ticks

D = Decimal
SYMBOLS = ("VTI", "BND", "AAPL")


def trigger(trigger_id: str, condition: Condition, symbol: str = "VTI") -> Trigger:
    return Trigger(id=trigger_id, account_id=1, symbol=symbol, condition=condition)


def sell_trail(trigger_id: str, percent: str = "10", mark: str = "100") -> Trigger:
    return trigger(trigger_id, TrailingStop(side=Side.SELL, percent=D(percent), mark=D(mark)))


# --- examples -----------------------------------------------------------------------------


def test_a_level_fires_at_its_boundary_and_leaves_the_index() -> None:
    index = TriggerIndex([trigger("S", PriceBelow(level=D("95.00")))])
    assert index.on_price("VTI", D("95.01")) == []
    assert index.on_price("VTI", D("95.00")) == ["S"]
    assert len(index) == 0
    assert index.on_price("VTI", D("1")) == []


def test_a_price_fires_every_level_it_reaches_and_only_those() -> None:
    index = TriggerIndex(
        [trigger(f"A{n}", PriceAbove(level=D(100 + n))) for n in range(5)]
        + [trigger("OTHER", PriceAbove(level=D(100)), symbol="BND")]
    )
    assert sorted(index.on_price("VTI", D("102.00"))) == ["A0", "A1", "A2"]
    assert len(index) == 3


def test_trailing_stops_ride_a_new_high_together_and_fire_on_the_fall() -> None:
    index = TriggerIndex([sell_trail("T5", "5"), sell_trail("T10", "10"), sell_trail("U10", "10")])
    assert index.on_price("VTI", D("120")) == []
    assert index.mark_of("T10") == D("120.00")
    assert index.on_price("VTI", D("114.01")) == []
    assert index.on_price("VTI", D("114.00")) == ["T5"]
    assert index.on_price("VTI", D("108.01")) == []
    assert sorted(index.on_price("VTI", D("108.00"))) == ["T10", "U10"]


def test_a_trailing_stop_mark_only_ratchets_in_the_index() -> None:
    index = TriggerIndex([sell_trail("T", "50")])
    for price in ("130", "95", "100"):
        index.on_price("VTI", D(price))
    assert index.mark_of("T") == D("130.00")


def test_a_waiting_trailing_stop_activates_at_its_activation_price() -> None:
    waiting = TrailingStop(side=Side.BUY, amount=D(5), activation_price=D(90))
    index = TriggerIndex([trigger("B", waiting)])
    assert index.on_price("VTI", D("90.01")) == []
    assert index.mark_of("B") is None
    assert index.on_price("VTI", D("89")) == []
    assert index.mark_of("B") == D("89.00")
    assert index.on_price("VTI", D("93.99")) == []
    assert index.on_price("VTI", D("94.00")) == ["B"]


def test_a_removed_trigger_does_not_fire() -> None:
    index = TriggerIndex([sell_trail("T"), trigger("S", PriceBelow(level=D(95)))])
    index.remove("T")
    index.remove("S")
    index.remove("never-there")
    assert index.on_price("VTI", D(1)) == []
    assert len(index) == 0


def test_a_trigger_paused_leaves_the_index_and_comes_back_at_its_resumed_mark() -> None:
    index = TriggerIndex([sell_trail("T"), trigger("S", PriceBelow(level=D(95)))])
    index.on_price("VTI", D(110))
    index.remove("T")  # paused: the evaluator drops it
    index.remove("S")
    assert index.on_price("VTI", D(90)) == []  # neither fires while paused
    with pytest.raises(ValueError, match="only active"):
        index.add(replace(sell_trail("T"), status=TriggerStatus.PAUSED))
    index.add(resume(replace(sell_trail("T", mark="110"), status=TriggerStatus.PAUSED), D(130)))
    index.add(trigger("S", PriceBelow(level=D(95))))
    assert index.mark_of("T") == D("130.00")
    assert index.on_price("VTI", D("117.01")) == []
    assert sorted(index.on_price("VTI", D("94"))) == ["S", "T"]


def test_replace_moves_a_level() -> None:
    index = TriggerIndex([trigger("S", PriceBelow(level=D(95)))])
    index.replace(trigger("S", PriceBelow(level=D(90))))
    assert index.on_price("VTI", D(94)) == []
    assert index.on_price("VTI", D(90)) == ["S"]


def test_changed_marks_are_reported_once_grouped_by_mark() -> None:
    index = TriggerIndex([sell_trail("T1"), sell_trail("T2", "20"), sell_trail("T3", mark="200")])
    index.on_price("VTI", D(150))
    changes = index.marks_changed_since_last_flush()
    assert {(c.mark, tuple(sorted(c.trigger_ids))) for c in changes} == {
        (D("150.00"), ("T1",)),
        (D("150.00"), ("T2",)),
    }
    assert index.marks_changed_since_last_flush() == []


def test_a_stop_placed_above_the_running_high_keeps_the_raised_marks_reported() -> None:
    index = TriggerIndex([sell_trail("T1")])
    index.on_price("VTI", D(120))
    index.add(sell_trail("T2", "5", mark="130"))
    changes = index.marks_changed_since_last_flush()
    assert [(c.mark, c.trigger_ids) for c in changes] == [(D("120.00"), ("T1",))]
    assert index.on_price("VTI", D(125)) == []
    changes = index.marks_changed_since_last_flush()
    assert [(c.mark, c.trigger_ids) for c in changes] == [(D("125.00"), ("T1",))]
    assert (index.mark_of("T1"), index.mark_of("T2")) == (D("125.00"), D("130.00"))


def test_a_trailing_stop_that_fires_reports_its_final_mark() -> None:
    index = TriggerIndex([sell_trail("T")])
    index.on_price("VTI", D(150))
    assert index.on_price("VTI", D(135)) == ["T"]
    [change] = index.marks_changed_since_last_flush()
    assert (change.mark, change.trigger_ids) == (D("150.00"), ("T",))


def test_the_index_refuses_duplicates_inactive_triggers_and_sub_tick_prices() -> None:
    index = TriggerIndex([sell_trail("T")])
    with pytest.raises(ValueError, match="already indexed"):
        index.add(sell_trail("T"))
    with pytest.raises(ValueError, match="only active"):
        index.add(
            Trigger(
                id="X",
                account_id=1,
                symbol="VTI",
                condition=PriceAbove(level=D(1)),
                status=TriggerStatus.CANCELLED,
            )
        )
    with pytest.raises(InvalidInput):
        index.on_price("VTI", D("100.00001"))


def test_a_trigger_the_index_refuses_leaves_nothing_behind() -> None:
    index = TriggerIndex()
    with pytest.raises(InvalidInput):
        index.add(trigger("FINE", PriceBelow(level=D("95.00001"))))
    assert "FINE" not in index and len(index) == 0
    index.add(trigger("FINE", PriceBelow(level=D("95.00"))))
    assert index.on_price("VTI", D("95.00")) == ["FINE"]


def test_ticks_round_trip() -> None:
    assert to_ticks(D("100.25")) == 1_002_500
    assert str(from_ticks(1_002_500)) == "100.25"
    assert str(from_ticks(1_002_512)) == "100.2512"


# --- the index agrees with the naive evaluator --------------------------------------------

cents = st.integers(min_value=9_000, max_value=11_000).map(lambda c: D(c).scaleb(-2))
percents = st.sampled_from([D(1), D("2.5"), D(5), D("7.3333"), D(10)])
amounts = st.sampled_from([D("0.50"), D(1), D("2.25"), D(5)])


@st.composite
def trailing(draw: st.DrawFn) -> TrailingStop:
    side = draw(st.sampled_from(Side))
    by_percent = draw(st.booleans())
    percent = draw(percents) if by_percent else None
    amount = None if by_percent else draw(amounts)
    if draw(st.booleans()):
        return TrailingStop(side=side, percent=percent, amount=amount, activation_price=draw(cents))
    return TrailingStop(side=side, percent=percent, amount=amount, mark=draw(cents))


conditions = st.one_of(
    st.builds(PriceAbove, level=cents),
    st.builds(PriceBelow, level=cents),
    st.builds(
        PercentChange, percent=percents, direction=st.sampled_from(Direction), reference_price=cents
    ),
    trailing(),
)


@st.composite
def triggers(draw: st.DrawFn, number: int) -> Trigger:
    return trigger(f"TRIG-{number}", draw(conditions), symbol=draw(st.sampled_from(SYMBOLS)))


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Price updates (random walks, mostly of cents, some to the 0.0001) with adds, removes,
    replaces and flushes of the changed marks interleaved."""
    steps: list[tuple[str, object]] = []
    prices = {symbol: 1_000_000 for symbol in SYMBOLS}  # ticks of 0.0001
    for number in range(draw(st.integers(min_value=5, max_value=25))):
        steps.append(("add", draw(triggers(number))))
    for _ in range(draw(st.integers(min_value=1, max_value=120))):
        action = draw(st.sampled_from(["price"] * 8 + ["add", "remove", "replace", "flush"]))
        if action == "price":
            symbol = draw(st.sampled_from(SYMBOLS))
            step = draw(st.integers(min_value=-150, max_value=150)) * 100
            if draw(st.integers(min_value=0, max_value=9)) == 0:
                step += draw(st.integers(min_value=-99, max_value=99))
            prices[symbol] = min(1_150_000, max(850_000, prices[symbol] + step))
            steps.append(("price", (symbol, D(prices[symbol]).scaleb(-4))))
        elif action == "add":
            steps.append(("add", draw(triggers(len(steps) + 1000))))
        else:
            steps.append((action, draw(st.integers(min_value=0, max_value=len(steps)))))
    steps.append(("flush", 0))
    return steps


class _Database:
    """What the caller has persisted: each trailing stop's mark as of the last flush."""

    def __init__(self) -> None:
        self.marks: dict[str, Decimal | None] = {}
        self.fired_at: dict[str, Decimal | None] = {}  # final marks of stops fired since

    def store(self, placed: Trigger) -> None:
        condition = placed.condition
        self.marks[placed.id] = condition.mark if isinstance(condition, TrailingStop) else None

    def check_flush(self, index: TriggerIndex, naive: NaiveEvaluator) -> None:
        """Every mark that moved since the last flush is reported, and reported right."""
        reported: dict[str, Decimal] = {}
        for change in index.marks_changed_since_last_flush():
            for trigger_id in change.trigger_ids:
                assert trigger_id not in reported, f"{trigger_id} reported twice"
                reported[trigger_id] = change.mark
        for trigger_id, mark in reported.items():
            final = naive.mark_of(trigger_id) if trigger_id in naive else self.fired_at[trigger_id]
            assert mark == final, trigger_id
        for trigger_id, stored in self.marks.items():
            if trigger_id in naive:
                now = naive.mark_of(trigger_id)
            elif trigger_id in self.fired_at:
                now = self.fired_at[trigger_id]
            else:
                continue
            if now != stored:
                assert reported.get(trigger_id) == now, f"{trigger_id}: {stored} -> {now}"
        self.marks = {t: naive.mark_of(t) for t in self.marks if t in naive}
        self.fired_at.clear()


def _play(index: TriggerIndex, naive: NaiveEvaluator, steps: list[tuple[str, object]]) -> None:
    added: list[Trigger] = []
    database = _Database()
    for number, (action, payload) in enumerate(steps):
        if action == "price":
            symbol, price = payload  # type: ignore[misc]
            before = {t.id: naive.mark_of(t.id) for t in added if t.id in naive}
            fired = naive.on_price(symbol, price)
            assert sorted(index.on_price(symbol, price)) == sorted(fired), f"step {number}"
            database.fired_at.update((t, before[t]) for t in fired if t in database.marks)
        elif action == "add":
            assert isinstance(payload, Trigger)
            index.add(payload)
            naive.add(payload)
            database.store(payload)
            added.append(payload)
        elif action == "flush":
            database.check_flush(index, naive)
        elif added:
            roll = int(payload)  # type: ignore[call-overload]
            _change(index, naive, database, action, added[roll % len(added)], roll)
        _assert_same_marks(index, naive, added)


def _change(
    index: TriggerIndex,
    naive: NaiveEvaluator,
    database: _Database,
    action: str,
    chosen: Trigger,
    roll: int,
) -> None:
    if action == "remove" or chosen.id not in naive:
        index.remove(chosen.id)
        naive.remove(chosen.id)
        database.marks.pop(chosen.id, None)
        return
    condition = chosen.condition
    moved: Condition = PriceBelow(level=D(100))
    mark = index.mark_of(chosen.id)  # carry the mark over, as the docs ask
    waits = isinstance(condition, TrailingStop) and condition.activation_price is not None
    if isinstance(condition, TrailingStop) and roll % 3 and (mark is not None or waits):
        trail = {"amount": D(3)} if roll % 3 == 1 else {"percent": D("2.5")}
        moved = TrailingStop(
            side=condition.side,
            mark=mark,
            activation_price=None if mark is not None else condition.activation_price,
            **trail,
        )
    updated = Trigger(id=chosen.id, account_id=1, symbol=chosen.symbol, condition=moved)
    index.replace(updated)
    naive.replace(updated)
    database.store(updated)


def _assert_same_marks(index: TriggerIndex, naive: NaiveEvaluator, added: list[Trigger]) -> None:
    assert len(index) == len(naive)
    for t in added:
        if t.id in naive:
            assert index.mark_of(t.id) == naive.mark_of(t.id)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_index_fires_exactly_what_the_naive_evaluator_fires(
    steps: list[tuple[str, object]],
) -> None:
    _play(TriggerIndex(), NaiveEvaluator(), steps)


# --- exactness of the integer ticks over the whole range of prices -----------------------


@st.composite
def wide_scenarios(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Like :func:`scenarios`, at any magnitude (0.0001 to 10,000,000) and with every field to
    the 0.0001 (percents too): the index's integer ticks and its floor and ceiling of percent
    stops to the cent must give exactly the naive evaluator's Decimal answers."""
    starts = {s: draw(st.integers(min_value=1, max_value=10**11)) for s in SYMBOLS}

    def near(ticks: int) -> Decimal:
        away = draw(st.integers(min_value=-300, max_value=300))  # up to ±30 %
        return D(max(1, ticks + ticks * away // 1000)).scaleb(-4)

    def condition(symbol: str) -> Condition:
        start = starts[symbol]
        percent = D(draw(st.integers(min_value=1, max_value=999_999))).scaleb(-4)
        amount = D(draw(st.integers(min_value=1, max_value=max(1, start // 5)))).scaleb(-4)
        kind = draw(st.sampled_from(["above", "below", "change", "trail"]))
        if kind == "above":
            return PriceAbove(level=near(start))
        if kind == "below":
            return PriceBelow(level=near(start))
        if kind == "change":
            direction = draw(st.sampled_from(Direction))
            return PercentChange(percent=percent, direction=direction, reference_price=near(start))
        by_percent = draw(st.booleans())
        trail = {"percent": percent} if by_percent else {"amount": amount}
        side = draw(st.sampled_from(Side))
        if draw(st.booleans()):
            return TrailingStop(side=side, activation_price=near(start), **trail)
        return TrailingStop(side=side, mark=near(start), **trail)

    steps: list[tuple[str, object]] = []
    prices = dict(starts)
    for number in range(draw(st.integers(min_value=5, max_value=30))):
        symbol = draw(st.sampled_from(SYMBOLS))
        steps.append(("add", trigger(f"W-{number}", condition(symbol), symbol=symbol)))
    for _ in range(draw(st.integers(min_value=1, max_value=80))):
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            steps.append(("flush", 0))
            continue
        symbol = draw(st.sampled_from(SYMBOLS))
        move = draw(st.integers(min_value=-80, max_value=80))  # up to ±8 %
        ticks = max(1, prices[symbol] + prices[symbol] * move // 1000)
        if draw(st.booleans()):
            ticks = max(100, ticks - ticks % 100)  # to the cent, as most feeds are
        prices[symbol] = ticks
        steps.append(("price", (symbol, D(ticks).scaleb(-4))))
    steps.append(("flush", 0))
    return steps


@settings(max_examples=300, deadline=None)
@given(wide_scenarios())
def test_the_index_is_exact_at_every_magnitude(steps: list[tuple[str, object]]) -> None:
    _play(TriggerIndex(), NaiveEvaluator(), steps)
