"""Services on a settable clock, and the small world the integration tests build on them: a
funded investor, priced securities, rule specs, and reading what a pass wrote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from autopilot.bootstrap import Services
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.schedule import Frequency
from autopilot.services.auto_invest.rules import RuleSpec
from autopilot.services.orders import PlaceOrder
from autopilot.services.records import LogFilter, LogRecord

MARKET = ZoneInfo("America/New_York")
START = date(2026, 6, 1)  # a Monday and a trading day

# Explicit values, so that an AUTOMATION_* variable in the environment cannot change a test.
DEFAULT_SETTINGS: dict[str, Any] = {
    "automation_catch_up": "coalesce",
    "automation_max_attempts": 3,
    "automation_min_order_amount": Decimal("1.00"),
    "automation_timezone": "America/New_York",
    "automation_market_calendar": "XNYS",
    "automation_check_interval": 3_600_000,
}


class SettableClock:
    """A clock the test moves: `on(day)` puts it at noon of that market day."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def on(self, day: date) -> SettableClock:
        self.at = datetime.combine(day, time(12, 0), tzinfo=MARKET)
        return self


@dataclass(frozen=True, slots=True)
class Investor:
    client_id: int
    account_id: int


# The counts of a pass that found nothing to do.
NOTHING_DONE = {"executed": 0, "skipped": 0, "failed": 0, "pendingApproval": 0}

PRICES = {"AAA": Decimal("100.00"), "BBB": Decimal("30.00"), "CCC": Decimal("7.00")}
OPENING_CASH = Decimal("10000.00")
MakeServices = Callable[..., Services]


def open_funded_account(services: Services, cash: Decimal = OPENING_CASH) -> Investor:
    client = services.platform.create_client("Ada Investor", "ada@example.com")
    account = services.platform.open_account(client.id, "USD")
    if cash > 0:
        services.platform.deposit(account.id, cash)
    return Investor(client_id=client.id, account_id=account.id)


def market_buy(investor: Investor, symbol: str, notional: str) -> PlaceOrder:
    return PlaceOrder(
        account_id=investor.account_id,
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        notional=Decimal(notional),
    )


def spec(
    investor: Investor,
    *,
    amount: str = "100.00",
    weights: dict[str, str] | None = None,
    frequency: Frequency = Frequency.MONTHLY,
    start_date: date = START,
    **fields: Any,
) -> RuleSpec:
    allocations = tuple(
        Allocation(symbol=s, weight=Decimal(w)) for s, w in (weights or {"AAA": "100"}).items()
    )
    return RuleSpec(
        client_id=investor.client_id,
        account_id=investor.account_id,
        name="Monthly DCA",
        amount=Decimal(amount),
        allocations=allocations,
        frequency=frequency,
        start_date=start_date,
        **fields,
    )


def refuse_orders_for(services: Services, symbol: str) -> None:
    """Make the database itself refuse every order for `symbol`, as an audit trigger would: on
    PostgreSQL a raised exception (not a constraint violation), on SQLite an ABORT."""
    with services.uow() as uow:
        c = uow.connection
        if c.dialect.name == "postgresql":
            c.execute(
                text(
                    "CREATE FUNCTION refuse_orders() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.symbol = '{symbol}' THEN RAISE EXCEPTION 'refused by audit'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            c.execute(
                text(
                    "CREATE TRIGGER refuse_orders BEFORE INSERT ON orders "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_orders()"
                )
            )
        else:
            c.execute(
                text(
                    f"CREATE TRIGGER refuse_orders BEFORE INSERT ON orders "
                    f"WHEN NEW.symbol = '{symbol}' BEGIN SELECT RAISE(ABORT, 'refused by audit'); "
                    "END"
                )
            )


def logs_of(services: Services, rule_id: str) -> list[LogRecord]:
    """The rule's execution-log rows, oldest first."""
    with services.uow() as uow:
        records, _ = uow.logs.search(LogFilter(automation_id=rule_id), offset=0, limit=1000)
    return sorted(records, key=lambda r: r.id)


def failed_attempts(services: Services, automation_id: str) -> int:
    """The failed attempts counted so far at the automation's pending occurrence."""
    with services.uow() as uow:
        found = uow.attempts.of([automation_id]).get(automation_id)
    return 0 if found is None else found.count


def count_rows(services: Services, table: str) -> int:
    with services.uow() as uow:
        return int(uow.connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
