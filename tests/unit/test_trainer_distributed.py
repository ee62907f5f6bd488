"""How several training processes split the recipe's batch: every example trained on exactly
once per step, and loss shares whose average over processes is the whole batch's weighted mean;
and when they shard the model between them."""

from __future__ import annotations

import pytest
import torch

from modelsmith_trainer.data import Encoded, weighted_loss
from modelsmith_trainer.distributed import Shard, applied_sharding, collate_shard

BATCH = [
    Encoded(input_ids=[1, 5, 6], labels=[-100, 5, 6], weight=1.0),
    Encoded(input_ids=[1, 7], labels=[-100, 7], weight=3.0),
    Encoded(input_ids=[1, 8, 9, 10], labels=[-100, -100, 9, 10], weight=0.5),
]


def test_slices_cover_the_batch_once() -> None:
    slices = [Shard(rank, 2).take(BATCH)[0] for rank in range(2)]
    assert slices == [[BATCH[0], BATCH[2]], [BATCH[1]]]
    assert Shard().take(BATCH) == (BATCH, BATCH)


def test_a_process_without_an_example_runs_one_at_weight_zero() -> None:
    mine, rows = Shard(1, 2).take(BATCH[:1])
    assert mine == [] and rows == [Encoded(BATCH[0].input_ids, BATCH[0].labels, 0.0)]
    sliced = collate_shard(BATCH[:1], Shard(1, 2), pad_id=0)
    assert sliced["share"] == 0.0 and sliced["tokens"] == 0


@pytest.mark.parametrize("processes", [1, 2, 3, 4])
def test_shares_average_to_the_batch_loss(processes: int) -> None:
    torch.manual_seed(0)
    whole = collate_shard(BATCH, Shard(), pad_id=0)
    assert whole["share"] == 1.0
    logits = torch.randn(len(BATCH), whole["input_ids"].shape[1], 16)
    expected = weighted_loss(logits, whole["labels"], whole["weights"])
    losses, tokens = [], 0
    for rank in range(processes):
        sliced = collate_shard(BATCH, Shard(rank, processes), pad_id=0)
        rows = list(range(len(BATCH))[rank::processes]) or [0]
        width = sliced["input_ids"].shape[1]
        part = weighted_loss(logits[rows, :width], sliced["labels"], sliced["weights"])
        losses.append(part * sliced["share"])
        tokens += sliced["tokens"]
    assert float(sum(losses) / processes) == pytest.approx(float(expected), rel=1e-6)
    assert tokens == whole["tokens"] == 9


def test_sharding_applies_only_with_more_than_one_process() -> None:
    assert applied_sharding("fsdp", 2) == "fsdp"
    assert applied_sharding("fsdp", 1) == "none"
    assert applied_sharding("none", 4) == "none"
