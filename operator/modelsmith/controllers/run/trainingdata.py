"""What a training Job trains on: the train split and the intake's training data (a ConfigMap
key or an object in the target's bucket, read once when the run pins its inputs), written as
train.jsonl beside the held-out fingerprint."""

from __future__ import annotations

import json
from collections.abc import Sequence

from modelsmith import loop
from modelsmith.api.intake import TrainingDataSource
from modelsmith.benchmark import trainingdata
from modelsmith.benchmark.sources import BenchmarkSourceError
from modelsmith.contract import readlimits, s3
from modelsmith.contract.heldout import fingerprint
from modelsmith.contract.layout import RunLayout
from modelsmith.contract.objectstore import Store
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario, Split
from modelsmith.runtime import kube


def read_training_data(store: Store, source: TrainingDataSource, namespace: str) -> bytes:
    """The document's bytes, or BenchmarkSourceError saying what is missing or refused."""
    if source.config_map_ref is not None:
        ref = source.config_map_ref
        cm = kube.find(kube.core_path("configmaps", namespace, ref.name))
        if cm is None:
            raise BenchmarkSourceError(f"training data: ConfigMap {ref.name} not found")
        value: str | None = (cm.get("data") or {}).get(ref.key)
        if value is None:
            raise BenchmarkSourceError(f"training data: ConfigMap {ref.name} has no key {ref.key}")
        return value.encode("utf-8")
    assert source.s3 is not None
    try:
        raw = store.get_bytes_or_none(source.s3.uri, readlimits.ObjectKind.TRAINING_DATA)
    except readlimits.ObjectTooLarge as err:
        raise BenchmarkSourceError(f"training data: {err}") from None
    if raw is None:
        raise BenchmarkSourceError("training data: the object does not exist")
    return raw


def read_for_pin(
    store: Store, source: TrainingDataSource | None, namespace: str, bucket: str
) -> bytes | None:
    """The training data's bytes as the run pins them at its start; None when the intake names
    none, or names an object outside the run's `bucket`: that run's launches are refused
    (target.target_refusal, governance) and nothing is read from another team's bucket."""
    if source is None:
        return None
    if source.s3 is not None and s3.parse_uri(source.s3.uri).bucket != bucket:
        return None
    return read_training_data(store, source, namespace)


def write_training_material(
    store: Store,
    scenarios: list[Scenario],
    action: loop.LaunchJob,
    layout: RunLayout,
    supplied: bytes | None,
    dimensions: Sequence[str],
) -> str | None:
    """train.jsonl (the train split, then the training data the run pinned, `supplied`) and the
    held-out fingerprint the trainer checks all of it against; the training data's digest, if
    any."""
    weights = action.weights or {}
    lines: list[dict[str, object]] = [
        {
            "id": s.id,
            "text_prompt": render_prompt(s),
            "reference": s.reference,
            "weight": weights.get(s.id, 1.0),
        }
        for s in scenarios
        if s.split == Split.TRAIN and s.reference
    ]
    if supplied is not None:
        records = trainingdata.parse_records(supplied, origin="training data")
        lines += trainingdata.training_lines(records, scenarios, weights, dimensions)
    payload = "\n".join(json.dumps(line) for line in lines).encode()
    store.put_bytes(layout.train_data(action.iteration), payload)
    heldout = [s for s in scenarios if s.split == Split.HELDOUT]
    store.put_json(layout.heldout_fingerprint(action.iteration), fingerprint(heldout).wire())
    return None if supplied is None else trainingdata.digest(supplied)
