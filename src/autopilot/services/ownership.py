"""The checks that keep a client key to its own client's objects (DESIGN §6 "Isolation").

Another client's object is :class:`~autopilot.services.access.Hidden`: answered exactly as a
missing one. A rule, order or trigger is created only on an account the caller sees.
"""

from __future__ import annotations

from autopilot.services.access import NOBODY, Caller, Hidden, Nobody
from autopilot.services.ports import UnitOfWork
from autopilot.services.records import AccountRecord


def visible_account(uow: UnitOfWork, caller: Caller, account_id: int) -> AccountRecord | None:
    """The account, if there is one the caller sees. Another client's is hidden; so is a
    missing one from a client key, so that the two answer alike (an admin's missing account is
    the caller's to report, naming the field)."""
    account = uow.accounts.get(account_id)
    if account is None:
        if caller.is_client:
            raise Hidden("account", account_id)
        return None
    if not caller.sees(account.client_id):
        raise Hidden("account", account_id, owner=account.client_id)
    return account


def own_client(caller: Caller, client_id: int) -> None:
    """A client key acts for its own client alone: another client is as if missing."""
    caller.own(client_id, "client", client_id)


def listed(caller: Caller, client_id: int | None) -> int | Nobody | None:
    """The client a list is filtered to for this caller (:data:`NOBODY`: an empty list)."""
    return caller.scope(client_id)


__all__ = ["NOBODY", "listed", "own_client", "visible_account"]
