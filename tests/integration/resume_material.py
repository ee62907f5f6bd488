"""What the trainer's resume tests train on (test_trainer_checkpoints.py in one process,
test_trainer_sharded_resume.py under torchrun): a small model's shape, a recipe whose resumed
attempt must restore more than the weights, and the quickstart's first 18 scenarios as
examples. Also imported by the torchrun script, so it needs no pytest."""

from __future__ import annotations

from pathlib import Path

import tiny_model
from modelsmith.contract.jobspec import TrainExample
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.recipe import Recipe
from modelsmith.contract.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
SHAPE = tiny_model.TinyShape(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2
)
# Dropout on, and 14 steps over 5 batches a pass: a resumed attempt must restore the random
# state and the position inside a shuffled pass, not only the weights.
RECIPE = Recipe(
    rank=4,
    alpha=8,
    dropout=0.1,
    steps=14,
    learning_rate=1e-2,
    batch_size=4,
    max_seq_length=128,
    checkpoint_every_steps=4,
)
SPEC = "sha256:" + "0" * 64
# The resumed and the uninterrupted attempt run the same arithmetic in the same order.
TOLERANCE = 1e-6


def scenarios() -> list[Scenario]:
    return tiny_model.load_scenarios(REPO / "examples/quickstart/benchmark.yaml")[:18]


def examples() -> list[TrainExample]:
    return [
        TrainExample(id=s.id, text_prompt=render_prompt(s), reference=s.reference)
        for s in scenarios()
    ]
