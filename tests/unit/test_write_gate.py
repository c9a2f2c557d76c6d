"""The SQLite write gate: writers of one process take turns in the order they came."""

from __future__ import annotations

import threading
import time

from autopilot.storage.write_gate import WriteGate


def test_writers_go_in_the_order_they_came_and_a_holder_enters_again() -> None:
    gate = WriteGate(timeout_s=10)
    order: list[int] = []
    assert gate.acquire()
    assert gate.acquire()  # the holder again: at once
    threads = []
    for n in range(5):

        def write(n: int = n) -> None:
            assert gate.acquire()
            order.append(n)
            gate.release()

        t = threading.Thread(target=write)
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while len(gate._queue) < n + 1 and time.monotonic() < deadline:  # queued in turn
            time.sleep(0.001)
    gate.release()
    assert order == []  # still held once
    gate.release()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_a_writer_gives_up_after_the_timeout_and_the_next_one_still_gets_its_turn() -> None:
    gate = WriteGate(timeout_s=0.05)
    assert gate.acquire()
    outcome: dict[str, bool] = {}
    late = threading.Thread(target=lambda: outcome.setdefault("late", gate.acquire()))
    late.start()
    late.join(5)
    assert outcome == {"late": False} and not gate._queue
    gate.release()
    patient = WriteGate(timeout_s=5)
    assert patient.acquire()
    patient.release()
    assert gate.acquire()  # free again after the one that gave up
    gate.release()
