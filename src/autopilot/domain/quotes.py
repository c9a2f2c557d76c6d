"""What the domain knows of a security at a moment: its latest price and how it trades."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """What a rule needs to know of a security to buy it: latest price and whether it trades."""

    symbol: str
    price: Decimal | None
    tradable: bool = True
    fractionable: bool = True
