"""Training under torchrun: two CPU processes (gloo) train the same adapter as one process on the
same batches. Each recipe runs once in a single process and once as two torchrun processes; the
loss of every step and the adapter's weights must agree within a float32 rounding tolerance.

The recipes cover a batch split unevenly between the processes (3 examples: 2 and 1, plus an
epoch's short last batch) and a batch of one example, where the second process trains on a
borrowed example at weight zero. No cluster: this file is also the script torchrun runs."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelsmith.contract.jobspec import TrainExample
from modelsmith.contract.recipe import Recipe

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
}
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


def train_all(model_dir: Path, out: Path) -> None:
    """Trains every recipe in this process (which may be one of several); the first process
    writes each recipe's per-step losses, outcome and adapter weights."""
    import torch
    from accelerate.utils import set_seed
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from modelsmith_trainer.data import encode_examples
    from modelsmith_trainer.distributed import make_accelerator
    from modelsmith_trainer.progress import ProgressTracker
    from modelsmith_trainer.train import apply_recipe, train

    torch.set_num_threads(1)
    accelerator = make_accelerator("no")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for name, recipe in RECIPES.items():
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
        if accelerator.is_main_process:
            state = {k: v.contiguous() for k, v in trained.state_dict().items() if "lora" in k}
            save_file(state, out / f"{name}.safetensors")
            summary = {"losses": losses[1:], "steps": outcome.steps, "tokens": outcome.tokens}
            summary["processes"] = outcome.processes
            (out / f"{name}.json").write_text(json.dumps(summary))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(prefix: list[str], model_dir: Path, out: Path) -> None:
    out.mkdir()
    command = [*prefix, __file__, "--model", str(model_dir), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def read(out: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors.torch import load_file

    return json.loads((out / f"{name}.json").read_text()), load_file(out / f"{name}.safetensors")


@pytest.mark.timeout(600)
def test_two_processes_train_the_same_adapter_as_one(tmp_path: Path) -> None:
    import torch

    model_dir = tmp_path / "model"
    build_model(model_dir)
    launch([sys.executable], model_dir, tmp_path / "one")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    launch([*torchrun, "--master-port", str(free_port())], model_dir, tmp_path / "two")
    for name, recipe in RECIPES.items():
        (one, one_weights), (two, two_weights) = (
            read(tmp_path / "one", name),
            read(tmp_path / "two", name),
        )
        assert (one["processes"], two["processes"]) == (1, 2)
        assert one["steps"] == two["steps"] == recipe.steps
        # Both saw the same examples: the recipe's batch, not one batch per process.
        assert one["tokens"] == two["tokens"]
        assert len(one["losses"]) == recipe.steps
        assert two["losses"] == pytest.approx(one["losses"], rel=LOSS_TOLERANCE)
        assert one["losses"][-1] < one["losses"][0]
        assert one_weights.keys() == two_weights.keys() and one_weights
        for key, weight in one_weights.items():
            assert torch.allclose(two_weights[key], weight, atol=WEIGHT_TOLERANCE), key


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    train_all(args.model, args.out)
