"""`python -m autopilot prices replay FILE.csv` as a real process: a trigger fires mid-history,
and a bad file is refused naming its line, with nothing written.

The database is prepared through the services first (a held position under a stop), as
test_scheduler.py does before it starts a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.ports import FixedClock
from autopilot.services.triggers.orders import ConditionSpec, TriggerSpec
from autopilot.storage.migrate import upgrade
from tests.support.server import child_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

CLOCK = FixedClock(datetime(2026, 6, 1, 14, 0, tzinfo=UTC))


@dataclass(frozen=True)
class Prepared:
    database_url: str
    trigger_id: str


def services_on(url: str) -> Services:
    return build(load_settings(database_url=url), clock=CLOCK)


def prepare_stop(workdir: Path) -> Prepared:
    """A migrated SQLite database: 10 AAA held at 100.00, a stop selling them all at 90.00."""
    url = f"sqlite:///{workdir}/autopilot.db"
    upgrade(url)
    services = services_on(url)
    try:
        client = services.platform.create_client("Grace Hopper", None)
        account = services.platform.open_account(client.id, "USD")
        services.platform.deposit(account.id, Decimal("10000.00"))
        services.platform.record_prices([PriceTick(symbol="AAA", price=Decimal("100.00"))])
        services.orders.place(
            PlaceOrder(
                account_id=account.id,
                symbol="AAA",
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=Decimal("10"),
            )
        )
        [record] = services.trigger_orders.create(
            [
                TriggerSpec(
                    client_id=client.id,
                    account_id=account.id,
                    symbol="AAA",
                    condition=ConditionSpec(type="priceBelow", level=Decimal("90.00")),
                    order=OrderTemplate(side=Side.SELL, sell_all=True),
                )
            ]
        )
    finally:
        services.close()
    return Prepared(database_url=url, trigger_id=record.trigger.id)


def price_rows(services: Services) -> int:
    with services.uow() as uow:
        return int(uow.connection.execute(text("SELECT count(*) FROM prices")).scalar_one())


# Out of file order on purpose: the replay sorts by as_of, so the stop fires at 89.50 (10:03)
# and the price ends at 97.00 (10:04), the first row of the file.
HISTORY = """symbol,price,as_of
AAA,97.00,2026-06-01T10:04:00-04:00
AAA,95.00,2026-06-01T10:01:00-04:00
AAA,92.00,2026-06-01T10:02:00-04:00
AAA,89.50,2026-06-01T10:03:00-04:00
"""


def test_a_replay_fires_a_trigger_mid_history_and_a_bad_file_writes_nothing(
    tmp_path: Path,
) -> None:
    prepared = prepare_stop(tmp_path)
    env = child_env(DATABASE_URL=prepared.database_url)
    check = services_on(prepared.database_url)
    try:
        rows_before = price_rows(check)

        bad = tmp_path / "bad.csv"
        bad.write_text("symbol,price,as_of\nAAA,89.00,2026-06-01T10:00:00-04:00\nAAA,88.00,\n")
        result = run_cli(["prices", "replay", str(bad)], cwd=tmp_path, env=env)
        assert result.returncode != 0
        assert f"{bad}:3:" in result.stderr and "as_of" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

        good = tmp_path / "history.csv"
        good.write_text(HISTORY)
        result = run_cli(["prices", "replay", str(good), "--speed=-1"], cwd=tmp_path, env=env)
        assert result.returncode != 0
        assert "--speed '-1'" in result.stderr, result.stderr

        # Neither refusal wrote a price or fired the stop (89.00 is below it).
        assert price_rows(check) == rows_before
        still = check.trigger_orders.get(prepared.trigger_id)
        assert still.trigger.status is TriggerStatus.ACTIVE

        result = run_cli(["prices", "replay", str(good), "--speed", "0"], cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "replayed 4 price(s)" in result.stdout
        assert "1 trigger(s) fired" in result.stdout

        fired = check.trigger_orders.get(prepared.trigger_id)
        assert fired.trigger.status is TriggerStatus.TRIGGERED
        assert fired.trigger_price == Decimal("89.50")
        assert price_rows(check) == rows_before + 4
        view = check.platform.account(fired.trigger.account_id)
        assert view.positions == []  # the stop sold the holding
    finally:
        check.close()
