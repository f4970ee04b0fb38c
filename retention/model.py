"""The policy language as frozen, typed models; `retention schema` exports them as JSON Schema.

Building blocks live in `model_base`, actions and anonymisation strategies in `model_actions`;
this module re-exports them, so `retention.model` stays the one place to import from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from .durations import parse_month_day
from .model_actions import (
    STRATEGY_NAMES,
    Action,
    Anonymise,
    EmailDomainStrategy,
    FixedStrategy,
    HmacStrategy,
    MaskStrategy,
    NullStrategy,
    PostcodePrefixStrategy,
    RoundStrategy,
    Strategy,
    TruncateDateStrategy,
    action_name,
)
from .model_base import IDENT_KEYS, IDENT_RE, SLUG_RE, DurationText, Identifier, PolicyModel, Scalar

__all__ = [
    "IDENT_RE", "SLUG_RE", "STRATEGY_NAMES", "Action", "AllCondition", "Anonymise", "AnyCondition",
    "Category", "ColumnCondition", "Condition", "DurationText", "EmailDomainStrategy",
    "ExistsCondition", "Expiry", "FixedStrategy", "HmacStrategy", "Identifier", "Keep",
    "LegalFloor", "Link", "MaskStrategy", "NotExistsCondition", "NullStrategy", "PolicyFile",
    "PostcodePrefixStrategy", "Related", "RoundStrategy", "Rule", "Settings", "Strategy",
    "TruncateDateStrategy", "action_name", "json_schema",
]

_Model = PolicyModel

# --------------------------------------------------------------------------- categories

CountedFrom = Literal["timestamp", "financial_year_end"]


def _text_given(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty: say why (a law, a purpose)")
    return value


class LegalFloor(_Model):
    """A period the law requires records of a category to be kept: no rule may delete them
    sooner. `retention validate` rejects every rule whose delete could come earlier."""

    after: DurationText
    counted_from: CountedFrom = Field(
        "timestamp",
        description="'financial_year_end': the period counts from the end of the financial "
        "year the clock falls in (as in Expiry).",
    )
    from_: Identifier | None = Field(
        None, alias="from",
        description="The clock column a deleting rule must count from (e.g. created_at); any "
        "clock column when omitted.",
    )
    tables: tuple[Identifier, ...] = Field(
        (), description="Tables the floor protects from every rule, whatever its category, in "
        "addition to the target tables of the category's own rules.",
    )
    law: Annotated[str, BeforeValidator(_text_given)] = Field(
        description="The law that sets the period, e.g. 'Bookkeeping Act § 13'."
    )

    @field_validator("tables")
    @classmethod
    def _distinct_tables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({t for t in value if value.count(t) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice")
        return value


class Category(_Model):
    """A category of personal data, as the privacy policy names it."""

    id: Annotated[str, Field(pattern=SLUG_RE)]
    title: str
    description: str = ""
    legal_basis: str = Field(description="Why the data may be kept, e.g. 'GDPR Art. 6(1)(b)'.")
    policy_clause: str = Field(
        description="The privacy-policy sentence or section this category implements."
    )
    legal_floor: LegalFloor | None = Field(
        None, description="A minimum retention period set by law for this category's records."
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
        tags: dict[type[BaseModel], str] = {
            ColumnCondition: "column-condition", AllCondition: "all-condition",
            AnyCondition: "any-condition", ExistsCondition: "exists-condition",
            NotExistsCondition: "not-exists-condition",
        }
        return tags.get(type(value))
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


class Expiry(_Model):
    """When a row becomes due: a period after a timestamp column."""

    after: DurationText
    from_: Identifier = Field(alias="from", description="The timestamp column the clock reads.")
    counted_from: CountedFrom = Field(
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


# --------------------------------------------------------------------------- keep


class Keep(_Model):
    """Personal data the policy deliberately keeps (no rule removes it), or a table that holds
    none, with the reason: every personal-data table is then accounted for, by a rule or by
    a keep entry."""

    table: Identifier
    columns: tuple[Identifier, ...] | None = Field(
        None, min_length=1, description="The columns kept; the whole table when omitted."
    )
    category: str = Field(description="The id of the category the data belongs to.")
    reason: Annotated[str, BeforeValidator(_text_given)] = Field(
        description="Why the data is kept, or why it is not personal data."
    )

    @field_validator("columns")
    @classmethod
    def _distinct_columns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        twice = sorted({c for c in value or () if value is not None and value.count(c) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice")
        return value


class PolicyFile(_Model):
    """One policy file; several files are merged into one policy."""

    version: Literal[1] = 1
    settings: Settings | None = None
    categories: list[Category] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    keep: list[Keep] = Field(
        default_factory=list, description="Personal data kept on purpose, with the reason."
    )


def json_schema() -> dict[str, Any]:
    schema = PolicyFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "retention policy file"
    return schema

