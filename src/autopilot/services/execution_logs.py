"""Reading the execution log."""

from __future__ import annotations

from autopilot.services.ports import UnitOfWorkFactory
from autopilot.services.records import LogFilter, LogRecord


class ExecutionLogService:
    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def search(self, where: LogFilter, *, page: int, page_size: int) -> tuple[list[LogRecord], int]:
        with self._uow() as uow:
            return uow.logs.search(where, offset=(page - 1) * page_size, limit=page_size)
