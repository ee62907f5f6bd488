"""Training checkpoints under torchrun: two CPU processes (gloo), replicating the model (DDP) or
sharing it (`sharding: fsdp`), checkpoint against the test bed's object store; an attempt killed
after k steps and a second attempt that resumes from its checkpoint train the same losses and
the same adapter as one uninterrupted two-process attempt. A checkpoint written under another
layout (here: one process) is skipped with the reason. No cluster: this file is also the script
torchrun runs."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from resume_material import RECIPE, SHAPE, SPEC, TOLERANCE, examples, scenarios

import tiny_model
from modelsmith.contract.recipe import Sharding
from testbed.objectstore import ObjectStore
from testbed.procs import free_port, python_env

KILLED = 99
"""The first process's exit status after step k, as a pod killed there; torchrun then stops the
other one."""


def attempt(model_dir: Path, out: Path, sharding: Sharding, prefix: str, kill: int) -> None:
    """One attempt in this process (one of two): from the base, with checkpoints under `prefix`
    (none when empty), exiting after step `kill` (0: never). The first process writes the
    per-step losses, the outcome and the adapter."""
    import torch
    from accelerate.utils import set_seed
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from modelsmith.contract.objectstore import Store
    from modelsmith_trainer.checkpoint import Checkpoints
    from modelsmith_trainer.data import encode_examples
    from modelsmith_trainer.distributed import make_accelerator, trainable_state
    from modelsmith_trainer.progress import ProgressTracker
    from modelsmith_trainer.train import apply_recipe, train

    torch.set_num_threads(1)
    accelerator = make_accelerator("no")
    recipe = RECIPE.model_copy(update={"sharding": sharding})
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    set_seed(recipe.seed)
    model = apply_recipe(AutoModelForCausalLM.from_pretrained(model_dir), recipe)
    losses: dict[int, float] = {}

    def record(progress: Any) -> None:
        if progress.step and progress.loss is not None:
            losses[progress.step] = progress.loss
        if kill and progress.step >= kill:
            os._exit(KILLED)

    checkpoints = None
    if prefix:
        writer = accelerator.is_main_process
        checkpoints = Checkpoints(
            Store(), prefix, recipe.checkpoint_every_steps, SPEC, writer=writer
        )
    trained, outcome = train(
        model,
        encode_examples(examples(), tokenizer, recipe.max_seq_length),
        recipe,
        seed=recipe.seed,
        pad_id=tokenizer.pad_token_id,
        progress=ProgressTracker(recipe.steps, 1, record),
        accelerator=accelerator,
        checkpoints=checkpoints,
    )
    state = trainable_state(trained)
    if accelerator.is_main_process:
        save_file({name: value.contiguous() for name, value in state.items()}, out / "adapter")
        summary = {"losses": losses, "resumed_from_step": outcome.resumed_from_step}
        summary |= {"processes": outcome.processes, "sharding": outcome.sharding}
        summary["skipped"] = [] if checkpoints is None else checkpoints.skipped
        (out / "summary.json").write_text(json.dumps(summary))


def torchrun(
    object_store: ObjectStore,
    model_dir: Path,
    out: Path,
    sharding: Sharding,
    prefix: str = "",
    kill: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two processes under torchrun; the summary (losses keyed by step) and adapter they
    wrote, both empty for a killed attempt."""
    from safetensors.torch import load_file

    out.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-port", str(free_port()), __file__, "--model", str(model_dir)]
    command += ["--out", str(out), "--sharding", sharding, "--prefix", prefix, "--kill", str(kill)]
    env = python_env(object_store.env())
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    if kill:
        assert done.returncode != 0, "the attempt was not killed"
        return {}, {}
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    summary["losses"] = {int(step): loss for step, loss in summary["losses"].items()}
    return summary, load_file(out / "adapter")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory: Path = tiny_model.build(scenarios(), tmp_path_factory.mktemp("base") / "tiny", SHAPE)
    return directory


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sharding", ["none", "fsdp"])
def test_a_resumed_two_process_attempt_trains_what_an_uninterrupted_one_does(
    model_dir: Path,
    object_store: ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sharding: Sharding,
) -> None:
    import torch

    prefix = f"s3://{object_store.bucket}/runs/ckpt-{secrets.token_hex(4)}/iter-1/checkpoint/"
    whole, whole_weights = torchrun(object_store, model_dir, tmp_path / "whole", sharding)
    # Checkpoints at 4 and 8; steps 9 and 10 are lost.
    torchrun(object_store, model_dir, tmp_path / "killed", sharding, prefix, kill=10)
    resumed, weights = torchrun(object_store, model_dir, tmp_path / "resumed", sharding, prefix)

    assert (
        (whole["processes"], whole["sharding"]) == (resumed["processes"], sharding) == (2, sharding)
    )
    assert whole["resumed_from_step"] is None and sorted(whole["losses"]) == list(range(1, 15))
    assert resumed["resumed_from_step"] == 8 and resumed["skipped"] == []
    assert sorted(resumed["losses"]) == list(range(9, RECIPE.steps + 1))
    for step, loss in resumed["losses"].items():
        assert loss == pytest.approx(whole["losses"][step], abs=TOLERANCE), step
    assert weights.keys() == whole_weights.keys() and weights
    for name, value in weights.items():
        assert torch.allclose(value, whole_weights[name], atol=TOLERANCE), name

    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)
    assert skipped_alone(model_dir, prefix) == [
        f"step {step}: it was written by 2 process(es), sharding {sharding}, not 1 process(es), "
        "sharding none"
        for step in (12, 8)
    ]


def skipped_alone(model_dir: Path, prefix: str) -> list[str]:
    """Why one process, resuming from `prefix`, skips each checkpoint there."""
    import torch
    from transformers import AutoModelForCausalLM

    from modelsmith.contract.objectstore import Store
    from modelsmith_trainer.checkpoint import Checkpoints, Layout, Trainee
    from modelsmith_trainer.train import apply_recipe

    model = apply_recipe(AutoModelForCausalLM.from_pretrained(model_dir), RECIPE)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    checkpoints = Checkpoints(Store(), prefix, 0, SPEC)
    alone = Trainee(model, optimizer, schedule, Layout(1, "none"), rank=0)
    assert checkpoints.restore(alone) is None
    return checkpoints.skipped


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sharding", choices=["none", "fsdp"], required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--kill", type=int, default=0)
    args = parser.parse_args()
    attempt(args.model, args.out, args.sharding, args.prefix, args.kill)
