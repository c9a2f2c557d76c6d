"""Webhook subscriptions, the outbox of deliveries, and their attempts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from autopilot.services.records import WebhookAttempt, WebhookDelivery, WebhookSubscription
from autopilot.storage.bulk import insert_rows
from autopilot.storage.tables import webhook_attempts as a
from autopilot.storage.tables import webhook_deliveries as d
from autopilot.storage.tables import webhook_subscriptions as s


def _subscription(row: Any) -> WebhookSubscription:
    return WebhookSubscription(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        secret=row.secret,
        created_at=row.created_at,
        failing_since=row.failing_since,
        disabled_at=row.disabled_at,
    )


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        subscription_id=row.subscription_id,
        event=row.event,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


class Webhooks:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add(
        self, url: str, events: Sequence[str], secret: str, now: datetime
    ) -> WebhookSubscription:
        new_id = self._c.execute(
            s.insert()
            .values(url=url, events=list(events), secret=secret, created_at=now)
            .returning(s.c.id)
        ).scalar_one()
        return WebhookSubscription(
            id=new_id, url=url, events=tuple(events), secret=secret, created_at=now
        )

    def get(self, subscription_id: int) -> WebhookSubscription | None:
        row = self._c.execute(select(s).where(s.c.id == subscription_id)).first()
        return None if row is None else _subscription(row)

    def all(self) -> list[WebhookSubscription]:
        return [_subscription(r) for r in self._c.execute(select(s).order_by(s.c.id))]

    def remove(self, subscription_id: int) -> None:
        self._c.execute(delete(a).where(a.c.subscription_id == subscription_id))
        self._c.execute(delete(d).where(d.c.subscription_id == subscription_id))
        self._c.execute(delete(s).where(s.c.id == subscription_id))

    def enqueue(self, deliveries: Sequence[WebhookDelivery]) -> None:
        insert_rows(
            self._c,
            d,
            [
                {
                    "id": x.id,
                    "subscription_id": x.subscription_id,
                    "event": x.event,
                    "payload": x.payload,
                    "status": x.status,
                    "attempts": x.attempts,
                    "next_attempt_at": x.next_attempt_at,
                    "created_at": x.created_at,
                    "finished_at": None,
                }
                for x in deliveries
            ],
        )

    def claim_due(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        """Up to ``limit`` Pending deliveries due by ``now``, locked (SKIP LOCKED: dispatchers
        in several processes take disjoint ones) and leased until ``lease_until``: a dispatcher
        that dies mid-post leaves them due again then, not lost."""
        stmt = (
            select(d)
            .where(d.c.status == "Pending", d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        if self._pg:
            stmt = stmt.with_for_update(skip_locked=True)
        deliveries = [_delivery(r) for r in self._c.execute(stmt)]
        if not deliveries:
            return []
        self._c.execute(
            update(d)
            .where(d.c.id.in_([x.id for x in deliveries]))
            .values(next_attempt_at=lease_until)
        )
        subs = {
            r.id: _subscription(r)
            for r in self._c.execute(
                select(s).where(s.c.id.in_({x.subscription_id for x in deliveries}))
            )
        }
        return [(x, subs[x.subscription_id]) for x in deliveries if x.subscription_id in subs]

    def record(
        self,
        attempt: WebhookAttempt,
        *,
        status: str,
        next_attempt_at: datetime | None,
    ) -> None:
        """An attempt's outcome: the delivery Delivered, Failed (given up) or Pending again."""
        self._c.execute(
            a.insert().values(
                delivery_id=attempt.delivery_id,
                subscription_id=attempt.subscription_id,
                attempt=attempt.attempt,
                at=attempt.at,
                status_code=attempt.status_code,
                latency_ms=attempt.latency_ms,
                error=attempt.error,
            )
        )
        self._c.execute(
            update(d)
            .where(d.c.id == attempt.delivery_id)
            .values(
                status=status,
                attempts=attempt.attempt,
                next_attempt_at=next_attempt_at,
                finished_at=None if status == "Pending" else attempt.at,
            )
        )

    def set_failing(self, subscription_id: int, since: datetime | None) -> None:
        self._c.execute(update(s).where(s.c.id == subscription_id).values(failing_since=since))

    def disable(self, subscription_id: int, now: datetime) -> None:
        self._c.execute(update(s).where(s.c.id == subscription_id).values(disabled_at=now))
        self._c.execute(
            update(d)
            .where(d.c.subscription_id == subscription_id, d.c.status == "Pending")
            .values(status="Failed", finished_at=now, next_attempt_at=None)
        )

    def attempts_of(
        self, subscription_id: int, offset: int, limit: int
    ) -> tuple[list[WebhookAttempt], int]:
        where = a.c.subscription_id == subscription_id
        total = self._c.execute(select(func.count()).where(where)).scalar_one()
        rows = self._c.execute(
            select(a, d.c.event)
            .join(d, d.c.id == a.c.delivery_id)
            .where(where)
            .order_by(a.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [
            WebhookAttempt(
                delivery_id=r.delivery_id,
                subscription_id=r.subscription_id,
                event=r.event,
                attempt=r.attempt,
                at=r.at,
                status_code=r.status_code,
                latency_ms=r.latency_ms,
                error=r.error,
            )
            for r in rows
        ], int(total)

    def deliveries(self, ids: Iterable[str]) -> dict[str, WebhookDelivery]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {r.id: _delivery(r) for r in self._c.execute(select(d).where(d.c.id.in_(wanted)))}
