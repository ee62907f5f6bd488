"""Batched greedy generation with per-decision timing.

Prompts are grouped by length (less padding), left-padded (so every row's next token sits in
the last column), and decoded greedily until the end token or `max_new_tokens`. A scenario's
latency is its batch's wall time divided by the batch size: what one decision costs when the
model serves decisions in batches of that size."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from modelsmith_trainer.prompts import Resolved, prompt_ids


@dataclass(frozen=True)
class Generation:
    completion: str
    prompt_tokens: int
    generated_tokens: int
    latency_ms: float
    batch_size: int
    stopped: bool
    """True when the model ended its answer itself (end token), False when cut at the limit."""


@dataclass(frozen=True)
class GenerationRun:
    generations: list[Generation]
    device_seconds: float
    device: str


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def generate_all(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    batch_size: int,
    max_new_tokens: int,
    prompt_format: Resolved = "plain",
) -> GenerationRun:
    """Generations in the order of `prompts`, each prompt encoded as the trainer encodes it."""
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    tokenizer.padding_side = "left"
    limit = _context_limit(model)
    encoded = [_prompt_ids(ids, eos) for ids in prompt_ids(tokenizer, prompts, prompt_format)]
    encoded = [_fit(ids, limit - max_new_tokens, tokenizer.bos_token_id) for ids in encoded]
    order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
    results: dict[int, Generation] = {}
    busy = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids, mask = _left_padded([encoded[i] for i in rows], width, pad)
        ids, mask = ids.to(device), mask.to(device)
        _synchronise(device)
        began = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                eos_token_id=eos,
                pad_token_id=pad,
            )
        _synchronise(device)
        elapsed = time.perf_counter() - began
        busy += elapsed
        new_tokens = output[:, width:].tolist()
        for r, i in enumerate(rows):
            tokens, stopped = _until_eos(new_tokens[r], eos)
            results[i] = Generation(
                completion=tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                prompt_tokens=len(encoded[i]),
                generated_tokens=len(tokens) + (1 if stopped else 0),
                latency_ms=1000.0 * elapsed / len(rows),
                batch_size=len(rows),
                stopped=stopped,
            )
    return GenerationRun(
        generations=[results[i] for i in range(len(prompts))],
        device_seconds=busy,
        device="gpu" if device.type == "cuda" else "cpu",
    )


def _left_padded(batch: list[list[int]], width: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask, padded on the left so every prompt ends where generation
    starts."""
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, row in enumerate(batch):
        n = len(row)
        ids[r, width - n :] = torch.tensor(row)
        mask[r, width - n :] = 1
    return ids, mask


def _prompt_ids(ids: list[int], eos: int) -> list[int]:
    # Some tokenizers end every text; the answer must follow the prompt itself (as in training).
    return ids[:-1] if len(ids) > 1 and ids[-1] == eos else ids


def _until_eos(tokens: list[int], eos: int) -> tuple[list[int], bool]:
    """The answer's tokens before the end token (and the padding generate() adds after it)."""
    if eos in tokens:
        return tokens[: tokens.index(eos)], True
    return tokens, False


def _context_limit(model: Any) -> int:
    limit = getattr(model.config, "max_position_embeddings", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else 1 << 30


def _fit(ids: list[int], room: int, bos: int | None) -> list[int]:
    """A prompt too long for the context keeps its newest tokens (and its leading bos)."""
    room = max(1, room)
    if len(ids) <= room:
        return ids
    if bos is not None and ids and ids[0] == bos and room > 1:
        return [ids[0], *ids[len(ids) - room + 1 :]]
    return ids[len(ids) - room :]
