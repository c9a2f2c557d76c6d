"""Request bodies (camelCase JSON). Money and quantities accept strings or numbers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.alias_generators import to_camel

from autopilot.services.validation import MAX_AMOUNT, SYMBOL_AS_GIVEN

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

# What the OpenAPI document says of each kind of number: the services' own checks (positive,
# at most so many decimals, below a trillion), as a string pattern and as a JSON number, so
# that a client built from the document sends what the service accepts (DESIGN §6). The
# checks themselves stay in the services, which name the field when they refuse.
_WHOLE = "[1-9][0-9]{0,11}"  # below a trillion, no leading zero


def _positive(places: int) -> str:
    return rf"^(?:{_WHOLE}(?:\.[0-9]{{1,{places}}})?|0?\.[0-9]{{0,{places - 1}}}[1-9])$"


def _documented(pattern: str, description: str, **number: float) -> WithJsonSchema:
    step = {"multipleOf": float(Decimal(1).scaleb(-int(number.pop("places"))))}
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": pattern},
                {"type": "number", **number, **step},
            ],
            "description": description,
        }
    )


_BELOW_A_TRILLION = {"exclusiveMaximum": float(MAX_AMOUNT)}
Money = Annotated[
    Amount,
    _documented(
        _positive(2),
        "A positive amount of money, at most two decimals, below a trillion.",
        exclusiveMinimum=0,
        places=2,
        **_BELOW_A_TRILLION,
    ),
]
MoneyOrZero = Annotated[
    Amount,
    _documented(
        rf"^(?:0|{_WHOLE})(?:\.[0-9]{{1,2}})?$",
        "An amount of money, zero or more, at most two decimals, below a trillion.",
        minimum=0,
        places=2,
        **_BELOW_A_TRILLION,
    ),
]
Quantity = Annotated[
    Amount,
    _documented(
        _positive(6),
        "A positive quantity, at most six decimals.",
        exclusiveMinimum=0,
        places=6,
        **_BELOW_A_TRILLION,
    ),
]
# Prices are stored with 6 decimals: more would be rounded silently (0.0000001 would become 0).
PriceAmount = Annotated[
    Amount,
    Field(decimal_places=6),
    _documented(
        _positive(6),
        "A positive price, at most six decimals, below a trillion.",
        exclusiveMinimum=0,
        places=6,
        **_BELOW_A_TRILLION,
    ),
]
Symbol = Annotated[
    str,
    Field(
        min_length=1,
        max_length=16,
        json_schema_extra={"pattern": SYMBOL_AS_GIVEN},
        description="A ticker symbol: a letter, then letters, digits, '.' or '-' (not CASH).",
    ),
]
Weight = Annotated[
    Amount,
    _documented(
        r"^(?:100(?:\.0{1,4})?|[1-9][0-9]?(?:\.[0-9]{1,4})?|0?\.[0-9]{0,3}[1-9])$",
        "A percentage above 0 and at most 100, at most four decimals.",
        exclusiveMinimum=0,
        maximum=100,
        places=4,
    ),
]
TargetWeight = Annotated[
    Amount,
    _documented(
        r"^(?:100(?:\.0{1,4})?|[0-9]{1,2}(?:\.[0-9]{1,4})?)$",
        "A percentage from 0 to 100 (0: hold none of it), at most four decimals.",
        minimum=0,
        maximum=100,
        places=4,
    ),
]
Threshold = Annotated[
    Amount,
    Field(decimal_places=4),
    _documented(
        r"^(?:[1-9][0-9]?(?:\.[0-9]{1,4})?|0?\.[0-9]{0,3}[1-9])$",
        "Percentage points above 0 and below 100, at most four decimals.",
        exclusiveMinimum=0,
        exclusiveMaximum=100,
        places=4,
    ),
]
# Trigger levels live on a grid of 4 decimals (the evaluation's integer ticks).
TriggerPrice = Annotated[
    Amount,
    Field(decimal_places=4),
    _documented(
        _positive(4),
        "A positive price, at most four decimals, below a trillion.",
        exclusiveMinimum=0,
        places=4,
        **_BELOW_A_TRILLION,
    ),
]
TriggerPercent = Annotated[
    Amount,
    Field(decimal_places=4),
    _documented(
        _positive(4),
        "A percentage above 0 (below 100 going down, and for a trailing stop), four decimals.",
        exclusiveMinimum=0,
        places=4,
        **_BELOW_A_TRILLION,
    ),
]
TRAILING = ("trailingStop",)
CLIENT_KEY: Mapping[str, tuple[str, ...]] = {"role": ("client",)}
OTHER_KEYS: Mapping[str, tuple[str, ...]] = {"role": ("admin", "operator", "market-data")}


# Ids are INTEGER columns (32-bit on PostgreSQL).
def _not_a_bool(value: object) -> object:
    # JSON true is no number, though Python's bool is an int: {"clientId": true} is refused.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


NOT_A_BOOL = BeforeValidator(_not_a_bool)  # after the bounds, so that the schema shows them
Id = Annotated[int, Field(ge=1, le=2**31 - 1), NOT_A_BOOL]
Days = Annotated[int, Field(ge=0, le=3650), NOT_A_BOOL]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
FrequencyName = Literal["daily", "weekly", "biweekly", "monthly", "quarterly", "annually"]
DayOfMonth = Annotated[int, Field(ge=1, le=31), NOT_A_BOOL] | Literal["last"]


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


@dataclass(frozen=True)
class Variant:
    """One shape of a body the service accepts: the fields it takes, those it needs, and the
    values some of them are fixed to (``{"side": ("buy",)}``)."""

    fields: tuple[str, ...]
    required: tuple[str, ...]
    fixed: Mapping[str, tuple[str, ...]] = dataclass_field(default_factory=dict)


def one_of(*variants: Variant) -> Callable[[dict[str, Any]], None]:
    """Document a body as the variants its service checks for (one rule or one client, a
    quantity or a notional, the fields a condition type uses): ``json_schema_extra`` that
    turns the model's properties into a ``oneOf`` of closed objects. The checks stay the
    services' (their 422 names the field); this makes the document say what they accept."""

    def document(schema: dict[str, Any]) -> None:
        properties = schema.pop("properties")
        for key in ("required", "additionalProperties", "type"):
            schema.pop(key, None)
        schema["oneOf"] = [
            {
                "type": "object",
                "properties": {
                    name: (
                        {"type": "string", "enum": list(v.fixed[name])}
                        if name in v.fixed
                        else _not_null(properties[name])
                        if name in v.required
                        else properties[name]
                    )
                    for name in v.fields
                },
                "required": list(v.required),
                "additionalProperties": False,
            }
            for v in variants
        ]

    return document


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema without its null option (a variant needs the field's value)."""
    options = [o for o in schema.get("anyOf", []) if o != {"type": "null"}]
    if not options:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **options[0]} if len(options) == 1 else {**rest, "anyOf": options}


