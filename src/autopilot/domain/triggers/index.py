"""The in-memory trigger index: which triggers fire at a price, in O(log n + fired) (DESIGN §5).

The evaluator keeps every ``Active`` trigger here, rebuilt from the database at start and kept in
step with creates, updates and cancels. A price update calls :meth:`TriggerIndex.on_price`, which
returns the ids that fire and drops them from the index; the caller claims them in the database
and re-adds any whose claim fails. :class:`NaiveEvaluator` has the same API and checks every
trigger of the symbol with :func:`~autopilot.domain.triggers.evaluate`; it is the baseline the
tests and the benchmark compare against.

How it works, per symbol (a :class:`~autopilot.domain.trigger_book.SymbolBook`), all prices as
integer ticks of 0.0001:

* **Levels** (:mod:`~autopilot.domain.triggers.levels`). "At or above" levels (price above,
  percent change up) and "at or below" levels (price below, percent change down) sit in sorted
  parallel arrays (level, seq), as do the activation prices of trailing stops that are not
  active yet. A price pops the prefix (or suffix) that it reaches: ``bisect`` plus one slice.
* **Trailing stops** (:mod:`~autopilot.domain.triggers.trails`), one structure per side: buckets
  of equal marks per trail, with one shared *riding* mark per side that every bucket at the
  running high points to. A new high is one assignment, not one write per trail or per stop;
  whether a fall fires anything is one comparison against the best riding stop. Buy stops are
  the same structure on negated prices.
* **Gates.** Each book keeps the lowest price at which anything happens going up and the highest
  going down; a price strictly between them (the common case) costs two comparisons, and a new
  high (low) that only moves the riding mark of the sell (buy) stops has a fast path of its own.

Cost of one price update: O(1) inside the gates and on a new high; otherwise O(log n + fired +
L), L the trails that have a stop below the running high (stops activated or placed below it,
until the price next reaches them). Cancels and updates cost O(log n + the size of the arrays
they edit) (a memmove), and placing a trailing stop above the running high O(trails).

Memory: no Python object per trigger anywhere (arrays of machine ints). Ids live in an
:class:`~autopilot.domain.triggers.ids.IdDirectory` (their bytes in one buffer, an open-addressing
table of seqs: about 45 bytes per trigger, against about 140 for a ``dict`` of id strings), and
each trigger has about 50 bytes of array slots besides. Slots of removed triggers are not reused
(about 60 bytes each, their id's bytes included); rebuild the index to reclaim them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.orders import Side
from autopilot.domain.triggers.book import SymbolBook
from autopilot.domain.triggers.conditions import (
    PERCENT_PLACES,
    PRICE_PLACES,
    TrailingStop,
    Trigger,
    TriggerStatus,
    fires_upward,
    stop_level,
)
from autopilot.domain.triggers.ids import IdDirectory
from autopilot.domain.triggers.levels import TICKS_PER_UNIT, from_ticks, to_ticks
from autopilot.domain.triggers.naive import NaiveEvaluator
from autopilot.domain.triggers.trails import Buckets, TrailSide

__all__ = [
    "MarkChange",
    "NaiveEvaluator",
    "TriggerIndex",
    "from_ticks",
    "to_ticks",
    "trail_key",
]

# what a seq is, in _kind
_ABOVE, _BELOW, _ARM_SELL, _ARM_BUY, _TRAIL_SELL, _TRAIL_BUY, _GONE = range(7)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkChange:
    """Trailing stops whose stored mark should become ``mark`` (one set-based UPDATE)."""

    mark: Decimal
    trigger_ids: tuple[str, ...]


def trail_key(trail: TrailingStop) -> int:
    """The trail as one int: the percent scaled to an integer (> 0), or −amount in ticks."""
    if trail.percent is not None:
        return int(trail.percent * 10**PERCENT_PLACES)
    assert trail.amount is not None
    return -to_ticks(trail.amount, "condition.amount")


class TriggerIndex:
    """Active triggers by symbol, answering "which fire at this price" without a scan.

    Ids are unique: :meth:`add` refuses an id already present. The index does not know about
    expiry or OCO groups; the caller expires triggers and cancels siblings (removing them here).
    """

    def __init__(self, triggers: Iterable[Trigger] = ()) -> None:
        self._books: dict[str, SymbolBook] = {}
        self._book_list: list[SymbolBook] = []
        self._ids = IdDirectory()
        self._kind = bytearray()  # what each seq is; _GONE once it left the index
        self._book_of = array("i")
        self._key = array("q")  # a level in ticks, or the trail_key of a trailing stop
        # Union-find and marks of trailing stops; a waiting stop keeps its activation price in
        # buckets.mark, where its mark will go.
        self._buckets = Buckets()
        self._fired_marks: list[MarkChange] = []
        for trigger in triggers:
            self.add(trigger)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, trigger_id: object) -> bool:
        return isinstance(trigger_id, str) and self._ids.find(trigger_id) >= 0

    # --- changes ------------------------------------------------------------------------

    def add(self, trigger: Trigger) -> None:
        """Index an ``Active`` trigger (a trailing stop at the mark its condition carries).

        Raises ``ValueError`` for a trigger that is not active or an id already indexed.
        """
        if trigger.status is not TriggerStatus.ACTIVE:
            raise ValueError(f"only active triggers are indexed, {trigger.id} is {trigger.status}")
        if self._ids.find(trigger.id) >= 0:
            raise ValueError(f"trigger {trigger.id} is already indexed")
        book = self._book(trigger.symbol)
        seq = self._new_seq(trigger.id, book)
        try:
            self._place(book, seq, trigger)
        except Exception:
            self._release(seq)  # a level the index refuses (InvalidInput) leaves nothing behind
            raise
        book.refresh_gates()

    def remove(self, trigger_id: str) -> None:
        """Drop a trigger (cancelled, expired, or an OCO sibling). Unknown ids are ignored."""
        seq = self._ids.find(trigger_id)
        if seq < 0:
            return
        book = self._book_list[self._book_of[seq]]
        self._unplace(book, seq)
        self._release(seq)
        book.refresh_gates()

    def replace(self, trigger: Trigger) -> None:
        """Swap in the new state of a trigger (level or trail changed): ``remove`` then ``add``.

        The trigger's condition is taken as given, mark included: when changing a trailing
        stop's trail, carry over :meth:`mark_of` so the mark does not fall back to a stale one.
        """
        self.remove(trigger.id)
        self.add(trigger)

    # --- queries ------------------------------------------------------------------------

    def mark_of(self, trigger_id: str) -> Decimal | None:
        """The current mark of a trailing stop; ``None`` for other triggers and for a trailing
        stop waiting for its activation price. Raises ``KeyError`` for an id not indexed."""
        seq = self._ids.find(trigger_id)
        if seq < 0:
            raise KeyError(trigger_id)
        if self._kind[seq] not in (_TRAIL_SELL, _TRAIL_BUY):
            return None
        return from_ticks(self._mark_ticks(seq, self._buckets.find(seq)))

    def marks_changed_since_last_flush(self) -> list[MarkChange]:
        """The trailing stops whose mark moved since the last call, grouped by their new mark.

        Includes stops that fired since (with the mark they fired at) and stops activated since.
        The caller persists them (one UPDATE per change) and the index forgets them. Cost is
        O(stops reported), paid here and not on each price update.
        """
        buckets = self._buckets
        changes = self._fired_marks
        self._fired_marks = []
        roots = {
            root
            for root in buckets.dirty
            if buckets.members[root] is not None and buckets.parent[root] == root
        }
        for side in buckets.dirty_sides:
            roots.update(side.riding_roots())
        for root in roots:
            members = buckets.members[root]
            assert members is not None
            changes.append(self._mark_change(self._mark_ticks(members[0], root), members))
        buckets.dirty.clear()
        buckets.dirty_sides.clear()
        return changes

    # --- price updates ------------------------------------------------------------------

    def on_price(self, symbol: str, price: Decimal) -> list[str]:
        """The ids of the triggers that fire at ``price``, removed from the index.

        Also ratchets trailing-stop marks and activates trailing stops whose activation price is
        reached. ``price`` must have at most 4 decimal places (``InvalidInput`` otherwise).
        """
        book = self._books.get(symbol)
        if book is None:
            return []
        numerator, denominator = price.as_integer_ratio()  # to_ticks, inlined: the hot path
        per_unit, rest = divmod(TICKS_PER_UNIT, denominator)
        if rest:
            raise InvalidInput("price", f"at most {PRICE_PLACES} decimal places, got {price}")
        ticks = numerator * per_unit
        if book.low_gate < ticks < book.high_gate:
            return []
        if book.low_gate < ticks < book.rise_until:
            book.sell_rise(ticks)
        elif book.fall_until < ticks < book.high_gate:
            book.buy_fall(ticks)
        else:
            return self._on_ticks(book, ticks)
        return []

    def _on_ticks(self, book: SymbolBook, ticks: int) -> list[str]:
        if book.arm_sell.lowest() <= ticks:
            for seq in book.arm_sell.pop_up_to(ticks):
                self._activate(book.sell, seq, _TRAIL_SELL, ticks)
            book.sell.refresh_gates()
        if book.arm_buy.highest() >= ticks:
            for seq in book.arm_buy.pop_from(ticks):
                self._activate(book.buy, seq, _TRAIL_BUY, -ticks)
            book.buy.refresh_gates()
        fired: list[int] = []
        if book.above.lowest() <= ticks:
            fired.extend(book.above.pop_up_to(ticks))
        if book.below.highest() >= ticks:
            fired.extend(book.below.pop_from(ticks))
        sell = book.sell
        if ticks > sell.raise_gate or ticks <= sell.fire_gate:
            sell.tick(ticks, fired)
        buy = book.buy
        if -ticks > buy.raise_gate or -ticks <= buy.fire_gate:
            buy.tick(-ticks, fired)
        book.refresh_levels()
        if not fired:
            return []
        if self._buckets.fired:  # while their ids are known
            fired_marks = self._buckets.fired
            self._fired_marks.extend(self._mark_change(t, members) for t, members in fired_marks)
            fired_marks.clear()
        return [self._release(seq) for seq in fired]

    # --- placing ------------------------------------------------------------------------

    def _book(self, symbol: str) -> SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            book = SymbolBook(symbol, len(self._book_list), self._buckets)
            self._books[symbol] = book
            self._book_list.append(book)
        return book

    def _new_seq(self, trigger_id: str, book: SymbolBook) -> int:
        seq = self._ids.append(trigger_id)
        self._kind.append(_GONE)
        self._book_of.append(book.number)
        self._key.append(0)
        self._buckets.append(seq)
        return seq

    def _release(self, seq: int) -> str:
        """Forget a seq that left the structures; its id."""
        self._kind[seq] = _GONE
        return self._ids.release(seq)

    def _place(self, book: SymbolBook, seq: int, trigger: Trigger) -> None:
        condition = trigger.condition
        if isinstance(condition, TrailingStop):
            self._place_trailing(book, seq, condition)
            return
        level = stop_level(trigger)
        assert level is not None
        ticks = to_ticks(level, "condition.level")
        upward = fires_upward(condition)
        self._kind[seq] = _ABOVE if upward else _BELOW
        self._key[seq] = ticks
        (book.above if upward else book.below).insert(ticks, seq)

    def _place_trailing(self, book: SymbolBook, seq: int, trail: TrailingStop) -> None:
        sell = trail.side is Side.SELL
        key = trail_key(trail)
        self._key[seq] = key
        if trail.mark is not None:
            mark = to_ticks(trail.mark, "condition.mark")
            self._kind[seq] = _TRAIL_SELL if sell else _TRAIL_BUY
            (book.sell if sell else book.buy).join(seq, key, mark if sell else -mark)
            return
        assert trail.activation_price is not None
        ticks = to_ticks(trail.activation_price, "condition.activationPrice")
        self._kind[seq] = _ARM_SELL if sell else _ARM_BUY
        self._buckets.mark[seq] = ticks
        (book.arm_sell if sell else book.arm_buy).insert(ticks, seq)

    def _activate(self, side: TrailSide, seq: int, kind: int, mark: int) -> None:
        """Move a trailing stop whose activation price was reached into its trail at ``mark``."""
        self._kind[seq] = kind
        root = side.join(seq, self._key[seq], mark)
        self._buckets.dirty.add(root)

    def _unplace(self, book: SymbolBook, seq: int) -> None:
        kind, key = self._kind[seq], self._key[seq]
        if kind == _TRAIL_SELL:
            book.sell.leave(seq, key)
        elif kind == _TRAIL_BUY:
            book.buy.leave(seq, key)
        elif kind in (_ARM_SELL, _ARM_BUY):
            arm = book.arm_sell if kind == _ARM_SELL else book.arm_buy
            arm.remove(self._buckets.mark[seq], seq)
        else:
            (book.above if kind == _ABOVE else book.below).remove(key, seq)

    # --- marks --------------------------------------------------------------------------

    def _side_of(self, seq: int) -> TrailSide:
        book = self._book_list[self._book_of[seq]]
        return book.sell if self._kind[seq] == _TRAIL_SELL else book.buy

    def _mark_ticks(self, seq: int, root: int) -> int:
        """The plain mark in ticks of the bucket at ``root``, which holds the stop ``seq``."""
        side = self._side_of(seq)
        return side.mark(root) * side.sign

    def _mark_change(self, ticks: int, members: array[int]) -> MarkChange:
        id_of = self._ids.id_of
        ids = tuple(id_of(seq) for seq in members)
        return MarkChange(mark=from_ticks(ticks), trigger_ids=ids)
