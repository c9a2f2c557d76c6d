"""What a pass or a manual execution reports (counts, the first outcomes), and the operator's
guide's log lines for each outcome (DESIGN §7).

Every log call of the scheduler carries a stable ``action`` (``extra={"action": ...}``) that
tests and log pipelines match on; the message text is the guide's, for people who grep.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from autopilot.domain.outcomes import OutcomeStatus
from autopilot.services.records import LogEntry

PREFIX = "[Automation Scheduler]"  # every scheduler log line starts so (DESIGN §7)
log = logging.getLogger("autopilot.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleResult:
    """What one log row says happened to one occurrence."""

    rule_id: str
    client_id: int
    occurrence: date
    status: OutcomeStatus
    order_ids: tuple[str, ...] = ()
    message: str = ""
    error: str | None = None

    @classmethod
    def of(cls, entry: LogEntry) -> RuleResult:
        return cls(
            rule_id=entry.automation_id,
            client_id=entry.client_id,
            occurrence=entry.execution_date,
            status=entry.status,
            order_ids=entry.order_ids,
            message=entry.message,
            error=entry.error,
        )


def _no_counts() -> dict[OutcomeStatus, int]:
    return dict.fromkeys(OutcomeStatus, 0)


@dataclass(slots=True)
class PassResult:
    """Counts of a pass by status, and the details of its first `detail_limit` outcomes.

    A pass over a million rules keeps its memory to one batch: beyond the limit only the
    counts grow (every outcome is in the execution log anyway).
    """

    detail_limit: int = 1000
    results: list[RuleResult] = field(default_factory=list)
    counts: dict[OutcomeStatus, int] = field(default_factory=_no_counts)

    def add(self, results: Sequence[RuleResult]) -> None:
        room = self.detail_limit - len(self.results)
        if room > 0:
            self.results.extend(results[:room])
        for r in results:
            self.counts[r.status] += 1

    def only_client(self) -> int | None:
        """The client whose rules the outcomes listed are all of, if there is exactly one."""
        clients = {r.client_id for r in self.results}
        return next(iter(clients)) if len(clients) == 1 else None

    def merge(self, other: PassResult) -> None:
        """Add another pass's outcomes (auto-invest, then rebalancing) to this one."""
        room = self.detail_limit - len(self.results)
        if room > 0:
            self.results.extend(other.results[:room])
        for status, count in other.counts.items():
            self.counts[status] += count

    def of(self, status: OutcomeStatus) -> list[RuleResult]:
        return [r for r in self.results if r.status == status]

    @property
    def truncated(self) -> bool:
        return len(self.results) < sum(self.counts.values())


_ACTIONS = {
    OutcomeStatus.SUCCESS: "execution.succeeded",
    OutcomeStatus.SKIPPED: "execution.skipped",
    OutcomeStatus.FAILED: "execution.failed",
    OutcomeStatus.PENDING_APPROVAL: "execution.pending_approval",
}


def announce(
    subject: str,
    results: Sequence[RuleResult],
    errors: Mapping[tuple[str, date], BaseException] | None = None,
) -> None:
    """The guide's line for each outcome, e.g. subject "Auto-invest rule":
    "[Automation Scheduler] Auto-invest rule AUTO-… executed successfully. Order ID: ORD-…".

    A failure whose exception is in ``errors`` (by rule id and occurrence) is logged with its
    traceback, once.
    """
    for r in results:
        extra = {"action": _ACTIONS[r.status], "rule_id": r.rule_id, "status": r.status.value}
        if r.status is OutcomeStatus.SUCCESS:
            log.info(
                "%s %s %s executed successfully. Order ID: %s",
                PREFIX,
                subject,
                r.rule_id,
                ", ".join(r.order_ids),
                extra=extra,
            )
        elif r.status is OutcomeStatus.FAILED:
            error = (errors or {}).get((r.rule_id, r.occurrence))
            log.error(
                "%s %s %s failed: %s",
                PREFIX,
                subject,
                r.rule_id,
                r.error,
                exc_info=error,
                extra=extra,
            )
        else:
            log.info(
                "%s %s %s %s for %s: %s",
                PREFIX,
                subject,
                r.rule_id,
                r.status.value,
                r.occurrence,
                r.message,
                extra=extra,
            )


def failure_reason(exc: BaseException) -> str:
    """An error as the execution log and the guide's failure line record it: its type and first
    line, at most 500 characters."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
