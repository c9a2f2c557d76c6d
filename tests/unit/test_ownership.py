"""Rendezvous hashing of symbols over live workers (domain/triggers/ownership.py)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from autopilot.domain.triggers.ownership import Assignment, owner

SYMBOLS = [f"S{n:03d}" for n in range(400)]
ids = st.text(alphabet="abcdefghij:0123456789", min_size=1, max_size=8)


@given(st.lists(ids, min_size=1, max_size=6, unique=True))
def test_every_symbol_has_exactly_one_owner_among_the_live_workers(workers: list[str]) -> None:
    views = [Assignment(w, workers) for w in workers]
    for symbol in SYMBOLS[:50]:
        assert sum(v.owns(symbol) for v in views) == 1
        assert owner(symbol, reversed(workers)) == owner(symbol, workers)


@given(st.lists(ids, min_size=2, max_size=6, unique=True), st.data())
def test_a_worker_leaving_moves_its_symbols_only(workers: list[str], data: st.DataObject) -> None:
    gone = data.draw(st.sampled_from(workers))
    rest = [w for w in workers if w != gone]
    for symbol in SYMBOLS[:50]:
        before, after = owner(symbol, workers), owner(symbol, rest)
        assert after == before or before == gone


def test_symbols_spread_over_the_workers() -> None:
    counts = Counter(owner(s, ["w1", "w2", "w3", "w4"]) for s in SYMBOLS)
    assert set(counts) == {"w1", "w2", "w3", "w4"}
    assert min(counts.values()) > len(SYMBOLS) / 4 * 0.6


def test_a_view_always_counts_its_own_worker() -> None:
    alone = Assignment("w1", [])
    assert alone.workers == ("w1",)
    assert alone.among(SYMBOLS) == frozenset(SYMBOLS)
