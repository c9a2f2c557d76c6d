"""Trigger orders: conditions, trailing-stop marks, expiry and OCO groups (pure; DESIGN §5).

A trigger watches one symbol and fires once when its condition is met by a price update. The
rules every caller must know:

* **Boundaries are inclusive.** A trigger that fires "at or above" a level fires at exactly the
  level and not one tick (0.0001) before; "at or below" mirrors it.
* **Levels derived from a percent are quantized to the cent, away from the firing side**, so a
  trigger never fires before the full percent move has happened: a percent change up and a buy
  trailing stop round their level up (``ROUND_CEILING``), a percent change down and a sell
  trailing stop round it down (``ROUND_FLOOR``). Levels given as prices or amounts are exact.
* **Prices and levels carry at most 4 decimal places** (:data:`PRICE_PLACES`); the in-memory
  index works in integer ticks of 0.0001 and refuses anything finer.
* **Trailing stops** keep a *mark*: the high-water mark for a sell stop (it only ratchets up),
  the low-water mark for a buy stop (it only ratchets down). A trailing stop with an activation
  price has no mark until the price first reaches the activation price (sell: at or above it; buy:
  at or below it); the price that activates it becomes its mark, and it cannot fire on that update.
* **Paused** triggers never fire and their marks do not move; they still expire, and an OCO
  sibling that fires cancels them. Resuming catches a trailing stop's mark up with the latest
  price (:func:`resume`).
* Time is an argument: nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import CENT, HUNDRED
from autopilot.domain.orders import Side

PRICE_PLACES = 4
"""Decimal places a price, level, amount or reference price may carry."""
PERCENT_PLACES = 4
"""Decimal places a percent may carry (7.5 and 2.3333 are fine, 2.33333 is not)."""
TICK = Decimal(1).scaleb(-PRICE_PLACES)


class TriggerStatus(StrEnum):
    ACTIVE = "Active"
    PAUSED = "Paused"
    TRIGGERED = "Triggered"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    FAILED = "Failed"


OPEN_STATUSES = frozenset({TriggerStatus.ACTIVE, TriggerStatus.PAUSED})
"""Statuses a trigger can still leave: it may yet fire, expire or be cancelled."""


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceAbove:
    """Fires when the price is at or above ``level``."""

    level: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceBelow:
    """Fires when the price is at or below ``level``."""

    level: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PercentChange:
    """Fires when the price has moved ``percent`` from ``reference_price`` in ``direction``.

    Up: price ≥ ceil_cent(reference × (1 + percent/100)); down: price ≤
    floor_cent(reference × (1 − percent/100)). See :func:`stop_level`.
    """

    percent: Decimal
    direction: Direction
    reference_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailingStop:
    """A stop that trails the price by ``percent`` or by ``amount`` (exactly one is set).

    ``mark`` is the high-water mark (sell) or low-water mark (buy); ``None`` means the stop waits
    for ``activation_price`` and does not track yet. Build a new one with :func:`new_trailing_stop`.
    """

    side: Side
    percent: Decimal | None = None
    amount: Decimal | None = None
    activation_price: Decimal | None = None
    mark: Decimal | None = None


Condition = PriceAbove | PriceBelow | PercentChange | TrailingStop


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """One trigger order's evaluation state (the order it places lives beside it, not here)."""

    id: str
    account_id: int
    symbol: str
    condition: Condition
    oco_group: str | None = None
    expires_at: datetime | None = None
    status: TriggerStatus = TriggerStatus.ACTIVE


# --- levels -------------------------------------------------------------------------------


def fires_upward(condition: Condition) -> bool:
    """True when the condition fires at or above its level, False when at or below."""
    match condition:
        case PriceAbove():
            return True
        case PriceBelow():
            return False
        case PercentChange(direction=direction):
            return direction is Direction.UP
        case TrailingStop(side=side):
            return side is Side.BUY


