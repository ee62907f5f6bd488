"""Pass and fail criteria: deterministic, defensible checks on a model's answer."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import cel, validations

NEEDS_VALUE = "value is required when kind is contains, notContains, regex or equals"
NEEDS_VALUES = "values (at least one) is required when kind is oneOf"
NEEDS_JSON_SCHEMA = "jsonSchema is required when kind is jsonSchema"
NEEDS_TARGET = "target is required when kind is numeric"


class CriterionKind(StrEnum):
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

    # The API server checks the fields each kind needs (x-kubernetes-validations); the same
    # messages come from the Python validator below, so both surfaces say the same thing.
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(self.kind in ['contains', 'notContains', 'regex', 'equals']) || has(self.value)",
                NEEDS_VALUE,
                reason="FieldValueRequired",
                field_path=".value",
            ),
            cel(
                "self.kind != 'oneOf' || (has(self.values) && size(self.values) > 0)",
                NEEDS_VALUES,
                reason="FieldValueRequired",
                field_path=".values",
            ),
            cel(
                "self.kind != 'jsonSchema' || has(self.jsonSchema)",
                NEEDS_JSON_SCHEMA,
                reason="FieldValueRequired",
                field_path=".jsonSchema",
            ),
            cel(
                "self.kind != 'numeric' || has(self.target)",
                NEEDS_TARGET,
                reason="FieldValueRequired",
                field_path=".target",
            ),
        )
    )

    kind: CriterionKind = Field(description="What kind of check this is.")
    value: str | None = Field(
        default=None,
        max_length=512,
        description="Text to look for (contains, notContains), the pattern (regex: RE2 syntax, "
        "found anywhere in the answer; \\w, \\d, \\s and \\b are ASCII only, \\p{L} is any "
        "letter; no backreferences or lookaround), or the exact label (equals).",
    )
    values: list[Annotated[str, Field(max_length=512)]] | None = Field(
        default=None,
        max_length=32,
        description="Accepted labels (oneOf): the whole answer, trimmed, must be one of them.",
    )
    case_sensitive: bool = Field(
        default=False,
        description="Compare case-sensitively (contains, notContains, equals, oneOf, regex).",
    )
    json_schema: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema the answer, parsed as JSON, must satisfy (jsonSchema).",
    )
    target: float | None = Field(
        default=None, description="The number the answer must contain (numeric)."
    )
    tolerance: float | None = Field(
        default=None, ge=0, description="Allowed absolute difference from `target` (numeric)."
    )

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Criterion:
        kind = CriterionKind(self.kind)
        if kind in _NEEDS_VALUE and self.value is None:
            raise ValueError(NEEDS_VALUE)
        if kind is CriterionKind.ONE_OF and not self.values:
            raise ValueError(NEEDS_VALUES)
        if kind is CriterionKind.JSON_SCHEMA and self.json_schema is None:
            raise ValueError(NEEDS_JSON_SCHEMA)
        if kind is CriterionKind.NUMERIC and self.target is None:
            raise ValueError(NEEDS_TARGET)
        return self


_NEEDS_VALUE = frozenset(
    {CriterionKind.CONTAINS, CriterionKind.NOT_CONTAINS, CriterionKind.REGEX, CriterionKind.EQUALS}
)
