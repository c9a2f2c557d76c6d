"""`autopilot demo`: a small sample so a newcomer sees a pass execute at once."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autopilot.bootstrap import Services
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.schedule import Frequency
from autopilot.services.auto_invest.rules import RuleSpec
from autopilot.services.platform import PriceTick
from autopilot.services.ports import market_today

PRICES = {"VTI": "250.00", "BND": "72.50", "VXUS": "61.20"}


@dataclass(frozen=True, slots=True)
class DemoData:
    client_id: int
    account_id: int
    rule_ids: list[str]


def load_demo(services: Services) -> DemoData:
    """A client with $10,000, three ETFs with prices, and two rules whose first date is today."""
    platform, rules = services.platform, services.rules
    platform.record_prices([PriceTick(symbol=s, price=Decimal(p)) for s, p in PRICES.items()])
    client = platform.create_client("Demo Client", "demo@example.com")
    account = platform.open_account(client.id, "USD")
    platform.deposit(account.id, Decimal("10000.00"))
    today = market_today(services.clock, services.settings.zone)
    specs = [
        RuleSpec(
            client_id=client.id,
            account_id=account.id,
            name="Monthly core",
            amount=Decimal("500.00"),
            allocations=(
                Allocation(symbol="VTI", weight=Decimal(60)),
                Allocation(symbol="BND", weight=Decimal(40)),
            ),
            frequency=Frequency.MONTHLY,
            day_of_month=today.day,
            start_date=today,
            max_total_amount=Decimal("6000.00"),
        ),
        RuleSpec(
            client_id=client.id,
            account_id=account.id,
            name="Daily international",
            amount=Decimal("25.00"),
            allocations=(Allocation(symbol="VXUS", weight=Decimal(100)),),
            frequency=Frequency.DAILY,
            start_date=today,
        ),
    ]
    ids = [rules.create(spec).rule.id for spec in specs]
    return DemoData(client_id=client.id, account_id=account.id, rule_ids=ids)
