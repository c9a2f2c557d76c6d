"""Trigger ids by seq and seqs by id, without a Python object per id: the trigger index's
directory (see :mod:`autopilot.domain.triggers.index`).

A ``dict[str, int]`` costs about 140 bytes per trigger at a million of them: the id string
(~70), its entry (~40) and the int object of its seq (~30). Here every id is its UTF-8 bytes in
one ``bytearray``, and the lookup is an open-addressing table (linear probing, at most half
full) of 4-byte seqs, with each seq's ``hash`` kept beside it: about 45 bytes per trigger. A
lookup decodes the one id whose hash matches, and a seq's id is decoded when asked for (a fired
trigger's, typically), so nothing here is a Python object per trigger.

Seqs are handed out in order and never reused; a released seq keeps its bytes until the index is
rebuilt (the caller's policy, see the index).
"""

from __future__ import annotations

from array import array

_EMPTY = -1
_FIRST_CAPACITY = 8


class IdDirectory:
    """Append-only seqs for unique ids, with lookup by id and release of a seq.

    Seqs fit a signed 32-bit slot: up to 2**31 − 1 ids over the directory's life.
    """

    __slots__ = ("_blob", "_ends", "_hashes", "_live", "_mask", "_slots")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends: array[int] = array("q")  # seq -> end of its id in _blob (start: seq - 1's end)
        self._hashes: array[int] = array("q")  # seq -> hash(id)
        self._slots: array[int] = array("i", [_EMPTY]) * _FIRST_CAPACITY
        self._mask = _FIRST_CAPACITY - 1
        self._live = 0

    def __len__(self) -> int:
        """The ids present (appended and not released)."""
        return self._live

    def find(self, trigger_id: str) -> int:
        """The seq of ``trigger_id``, or −1 when it is not present."""
        hashed = hash(trigger_id)
        hashes, slots, mask = self._hashes, self._slots, self._mask
        at = hashed & mask
        while (seq := slots[at]) != _EMPTY:
            if hashes[seq] == hashed and self.id_of(seq) == trigger_id:
                return seq
            at = (at + 1) & mask
        return -1

    def append(self, trigger_id: str) -> int:
        """Give ``trigger_id``, which must not be present (see :meth:`find`), the next seq."""
        if (self._live + 1) * 2 > len(self._slots):
            self._grow()
        seq = len(self._hashes)
        hashed = hash(trigger_id)
        self._blob += trigger_id.encode()
        self._ends.append(len(self._blob))
        self._hashes.append(hashed)
        slots, mask = self._slots, self._mask
        at = hashed & mask
        while slots[at] != _EMPTY:
            at = (at + 1) & mask
        slots[at] = seq
        self._live += 1
        return seq

    def id_of(self, seq: int) -> str:
        """The id of ``seq`` (present or released)."""
        start = self._ends[seq - 1] if seq else 0
        return self._blob[start : self._ends[seq]].decode()

    def release(self, seq: int) -> str:
        """Forget the present ``seq``; its id."""
        slots, mask = self._slots, self._mask
        hashes = self._hashes
        at = hashes[seq] & mask
        while slots[at] != seq:
            at = (at + 1) & mask
        # Backward-shift deletion: pull later members of the cluster into the hole when the
        # hole lies on their probe path, so a lookup never stops early and no tombstone is kept.
        hole, probe = at, at
        while True:
            probe = (probe + 1) & mask
            moving = slots[probe]
            if moving == _EMPTY:
                break
            home = hashes[moving] & mask
            if (home <= hole < probe) if home <= probe else (hole >= home or hole < probe):
                slots[hole] = moving
                hole = probe
        slots[hole] = _EMPTY
        self._live -= 1
        return self.id_of(seq)

    def _grow(self) -> None:
        capacity = len(self._slots) * 2
        slots = array("i", [_EMPTY]) * capacity
        mask = capacity - 1
        hashes = self._hashes
        for seq in self._slots:
            if seq != _EMPTY:
                at = hashes[seq] & mask
                while slots[at] != _EMPTY:
                    at = (at + 1) & mask
                slots[at] = seq
        self._slots, self._mask = slots, mask
