"""Webhooks on SQLite and PostgreSQL: the outbox written with the execution, signed delivery to a
real local receiver, retries with backoff, giving up, disabling, and never inside a pass."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.errors import InvalidInput
from autopilot.services.webhooks import RETRIES
from autopilot.storage import webhooks_repo
from tests.support.receiver import receiver
from tests.support.services import START, Investor, SettableClock, count_rows, spec
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres


def test_an_execution_is_delivered_once_signed_as_standard_webhooks_say(
    services: Services, investor: Investor
) -> None:
    with receiver() as hook:
        made = services.webhooks.subscribe(hook.url, ["execution.succeeded"])
        assert made.secret.startswith("whsec_")
        rule = services.rules.create(spec(investor)).rule
        services.auto_invest.run_due(START, triggered_by="scheduler")
        assert hook.got == []  # the pass only wrote the outbox

        assert services.dispatcher.deliver_due() == 1
        assert services.dispatcher.deliver_due() == 0  # delivered: not again
    [got] = hook.got
    assert got.verified(made.secret)
    assert not got.verified("whsec_" + "A" * 44)
    event = got.event
    assert event["type"] == "execution.succeeded"
    assert (event["data"]["automationId"], event["data"]["status"]) == (rule.id, "Success")
    assert event["data"]["orderIds"] and event["data"]["triggeredBy"] == "scheduler"
    [attempt], total = services.webhooks.attempts(made.record.id, page=1, page_size=10)
    assert (total, attempt.status_code, attempt.error, attempt.attempt) == (1, 200, None, 1)
    assert attempt.delivery_id == got.headers["webhook-id"]


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    with receiver() as hook:
        hook.status = 500
        made = services.webhooks.subscribe(hook.url, ["execution.succeeded"])
        services.rules.create(spec(investor))
        services.auto_invest.run_due(START, triggered_by="scheduler")
        for number, wait in enumerate(RETRIES, start=1):
            assert services.dispatcher.deliver_due() == 1, number
            assert services.dispatcher.deliver_due() == 0  # not due again before its backoff
            clock.at += wait * 0.79
            assert services.dispatcher.deliver_due() == 0, f"retried early after {number}"
            clock.at += wait * 0.42  # past the jitter's 120%
        assert services.dispatcher.deliver_due() == 1  # the last attempt
        clock.at += timedelta(days=1)
        assert services.dispatcher.deliver_due() == 0  # given up
    assert len(hook.got) == len(RETRIES) + 1
    assert len({g.headers["webhook-id"] for g in hook.got}) == 1  # one delivery, retried
    attempts, total = services.webhooks.attempts(made.record.id, page=1, page_size=50)
    assert total == len(RETRIES) + 1
    assert {(a.status_code, a.error) for a in attempts} == {(500, "answered 500")}
    sub = services.webhooks.get(made.record.id)
    assert sub.failing_since is not None and sub.disabled_at is None  # 17 h of failures


def test_a_subscription_failing_for_three_days_is_disabled(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    with receiver() as hook:
        hook.status = 503
        made = services.webhooks.subscribe(hook.url, ["execution.succeeded", "execution.skipped"])
        services.rules.create(spec(investor))
        services.auto_invest.run_due(START, triggered_by="scheduler")
        services.dispatcher.deliver_due()
        clock.at += timedelta(days=3, minutes=1)
        services.webhooks.pass_failed("the database is down")  # not subscribed: no delivery
        services.rules.create(spec(investor, amount="50.00"))
        services.auto_invest.run_due(START + timedelta(days=3), triggered_by="scheduler")
        services.dispatcher.deliver_due()
        assert services.webhooks.get(made.record.id).disabled_at is not None
        clock.at += timedelta(days=1)
        assert services.dispatcher.deliver_due() == 0  # nothing pending for it any more


def test_an_execution_rolled_back_sends_nothing(
    services: Services, investor: Investor, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver() as hook:
        services.webhooks.subscribe(hook.url, ["execution.succeeded"])
        services.rules.create(spec(investor))
        original = webhooks_repo.Webhooks.enqueue

        def enqueue_then_fail(self: webhooks_repo.Webhooks, deliveries: object) -> None:
            original(self, deliveries)  # type: ignore[arg-type]
            raise RuntimeError("the transaction dies after the outbox row is written")

        monkeypatch.setattr(webhooks_repo.Webhooks, "enqueue", enqueue_then_fail)
        with pytest.raises(RuntimeError):
            services.auto_invest.run_due(START, triggered_by="scheduler")
        monkeypatch.undo()
        assert count_rows(services, "automation_execution_logs") == 0  # rolled back with it
        assert count_rows(services, "webhook_deliveries") == 0
        assert services.dispatcher.deliver_due() == 0
    assert hook.got == []


def test_a_receiver_that_hangs_holds_up_the_dispatcher_alone(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    with receiver() as hook:
        hook.hold = threading.Event()
        services.webhooks.subscribe(hook.url, ["execution.succeeded"])
        services.rules.create(spec(investor))
        services.auto_invest.run_due(START, triggered_by="scheduler")
        sending = threading.Thread(target=services.dispatcher.deliver_due)
        sending.start()  # posts the first event and waits for the receiver's answer
        wait_for(lambda: hook.got, what="the receiver to hold the first delivery")

        later = START + timedelta(days=30)
        clock.at += timedelta(days=30)
        services.rules.create(spec(investor, amount="20.00", start_date=later))
        result = services.auto_invest.run_due(later, triggered_by="scheduler")

        assert sum(result.counts.values()) >= 1  # the pass ran to its end meanwhile
        assert sending.is_alive() and len(hook.got) == 1  # still waiting on the receiver
        hook.hold.set()
        sending.join(30)
        assert not sending.is_alive()


def test_bad_subscriptions_are_refused_naming_the_field(services: Services) -> None:
    with pytest.raises(InvalidInput, match="url"):
        services.webhooks.subscribe("ftp://example.com/x", ["execution.failed"])
    with pytest.raises(InvalidInput, match="events"):
        services.webhooks.subscribe("http://127.0.0.1:9/x", [])
    with pytest.raises(InvalidInput, match="events"):
        services.webhooks.subscribe("http://127.0.0.1:9/x", ["execution.exploded"])
