"""Settings: defaults as DESIGN §3, and one clear line for each bad value."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from autopilot.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AUTOMATION_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_defaults_follow_the_design() -> None:
    s = load_settings()
    assert s.automation_scheduler_enabled is True
    assert s.automation_check_interval == 3_600_000
    assert s.database_url == "sqlite:///./autopilot.db"
    assert s.automation_timezone == "America/New_York"
    assert s.automation_market_calendar == "XNYS"
    assert s.automation_catch_up == "coalesce"
    assert s.automation_max_attempts == 3
    assert s.automation_min_order_amount == Decimal("1.00")
    assert s.automation_proposal_ttl_hours == 72
    assert (s.automation_host, s.automation_port) == ("127.0.0.1", 8000)


@pytest.mark.parametrize("value", ["false", "FALSE", "False"])
def test_false_in_any_case_disables_the_scheduler(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AUTOMATION_SCHEDULER_ENABLED", value)
    assert load_settings().automation_scheduler_enabled is False


def test_the_longest_check_interval_is_the_one_a_node_timer_takes() -> None:
    assert load_settings(automation_check_interval=2**31 - 1).check_interval_seconds > 24 * 86400


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0.0.0.0", "::1", "::ffff:127.0.0.1", "localhost", "my_host", "a.b-c.io"]
)
def test_a_host_name_or_ip_address_is_accepted(host: str) -> None:
    assert load_settings(automation_host=host).automation_host == host


def test_settings_are_read_from_a_dotenv_file() -> None:
    Path(".env").write_text("AUTOMATION_CHECK_INTERVAL=900000\n")
    assert load_settings().automation_check_interval == 900_000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOMATION_CHECK_INTERVAL", "abc"),
        ("AUTOMATION_CHECK_INTERVAL", "0"),
        ("AUTOMATION_CHECK_INTERVAL", "-5"),
        ("AUTOMATION_CHECK_INTERVAL", "1.5"),
        ("AUTOMATION_TIMEZONE", "Mars/Olympus_Mons"),
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("AUTOMATION_MARKET_CALENDAR", "NOPE"),
        ("AUTOMATION_CATCH_UP", "sometimes"),
        ("AUTOMATION_MAX_ATTEMPTS", "0"),
        ("AUTOMATION_MIN_ORDER_AMOUNT", "-1"),
        ("AUTOMATION_MIN_ORDER_AMOUNT", "lots"),
        ("AUTOMATION_SCHEDULER_ENABLED", "maybe"),
        ("AUTOMATION_PORT", "70000"),
        ("AUTOMATION_CHECK_INTERVAL", "99999999999999"),  # would overflow the loop's wait
        ("AUTOMATION_HOST", ""),  # would listen on every interface
        ("AUTOMATION_HOST", "not a host"),
        ("AUTOMATION_HOST", "localhost:8000"),
        ("AUTOMATION_HOST", "999.1.1.1"),
        ("AUTOMATION_HOST", "1.2.3.4.5"),
    ],
)
def test_a_bad_value_is_refused_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert name in message
    assert "expected" in message
    assert "\n" not in message


def test_a_plain_postgresql_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://me@localhost:5432/autopilot")
    assert load_settings().database_url.startswith("postgresql+psycopg://me@localhost:5432/")
