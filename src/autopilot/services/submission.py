"""Handing committed orders to the broker (DESIGN §4: written first, then submitted)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from autopilot.domain.orders import Order
from autopilot.services.execution_results import PREFIX
from autopilot.services.ports import Broker

log = logging.getLogger("autopilot.scheduler")


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
        log.error(
            "%s submitting %d order(s) failed, left Pending for the next pass: %s: %s",
            PREFIX,
            len(orders),
            type(exc).__name__,
            lines[0] if lines else "",
        )
        return False
    return True
