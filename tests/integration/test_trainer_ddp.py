"""Training under torchrun: two CPU processes (gloo) train the same adapter as one process on the
same batches, whether each holds the whole model (DDP) or a share of it (`sharding: fsdp`).
Each recipe runs once in a single process and once per kind as two torchrun processes; the loss
of every step and the saved artefact's weights must agree within a float32 rounding tolerance.

The recipes cover a batch split unevenly between the processes (3 examples: 2 and 1, plus an
epoch's short last batch), a batch of one example, where the second process trains on a
borrowed example at weight zero, and a full fine-tune (every weight sharded). No cluster: this
file is also the script torchrun runs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelsmith.contract.jobspec import ModelRef, TrainExample, TrainSpec
from modelsmith.contract.recipe import Recipe, Sharding
from testbed.procs import free_port, python_env

EXAMPLES = [
    TrainExample(id="a", text_prompt="ticket: invoice wrong\nAnswer: ", reference="billing."),
    TrainExample(id="b", text_prompt="ticket: app crashes\nAnswer: ", reference="technical."),
    TrainExample(
        id="c", text_prompt="ticket: lawyer\nAnswer: ", reference="escalation.", weight=3.0
    ),
    TrainExample(id="d", text_prompt="ticket: refund\nAnswer: ", reference="billing.", weight=0.5),
    TrainExample(id="e", text_prompt="ticket: login fails\nAnswer: ", reference="technical."),
]
RECIPES = {
    "split-3": Recipe(rank=4, alpha=8, dropout=0.0, steps=12, learning_rate=2e-2, batch_size=3),
    "batch-1": Recipe(rank=4, alpha=8, dropout=0.0, steps=6, learning_rate=2e-2, batch_size=1),
    "full-3": Recipe(method="full", steps=4, learning_rate=1e-3, batch_size=3),
}
ARTEFACT = {"lora": "adapter_model.safetensors", "full": "model.safetensors"}
# Float32 sums taken in a different order (per process, then across processes) drift by a few
# ulps per step (measured: 6e-7 relative on the loss, 2e-7 on a weight after 12 steps).
LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-5


def build_model(directory: Path) -> None:
    import tiny_model

    scenarios = tiny_model.load_scenarios(
        Path(__file__).parents[2] / "examples/quickstart/benchmark.yaml"
    )
    shape = tiny_model.TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2)
    tiny_model.build(scenarios, directory, shape)


def sharded(recipe: Recipe, sharding: Sharding) -> Recipe:
    return recipe.model_copy(update={"sharding": sharding})


def train_all(model_dir: Path, out: Path, sharding: Sharding) -> None:
    """Trains every recipe in this process (which may be one of several); the first process
    writes each recipe's per-step losses, outcome and artefact (as a training Job saves it)."""
    import torch
    from accelerate.utils import set_seed
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from modelsmith_trainer.data import encode_examples
    from modelsmith_trainer.distributed import make_accelerator, trainable_state
    from modelsmith_trainer.job import save_artefact
    from modelsmith_trainer.progress import ProgressTracker
    from modelsmith_trainer.train import apply_recipe, train

    torch.set_num_threads(1)
    accelerator = make_accelerator("no")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for name, unsharded in RECIPES.items():
        recipe = sharded(unsharded, sharding)
        set_seed(0)
        model = apply_recipe(AutoModelForCausalLM.from_pretrained(model_dir), recipe)
        losses: list[float] = []
        tracker = ProgressTracker(
            recipe.steps, 1, lambda p, into=losses: into.append(p.loss or 0.0)
        )
        encoded = encode_examples(EXAMPLES, tokenizer, recipe.max_seq_length)
        trained, outcome = train(
            model,
            encoded,
            recipe,
            seed=0,
            pad_id=tokenizer.pad_token_id,
            progress=tracker,
            accelerator=accelerator,
        )
        state = trainable_state(trained) if outcome.sharding == "fsdp" else None
        if accelerator.is_main_process:
            save_artefact(trained, tokenizer, job_spec(recipe), out / name, state)
            summary = {"losses": losses[1:], "steps": outcome.steps, "tokens": outcome.tokens}
            summary |= {"processes": outcome.processes, "sharding": outcome.sharding}
            (out / f"{name}.json").write_text(json.dumps(summary))


def job_spec(recipe: Recipe) -> TrainSpec:
    return TrainSpec(
        iteration=1,
        base_model=ModelRef(uri="s3://modelsmith/models/tiny/", label="tiny"),
        train_data="s3://modelsmith/t.jsonl",
        recipe=recipe,
        output="s3://modelsmith/out/",
    )


def launch(prefix: list[str], model_dir: Path, out: Path, sharding: Sharding = "none") -> None:
    out.mkdir()
    command = [*prefix, __file__, "--model", str(model_dir), "--out", str(out)]
    command += ["--sharding", sharding]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=python_env()
    )
    assert done.returncode == 0, done.stderr[-3000:]


def read(out: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors.torch import load_file

    weights = load_file(out / name / ARTEFACT[RECIPES[name].method])
    return json.loads((out / f"{name}.json").read_text()), weights


@pytest.fixture(scope="module")
def trained_alone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model and every recipe trained by one process."""
    root = tmp_path_factory.mktemp("ddp")
    build_model(root / "model")
    launch([sys.executable], root / "model", root / "one")
    return root / "model", root / "one"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sharding", ["none", "fsdp"])
def test_two_processes_train_the_same_adapter_as_one(
    trained_alone: tuple[Path, Path], tmp_path: Path, sharding: Sharding
) -> None:
    import torch

    model_dir, alone = trained_alone
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    launch([*torchrun, "--master-port", str(free_port())], model_dir, tmp_path / "two", sharding)
    for name, recipe in RECIPES.items():
        (one, one_weights), (two, two_weights) = read(alone, name), read(tmp_path / "two", name)
        assert (one["processes"], two["processes"]) == (1, 2)
        # One process has no one to share the model with.
        assert (one["sharding"], two["sharding"]) == ("none", sharding)
        assert one["steps"] == two["steps"] == recipe.steps
        # Both saw the same examples: the recipe's batch, not one batch per process.
        assert one["tokens"] == two["tokens"]
        assert len(one["losses"]) == recipe.steps
        assert two["losses"] == pytest.approx(one["losses"], rel=LOSS_TOLERANCE)
        assert one["losses"][-1] < one["losses"][0]
        assert one_weights.keys() == two_weights.keys() and one_weights
        for key, weight in one_weights.items():
            assert torch.allclose(two_weights[key], weight, atol=WEIGHT_TOLERANCE), key
    # The saved adapter is one a reader loads like any other, and it has learnt.
    adapters = (None, alone / "split-3", tmp_path / "two" / "split-3")
    base, by_one, by_two = (held_loss(model_dir, adapter) for adapter in adapters)
    assert by_two == pytest.approx(by_one, rel=LOSS_TOLERANCE)
    assert by_two < base


def held_loss(model_dir: Path, adapter: Path | None) -> float:
    """The mean loss on every example's reference of the base, or of the base with `adapter`
    loaded from its files."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from modelsmith_trainer.data import encode_examples, weighted_loss
    from modelsmith_trainer.distributed import Shard, collate_shard

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    encoded = encode_examples(EXAMPLES, tokenizer, 512)
    batch = collate_shard(encoded, Shard(), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return float(weighted_loss(logits.logits, batch["labels"], batch["weights"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sharding", choices=["none", "fsdp"], default="none")
    args = parser.parse_args()
    train_all(args.model, args.out, args.sharding)
