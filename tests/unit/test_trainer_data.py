"""Training material: parsing, the held-out guard, reference-only labels, the weighted loss."""

from __future__ import annotations

import json

import pytest
import torch

from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.heldout import fingerprint
from modelsmith.contract.jobspec import TrainExample
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario
from modelsmith_trainer.data import (
    IGNORE_INDEX,
    Encoded,
    collate,
    describe,
    encode,
    guard_heldout,
    parse_train_data,
    weighted_loss,
)
from modelsmith_trainer.runtime import JobFailure


def line(id_: str, weight: float = 1.0) -> str:
    return json.dumps(
        {"id": id_, "text_prompt": f"ticket {id_}\nAnswer: ", "reference": "ok", "weight": weight}
    )


def failure(raw: bytes) -> JobFailure:
    with pytest.raises(JobFailure) as caught:
        parse_train_data(raw)
    return caught.value


def test_parses_lines_and_skips_blank_ones() -> None:
    examples = parse_train_data(f"{line('a')}\n\n{line('b', 3)}\n".encode())
    assert [(e.id, e.weight) for e in examples] == [("a", 1.0), ("b", 3.0)]
    described = describe(b"x", examples)
    assert described.examples == 2 and described.weighted == 1
    assert described.digest.startswith("sha256:")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", ExitCode.EMPTY_SPLIT),
        (b"\n \n", ExitCode.EMPTY_SPLIT),
        (f"{line('a', 0)}\n{line('b', 0)}".encode(), ExitCode.EMPTY_SPLIT),
        (b"{not json", ExitCode.BAD_SPEC),
        (b'{"id": "a"}', ExitCode.BAD_SPEC),
        (f"{line('a')}\n{line('a')}".encode(), ExitCode.BAD_SPEC),
        (b"\xff\xfe", ExitCode.BAD_SPEC),
    ],
)
def test_bad_or_empty_material_has_its_exit_code(raw: bytes, code: ExitCode) -> None:
    assert failure(raw).code == code


def scenario(id_: str, ticket: str, split: str = "heldout") -> Scenario:
    return Scenario.model_validate(
        {
            "id": id_,
            "capability": "routing",
            "risk": "low",
            "operatorLens": "agent",
            "outcomeType": "route",
            "split": split,
            "prompt": "Triage this support ticket.",
            "inputs": {"ticket": ticket},
            "reference": "queue: billing.",
            "pass": [{"kind": "contains", "value": "queue: billing"}],
        }
    )


HELDOUT = [
    scenario("h1", "my payment went through twice and the invoice total is wrong"),
    scenario("h2", "the desktop app crashes with a bug when i upload a file"),
]


def example(s: Scenario) -> TrainExample:
    return TrainExample(id=s.id, text_prompt=render_prompt(s), reference=s.reference or "x")


def test_the_guard_refuses_copied_heldout_material() -> None:
    copied = scenario("t1", HELDOUT[0].inputs["ticket"], split="train")
    with pytest.raises(JobFailure) as caught:
        guard_heldout([example(copied)], fingerprint(HELDOUT), 0.5)
    assert caught.value.code == ExitCode.CONTAMINATION
    assert caught.value.contaminated
    assert [o["scenario_id"] for o in caught.value.details["overlaps"]] == ["h1"]
    assert "payment" not in caught.value.message  # ids only, never text


def test_the_guard_refuses_a_heldout_id_and_passes_fresh_material() -> None:
    fresh = scenario("t1", "please send me a copy of the invoice", split="train")
    assert guard_heldout([example(fresh)], fingerprint(HELDOUT), 0.5) == []
    renamed = scenario("h2", "please send me a copy of the invoice", split="train")
    with pytest.raises(JobFailure) as caught:
        guard_heldout([example(renamed)], fingerprint(HELDOUT), 0.5)
    assert caught.value.details["overlaps"][0]["scenario_id"] == "h2"


def test_only_the_reference_and_end_token_are_labelled() -> None:
    item = encode([1, 10, 11, 12], [20, 21], eos_id=2, bos_id=1, max_length=64, weight=2.0)
    assert item.input_ids == [1, 10, 11, 12, 20, 21, 2]
    assert item.labels == [IGNORE_INDEX] * 4 + [20, 21, 2]
    assert item.target_tokens == 3 and item.weight == 2.0


def test_a_long_prompt_loses_its_oldest_tokens_but_keeps_bos_and_answer() -> None:
    item = encode([1, *range(10, 30)], [20, 21], eos_id=2, bos_id=1, max_length=8, weight=1.0)
    assert item.input_ids == [1, 26, 27, 28, 29, 20, 21, 2]
    assert item.labels[-3:] == [20, 21, 2] and len(item.input_ids) == 8


def test_a_trailing_end_token_on_the_prompt_is_dropped() -> None:
    item = encode([1, 10, 2], [20], eos_id=2, bos_id=1, max_length=16, weight=1.0)
    assert item.input_ids == [1, 10, 20, 2]


def test_collate_right_pads_and_masks() -> None:
    a = Encoded([1, 5, 6], [IGNORE_INDEX, 6, 2], 1.0)
    b = Encoded([1, 5], [IGNORE_INDEX, 2], 3.0)
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 5, 6], [1, 5, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 6, 2], [IGNORE_INDEX, 2, IGNORE_INDEX]]
    assert batch["weights"].tolist() == [1.0, 3.0]


def test_weighted_loss_is_the_weighted_mean_of_per_example_means() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7)
    labels = torch.tensor([[IGNORE_INDEX, 3, 4, 5], [IGNORE_INDEX, IGNORE_INDEX, 6, IGNORE_INDEX]])
    weights = torch.tensor([1.0, 3.0])

    def mean_nll(row: int, positions: list[int]) -> torch.Tensor:
        logp = torch.log_softmax(logits[row], dim=-1)
        return -torch.stack([logp[p - 1, labels[row, p]] for p in positions]).mean()

    first, second = mean_nll(0, [1, 2, 3]), mean_nll(1, [2])
    expected = (1.0 * first + 3.0 * second) / 4.0
    assert torch.allclose(weighted_loss(logits, labels, weights), expected, atol=1e-6)
    equal = weighted_loss(logits, labels, torch.tensor([1.0, 1.0]))
    assert torch.allclose(equal, (first + second) / 2, atol=1e-6)
