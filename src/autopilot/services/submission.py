"""Handing committed orders to the broker (DESIGN §4: written first, then submitted)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from autopilot.domain.orders import Order
from autopilot.services.execution.results import PREFIX
from autopilot.services.ports import Broker, UnitOfWorkFactory

log = logging.getLogger("autopilot.scheduler")
SHOWN_IDS = 5  # a failed batch names its first orders; the rest are Pending beside them
RESUBMIT_CHUNK = 5_000


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
            extra={"action": "orders.submit_failed", "count": len(orders)},
        )
        return False
    return True


def resubmit_pending(uow: UnitOfWorkFactory, broker: Broker) -> None:
    """Orders written but never submitted (a crash or a broker outage between the two) go to
    the broker now, each once, an account's together, in chunks: what every pass does first,
    in-process, from cron or over HTTP.

    A broker that refuses them is logged and the caller goes on: the rules still execute (their
    orders wait Pending too), and the next pass tries again.
    """
    after: Order | None = None
    while True:
        with uow() as unit:
            pending = unit.orders.pending(after=after, limit=RESUBMIT_CHUNK)
        if not pending:
            return
        log.info(
            "%s Resubmitting %d pending order(s)",
            PREFIX,
            len(pending),
            extra={"action": "orders.resubmitting", "count": len(pending)},
        )
        if not submit_committed(broker, pending) or len(pending) < RESUBMIT_CHUNK:
            return
        after = pending[-1]
