"""Reading the execution log."""

from __future__ import annotations

from dataclasses import replace

from autopilot.domain.outcomes import AutomationType
from autopilot.services.access import SYSTEM, Caller, Nobody
from autopilot.services.ports import UnitOfWorkFactory
from autopilot.services.records import LogFilter, LogRecord


class ExecutionLogService:
    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def still_failing(
        self, where: LogFilter, *, limit: int, caller: Caller = SYSTEM
    ) -> list[tuple[AutomationType, str]]:
        """The rules with a failure matching ``where`` that is not resolved yet, at most
        ``limit`` of them; a client key's own alone."""
        scope = caller.scope(where.client_id)
        if isinstance(scope, Nobody):
            return []
        with self._uow(read_only=True) as uow:
            return uow.logs.still_failing(replace(where, client_id=scope), limit=limit)

    def search(
        self, where: LogFilter, *, page: int, page_size: int, caller: Caller = SYSTEM
    ) -> tuple[list[LogRecord], int]:
        """A page of the log; a client key's is of its own client (another's finds nothing)."""
        scope = caller.scope(where.client_id)
        if isinstance(scope, Nobody):
            return [], 0
        with self._uow(read_only=True) as uow:
            return uow.logs.search(
                replace(where, client_id=scope), offset=(page - 1) * page_size, limit=page_size
            )
