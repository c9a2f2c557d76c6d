"""What a unit of work runs once it has committed (the metrics of what it wrote)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

log = logging.getLogger("autopilot.storage")


def run_after_commit(actions: Sequence[Callable[[], None]]) -> None:
    """Each action in turn; one that fails is logged, never raised into the caller, whose
    transaction has committed already."""
    for action in actions:
        try:
            action()
        except Exception:
            log.exception("an after-commit action failed")
