"""First come, first served among one process's writers to a SQLite database.

SQLite has one writer at a time, and its busy handler lets waiters poll with growing sleeps: a
pass that begins its next batch the moment it commits the last wins the lock again and again
while an API request's small write keeps sleeping (seconds, under a long pass). The gate queues
this process's writers in the order they came, so a request waits for the transaction in hand
and no longer. Other processes on the same file still meet SQLite's own lock and busy timeout,
which is what keeps every write correct; the gate only orders this process's turns.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class WriteGate:
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)
        self._queue: deque[int] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> bool:
        """Wait for this thread's turn (False after the timeout: the database is busy). A thread
        that holds the gate enters again at once."""
        me = threading.get_ident()
        deadline = time.monotonic() + self._timeout_s
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return True
            self._queue.append(me)
            while self._owner is not None or self._queue[0] != me:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(me)
                    self._turn.notify_all()  # the next in line may be free to go now
                    return False
                self._turn.wait(left)
            self._queue.popleft()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._lock:
            assert self._owner == threading.get_ident(), "released by a thread not holding it"
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._turn.notify_all()
