"""The pass driver: one way to execute due work, for every automation (DESIGN §5).

A pass is a loop of batches. Each batch is one transaction:

1. **claim** a page of due work, locked (:meth:`Automation.claim`);
2. **decide** each item in the domain and write the automation's own state
   (:meth:`Automation.decide`), an item's error becoming a failure, never the batch's;
3. **settle** the attempts: a failure is counted against its occurrence in
   ``automation_attempts``; the ``AUTOMATION_MAX_ATTEMPTS``-th gives the occurrence up
   (logged ``Skipped``, :meth:`Automation.give_up` moves the rule on); an outcome clears them;
4. **record** the outcomes (:func:`~autopilot.services.execution.outcomes.record_outcomes`:
   orders ``Pending`` with their holds, log rows) and commit;

and then the after-commit stage: the guide's log lines, the orders handed to the broker, and
the automation's own follow-up (:meth:`Automation.committed`).

When the database refuses a batch (a constraint, a trigger, a lock timeout: the rows, not the
connection), it is rolled back and its items are executed one by one, so the refusal is narrowed
down to the item it belongs to, which is counted as a failed attempt in a transaction of its own.
A database that is unreachable fails the pass: the loop tries again later.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, ClassVar, Generic, TypeVar

from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.access import SYSTEM, Caller
from autopilot.services.execution.outcomes import Occurrence, Outcome, placed, record_outcomes
from autopilot.services.execution.results import (
    PREFIX,
    PassResult,
    RuleResult,
    announce,
    failure_reason,
)
from autopilot.services.ports import Broker, Clock, RefusedByDatabase, UnitOfWork, UnitOfWorkFactory
from autopilot.services.records import GAVE_UP, FailedAttempts
from autopilot.services.submission import submit_committed

log = logging.getLogger("autopilot.scheduler")
U = TypeVar("U")


@dataclass(frozen=True, slots=True, kw_only=True)
class Work(Generic[U]):
    """One occurrence to execute: the rule (or trigger) it belongs to, locked by its claim.

    ``forced`` is a manual execution's: the rule's next occurrence runs now, due or not.
    """

    item: U
    automation_id: str
    client_id: int
    occurrence: date
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Claim(Generic[U]):
    """A page of due work, and where the next page starts (``None``: this was the last)."""

    work: Sequence[Work[U]]
    next_page: object | None


@dataclass(slots=True)
class Batch:
    """What one batch decided, to be written in its transaction."""

    automation_type: AutomationType
    subject: str
    triggered_by: str
    started_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[tuple[Work[Any], BaseException]] = field(default_factory=list)
    errors: dict[tuple[str, date], BaseException] = field(default_factory=dict)

    def occurrence(self, work: Work[U]) -> Occurrence:
        return Occurrence(
            automation_type=self.automation_type,
            automation_id=work.automation_id,
            client_id=work.client_id,
            day=work.occurrence,
            triggered_by=self.triggered_by,
            started_at=self.started_at,
        )

    def executing(self, work: Work[U]) -> None:
        """The guide's line, as an item's execution begins ("Executing auto-invest rule: …")."""
        log.info(
            "%s Executing %s: %s",
            PREFIX,
            self.subject[0].lower() + self.subject[1:],
            work.automation_id,
            extra={"action": "execution.started", "rule_id": work.automation_id},
        )

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def fail(self, work: Work[U], error: BaseException) -> None:
        """The item could not be executed: a failed attempt, counted when the batch settles."""
        self.failures.append((work, error))

    def results(self) -> list[RuleResult]:
        return [RuleResult.of(o.entry) for o in self.outcomes]


class Automation(ABC, Generic[U]):
    """What an automation plugs into the driver: how to claim its due work and decide it."""

    automation_type: ClassVar[AutomationType]
    subject: ClassVar[str]
    """How the guide's lines name one of it: "Auto-invest rule", "Trigger order"."""

    @abstractmethod
    def claim(
        self,
        uow: UnitOfWork,
        today: date,
        page: object | None,
        limit: int,
        client_id: int | None = None,
    ) -> Claim[U]:
        """Lock up to ``limit`` items of due work (of one client, if given) from ``page`` on
        (``None``: the first page)."""

    @abstractmethod
    def claim_one(
        self, uow: UnitOfWork, automation_id: str, today: date, *, forced: bool
    ) -> list[Work[U]]:
        """Lock one rule's due work, re-checked under the lock (another worker may have executed
        it meanwhile); ``forced``: its next occurrence, due or not."""

    @abstractmethod
    def decide(self, uow: UnitOfWork, work: Sequence[Work[U]], today: date, batch: Batch) -> None:
        """Decide each item, write the automation's own state, and add the outcomes (or the
        failures) to ``batch``."""

    @abstractmethod
    def give_up(self, uow: UnitOfWork, work: Work[U], today: date) -> None:
        """The occurrence failed its last allowed attempt: move the rule past it."""

    def before_pass(self, triggered_by: str) -> None:
        """What a pass over this automation does first (rebalancing: expire old proposals)."""

    def check_executable(self, uow: UnitOfWork, automation_id: str, caller: Caller) -> None:
        """Refuse a manual execution of a rule that is missing, the caller's not to see, or
        unable to execute (raise)."""

    def explain_refusal(self, uow: UnitOfWork, work: Work[U], today: date) -> bool:
        """Whether the database refused this item because its occurrence already has an outcome
        (executed elsewhere, or the rule's state was lost): then it is not a failed attempt."""
        return bool(uow.logs.with_outcome([work.automation_id], work.occurrence))

    def committed(self, batch: Batch) -> None:
        """After the batch's commit (and its orders' submission): the automation's follow-up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverPolicy:
    batch_size: int
    max_attempts: int
    lanes: int = 1
    """Batches in flight at once in a long pass (PostgreSQL: 2; SQLite has one writer)."""


@dataclass(slots=True)
class _Cursor:
    """Where a pass's next claim starts, shared by its lanes; done once a claim came back
    short (nothing due past it), or a lane failed."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    page: object | None = None
    done: bool = False

    def advance(self, next_page: object | None) -> None:
        if next_page is None:
            self.done = True
        else:
            self.page = next_page

    def fail(self, _error: BaseException) -> None:
        with self.lock:
            self.done = True


