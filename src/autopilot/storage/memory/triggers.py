"""Trigger orders, in memory: the conditional claim and transitions of the SQL repository."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import OPEN_STATUSES, TrailingStop, TriggerStatus
from autopilot.services.records import TriggerOrderRecord
from autopilot.storage.memory.tables import Tables, micros, refused

MARK_PLACES = Decimal("0.0001")  # what the stored mark reads back as (the index's ticks)


def with_mark(record: TriggerOrderRecord, mark: Decimal | None) -> TriggerOrderRecord:
    condition = record.trigger.condition
    if not isinstance(condition, TrailingStop):
        return record
    stored = None if mark is None else mark.normalize().quantize(MARK_PLACES)
    trigger = replace(record.trigger, condition=replace(condition, mark=stored))
    return replace(record, trigger=trigger)


class MemoryTriggerOrders:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add_many(self, records: Sequence[TriggerOrderRecord]) -> None:
        for record in records:
            if record.trigger.id in self._t.triggers:
                raise refused(f"duplicate key pk_trigger_orders: {record.trigger.id}")
            condition = record.trigger.condition
            mark = condition.mark if isinstance(condition, TrailingStop) else None
            self._t.triggers[record.trigger.id] = with_mark(record, mark)
            self._t.trigger_changes.append(record.trigger.id)

    def get(self, trigger_id: str, *, lock: bool = False) -> TriggerOrderRecord | None:
        return self._t.triggers.get(trigger_id)

    def many(self, trigger_ids: Iterable[str]) -> dict[str, TriggerOrderRecord]:
        return {i: self._t.triggers[i] for i in set(trigger_ids) if i in self._t.triggers}

    def search(
        self,
        *,
        client_id: int | None = None,
        account_id: int | None = None,
        symbol: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[TriggerOrderRecord], int]:
        found = sorted(
            (
                r
                for r in self._t.triggers.values()
                if (client_id is None or r.client_id == client_id)
                and (account_id is None or r.trigger.account_id == account_id)
                and (symbol is None or r.trigger.symbol == symbol)
                and (status is None or r.trigger.status.value == status)
            ),
            key=lambda r: (r.created_at, r.trigger.id),
        )
        return found[offset : offset + limit], len(found)

    def active(
        self, *, client_id: int | None = None, symbols: Iterable[str] | None = None
    ) -> list[TriggerOrderRecord]:
        wanted = None if symbols is None else set(symbols)
        return self._where(
            lambda r: (
                r.trigger.status is TriggerStatus.ACTIVE
                and (client_id is None or r.client_id == client_id)
                and (wanted is None or r.trigger.symbol in wanted)
            )
        )

    def lock_for_fire(
        self, trigger_ids: Iterable[str], groups: Iterable[tuple[int, str]]
    ) -> dict[str, TriggerOrderRecord]:
        ids, keys = set(trigger_ids), set(groups)
        if not ids:
            return {}
        found = self._where(
            lambda r: (
                r.trigger.id in ids
                or (r.trigger.oco_group is not None and (r.client_id, r.trigger.oco_group) in keys)
            )
        )
        return {r.trigger.id: r for r in found}

    def oco_members(
        self,
        client_id: int,
        oco_group: str,
        statuses: Iterable[TriggerStatus] = OPEN_STATUSES,
    ) -> list[TriggerOrderRecord]:
        wanted = set(statuses)
        return self._where(
            lambda r: (
                r.client_id == client_id
                and r.trigger.oco_group == oco_group
                and r.trigger.status in wanted
            )
        )

    def expiring(self, at: datetime) -> list[TriggerOrderRecord]:
        return self._where(
            lambda r: (
                r.trigger.status in OPEN_STATUSES
                and r.trigger.expires_at is not None
                and r.trigger.expires_at <= at
            )
        )

    def next_expiry(self) -> datetime | None:
        times = [
            r.trigger.expires_at
            for r in self._t.triggers.values()
            if r.trigger.status in OPEN_STATUSES and r.trigger.expires_at is not None
        ]
        return min(times, default=None)

    def claim(self, trigger_id: str, price: Decimal, now: datetime) -> bool:
        record = self._t.triggers.get(trigger_id)
        if record is None or record.trigger.status is not TriggerStatus.ACTIVE:
            return False
        self._t.triggers[trigger_id] = replace(
            record,
            trigger=replace(record.trigger, status=TriggerStatus.TRIGGERED),
            triggered_at=now,
            trigger_price=micros(price),
            updated_at=now,
        )
        self._t.trigger_changes.append(trigger_id)
        return True

    def set_outcome(
        self, trigger_id: str, now: datetime, *, order_id: str | None, failure: str | None
    ) -> None:
        record = self._t.triggers.get(trigger_id)
        if record is None:
            return
        record = replace(record, order_id=order_id, updated_at=now)
        if failure is not None:
            trigger = replace(record.trigger, status=TriggerStatus.FAILED)
            record = replace(record, trigger=trigger, failure_reason=failure)
            self._t.trigger_changes.append(trigger_id)
        self._t.triggers[trigger_id] = record

    def close_open(
        self, trigger_ids: Iterable[str], status: TriggerStatus, now: datetime
    ) -> list[str]:
        return self.transition(trigger_ids, OPEN_STATUSES, status, now)

    def transition(
        self,
        trigger_ids: Iterable[str],
        sources: Iterable[TriggerStatus],
        target: TriggerStatus,
        now: datetime,
    ) -> list[str]:
        allowed = set(sources)
        moved = []
        for trigger_id in sorted(set(trigger_ids)):
            record = self._t.triggers.get(trigger_id)
            if record is not None and record.trigger.status in allowed:
                trigger = replace(record.trigger, status=target)
                self._t.triggers[trigger_id] = replace(record, trigger=trigger, updated_at=now)
                self._t.trigger_changes.append(trigger_id)
                moved.append(trigger_id)
        return moved

    def save_marks(self, marks: Sequence[tuple[str, Decimal]], now: datetime) -> None:
        for trigger_id, new in marks:
            record = self._t.triggers.get(trigger_id)
            if record is None or not isinstance(record.trigger.condition, TrailingStop):
                continue
            old = record.trigger.condition.mark
            rises = record.order.side is Side.SELL
            if old is None or (new > old if rises else new < old):
                self._t.triggers[trigger_id] = replace(with_mark(record, new), updated_at=now)

    def replace(self, record: TriggerOrderRecord, now: datetime) -> None:
        current = self._t.triggers.get(record.trigger.id)
        if current is None:
            return
        trigger = replace(
            current.trigger,
            condition=record.trigger.condition,
            expires_at=record.trigger.expires_at,
        )
        condition = trigger.condition
        mark = condition.mark if isinstance(condition, TrailingStop) else None
        self._t.triggers[trigger.id] = with_mark(
            replace(current, trigger=trigger, updated_at=now), mark
        )
        self._t.trigger_changes.append(trigger.id)

    def change_cursor(self) -> object:
        return len(self._t.trigger_changes)

    def changed_since(self, cursor: object) -> list[str]:
        assert isinstance(cursor, int)
        return sorted(set(self._t.trigger_changes[cursor:]))

    def _where(self, keep: object) -> list[TriggerOrderRecord]:
        assert callable(keep)
        return sorted((r for r in self._t.triggers.values() if keep(r)), key=lambda r: r.trigger.id)
