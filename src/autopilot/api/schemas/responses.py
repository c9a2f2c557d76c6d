"""The public shapes of the API's answers (DESIGN §6), declared on every route so that the
OpenAPI document shows what a client receives.

Money, quantities, prices and percentages are strings (never floats); dates are ISO dates and
moments ISO date-times with their offset, as the presenters in :mod:`autopilot.api.presenters`
write them. Every answer is wrapped in :class:`Envelope`; lists are a :class:`Page`.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

Money = str
Moment = str
Day = str
AutoInvestStatus = Literal["Active", "Paused", "Completed", "Cancelled"]
RebalancingStatus = Literal["Active", "Paused", "Cancelled"]
ProposalStatus = Literal["PendingApproval", "Approved", "Rejected", "Expired"]
TriggerStatus = Literal["Active", "Paused", "Triggered", "Cancelled", "Expired", "Failed"]
OrderStatus = Literal["Pending", "Submitted", "Filled", "Rejected", "Cancelled"]
OutcomeStatus = Literal["Success", "Failed", "Skipped", "PendingApproval"]
AutomationType = Literal["AutoInvest", "Rebalancing", "TriggerOrder"]


class Public(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Envelope(Public, Generic[T]):
    """Every successful answer: ``{"success": true, "data": …}``."""

    success: Literal[True] = True
    data: T


class ErrorBody(Public):
    code: str = Field(
        description="What went wrong, for programs: validation_error, malformed_json, "
        "unauthorized, forbidden, not_found, conflict, rate_limited, database_unavailable, …"
    )
    message: str = Field(description="What went wrong, for people (names the field, if one).")
    details: Any = Field(
        default=None,
        description="For a 422, [{field, message}] per field; for a 429, {limit, retryAfter}.",
    )


class ErrorEnvelope(Public):
    """Every refusal: ``{"success": false, "error": {"code", "message", "details"}}``."""

    success: Literal[False] = False
    error: ErrorBody


class Page(Public, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class ClientPublic(Public):
    id: int
    name: str
    email: str | None
    created_at: Moment


class PositionPublic(Public):
    symbol: str
    quantity: str
    cost_basis: Money
    price: str | None
    market_value: Money | None


class AccountPublic(Public):
    id: int
    client_id: int
    currency: str
    cash: Money
    held_cash: Money = Field(description="The cash the account's open buy orders hold.")
    available_cash: Money = Field(description="What new orders may spend: cash − heldCash.")
    created_at: Moment
    updated_at: Moment
    positions: list[PositionPublic]
    total_value: Money


class SecurityPublic(Public):
    symbol: str
    tradable: bool
    fractionable: bool
    last_price: str | None
    last_price_at: Moment | None


class PricesRecorded(Public):
    recorded: int = Field(description="How many prices were stored.")


class OrderPublic(Public):
    id: str
    account_id: int
    client_id: int
    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: str | None
    notional: Money | None
    limit_price: str | None
    status: OrderStatus
    reserved_amount: Money
    filled_quantity: str | None
    filled_price: str | None
    filled_amount: Money | None
    reject_reason: str | None
    automation_type: AutomationType | None
    automation_id: str | None
    created_at: Moment
    updated_at: Moment
    submitted_at: Moment | None
    filled_at: Moment | None


class WeightPublic(Public):
    symbol: str
    weight: str = Field(description="Percent of the amount (allocations) or of the account.")


class AutoInvestRulePublic(Public):
    id: str
    client_id: int
    account_id: int
    name: str
    amount: Money
    allocations: list[WeightPublic]
    frequency: Literal["daily", "weekly", "biweekly", "monthly", "quarterly", "annually"]
    day_of_week: str | None = Field(description="The weekday it runs on (weekly, biweekly).")
    day_of_month: int | Literal["last"] | None
    holiday_rule: Literal["following", "preceding"]
    start_date: Day
    end_date: Day | None
    max_total_amount: Money | None
    status: AutoInvestStatus
    is_enabled: bool
    next_execution_date: Day | None
    execution_count: int
    total_invested: Money
    created_at: Moment
    updated_at: Moment


class ExecutionLogPublic(Public):
    id: int
    automation_type: AutomationType
    automation_id: str
    client_id: int
    execution_date: Day
    status: OutcomeStatus
    order_ids: list[str]
    message: str
    error: str | None
    details: dict[str, Any] | None
    triggered_by: str
    attempt: int
    started_at: Moment
    finished_at: Moment
    created_at: Moment
    no_op: bool = Field(
        description="A check that traded nothing; it leaves the day open (repeated ones of a "
        "day share this row)."
    )


class RuleResultPublic(Public):
    rule_id: str
    client_id: int
    execution_date: Day
    status: OutcomeStatus
    order_ids: list[str]
    message: str
    error: str | None


class Counts(Public):
    executed: int
    skipped: int
    failed: int
    pending_approval: int


class PassSummaryPublic(Public):
    """What a pass did: its first outcomes by status, and the counts of all of them."""

    executed: list[RuleResultPublic]
    skipped: list[RuleResultPublic]
    failed: list[RuleResultPublic]
    pending_approval: list[RuleResultPublic]
    counts: Counts
    truncated: bool = Field(description="True when more outcomes were counted than listed.")


class ExecutionPublic(PassSummaryPublic):
    """What a manual or cron execution did."""

    type: Literal["auto-invest", "rebalancing", "triggers"]


class LastRunPublic(Public):
    started_at: Moment
    finished_at: Moment
    error: str | None
    executed: int | None = None
    skipped: int | None = None
    failed: int | None = None
    pending_approval: int | None = None


class WorkerPublic(Public):
    id: str
    host: str
    pid: int
    status: Literal["alive", "dead", "stopped"] = Field(
        description="dead: no heartbeat within AUTOMATION_WORKER_LEASE; its work is taken over."
    )
    started_at: Moment
    heartbeat_at: Moment
    stopped_at: Moment | None
    holds: str | None = Field(description="What it is doing now (a pass), or null when idle.")


class SchedulerStatusPublic(Public):
    is_running: bool
    check_interval: str = Field(description="Milliseconds, as a string (the guide's format).")
    enabled: bool
    timezone: str
    last_run_at: Moment | None
    next_run_at: Moment | None
    last_run: LastRunPublic | None
    workers: list[WorkerPublic] = Field(
        description="The dedicated workers alive or dead (not the stopped ones)."
    )


class SchedulerTogglePublic(Public):
    is_running: bool
    changed: bool


class RebalancingRulePublic(Public):
    id: str
    client_id: int
    account_id: int
    name: str
    targets: list[WeightPublic]
    trigger_mode: Literal["drift", "schedule", "both"]
    drift_threshold: str
    relative_threshold: str | None
    frequency: Literal["monthly", "quarterly", "annually"] | None
    day_of_month: int | Literal["last"] | None
    require_confirmation: bool
    min_trade_amount: Money
    allow_sells: bool
    cash_reserve: Money
    cooldown_days: int
    status: RebalancingStatus
    is_enabled: bool
    next_check_date: Day | None
    last_executed_at: Moment | None
    created_at: Moment
    updated_at: Moment


class HoldingDriftPublic(Public):
    symbol: str
    value: Money
    weight: str
    target: str
    drift: str


class DriftPublic(Public):
    total_value: Money
    drift: str = Field(description="The largest absolute drift of a holding, in points.")
    holdings: list[HoldingDriftPublic]


class TradePublic(Public):
    symbol: str
    side: Literal["buy", "sell"]
    quantity: str
    amount: Money


class SkippedTradePublic(Public):
    symbol: str
    reason: str


class PreviewPublic(Public):
    trades: list[TradePublic]
    skipped: list[SkippedTradePublic]


class ProposalPublic(Public):
    id: str
    rule_id: str
    client_id: int
    account_id: int
    execution_date: Day
    status: ProposalStatus
    trades: list[TradePublic]
    skipped: list[SkippedTradePublic]
    drift_before: str
    prices: dict[str, str]
    created_at: Moment
    expires_at: Moment
    decided_at: Moment | None
    order_ids: list[str]


class PriceAbovePublic(Public):
    type: Literal["priceAbove"]
    level: str


class PriceBelowPublic(Public):
    type: Literal["priceBelow"]
    level: str


class PercentChangePublic(Public):
    type: Literal["percentChange"]
    percent: str
    direction: Literal["up", "down"]
    reference_price: str


class TrailingStopPublic(Public):
    type: Literal["trailingStop"]
    percent: str | None
    amount: str | None
    activation_price: str | None


class TriggerOrderTemplatePublic(Public):
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: str | None = Field(description='A quantity, "all" (sells), or null (notional).')
    notional: Money | None
    limit_price: str | None


class TriggerOrderPublic(Public):
    id: str
    client_id: int
    account_id: int
    symbol: str
    condition: PriceAbovePublic | PriceBelowPublic | PercentChangePublic | TrailingStopPublic = (
        Field(discriminator="type")
    )
    order: TriggerOrderTemplatePublic
    oco_group: str | None
    expires_at: Moment | None
    status: TriggerStatus
    high_water_mark: str | None
    low_water_mark: str | None
    stop_level: str | None
    triggered_at: Moment | None
    trigger_price: str | None
    order_id: str | None
    failure_reason: str | None
    created_at: Moment
    updated_at: Moment


class Health(Public):
    status: Literal["ok"]


class ApiKeyPublic(Public):
    id: int
    name: str
    role: Literal["admin", "operator", "client", "market-data"]
    client_id: int | None
    created_at: Moment
    expires_at: Moment | None
    revoked_at: Moment | None
    last_used_at: Moment | None


class NewApiKeyPublic(ApiKeyPublic):
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")


class AuditEventPublic(Public):
    id: int
    at: Moment
    actor_key_id: int | None
    actor_name: str
    actor_role: str
    actor_client_id: int | None
    action: str
    resource_type: str | None
    resource_id: str | None
    client_id: int | None
    outcome: Literal["success", "refused", "failed"]
    status_code: int
    request_id: str | None
    address: str | None
    user_agent: str | None
    changes: dict[str, Any] | None


class WebhookPublic(Public):
    id: int
    url: str
    events: list[str]
    created_at: Moment
    failing_since: Moment | None = Field(
        description="When the current streak of failed deliveries began (null: none)."
    )
    disabled_at: Moment | None = Field(description="Disabled after 3 days of failures.")


class NewWebhookPublic(WebhookPublic):
    secret: str = Field(
        description="The signing secret (whsec_…), shown this once: verify webhook-signature"
        " with it (Standard Webhooks)."
    )


class WebhookAttemptPublic(Public):
    delivery_id: str = Field(description="The webhook-id header of the delivery.")
    event: str
    attempt: int
    at: Moment
    status_code: int | None
    latency_ms: int
    error: str | None


class DeletedPublic(Public):
    id: int
    deleted: bool
