"""Trailing stops of one side of one symbol, for the trigger index (DESIGN §5).

Prices and marks here are *oriented* ticks: as they are for sell stops, negated for buy stops, so
that on both sides a mark only rises and a stop fires when the price is at or below it.

* **Trails and buckets.** A side's stops are grouped by trail (one percent or one amount, a
  :class:`Trail`). Within a trail the stop level is a non-decreasing function of the mark, so a
  trail is a sorted array of *buckets*, one per distinct mark; a bucket's members are an
  ``array`` of seqs, found from a seq through a union-find (:class:`Buckets`). Merging two
  buckets moves the smaller member array into the larger, so a stop moves O(log n) times over
  its life, and a tick never writes a mark per stop.
* **Riding.** The side keeps one *riding mark*, ``ride``, at least every explicit mark on the
  side. At most one bucket per trail, its top one, *rides*: its mark is ``ride`` (stored as
  :data:`RIDING`), so a new high is one assignment, whatever the number of trails. Every other
  bucket *lags* below ``ride`` (a stop activated or placed below the running high) until a
  price reaches it. A price at or above ``ride`` merges every lagging bucket into its trail's
  riding bucket; that is the only time a new high costs more than O(1), and it happens once per
  lagging bucket.
* **Which stop fires first.** At a common mark R a percent trail p stops at R·(1 − p) and an
  amount trail a at R − a, so among riding buckets the smallest percent and the smallest amount
  have the highest stops. The riding trails are kept in two lists ordered that way, and the
  side's fire gate is one comparison against the higher of their two best stops (and against
  the top lagging stops, if any).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort
from collections.abc import Iterable
from operator import attrgetter

from autopilot.domain.triggers.levels import CENT_TICKS, FAR, PERCENT_ONE

RIDING: int = (1 << 63) - 1
"""A bucket's mark (in a trail's ``marks`` and in :attr:`Buckets.mark`) that means "the side's
riding mark". It sorts above every real mark, so a trail's ``marks`` stays sorted."""
_STOP_DIVISOR = PERCENT_ONE * CENT_TICKS
_RANK = attrgetter("rank")


class Buckets:
    """The bucket of every trailing stop, by seq: a union-find with each root's mark and members.

    Shared by all sides of the index. Also tracks what the index reports as changed marks:
    roots whose mark changed (``dirty``), sides whose riding mark changed (``dirty_sides``, which
    makes each of their riding buckets dirty) and dirty buckets that fired (``fired``: the mark
    in plain ticks, and the members).
    """

    __slots__ = ("dirty", "dirty_sides", "fired", "mark", "members", "parent")

    def __init__(self) -> None:
        self.parent: array[int] = array("q")
        self.mark: array[int] = array("q")  # at a root: its oriented mark, or RIDING
        self.members: list[array[int] | None] = []  # at a root: its seqs
        self.dirty: set[int] = set()
        self.dirty_sides: set[TrailSide] = set()
        self.fired: list[tuple[int, array[int]]] = []

    def append(self, seq: int) -> None:
        """Make room for a new seq (``seq`` is the next one)."""
        self.parent.append(seq)
        self.mark.append(0)
        self.members.append(None)

    def find(self, seq: int) -> int:
        parent = self.parent
        while parent[seq] != seq:
            parent[seq] = parent[parent[seq]]
            seq = parent[seq]
        return seq

    def start(self, seq: int, mark: int) -> int:
        """A new bucket at ``mark`` holding ``seq`` alone; its root (``seq``)."""
        self.parent[seq] = seq
        self.members[seq] = array("q", (seq,))
        self.mark[seq] = mark
        return seq

    def join(self, root: int, seq: int) -> int:
        members = self.members[root]
        assert members is not None
        members.append(seq)
        self.parent[seq] = root
        return root

    def merge(self, roots: Iterable[int], mark: int) -> int:
        """Merge the buckets at ``roots`` into the largest, now dirty at ``mark``; its root."""
        members = self.members
        roots = list(roots)
        root = max(roots, key=lambda r: len(members[r] or ()))
        into = members[root]
        assert into is not None
        for other in roots:
            if other != root:
                into.extend(members[other] or ())
                members[other] = None
                self.parent[other] = root
        self.mark[root] = mark
        self.dirty.add(root)
        return root

    def leave(self, seq: int) -> tuple[int, bool]:
        """Take ``seq`` out of its bucket: (the bucket's root, whether it is now empty)."""
        root = self.find(seq)
        members = self.members[root]
        assert members is not None
        members.remove(seq)
        if members:
            return root, False
        self.members[root] = None
        self.dirty.discard(root)
        return root, True

    def take(self, root: int, ticks: int, side_dirty: bool) -> array[int]:
        """Empty a bucket that fired at mark ``ticks`` (plain); its members.

        Its final mark is kept for the next flush if it changed since the last one.
        """
        members = self.members[root]
        assert members is not None
        self.members[root] = None
        if side_dirty or root in self.dirty:
            self.dirty.discard(root)
            self.fired.append((ticks, members))
        return members


