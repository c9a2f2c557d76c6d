"""The repositories a unit of work holds, as the services use them (Protocols; DESIGN §2).

Every method works inside the unit of work's transaction. "Locked" means a row lock held to the
end of that transaction where the database has them (PostgreSQL ``FOR UPDATE``; SQLite has one
writer at a time, the in-memory store one transaction at a time). A claim skips rows another
transaction holds (``SKIP LOCKED``), so concurrent workers claim disjoint batches. One contract
suite (``tests/integration/test_repository_contract.py``) runs against every implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from autopilot.domain.auto_invest.rule import AutoInvestRule
from autopilot.domain.orders import Order, OrderStatus
from autopilot.domain.outcomes import AutomationType
from autopilot.domain.quotes import Quote
from autopilot.domain.rebalancing.plan import Trade
from autopilot.domain.rebalancing.rule import Proposal, ProposalStatus, RebalancingRule
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.services.access import Role
from autopilot.services.records import (
    AccountRecord,
    ApiKeyRecord,
    AuditEvent,
    AuditFilter,
    AuditRecord,
    Balance,
    ClientRecord,
    DueCursor,
    FailedAttempts,
    HourlyCount,
    LogEntry,
    LogFilter,
    LogRecord,
    NewOrder,
    OperationsCounts,
    OrderChange,
    OrderRecord,
    PositionRecord,
    RebalancingRuleRecord,
    RuleRecord,
    SecurityRecord,
    StoredPrice,
    TriggerOrderRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WorkerRecord,
)

PriceRow = tuple[str, Decimal, datetime]  # symbol, price, as of


class ClientRepository(Protocol):
    def add(self, name: str, email: str | None, now: datetime) -> ClientRecord: ...
    def get(self, client_id: int) -> ClientRecord | None: ...


class AccountRepository(Protocol):
    def add(self, client_id: int, currency: str, now: datetime) -> AccountRecord: ...
    def get(self, account_id: int, *, lock: bool = False) -> AccountRecord | None: ...

    def lock_available(self, account_ids: Iterable[int]) -> dict[int, Decimal]:
        """Available cash (cash − holds) of each account, rows locked in id order (no
        deadlocks between workers): what a decision may spend."""
        ...

    def lock_balances(self, account_ids: Iterable[int]) -> dict[int, Balance]:
        """Cash and holds of each account, rows locked in id order (the broker's view)."""
        ...

    def set_cash(self, cash: Mapping[int, Decimal], now: datetime) -> None:
        """Set each account's cash (a deposit), its holds unchanged."""
        ...

    def set_balances(self, balances: Mapping[int, Balance], now: datetime) -> None: ...

    def hold(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        """Add each amount to its account's holds (new buy orders); the cash stays until a
        fill debits it."""
        ...

    def release(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        """Take each amount off its account's holds (buy orders cancelled)."""
        ...

    def positions(self, account_id: int) -> list[PositionRecord]:
        """The account's non-zero positions, by symbol."""
        ...

    def positions_of(self, account_ids: Iterable[int]) -> dict[int, list[PositionRecord]]:
        """The non-zero positions of many accounts, by account (every account a key)."""
        ...

    def holdings(
        self, keys: Iterable[tuple[int, str]]
    ) -> dict[tuple[int, str], PositionRecord]: ...

    def save_positions(self, rows: Mapping[tuple[int, str], PositionRecord], now: datetime) -> None:
        """Insert or overwrite the given positions (quantities computed by the caller)."""
        ...


class MarketRepository(Protocol):
    def quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        """The known securities among ``symbols``, with their latest price."""
        ...

    def security(self, symbol: str) -> SecurityRecord | None: ...
    def known_symbols(self, symbols: Iterable[str]) -> set[str]: ...
    def upsert_security(self, symbol: str, *, tradable: bool, fractionable: bool) -> None: ...

    def record_prices(self, ticks: Sequence[PriceRow]) -> None:
        """History rows, and each symbol's latest price (the newest as-of wins); a symbol seen for
        the first time becomes a tradable, fractionable security."""
        ...


class PriceFeedRepository(Protocol):
    """The prices stored since a cursor, and each symbol's floor (DESIGN §1, workers shape)."""

    def cursor(self) -> object:
        """Where the feed stands now: what :meth:`since` reads from next. Taken before the read
        it guards, so a price committed in between is read twice, never missed."""
        ...

    def since(self, cursor: object) -> list[StoredPrice]:
        """Every price stored by a transaction ``cursor`` did not see, in the order stored."""
        ...

    def from_floors(self, symbols: Iterable[str]) -> list[StoredPrice]:
        """Every price of ``symbols`` at or above the symbol's floor (all of a symbol without
        one), in the order stored: what a worker that gains the symbols evaluates."""
        ...

    def advance_floors(
        self, symbols: Iterable[str], cursor: object | None, evaluated_by: str, now: datetime
    ) -> None:
        """Every price of ``symbols`` that ``cursor`` saw (``None``: that any transaction ended
        by now saw) has been evaluated: raise their floors to it (never lower them)."""
        ...

    def symbols(self) -> list[str]:
        """Every known security's symbol: what the workers divide among themselves."""
        ...

    def signal(self) -> None:
        """Wake the workers up: prices were stored (PostgreSQL NOTIFY; a no-op elsewhere).
        Alone in its transaction: every notifying commit takes a lock global to the database."""
        ...


class OrderRepository(Protocol):
    def add_many(self, new_orders: Sequence[NewOrder], now: datetime) -> None: ...
    def get(self, order_id: str) -> OrderRecord | None: ...

    def claim_open(self, order_ids: Iterable[str]) -> dict[str, OrderStatus]:
        """Lock those of the orders still Pending or Submitted; their status by id."""
        ...

    def accounts_with_open_orders(self, account_ids: Iterable[int]) -> set[int]: ...

    def open_orders(
        self, *, status: OrderStatus, symbols: Iterable[str] | None = None, limit: int = 10_000
    ) -> list[Order]:
        """Up to ``limit`` orders in ``status`` (of ``symbols``, if given), oldest first."""
        ...

    def pending(self, *, after: Order | None, limit: int) -> list[Order]:
        """Up to ``limit`` Pending orders past ``after``: by account, sells first, then id."""
        ...

    def mark(self, changes: Sequence[OrderChange], now: datetime) -> None:
        """Apply status changes (the first one also stamps ``submitted_at``)."""
        ...

    def search(
        self,
        *,
        client_id: int | None,
        account_id: int | None,
        status: str | None,
        symbol: str | None,
        automation_id: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[OrderRecord], int]:
        """A page of orders, newest first, and the total that match."""
        ...


class AutoInvestRuleRepository(Protocol):
    def add(self, rule: AutoInvestRule, now: datetime) -> None: ...
    def add_many(self, rules: Sequence[AutoInvestRule], now: datetime) -> None: ...
    def get(self, rule_id: str, *, lock: bool = False) -> RuleRecord | None: ...

    def lock_many(self, rule_ids: Sequence[str]) -> list[AutoInvestRule]:
        """The given rules, locked, in id order."""
        ...

    def search(
        self,
        *,
        client_id: int | None,
        status: str | None,
        account_id: int | None,
        offset: int,
        limit: int,
    ) -> tuple[list[RuleRecord], int]: ...

    def claim_due(
        self, today: date, after: DueCursor | None, limit: int, client_id: int | None = None
    ) -> list[AutoInvestRule]:
        """Lock (skipping rows others hold) up to ``limit`` Active, enabled rules (of one
        client, if given) with a next date on or before ``today`` past ``after``, in (next
        date, id) order."""
        ...

    def save_state(self, rules: Sequence[AutoInvestRule], now: datetime) -> None:
        """Write the execution state of many rules: next date, counters, status."""
        ...

    def replace(self, rule: AutoInvestRule, now: datetime) -> None:
        """Write every field of one rule (rule management)."""
        ...


class RebalancingRuleRepository(Protocol):
    def add(self, rule: RebalancingRule, now: datetime) -> None: ...
    def get(self, rule_id: str, *, lock: bool = False) -> RebalancingRuleRecord | None: ...

    def search(
        self,
        *,
        client_id: int | None,
        account_id: int | None,
        status: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[RebalancingRuleRecord], int]: ...

    def claim_watching(
        self, after: str | None, limit: int, client_id: int | None = None
    ) -> list[RebalancingRule]:
        """Lock (skipping rows others hold) up to ``limit`` Active, enabled rules past id
        ``after`` with no proposal waiting, in id order."""
        ...

    def save_state(self, rules: Sequence[RebalancingRule], now: datetime) -> None:
        """Write the execution state of many rules: next check date, last execution."""
        ...

    def replace(self, rule: RebalancingRule, now: datetime) -> None: ...


class ProposalRepository(Protocol):
    def add_many(self, proposals: Sequence[Proposal]) -> None: ...
    def get(self, proposal_id: str, *, lock: bool = False) -> Proposal | None: ...

    def search(
        self,
        *,
        rule_id: str | None,
        status: str | None,
        offset: int,
        limit: int,
        client_id: int | None = None,
    ) -> tuple[list[Proposal], int]: ...

    def pending_of(self, rule_ids: Sequence[str]) -> set[str]:
        """Which of the rules have a proposal waiting."""
        ...

    def claim_overdue(self, now: datetime, limit: int) -> list[Proposal]:
        """Pending proposals past their expiry, locked (skipping rows others hold)."""
        ...

    def decide(
        self,
        proposal_id: str,
        status: ProposalStatus,
        now: datetime,
        *,
        order_ids: Sequence[str] = (),
        trades: Sequence[Trade] | None = None,
    ) -> None: ...


class ExecutionLogRepository(Protocol):
    def add_many(self, entries: Sequence[LogEntry], now: datetime) -> None:
        """Append the rows; a ``no_op`` row replaces the no-op row of its rule and day.

        The outcome key refuses a second outcome of one occurrence (Success or Skipped, not a
        no-op): :class:`~autopilot.services.ports.RefusedByDatabase`.
        """
        ...

    def last_occurrence(self, automation_id: str) -> date | None:
        """The latest occurrence of a rule that has an outcome (executed or skipped)."""
        ...

    def with_outcome(self, automation_ids: Sequence[str], execution_date: date) -> set[str]:
        """Which of the rules already have an outcome for the date."""
        ...

    def still_failing(self, where: LogFilter, *, limit: int) -> list[tuple[AutomationType, str]]:
        """The rules, each once and by id, with a log row matching ``where`` and a failed
        attempt not resolved yet (no outcome of its occurrence: the scheduler retries it)."""
        ...

    def search(self, where: LogFilter, *, offset: int, limit: int) -> tuple[list[LogRecord], int]:
        """A page of rows, newest first, and the total that match."""
        ...


class TriggerOrderRepository(Protocol):
    def add_many(self, records: Sequence[TriggerOrderRecord]) -> None: ...
    def get(self, trigger_id: str, *, lock: bool = False) -> TriggerOrderRecord | None: ...
    def many(self, trigger_ids: Iterable[str]) -> dict[str, TriggerOrderRecord]: ...

    def search(
        self,
        *,
        client_id: int | None = None,
        account_id: int | None = None,
        symbol: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[TriggerOrderRecord], int]: ...

    def active(
        self, *, client_id: int | None = None, symbols: Iterable[str] | None = None
    ) -> list[TriggerOrderRecord]:
        """Every Active trigger (of one client, on ``symbols``), in id order."""
        ...

    def lock_for_fire(
        self, trigger_ids: Iterable[str], groups: Iterable[tuple[int, str]]
    ) -> dict[str, TriggerOrderRecord]:
        """The triggers and every member of the (client, OCO group)s, locked in id order."""
        ...

    def oco_members(
        self, client_id: int, oco_group: str, statuses: Iterable[TriggerStatus] = ...
    ) -> list[TriggerOrderRecord]:
        """The members of a client's OCO group in ``statuses`` (default Active or Paused)."""
        ...

    def expiring(self, at: datetime) -> list[TriggerOrderRecord]:
        """The Active or Paused triggers whose expiry is at or before ``at``, in id order."""
        ...

    def next_expiry(self) -> datetime | None: ...

    def claim(self, trigger_id: str, price: Decimal, now: datetime) -> bool:
        """Mark an Active trigger Triggered at ``price``; False when it is no longer Active."""
        ...

    def set_outcome(
        self, trigger_id: str, now: datetime, *, order_id: str | None, failure: str | None
    ) -> None:
        """What a claimed trigger did: its order, or why it failed (then it is Failed)."""
        ...

    def close_open(
        self, trigger_ids: Iterable[str], status: TriggerStatus, now: datetime
    ) -> list[str]:
        """Move the still Active or Paused ones to ``status``; the ids that moved."""
        ...

    def transition(
        self,
        trigger_ids: Iterable[str],
        sources: Iterable[TriggerStatus],
        target: TriggerStatus,
        now: datetime,
    ) -> list[str]:
        """Move those still in one of ``sources`` to ``target``; the ids that moved."""
        ...

    def save_marks(self, marks: Sequence[tuple[str, Decimal]], now: datetime) -> None:
        """Store trailing-stop marks, only ever ratcheting (up for sells, down for buys)."""
        ...

    def change_cursor(self) -> object:
        """Where the change feed stands: taken before the read it guards, so a change committed
        in between is read twice, never missed."""
        ...

    def changed_since(self, cursor: object) -> list[str]:
        """Ids of the triggers inserted or changed (beyond a trailing mark) since ``cursor``,
        by any process."""
        ...

    def replace(self, record: TriggerOrderRecord, now: datetime) -> None:
        """Write an edited trigger's condition, mark and expiry."""
        ...


class AttemptRepository(Protocol):
    """Failed attempts at occurrences that have no outcome yet, one row per automation."""

    def of(self, automation_ids: Iterable[str]) -> dict[str, FailedAttempts]: ...

    def save(self, attempts: Sequence[FailedAttempts], now: datetime) -> None:
        """Insert or overwrite each automation's row."""
        ...

    def clear(self, automation_ids: Iterable[str]) -> None: ...


class ApiKeyRepository(Protocol):
    def add(
        self,
        *,
        name: str,
        role: Role,
        client_id: int | None,
        key_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiKeyRecord: ...

    def by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def get(self, key_id: int) -> ApiKeyRecord | None: ...

    def search(
        self, *, client_id: int | None, offset: int, limit: int
    ) -> tuple[list[ApiKeyRecord], int]:
        """A page of keys (of one client, if given), by id, and the total."""
        ...

    def revoke(self, key_id: int, now: datetime) -> bool:
        """Revoke a key that is not revoked yet; whether it was."""
        ...

    def touch(self, key_id: int, now: datetime, *, unless_since: datetime) -> None:
        """Note the key's use at ``now``, unless one is noted since ``unless_since`` (a write
        a minute per key, not one a request)."""
        ...

    def valid_admin_exists(self, now: datetime) -> bool: ...

    def open_session(
        self, token_hash: str, key_id: int, *, now: datetime, expires_at: datetime
    ) -> None:
        """Note a dashboard session opened with the key (the token's SHA-256 only)."""
        ...

    def session_key(self, token_hash: str, now: datetime) -> ApiKeyRecord | None:
        """The key of the session with this token hash while it is open (not ended, not
        expired); whether the key itself is still valid is the caller's to check."""
        ...

    def end_session(self, token_hash: str, now: datetime) -> None: ...

    def purge_sessions(self, before: datetime) -> int:
        """Forget the sessions that expired or ended before ``before``; how many."""
        ...


class AuditRepository(Protocol):
    def add(self, event: AuditEvent) -> None:
        """Append the event (the database refuses to change or remove one)."""
        ...

    def search(
        self, where: AuditFilter, *, offset: int, limit: int
    ) -> tuple[list[AuditRecord], int]:
        """A page of events, newest first, and the total that match."""
        ...


class RateLimitRepository(Protocol):
    def hit(self, bucket: str, window_start: int) -> int:
        """Count one more request in the bucket's window; the count now (atomic)."""
        ...

    def purge(self, before: int) -> None:
        """Drop the counters of windows that started before ``before`` (epoch seconds)."""
        ...


class WorkerRepository(Protocol):
    def now(self) -> datetime:
        """The database's clock (what leases and schedules are read against)."""
        ...

    def register(self, worker_id: str, host: str, pid: int) -> datetime: ...
    def beat(self, worker_id: str, holds: str | None) -> datetime: ...
    def stop(self, worker_id: str) -> None: ...
    def all(self) -> list[WorkerRecord]: ...

    def end_connections_of(self, worker_id: str) -> tuple[int, int]:
        """End a dead worker's database sessions and wait for them to exit, so what they lock
        is free now: (sessions found, sessions ended)."""
        ...


class StatsRepository(Protocol):
    def counts(
        self, today: date, *, now: datetime, client_id: int | None = None
    ) -> OperationsCounts:
        """What is waiting (of one client, if given); a proposal past its expiry at ``now``
        awaits nothing any more."""
        ...

    def executions_by_hour(
        self, since: datetime, *, client_id: int | None = None
    ) -> list[HourlyCount]:
        """Execution-log rows written since ``since``, counted by the hour (UTC) they were
        written in and their status; hours without rows are absent."""
        ...


class WebhookRepository(Protocol):
    def add(
        self, url: str, events: Sequence[str], secret: str, now: datetime
    ) -> WebhookSubscription: ...
    def get(self, subscription_id: int) -> WebhookSubscription | None: ...
    def all(self) -> list[WebhookSubscription]: ...
    def remove(self, subscription_id: int) -> None: ...

    def enqueue(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Write deliveries into the outbox (in the caller's transaction)."""
        ...

    def claim_due(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        """Pending deliveries due by ``now``, locked (skipping rows others hold) and leased."""
        ...

    def record(
        self, attempt: WebhookAttempt, *, status: str, next_attempt_at: datetime | None
    ) -> None: ...
    def set_failing(self, subscription_id: int, since: datetime | None) -> None: ...
    def disable(self, subscription_id: int, now: datetime) -> None: ...
    def attempts_of(
        self, subscription_id: int, offset: int, limit: int
    ) -> tuple[list[WebhookAttempt], int]: ...
    def deliveries(self, ids: Iterable[str]) -> dict[str, WebhookDelivery]: ...
