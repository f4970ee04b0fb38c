"""Building blocks shared by the policy models: the frozen base model, identifiers, periods."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from .durations import Duration, parse_duration

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


class PolicyModel(BaseModel):
    """Unknown keys are errors; parsed policies are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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

