"""Request bodies (camelCase JSON). Money and quantities accept strings or numbers."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from autopilot.services.validation import MAX_AMOUNT

# Plain ASCII decimal text: Decimal() alone would also read "1_000" or full-width digits.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def _no_float_noise(value: object) -> object:
    # JSON numbers arrive as float; go through their shortest text so 0.1 stays 0.1.
    if isinstance(value, float):
        return str(value)
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        raise ValueError(f"{value[:40]!r} is not a decimal number")
    return value


# Bounded so an absurd number is a 422 naming the field, not a database overflow (500).
Amount = Annotated[
    Decimal, BeforeValidator(_no_float_noise), Field(allow_inf_nan=False, lt=MAX_AMOUNT)
]
# Prices are stored with 6 decimals: more would be rounded silently (0.0000001 would become 0).
PriceAmount = Annotated[Amount, Field(decimal_places=6)]
# Ids are INTEGER columns (32-bit on PostgreSQL).
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
FrequencyName = Literal["daily", "weekly", "biweekly", "monthly", "quarterly", "annually"]
DayOfMonth = Annotated[int, Field(ge=1, le=31)] | Literal["last"]


class Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refused here, not a 500 from the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class ExecuteRequest(Body):
    type: Literal["auto-invest", "rebalancing", "triggers"]
    rule_id: str | None = Field(default=None, min_length=1, max_length=40)
    client_id: Id | None = None


class ClientCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)


class AccountCreate(Body):
    client_id: Id
    currency: str = "USD"


class DepositCreate(Body):
    amount: Amount


class PriceIn(Body):
    symbol: str = Field(min_length=1, max_length=16)
    price: PriceAmount
    as_of: datetime | None = None


class PricesPost(Body):
    prices: list[PriceIn] = Field(min_length=1, max_length=10_000)


class SecurityPut(Body):
    tradable: bool = True
    fractionable: bool = True


class OrderCreate(Body):
    account_id: Id
    symbol: str = Field(min_length=1, max_length=16)
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    quantity: Amount | None = None
    notional: Amount | None = None
    limit_price: PriceAmount | None = None


class AllocationIn(Body):
    symbol: str = Field(min_length=1, max_length=16)
    weight: Amount


class RuleCreate(Body):
    client_id: Id
    account_id: Id
    name: str = Field(min_length=1, max_length=200)
    amount: Amount
    allocations: list[AllocationIn] = Field(min_length=1, max_length=50)
    frequency: FrequencyName
    day_of_week: Weekday | None = None
    day_of_month: DayOfMonth | None = None
    holiday_rule: Literal["following", "preceding"] = "following"
    start_date: date
    end_date: date | None = None
    max_total_amount: Amount | None = None
    is_enabled: bool = True


class RuleUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    amount: Amount | None = None
    allocations: list[AllocationIn] | None = Field(default=None, min_length=1, max_length=50)
    frequency: FrequencyName | None = None
    day_of_week: Weekday | None = None
    day_of_month: DayOfMonth | None = None
    holiday_rule: Literal["following", "preceding"] | None = None
    start_date: date | None = None
    end_date: date | None = None
    max_total_amount: Amount | None = None
    is_enabled: bool | None = None


class TargetIn(Body):
    symbol: str = Field(min_length=1, max_length=16)
    weight: Amount


Percent = Annotated[Amount, Field(decimal_places=4)]
TriggerModeName = Literal["drift", "schedule", "both"]
ScheduleFrequencyName = Literal["monthly", "quarterly", "annually"]


class RebalancingCreate(Body):
    client_id: Id
    account_id: Id
    name: str = Field(min_length=1, max_length=200)
    targets: list[TargetIn] = Field(min_length=1, max_length=50)
    trigger_mode: TriggerModeName = "drift"
    drift_threshold: Percent
    relative_threshold: Percent | None = None
    frequency: ScheduleFrequencyName | None = None
    day_of_month: DayOfMonth | None = None
    require_confirmation: bool = False
    min_trade_amount: Amount = Decimal("1.00")
    allow_sells: bool = True
    cash_reserve: Amount = Decimal("0.00")
    cooldown_days: int = Field(default=0, ge=0, le=3650)
    is_enabled: bool = True


class RebalancingUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    targets: list[TargetIn] | None = Field(default=None, min_length=1, max_length=50)
    trigger_mode: TriggerModeName | None = None
    drift_threshold: Percent | None = None
    relative_threshold: Percent | None = None
    frequency: ScheduleFrequencyName | None = None
    day_of_month: DayOfMonth | None = None
    require_confirmation: bool | None = None
    min_trade_amount: Amount | None = None
    allow_sells: bool | None = None
    cash_reserve: Amount | None = None
    cooldown_days: int | None = Field(default=None, ge=0, le=3650)
    is_enabled: bool | None = None


TriggerPercent = Annotated[Amount, Field(decimal_places=4)]
TriggerPrice = Annotated[Amount, Field(decimal_places=4)]


class TriggerConditionIn(Body):
    type: Literal["priceAbove", "priceBelow", "percentChange", "trailingStop"]
    level: TriggerPrice | None = None
    percent: TriggerPercent | None = None
    amount: TriggerPrice | None = None
    reference_price: TriggerPrice | None = None
    direction: Literal["up", "down"] | None = None
    activation_price: TriggerPrice | None = None


class TriggerOrderIn(Body):
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    quantity: Literal["all"] | Amount | None = None
    notional: Amount | None = None
    limit_price: PriceAmount | None = None


class TriggerCreate(Body):
    client_id: Id
    account_id: Id
    symbol: str = Field(min_length=1, max_length=16)
    condition: TriggerConditionIn
    order: TriggerOrderIn
    oco_group: str | None = Field(default=None, min_length=1, max_length=80)
    expires_at: datetime | None = None


class TriggerConditionPatch(Body):
    level: TriggerPrice | None = None
    percent: TriggerPercent | None = None
    amount: TriggerPrice | None = None
    reference_price: TriggerPrice | None = None
    activation_price: TriggerPrice | None = None


class TriggerUpdate(Body):
    condition: TriggerConditionPatch | None = None
    expires_at: datetime | None = None


class ApiKeyCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "operator", "client", "market-data"]
    client_id: Id | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
