"""Updates as the services take them: the fields given, the others left as they are."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any


class Keep(Enum):
    """The value of a field an update leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


def given(changes: Any) -> dict[str, Any]:
    """The fields of a changes dataclass that are not :data:`KEEP`, by name."""
    values = {f.name: getattr(changes, f.name) for f in fields(changes)}
    return {name: value for name, value in values.items() if value is not KEEP}
