"""Auto-invest rules, rebalancing rules and proposals, in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from autopilot.domain.auto_invest.rule import AutoInvestRule, RuleStatus
from autopilot.domain.rebalancing.plan import Trade
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingRule,
    RebalancingStatus,
)
from autopilot.services.records import DueCursor, RebalancingRuleRecord, RuleRecord
from autopilot.storage.memory.tables import PERCENT, Tables, cash, refused

PP = Decimal("0.01")


def _by_creation(records: Sequence[RuleRecord | RebalancingRuleRecord]) -> list[str]:
    return [r.rule.id for r in sorted(records, key=lambda r: (r.created_at, r.rule.id))]


class MemoryAutoInvestRules:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add(self, rule: AutoInvestRule, now: datetime) -> None:
        if rule.id in self._t.auto_invest:
            raise refused(f"duplicate key pk_auto_invest_rules: {rule.id}")
        self._t.auto_invest[rule.id] = RuleRecord(
            rule=_stored(rule), created_at=now, updated_at=now
        )

    def add_many(self, rules: Sequence[AutoInvestRule], now: datetime) -> None:
        for rule in rules:
            self.add(rule, now)

    def get(self, rule_id: str, *, lock: bool = False) -> RuleRecord | None:
        return self._t.auto_invest.get(rule_id)

    def lock_many(self, rule_ids: Sequence[str]) -> list[AutoInvestRule]:
        table = self._t.auto_invest
        return [table[i].rule for i in sorted(set(rule_ids)) if i in table]

    def search(
        self,
        *,
        client_id: int | None,
        status: str | None,
        account_id: int | None,
        offset: int,
        limit: int,
    ) -> tuple[list[RuleRecord], int]:
        found = [
            r
            for r in self._t.auto_invest.values()
            if (client_id is None or r.rule.client_id == client_id)
            and (account_id is None or r.rule.account_id == account_id)
            and (status is None or r.rule.status.value == status)
        ]
        ordered = [self._t.auto_invest[i] for i in _by_creation(found)]
        return ordered[offset : offset + limit], len(ordered)

    def claim_due(
        self, today: date, after: DueCursor | None, limit: int, client_id: int | None = None
    ) -> list[AutoInvestRule]:
        due = sorted(
            (
                r.rule
                for r in self._t.auto_invest.values()
                if (client_id is None or r.rule.client_id == client_id)
                and r.rule.status is RuleStatus.ACTIVE
                and r.rule.is_enabled
                and r.rule.next_execution_date is not None
                and r.rule.next_execution_date <= today
            ),
            key=lambda rule: (rule.next_execution_date, rule.id),
        )
        if after is not None:
            due = [
                r
                for r in due
                if (r.next_execution_date, r.id) > (after.next_execution_date, after.id)
            ]
        return due[:limit]

    def save_state(self, rules: Sequence[AutoInvestRule], now: datetime) -> None:
        for rule in rules:
            current = self._t.auto_invest.get(rule.id)
            if current is None:
                continue
            state = replace(
                current.rule,
                next_execution_date=rule.next_execution_date,
                execution_count=rule.execution_count,
                total_invested=cash(rule.total_invested),
                status=rule.status,
            )
            self._t.auto_invest[rule.id] = replace(current, rule=state, updated_at=now)

    def replace(self, rule: AutoInvestRule, now: datetime) -> None:
        current = self._t.auto_invest.get(rule.id)
        if current is not None:
            self._t.auto_invest[rule.id] = replace(current, rule=_stored(rule), updated_at=now)


def _stored(rule: AutoInvestRule) -> AutoInvestRule:
    return replace(
        rule,
        amount=cash(rule.amount),
        total_invested=cash(rule.total_invested),
        max_total_amount=None if rule.max_total_amount is None else cash(rule.max_total_amount),
    )


class MemoryRebalancingRules:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add(self, rule: RebalancingRule, now: datetime) -> None:
        if rule.id in self._t.rebalancing:
            raise refused(f"duplicate key pk_rebalancing_rules: {rule.id}")
        self._t.rebalancing[rule.id] = RebalancingRuleRecord(
            rule=_stored_rebalancing(rule), created_at=now, updated_at=now
        )

    def get(self, rule_id: str, *, lock: bool = False) -> RebalancingRuleRecord | None:
        return self._t.rebalancing.get(rule_id)

    def search(
        self,
        *,
        client_id: int | None,
        account_id: int | None,
        status: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[RebalancingRuleRecord], int]:
        found = [
            r
            for r in self._t.rebalancing.values()
            if (client_id is None or r.rule.client_id == client_id)
            and (account_id is None or r.rule.account_id == account_id)
            and (status is None or r.rule.status.value == status)
        ]
        ordered = [self._t.rebalancing[i] for i in _by_creation(found)]
        return ordered[offset : offset + limit], len(ordered)

    def claim_watching(
        self, after: str | None, limit: int, client_id: int | None = None
    ) -> list[RebalancingRule]:
        waiting = {
            p.rule_id
            for p in self._t.proposals.values()
            if p.status is ProposalStatus.PENDING_APPROVAL
        }
        watched = sorted(
            (
                r.rule
                for r in self._t.rebalancing.values()
                if r.rule.status is RebalancingStatus.ACTIVE
                and (client_id is None or r.rule.client_id == client_id)
                and r.rule.is_enabled
                and r.rule.id not in waiting
                and (after is None or r.rule.id > after)
            ),
            key=lambda rule: rule.id,
        )
        return watched[:limit]

    def save_state(self, rules: Sequence[RebalancingRule], now: datetime) -> None:
        for rule in rules:
            current = self._t.rebalancing.get(rule.id)
            if current is None:
                continue
            state = replace(
                current.rule,
                next_check_date=rule.next_check_date,
                last_executed_at=rule.last_executed_at,
            )
            self._t.rebalancing[rule.id] = replace(current, rule=state, updated_at=now)

    def replace(self, rule: RebalancingRule, now: datetime) -> None:
        current = self._t.rebalancing.get(rule.id)
        if current is not None:
            self._t.rebalancing[rule.id] = replace(
                current, rule=_stored_rebalancing(rule), updated_at=now
            )


def _stored_rebalancing(rule: RebalancingRule) -> RebalancingRule:
    return replace(
        rule,
        drift_threshold=rule.drift_threshold.quantize(PERCENT),
        relative_threshold=None
        if rule.relative_threshold is None
        else rule.relative_threshold.quantize(PERCENT),
        min_trade_amount=cash(rule.min_trade_amount),
        cash_reserve=cash(rule.cash_reserve),
    )


class MemoryProposals:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add_many(self, proposals: Sequence[Proposal]) -> None:
        for proposal in proposals:
            if proposal.id in self._t.proposals:
                raise refused(f"duplicate key pk_rebalancing_proposals: {proposal.id}")
            if proposal.status is ProposalStatus.PENDING_APPROVAL and self.pending_of(
                [proposal.rule_id]
            ):
                raise refused(f"uq_rebalancing_proposals_pending: {proposal.rule_id}")
            self._t.proposals[proposal.id] = replace(
                proposal, drift_before=proposal.drift_before.quantize(PERCENT)
            )

    def get(self, proposal_id: str, *, lock: bool = False) -> Proposal | None:
        found = self._t.proposals.get(proposal_id)
        return None if found is None else _read(found)

    def search(
        self,
        *,
        rule_id: str | None,
        status: str | None,
        offset: int,
        limit: int,
        client_id: int | None = None,
    ) -> tuple[list[Proposal], int]:
        found = sorted(
            (
                p
                for p in self._t.proposals.values()
                if (rule_id is None or p.rule_id == rule_id)
                and (client_id is None or p.client_id == client_id)
                and (status is None or p.status.value == status)
            ),
            key=lambda p: (p.created_at, p.id),
        )
        return [_read(p) for p in found[offset : offset + limit]], len(found)

    def pending_of(self, rule_ids: Sequence[str]) -> set[str]:
        wanted = set(rule_ids)
        return {
            p.rule_id
            for p in self._t.proposals.values()
            if p.rule_id in wanted and p.status is ProposalStatus.PENDING_APPROVAL
        }

    def claim_overdue(self, now: datetime, limit: int) -> list[Proposal]:
        overdue = sorted(
            (
                p
                for p in self._t.proposals.values()
                if p.status is ProposalStatus.PENDING_APPROVAL and p.expires_at <= now
            ),
            key=lambda p: p.id,
        )
        return [_read(p) for p in overdue[:limit]]

    def decide(
        self,
        proposal_id: str,
        status: ProposalStatus,
        now: datetime,
        *,
        order_ids: Sequence[str] = (),
        trades: Sequence[Trade] | None = None,
    ) -> None:
        current = self._t.proposals.get(proposal_id)
        if current is None:
            return
        decided = replace(current, status=status, decided_at=now, order_ids=tuple(order_ids))
        if trades is not None:
            decided = replace(decided, trades=tuple(trades))
        self._t.proposals[proposal_id] = decided


def _read(proposal: Proposal) -> Proposal:
    # The drift is stored to 4 places and read back to the 0.01 pp it is shown at.
    return replace(proposal, drift_before=proposal.drift_before.quantize(PP))
