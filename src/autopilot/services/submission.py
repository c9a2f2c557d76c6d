"""Handing committed orders to the broker (DESIGN §4: written first, then submitted)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from autopilot.domain.orders import Order
from autopilot.services.execution_results import PREFIX
from autopilot.services.ports import Broker

log = logging.getLogger("autopilot.scheduler")
SHOWN_IDS = 5  # a failed batch names its first orders; the rest are Pending beside them


def submit_committed(broker: Broker, orders: Sequence[Order]) -> bool:
    """Submit orders whose rows are committed; whether the broker took them.

    A failure is logged, not raised: what is committed stands, the orders stay Pending, and the
    next scheduler pass resubmits them (the order id is the idempotency key).
    """
    if not orders:
        return True
    try:
        broker.submit(orders)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        shown = ", ".join(o.id for o in orders[:SHOWN_IDS])
        more = f" and {len(orders) - SHOWN_IDS} more" if len(orders) > SHOWN_IDS else ""
        log.error(
            "%s submitting %d order(s) failed (%s%s), left Pending for the next pass: %s: %s",
            PREFIX,
            len(orders),
            shown,
            more,
            type(exc).__name__,
            lines[0] if lines else "",
        )
        return False
    return True
