"""Keys, isolation and the audit trail in the services, on SQLite and PostgreSQL (DESIGN §6).

What the API builds on: a key is refused once revoked or expired; a change and its audit event
commit together or not at all; the database itself refuses to change or remove an audit event;
the rate-limit counters are one budget for every process on the database.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from autopilot.bootstrap import Services
from autopilot.services.access import Caller, Hidden, RequestInfo, Role
from autopilot.services.auto_invest.rules import RuleChanges
from autopilot.services.keys import Unauthenticated, hash_key
from autopilot.services.limits import RateLimit
from autopilot.services.records import AuditEvent, AuditFilter
from autopilot.storage import security_repo
from tests.support.services import Investor, MakeServices, SettableClock, count_rows, spec

pytestmark = pytest.mark.postgres


def key_caller(services: Services, role: Role, client_id: int | None = None) -> Caller:
    made = services.keys.create(name=f"{role} key", role=role, client_id=client_id)
    return services.keys.authenticate(made.key, RequestInfo(request_id="r-1", success_status=201))


def events(services: Services, **where: object) -> list[AuditEvent]:
    records, _ = services.audit.search(AuditFilter(**where), page=1, page_size=100)  # type: ignore[arg-type]
    return [r.event for r in records]


def test_a_key_is_refused_once_revoked_or_expired_and_only_its_hash_is_stored(
    services: Services, clock: SettableClock
) -> None:
    lasting = services.keys.create(name="lasting", role=Role.OPERATOR)
    brief = services.keys.create(name="brief", role=Role.OPERATOR, expires_in_days=1)
    assert services.keys.authenticate(lasting.key).key_id == lasting.record.id
    assert services.keys.authenticate(brief.key).key_id == brief.record.id

    clock.at += timedelta(days=1, seconds=1)
    with pytest.raises(Unauthenticated):
        services.keys.authenticate(brief.key)
    services.keys.revoke(lasting.record.id)
    with pytest.raises(Unauthenticated):
        services.keys.authenticate(lasting.key)

    with services.uow() as uow:
        stored = {
            row.key_hash for row in uow.connection.execute(sa.text("SELECT key_hash FROM api_keys"))
        }
    assert stored == {hash_key(lasting.key), hash_key(brief.key)}


def test_a_change_and_its_audit_event_commit_together(
    services: Services, investor: Investor, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = key_caller(services, Role.ADMIN)
    rule = services.rules.create(spec(investor), caller=admin)
    [made] = events(services, action="auto_invest_rule.create")
    assert (made.actor_key_id, made.actor_role, made.resource_id) == (
        admin.key_id,
        "admin",
        rule.rule.id,
    )
    assert (made.outcome, made.status_code, made.request_id) == ("success", 201, "r-1")
    assert made.client_id == investor.client_id

    changed = services.rules.update(
        rule.rule.id, RuleChanges(amount=Decimal("250.00")), caller=key_caller(services, Role.ADMIN)
    )
    [update] = events(services, action="auto_invest_rule.update")
    assert update.changes is not None
    assert update.changes["amount"] == {"before": "100.00", "after": "250.00"}

    def refuse(self: object, event: AuditEvent) -> None:
        raise RuntimeError("the audit insert failed")

    monkeypatch.setattr(security_repo.AuditEvents, "add", refuse)
    before = count_rows(services, "auto_invest_rules")
    with pytest.raises(RuntimeError):
        services.rules.create(spec(investor), caller=key_caller(services, Role.ADMIN))
    with pytest.raises(RuntimeError):
        services.rules.update(
            rule.rule.id,
            RuleChanges(amount=Decimal("900.00")),
            caller=key_caller(services, Role.ADMIN),
        )
    assert count_rows(services, "auto_invest_rules") == before
    assert services.rules.get(rule.rule.id).rule.amount == changed.rule.amount == Decimal("250.00")


def test_a_key_made_by_a_client_key_expires_no_later_than_its_maker(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    made = services.keys.create(
        name="brief", role=Role.CLIENT, client_id=investor.client_id, expires_in_days=1
    )
    maker = services.keys.authenticate(made.key)
    lasting = services.keys.create(
        name="asks for ever", role=Role.CLIENT, client_id=investor.client_id, caller=maker
    )
    longer = services.keys.create(
        name="asks for a year",
        role=Role.CLIENT,
        client_id=investor.client_id,
        expires_in_days=365,
        caller=maker,
    )
    sooner = services.keys.create(
        name="asks for an hour less",
        role=Role.CLIENT,
        client_id=investor.client_id,
        expires_in_days=1,
        caller=maker,
    )
    assert lasting.record.expires_at == longer.record.expires_at == made.record.expires_at
    assert sooner.record.expires_at is not None and made.record.expires_at is not None
    assert sooner.record.expires_at <= made.record.expires_at

    clock.at += timedelta(days=1, seconds=1)
    for key in (made, lasting, longer, sooner):
        with pytest.raises(Unauthenticated):
            services.keys.authenticate(key.key)


def test_another_clients_account_is_refused_and_nothing_is_written(
    services: Services, investor: Investor
) -> None:
    other = services.platform.create_client("Someone Else", "else@example.com")
    intruder = key_caller(services, Role.CLIENT, client_id=other.id)
    before = count_rows(services, "auto_invest_rules"), count_rows(services, "audit_events")
    with pytest.raises(Hidden):
        services.rules.create(spec(investor), caller=intruder)  # for the other client
    theirs = Investor(client_id=other.id, account_id=investor.account_id)
    with pytest.raises(Hidden) as refused:
        services.rules.create(spec(theirs), caller=intruder)  # its own client, their account
    # From a client key, a missing account answers the same: nothing tells the two apart.
    missing = Investor(client_id=other.id, account_id=investor.account_id + 10_000)
    with pytest.raises(Hidden) as not_there:
        services.rules.create(spec(missing), caller=intruder)
    assert str(refused.value) == str(not_there.value).replace(
        str(missing.account_id), str(investor.account_id)
    )
    assert (
        count_rows(services, "auto_invest_rules"),
        count_rows(services, "audit_events"),
    ) == before


def test_the_database_refuses_to_change_or_remove_an_audit_event(
    services: Services, investor: Investor, db_url: str
) -> None:
    services.rules.create(spec(investor), caller=key_caller(services, Role.ADMIN))
    engine = sa.create_engine(db_url)
    statements = [
        "UPDATE audit_events SET outcome = 'success'",
        "DELETE FROM audit_events",
        # An insert that collides with an event and overwrites it: an update by other means.
        "INSERT INTO audit_events (id, at, actor_name, actor_role, action, outcome, status_code)"
        " SELECT id, at, 'x', 'x', 'x', 'x', 0 FROM audit_events WHERE true"
        " ON CONFLICT (id) DO UPDATE SET actor_name = excluded.actor_name",
    ]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")
    else:  # SQLite's REPLACE deletes the row it collides with, firing no DELETE trigger
        copy = "SELECT id, at, 'x', 'x', 'x', 'x', 0 FROM audit_events"
        columns = "(id, at, actor_name, actor_role, action, outcome, status_code)"
        statements += [
            f"REPLACE INTO audit_events {columns} {copy}",
            f"INSERT OR REPLACE INTO audit_events {columns} {copy}",
        ]
    try:
        for statement in statements:
            with pytest.raises(sa.exc.DatabaseError) as refused, engine.begin() as connection:
                connection.execute(sa.text(statement))
            assert "append-only" in str(refused.value)
        with engine.connect() as connection:
            names = {
                r.actor_name for r in connection.execute(sa.text("SELECT * FROM audit_events"))
            }
    finally:
        engine.dispose()
    assert names and "x" not in names


def test_two_services_on_one_database_draw_on_one_rate_limit_budget(
    make_services: MakeServices,
) -> None:
    first, second = make_services(), make_services()
    limit = RateLimit.parse("api", "5/day")
    decisions = [s.limiter.hit(limit, "key:7") for s in (first, second) * 4]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert first.limiter.hit(limit, "key:8").allowed  # another key's budget is its own
