"""Webhooks: subscriptions, the outbox, and signed delivery with retries (issue 11).

An event is written into the outbox (``webhook_deliveries``) in the transaction of the execution
that caused it (:func:`enqueue_executions`, called by ``record_outcomes``), so a crash never loses
one and a rolled-back execution sends none. A dispatcher (:class:`Dispatcher`, a thread of its own
in ``serve`` and in each worker) posts what is due, outside any pass: a receiver that is down,
slow or failing never slows a pass. Deliveries are signed the Standard Webhooks way: headers
``webhook-id`` (the delivery's id, the receiver's idempotency key), ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the
subscription's secret (``whsec_`` + base64). A failed attempt is retried after about 5 s, 5 min,
30 min, 2 h, 5 h and 10 h (with jitter), then given up; a subscription whose deliveries have
failed for 3 days is disabled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from autopilot.domain.errors import InvalidInput, NotFound
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services import telemetry
from autopilot.services.access import CLI, Caller
from autopilot.services.audit import Named, audit
from autopilot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.records import (
    LogEntry,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

EVENTS = (
    "execution.succeeded",
    "execution.failed",
    "execution.skipped",
    "proposal.pending",
    "trigger.fired",
    "scheduler.pass_failed",
)
RETRIES = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
DISABLE_AFTER = timedelta(days=3)
LEASE = timedelta(seconds=60)  # a claimed delivery is due again after this if nobody records it
TIMEOUT_S = 10.0
BATCH = 50


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header's value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _event_of(entry: LogEntry) -> str | None:
    if entry.no_op:  # a check that placed nothing and leaves its day open is no event
        return None
    if entry.status is OutcomeStatus.PENDING_APPROVAL:
        return "proposal.pending"
    if entry.status is OutcomeStatus.SUCCESS:
        if entry.automation_type is AutomationType.TRIGGER_ORDER:
            return "trigger.fired"
        return "execution.succeeded"
    if entry.status is OutcomeStatus.FAILED:
        return "execution.failed"
    return "execution.skipped"


def _payload(event: str, at: datetime, data: dict[str, Any]) -> str:
    return json.dumps({"type": event, "timestamp": at.isoformat(), "data": data}, sort_keys=True)


def _execution(entry: LogEntry) -> dict[str, Any]:
    return {
        "automationType": entry.automation_type.value,
        "automationId": entry.automation_id,
        "clientId": entry.client_id,
        "executionDate": entry.execution_date.isoformat(),
        "status": entry.status.value,
        "orderIds": list(entry.order_ids),
        "message": entry.message,
        "error": entry.error,
        "triggeredBy": entry.triggered_by,
        "attempt": entry.attempt,
    }


def _deliveries(
    subscriptions: Sequence[WebhookSubscription], events: Sequence[tuple[str, str]], now: datetime
) -> list[WebhookDelivery]:
    return [
        WebhookDelivery(
            id="msg_" + secrets.token_hex(12),
            subscription_id=sub.id,
            event=event,
            payload=payload,
            status="Pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for event, payload in events
        for sub in subscriptions
        if sub.disabled_at is None and event in sub.events
    ]


def enqueue_executions(uow: UnitOfWork, entries: Sequence[LogEntry], now: datetime) -> None:
    """The events of these log rows, for every subscription that wants them, in the caller's
    transaction (one read of the subscriptions; nothing more when there are none)."""
    subscriptions = uow.webhooks.all()
    if not subscriptions or not entries:
        return
    events = [(e, _payload(e, now, _execution(x))) for x in entries if (e := _event_of(x))]
    uow.webhooks.enqueue(_deliveries(subscriptions, events, now))


class Sender(Protocol):
    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int | None, str | None]:
        """POST; the status code (None if there was no answer) and an error, if any."""
        ...


@dataclass(frozen=True, slots=True)
class NewSubscription:
    record: WebhookSubscription
    secret: str  # shown once


class WebhookService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def subscribe(
        self, url: str, events: Sequence[str], *, caller: Caller = CLI
    ) -> NewSubscription:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("url", "must be an http:// or https:// URL with a host")
        wanted = list(dict.fromkeys(events))
        if not wanted:
            raise InvalidInput("events", "must name at least one event")
        unknown = [e for e in wanted if e not in EVENTS]
        if unknown:
            raise InvalidInput(
                "events", f"unknown event {unknown[0]!r}; expected {', '.join(EVENTS)}"
            )
        now = self._clock.now()
        secret = new_secret()
        with self._uow() as uow:
            record = uow.webhooks.add(url.strip(), wanted, secret, now)
            changes = {"url": record.url, "events": wanted}
            audit(uow, caller, "webhook.create", Named(str(record.id)), now, changes)
        return NewSubscription(record, secret)

    def all(self) -> list[WebhookSubscription]:
        with self._uow() as uow:
            return uow.webhooks.all()

    def get(self, subscription_id: int) -> WebhookSubscription:
        with self._uow() as uow:
            found = uow.webhooks.get(subscription_id)
        if found is None:
            raise NotFound("webhook", subscription_id)
        return found

    def delete(self, subscription_id: int, *, caller: Caller = CLI) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            if uow.webhooks.get(subscription_id) is None:
                raise NotFound("webhook", subscription_id)
            uow.webhooks.remove(subscription_id)
            audit(uow, caller, "webhook.delete", Named(str(subscription_id)), now, None)

    def attempts(
        self, subscription_id: int, *, page: int, page_size: int
    ) -> tuple[list[WebhookAttempt], int]:
        self.get(subscription_id)
        with self._uow() as uow:
            return uow.webhooks.attempts_of(subscription_id, (page - 1) * page_size, page_size)

    def pass_failed(self, error: str) -> None:
        """``scheduler.pass_failed``: written on its own (the pass's transaction is gone)."""
        now = self._clock.now()
        with self._uow() as uow:
            subscriptions = uow.webhooks.all()
            payload = _payload("scheduler.pass_failed", now, {"error": error})
            uow.webhooks.enqueue(
                _deliveries(subscriptions, [("scheduler.pass_failed", payload)], now)
            )


class Dispatcher:
    """Posts the due deliveries: claimed in one short transaction, posted outside any, each
    outcome recorded in a transaction of its own."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        sender: Sender,
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._sender = sender
        self._rng = rng or random.Random()

    def deliver_due(self, limit: int = BATCH) -> int:
        now = self._clock.now()
        with self._uow() as uow:
            claimed = uow.webhooks.claim_due(now, limit, now + LEASE)
        for delivery, subscription in claimed:
            self._attempt(delivery, subscription)
        return len(claimed)

    def _attempt(self, delivery: WebhookDelivery, subscription: WebhookSubscription) -> None:
        stamp = int(self._clock.now().timestamp())
        signed = signature(subscription.secret, delivery.id, stamp, delivery.payload)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signed,
            "user-agent": "Autopilot-Webhooks/1",
        }
        started = time.perf_counter()
        code, error = self._sender.post(
            subscription.url, delivery.payload.encode(), headers, TIMEOUT_S
        )
        latency = int((time.perf_counter() - started) * 1000)
        now = self._clock.now()
        ok = code is not None and 200 <= code < 300
        number = delivery.attempts + 1
        if not ok and error is None:
            error = f"answered {code}"
        attempt = WebhookAttempt(
            delivery_id=delivery.id,
            subscription_id=subscription.id,
            event=delivery.event,
            attempt=number,
            at=now,
            status_code=code,
            latency_ms=latency,
            error=None if ok else error,
        )
        with self._uow() as uow:
            if ok:
                uow.webhooks.record(attempt, status="Delivered", next_attempt_at=None)
                uow.webhooks.set_failing(subscription.id, None)
                uow.after_commit(lambda: telemetry.sink().webhook_attempt("delivered"))
                return
            if number > len(RETRIES):
                uow.webhooks.record(attempt, status="Failed", next_attempt_at=None)
                uow.after_commit(lambda: telemetry.sink().webhook_attempt("given_up"))
            else:
                uow.after_commit(lambda: telemetry.sink().webhook_attempt("retrying"))
                wait = RETRIES[number - 1] * self._rng.uniform(0.8, 1.2)  # jitter
                uow.webhooks.record(attempt, status="Pending", next_attempt_at=now + wait)
            since = subscription.failing_since or now
            uow.webhooks.set_failing(subscription.id, since)
            if now - since >= DISABLE_AFTER:
                uow.webhooks.disable(subscription.id, now)
