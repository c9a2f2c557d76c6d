"""Webhook subscriptions, deliveries and attempts, in memory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from autopilot.services.records import WebhookAttempt, WebhookDelivery, WebhookSubscription
from autopilot.storage.memory.tables import Tables


class MemoryWebhooks:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add(
        self, url: str, events: Sequence[str], secret: str, now: datetime
    ) -> WebhookSubscription:
        record = WebhookSubscription(
            id=max(self._t.webhooks, default=0) + 1,
            url=url,
            events=tuple(events),
            secret=secret,
            created_at=now,
        )
        self._t.webhooks[record.id] = record
        return record

    def get(self, subscription_id: int) -> WebhookSubscription | None:
        return self._t.webhooks.get(subscription_id)

    def all(self) -> list[WebhookSubscription]:
        return [self._t.webhooks[k] for k in sorted(self._t.webhooks)]

    def remove(self, subscription_id: int) -> None:
        self._t.webhooks.pop(subscription_id, None)
        gone = {k for k, v in self._t.deliveries.items() if v.subscription_id == subscription_id}
        for k in gone:
            del self._t.deliveries[k]
        self._t.webhook_attempts[:] = [
            x for x in self._t.webhook_attempts if x.subscription_id != subscription_id
        ]

    def enqueue(self, deliveries: Sequence[WebhookDelivery]) -> None:
        for x in deliveries:
            self._t.deliveries[x.id] = x

    def claim_due(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        due = sorted(
            (
                x
                for x in self._t.deliveries.values()
                if x.status == "Pending"
                and x.next_attempt_at is not None
                and x.next_attempt_at <= now
            ),
            key=lambda x: (x.next_attempt_at, x.id),
        )[:limit]
        claimed = []
        for x in due:
            self._t.deliveries[x.id] = replace(x, next_attempt_at=lease_until)
            sub = self._t.webhooks.get(x.subscription_id)
            if sub is not None:
                claimed.append((x, sub))
        return claimed

    def record(
        self, attempt: WebhookAttempt, *, status: str, next_attempt_at: datetime | None
    ) -> None:
        self._t.webhook_attempts.append(attempt)
        current = self._t.deliveries[attempt.delivery_id]
        self._t.deliveries[attempt.delivery_id] = replace(
            current,
            status=status,
            attempts=attempt.attempt,
            next_attempt_at=next_attempt_at,
            finished_at=None if status == "Pending" else attempt.at,
        )

    def set_failing(self, subscription_id: int, since: datetime | None) -> None:
        current = self._t.webhooks.get(subscription_id)
        if current is not None:
            self._t.webhooks[subscription_id] = replace(current, failing_since=since)

    def disable(self, subscription_id: int, now: datetime) -> None:
        current = self._t.webhooks.get(subscription_id)
        if current is not None:
            self._t.webhooks[subscription_id] = replace(current, disabled_at=now)
        for k, x in list(self._t.deliveries.items()):
            if x.subscription_id == subscription_id and x.status == "Pending":
                self._t.deliveries[k] = replace(
                    x, status="Failed", finished_at=now, next_attempt_at=None
                )

    def attempts_of(
        self, subscription_id: int, offset: int, limit: int
    ) -> tuple[list[WebhookAttempt], int]:
        mine = [
            x for x in reversed(self._t.webhook_attempts) if x.subscription_id == subscription_id
        ]
        return mine[offset : offset + limit], len(mine)

    def deliveries(self, ids: Iterable[str]) -> dict[str, WebhookDelivery]:
        return {i: self._t.deliveries[i] for i in set(ids) if i in self._t.deliveries}
