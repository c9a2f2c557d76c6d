"""An in-memory broker: remembers what it is handed and fills nothing (STYLE habit 7).

It keeps the Broker port's contract — an order id is acted on once, however often it is
submitted — and can be taken down to play a broker outage, so tests can check what the services
hand to a broker and what they do when it refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autopilot.domain.orders import Order
from autopilot.services.ports import Broker


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached; nothing handed to it was accepted."""


@dataclass(slots=True)
class InMemoryBroker(Broker):
    """`accepted` holds each order once, in the order first accepted; `handed` every order id
    each time it was handed over (repeats included); `down` refuses everything."""

    down: bool = False
    accepted: list[Order] = field(default_factory=list)
    handed: list[str] = field(default_factory=list)
    calls: int = 0
    price_updates: list[tuple[str, ...]] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set, repr=False)

    def submit(self, orders: Sequence[Order]) -> None:
        self._reachable()
        self.calls += 1
        self.handed += [o.id for o in orders]
        for order in orders:
            if order.id not in self._ids:
                self._ids.add(order.id)
                self.accepted.append(order)

    def on_prices(self, symbols: Sequence[str]) -> None:
        self._reachable()
        self.price_updates.append(tuple(symbols))

    def accepted_ids(self) -> list[str]:
        return [o.id for o in self.accepted]

    def _reachable(self) -> None:
        if self.down:
            raise BrokerUnavailable("the broker is unavailable")
