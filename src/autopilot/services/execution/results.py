"""What a pass or a manual execution reports: counts, and the outcomes of the first rules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from autopilot.domain.outcomes import OutcomeStatus
from autopilot.services.records import LogEntry

PREFIX = "[Automation Scheduler]"  # every scheduler log line starts so (DESIGN §7)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleResult:
    """One log row's worth of what happened, as the API and the CLI report it."""

    rule_id: str
    client_id: int
    occurrence: date
    status: str
    order_ids: tuple[str, ...] = ()
    message: str = ""
    error: str | None = None

    @classmethod
    def of(cls, entry: LogEntry) -> RuleResult:
        """What a log row says happened, as the API and the CLI report it."""
        return cls(
            rule_id=entry.automation_id,
            client_id=entry.client_id,
            occurrence=entry.execution_date,
            status=entry.status,
            order_ids=entry.order_ids,
            message=entry.message,
            error=entry.error,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule_id,
            "clientId": self.client_id,
            "executionDate": self.occurrence.isoformat(),
            "status": self.status,
            "orderIds": list(self.order_ids),
            "message": self.message,
            "error": self.error,
        }


@dataclass(slots=True)
class PassResult:
    """Counts of a pass, and the details of its first `detail_limit` outcomes.

    A pass over a million rules keeps its memory to one batch: beyond the limit only the
    counts grow (every outcome is in the execution log anyway).
    """

    detail_limit: int = 1000
    results: list[RuleResult] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"executed": 0, "skipped": 0, "failed": 0, "pendingApproval": 0}
    )

    def add(self, results: Sequence[RuleResult]) -> None:
        room = self.detail_limit - len(self.results)
        if room > 0:
            self.results.extend(results[:room])
        for r in results:
            self.counts[_COUNT_KEYS[r.status]] += 1

    def merge(self, other: PassResult) -> None:
        """Add another pass's outcomes (auto-invest, then rebalancing) to this one."""
        room = self.detail_limit - len(self.results)
        if room > 0:
            self.results.extend(other.results[:room])
        for key, count in other.counts.items():
            self.counts[key] += count

    def of(self, status: str) -> list[RuleResult]:
        return [r for r in self.results if r.status == status]

    def as_dict(self) -> dict[str, Any]:
        shown = len(self.results)
        return {
            "executed": [r.as_dict() for r in self.of("Success")],
            "skipped": [r.as_dict() for r in self.of("Skipped")],
            "failed": [r.as_dict() for r in self.of("Failed")],
            "pendingApproval": [r.as_dict() for r in self.of("PendingApproval")],
            "counts": dict(self.counts),
            "truncated": shown < sum(self.counts.values()),
        }


_COUNT_KEYS = {
    OutcomeStatus.SUCCESS.value: "executed",
    OutcomeStatus.SKIPPED.value: "skipped",
    OutcomeStatus.FAILED.value: "failed",
    OutcomeStatus.PENDING_APPROVAL.value: "pendingApproval",  # waiting for the client, not skipped
}


_log = logging.getLogger("autopilot.scheduler")


def announce(subject: str, results: Sequence[RuleResult]) -> None:
    """The operator's guide's line for each outcome, e.g. subject "Auto-invest rule":
    "[Automation Scheduler] Auto-invest rule AUTO-… executed successfully. Order ID: ORD-…"."""
    for r in results:
        if r.status == OutcomeStatus.SUCCESS.value:
            _log.info(
                "%s %s %s executed successfully. Order ID: %s",
                PREFIX,
                subject,
                r.rule_id,
                ", ".join(r.order_ids),
            )
        elif r.status == OutcomeStatus.FAILED.value:
            _log.error("%s %s %s failed: %s", PREFIX, subject, r.rule_id, r.error)
        else:
            _log.info(
                "%s %s %s %s for %s: %s",
                PREFIX,
                subject,
                r.rule_id,
                r.status,
                r.occurrence,
                r.message,
            )


def failure_reason(exc: BaseException) -> str:
    """An error as the execution log and the guide's failure line record it: its type and first
    line, at most 500 characters."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
