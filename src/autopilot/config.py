"""Settings, read from the environment and `.env` (DESIGN §3).

A bad value stops start-up with one line naming the variable and what it accepts:
`load_settings()` raises `ConfigError` with that line, and the entrypoints print it and exit.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from autopilot.services.limits import RateLimit

CatchUp = Literal["coalesce", "all", "skip"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
# The longest interval a Node.js timer (the guide's original) takes, about 24.8 days; beyond
# it a wait would overflow rather than run rarely.
MAX_CHECK_INTERVAL_MS = 2**31 - 1
# A host name's label; underscores too, as container and service names use them.
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")

# What each variable accepts, for the one-line error.
_ACCEPTS: dict[str, str] = {
    "automation_scheduler_enabled": "true or false (any case; also 1/0, yes/no, on/off)",
    "automation_check_interval": (
        f"a positive integer number of milliseconds, at most {MAX_CHECK_INTERVAL_MS}"
    ),
    "database_url": "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB",
    "automation_timezone": "an IANA time zone such as America/New_York",
    "automation_market_calendar": "a market calendar code such as XNYS",
    "automation_catch_up": "coalesce, all or skip",
    "automation_max_attempts": "a positive integer",
    "automation_min_order_amount": "a non-negative decimal amount such as 1.00",
    "automation_proposal_ttl_hours": "a positive integer number of hours",
    "automation_host": "a host name or IP address, such as 127.0.0.1",
    "automation_port": "an integer port from 1 to 65535",
    "automation_batch_size": "a positive integer",
    "automation_pass_lanes": "an integer from 1 to 8",
    "automation_admin_key_file": "a file path such as ./autopilot-admin.key",
    "automation_rate_limit_execute": "a rate such as 30/minute (per second, minute, hour or day)",
    "automation_rate_limit_api": "a rate such as 600/minute (per second, minute, hour or day)",
    "automation_rate_limit_auth_failures": (
        "a rate such as 20/minute (per second, minute, hour or day)"
    ),
    "automation_forwarded_allow_ips": (
        "the proxies' IP addresses or networks, comma-separated (10.0.0.5,10.1.0.0/16), or *"
    ),
    "automation_worker_lease": "a number of seconds above 0, such as 30",
    "automation_worker_shutdown_timeout": "a number of seconds above 0, such as 30",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimits:
    execute: RateLimit
    """Manual executions per key."""
    api: RateLimit
    """All requests per key (admin, operator and client keys)."""
    auth_failures: RateLimit
    """Failed authentications per client address."""


class ConfigError(Exception):
    """A setting has a value the service cannot start with; str() is the one line to print."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    automation_scheduler_enabled: bool = True
    automation_check_interval: int = Field(default=3_600_000, gt=0, le=MAX_CHECK_INTERVAL_MS)
    database_url: str = "sqlite:///./autopilot.db"
    automation_timezone: str = "America/New_York"
    automation_market_calendar: str = "XNYS"
    automation_catch_up: CatchUp = "coalesce"
    automation_max_attempts: int = Field(default=3, gt=0)
    automation_min_order_amount: Decimal = Field(default=Decimal("1.00"), ge=0)
    automation_proposal_ttl_hours: int = Field(default=72, gt=0)
    automation_host: str = "127.0.0.1"
    automation_port: int = Field(default=8000, ge=1, le=65535)
    automation_batch_size: int = Field(default=1000, gt=0)
    automation_pass_lanes: int = Field(default=2, ge=1, le=8)
    """Batches a long pass keeps in flight on PostgreSQL (one thread and connection each) in
    run-once and worker processes: the database writes one while Python decides the next.
    SQLite has one writer, and `serve` keeps its interpreter for the API: always 1 there."""
    automation_admin_key_file: str = "./autopilot-admin.key"
    automation_rate_limit_execute: str = "30/minute"
    automation_rate_limit_api: str = "600/minute"
    automation_rate_limit_auth_failures: str = "20/minute"
    automation_forwarded_allow_ips: str = ""
    """The reverse proxies whose X-Forwarded-For names the client (empty: none, the socket's
    peer is the client address that rate limits and the audit trail use)."""
    automation_worker_lease: float = Field(default=30.0, gt=0, le=86_400, allow_inf_nan=False)
    """Seconds without a heartbeat after which a worker is dead and its work is taken over."""
    automation_worker_shutdown_timeout: float = Field(
        default=30.0, gt=0, le=86_400, allow_inf_nan=False
    )
    """Seconds a worker given SIGTERM has to commit the batch in hand before it stops at once."""

    @field_validator(
        "automation_rate_limit_execute",
        "automation_rate_limit_api",
        "automation_rate_limit_auth_failures",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        RateLimit.parse("check", value)
        return value.strip()

    @field_validator("automation_forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        text = value.strip()
        if text == "*":
            return text
        parts = [part.strip() for part in text.split(",")] if text else []
        for part in parts:
            ipaddress.ip_network(part, strict=False)  # ValueError for anything else
        return ",".join(parts)

    @field_validator("automation_admin_key_file")
    @classmethod
    def _check_key_file(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("not a path")
        return value.strip()

    @field_validator("automation_scheduler_enabled", mode="before")
    @classmethod
    def _parse_enabled(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("not a boolean")

    @field_validator("automation_check_interval", "automation_max_attempts", mode="before")
    @classmethod
    def _strict_int(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            raise ValueError("not an integer")
        return value

    @field_validator("automation_min_order_amount", mode="before")
    @classmethod
    def _parse_decimal(cls, value: Any) -> Decimal:
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError("not a decimal") from exc
        if not amount.is_finite():
            raise ValueError("not finite")
        return amount

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("malformed URL") from exc
        if url.drivername in ("postgresql", "postgres"):
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        if url.drivername not in ("sqlite", "postgresql+psycopg"):
            raise ValueError(f"unsupported database {url.drivername}")
        if url.drivername == "postgresql+psycopg" and not url.database:
            raise ValueError("no database name")
        return value

    @field_validator("automation_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        # An empty host would make the server listen on every interface, not on 127.0.0.1;
        # "host:8000" or "999.1.1.1" would fail at bind time with a traceback.
        host = value.strip()
        if not _is_host(host):
            raise ValueError("not a host")
        return host

    @field_validator("automation_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    @field_validator("automation_market_calendar")
    @classmethod
    def _check_calendar(cls, value: str) -> str:
        from autopilot.market.calendar import market_calendar

        market_calendar(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.automation_timezone)

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(
            execute=RateLimit.parse("execute", self.automation_rate_limit_execute),
            api=RateLimit.parse("api", self.automation_rate_limit_api),
            auth_failures=RateLimit.parse("auth", self.automation_rate_limit_auth_failures),
        )

    @property
    def check_interval_seconds(self) -> float:
        return self.automation_check_interval / 1000


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        pass
    labels = text.removesuffix(".").split(".")
    if not text or len(text) > 253 or all(label.isdigit() for label in labels):
        return False  # empty, too long, or dotted numbers that are no IPv4 address
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; raise ConfigError naming the first bad variable and what it accepts."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        given = error.get("input")
        accepts = _ACCEPTS.get(field, "a valid value")
        raise ConfigError(f"invalid {field.upper()}={given!s}: expected {accepts}") from None
