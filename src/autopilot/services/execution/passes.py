"""A scheduler pass over every automation, and the execute command that cron and people send.

A pass first hands the broker the orders a crash or a broker outage left ``Pending``, then
executes the due auto-invest rules, then the due rebalancing rules, then evaluates every Active
trigger order against the latest prices. The in-process scheduler, ``autopilot run-once`` and
``POST /api/automation/scheduler/execute`` all come here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from autopilot.domain.errors import InvalidInput
from autopilot.services.access import SYSTEM, Caller
from autopilot.services.execution.driver import Runner
from autopilot.services.execution.results import PassResult
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory, market_today
from autopilot.services.submission import resubmit_pending
from autopilot.services.triggers.evaluation import TriggerEvaluator


class Kind(StrEnum):
    """What a pass or an execute command covers, in the order a pass runs them."""

    AUTO_INVEST = "auto-invest"
    REBALANCING = "rebalancing"
    TRIGGERS = "triggers"


ALL_KINDS = tuple(Kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecuteCommand:
    """Run due work now: one rule (``rule_id``), or every due rule of the kind (what cron
    sends); triggers execute for one client (``client_id``) or all."""

    kind: Kind
    rule_id: str | None = None
    client_id: int | None = None
    caller: Caller = SYSTEM
    """Who asks (its key is the log rows' ``triggered_by``); a client key runs its own client's
    rules alone."""


class PassService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        broker: Broker,
        clock: Clock,
        zone: ZoneInfo,
        auto_invest: Runner[Any],
        rebalancing: Runner[Any],
        triggers: TriggerEvaluator,
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._zone = zone
        self._runners = {Kind.AUTO_INVEST: auto_invest, Kind.REBALANCING: rebalancing}
        self._triggers = triggers

    def run(
        self,
        kinds: Collection[Kind] = ALL_KINDS,
        *,
        triggered_by: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> PassResult:
        """One pass as of now (the market's date), over ``kinds`` in pass order.

        ``should_stop`` is asked between batches: the batch in hand commits, the rest waits.
        """
        resubmit_pending(self._uow, self._broker)
        today = market_today(self._clock, self._zone)
        result = PassResult()
        for kind in ALL_KINDS:
            if kind not in kinds or should_stop():
                continue
            if kind is Kind.TRIGGERS:
                result.merge(self._triggers.run_all(client_id=None, triggered_by=triggered_by))
            else:
                runner = self._runners[kind]
                result.merge(
                    runner.run_due(today, triggered_by=triggered_by, should_stop=should_stop)
                )
        return result

    def execute(self, command: ExecuteCommand) -> PassResult:
        """One rule now, whether due or not; or, without a rule, what a pass of the kind does
        (first handing the broker what an earlier crash left ``Pending``)."""
        if command.kind is Kind.TRIGGERS and command.rule_id is not None:
            raise InvalidInput("rule_id", "triggers execute by client or all at once, not by rule")
        if command.kind is not Kind.TRIGGERS and command.client_id is not None:
            raise InvalidInput(
                "client_id", f"{command.kind} executes one rule, or every due rule; not by client"
            )
        caller = command.caller
        client_id = command.client_id
        if client_id is not None:
            caller.own(client_id, "client", client_id)
        elif caller.is_client:
            client_id = caller.client_id  # a client key's "every due rule" is its own client's
        if command.rule_id is None and not caller.is_client:
            resubmit_pending(self._uow, self._broker)
        triggered_by = caller.triggered_by
        if command.kind is Kind.TRIGGERS:
            return self._triggers.run_all(client_id=client_id, triggered_by=triggered_by)
        today = market_today(self._clock, self._zone)
        runner = self._runners[command.kind]
        if command.rule_id is not None:
            return runner.run_one(command.rule_id, today, caller=caller)
        return runner.run_due(today, triggered_by=triggered_by, client_id=client_id)
