"""Table definitions (SQLAlchemy Core). The one schema for SQLite and PostgreSQL (DESIGN §4).

Money columns are NUMERIC(20, 2); prices NUMERIC(20, 6); quantities NUMERIC(28, 6). On SQLite the
Numeric type round-trips through strings via `DecimalText` so no value ever passes through float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class Money(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; exact text on SQLite (whose NUMERIC would go through float)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 2) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            exact = value if type(value) is Decimal else Decimal(value)
            return str(exact.quantize(self._quantum))
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        # PostgreSQL's NUMERIC(p, s) and the text SQLite holds (written quantized above) both
        # come back at the column's scale already.
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(value)


ACTIVE_AND_ENABLED = "status = 'Active' AND is_enabled"
"""The rules a pass works on: the predicate of their partial indexes."""


def active_and_enabled(table: Table) -> TextClause:
    """A rule table's :data:`ACTIVE_AND_ENABLED`, spelled as its partial index spells it.

    A planner uses a partial index only for a WHERE it can prove implies the index's predicate,
    and neither PostgreSQL nor SQLite proves that from ``is_enabled IS true`` (what
    ``column.is_(True)`` renders) or SQLite's ``is_enabled = 1``: the claim would scan and sort
    the whole table on every batch instead of reading the index in order.
    """
    return text(f"{table.name}.status = 'Active' AND {table.name}.is_enabled")


OPEN_ORDER = "status IN ('Pending', 'Submitted')"
"""The orders not yet filled, rejected or cancelled: the predicate of their partial index."""


def open_order(table: Table) -> TextClause:
    """:data:`OPEN_ORDER`, spelled as the orders' partial index spells it.

    Add it to a query of one open status (``status = 'Pending'``): SQLite does not prove that
    ``status = 'Submitted'`` implies ``status IN ('Pending', 'Submitted')``, nor any predicate
    from a bound parameter, and without the index every price posted scanned the whole history of
    orders for the resting ones (inside its write transaction, which every other writer waits
    for), and every batch of the submission stage scanned it for the pending ones.
    """
    return text(f"{table.name}.{OPEN_ORDER}")


PENDING_ORDER = "status = 'Pending'"
"""The orders the submission stage has yet to hand over: the predicate of their own index."""


def pending_order(table: Table) -> TextClause:
    """:data:`PENDING_ORDER`, spelled as its index spells it (as :func:`open_order` says, SQLite
    proves no partial index's predicate from a bound parameter)."""
    return text(f"{table.name}.{PENDING_ORDER}")


def Cash() -> Money:
    return Money(20, 2)


def Price() -> Money:
    return Money(20, 6)


def Quantity() -> Money:
    return Money(28, 6)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC; SQLite gives naive values back, read as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


clients = Table(
    "clients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    Column("created_at", UTCDateTime(), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("cash", Cash(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The cash the account's open buy orders hold: available cash = cash − held.
    Column("held", Cash(), nullable=False, server_default="0.00"),
)

securities = Table(
    "securities",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("tradable", Boolean, nullable=False),
    Column("fractionable", Boolean, nullable=False),
    Column("last_price", Price()),
    Column("last_price_at", UTCDateTime()),
)

prices = Table(
    "prices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(16), ForeignKey("securities.symbol"), nullable=False),
    Column("price", Price(), nullable=False),
    Column("as_of", UTCDateTime(), nullable=False),
    # The inserting transaction's id on PostgreSQL (a column default, 0012): the workers' price
    # feed reads the prices stored since its last snapshot by it, a gaining worker a symbol's
    # prices from its floor on.
    Column("revision", BigInteger, nullable=False, server_default="0"),
    Index("ix_prices_symbol_as_of", "symbol", "as_of"),
    Index("ix_prices_revision", "revision"),
    Index("ix_prices_symbol_revision", "symbol", "revision"),
)

# Per symbol: every price of it with a lower revision has been evaluated against its triggers
# (by the worker that owned it, or by a process that evaluated its own prices), so a worker that
# gains the symbol evaluates its prices from here on and none posted meanwhile is lost (0012).
trigger_price_floors = Table(
    "trigger_price_floors",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("evaluated_by", String(200), nullable=False),  # a worker's id, or "prices"
    Column("updated_at", UTCDateTime(), nullable=False),
)

positions = Table(
    "positions",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("symbol", String(16), ForeignKey("securities.symbol"), primary_key=True),
    Column("quantity", Quantity(), nullable=False),
    Column("cost_basis", Cash(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    # The account's client, copied for filtering; the account's key already guards it.
    Column("client_id", Integer, nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("order_type", String(8), nullable=False),
    Column("quantity", Quantity()),
    Column("notional", Cash()),
    Column("limit_price", Price()),
    Column("reserved_amount", Cash(), nullable=False),
    Column("status", String(12), nullable=False),
    Column("filled_quantity", Quantity()),
    Column("filled_price", Price()),
    Column("filled_amount", Cash()),
    Column("reject_reason", Text),
    Column("automation_type", String(16)),
    Column("automation_id", String(40), index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("submitted_at", UTCDateTime()),
    Column("filled_at", UTCDateTime()),
    # Open orders only: a fill moves an order out of this index instead of rewriting it.
    Index(
        "ix_orders_open_symbol",
        "symbol",
        postgresql_where=text(OPEN_ORDER),
        sqlite_where=text(OPEN_ORDER),
    ),
)

# The submission stage's pages: the Pending orders, an account's together, sells first.
Index(
    "ix_orders_pending",
    orders.c.account_id,
    orders.c.side.desc(),
    orders.c.id,
    postgresql_where=text(PENDING_ORDER),
    sqlite_where=text(PENDING_ORDER),
)

auto_invest_rules = Table(
    "auto_invest_rules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("amount", Cash(), nullable=False),
    Column("allocations", JSON, nullable=False),
    Column("frequency", String(10), nullable=False),
    Column("day_of_week", Integer),
    Column("day_of_month", String(4)),
    Column("holiday_rule", String(10), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    Column("next_execution_date", Date),
    Column("execution_count", Integer, nullable=False),
    Column("total_invested", Cash(), nullable=False),
    Column("max_total_amount", Cash()),
    Column("status", String(10), nullable=False),
    Column("is_enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(
        "ix_auto_invest_rules_due",
        "next_execution_date",
        "id",
        postgresql_where=text(ACTIVE_AND_ENABLED),
        sqlite_where=text(ACTIVE_AND_ENABLED),
    ),
)


def Percent() -> Money:
    return Money(12, 4)


rebalancing_rules = Table(
    "rebalancing_rules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("targets", JSON, nullable=False),
    Column("trigger_mode", String(8), nullable=False),
    Column("drift_threshold", Percent(), nullable=False),
    Column("relative_threshold", Percent()),
    Column("frequency", String(10)),
    Column("day_of_month", String(4)),
    Column("start_date", Date),
    Column("next_check_date", Date),
    Column("require_confirmation", Boolean, nullable=False),
    Column("min_trade_amount", Cash(), nullable=False),
    Column("allow_sells", Boolean, nullable=False),
    Column("cash_reserve", Cash(), nullable=False),
    Column("cooldown_days", Integer, nullable=False),
    Column("last_executed_at", UTCDateTime()),
    Column("status", String(10), nullable=False),
    Column("is_enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(
        "ix_rebalancing_rules_watching",
        "id",
        postgresql_where=text(ACTIVE_AND_ENABLED),
        sqlite_where=text(ACTIVE_AND_ENABLED),
    ),
)

rebalancing_proposals = Table(
    "rebalancing_proposals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rule_id", String(40), ForeignKey("rebalancing_rules.id"), nullable=False, index=True),
    Column("client_id", Integer, nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("occurrence", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("trades", JSON, nullable=False),
    Column("skipped", JSON, nullable=False),
    Column("drift_before", Percent(), nullable=False),
    Column("prices", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime()),
    Column("order_ids", JSON, nullable=False),
    # A rule has at most one proposal waiting: a second pending one is impossible.
    Index(
        "uq_rebalancing_proposals_pending",
        "rule_id",
        unique=True,
        postgresql_where=text("status = 'PendingApproval'"),
        sqlite_where=text("status = 'PendingApproval'"),
    ),
)

# The rows that are an occurrence's outcome: one per (rule, occurrence). A failed attempt is
# logged beside it, and so is a PendingApproval row (it stays when its proposal is decided) and a
# no-op check (a rebalancing check that found nothing to trade leaves the day open).
OUTCOME_ROWS = "status NOT IN ('Failed', 'PendingApproval') AND NOT no_op"
NO_OP_ROWS = "no_op"

automation_execution_logs = Table(
    "automation_execution_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("automation_type", String(16), nullable=False),
    Column("automation_id", String(40), nullable=False),
    Column("client_id", Integer, nullable=False),
    Column("execution_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("order_ids", JSON, nullable=False),
    Column("message", Text, nullable=False),
    Column("error", Text),
    Column("details", JSON),
    Column("triggered_by", String(80), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("no_op", Boolean, nullable=False, server_default=text("false")),
    Index("ix_automation_execution_logs_automation_id", "automation_id", "execution_date"),
    Index("ix_automation_execution_logs_client_created", "client_id", "created_at"),
    # Exactly once: one outcome per (rule, occurrence).
    Index(
        "uq_automation_execution_logs_outcome",
        "automation_id",
        "execution_date",
        unique=True,
        postgresql_where=text(OUTCOME_ROWS),
        sqlite_where=text(OUTCOME_ROWS),
    ),
    # Repeated no-op checks of a day keep one row, overwritten by the latest.
    Index(
        "uq_automation_execution_logs_no_op",
        "automation_id",
        "execution_date",
        unique=True,
        postgresql_where=text(NO_OP_ROWS),
        sqlite_where=text(NO_OP_ROWS),
    ),
)

# Failed attempts at an occurrence that has no outcome yet (DESIGN §5 "Failures"): one row per
# automation, gone once the occurrence has its outcome. Empty in a healthy system.
automation_attempts = Table(
    "automation_attempts",
    metadata,
    Column("automation_id", String(40), primary_key=True),
    Column("automation_type", String(16), nullable=False),
    Column("client_id", Integer, nullable=False),
    Column("occurrence", Date, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

trigger_orders = Table(
    "trigger_orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("symbol", String(16), nullable=False),
    # The order's side, copied out of `order`: it says which way a trailing mark ratchets.
    Column("side", String(4), nullable=False),
    Column("condition", JSON, nullable=False),
    Column("order", JSON, nullable=False),
    Column("oco_group", String(80)),
    Column("expires_at", UTCDateTime()),
    Column("status", String(10), nullable=False),
    Column("mark", Price()),
    Column("triggered_at", UTCDateTime()),
    Column("trigger_price", Price()),
    Column("order_id", String(40)),
    Column("failure_reason", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Set by the database on every insert and every change but a trailing mark's (0008): the
    # feed that keeps every process's index in step with the triggers others change.
    Column("revision", BigInteger, nullable=False, server_default="0"),
    # What the evaluator loads at start: the active triggers, by symbol.
    Index(
        "ix_trigger_orders_active_symbol",
        "symbol",
        postgresql_where=text("status = 'Active'"),
        sqlite_where=text("status = 'Active'"),
    ),
    Index("ix_trigger_orders_oco_group", "client_id", "oco_group"),
    Index("ix_trigger_orders_revision", "revision"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("client_id", Integer, ForeignKey("clients.id")),
    # SHA-256 of the key: the key itself (256 random bits) is shown once and never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
    Column("last_used_at", UTCDateTime()),
)

# Append-only: the database refuses UPDATE and DELETE (triggers made by the migration).
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_key_id", Integer),
    Column("actor_name", String(200), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("actor_client_id", Integer),
    Column("action", String(80), nullable=False),
    Column("resource_type", String(40)),
    Column("resource_id", String(80)),
    Column("client_id", Integer),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("request_id", String(80)),
    Column("address", String(80)),
    Column("user_agent", String(400)),
    Column("changes", JSON),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_client_id", "client_id", "at"),
    Index("ix_audit_events_actor_key_id", "actor_key_id", "at"),
)

# Fixed-window request counters shared by every process on the database (rate limits).
rate_limit_counters = Table(
    "rate_limit_counters",
    metadata,
    Column("bucket", String(120), primary_key=True),
    Column("window_start", Integer, primary_key=True),  # epoch seconds
    Column("hits", Integer, nullable=False),
)

__all__ = [
    "accounts",
    "api_keys",
    "audit_events",
    "auto_invest_rules",
    "automation_attempts",
    "automation_execution_logs",
    "clients",
    "metadata",
    "orders",
    "positions",
    "prices",
    "rate_limit_counters",
    "rebalancing_proposals",
    "rebalancing_rules",
    "securities",
    "trigger_orders",
]

workers = Table(
    "workers",
    metadata,
    Column("id", String(200), primary_key=True),  # --id, by default host:pid
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    # The database's clock, not the worker's.
    Column("started_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    Column("stopped_at", UTCDateTime()),
    Column("holds", Text),  # what it is doing: the stage in hand, or nothing
)

# A signed-in dashboard browser: the cookie holds a random token, this row its SHA-256.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("api_key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),  # signed out
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    # The signing secret (whsec_…): kept, since every delivery is signed with it; shown once.
    Column("secret", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("failing_since", UTCDateTime()),  # the first failure of the current failing streak
    Column("disabled_at", UTCDateTime()),
)

# The outbox: written in the transaction of the execution that caused it.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # msg_…: the webhook-id header
    Column("subscription_id", Integer, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event", String(40), nullable=False),
    Column("payload", Text, nullable=False),  # the body, exactly as signed
    Column("status", String(10), nullable=False),  # Pending | Delivered | Failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'Pending'"),
        sqlite_where=text("status = 'Pending'"),
    ),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("subscription_id", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text),
    Index("ix_webhook_attempts_subscription_id", "subscription_id", "id"),
)