class _Lane(threading.Thread):
    """A lane of a pass in a thread of its own: its result, or what it raised."""

    def __init__(
        self, run: Callable[[], PassResult], on_error: Callable[[BaseException], None]
    ) -> None:
        super().__init__(name="autopilot-pass-lane", daemon=True)
        self._run = run
        self._on_error = on_error
        self.result = PassResult()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._run()
        except BaseException as exc:  # handed to the pass's own thread, which raises it
            self.error = exc
            self._on_error(exc)  # the other lanes stop after the batch in hand


@dataclass(slots=True)
class _Page(Generic[U]):
    """What a batch's claim took (for its retry one by one, if the database refuses it)."""

    work: Sequence[Work[U]] = ()


class PassDriver:
    def __init__(
        self, *, uow: UnitOfWorkFactory, broker: Broker, clock: Clock, policy: DriverPolicy
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._policy = policy

    def run_due(
        self,
        automation: Automation[U],
        today: date,
        *,
        triggered_by: str,
        should_stop: Callable[[], bool] = lambda: False,
        client_id: int | None = None,
    ) -> PassResult:
        """Execute every due item (of one client, if given), one batch transaction at a time,
        until none is left.

        A pass whose first batch is full goes on in ``policy.lanes`` lanes (threads, each with
        its own connection), so the database writes one batch while Python decides the next.
        The lanes claim from one shared cursor, under a lock, so no lane claims behind another
        and an item that failed is not tried again in the same pass, as with one lane.

        `should_stop` is asked between batches: a stopping scheduler commits the batches in
        hand and leaves the rest for the next pass.
        """
        cursor = _Cursor()
        result = PassResult()

        def lane(batches: int | None = None) -> PassResult:
            return self._lane(
                automation, today, triggered_by, should_stop, client_id, cursor, batches
            )

        result.merge(lane(batches=1))
        if cursor.done or should_stop():
            return result
        extra = [_Lane(lane, cursor.fail) for _ in range(self._policy.lanes - 1)]
        for thread in extra:
            thread.start()
        try:
            result.merge(lane())
        except BaseException as exc:
            cursor.fail(exc)
            raise
        finally:
            for thread in extra:
                thread.join()
        for thread in extra:
            if thread.error is not None:
                raise thread.error
            result.merge(thread.result)
        return result

    def _lane(
        self,
        automation: Automation[U],
        today: date,
        triggered_by: str,
        should_stop: Callable[[], bool],
        client_id: int | None,
        cursor: _Cursor,
        batches: int | None,
    ) -> PassResult:
        """Batches from the shared cursor until it is done (or ``batches`` of them)."""
        result = PassResult()
        size = self._policy.batch_size
        while batches is None or batches > 0:
            if batches is not None:
                batches -= 1
            claimed: _Page[U] = _Page()

            def claim(uow: UnitOfWork, into: _Page[U] = claimed) -> Sequence[Work[U]]:
                with cursor.lock:
                    if cursor.done:
                        return ()
                    found = automation.claim(uow, today, cursor.page, size, client_id)
                    into.work = found.work
                    cursor.advance(found.next_page)
                return found.work

            try:
                result.add(self._batch(automation, claim, today, triggered_by))
            except RefusedByDatabase as exc:
                if not claimed.work:
                    raise
                log.warning(
                    "%s batch of %d %s(s) rolled back (%s); retrying one by one",
                    PREFIX,
                    len(claimed.work),
                    automation.subject.lower(),
                    exc,
                    extra={"action": "batch.refused", "size": len(claimed.work)},
                )
                for work in claimed.work:
                    result.add(
                        self._single(
                            automation, work.automation_id, today, triggered_by, work.forced
                        )
                    )
            if cursor.done or should_stop():
                break
        return result

    def run_one(
        self, automation: Automation[U], automation_id: str, today: date, *, caller: Caller
    ) -> PassResult:
        """Manual execution: the rule's next occurrence now, whether due or not."""
        with self._uow() as uow:
            automation.check_executable(uow, automation_id, caller)
        result = PassResult()
        result.add(self._single(automation, automation_id, today, caller.triggered_by, True))
        return result

    def _single(
        self,
        automation: Automation[U],
        automation_id: str,
        today: date,
        triggered_by: str,
        forced: bool,
    ) -> list[RuleResult]:
        def claim(uow: UnitOfWork) -> Sequence[Work[U]]:
            return automation.claim_one(uow, automation_id, today, forced=forced)

        try:
            return self._batch(automation, claim, today, triggered_by)
        except RefusedByDatabase as exc:
            return self._refused(automation, claim, today, triggered_by, exc)

    def _batch(
        self,
        automation: Automation[U],
        claim: Callable[[UnitOfWork], Sequence[Work[U]]],
        today: date,
        triggered_by: str,
    ) -> list[RuleResult]:
        batch = self._new_batch(automation, triggered_by)
        with self._uow() as uow:
            work = claim(uow)
            if not work:
                return []
            automation.decide(uow, work, today, batch)
            self._settle(uow, automation, work, today, batch)
            record_outcomes(uow, batch.outcomes, self._clock.now())
        return self._after_commit(automation, batch)

    def _refused(
        self,
        automation: Automation[U],
        claim: Callable[[UnitOfWork], Sequence[Work[U]]],
        today: date,
        triggered_by: str,
        error: RefusedByDatabase,
    ) -> list[RuleResult]:
        """Count the attempt the database refused in a transaction of its own. A refusal that
        recording the attempt meets too fails the pass."""
        batch = self._new_batch(automation, triggered_by)
        with self._uow() as uow:
            work = claim(uow)
            for item in work:
                if not automation.explain_refusal(uow, item, today):
                    batch.fail(item, error)
            self._settle(uow, automation, work, today, batch)
            record_outcomes(uow, batch.outcomes, self._clock.now())
        return self._after_commit(automation, batch)

    def _new_batch(self, automation: Automation[U], triggered_by: str) -> Batch:
        return Batch(
            automation_type=automation.automation_type,
            subject=automation.subject,
            triggered_by=triggered_by,
            started_at=self._clock.now(),
        )

    def _settle(
        self,
        uow: UnitOfWork,
        automation: Automation[U],
        work: Sequence[Work[U]],
        today: date,
        batch: Batch,
    ) -> None:
        """Number the outcomes by attempt, count the failures, give up the exhausted ones."""
        known = uow.attempts.of(w.automation_id for w in work)
        done: set[str] = set()
        for i, outcome in enumerate(batch.outcomes):
            before = known.get(outcome.automation_id)
            if before is not None:
                entry = replace(
                    outcome.entry, attempt=before.before(outcome.entry.execution_date) + 1
                )
                batch.outcomes[i] = replace(outcome, entry=entry)
                done.add(outcome.automation_id)
        failing: list[FailedAttempts] = []
        for item, error in batch.failures:
            counted = self._fail(uow, automation, item, error, known, today, batch)
            if counted is None:
                done.add(item.automation_id)
            else:
                failing.append(counted)
        now = self._clock.now()
        uow.attempts.clear(done - {f.automation_id for f in failing})
        uow.attempts.save(failing, now)

    def _fail(
        self,
        uow: UnitOfWork,
        automation: Automation[U],
        work: Work[U],
        error: BaseException,
        known: dict[str, FailedAttempts],
        today: date,
        batch: Batch,
    ) -> FailedAttempts | None:
        """Log a failed attempt; the attempts counted so far, or None once given up."""
        before = known.get(work.automation_id)
        attempt = (0 if before is None else before.before(work.occurrence)) + 1
        reason = failure_reason(error)
        occurrence = batch.occurrence(work)
        limit = self._policy.max_attempts
        batch.add(
            occurrence.outcome(
                OutcomeStatus.FAILED,
                f"attempt {attempt} of {limit} failed",
                error=reason,
                attempt=attempt,
            )
        )
        batch.errors[(work.automation_id, work.occurrence)] = error
        if attempt < limit:
            return FailedAttempts(
                automation_type=automation.automation_type,
                automation_id=work.automation_id,
                client_id=work.client_id,
                occurrence=work.occurrence,
                count=attempt,
                last_error=reason,
            )
        automation.give_up(uow, work, today)
        batch.add(
            occurrence.outcome(
                OutcomeStatus.SKIPPED,
                f"{GAVE_UP} {attempt} failed attempt(s): {reason}",
                attempt=attempt,
            )
        )
        return None

    def _after_commit(self, automation: Automation[U], batch: Batch) -> list[RuleResult]:
        results = batch.results()
        announce(automation.subject, results, batch.errors)
        submit_committed(self._broker, placed(batch.outcomes))
        automation.committed(batch)
        return results


@dataclass(frozen=True, slots=True)
class Runner(Generic[U]):
    """One automation on the driver: what the scheduler, cron and manual execution call."""

    driver: PassDriver
    automation: Automation[U]
    heading: str
    """The guide's line before a pass over it: "Processing auto-invest rules..."."""

    def run_due(
        self,
        today: date,
        *,
        triggered_by: str,
        should_stop: Callable[[], bool] = lambda: False,
        client_id: int | None = None,
    ) -> PassResult:
        log.info("%s %s", PREFIX, self.heading, extra={"action": "pass.automation"})
        self.automation.before_pass(triggered_by)
        return self.driver.run_due(
            self.automation,
            today,
            triggered_by=triggered_by,
            should_stop=should_stop,
            client_id=client_id,
        )

    def run_one(
        self,
        rule_id: str,
        today: date,
        *,
        triggered_by: str | None = None,
        caller: Caller | None = None,
    ) -> PassResult:
        """Manual execution of one rule, for ``caller`` (or the system, logged as
        ``triggered_by``)."""
        who = caller or (SYSTEM if triggered_by is None else replace(SYSTEM, name=triggered_by))
        return self.driver.run_one(self.automation, rule_id, today, caller=who)
