"""Shaping what a pass or a manual execution did, and the scheduler's status."""

from __future__ import annotations

from typing import Any

from autopilot.domain.outcomes import OutcomeStatus
from autopilot.services.execution.results import PassResult, RuleResult

# The API's name of each status's list and count (DESIGN §6).
STATUS_KEYS = {
    OutcomeStatus.SUCCESS: "executed",
    OutcomeStatus.SKIPPED: "skipped",
    OutcomeStatus.FAILED: "failed",
    OutcomeStatus.PENDING_APPROVAL: "pendingApproval",  # waiting for the client, not skipped
}


def rule_result(result: RuleResult) -> dict[str, Any]:
    return {
        "ruleId": result.rule_id,
        "clientId": result.client_id,
        "executionDate": result.occurrence.isoformat(),
        "status": result.status.value,
        "orderIds": list(result.order_ids),
        "message": result.message,
        "error": result.error,
    }


def counts(result: PassResult) -> dict[str, int]:
    return {key: result.counts[status] for status, key in STATUS_KEYS.items()}


def pass_result(result: PassResult) -> dict[str, Any]:
    lists = {key: [rule_result(r) for r in result.of(s)] for s, key in STATUS_KEYS.items()}
    return {**lists, "counts": counts(result), "truncated": result.truncated}
