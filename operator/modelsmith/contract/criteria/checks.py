"""One check per criterion kind, prepared once and then applied to any number of answers.

Text comparisons fold case with `str.casefold` unless the criterion is case-sensitive. Reasons
are short fixed phrases: they never quote the answer or the criterion."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import referencing
import referencing.exceptions
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for

from modelsmith.api.criteria import Criterion, CriterionKind
from modelsmith.contract.criteria.errors import CriterionError
from modelsmith.contract.criteria.extract import first_json, first_number
from modelsmith.contract.criteria.regex import compile_pattern
from modelsmith.contract.criteria.results import CriterionResult

Check = Callable[[str], tuple[bool, str]]

# Which optional fields each kind reads, by Python name and wire name. A field set on a kind that
# ignores it is almost always a mistake in the rubric (a `values` list on `equals`), so it is
# refused rather than silently dropped.
_FIELDS = {
    "value": "value",
    "values": "values",
    "json_schema": "jsonSchema",
    "target": "target",
    "tolerance": "tolerance",
}
_USES: dict[CriterionKind, frozenset[str]] = {
    CriterionKind.CONTAINS: frozenset({"value"}),
    CriterionKind.NOT_CONTAINS: frozenset({"value"}),
    CriterionKind.REGEX: frozenset({"value"}),
    CriterionKind.EQUALS: frozenset({"value"}),
    CriterionKind.ONE_OF: frozenset({"values"}),
    CriterionKind.JSON_SCHEMA: frozenset({"json_schema"}),
    CriterionKind.NUMERIC: frozenset({"target", "tolerance"}),
}
# Values a schema is tried on when prepared, so that a reference that cannot be resolved (a
# remote $ref: nothing is ever fetched) shows when the benchmark is checked, not mid-evaluation.
_SCHEMA_PROBES: tuple[Any, ...] = ({}, [], "", 0, None, True)


@dataclass(frozen=True)
class PreparedCriterion:
    """A criterion that passed every check and can be applied to answers."""

    kind: str
    check: Check

    def evaluate(self, answer: str) -> CriterionResult:
        holds, reason = self.check(answer)
        return CriterionResult(kind=self.kind, holds=holds, reason=reason)


def kind_of(criterion: Criterion) -> CriterionKind:
    try:
        return CriterionKind(criterion.kind)
    except ValueError:
        raise CriterionError("criterion", "unknown kind", "unknown-kind") from None


def prepare(criterion: Criterion) -> PreparedCriterion:
    """The criterion ready to apply; raises CriterionError if it is unknown or malformed."""
    kind = kind_of(criterion)
    for field, wire in _FIELDS.items():
        if field not in _USES[kind] and getattr(criterion, field) is not None:
            raise CriterionError(kind.value, f"field '{wire}' does not apply to this kind")
    return PreparedCriterion(kind=kind.value, check=_BUILDERS[kind](criterion))


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


def _required_value(criterion: Criterion, kind: CriterionKind) -> str:
    if criterion.value is None:
        raise CriterionError(kind.value, "needs 'value'")
    return criterion.value


def _contains(criterion: Criterion) -> Check:
    needle = _fold(_required_value(criterion, CriterionKind.CONTAINS), criterion.case_sensitive)

    def check(answer: str) -> tuple[bool, str]:
        if needle in _fold(answer, criterion.case_sensitive):
            return True, "expected text found"
        return False, "expected text not found"

    return check


def _not_contains(criterion: Criterion) -> Check:
    needle = _fold(_required_value(criterion, CriterionKind.NOT_CONTAINS), criterion.case_sensitive)

    def check(answer: str) -> tuple[bool, str]:
        if needle in _fold(answer, criterion.case_sensitive):
            return False, "excluded text found"
        return True, "excluded text absent"

    return check


def _regex(criterion: Criterion) -> Check:
    pattern = compile_pattern(
        _required_value(criterion, CriterionKind.REGEX), criterion.case_sensitive
    )

    def check(answer: str) -> tuple[bool, str]:
        if pattern.search(answer):
            return True, "pattern found"
        return False, "pattern not found"

    return check


def _equals(criterion: Criterion) -> Check:
    label = _fold(
        _required_value(criterion, CriterionKind.EQUALS).strip(), criterion.case_sensitive
    )

    def check(answer: str) -> tuple[bool, str]:
        if _fold(answer.strip(), criterion.case_sensitive) == label:
            return True, "answer equals the label"
        return False, "answer differs from the label"

    return check


def _one_of(criterion: Criterion) -> Check:
    if not criterion.values:
        raise CriterionError(CriterionKind.ONE_OF.value, "needs a non-empty 'values' list")
    labels = frozenset(_fold(v.strip(), criterion.case_sensitive) for v in criterion.values)

    def check(answer: str) -> tuple[bool, str]:
        if _fold(answer.strip(), criterion.case_sensitive) in labels:
            return True, "answer is one of the labels"
        return False, f"answer is none of the {len(labels)} labels"

    return check


def _json_schema(criterion: Criterion) -> Check:
    if criterion.json_schema is None:
        raise CriterionError(CriterionKind.JSON_SCHEMA.value, "needs 'jsonSchema'")
    try:
        canonical = json.dumps(criterion.json_schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise CriterionError(CriterionKind.JSON_SCHEMA.value, "schema is not plain JSON") from None
    validator = _schema_validator(canonical)

    def check(answer: str) -> tuple[bool, str]:
        found, value = first_json(answer)
        if not found:
            return False, "no JSON in the answer"
        try:
            error = best_match(validator.iter_errors(value))
        except referencing.exceptions.Unresolvable:
            raise CriterionError(
                CriterionKind.JSON_SCHEMA.value, "schema has a reference that cannot be resolved"
            ) from None
        if error is None:
            return True, "JSON satisfies the schema"
        return False, f"JSON fails the schema's '{error.validator}' rule"

    return check


@lru_cache(maxsize=256)
def _schema_validator(canonical: str) -> Any:
    schema = json.loads(canonical)
    kind = CriterionKind.JSON_SCHEMA.value
    try:
        cls = validator_for(schema)
        cls.check_schema(schema)
        # An empty registry: jsonschema adds the metaschemas and never fetches a remote $ref.
        validator = cls(schema, registry=referencing.Registry())
        for probe in _SCHEMA_PROBES:
            best_match(validator.iter_errors(probe))
    except SchemaError as err:
        raise CriterionError(
            kind, f"not a valid JSON Schema (its '{err.validator}' rule is broken)"
        ) from None
    except referencing.exceptions.Unresolvable:
        raise CriterionError(kind, "schema has a reference that cannot be resolved") from None
    except Exception as err:  # jsonschema raises assorted errors on odd schemas
        raise CriterionError(kind, f"schema cannot be used ({type(err).__name__})") from None
    return validator


def _numeric(criterion: Criterion) -> Check:
    kind = CriterionKind.NUMERIC.value
    if criterion.target is None:
        raise CriterionError(kind, "needs 'target'")
    target = criterion.target
    tolerance = 0.0 if criterion.tolerance is None else criterion.tolerance
    if not math.isfinite(target):
        raise CriterionError(kind, "'target' must be a finite number")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise CriterionError(kind, "'tolerance' must be a finite number, zero or more")
    # Decimal answers such as 0.3 against 0.1 + 0.2 must not fail on binary rounding.
    slack = tolerance + 1e-9 * max(1.0, abs(target))

    def check(answer: str) -> tuple[bool, str]:
        number = first_number(answer)
        if number is None:
            return False, "no number in the answer"
        if abs(number - target) <= slack:
            return True, "first number within tolerance"
        return False, "first number outside tolerance"

    return check


_BUILDERS: dict[CriterionKind, Callable[[Criterion], Check]] = {
    CriterionKind.CONTAINS: _contains,
    CriterionKind.NOT_CONTAINS: _not_contains,
    CriterionKind.REGEX: _regex,
    CriterionKind.EQUALS: _equals,
    CriterionKind.ONE_OF: _one_of,
    CriterionKind.JSON_SCHEMA: _json_schema,
    CriterionKind.NUMERIC: _numeric,
}
