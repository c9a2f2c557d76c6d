"""The services under the dashboard, on SQLite and PostgreSQL: sessions opened with an API key
(and ended with it), and the overview's numbers (a client's own alone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from autopilot.bootstrap import Services
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.access import Role
from autopilot.services.keys import Unauthenticated, hash_key
from autopilot.services.operations import history_of
from autopilot.services.records import HourlyCount, LogEntry
from autopilot.services.sessions import (
    SESSION_TTL,
    NoDashboard,
    csrf_matches,
    csrf_token,
)
from tests.support.services import SettableClock

pytestmark = pytest.mark.postgres


def test_a_session_is_the_key_that_opened_it_until_signed_out(services: Services) -> None:
    made = services.keys.create(name="ops", role=Role.OPERATOR)
    session = services.sessions.sign_in(made.key)

    caller = services.sessions.caller(session.token)
    assert (caller.role, caller.key_id) == (Role.OPERATOR, made.record.id)
    assert session.token != made.key
    with services.uow() as uow:
        stored = uow.connection.execute(sa.text("SELECT token_hash FROM dashboard_sessions"))
        assert [row.token_hash for row in stored] == [hash_key(session.token)]

    services.sessions.sign_out(session.token)
    with pytest.raises(Unauthenticated):
        services.sessions.caller(session.token)
    services.sessions.sign_out(session.token)  # twice is fine


def test_a_revoked_or_expired_key_ends_its_sessions_and_a_session_outlives_neither(
    services: Services, clock: SettableClock
) -> None:
    revoked = services.keys.create(name="a", role=Role.ADMIN)
    brief = services.keys.create(name="b", role=Role.OPERATOR, expires_in_days=1)
    lasting = services.keys.create(name="c", role=Role.OPERATOR)
    first = services.sessions.sign_in(revoked.key)
    third = services.sessions.sign_in(lasting.key)
    assert third.expires_at == clock.now() + SESSION_TTL

    services.keys.revoke(revoked.record.id)
    with pytest.raises(Unauthenticated):
        services.sessions.caller(first.token)

    clock.at += timedelta(hours=20)  # past the lasting key's session; 4 h left of the brief key
    with pytest.raises(Unauthenticated):
        services.sessions.caller(third.token)
    second = services.sessions.sign_in(brief.key)
    assert brief.record.expires_at is not None
    assert second.expires_at == brief.record.expires_at  # not 12 h from now
    assert services.sessions.caller(second.token).key_id == brief.record.id

    clock.at += timedelta(hours=4)  # the key expired: so did its session, with it
    with pytest.raises(Unauthenticated):
        services.sessions.caller(second.token)


def test_a_bad_key_a_market_data_key_or_a_forged_token_opens_nothing(
    services: Services,
) -> None:
    feed = services.keys.create(name="feed", role=Role.MARKET_DATA)
    for bad in (None, "", "ap_" + "x" * 43, "nonsense"):
        with pytest.raises(Unauthenticated):
            services.sessions.sign_in(bad)
    with pytest.raises(NoDashboard, match="market-data"):
        services.sessions.sign_in(feed.key)
    for forged in (None, "", "x" * 43, "y" * 500):
        with pytest.raises(Unauthenticated):
            services.sessions.caller(forged)


def test_the_csrf_token_is_the_sessions_own() -> None:
    assert csrf_matches("session-a", csrf_token("session-a"))
    assert not csrf_matches("session-b", csrf_token("session-a"))
    assert not csrf_matches("session-a", None)
    assert not csrf_matches("session-a", "")


def _log(client_id: int, status: OutcomeStatus, rule: str) -> LogEntry:
    return LogEntry(
        automation_type=AutomationType.AUTO_INVEST,
        automation_id=rule,
        client_id=client_id,
        execution_date=datetime(2026, 6, 1).date(),
        status=status,
        message="attempt 1 of 3 failed" if status is OutcomeStatus.FAILED else "done",
        triggered_by="test",
        attempt=1,
        started_at=datetime(2026, 6, 1, tzinfo=UTC),
    )


def test_the_overview_counts_the_last_48_hours_by_status_and_a_client_sees_its_own(
    services: Services, clock: SettableClock
) -> None:
    now = clock.now()
    with services.uow() as uow:
        uow.logs.add_many([_log(1, OutcomeStatus.SUCCESS, "AUTO-OLD")], now - timedelta(hours=49))
        uow.logs.add_many(
            [_log(1, OutcomeStatus.SUCCESS, "AUTO-A"), _log(1, OutcomeStatus.FAILED, "AUTO-B")],
            now - timedelta(minutes=1),
        )
        uow.logs.add_many([_log(2, OutcomeStatus.SUCCESS, "AUTO-C")], now - timedelta(hours=5))
    client = services.platform.create_client("Ada", None)
    assert client.id == 1
    key = services.keys.create(name="ada", role=Role.CLIENT, client_id=client.id)
    ada = services.keys.authenticate(key.key)
    today = now.date()

    everyone = services.operations.overview(today).history
    own = services.operations.overview(today, caller=ada).history

    assert len(everyone.hours) == 48 and everyone.hours[-1] <= now < everyone.hours[-1] + timedelta(
        hours=1
    )
    assert everyone.total() == 3 and everyone.total(24) == 3 and everyone.total(4) == 2
    assert everyone.by_status[OutcomeStatus.SUCCESS][-6] == 1  # 5 hours ago
    assert everyone.failure_rate(4) == Decimal("0.5")
    assert everyone.failure_rate() == Decimal(1) / Decimal(3)
    assert own.total() == 2 and own.by_status[OutcomeStatus.SUCCESS][-6] == 0


def test_history_puts_each_hour_in_its_slot_and_leaves_the_others_at_zero() -> None:
    now = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    hour = datetime(2026, 12, 1, 10, tzinfo=UTC)
    rows = [
        HourlyCount(hour=hour, status=OutcomeStatus.FAILED, count=2),
        HourlyCount(hour=hour - timedelta(hours=47), status=OutcomeStatus.SUCCESS, count=5),
        HourlyCount(hour=hour - timedelta(hours=48), status=OutcomeStatus.SUCCESS, count=9),
    ]
    history = history_of(rows, now)
    assert history.hours[0] == hour - timedelta(hours=47) and history.hours[-1] == hour
    assert history.by_status[OutcomeStatus.SUCCESS][0] == 5
    assert history.by_status[OutcomeStatus.FAILED][-1] == 2
    assert history.total() == 7  # the hour before the window is not in it
    assert history_of([], now).failure_rate() is None


def test_every_action_the_dashboard_checks_is_a_grant_of_the_api(services: Services) -> None:
    """The dashboard asks the API's grants by name; a name no route has would refuse every
    role but admin without a word, so each one it uses must exist."""
    from autopilot.api.app import create_app
    from autopilot.api.dashboard import pages
    from autopilot.api.dashboard.web import grants_of

    grants = grants_of(create_app(services, run_scheduler=False))
    used = {
        *pages.LIST_ACTION.values(),
        *(a.replace(".list", ".get") for a in pages.LIST_ACTION.values()),
        *(
            f"{noun}.{verb}"
            for noun in ("auto_invest_rule", "rebalancing_rule", "trigger_order")
            for verb in ("pause", "resume")
        ),
        "scheduler.status",
        "scheduler.execute",
        "execution_log.list",
        "order.get",
        "rebalancing_proposal.list",
        "rebalancing_proposal.approve",
        "rebalancing_proposal.reject",
    }
    assert used - set(grants) == set()
    assert Role.OPERATOR in grants["execution_log.list"].roles
    assert Role.OPERATOR not in grants["auto_invest_rule.pause"].roles
