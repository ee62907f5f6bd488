"""The label selector the cluster-scoped admin objects use to pick namespaces, and the one
function that evaluates it (the operator's own copy of what the admission policies check in CEL).

Same shape and meaning as Kubernetes' own metav1.LabelSelector: every matchLabels entry and every
matchExpressions entry must hold; `{}` selects every namespace."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import cel, validations

LabelValue = Annotated[str, Field(max_length=63)]


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


VALUES_RULE = "In and NotIn need values; Exists and DoesNotExist take none"


class LabelSelectorRequirement(ApiModel):
    """One requirement: a key, an operator and (for In/NotIn) the values."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.operator in ['In', 'NotIn'] ? "
                "(has(self.values) && size(self.values) > 0) : "
                "(!has(self.values) || size(self.values) == 0)",
                VALUES_RULE,
            )
        )
    )

    key: str = Field(min_length=1, max_length=317, description="The label key.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] = Field(
        default_factory=list,
        max_length=64,
        description="The values for In and NotIn (empty for Exists and DoesNotExist).",
    )

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        # The CEL rule checked in Python: the models refuse what the API server refuses.
        if (self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)) != bool(self.values):
            raise ValueError(VALUES_RULE)
        return self


class LabelSelector(ApiModel):
    """Selects namespaces by their labels; `{}` selects every namespace."""

    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=32,
        description="Labels a namespace must carry with exactly these values.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        max_length=16,
        description="Requirements a namespace's labels must all meet.",
    )


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """True when `labels` meet every requirement of `selector` (an empty selector: always)."""
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        op = requirement.operator
        if op == SelectorOperator.EXISTS and not present:
            return False
        if op == SelectorOperator.DOES_NOT_EXIST and present:
            return False
        if op == SelectorOperator.IN and (not present or value not in requirement.values):
            return False
        if op == SelectorOperator.NOT_IN and present and value in requirement.values:
            return False
    return True
