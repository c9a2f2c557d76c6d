"""Shaping rebalancing rules, drift, previews and proposals (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Iterable

from autopilot.api.presenters.common import amount, at, day, moment, on, percent, percentage
from autopilot.api.schemas.responses import (
    DriftPublic,
    HoldingDriftPublic,
    PreviewPublic,
    ProposalPublic,
    RebalancingRulePublic,
    SkippedTradePublic,
    TradePublic,
    WeightPublic,
)
from autopilot.domain.money import to_cents
from autopilot.domain.rebalancing.drift import Drift
from autopilot.domain.rebalancing.plan import Plan, SkippedTrade, Trade
from autopilot.domain.rebalancing.rule import Proposal
from autopilot.services.records import RebalancingRuleRecord


def rule(record: RebalancingRuleRecord) -> RebalancingRulePublic:
    r = record.rule
    s = r.schedule
    return RebalancingRulePublic(
        id=r.id,
        client_id=r.client_id,
        account_id=r.account_id,
        name=r.name,
        targets=[WeightPublic(symbol=t.symbol, weight=percentage(t.weight)) for t in r.targets],
        trigger_mode=r.trigger_mode.value,
        drift_threshold=percentage(r.drift_threshold),
        relative_threshold=percent(r.relative_threshold),
        frequency=None if s is None else s.frequency.value,
        day_of_month=None if s is None else s.day_of_month,
        require_confirmation=r.require_confirmation,
        min_trade_amount=amount(r.min_trade_amount),
        allow_sells=r.allow_sells,
        cash_reserve=amount(r.cash_reserve),
        cooldown_days=r.cooldown_days,
        status=r.status.value,
        is_enabled=r.is_enabled,
        next_check_date=day(r.next_check_date),
        last_executed_at=moment(r.last_executed_at),
        created_at=at(record.created_at),
        updated_at=at(record.updated_at),
    )


def drift(value: Drift) -> DriftPublic:
    return DriftPublic(
        total_value=str(to_cents(value.total_value)),
        drift=str(value.drift),
        holdings=[
            HoldingDriftPublic(
                symbol=h.symbol,
                value=str(to_cents(h.value)),
                weight=str(h.weight),
                target=percentage(h.target),
                drift=str(h.drift),
            )
            for h in value.holdings
        ],
    )


def preview(plan: Plan) -> PreviewPublic:
    return PreviewPublic(trades=trades(plan.trades), skipped=skipped(plan.skipped))


def proposal(value: Proposal) -> ProposalPublic:
    return ProposalPublic(
        id=value.id,
        rule_id=value.rule_id,
        client_id=value.client_id,
        account_id=value.account_id,
        execution_date=on(value.occurrence),
        status=value.status.value,
        trades=trades(value.trades),
        skipped=skipped(value.skipped),
        drift_before=str(value.drift_before),
        prices={s: str(p) for s, p in sorted(value.prices.items())},
        created_at=at(value.created_at),
        expires_at=at(value.expires_at),
        decided_at=moment(value.decided_at),
        order_ids=list(value.order_ids),
    )


def trades(values: Iterable[Trade]) -> list[TradePublic]:
    return [
        TradePublic(
            symbol=t.symbol, side=t.side.value, quantity=str(t.quantity), amount=str(t.amount)
        )
        for t in values
    ]


def skipped(values: Iterable[SkippedTrade]) -> list[SkippedTradePublic]:
    return [SkippedTradePublic(symbol=s.symbol, reason=s.reason) for s in values]
