"""Who is asking, and what of the data they may see (DESIGN §6 "Security").

Every service call that a person or a program makes through the API carries a :class:`Caller`:
the key it authenticated with, that key's role and client, and the request it came in. The
services use it for isolation (a client key sees its own client's objects alone; another
client's object is :class:`Hidden`, answered exactly as a missing one) and for the audit trail;
what a role may call at all is the API's to check (``api/security.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from autopilot.domain.errors import NotFound


class Role(StrEnum):
    ADMIN = "admin"
    """Everything."""
    OPERATOR = "operator"
    """Reads everything, changes nothing."""
    CLIENT = "client"
    """Its own client's accounts, orders, rules, proposals and logs."""
    MARKET_DATA = "market-data"
    """Posts prices, nothing else."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestInfo:
    """Where a call came from, as the audit trail records it."""

    request_id: str
    address: str | None = None
    user_agent: str | None = None
    success_status: int = 200
    """The status the call answers when it succeeds (201 for a create)."""


@dataclass(slots=True)
class AuditNote:
    """Whether the call's audit event is written already (with its change, in the change's own
    transaction): the API then writes none for it."""

    recorded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    role: Role
    name: str
    key_id: int | None = None
    client_id: int | None = None
    request: RequestInfo | None = None
    note: AuditNote = field(default_factory=AuditNote, compare=False)

    @property
    def is_client(self) -> bool:
        return self.role is Role.CLIENT

    @property
    def audited(self) -> bool:
        """Whether this caller's changes go to the audit trail: a key's or the CLI's, not the
        scheduler's own work (the execution log records that)."""
        return self.key_id is not None or self.name == "cli"

    @property
    def triggered_by(self) -> str:
        """How the execution log names this caller (DESIGN §4 ``triggered_by``)."""
        return f"key:{self.key_id}" if self.key_id is not None else self.name

    def sees(self, client_id: int) -> bool:
        """Whether an object of ``client_id`` is visible to this caller."""
        return not self.is_client or client_id == self.client_id

    def own(self, client_id: int, what: str, key: object) -> None:
        """Refuse an object of another client as if it did not exist."""
        if not self.sees(client_id):
            raise Hidden(what, key, owner=client_id)

    def scope(self, client_id: int | None) -> int | Nobody | None:
        """The client a list is filtered to: a client key's own (whatever it asked for:
        another client's ``clientId`` finds nothing), or what the caller asked for."""
        if not self.is_client:
            return client_id
        if client_id is not None and client_id != self.client_id:
            return NOBODY
        return self.client_id


class Nobody:
    """A list filter no object matches (a client key asking for another client's)."""


NOBODY = Nobody()

SYSTEM = Caller(role=Role.ADMIN, name="scheduler")
"""The service itself (the scheduler, tests): every object, and no audit event."""
CLI = Caller(role=Role.ADMIN, name="cli")
"""The operator at the command line, on the database directly: audited as ``cli``."""


class Hidden(NotFound):
    """Another client's object: answered exactly as a missing one (``NotFound``), and recorded in
    the audit trail as refused by isolation, under ``owner``, the client it belongs to (None: no
    client's, or none there)."""

    def __init__(self, what: str, key: object, *, owner: int | None = None) -> None:
        super().__init__(what, key)
        self.owner = owner