def percent_change_level(condition: PercentChange) -> Decimal:
    """The price at which a percent change fires, to the cent, rounded away from the firing side.

    Up 10% from 100.00 → 110.00; up 10% from 100.05 → 110.055 → 110.06 (ceiling). Down 10% from
    100.05 → 90.045 → 90.04 (floor).
    """
    factor = (
        HUNDRED + condition.percent
        if condition.direction is Direction.UP
        else (HUNDRED - condition.percent)
    )
    exact = condition.reference_price * factor / HUNDRED
    rounding = ROUND_CEILING if condition.direction is Direction.UP else ROUND_FLOOR
    return exact.quantize(CENT, rounding=rounding)


def trailing_stop_level(condition: TrailingStop, mark: Decimal) -> Decimal:
    """The stop level of a trailing stop whose mark is ``mark``.

    Sell: mark − amount, or floor_cent(mark × (1 − percent/100)). Buy: mark + amount, or
    ceil_cent(mark × (1 + percent/100)). A sell stop with a 10% trail at mark 100.05 is 90.04
    (90.045 rounded down); a buy stop with a 10% trail at mark 100.05 is 110.06.
    """
    sell = condition.side is Side.SELL
    if condition.amount is not None:
        return mark - condition.amount if sell else mark + condition.amount
    assert condition.percent is not None  # validate_condition guarantees one of the two
    factor = HUNDRED - condition.percent if sell else HUNDRED + condition.percent
    rounding = ROUND_FLOOR if sell else ROUND_CEILING
    return (mark * factor / HUNDRED).quantize(CENT, rounding=rounding)


def stop_level(trigger: Trigger) -> Decimal | None:
    """The price at which ``trigger`` fires now, or ``None`` for a trailing stop not yet activated.

    Whether it fires at or above or at or below that level is :func:`fires_upward`.
    """
    match trigger.condition:
        case PriceAbove(level=level) | PriceBelow(level=level):
            return level
        case PercentChange() as change:
            return percent_change_level(change)
        case TrailingStop(mark=mark) as trail:
            return None if mark is None else trailing_stop_level(trail, mark)


# --- evaluation ---------------------------------------------------------------------------


def evaluate(trigger: Trigger, price: Decimal) -> tuple[Trigger, bool]:
    """Apply one price update to ``trigger``: ``(new state, fired)``.

    A trailing stop's mark ratchets (or the stop activates, see the module doc) before the check,
    which cannot change the outcome: a price that raises a sell stop's mark is above its stop.
    A fired trigger comes back ``Triggered``. A trigger that is not ``Active`` never fires and
    comes back unchanged. ``price`` must be a positive price with at most 4 decimal places
    (not checked here; :func:`validate_price` does).
    """
    if trigger.status is not TriggerStatus.ACTIVE:
        return trigger, False
    condition = trigger.condition
    if isinstance(condition, TrailingStop):
        return _evaluate_trailing(trigger, condition, price)
    level = stop_level(trigger)
    assert level is not None
    fired = price >= level if fires_upward(condition) else price <= level
    return (replace(trigger, status=TriggerStatus.TRIGGERED) if fired else trigger), fired


def _evaluate_trailing(
    trigger: Trigger, trail: TrailingStop, price: Decimal
) -> tuple[Trigger, bool]:
    # The ratchet of :func:`ratchet`, inlined: this is the naive baseline's hot path, which the
    # benchmark measures the index against.
    sell = trail.side is Side.SELL
    if trail.mark is None:
        activation = trail.activation_price
        reached = activation is not None and (price >= activation if sell else price <= activation)
        if not reached:
            return trigger, False
        return replace(trigger, condition=replace(trail, mark=price)), False
    mark = max(trail.mark, price) if sell else min(trail.mark, price)
    level = trailing_stop_level(trail, mark)
    fired = price <= level if sell else price >= level
    if mark != trail.mark:
        trigger = replace(trigger, condition=replace(trail, mark=mark))
    if fired:
        trigger = replace(trigger, status=TriggerStatus.TRIGGERED)
    return trigger, fired


