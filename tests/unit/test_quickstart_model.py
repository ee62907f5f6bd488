"""The quickstart's base-model choice (hack/quickstart_model.py) changes only what it says."""

from __future__ import annotations

import copy
from typing import Any

import yaml

import quickstart_model
from modelsmith.contract.recipe import Recipe

QUICKSTART = quickstart_model.QUICKSTART


def _docs() -> list[dict[str, Any]]:
    return [
        d
        for name in ("intake.yaml", "run.yaml", "benchmark.yaml")
        for d in yaml.safe_load_all((QUICKSTART / name).read_text())
        if d
    ]


def test_tiny_is_the_quickstart_as_written() -> None:
    docs = _docs()
    assert [quickstart_model.patch(copy.deepcopy(d), "tiny") for d in docs] == docs


def test_real_changes_the_label_and_recipe_only() -> None:
    for doc in _docs():
        patched = quickstart_model.patch(copy.deepcopy(doc), "real", "s3://b/models/real/")
        if doc["kind"] == "ModelIntake":
            assert patched["spec"]["baseModel"] == {
                "uri": "s3://b/models/real/",
                "label": "smollm2-135m-instruct",
            }
            patched["spec"]["baseModel"] = doc["spec"]["baseModel"]
        if doc["kind"] == "IterationRun":
            recipe = patched["spec"]["recipe"]
            assert (recipe["steps"], recipe["batchSize"], recipe["learningRate"]) == (60, 6, 5e-4)
            patched["spec"]["recipe"] = doc["spec"]["recipe"]
        assert patched == doc


def test_the_real_recipe_is_one_the_api_accepts() -> None:
    fields = {"batchSize": "batch_size", "learningRate": "learning_rate", "steps": "steps"}
    real = quickstart_model.MODELS["real"].recipe
    Recipe(**{fields[k]: v for k, v in real.items()})
