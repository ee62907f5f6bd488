"""Training checkpoints on a small model, on the CPU, against the test bed's object store: an
attempt killed after k steps and a second attempt that resumes from its checkpoint train the
same loss trajectory and the same adapter as one uninterrupted attempt; a corrupt, incomplete
or foreign checkpoint is skipped with the reason, and with none usable training starts at 0."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from resume_material import RECIPE, SHAPE, SPEC, TOLERANCE, examples, scenarios

import tiny_model
from modelsmith.contract import s3
from modelsmith.contract.jobspec import TrainExample
from modelsmith.contract.objectstore import Store
from modelsmith_trainer.checkpoint import WEIGHTS, Checkpoints
from modelsmith_trainer.data import encode_examples
from modelsmith_trainer.progress import ProgressTracker
from modelsmith_trainer.train import TrainOutcome, apply_recipe, train
from testbed.objectstore import ObjectStore

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = Store()


class Killed(Exception):  # noqa: N818 - stands for the event, not an error
    """Stands in for the pod being killed."""


@pytest.fixture(scope="module")
def material(
    object_store: ObjectStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, list[TrainExample]]]:
    saved = {k: os.environ.get(k) for k in object_store.env()}
    os.environ.update(object_store.env())  # for the objectstore helpers in this process
    torch.set_num_threads(1)  # a small model gains nothing from more; the suite shares cores
    base = tiny_model.build(scenarios(), tmp_path_factory.mktemp("ckpt") / "base", SHAPE)
    yield base, examples()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def attempt(
    material: tuple[Path, list[TrainExample]],
    checkpoints: Checkpoints | None,
    kill_after: int | None = None,
) -> tuple[Any, TrainOutcome, dict[int, float]]:
    """One training attempt from a freshly loaded base, as a new pod would run it."""
    from accelerate.utils import set_seed
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, examples = material
    tokenizer = AutoTokenizer.from_pretrained(directory)
    set_seed(RECIPE.seed)
    model = apply_recipe(AutoModelForCausalLM.from_pretrained(directory), RECIPE)
    losses: dict[int, float] = {}

    def record(progress: Any) -> None:
        if progress.step and progress.loss is not None:
            losses[progress.step] = progress.loss
        if kill_after is not None and progress.step >= kill_after:
            raise Killed

    tracker = ProgressTracker(RECIPE.steps, 1, record)
    encoded = encode_examples(examples, tokenizer, RECIPE.max_seq_length)
    trained, outcome = train(
        model,
        encoded,
        RECIPE,
        seed=RECIPE.seed,
        pad_id=tokenizer.pad_token_id,
        progress=tracker,
        checkpoints=checkpoints,
    )
    return trained, outcome, losses


def adapter(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def fresh_prefix(object_store: ObjectStore) -> str:
    run = f"runs/ckpt-{secrets.token_hex(4)}/"
    return f"s3://{object_store.bucket}/{run}iter-1/candidate/checkpoint/"


@pytest.fixture(scope="module")
def uninterrupted(
    material: tuple[Path, list[TrainExample]],
) -> tuple[dict[str, torch.Tensor], dict[int, float]]:
    model, outcome, losses = attempt(material, None)
    assert outcome.steps == RECIPE.steps and outcome.resumed_from_step is None
    return adapter(model), losses


def killed_at(material: Any, prefix: str, step: int) -> None:
    with pytest.raises(Killed):
        attempt(material, Checkpoints(STORE, prefix, RECIPE.checkpoint_every_steps, SPEC), step)


def test_a_resumed_attempt_trains_what_an_uninterrupted_one_does(
    material: Any, uninterrupted: Any, object_store: ObjectStore
) -> None:
    prefix = fresh_prefix(object_store)
    killed_at(material, prefix, 10)  # checkpoints at 4 and 8; steps 9 and 10 are lost
    resumed = Checkpoints(STORE, prefix, RECIPE.checkpoint_every_steps, SPEC)
    model, outcome, losses = attempt(material, resumed)

    assert outcome.resumed_from_step == 8 and resumed.skipped == []
    assert outcome.steps == RECIPE.steps
    assert sorted(losses) == list(range(9, RECIPE.steps + 1))
    weights, reference = uninterrupted
    for step, loss in losses.items():
        assert loss == pytest.approx(reference[step], abs=TOLERANCE), step
    trained = adapter(model)
    assert trained.keys() == weights.keys()
    for name, value in trained.items():
        assert torch.allclose(value, weights[name], atol=TOLERANCE), name
    # Pruned to the newest two: 4 was deleted when 12 was written.
    names = {i.relative_to(prefix).split("/")[0] for i in STORE.list_objects(prefix)}
    assert names == {"step-000008", "step-000012"}


def test_a_corrupt_or_incomplete_checkpoint_is_skipped_with_the_reason(
    material: Any, uninterrupted: Any, object_store: ObjectStore
) -> None:
    prefix = fresh_prefix(object_store)
    killed_at(material, prefix, 9)  # checkpoints at 4 and 8
    STORE.put_bytes(s3.join(prefix, f"step-000008/{WEIGHTS}"), b"not weights")
    STORE.put_bytes(s3.join(prefix, f"step-000012/{WEIGHTS}"), b"half written")
    resumed = Checkpoints(STORE, prefix, 0, SPEC)
    model, outcome, losses = attempt(material, resumed)

    assert outcome.resumed_from_step == 4
    assert resumed.skipped == [
        "step 12: it has no manifest (incomplete)",
        f"step 8: its {WEIGHTS} does not match the manifest's digest",
    ]
    weights, reference = uninterrupted
    assert losses[5] == pytest.approx(reference[5], abs=TOLERANCE)
    for name, value in adapter(model).items():
        assert torch.allclose(value, weights[name], atol=TOLERANCE), name


def test_another_specs_checkpoint_is_never_resumed(
    material: Any, object_store: ObjectStore
) -> None:
    prefix = fresh_prefix(object_store)
    killed_at(material, prefix, 5)  # a checkpoint at 4
    other = Checkpoints(STORE, prefix, 0, "sha256:" + "1" * 64)
    _, outcome, losses = attempt(material, other)
    assert outcome.resumed_from_step is None and min(losses) == 1
    assert other.skipped == ["step 4: it was written for another spec"]
