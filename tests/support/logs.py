"""Reading what the code logged by its stable ``action`` keys, not by message text."""

from __future__ import annotations

import logging

import pytest


def action_of(record: logging.LogRecord) -> str | None:
    action = getattr(record, "action", None)
    return action if isinstance(action, str) else None


def actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The actions of the captured records, in order (records without one left out)."""
    return [a for a in (action_of(r) for r in caplog.records) if a is not None]
