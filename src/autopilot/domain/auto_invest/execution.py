"""Auto-invest: what one execution of a rule does, as pure data (DESIGN §5).

`execute_auto_invest` takes the rule, the account's cash, the market quotes and the date, and
returns the rule's new state and one outcome per occurrence it dealt with (executed, or skipped by
the catch-up policy). It reads no clock and touches no storage; the service layer writes the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Literal

from autopilot.domain.allocation import split_amount
from autopilot.domain.auto_invest.rule import AutoInvestRule, RuleStatus
from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.money import CENT, ZERO
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.quotes import Quote
from autopilot.domain.schedule import next_occurrence, occurrences_between

CatchUpPolicy = Literal["coalesce", "all", "skip"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuyIntent:
    """A market buy of `notional` dollars of `symbol`, to be written as an order."""

    symbol: str
    notional: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedLeg:
    symbol: str
    amount: Decimal
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What happened to one occurrence of a rule; becomes one execution-log row."""

    occurrence: date
    status: OutcomeStatus
    message: str
    buys: tuple[BuyIntent, ...] = ()
    skipped_legs: tuple[SkippedLeg, ...] = ()
    invested: Decimal = ZERO
    """What the buys cost: their notionals summed, given with them (a pass reads it thrice)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    rule: AutoInvestRule
    outcomes: tuple[Outcome, ...]
    cash_after: Decimal

    @property
    def spent(self) -> Decimal:
        return sum((o.invested for o in self.outcomes), ZERO)


def execute_auto_invest(
    rule: AutoInvestRule,
    *,
    today: date,
    calendar: TradingCalendar,
    cash: Decimal,
    quotes: Mapping[str, Quote],
    min_order_amount: Decimal,
    catch_up: CatchUpPolicy,
    force: bool = False,
) -> Execution:
    """Execute what is due of `rule` on `today` (the market's date).

    Due occurrences are those from `next_execution_date` through `today`. Those before `today`
    are missed, and the catch-up policy decides which of them run (`coalesce`: the latest, `all`:
    each, `skip`: none); the others come back as `Skipped` outcomes. Today's occurrence is not a
    missed one: it runs whatever the policy. With `force` (manual execution) a rule that is not yet
    due executes its next occurrence now. Afterwards the rule's next date is the first occurrence
    after both `today` and the last occurrence handled; a schedule that has ended, or a cap that
    leaves less than the minimum order, completes the rule.
    """
    first = rule.next_execution_date
    if first is None or rule.status is not RuleStatus.ACTIVE:
        return Execution(rule=rule, outcomes=(), cash_after=cash)
    due = occurrences_between(rule.schedule, calendar, first, today) if first <= today else []
    if not due:
        if not force:
            # A next date off the schedule (set by hand in the database) would be "due" on every
            # pass with nothing to run: realign it to the schedule's next occurrence instead.
            moved = advance_past(rule, today, calendar) if first <= today else rule
            return Execution(rule=moved, outcomes=(), cash_after=cash)
        due = [first]
    to_run, outcomes = _apply_catch_up(due, today, catch_up)
    current, remaining = rule, cash
    for occurrence in to_run:
        if current.status is not RuleStatus.ACTIVE:
            outcomes.append(_skipped(occurrence, "rule completed before this occurrence"))
            continue
        outcome = invest_once(current, occurrence, remaining, quotes, min_order_amount)
        outcomes.append(outcome)
        remaining -= outcome.invested
        current = _after_outcome(current, outcome, min_order_amount)
    outcomes.sort(key=lambda o: o.occurrence)
    current = advance_past(current, max(today, due[-1]), calendar)
    return Execution(rule=current, outcomes=tuple(outcomes), cash_after=remaining)


def _apply_catch_up(
    due: Sequence[date], today: date, policy: CatchUpPolicy
) -> tuple[list[date], list[Outcome]]:
    """The occurrences to run, and the missed ones the policy skips (logged with the reason).

    Only occurrences before ``today`` are missed; today's (or a manual execution's next one)
    always runs, whatever the policy.
    """
    missed = [d for d in due if d < today]
    current = [d for d in due if d >= today]
    if policy == "all" or not missed:
        return [*missed, *current], []
    if policy == "coalesce":
        latest = missed[-1]
        reason = f"missed occurrence coalesced into {latest.isoformat()} (catch-up: coalesce)"
        return [latest, *current], [_skipped(d, reason) for d in missed[:-1]]
    reason = "missed occurrence not executed (catch-up: skip)"
    return current, [_skipped(d, reason) for d in missed]


def _skipped(occurrence: date, reason: str) -> Outcome:
    return Outcome(occurrence=occurrence, status=OutcomeStatus.SKIPPED, message=reason)


def _capped_legs(rule: AutoInvestRule) -> list[Decimal]:
    target = rule.amount
    if rule.max_total_amount is not None:
        target = min(target, max(rule.max_total_amount - rule.total_invested, ZERO))
    return split_amount(target, [a.weight for a in rule.allocations])


def invest_once(
    rule: AutoInvestRule,
    occurrence: date,
    cash: Decimal,
    quotes: Mapping[str, Quote],
    min_order_amount: Decimal,
) -> Outcome:
    """One occurrence: split the (capped) amount to the cent, drop legs that cannot be bought.

    A leg in a security that trades in whole shares only is cut down to the whole shares it
    buys at the latest price, so what the rule counts as invested is what it pays.
    """
    buys: list[BuyIntent] = []
    skipped: list[SkippedLeg] = []
    for allocation, leg in zip(rule.allocations, _capped_legs(rule), strict=True):
        quote = quotes.get(allocation.symbol)
        reason = _leg_refusal(leg, quote, min_order_amount)
        if reason is None:
            assert quote is not None
            buys.append(BuyIntent(symbol=allocation.symbol, notional=_buyable(leg, quote)))
        else:
            skipped.append(SkippedLeg(symbol=allocation.symbol, amount=leg, reason=reason))
    needed = sum((b.notional for b in buys), ZERO)
    if not buys:
        return Outcome(
            occurrence=occurrence,
            status=OutcomeStatus.SKIPPED,
            message="nothing to invest: every leg was skipped",
            skipped_legs=tuple(skipped),
        )
    if needed > cash:
        return Outcome(
            occurrence=occurrence,
            status=OutcomeStatus.SKIPPED,
            message=f"insufficient cash: needs {needed}, available {cash}",
            skipped_legs=tuple(skipped),
        )
    message = f"invested {needed} in {len(buys)} order(s)"
    if skipped:
        message += "; skipped " + ", ".join(f"{s.symbol} ({s.reason})" for s in skipped)
    return Outcome(
        occurrence=occurrence,
        status=OutcomeStatus.SUCCESS,
        message=message,
        buys=tuple(buys),
        skipped_legs=tuple(skipped),
        invested=needed,
    )


def _buyable(leg: Decimal, quote: Quote) -> Decimal:
    if quote.fractionable or quote.price is None:
        return leg
    shares = (leg / quote.price).to_integral_value(rounding=ROUND_DOWN)
    return (shares * quote.price).quantize(CENT, rounding=ROUND_UP)


def _leg_refusal(leg: Decimal, quote: Quote | None, min_order_amount: Decimal) -> str | None:
    if leg < min_order_amount:
        return f"{leg} is below the minimum order amount {min_order_amount}"
    if quote is None or quote.price is None:
        return "no price"
    if not quote.tradable:
        return "not tradable"
    if not quote.fractionable and leg < quote.price:
        return f"{leg} buys no whole share at {quote.price}"
    if _buyable(leg, quote) < min_order_amount:
        return f"{leg} buys whole shares worth less than the minimum order amount"
    return None


def _after_outcome(
    rule: AutoInvestRule, outcome: Outcome, min_order_amount: Decimal
) -> AutoInvestRule:
    count, invested = rule.execution_count, rule.total_invested
    if outcome.status is OutcomeStatus.SUCCESS:
        count, invested = count + 1, invested + outcome.invested
    if count == rule.execution_count and rule.max_total_amount is None:
        return rule  # nothing changed, and no cap to exhaust
    rule = rule.with_state(
        next_execution_date=rule.next_execution_date,
        execution_count=count,
        total_invested=invested,
        status=rule.status,
    )
    if _cap_exhausted(rule, min_order_amount):
        rule = _with_status(rule, RuleStatus.COMPLETED)
    return rule


def _cap_exhausted(rule: AutoInvestRule, min_order_amount: Decimal) -> bool:
    """True when what the cap still allows cannot make a single leg of the minimum size."""
    if rule.max_total_amount is None:
        return False
    floor = max(min_order_amount, CENT)
    return all(leg < floor for leg in _capped_legs(rule))


def advance_past(rule: AutoInvestRule, after: date, calendar: TradingCalendar) -> AutoInvestRule:
    """The rule moved to its first occurrence after `after` (Completed if there is none)."""
    if rule.status is RuleStatus.COMPLETED:
        return _moved(rule, None, RuleStatus.COMPLETED)
    following = next_occurrence(rule.schedule, calendar, after)
    if following is None:
        return _moved(rule, None, RuleStatus.COMPLETED)
    return _moved(rule, following, rule.status)


def _moved(rule: AutoInvestRule, to: date | None, status: RuleStatus) -> AutoInvestRule:
    return rule.with_state(
        next_execution_date=to,
        execution_count=rule.execution_count,
        total_invested=rule.total_invested,
        status=status,
    )


def _with_status(rule: AutoInvestRule, status: RuleStatus) -> AutoInvestRule:
    return _moved(rule, rule.next_execution_date, status)
