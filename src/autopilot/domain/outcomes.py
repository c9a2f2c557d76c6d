"""The shared vocabulary of executions: which automation, and what happened to an occurrence."""

from __future__ import annotations

from enum import StrEnum


class AutomationType(StrEnum):
    """The automation a rule, an order or an execution-log row belongs to (DESIGN §4)."""

    AUTO_INVEST = "AutoInvest"
    REBALANCING = "Rebalancing"
    TRIGGER_ORDER = "TriggerOrder"


class OutcomeStatus(StrEnum):
    """What an execution-log row says happened to an occurrence."""

    SUCCESS = "Success"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    PENDING_APPROVAL = "PendingApproval"
