"""Actions of a rule: delete, or anonymise columns with one of the strategies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

from .model_base import IDENT_KEYS, Identifier, PolicyModel


class NullStrategy(PolicyModel):
    strategy: Literal["null"]


class FixedStrategy(PolicyModel):
    strategy: Literal["fixed"]
    # strict: YAML `true` must not turn into 1
    value: StrictStr | StrictInt | StrictFloat


class HmacStrategy(PolicyModel):
    """Replace the value by a keyed pseudonym: prefix + hex of HMAC-SHA256(secret, value)."""

    strategy: Literal["hmac"]
    length: int = Field(32, ge=12, le=128, description="Total length, prefix included.")
    prefix: str = Field("pn:", pattern=r"^[A-Za-z0-9_:~-]{1,8}$")

    @model_validator(mode="after")
    def _room_for_digest(self) -> HmacStrategy:
        if self.length - len(self.prefix) < 8:
            raise ValueError("length leaves fewer than 8 hex digits after the prefix")
        return self


class MaskStrategy(PolicyModel):
    strategy: Literal["mask"]
    keep_first: int = Field(0, ge=0)
    keep_last: int = Field(0, ge=0)
    char: str = Field("*", min_length=1, max_length=1)


class EmailDomainStrategy(PolicyModel):
    """Keep only '@domain' of an e-mail address."""

    strategy: Literal["email_domain"]


class TruncateDateStrategy(PolicyModel):
    strategy: Literal["truncate_date"]
    to: Literal["month", "year"] = "month"


class RoundStrategy(PolicyModel):
    strategy: Literal["round"]
    digits: int = Field(0, ge=-9, le=9, description="Decimal places; negative rounds to tens, ...")


class PostcodePrefixStrategy(PolicyModel):
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


class Anonymise(PolicyModel):
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


def action_name(action: Literal["delete"] | Anonymise) -> str:
    return "delete" if action == "delete" else "anonymise"