class Trail:
    """The trailing stops of one trail (a percent or an amount) on one side of a symbol."""

    __slots__ = ("amount", "factor", "key", "marks", "rank", "roots")

    def __init__(self, key: int, *, sell: bool) -> None:
        self.key = key  # see trail_key: a scaled percent (> 0), or −amount in ticks
        self.factor = (PERCENT_ONE - key if sell else PERCENT_ONE + key) if key > 0 else 0
        self.amount = -key if key < 0 else 0
        self.rank = -abs(key)  # at equal marks, a higher rank has a higher (or equal) stop
        self.marks: array[int] = array("q")  # ascending, distinct; the last may be RIDING
        self.roots: array[int] = array("q")  # the union-find root of each bucket

    def stop(self, mark: int) -> int:
        """The oriented stop level at ``mark``: floored to the cent for a percent trail."""
        if self.factor:
            return mark * self.factor // _STOP_DIVISOR * CENT_TICKS
        return mark - self.amount

    def rides(self) -> bool:
        return bool(self.marks) and self.marks[-1] == RIDING

    def lags(self) -> bool:
        """True when the trail has a bucket below the riding mark."""
        marks = self.marks
        return len(marks) > 1 or (len(marks) == 1 and marks[0] != RIDING)

    def top_lagging(self) -> int:
        """The index of the highest lagging bucket (−1 when there is none)."""
        return len(self.marks) - (2 if self.rides() else 1)


