"""Waiting for something to become true: the one polling loop of the suite.

``wait_for`` polls a probe until it answers, fails naming what it waited for, and gives up at
once when a process it depends on has died (with that process's description, when it has one).
Waits synchronise on events the system shows (a row, a log line, a port that answers,
PostgreSQL's lock-wait state), never on a sleep that hopes the other side got there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, text

T = TypeVar("T")


class Process(Protocol):
    def poll(self) -> int | None: ...


def wait_for(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout_s: float = 60.0,
    interval_s: float = 0.02,
    alive: Sequence[Process] = (),
) -> T:
    """Poll ``probe`` until it returns something truthy, and return that.

    Fails with ``AssertionError`` naming ``what`` after ``timeout_s``, or as soon as one of
    ``alive`` has exited (its ``describe()`` in the message, if it has one).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        for process in alive:
            if process.poll() is not None:
                raise AssertionError(f"exited while waiting for {what}\n{_describe(process)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def _describe(process: Any) -> str:
    describe = getattr(process, "describe", None)
    return describe() if callable(describe) else repr(process)


def sessions_waiting_for_a_lock(engine: Engine) -> int:
    """How many sessions of the engine's PostgreSQL database are queued on a lock now."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with engine.connect() as c:
        return int(c.execute(query).scalar_one())


def wait_for_a_lock_wait(engine: Engine, *, what: str, timeout_s: float = 30.0) -> None:
    """Until PostgreSQL itself says a session waits for a lock (no sleep-and-hope)."""
    wait_for(lambda: sessions_waiting_for_a_lock(engine) > 0, what=what, timeout_s=timeout_s)
