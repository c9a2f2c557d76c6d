"""Readable, prefixed ids: AUTO-20261128-483920194857362."""

from __future__ import annotations

import secrets
from datetime import date

_DIGITS = 15


def new_id(prefix: str, on: date) -> str:
    """A new id for a row created on `on` (market date); 15 random digits make clashes negligible,
    and the primary key refuses the one-in-10^15 clash rather than overwrite."""
    return f"{prefix}-{on:%Y%m%d}-{secrets.randbelow(10**_DIGITS):0{_DIGITS}d}"
