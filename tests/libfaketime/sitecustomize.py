"""Imported at start-up by every Python process of a `make test-dates` run (the target puts this
folder on PYTHONPATH; the servers and CLIs the tests start inherit it): makes `time.sleep` work
under Debian 12's libfaketime 0.9.10.

The date runs fake the wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1): with a faked monotonic
clock, Python's timed lock waits (`threading.Event.wait(timeout)`, which the scheduler loop
sleeps in) pass a faked deadline to `sem_clockwait`, which libfaketime does not intercept, and
never wake up. But libfaketime 0.9.10 then turns the absolute CLOCK_MONOTONIC deadline of
`clock_nanosleep`, which Python 3.11's `time.sleep` uses, into a negative time, and every sleep
fails with EINVAL (wolfcw/libfaketime#426, fixed in 0.9.11). A relative wait has no deadline to
get wrong, so here `time.sleep` waits in `select` instead.
"""

from __future__ import annotations

import os
import select
import time


def _sleep(seconds: float) -> None:
    """`time.sleep` as a relative wait: `select` with no descriptors, until the time is up."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


if os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":
    time.sleep = _sleep
