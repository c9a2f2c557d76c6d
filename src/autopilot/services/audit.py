"""The audit trail (DESIGN §4 ``audit_events``): who changed what, in the change's transaction.

A service that changes something on a caller's behalf calls :func:`audit` in the same unit of
work as the change, so the change and its event commit together or not at all. A call that is
refused (a bad key, a forbidden role, another client's object, a rate limit) or fails records
its event on its own, through :class:`AuditTrail` (the API does that, once per call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from autopilot.services.access import Caller
from autopilot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.records import AuditEvent, AuditFilter, AuditRecord

SECRET_FIELDS = frozenset({"key", "key_hash", "secret"})


class Subject(Protocol):
    """What a change is made to: an object with an id, of a client (or of none)."""

    @property
    def id(self) -> object: ...

    @property
    def client_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Named:
    """A subject given by its id (and client), for what has no record of that shape."""

    id: object
    client_id: int | None = None


def audit(
    uow: UnitOfWork,
    caller: Caller,
    action: str,
    subject: Subject,
    now: datetime,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Record a successful change made for ``caller`` in the caller's transaction (nothing for
    the scheduler's own work): ``action`` names the resource type and the verb
    (``auto_invest_rule.update``), ``subject`` the object and the client it belongs to."""
    if not caller.audited:
        return
    request = caller.request
    uow.audit.add(
        event(
            caller,
            action=action,
            resource_type=resource_of(action),
            resource_id=subject.id,
            client_id=subject.client_id,
            outcome="success",
            status_code=request.success_status if request else 0,
            at=now,
            changes=changes,
        )
    )
    caller.note.recorded = True


def resource_of(action: str) -> str:
    """The resource type an action acts on: ``auto_invest_rule`` of ``auto_invest_rule.create``."""
    return action.split(".", 1)[0]


def event(
    caller: Caller,
    *,
    action: str,
    resource_type: str | None,
    resource_id: object,
    client_id: int | None,
    outcome: str,
    status_code: int,
    at: datetime,
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    request = caller.request
    agent = None if request is None or request.user_agent is None else request.user_agent[:400]
    return AuditEvent(
        at=at,
        actor_key_id=caller.key_id,
        actor_name=caller.name,
        actor_role=caller.role.value,
        actor_client_id=caller.client_id,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id)[:80],
        client_id=client_id,
        outcome=outcome,
        status_code=status_code,
        request_id=None if request is None else request.request_id,
        address=None if request is None else request.address,
        user_agent=agent,
        changes=None if changes is None else dict(changes),
    )


def changes_between(before: object, after: object) -> dict[str, Any]:
    """What an update changed, field by field: ``{"amount": {"before": "500.00", "after":
    "250.00"}}``, values as JSON text (never a secret field)."""
    assert is_dataclass(before) and is_dataclass(after)
    changed: dict[str, Any] = {}
    for f in fields(before):
        if f.name in SECRET_FIELDS:
            continue
        old, new = getattr(before, f.name), getattr(after, f.name, None)
        if old != new:
            changed[f.name] = {"before": plain(old), "after": plain(new)}
    return changed


def plain(value: Any) -> Any:
    """A value as JSON holds it: decimals, dates and enums as text, tuples as lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | date | datetime):
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    return str(value)


class AuditTrail:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def record(self, entry: AuditEvent) -> None:
        """Append an event in a transaction of its own (a refused or failed call's)."""
        with self._uow() as uow:
            uow.audit.add(entry)

    def search(
        self, where: AuditFilter, *, page: int, page_size: int
    ) -> tuple[list[AuditRecord], int]:
        with self._uow(read_only=True) as uow:
            return uow.audit.search(where, offset=(page - 1) * page_size, limit=page_size)

    def now(self) -> datetime:
        return self._clock.now()
