"""Readable, prefixed ids: AUTO-20261128-483920194857362."""

from __future__ import annotations

import os
import random
from datetime import date

_DIGITS = 15
_SPACE = 10**_DIGITS


def _seeded() -> random.Random:
    return random.Random(os.urandom(32))


# Ids need to be unique, not secret: a generator seeded from the OS is fast enough for the
# scheduler's batches (secrets would cost a system call per id). A forked child reseeds, so
# two processes never replay one sequence.
_generator = _seeded()


def _reseed() -> None:
    global _generator
    _generator = _seeded()


os.register_at_fork(after_in_child=_reseed)


def new_id(prefix: str, on: date) -> str:
    """A new id for a row created on `on` (market date). 15 random digits make clashes
    negligible, and the primary key refuses the rare clash rather than overwrite."""
    return f"{prefix}-{on:%Y%m%d}-{_generator.randrange(_SPACE):0{_DIGITS}d}"


def new_ids(prefix: str, on: date, count: int) -> list[str]:
    """``count`` ids as :func:`new_id` makes them, the date formatted once (a batch's orders)."""
    head = f"{prefix}-{on:%Y%m%d}-"
    draw = _generator.randrange
    return [f"{head}{draw(_SPACE):0{_DIGITS}d}" for _ in range(count)]
