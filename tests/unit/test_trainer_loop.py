"""The training loop on a micro model: it learns, it is deterministic, LoRA leaves the base
untouched, a full fine-tune moves every weight, and the artefacts name no local path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import tiny_model
from modelsmith.contract.jobspec import ModelRef, TrainExample, TrainSpec
from modelsmith.contract.recipe import Recipe
from modelsmith_trainer.data import encode_examples
from modelsmith_trainer.job import save_artefact
from modelsmith_trainer.progress import ProgressTracker
from modelsmith_trainer.train import apply_recipe, lr_factor, train

EXAMPLES = [
    TrainExample(
        id="a", text_prompt="ticket: invoice wrong\nAnswer: ", reference="queue: billing."
    ),
    TrainExample(
        id="b", text_prompt="ticket: app crashes\nAnswer: ", reference="queue: technical."
    ),
    TrainExample(id="c", text_prompt="ticket: lawyer\nAnswer: ", reference="queue: escalation."),
]


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    torch.set_num_threads(1)  # a micro model gains nothing from more, and the suite shares cores
    texts = [e.text_prompt + e.reference for e in EXAMPLES]
    tokenizer = tiny_model.build_tokenizer(texts, tiny_model.MICRO.vocab_size)
    model = tiny_model.llama(tokenizer, dataclasses.replace(tiny_model.MICRO, seed=0))
    directory = tmp_path_factory.mktemp("micro")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, tokenizer


def run(micro: tuple[Path, Any], recipe: Recipe, seed: int = 0) -> tuple[Any, Any, list[float]]:
    from accelerate.utils import set_seed
    from transformers import AutoModelForCausalLM

    directory, tokenizer = micro
    base = AutoModelForCausalLM.from_pretrained(directory)
    set_seed(seed)
    model = apply_recipe(base, recipe)
    losses: list[float] = []
    tracker = ProgressTracker(recipe.steps, 1, lambda p: losses.append(p.loss or 0.0))
    encoded = encode_examples(EXAMPLES, tokenizer, recipe.max_seq_length)
    trained, outcome = train(
        model, encoded, recipe, seed=seed, pad_id=tokenizer.pad_token_id, progress=tracker
    )
    assert outcome.steps == recipe.steps and outcome.tokens > 0
    return trained, outcome, losses[1:]


LORA = Recipe(rank=4, alpha=8, dropout=0.0, steps=30, learning_rate=2e-2, batch_size=2)


def test_lora_learns_deterministically_and_leaves_the_base_alone(
    micro: tuple[Path, Any],
) -> None:
    from transformers import AutoModelForCausalLM

    trained, outcome, losses = run(micro, LORA)
    assert outcome.final_loss is not None and outcome.first_loss is not None
    assert outcome.final_loss < outcome.first_loss / 2
    assert outcome.trainable_parameters < outcome.total_parameters / 5
    _, _, again = run(micro, LORA)
    assert again == losses  # same seed, same run
    base = AutoModelForCausalLM.from_pretrained(micro[0]).state_dict()
    merged_free = trained.get_base_model().state_dict()
    frozen = [k for k in base if k in merged_free and "lora" not in k]
    assert frozen and all(torch.equal(base[k], merged_free[k]) for k in frozen)


def test_full_fine_tune_moves_every_weight(micro: tuple[Path, Any]) -> None:
    from transformers import AutoModelForCausalLM

    recipe = LORA.model_copy(update={"method": "full", "learning_rate": 1e-3, "steps": 5})
    trained, outcome, _ = run(micro, recipe)
    assert outcome.trainable_parameters == outcome.total_parameters
    base = AutoModelForCausalLM.from_pretrained(micro[0]).state_dict()
    after = trained.state_dict()
    assert not torch.equal(
        base["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"]
    )


def spec(recipe: Recipe) -> TrainSpec:
    return TrainSpec(
        iteration=1,
        base_model=ModelRef(uri="s3://modelsmith/models/micro/", label="micro-base"),
        train_data="s3://modelsmith/t.jsonl",
        heldout_fingerprint="s3://modelsmith/f.json",
        recipe=recipe,
        output="s3://modelsmith/out/",
    )


@pytest.mark.parametrize("method", ["lora", "full"])
def test_artefacts_name_the_base_by_label(
    micro: tuple[Path, Any], tmp_path: Path, method: str
) -> None:
    recipe = LORA.model_copy(update={"method": method, "steps": 2})
    trained, _, _ = run(micro, recipe)
    save_artefact(trained, micro[1], spec(recipe), tmp_path / "adapter")
    names = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    if method == "lora":
        assert names == ["adapter_config.json", "adapter_model.safetensors"]
        config = json.loads((tmp_path / "adapter/adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == "micro-base"
    else:
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(names)
    for path in (tmp_path / "adapter").glob("*.json"):
        assert str(micro[0]) not in path.read_text()


def test_learning_rate_warms_up_then_decays() -> None:
    factors = [lr_factor(step, 100) for step in range(100)]
    assert factors[0] == pytest.approx(0.2) and factors[4] == pytest.approx(1.0)
    assert factors == sorted(factors[:5]) + sorted(factors[5:], reverse=True)
    assert factors[-1] == pytest.approx(0.1, abs=0.01)
