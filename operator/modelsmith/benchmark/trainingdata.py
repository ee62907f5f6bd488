"""Training material beyond the benchmark: records a user supplies, turned into train.jsonl lines.

A record is `{"prompt": ..., "answer": ...}` or `{"inputs": {...}, "answer": ...}` (then the
Benchmark's train prompt frames it), optionally with an `id` and the Benchmark's dimensions.
Records are rendered exactly as scenarios are, so the trainer's held-out guard sees them as the
model will, and a record carrying the dimensions of the failure cluster the recipe up-weights is
up-weighted with it. Errors name the record by its line, never by its content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.benchmark.sources import BenchmarkSourceError
from modelsmith.contract.prompting import render_parts
from modelsmith.contract.scenario import Scenario, Split

MAX_TRAINING_DATA_BYTES = 4 * 1024 * 1024
"""Read limit of a training data document, as the operator's other reads (readlimits.READ_LIMITS;
ConfigMaps hold at most 1 MiB anyway)."""
SUPPLIED_ID_PREFIX = "data-"
"""Supplied records train under `data-<line>`: never a scenario id, so the guard's id check
cannot mistake one for a held-out scenario, and the lineage tells the two apart."""

Dimension = Literal["capability", "risk", "operatorLens", "outcomeType"]


class TrainingRecord(ApiModel):
    id: str | None = Field(default=None, max_length=63)
    prompt: str | None = Field(default=None, min_length=1, max_length=4096)
    inputs: dict[str, Annotated[str, Field(max_length=4096)]] | None = None
    answer: str = Field(min_length=1, max_length=16384)
    capability: str | None = None
    risk: str | None = None
    operator_lens: str | None = None
    outcome_type: str | None = None

    @model_validator(mode="after")
    def _has_question(self) -> TrainingRecord:
        if self.prompt is None and not self.inputs:
            raise ValueError("a record needs a prompt or inputs")
        return self

    def dimension(self, name: str) -> str | None:
        value: str | None = getattr(self, _FIELD[name])
        return value


_FIELD = {
    "capability": "capability",
    "risk": "risk",
    "operatorLens": "operator_lens",
    "outcomeType": "outcome_type",
}


def digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_records(raw: bytes, *, origin: str) -> list[TrainingRecord]:
    """Validated records, one a non-blank line; BenchmarkSourceError naming the line."""
    if len(raw) > MAX_TRAINING_DATA_BYTES:
        raise BenchmarkSourceError(
            f"{origin}: {len(raw)} bytes, more than the limit of {MAX_TRAINING_DATA_BYTES}"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BenchmarkSourceError(
            f"{origin}: not UTF-8 (bad byte at offset {err.start})"
        ) from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(TrainingRecord.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as err:
            kind = "has bad fields" if isinstance(err, ValidationError) else "is not JSON"
            raise BenchmarkSourceError(f"{origin}: line {number} {kind}") from None
    if not records:
        raise BenchmarkSourceError(f"{origin}: no records")
    return records


def training_lines(
    records: Sequence[TrainingRecord],
    scenarios: Sequence[Scenario],
    weights: Mapping[str, float],
    dimensions: Sequence[str],
) -> list[dict[str, object]]:
    """train.jsonl lines for the records. A record with inputs and no prompt takes the prompt
    of the Benchmark's train scenarios (the first, when they differ). A record whose values of
    the cluster `dimensions` equal those of an up-weighted train scenario weighs what it weighs:
    the recipe's failure-cluster weighting reaches supplied material that says where it belongs."""
    train = [s for s in scenarios if s.split == Split.TRAIN]
    default_prompt = train[0].prompt if train else ""
    boosted: dict[tuple[str | None, ...], float] = {
        tuple(_scenario_value(s, d) for d in dimensions): weights[s.id]
        for s in train
        if weights.get(s.id, 1.0) != 1.0
    }
    lines: list[dict[str, object]] = []
    for index, record in enumerate(records, start=1):
        key = tuple(record.dimension(d) for d in dimensions)
        lines.append(
            {
                "id": f"{SUPPLIED_ID_PREFIX}{index}",
                "text_prompt": render_parts(record.prompt or default_prompt, record.inputs or {}),
                "reference": record.answer,
                "weight": boosted.get(key, 1.0) if None not in key else 1.0,
                "supplied": True,
            }
        )
    return lines


def _scenario_value(scenario: Scenario, dimension: str) -> str:
    value: str = getattr(scenario, _FIELD[dimension])
    return value
