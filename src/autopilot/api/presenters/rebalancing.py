"""Shaping rebalancing rules, drift, previews and proposals as the API's JSON (DESIGN §6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autopilot.api.presenters.common import day, moment, text
from autopilot.domain.money import to_cents
from autopilot.domain.rebalancing.drift import Drift
from autopilot.domain.rebalancing.plan import Plan
from autopilot.domain.rebalancing.rule import Proposal
from autopilot.services.rebalancing.accounts import skipped_json, trades_json
from autopilot.services.records import RebalancingRuleRecord


def percent(value: Decimal | None) -> str | None:
    """A percentage without trailing zeros: 5 → "5", 2.50 → "2.5"."""
    return None if value is None else format(value.normalize(), "f")


def rule(record: RebalancingRuleRecord) -> dict[str, Any]:
    r = record.rule
    s = r.schedule
    return {
        "id": r.id,
        "clientId": r.client_id,
        "accountId": r.account_id,
        "name": r.name,
        "targets": [{"symbol": t.symbol, "weight": percent(t.weight)} for t in r.targets],
        "triggerMode": r.trigger_mode.value,
        "driftThreshold": percent(r.drift_threshold),
        "relativeThreshold": percent(r.relative_threshold),
        "frequency": None if s is None else s.frequency.value,
        "dayOfMonth": None if s is None else s.day_of_month,
        "requireConfirmation": r.require_confirmation,
        "minTradeAmount": text(r.min_trade_amount),
        "allowSells": r.allow_sells,
        "cashReserve": text(r.cash_reserve),
        "cooldownDays": r.cooldown_days,
        "status": r.status.value,
        "isEnabled": r.is_enabled,
        "nextCheckDate": day(r.next_check_date),
        "lastExecutedAt": moment(r.last_executed_at),
        "createdAt": moment(record.created_at),
        "updatedAt": moment(record.updated_at),
    }


def drift(value: Drift) -> dict[str, Any]:
    return {
        "totalValue": str(to_cents(value.total_value)),
        "drift": str(value.drift),
        "holdings": [
            {
                "symbol": h.symbol,
                "value": str(to_cents(h.value)),
                "weight": str(h.weight),
                "target": percent(h.target),
                "drift": str(h.drift),
            }
            for h in value.holdings
        ],
    }


def preview(plan: Plan) -> dict[str, Any]:
    return {"trades": trades_json(plan.trades), "skipped": skipped_json(plan.skipped)}


def proposal(value: Proposal) -> dict[str, Any]:
    return {
        "id": value.id,
        "ruleId": value.rule_id,
        "clientId": value.client_id,
        "accountId": value.account_id,
        "executionDate": day(value.occurrence),
        "status": value.status.value,
        "trades": trades_json(value.trades),
        "skipped": skipped_json(value.skipped),
        "driftBefore": str(value.drift_before),
        "prices": {s: str(p) for s, p in sorted(value.prices.items())},
        "createdAt": moment(value.created_at),
        "expiresAt": moment(value.expires_at),
        "decidedAt": moment(value.decided_at),
        "orderIds": list(value.order_ids),
    }
