"""Pass and fail criteria: deterministic, defensible checks on a model's answer."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import Field

from modelsmith.api.base import ApiModel


class CriterionKind(str, Enum):
    CONTAINS = "contains"
    NOT_CONTAINS = "notContains"
    REGEX = "regex"
    EQUALS = "equals"
    ONE_OF = "oneOf"
    JSON_SCHEMA = "jsonSchema"
    NUMERIC = "numeric"


class Criterion(ApiModel):
    """One check on an answer. Which fields apply depends on `kind`:
    contains / notContains / regex / equals use `value`; oneOf uses `values`;
    jsonSchema uses `jsonSchema`; numeric uses `target` and `tolerance`."""

    kind: CriterionKind = Field(description="What kind of check this is.")
    value: str | None = Field(
        default=None,
        max_length=512,
        description="Text to look for (contains, notContains), the pattern (regex), or the exact "
        "label (equals).",
    )
    values: list[str] | None = Field(
        default=None,
        max_length=32,
        description="Accepted labels (oneOf): the whole answer, trimmed, must be one of them.",
    )
    case_sensitive: bool = Field(
        default=False, description="Compare case-sensitively (contains, notContains, equals, oneOf, regex)."
    )
    json_schema: dict[str, Any] | None = Field(
        default=None, description="A JSON Schema the answer, parsed as JSON, must satisfy (jsonSchema)."
    )
    target: float | None = Field(
        default=None, description="The number the answer must contain (numeric)."
    )
    tolerance: float | None = Field(
        default=None, ge=0, description="Allowed absolute difference from `target` (numeric)."
    )
