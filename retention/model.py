"""The policy language as frozen, typed models; `retention schema` exports them as JSON Schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .durations import Duration, parse_duration, parse_month_day

IDENT_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
SLUG_RE = r"^[a-z0-9][a-z0-9_.-]{0,99}$"

Identifier = Annotated[
    str,
    Field(pattern=IDENT_RE, description="A table or column name as the database spells it."),
]
Scalar = str | int | float | bool | None
# pydantic moves the key pattern of `dict[Identifier, ...]` into patternProperties, which leaves
# other keys unchecked; propertyNames holds them to the pattern too.
IDENT_KEYS: dict[str, Any] = {"propertyNames": {"pattern": IDENT_RE}}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- categories


class Category(_Model):
    """A category of personal data, as the privacy policy names it."""

    id: Annotated[str, Field(pattern=SLUG_RE)]
    title: str
    description: str = ""
    legal_basis: str = Field(description="Why the data may be kept, e.g. 'GDPR Art. 6(1)(b)'.")
    policy_clause: str = Field(
        description="The privacy-policy sentence or section this category implements."
    )


# --------------------------------------------------------------------------- filters

ComparisonOp = Literal["=", "!=", "<", "<=", ">", ">="]
SetOp = Literal["in", "not in"]
NullOp = Literal["is null", "is not null"]


class ColumnCondition(_Model):
    """Compare a column of the current table with a bound value."""

    column: Identifier
    op: Literal[ComparisonOp, SetOp, NullOp]  # one Literal: one error listing every op
    value: Scalar | list[Scalar] = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> ColumnCondition:
        if self.op in ("is null", "is not null"):
            if self.value is not None:
                raise ValueError(f"'{self.op}' takes no value; remove 'value'")
        elif self.op in ("in", "not in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"'{self.op}' needs a non-empty list as value, e.g. [a, b]")
            if any(v is None for v in self.value):
                raise ValueError(f"'{self.op}' lists cannot hold null; use 'is null' instead")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(
                f"'{self.op}' needs one non-null value (use 'is null' to test for NULL)"
            )
        return self


class Link(_Model):
    """Rows of another table linked to the current row by equal columns."""

    table: Identifier
    on: dict[Identifier, Identifier] = Field(
        description="Pairs `other_table_column: current_table_column`.", min_length=1,
        json_schema_extra=IDENT_KEYS,
    )
    where: Condition | None = None


class ExistsCondition(_Model):
    exists: Link


class NotExistsCondition(_Model):
    not_exists: Link


class AllCondition(_Model):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(_Model):
    any: list[Condition] = Field(min_length=1)


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "exists", "not_exists"):
            if key in value:
                return f"{key.replace('_', '-')}-condition"
        return "column-condition"
    return None


def _list_as_all(value: Any) -> Any:
    return {"all": value} if isinstance(value, list) else value


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            ColumnCondition: "column-condition", AllCondition: "all-condition",
            AnyCondition: "any-condition", ExistsCondition: "exists-condition",
            NotExistsCondition: "not-exists-condition",
        }.get(type(value))
    return _condition_kind(value)


_TaggedCondition = Annotated[
    Annotated[ColumnCondition, Tag("column-condition")]
    | Annotated[AllCondition, Tag("all-condition")]
    | Annotated[AnyCondition, Tag("any-condition")]
    | Annotated[ExistsCondition, Tag("exists-condition")]
    | Annotated[NotExistsCondition, Tag("not-exists-condition")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message=(
            "a condition is {column, op, value}, {all: [...]}, {any: [...]}, "
            "{exists: {...}} or {not_exists: {...}}"
        ),
    ),
]
# A bare list of conditions means "all of them".
Condition = Annotated[
    _TaggedCondition,
    BeforeValidator(_list_as_all, json_schema_input_type=_TaggedCondition | list[_TaggedCondition]),
]


# --------------------------------------------------------------------------- expiry


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, Duration):
        return value
    raise ValueError(
        f"{value!r} is not a duration (try '3 years', '18 months', '90 days' or 'P3Y')"
    )


DurationText = Annotated[
    Duration,
    BeforeValidator(_duration),
    WithJsonSchema({
        "type": "string",
        "description": "A period: '90 days', '18 months', '1 year 6 months', or ISO 8601 'P3Y'.",
        "examples": ["3 years", "18 months", "P3Y"],
    }),
]


class Expiry(_Model):
    """When a row becomes due: a period after a timestamp column."""

    after: DurationText
    from_: Identifier = Field(alias="from", description="The timestamp column the clock reads.")
    counted_from: Literal["timestamp", "financial_year_end"] = Field(
        "timestamp",
        description="'financial_year_end' counts the period from the end of the financial year "
        "the timestamp falls in (bookkeeping periods).",
    )
    epoch: Literal["seconds"] | None = Field(
        None, description="The column holds Unix epoch seconds as an integer."
    )
    timezone: str | None = Field(
        None,
        description="For columns without a time zone: the zone the application wrote them in "
        "(default UTC).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(value)
            except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys
                raise ValueError(f"{value!r} is not a time zone (e.g. 'Europe/Oslo')") from None
        return value


# --------------------------------------------------------------------------- actions


class NullStrategy(_Model):
    strategy: Literal["null"]


class FixedStrategy(_Model):
    strategy: Literal["fixed"]
    # strict: YAML `true` must not turn into 1
    value: StrictStr | StrictInt | StrictFloat


class HmacStrategy(_Model):
    """Replace the value by a keyed pseudonym: prefix + hex of HMAC-SHA256(secret, value)."""

    strategy: Literal["hmac"]
    length: int = Field(32, ge=12, le=128, description="Total length, prefix included.")
    prefix: str = Field("pn:", pattern=r"^[A-Za-z0-9_:~-]{1,8}$")

    @model_validator(mode="after")
    def _room_for_digest(self) -> HmacStrategy:
        if self.length - len(self.prefix) < 8:
            raise ValueError("length leaves fewer than 8 hex digits after the prefix")
        return self


class MaskStrategy(_Model):
    strategy: Literal["mask"]
    keep_first: int = Field(0, ge=0)
    keep_last: int = Field(0, ge=0)
    char: str = Field("*", min_length=1, max_length=1)


class EmailDomainStrategy(_Model):
    """Keep only '@domain' of an e-mail address."""

    strategy: Literal["email_domain"]


class TruncateDateStrategy(_Model):
    strategy: Literal["truncate_date"]
    to: Literal["month", "year"] = "month"


class RoundStrategy(_Model):
    strategy: Literal["round"]
    digits: int = Field(0, ge=-9, le=9, description="Decimal places; negative rounds to tens, ...")


class PostcodePrefixStrategy(_Model):
    strategy: Literal["postcode_prefix"]
    keep: int = Field(2, ge=0, le=10)


STRATEGY_NAMES = (
    "null", "fixed", "hmac", "mask", "email_domain", "truncate_date", "round", "postcode_prefix"
)


def _strategy_shorthand(value: Any) -> Any:
    if value is None:
        return {"strategy": "null"}
    if isinstance(value, str):
        return {"strategy": value}
    return value


_TaggedStrategy = Annotated[
    NullStrategy | FixedStrategy | HmacStrategy | MaskStrategy | EmailDomainStrategy
    | TruncateDateStrategy | RoundStrategy | PostcodePrefixStrategy,
    Field(discriminator="strategy"),
]
# `column: ~` means null; `column: hmac` is the strategy with its defaults.
_StrategyShorthand = Literal[
    "null", "hmac", "mask", "email_domain", "truncate_date", "round", "postcode_prefix"
]  # every strategy but 'fixed', which needs a value
Strategy = Annotated[
    _TaggedStrategy,
    BeforeValidator(_strategy_shorthand,
                    json_schema_input_type=_TaggedStrategy | _StrategyShorthand | None),
]


class Anonymise(_Model):
    anonymise: dict[Identifier, Strategy] = Field(min_length=1, json_schema_extra=IDENT_KEYS)


def _action_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "delete-action"
    if isinstance(value, dict | Anonymise):
        return "anonymise-action"
    return None


Action = Annotated[
    Annotated[Literal["delete"], Tag("delete-action")]
    | Annotated[Anonymise, Tag("anonymise-action")],
    Discriminator(
        _action_kind,
        custom_error_type="action",
        custom_error_message="an action is 'delete' or {anonymise: {column: strategy, ...}}",
    ),
]


# --------------------------------------------------------------------------- rules


class Related(_Model):
    """Rows of another table handled together with each selected row, in the same batch."""

    table: Identifier
    on: dict[Identifier, Identifier] = Field(
        min_length=1, description="Pairs `this_table_column: parent_table_column`.",
        json_schema_extra=IDENT_KEYS,
    )
    key: list[Identifier] | None = None
    where: Condition | None = None
    action: Action
    related: list[Related] = Field(default_factory=list)


class Rule(_Model):
    id: Annotated[str, Field(pattern=SLUG_RE)]
    category: str
    description: str = ""
    table: Identifier
    key: list[Identifier] | None = Field(
        None, description="Key columns; the reflected primary key when omitted."
    )
    where: Condition | None = None
    expires: Expiry | None = Field(
        None, description="Omit to apply as soon as the filters match (e.g. account removed)."
    )
    action: Action
    related: list[Related] = Field(default_factory=list)
    batch_size: int | None = Field(None, ge=1, le=100_000)
    max_rows: int | None = Field(
        None, ge=0, description="Change nothing if more target rows than this are due "
        "(overrides settings.max_rows)."
    )
    max_fraction: float | None = Field(
        None, gt=0, le=1, description="Change nothing if more than this fraction of the target "
        "table is due (overrides settings.max_fraction)."
    )


class Settings(_Model):
    financial_year_start: str = Field("01-01", description="Month-day the financial year starts.")
    batch_size: int = Field(2000, ge=1, le=100_000)
    max_rows: int | None = Field(None, ge=0, description="Default cap of rows due per rule.")
    max_fraction: float | None = Field(
        None, gt=0, le=1, description="Default cap of the fraction of a table due per rule."
    )

    @field_validator("financial_year_start")
    @classmethod
    def _month_day(cls, value: str) -> str:
        parse_month_day(value)
        return value


class PolicyFile(_Model):
    """One policy file; several files are merged into one policy."""

    version: Literal[1] = 1
    settings: Settings | None = None
    categories: list[Category] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    schema = PolicyFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "retention policy file"
    return schema


def action_name(action: Literal["delete"] | Anonymise) -> str:
    return "delete" if action == "delete" else "anonymise"