class TrailSide:
    """The trailing stops of one side (sell or buy) of one symbol; see the module doc.

    ``raise_gate`` and ``fire_gate`` are kept current: an oriented price matters to the side
    only when it is above ``raise_gate`` (a mark moves) or at or below ``fire_gate`` (a stop
    fires).
    """

    __slots__ = (
        "best_amount",
        "best_factor",
        "buckets",
        "by_amount",
        "by_percent",
        "fire_gate",
        "lagging",
        "raise_gate",
        "ride",
        "sign",
        "trails",
    )

    def __init__(self, buckets: Buckets, *, sell: bool) -> None:
        self.buckets = buckets
        self.sign = 1 if sell else -1  # oriented ticks × sign = plain ticks
        self.ride = -FAR
        self.trails: dict[int, Trail] = {}
        self.by_percent: list[Trail] = []  # riding percent trails, the highest stop last
        self.by_amount: list[Trail] = []  # riding amount trails, the highest stop last
        self.best_factor = 0  # of by_percent[-1], or 0: what a new high reads, kept at hand
        self.best_amount = FAR  # of by_amount[-1], or FAR (a stop below every price)
        self.lagging: set[Trail] = set()  # trails with a bucket below the riding mark
        self.raise_gate = FAR
        self.fire_gate = -FAR

    def mark(self, root: int) -> int:
        """The oriented mark of the bucket at ``root``."""
        mark = self.buckets.mark[root]
        return self.ride if mark == RIDING else mark

    def riding_roots(self) -> list[int]:
        return [trail.roots[-1] for trail in (*self.by_percent, *self.by_amount)]

    # --- placing ------------------------------------------------------------------------

    def join(self, seq: int, key: int, mark: int) -> int:
        """Put ``seq`` into the bucket at ``mark`` of trail ``key``; its root. Gates go stale:
        call :meth:`refresh_gates` (or :meth:`tick`) after."""
        trail = self.trails.get(key)
        if trail is None:
            trail = self.trails[key] = Trail(key, sell=self.sign > 0)
        if mark > self.ride:
            self._demote_riding()
            self.ride = mark
        buckets = self.buckets
        marks, roots = trail.marks, trail.roots
        if mark == self.ride:
            if trail.rides():
                return buckets.join(roots[-1], seq)
            marks.append(RIDING)
            roots.append(seq)
            self._start_riding(trail)
            return buckets.start(seq, RIDING)
        self.lagging.add(trail)
        at = bisect_left(marks, mark)
        if at < len(marks) and marks[at] == mark:
            return buckets.join(roots[at], seq)
        marks.insert(at, mark)
        roots.insert(at, seq)
        return buckets.start(seq, mark)

    def leave(self, seq: int, key: int) -> None:
        """Take ``seq`` out of the side. Gates go stale: call :meth:`refresh_gates` after."""
        trail = self.trails[key]
        root, emptied = self.buckets.leave(seq)
        if not emptied:
            return
        mark = self.buckets.mark[root]
        if mark == RIDING:
            trail.marks.pop()
            trail.roots.pop()
            self._stop_riding(trail)
        else:
            at = bisect_left(trail.marks, mark)
            del trail.marks[at]
            del trail.roots[at]
            if not trail.lags():
                self.lagging.discard(trail)
        if not trail.marks:
            del self.trails[key]

    def _start_riding(self, trail: Trail) -> None:
        insort(self.by_percent if trail.factor else self.by_amount, trail, key=_RANK)
        self._keep_best()

    def _stop_riding(self, trail: Trail) -> None:
        (self.by_percent if trail.factor else self.by_amount).remove(trail)
        self._keep_best()

    def _keep_best(self) -> None:
        self.best_factor = self.by_percent[-1].factor if self.by_percent else 0
        self.best_amount = self.by_amount[-1].amount if self.by_amount else FAR

    def _demote_riding(self) -> None:
        """Pin every riding bucket at the current riding mark, as lagging (before it rises)."""
        side_dirty = self in self.buckets.dirty_sides
        for trail in (*self.by_percent, *self.by_amount):
            root = trail.roots[-1]
            trail.marks[-1] = self.buckets.mark[root] = self.ride
            if side_dirty:
                self.buckets.dirty.add(root)
            self.lagging.add(trail)
        self.by_percent.clear()
        self.by_amount.clear()
        self._keep_best()
        self.buckets.dirty_sides.discard(self)

    # --- price updates ------------------------------------------------------------------

    def rides_alone(self) -> bool:
        """True when a new high would be :meth:`rise` (there are stops, none lagging)."""
        return bool(self.trails) and not self.lagging

    def rise(self, price: int) -> None:
        """A new high when :meth:`rides_alone`: every bucket rides to ``price``, nothing fires."""
        self.ride = self.raise_gate = price
        self.fire_gate = self._riding_stop()
        self.buckets.dirty_sides.add(self)

    def tick(self, price: int, fired: list[int]) -> None:
        """Apply the oriented ``price``: ratchet marks, and add the seqs that fire to ``fired``."""
        if price >= self.ride:
            if price > self.ride:
                self.ride = price
                self.buckets.dirty_sides.add(self)
            if not self.lagging:
                self.raise_gate = price
                self.fire_gate = self._riding_stop()
                return
            for trail in self.lagging:
                self._merge_into_riding(trail)
            self.lagging.clear()
        else:
            for trail in list(self.lagging):
                self._raise_lagging(trail, price)
                self._fire_lagging(trail, price, fired)
            self._fire_riding(price, fired)
        self.refresh_gates()

    def refresh_gates(self) -> None:
        if not self.trails:
            self.raise_gate, self.fire_gate = FAR, -FAR
            return
        raise_gate, fire_gate = self.ride, self._riding_stop()
        for trail in self.lagging:
            raise_gate = min(raise_gate, trail.marks[0])
            fire_gate = max(fire_gate, trail.stop(trail.marks[trail.top_lagging()]))
        self.raise_gate, self.fire_gate = raise_gate, fire_gate

    def _riding_stop(self) -> int:
        """The highest stop among riding buckets (below every price when none rides): the
        smallest percent's or the smallest amount's, whichever is higher (on every new high)."""
        ride = self.ride
        by_amount = ride - self.best_amount
        if not self.best_factor:
            return by_amount
        by_percent = ride * self.best_factor // _STOP_DIVISOR * CENT_TICKS
        return by_percent if by_percent > by_amount else by_amount

    def _merge_into_riding(self, trail: Trail) -> None:
        """The price reached the riding mark: every bucket of ``trail`` rides, as one."""
        rode = trail.rides()
        root = self.buckets.merge(trail.roots, RIDING)
        del trail.marks[1:]
        del trail.roots[1:]
        trail.marks[0] = RIDING
        trail.roots[0] = root
        if not rode:
            self._start_riding(trail)

    def _raise_lagging(self, trail: Trail, price: int) -> None:
        """Merge the lagging buckets below ``price`` (and one at it) into one at ``price``."""
        marks, roots = trail.marks, trail.roots
        if marks[0] >= price:
            return
        end = bisect_left(marks, price)
        if end < len(marks) and marks[end] == price:
            end += 1
        if end == 1:  # one bucket below: it just moves up
            self.buckets.mark[roots[0]] = marks[0] = price
            self.buckets.dirty.add(roots[0])
            return
        root = self.buckets.merge(roots[:end], price)
        del marks[1:end]
        del roots[1:end]
        marks[0] = price
        roots[0] = root

    def _fire_lagging(self, trail: Trail, price: int, fired: list[int]) -> None:
        marks, roots = trail.marks, trail.roots
        top = trail.top_lagging()
        while top >= 0 and trail.stop(marks[top]) >= price:
            root, mark = roots[top], marks[top]
            del marks[top]
            del roots[top]
            fired.extend(self.buckets.take(root, mark * self.sign, side_dirty=False))
            top -= 1
        if not trail.lags():
            self.lagging.discard(trail)
        if not marks:
            del self.trails[trail.key]

    def _fire_riding(self, price: int, fired: list[int]) -> None:
        ride = self.ride
        side_dirty = self in self.buckets.dirty_sides
        for riding in (self.by_percent, self.by_amount):
            while riding and riding[-1].stop(ride) >= price:
                trail = riding.pop()
                trail.marks.pop()
                root = trail.roots.pop()
                fired.extend(self.buckets.take(root, ride * self.sign, side_dirty))
                if not trail.marks:
                    del self.trails[trail.key]
        self._keep_best()
