"""The Job specs the operator writes and the images read, and the images' reports."""

from __future__ import annotations

from typing import Any

import pytest
from loop_sim import failed
from pydantic import ValidationError

from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.jobspec import EvalSpec, ModelRef, Termination, TrainSpec
from modelsmith.contract.recipe import Recipe
from modelsmith.loop.failures import EXIT_FOREIGN_CREDENTIAL, EXIT_OBJECT_STORE, failure_words
from modelsmith.loop.recipe import Recipe as LoopRecipe

BASE = {"uri": "s3://modelsmith/models/tiny-support-base/", "label": "tiny-support-base"}


def train_fields(**changes: Any) -> dict[str, Any]:
    return {
        "iteration": 1,
        "base_model": BASE,
        "train_data": "s3://modelsmith/runs/ns/run/iter-1/train.jsonl",
        "heldout_fingerprint": "s3://modelsmith/runs/ns/run/iter-1/heldout-fingerprint.json",
        "output": "s3://modelsmith/runs/ns/run/iter-1/candidate/",
        **changes,
    }


def test_the_operators_recipe_is_the_trainers_recipe() -> None:
    loop = LoopRecipe(rank=16, alpha=32, target_modules=("q_proj", "v_proj"), seed=3)
    spec = TrainSpec.model_validate(train_fields(recipe=loop.model_dump()))
    assert spec.recipe == Recipe(rank=16, alpha=32, target_modules=("q_proj", "v_proj"), seed=3)
    assert spec.overlap_threshold == 0.5 and spec.progress_every >= 1


def test_specs_round_trip_through_json() -> None:
    spec = TrainSpec.model_validate(train_fields(init_adapter="s3://modelsmith/x/adapter/"))
    assert TrainSpec.model_validate_json(spec.model_dump_json()) == spec
    evaluation = EvalSpec(
        iteration=0,
        base_model=ModelRef.model_validate(BASE),
        scenarios="s3://modelsmith/runs/ns/run/benchmark/scenarios.jsonl",
        output="s3://modelsmith/runs/ns/run/iter-0/eval/",
        cluster_dimensions=("operatorLens", "outcomeType"),
    )
    assert EvalSpec.model_validate(evaluation.model_dump(mode="json")) == evaluation


@pytest.mark.parametrize(
    "changes",
    [
        {"surprise": True},  # unknown fields are a bad spec, never silently ignored
        {"iteration": 0},  # iteration 0 is the baseline: nothing to train
        {"output": "s3://modelsmith/runs/candidate"},  # an output is a prefix
        {"train_data": "/local/train.jsonl"},
        {"base_model": {"uri": "ftp://models/x", "label": "x"}},
        {"recipe": {"method": "magic"}},
        {"recipe": {"rank": 0}},
        {"overlap_threshold": 0},
    ],
)
def test_bad_train_specs_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TrainSpec.model_validate(train_fields(**changes))


def test_hub_models_are_accepted() -> None:
    spec = TrainSpec.model_validate(
        train_fields(base_model={"uri": "hf://org/model-1b@v1.2", "label": "model-1b"})
    )
    assert spec.base_model.uri.startswith("hf://")


def test_cluster_dimensions_must_differ() -> None:
    with pytest.raises(ValidationError):
        EvalSpec(
            iteration=0,
            base_model=ModelRef.model_validate(BASE),
            scenarios="s3://modelsmith/s.jsonl",
            output="s3://modelsmith/out/",
            cluster_dimensions=("risk", "risk"),
        )


def test_termination_status_matches_exit_code() -> None:
    Termination(status="failed", exit_code=6, reason="HeldoutContamination", contaminated=True)
    with pytest.raises(ValidationError):
        Termination(status="succeeded", exit_code=3, reason="ModelMissing")


def test_exit_codes_are_the_contracts() -> None:
    assert [int(c) for c in ExitCode] == list(range(10))
    assert ExitCode.CONTAMINATION.reason == "HeldoutContamination"
    assert ExitCode.FOREIGN_CREDENTIAL.reason == "ForeignCredential"
    # The loop's exit constants name the same codes.
    assert (EXIT_OBJECT_STORE, EXIT_FOREIGN_CREDENTIAL) == (
        ExitCode.OBJECT_STORE_UNAVAILABLE, ExitCode.FOREIGN_CREDENTIAL)
    unreachable = failed("j", ExitCode.OBJECT_STORE_UNAVAILABLE, reason="BackoffLimitExceeded")
    assert failure_words(unreachable) == (
        "exit code 8: the Job could not reach the object store; BackoffLimitExceeded")
    assert len({c.reason for c in ExitCode}) == len(ExitCode)