def ratchet(trail: TrailingStop, price: Decimal) -> TrailingStop:
    """``trail`` after seeing ``price``, without firing: the mark only ratchets (sell: up, buy:
    down), and a stop waiting for its activation price takes ``price`` as its mark once reached.

    Returns ``trail`` itself when nothing moved.
    """
    sell = trail.side is Side.SELL
    if trail.mark is None:
        activation = trail.activation_price
        reached = activation is not None and (price >= activation if sell else price <= activation)
        return replace(trail, mark=price) if reached else trail
    mark = max(trail.mark, price) if sell else min(trail.mark, price)
    return trail if mark == trail.mark else replace(trail, mark=mark)


def resume(trigger: Trigger, price: Decimal) -> Trigger:
    """A paused ``trigger`` made ``Active`` again while its symbol trades at ``price``.

    A trailing stop's mark is ratcheted with ``price`` (see :func:`ratchet`), so its stop
    reflects the market at resume rather than where it stood when paused; price moves in
    between are not replayed. Nothing fires here: a condition that ``price`` already meets fires
    on the next evaluation, which is what a stop is for.
    """
    condition = trigger.condition
    if isinstance(condition, TrailingStop):
        condition = ratchet(condition, price)
    return replace(trigger, condition=condition, status=TriggerStatus.ACTIVE)


def new_trailing_stop(
    *,
    side: Side,
    price: Decimal,
    percent: Decimal | None = None,
    amount: Decimal | None = None,
    activation_price: Decimal | None = None,
) -> TrailingStop:
    """A trailing stop placed when the symbol trades at ``price``.

    Without an activation price, or with one ``price`` has already reached, the mark starts at
    ``price``; otherwise it starts empty and the stop waits for the activation price.
    """
    trail = TrailingStop(
        side=side, percent=percent, amount=amount, activation_price=activation_price
    )
    if activation_price is None:
        return replace(trail, mark=price)
    reached = price >= activation_price if side is Side.SELL else price <= activation_price
    return replace(trail, mark=price) if reached else trail


# --- expiry -------------------------------------------------------------------------------


def is_expired(trigger: Trigger, at: datetime) -> bool:
    """True when ``trigger`` has an expiry and ``at`` is at or past it (expiry is inclusive).

    ``at`` must be timezone-aware; a trigger without ``expires_at`` is good till cancelled.
    """
    _require_aware("at", at)
    return trigger.expires_at is not None and at >= trigger.expires_at


def expire(trigger: Trigger, at: datetime) -> Trigger:
    """``trigger`` as ``Expired`` if it is ``Active`` or ``Paused`` and expired at ``at``; else
    unchanged."""
    if trigger.status in OPEN_STATUSES and is_expired(trigger, at):
        return replace(trigger, status=TriggerStatus.EXPIRED)
    return trigger


def _require_aware(field: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, f"{value.isoformat()} has no timezone; give an offset or zone")


# --- OCO groups ---------------------------------------------------------------------------


def oco_siblings_to_cancel(resolved: Trigger, group: Iterable[Trigger]) -> list[Trigger]:
    """The other ``Active`` or ``Paused`` members of ``resolved``'s OCO group, as ``Cancelled``.

    ``resolved`` is the member that fired (or that the user cancelled: cancelling one member
    cancels the group). ``group`` may contain ``resolved`` itself, members already closed
    (triggered, cancelled, expired) and triggers of other groups; those are left out. A trigger
    without a group has no siblings.
    """
    if resolved.oco_group is None:
        return []
    return [
        replace(member, status=TriggerStatus.CANCELLED)
        for member in group
        if member.oco_group == resolved.oco_group
        and member.id != resolved.id
        and member.status in OPEN_STATUSES
    ]
