"""Integration fixtures: a migrated database (SQLite and PostgreSQL), services on a settable
clock, a funded investor with priced securities, and real `autopilot` processes.

The helpers these fixtures build on live in :mod:`tests.support` (imported by the tests too);
this file holds fixtures only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.services.platform import PriceTick
from autopilot.services.ports import Broker
from autopilot.storage.migrate import upgrade
from tests.support.processes import AS_OF, Processes, Worker
from tests.support.services import (
    DEFAULT_SETTINGS,
    MARKET,
    PRICES,
    START,
    Investor,
    MakeServices,
    SettableClock,
    open_funded_account,
)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime.combine(START, time(12, 0), tzinfo=MARKET))


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def make_services(migrated_url: str, clock: SettableClock) -> Iterator[MakeServices]:
    """Build services on the test database with setting overrides (and a broker other than the
    paper broker, if given); all are closed afterwards."""
    built: list[Services] = []

    def make(*, broker: Broker | None = None, **overrides: Any) -> Services:
        settings = load_settings(database_url=migrated_url, **{**DEFAULT_SETTINGS, **overrides})
        services = build(settings, clock=clock, broker=broker)
        built.append(services)
        return services

    yield make
    for services in built:
        services.close()


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    return make_services()


@pytest.fixture
def investor(services: Services) -> Investor:
    """A client with one USD account holding 10,000.00, and prices for AAA, BBB and CCC."""
    services.platform.record_prices(
        [PriceTick(symbol=s, price=p) for s, p in sorted(PRICES.items())]
    )
    return open_funded_account(services)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Start `python -m autopilot ARGS...` processes; any still running at the end are killed."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def workers(procs: Processes) -> Callable[..., Worker]:
    """Start `autopilot run-once` passes as of AS_OF, printing their summary as JSON."""

    def start(
        url: str, *, batch_size: int, argv: Sequence[str] | None = None, **env: str
    ) -> Worker:
        return procs(
            url,
            "run-once",
            "--as-of",
            AS_OF.isoformat(),
            "--json",
            program=("-m", "autopilot") if argv is None else tuple(argv),
            AUTOMATION_BATCH_SIZE=str(batch_size),
            **env,
        )

    return start
