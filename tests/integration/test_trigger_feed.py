"""The triggers' change feed on PostgreSQL, where transactions commit out of id order.

A transaction that began writing before another and commits after it must still be read by the
next catch-up of a process that already read the other one: the cursor is a snapshot, not the
largest revision seen (migration 0008).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import PriceBelow, Trigger
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.records import TriggerOrderRecord
from autopilot.storage.db import make_engine
from autopilot.storage.migrate import upgrade
from autopilot.storage.unit_of_work import UnitOfWorkFactory

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _trigger(trigger_id: str, client_id: int, account_id: int) -> TriggerOrderRecord:
    return TriggerOrderRecord(
        trigger=Trigger(
            id=trigger_id,
            account_id=account_id,
            symbol="AAA",
            condition=PriceBelow(level=Decimal("90")),
        ),
        client_id=client_id,
        order=OrderTemplate(side=Side.SELL, sell_all=True),
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_write_committed_after_a_later_one_is_still_read(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    store = UnitOfWorkFactory(engine)
    try:
        with store() as uow:
            client = uow.clients.add("Ada", None, NOW)
            account = uow.accounts.add(client.id, "USD", NOW)
            cursor = uow.triggers.change_cursor()
        slow = store()
        slow_uow = slow.__enter__()  # begins first: the lower transaction id
        slow_uow.triggers.add_many([_trigger("TRIG-SLOW", client.id, account.id)])
        with store() as uow:  # begins later, commits first
            uow.triggers.add_many([_trigger("TRIG-FAST", client.id, account.id)])

        with store() as uow:  # a catch-up between the two commits
            next_cursor = uow.triggers.change_cursor()
            assert uow.triggers.changed_since(cursor) == ["TRIG-FAST"]
        cursor = next_cursor

        slow.__exit__(None, None, None)  # commits now, after the later one
        with store() as uow:
            next_cursor = uow.triggers.change_cursor()
            assert uow.triggers.changed_since(cursor) == ["TRIG-SLOW"]
        with store() as uow:
            assert uow.triggers.changed_since(next_cursor) == []
    finally:
        engine.dispose()