class ExecuteRequest(Body):
    """``{"type": "auto-invest", "ruleId": "AUTO-…"}``, ``{"type": "rebalancing"}`` (every due
    rule), ``{"type": "triggers", "clientId": 123}`` (client optional)."""

    model_config = ConfigDict(
        json_schema_extra=one_of(
            Variant(("type", "ruleId"), ("type",), {"type": ("auto-invest", "rebalancing")}),
            Variant(("type", "clientId"), ("type",), {"type": ("triggers",)}),
        )
    )
    type: Literal["auto-invest", "rebalancing", "triggers"]
    rule_id: str | None = Field(default=None, min_length=1, max_length=40)
    client_id: Id | None = None


class ClientCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)


class AccountCreate(Body):
    client_id: Id
    currency: str = Field(
        default="USD",
        json_schema_extra={"pattern": "^[A-Za-z]{3}$"},
        description="A three-letter currency code.",
    )


class DepositCreate(Body):
    amount: Money


class PriceIn(Body):
    symbol: Symbol
    price: PriceAmount
    as_of: datetime | None = None


class PricesPost(Body):
    prices: list[PriceIn] = Field(min_length=1, max_length=10_000)


class SecurityPut(Body):
    tradable: bool = True
    fractionable: bool = True


class OrderCreate(Body):
    """A market order by quantity, a limit order (quantity and limit price), or a market buy
    of a notional amount."""

    model_config = ConfigDict(
        json_schema_extra=one_of(
            Variant(
                ("accountId", "symbol", "side", "type", "quantity"),
                ("accountId", "symbol", "side", "quantity"),
                {"type": ("market",)},
            ),
            Variant(
                ("accountId", "symbol", "side", "type", "quantity", "limitPrice"),
                ("accountId", "symbol", "side", "type", "quantity", "limitPrice"),
                {"type": ("limit",)},
            ),
            Variant(
                ("accountId", "symbol", "side", "type", "notional"),
                ("accountId", "symbol", "side", "notional"),
                {"side": ("buy",), "type": ("market",)},
            ),
        )
    )
    account_id: Id
    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    quantity: Quantity | None = Field(default=None, description="This, or a notional (buys).")
    notional: Money | None = Field(
        default=None, description="A market buy's amount to spend, instead of a quantity."
    )
    limit_price: PriceAmount | None = Field(default=None, description="Limit orders need one.")


class AllocationIn(Body):
    symbol: Symbol
    weight: Weight


class RuleCreate(Body):
    client_id: Id
    account_id: Id
    name: str = Field(min_length=1, max_length=200)
    amount: Money
    allocations: list[AllocationIn] = Field(
        min_length=1, max_length=50, description="Distinct symbols, weights summing to 100."
    )
    frequency: FrequencyName
    day_of_week: Weekday | None = None
    day_of_month: DayOfMonth | None = None
    holiday_rule: Literal["following", "preceding"] = "following"
    start_date: date
    end_date: date | None = None
    max_total_amount: Money | None = None
    is_enabled: bool = True


class RuleUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    amount: Money | None = None
    allocations: list[AllocationIn] | None = Field(
        default=None, min_length=1, max_length=50, description="Weights summing to 100."
    )
    frequency: FrequencyName | None = None
    day_of_week: Weekday | None = None
    day_of_month: DayOfMonth | None = None
    holiday_rule: Literal["following", "preceding"] | None = None
    start_date: date | None = None
    end_date: date | None = None
    max_total_amount: Money | None = None
    is_enabled: bool | None = None


class TargetIn(Body):
    symbol: Annotated[Symbol, Field(description="A ticker symbol, or CASH for the cash.")]
    weight: TargetWeight


TriggerModeName = Literal["drift", "schedule", "both"]
ScheduleFrequencyName = Literal["monthly", "quarterly", "annually"]


class RebalancingCreate(Body):
    client_id: Id
    account_id: Id
    name: str = Field(min_length=1, max_length=200)
    targets: list[TargetIn] = Field(
        min_length=1, max_length=50, description="Distinct symbols, weights summing to 100."
    )
    trigger_mode: TriggerModeName = "drift"
    drift_threshold: Threshold
    relative_threshold: Threshold | None = None
    frequency: ScheduleFrequencyName | None = None
    day_of_month: DayOfMonth | None = None
    require_confirmation: bool = False
    min_trade_amount: MoneyOrZero = Decimal("1.00")
    allow_sells: bool = True
    cash_reserve: MoneyOrZero = Decimal("0.00")
    cooldown_days: Days = 0
    is_enabled: bool = True


class RebalancingUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    targets: list[TargetIn] | None = Field(
        default=None, min_length=1, max_length=50, description="Weights summing to 100."
    )
    trigger_mode: TriggerModeName | None = None
    drift_threshold: Threshold | None = None
    relative_threshold: Threshold | None = None
    frequency: ScheduleFrequencyName | None = None
    day_of_month: DayOfMonth | None = None
    require_confirmation: bool | None = None
    min_trade_amount: MoneyOrZero | None = None
    allow_sells: bool | None = None
    cash_reserve: MoneyOrZero | None = None
    cooldown_days: Days | None = None
    is_enabled: bool | None = None


class TriggerConditionIn(Body):
    """The fields each condition type uses (``CONDITION_FIELDS``); a percent change without a
    reference price measures from the current price."""

    model_config = ConfigDict(
        json_schema_extra=one_of(
            Variant(("type", "level"), ("type", "level"), {"type": ("priceAbove", "priceBelow")}),
            Variant(
                ("type", "percent", "direction", "referencePrice"),
                ("type", "percent", "direction"),
                {"type": ("percentChange",)},
            ),
            Variant(
                ("type", "percent", "activationPrice"), ("type", "percent"), {"type": TRAILING}
            ),
            Variant(("type", "amount", "activationPrice"), ("type", "amount"), {"type": TRAILING}),
        )
    )
    type: Literal["priceAbove", "priceBelow", "percentChange", "trailingStop"]
    level: TriggerPrice | None = None
    percent: TriggerPercent | None = None
    amount: TriggerPrice | None = None
    reference_price: TriggerPrice | None = None
    direction: Literal["up", "down"] | None = None
    activation_price: TriggerPrice | None = None


class TriggerOrderIn(Body):
    """A market order of a quantity (or "all", selling), a limit order, or a market buy of a
    notional amount."""

    model_config = ConfigDict(
        json_schema_extra=one_of(
            Variant(("side", "type", "quantity"), ("side", "quantity"), {"type": ("market",)}),
            Variant(
                ("side", "type", "quantity", "limitPrice"),
                ("side", "type", "quantity", "limitPrice"),
                {"type": ("limit",)},
            ),
            Variant(
                ("side", "type", "notional"),
                ("side", "notional"),
                {"side": ("buy",), "type": ("market",)},
            ),
        )
    )
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    quantity: Literal["all"] | Quantity | None = Field(
        default=None, description='A quantity, or "all" of the position (sells).'
    )
    notional: Money | None = Field(default=None, description="A buy's amount, instead.")
    limit_price: PriceAmount | None = Field(default=None, description="Limit orders need one.")


class TriggerCreate(Body):
    client_id: Id
    account_id: Id
    symbol: Symbol
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
    """A client key names its client (a client key's own, if it makes one); the other roles
    take none."""

    model_config = ConfigDict(
        json_schema_extra=one_of(
            Variant(
                ("name", "role", "clientId", "expiresInDays"),
                ("name", "role", "clientId"),
                CLIENT_KEY,
            ),
            Variant(("name", "role", "expiresInDays"), ("name", "role"), OTHER_KEYS),
        )
    )
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "operator", "client", "market-data"]
    client_id: Id | None = None
    expires_in_days: Annotated[int, Field(ge=1, le=3650), NOT_A_BOOL] | None = None


WebhookEvent = Literal[
    "execution.succeeded",
    "execution.failed",
    "execution.skipped",
    "proposal.pending",
    "trigger.fired",
    "scheduler.pass_failed",
]


class WebhookCreate(Body):
    url: str = Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s/?#]+([/?#]\S*)?$",
        description="An http:// or https:// URL the events are POSTed to.",
    )
    events: list[WebhookEvent] = Field(min_length=1, max_length=6)
