"""Which live worker evaluates a symbol's triggers: rendezvous (highest-random-weight) hashing.

Every worker computes the owner of a symbol from the same two inputs, the symbol and the ids
of the live workers (the ``workers`` table, read at every refresh), so the workers agree
without talking to each other: the owner is the live worker whose hash of (worker, symbol) is
highest. A worker that dies gives each of its symbols to the worker that was second for it, and
nobody else's symbols move; a worker that joins takes about 1/n of every other's. The hash is
BLAKE2b, not Python's ``hash`` (salted per process), so every process agrees.

Two workers may disagree for a moment (one has seen a death or a join that the other has not
yet): then a symbol has two owners, or none, until the next refresh. That costs no fire twice
(a trigger is claimed by a conditional update in the transaction of its order) and loses no
price (a worker that gains a symbol evaluates its prices from the symbol's floor on).
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b


def weight(worker_id: str, symbol: str) -> int:
    """The worker's (pseudo-random, stable) weight for the symbol."""
    digest = blake2b(f"{worker_id}\x00{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(symbol: str, workers: Iterable[str]) -> str:
    """The worker of ``workers`` (at least one) that owns ``symbol``; ties go to the lower id."""
    return max(sorted(set(workers)), key=lambda w: weight(w, symbol))  # max keeps the first


class Assignment:
    """One worker's view: its id and the live workers (itself always among them); ``owns``
    answers for any symbol, including one first seen after the view was made."""

    def __init__(self, me: str, live: Iterable[str]) -> None:
        self.me = me
        self.workers: tuple[str, ...] = tuple(sorted({me, *live}))
        self._owns: dict[str, bool] = {}

    def owns(self, symbol: str) -> bool:
        known = self._owns.get(symbol)
        if known is None:
            known = self._owns[symbol] = owner(symbol, self.workers) == self.me
        return known

    def among(self, symbols: Iterable[str]) -> frozenset[str]:
        """The ones of ``symbols`` this worker owns."""
        return frozenset(s for s in symbols if self.owns(s))
