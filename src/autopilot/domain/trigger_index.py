"""The in-memory trigger index: which triggers fire at a price, in O(log n + fired) (DESIGN §5).

The evaluator keeps every ``Active`` trigger here, rebuilt from the database at start and kept in
step with creates, updates and cancels. A price update calls :meth:`TriggerIndex.on_price`, which
returns the ids that fire and drops them from the index; the caller claims them in the database
and re-adds any whose claim fails. :class:`NaiveEvaluator` has the same API and checks every
trigger of the symbol with :func:`~autopilot.domain.triggers.evaluate`; it is the baseline the
tests and the benchmark compare against.

How it works, per symbol (a ``_Book``), all prices as integer ticks of 0.0001:

* **Levels.** "At or above" levels (price above, percent change up) and "at or below" levels
  (price below, percent change down) sit in sorted parallel arrays (level, seq), as do the
  activation prices of trailing stops that are not active yet. A price pops the prefix (or
  suffix) that it reaches: ``bisect`` plus one slice.
* **Trailing stops** are grouped by side and trail (``percent`` or ``amount``). Within a group
  every stop's stop level is a non-decreasing function of its mark, so a group is a sorted array
  of *buckets*, one per distinct mark. A sell price P fires the buckets at the top whose stop is
  at or above P, and raises every mark below P to P — that is, it merges the buckets at the
  bottom into one bucket at P, without touching the triggers in them. A bucket's members are an
  ``array`` of seqs; merging moves the smaller arrays into the largest (small-to-large, so a
  trigger moves O(log n) times over its life), and a union-find parent per trigger leads from a
  trigger to its bucket, so :meth:`TriggerIndex.mark_of` is O(α) and marks are never written per
  trigger on a tick. Buy stops are the same structure on negated prices.
* **Gates.** Each book keeps the lowest price at which anything happens going up and the highest
  going down; a price strictly between them (the common case) costs two comparisons.

Cost of one price update: O(1) inside the gates; otherwise O(log n + fired + G) where G is the
number of distinct trails (percent or amount values) among the symbol's trailing stops of one
side — a new high touches each such group once, never each trailing stop. Cancels and updates
cost O(log n + the size of the arrays they edit) (a memmove).

Memory: no Python object per trigger in the sorted structures (arrays of machine ints); per
trigger the index keeps its id string, one dict entry and about 50 bytes of array slots. Slots of
removed triggers are not reused (about 40 bytes each); rebuild the index to reclaim them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.orders import Side
from autopilot.domain.triggers import (
    PERCENT_PLACES,
    PRICE_PLACES,
    TrailingStop,
    Trigger,
    TriggerStatus,
    evaluate,
    fires_upward,
    stop_level,
)

_SCALE = Decimal(10**PRICE_PLACES)
_CENT_TICKS: int = 10 ** (PRICE_PLACES - 2)
_PERCENT_ONE: int = 100 * 10**PERCENT_PLACES  # 100 %, in the integer units of a scaled percent
_STOP_DIVISOR = _PERCENT_ONE * _CENT_TICKS
_FAR = 1 << 62  # beyond any price in ticks

# what a seq is, in _kind
_ABOVE, _BELOW, _ARM_SELL, _ARM_BUY, _TRAIL_SELL, _TRAIL_BUY = range(6)


def to_ticks(price: Decimal, field: str = "price") -> int:
    """``price`` as an integer count of 0.0001; refuses a price with more decimal places."""
    scaled = price * _SCALE
    ticks = int(scaled)
    if ticks != scaled:
        raise InvalidInput(field, f"at most {PRICE_PLACES} decimal places, got {price}")
    return ticks


def from_ticks(ticks: int) -> Decimal:
    """The price of ``ticks``: to the cent when it is a whole number of cents (100.00, 99.5012)."""
    if ticks % _CENT_TICKS == 0:
        return Decimal(ticks // _CENT_TICKS).scaleb(-2)
    return Decimal(ticks).scaleb(-PRICE_PLACES)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkChange:
    """Trailing stops whose stored mark should become ``mark`` (one set-based UPDATE)."""

    mark: Decimal
    trigger_ids: tuple[str, ...]


class _Levels:
    """A sorted array of levels with the seq of each, in step."""

    __slots__ = ("levels", "seqs")

    def __init__(self) -> None:
        self.levels: array[int] = array("q")
        self.seqs: array[int] = array("q")

    def insert(self, level: int, seq: int) -> None:
        at = bisect_right(self.levels, level)
        self.levels.insert(at, level)
        self.seqs.insert(at, seq)

    def remove(self, level: int, seq: int) -> None:
        at = bisect_left(self.levels, level)
        while self.seqs[at] != seq:
            at += 1
        del self.levels[at]
        del self.seqs[at]

    def pop_up_to(self, level: int) -> array[int]:
        """Remove and return the seqs whose level is at most ``level``."""
        end = bisect_right(self.levels, level)
        taken = self.seqs[:end]
        del self.levels[:end]
        del self.seqs[:end]
        return taken

    def pop_from(self, level: int) -> array[int]:
        """Remove and return the seqs whose level is at least ``level``."""
        start = bisect_left(self.levels, level)
        taken = self.seqs[start:]
        del self.levels[start:]
        del self.seqs[start:]
        return taken


class _Trail:
    """Trailing stops of one side and one trail on one symbol, as buckets of equal marks.

    Prices and marks are oriented: as they are for sell stops, negated for buy stops, so that
    in both cases the mark only rises and the stop fires when the price is at or below it.
    """

    __slots__ = ("amount", "factor", "marks", "roots")

    def __init__(self, factor: int, amount: int) -> None:
        self.factor: int = factor  # (100 ∓ percent) scaled, or 0 for a trail by amount
        self.amount: int = amount
        self.marks: array[int] = array("q")  # ascending, distinct
        self.roots: array[int] = array("q")  # the union-find root seq of each bucket

    def stop(self, mark: int) -> int:
        """The oriented stop level at ``mark``: floored to the cent for a percent trail."""
        if self.factor:
            return mark * self.factor // _STOP_DIVISOR * _CENT_TICKS
        return mark - self.amount


class _Book:
    """Everything indexed for one symbol, and its gates (see the module doc)."""

    __slots__ = (
        "above",
        "arm_buy",
        "arm_sell",
        "below",
        "buy",
        "buy_fire",
        "buy_raise",
        "high_gate",
        "low_gate",
        "number",
        "sell",
        "sell_fire",
        "sell_raise",
        "symbol",
    )

    def __init__(self, symbol: str, number: int) -> None:
        self.symbol = symbol
        self.number = number
        self.above = _Levels()
        self.below = _Levels()
        self.arm_sell = _Levels()
        self.arm_buy = _Levels()
        self.sell: dict[int, _Trail] = {}
        self.buy: dict[int, _Trail] = {}
        self.refresh_gates()

    def refresh_gates(self) -> None:
        self.sell_raise, self.sell_fire = _trail_gates(self.sell)
        self.buy_raise, self.buy_fire = _trail_gates(self.buy)
        self.combine_gates()

    def combine_gates(self) -> None:
        """The book's gates from the trails' gates (kept current) and the level arrays."""
        high = min(self.sell_raise + 1, -self.buy_fire)
        low = max(self.sell_fire, -self.buy_raise - 1)
        if self.above.levels:
            high = min(high, self.above.levels[0])
        if self.arm_sell.levels:
            high = min(high, self.arm_sell.levels[0])
        if self.below.levels:
            low = max(low, self.below.levels[-1])
        if self.arm_buy.levels:
            low = max(low, self.arm_buy.levels[-1])
        self.high_gate = high
        self.low_gate = low


def _trail_gates(groups: dict[int, _Trail]) -> tuple[int, int]:
    """(lowest bottom mark, highest top stop) over the groups, oriented."""
    lowest, highest = _FAR, -_FAR
    for group in groups.values():
        lowest = min(lowest, group.marks[0])
        highest = max(highest, group.stop(group.marks[-1]))
    return lowest, highest


class TriggerIndex:
    """Active triggers by symbol, answering "which fire at this price" without a scan.

    Ids are unique: :meth:`add` refuses an id already present. The index does not know about
    expiry or OCO groups; the caller expires triggers and cancels siblings (removing them here).
    """

    def __init__(self, triggers: Iterable[Trigger] = ()) -> None:
        self._books: dict[str, _Book] = {}
        self._book_list: list[_Book] = []
        self._seq_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._kind = bytearray()
        self._book_of = array("l")
        self._key = array("q")  # a level in ticks, or the trail_key of a trailing stop
        self._parent = array("q")  # union-find over trailing-stop seqs
        self._mark = array("q")  # oriented mark of a bucket, at its root seq
        self._members: list[array[int] | None] = []  # a bucket's seqs, at its root seq
        self._dirty: set[int] = set()  # bucket roots whose mark changed since the last flush
        self._fired_marks: list[MarkChange] = []
        for trigger in triggers:
            self.add(trigger)

    def __len__(self) -> int:
        return len(self._seq_of)

    def __contains__(self, trigger_id: object) -> bool:
        return trigger_id in self._seq_of

    # --- changes ------------------------------------------------------------------------

    def add(self, trigger: Trigger) -> None:
        """Index an ``Active`` trigger (a trailing stop at the mark its condition carries).

        Raises ``ValueError`` for a trigger that is not active or an id already indexed.
        """
        if trigger.status is not TriggerStatus.ACTIVE:
            raise ValueError(f"only active triggers are indexed, {trigger.id} is {trigger.status}")
        if trigger.id in self._seq_of:
            raise ValueError(f"trigger {trigger.id} is already indexed")
        book = self._book(trigger.symbol)
        seq = self._new_seq(trigger.id, book)
        self._place(book, seq, trigger)
        book.refresh_gates()

    def remove(self, trigger_id: str) -> None:
        """Drop a trigger (cancelled, expired, or an OCO sibling). Unknown ids are ignored."""
        seq = self._seq_of.get(trigger_id)
        if seq is None:
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
        seq = self._seq_of[trigger_id]
        kind = self._kind[seq]
        if kind not in (_TRAIL_SELL, _TRAIL_BUY):
            return None
        mark = self._mark[self._find(seq)]
        return from_ticks(mark if kind == _TRAIL_SELL else -mark)

    def marks_changed_since_last_flush(self) -> list[MarkChange]:
        """The trailing stops whose mark moved since the last call, grouped by their new mark.

        Includes stops that fired since (with the mark they fired at) and stops activated since.
        The caller persists them (one UPDATE per change) and the index forgets them. Cost is
        O(stops reported), paid here and not on each price update.
        """
        changes = self._fired_marks
        self._fired_marks = []
        for root in self._dirty:
            members = self._members[root]
            if members is not None and self._parent[root] == root:
                changes.append(self._mark_change(root, members))
        self._dirty.clear()
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
        ticks = to_ticks(price)
        if book.low_gate < ticks < book.high_gate:
            return []
        return self._on_ticks(book, ticks)

    def _on_ticks(self, book: _Book, ticks: int) -> list[str]:
        armed_sell = bool(book.arm_sell.levels) and book.arm_sell.levels[0] <= ticks
        if armed_sell:
            for seq in book.arm_sell.pop_up_to(ticks):
                self._activate(book, seq, _TRAIL_SELL, ticks)
        armed_buy = bool(book.arm_buy.levels) and book.arm_buy.levels[-1] >= ticks
        if armed_buy:
            for seq in book.arm_buy.pop_from(ticks):
                self._activate(book, seq, _TRAIL_BUY, -ticks)
        fired: list[int] = []
        if book.above.levels and book.above.levels[0] <= ticks:
            fired.extend(book.above.pop_up_to(ticks))
        if book.below.levels and book.below.levels[-1] >= ticks:
            fired.extend(book.below.pop_from(ticks))
        if armed_sell or book.sell_raise < ticks or book.sell_fire >= ticks:
            book.sell_raise, book.sell_fire = self._trail_tick(book.sell, ticks, fired)
        if armed_buy or -book.buy_raise > ticks or -book.buy_fire <= ticks:
            book.buy_raise, book.buy_fire = self._trail_tick(book.buy, -ticks, fired)
        book.combine_gates()
        return [self._release(seq) for seq in fired]

    def _trail_tick(
        self, groups: dict[int, _Trail], price: int, fired: list[int]
    ) -> tuple[int, int]:
        """Fire and raise one side's trails at the oriented ``price``; the side's new gates."""
        lowest, highest = _FAR, -_FAR
        for key, group in list(groups.items()):
            marks = group.marks
            while marks and group.stop(marks[-1]) >= price:
                fired.extend(self._pop_top_bucket(group))
            if not marks:
                del groups[key]
                continue
            if marks[0] < price:
                self._raise_bottom(group, price)
            lowest = min(lowest, marks[0])
            highest = max(highest, group.stop(marks[-1]))
        return lowest, highest

    def _pop_top_bucket(self, group: _Trail) -> array[int]:
        group.marks.pop()
        root = group.roots.pop()
        members = self._members[root]
        assert members is not None
        self._members[root] = None
        if root in self._dirty:
            self._dirty.discard(root)
            self._fired_marks.append(self._mark_change(root, members))
        return members

    def _raise_bottom(self, group: _Trail, price: int) -> None:
        """Merge the buckets whose mark is below ``price`` (and one at it) into one at ``price``."""
        marks, roots = group.marks, group.roots
        if len(marks) == 1 or marks[1] > price:  # one bucket below: it just moves up
            root = roots[0]
            marks[0] = self._mark[root] = price
            self._dirty.add(root)
            return
        end = bisect_left(marks, price)
        if end < len(marks) and marks[end] == price:
            end += 1
        members = self._members
        root = max(roots[:end], key=lambda r: len(members[r] or ()))
        into = members[root]
        assert into is not None
        for other in roots[:end]:
            if other != root:
                into.extend(members[other] or ())
                members[other] = None
                self._parent[other] = root
        self._mark[root] = price
        del marks[1:end]
        del roots[1:end]
        marks[0] = price
        roots[0] = root
        self._dirty.add(root)

    # --- placing ------------------------------------------------------------------------

    def _book(self, symbol: str) -> _Book:
        book = self._books.get(symbol)
        if book is None:
            book = _Book(symbol, len(self._book_list))
            self._books[symbol] = book
            self._book_list.append(book)
        return book

    def _new_seq(self, trigger_id: str, book: _Book) -> int:
        seq = len(self._ids)
        self._seq_of[trigger_id] = seq
        self._ids.append(trigger_id)
        self._kind.append(0)
        self._book_of.append(book.number)
        self._key.append(0)
        self._parent.append(seq)
        self._mark.append(0)
        self._members.append(None)
        return seq

    def _release(self, seq: int) -> str:
        """Forget a seq that left the structures; its id."""
        trigger_id = self._ids[seq]
        assert trigger_id is not None
        del self._seq_of[trigger_id]
        self._ids[seq] = None
        return trigger_id

    def _place(self, book: _Book, seq: int, trigger: Trigger) -> None:
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

    def _place_trailing(self, book: _Book, seq: int, trail: TrailingStop) -> None:
        sell = trail.side is Side.SELL
        if trail.mark is not None:
            mark = to_ticks(trail.mark, "condition.mark")
            self._join(
                book,
                seq,
                _TRAIL_SELL if sell else _TRAIL_BUY,
                trail_key(trail),
                mark if sell else -mark,
            )
            return
        assert trail.activation_price is not None
        ticks = to_ticks(trail.activation_price, "condition.activationPrice")
        self._kind[seq] = _ARM_SELL if sell else _ARM_BUY
        self._key[seq] = trail_key(trail)
        self._mark[seq] = ticks  # a waiting stop keeps its activation level where a mark goes
        (book.arm_sell if sell else book.arm_buy).insert(ticks, seq)

    def _activate(self, book: _Book, seq: int, kind: int, mark: int) -> None:
        """Move a trailing stop whose activation price was reached into its trail at ``mark``."""
        key = self._key[seq]
        root = self._join(book, seq, kind, key, mark)
        self._dirty.add(root)

    def _join(self, book: _Book, seq: int, kind: int, key: int, mark: int) -> int:
        """Put ``seq`` into the bucket at ``mark`` of its trail (made if missing); its root."""
        groups = book.sell if kind == _TRAIL_SELL else book.buy
        group = groups.get(key)
        if group is None:
            group = groups[key] = _trail_for(key, sell=kind == _TRAIL_SELL)
        self._kind[seq] = kind
        self._key[seq] = key
        at = bisect_left(group.marks, mark)
        if at < len(group.marks) and group.marks[at] == mark:
            root = group.roots[at]
            self._parent[seq] = root
            members = self._members[root]
            assert members is not None
            members.append(seq)
            return root
        group.marks.insert(at, mark)
        group.roots.insert(at, seq)
        self._members[seq] = array("q", (seq,))
        self._mark[seq] = mark
        return seq

    def _unplace(self, book: _Book, seq: int) -> None:
        kind, key = self._kind[seq], self._key[seq]
        if kind in (_TRAIL_SELL, _TRAIL_BUY):
            self._leave(book.sell if kind == _TRAIL_SELL else book.buy, seq, key)
            return
        if kind in (_ARM_SELL, _ARM_BUY):
            (book.arm_sell if kind == _ARM_SELL else book.arm_buy).remove(self._mark[seq], seq)
        else:
            (book.above if kind == _ABOVE else book.below).remove(key, seq)

    def _leave(self, groups: dict[int, _Trail], seq: int, key: int) -> None:
        group = groups[key]
        root = self._find(seq)
        members = self._members[root]
        assert members is not None
        members.remove(seq)
        if members:
            return
        self._members[root] = None
        self._dirty.discard(root)
        at = bisect_left(group.marks, self._mark[root])
        del group.marks[at]
        del group.roots[at]
        if not group.marks:
            del groups[key]

    def _find(self, seq: int) -> int:
        parent = self._parent
        while parent[seq] != seq:
            parent[seq] = parent[parent[seq]]
            seq = parent[seq]
        return seq

    def _mark_change(self, root: int, members: array[int]) -> MarkChange:
        kind = self._kind[members[0]]
        mark = self._mark[root]
        ids = tuple(self._ids[seq] or "" for seq in members)
        return MarkChange(mark=from_ticks(mark if kind == _TRAIL_SELL else -mark), trigger_ids=ids)


def trail_key(trail: TrailingStop) -> int:
    """The trail as one int: the percent scaled to an integer (> 0), or −amount in ticks."""
    if trail.percent is not None:
        return int(trail.percent * 10**PERCENT_PLACES)
    assert trail.amount is not None
    return -to_ticks(trail.amount, "condition.amount")


def _trail_for(key: int, *, sell: bool) -> _Trail:
    if key > 0:
        return _Trail(_PERCENT_ONE - key if sell else _PERCENT_ONE + key, 0)
    return _Trail(0, -key)


class NaiveEvaluator:
    """The baseline: on each price, :func:`evaluate` every trigger of the symbol.

    Same API as :class:`TriggerIndex`, the same answers, O(triggers of the symbol) per update.
    """

    def __init__(self, triggers: Iterable[Trigger] = ()) -> None:
        self._by_symbol: dict[str, dict[str, Trigger]] = {}
        self._symbol_of: dict[str, str] = {}
        for trigger in triggers:
            self.add(trigger)

    def __len__(self) -> int:
        return len(self._symbol_of)

    def __contains__(self, trigger_id: object) -> bool:
        return trigger_id in self._symbol_of

    def add(self, trigger: Trigger) -> None:
        if trigger.status is not TriggerStatus.ACTIVE:
            raise ValueError(f"only active triggers are indexed, {trigger.id} is {trigger.status}")
        if trigger.id in self._symbol_of:
            raise ValueError(f"trigger {trigger.id} is already indexed")
        self._by_symbol.setdefault(trigger.symbol, {})[trigger.id] = trigger
        self._symbol_of[trigger.id] = trigger.symbol

    def remove(self, trigger_id: str) -> None:
        symbol = self._symbol_of.pop(trigger_id, None)
        if symbol is not None:
            del self._by_symbol[symbol][trigger_id]

    def replace(self, trigger: Trigger) -> None:
        self.remove(trigger.id)
        self.add(trigger)

    def mark_of(self, trigger_id: str) -> Decimal | None:
        trigger = self._by_symbol[self._symbol_of[trigger_id]][trigger_id]
        condition = trigger.condition
        return condition.mark if isinstance(condition, TrailingStop) else None

    def on_price(self, symbol: str, price: Decimal) -> list[str]:
        triggers = self._by_symbol.get(symbol)
        if not triggers:
            return []
        fired: list[str] = []
        for trigger_id, trigger in list(triggers.items()):
            updated, did_fire = evaluate(trigger, price)
            if did_fire:
                fired.append(trigger_id)
                self.remove(trigger_id)
            elif updated is not trigger:
                triggers[trigger_id] = updated
        return fired
