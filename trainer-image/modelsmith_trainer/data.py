"""The training material: reading train.jsonl, the held-out guard, and turning examples into
token ids whose loss covers only the reference.

Everything but `collate` is torch-free, so the checks run before the heavy imports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.heldout import HeldoutFingerprint, Overlap, check_overlap
from modelsmith.contract.jobspec import TrainExample, TrainingData
from modelsmith_trainer.prompts import Resolved, prompt_ids
from modelsmith_trainer.runtime import JobFailure

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
"""Label of a position that does not count towards the loss (torch's cross-entropy default)."""


def parse_train_data(raw: bytes) -> list[TrainExample]:
    """One example per non-blank line. A malformed line is a bad spec (exit 2); no usable
    example at all (no lines, or every weight zero) is an empty split (exit 5)."""
    examples: list[TrainExample] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JobFailure(ExitCode.BAD_SPEC, "the training data is not UTF-8") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(TrainExample.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as err:
            kind = "is not JSON" if not isinstance(err, ValidationError) else "has bad fields"
            raise JobFailure(ExitCode.BAD_SPEC, f"training data line {number} {kind}") from None
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise JobFailure(ExitCode.BAD_SPEC, "training data repeats a scenario id")
    if not any(e.weight > 0 for e in examples):
        raise JobFailure(ExitCode.EMPTY_SPLIT, "the train split is empty: nothing to train on")
    return examples


def describe(
    raw: bytes, examples: Sequence[TrainExample], supplied_digest: str | None = None
) -> TrainingData:
    """The material's digest and counts; `scenario_ids` are the benchmark's train scenarios
    (supplied records are counted, their digest named, and not listed one by one)."""
    supplied = sum(1 for e in examples if e.supplied)
    return TrainingData(
        digest="sha256:" + hashlib.sha256(raw).hexdigest(),
        examples=len(examples),
        scenario_ids=tuple(sorted(e.id for e in examples if not e.supplied)),
        weighted=sum(1 for e in examples if e.weight != 1.0),
        supplied=supplied,
        supplied_digest=supplied_digest if supplied else None,
    )


def training_texts(examples: Sequence[TrainExample]) -> list[str]:
    """What the model reads, as the held-out guard sees it: the prompt followed by the
    reference (the operator's `overlap_between` builds the same text)."""
    return [e.text_prompt + e.reference for e in examples]


def guard_heldout(
    examples: Sequence[TrainExample], fingerprint: HeldoutFingerprint, threshold: float
) -> list[Overlap]:
    """Refuses to train (exit 6) when the material reproduces held-out scenarios: a held-out
    id among the training ids, or shingle overlap at or above the threshold."""
    overlaps = check_overlap(training_texts(examples), fingerprint, threshold)
    leaked = sorted({e.id for e in examples} & set(fingerprint.scenarios))
    flagged = {o.scenario_id for o in overlaps}
    overlaps += [
        Overlap(scenario_id=i, fraction=1.0, part="prompt") for i in leaked if i not in flagged
    ]
    if overlaps:
        raise JobFailure(
            ExitCode.CONTAMINATION,
            f"the training material reproduces {len(overlaps)} held-out scenario(s); "
            "refusing to train",
            contaminated=True,
            details={
                "overlaps": [o.model_dump(mode="json") for o in overlaps[:40]],
                "threshold": threshold,
            },
        )
    return overlaps


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    weight: float

    @property
    def target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def encode(
    prompt_ids: Sequence[int],
    reference_ids: Sequence[int],
    *,
    eos_id: int,
    bos_id: int | None,
    max_length: int,
    weight: float,
) -> Encoded:
    """Prompt then reference then end-of-sequence; only the reference and the end token are
    labelled. Too long: the prompt loses its oldest tokens (its leading `bos` stays), and the
    reference is cut only if it cannot fit beside a single prompt token."""
    prompt = list(prompt_ids)
    if prompt and prompt[-1] == eos_id:
        prompt = prompt[:-1]  # some tokenizers end every text; the answer must follow the prompt
    answer = [*reference_ids, eos_id]
    answer = answer[: max(1, max_length - 1)]
    room = max_length - len(answer)
    if len(prompt) > room:
        keep_bos = bool(prompt) and bos_id is not None and prompt[0] == bos_id and room > 1
        tail = prompt[len(prompt) - (room - 1 if keep_bos else room) :]
        prompt = [prompt[0], *tail] if keep_bos else tail
    return Encoded(
        input_ids=prompt + answer,
        labels=[IGNORE_INDEX] * len(prompt) + answer,
        weight=weight,
    )


def encode_examples(
    examples: Sequence[TrainExample],
    tokenizer: Any,
    max_length: int,
    prompt_format: Resolved = "plain",
) -> list[Encoded]:
    """Prompt and reference are tokenised separately, the prompt exactly as the evaluator
    tokenises the prompt it generates after (`prompts.prompt_ids`), so the model learns to
    continue that very token sequence."""
    prompts = prompt_ids(tokenizer, [e.text_prompt for e in examples], prompt_format)
    references = tokenizer([e.reference for e in examples], add_special_tokens=False)["input_ids"]
    return [
        encode(
            p,
            r,
            eos_id=tokenizer.eos_token_id,
            bos_id=tokenizer.bos_token_id,
            max_length=max_length,
            weight=e.weight,
        )
        for e, p, r in zip(examples, prompts, references, strict=True)
        if e.weight > 0
    ]


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pads a batch; padded positions are masked out of attention and of the loss."""
    import torch

    width = max(len(item.input_ids) for item in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        mask[row, :n] = 1
    weights = torch.tensor([item.weight for item in batch], dtype=torch.float32)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "weights": weights}


def weighted_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The weighted mean over examples of each example's mean next-token loss on its labelled
    positions: a scenario weighing 3 counts three times, whatever its length."""
    import torch.nn.functional as F  # noqa: N812 - the conventional name

    shifted_logits = logits[:, :-1, :].float()
    targets = labels[:, 1:]
    per_token = F.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(targets.shape)
    counted = (targets != IGNORE_INDEX).float()
    per_example = (per_token * counted).sum(dim=1) / counted.sum(dim=1).clamp(min=1.0)
    weights = weights.to(per_example.dtype)
    return (per_example * weights).sum() / weights.sum().clamp(min=1e-8)
