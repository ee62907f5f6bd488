"""Batched generation answers exactly what one-at-a-time generation answers: left padding and
the attention mask keep rows apart, and every answer ends at its own end token."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

import tiny_model
from modelsmith_evaluator.generate import _fit, _until_eos, generate_all

PROMPTS = [
    "Triage this ticket.\nticket: my invoice is wrong\nAnswer: ",
    "Triage.\nAnswer: ",
    "Triage this support ticket now please.\nticket: the app crashes with an error\nAnswer: ",
    "Triage this ticket.\nticket: password reset\nAnswer: ",
    "Hello\nAnswer: ",
]


@pytest.fixture(scope="module")
def small() -> tuple[Any, Any]:
    torch.set_num_threads(1)  # a micro model gains nothing from more, and the suite shares cores
    texts = [*PROMPTS, "queue: billing. queue: none."]
    tokenizer = tiny_model.build_tokenizer(texts, tiny_model.MICRO.vocab_size)
    # Its head peaked enough that rounding never flips a token.
    shape = dataclasses.replace(tiny_model.MICRO, seed=7, head_scale=20)
    return tiny_model.llama(tokenizer, shape).eval(), tokenizer


def test_batches_answer_like_single_prompts(small: tuple[Any, Any]) -> None:
    model, tokenizer = small
    batched = generate_all(model, tokenizer, PROMPTS, batch_size=4, max_new_tokens=6)
    single = generate_all(model, tokenizer, PROMPTS, batch_size=1, max_new_tokens=6)
    assert [g.completion for g in batched.generations] == [g.completion for g in single.generations]
    assert [g.prompt_tokens for g in batched.generations] == [
        len(tokenizer(p)["input_ids"]) for p in PROMPTS
    ]
    assert {g.batch_size for g in batched.generations} == {4, 1}
    assert all(0 < g.generated_tokens <= 6 for g in batched.generations)
    assert batched.device == "cpu" and batched.device_seconds > 0


def test_answers_stop_at_the_end_token() -> None:
    assert _until_eos([5, 6, 2, 0, 0], eos=2) == ([5, 6], True)
    assert _until_eos([5, 6, 7], eos=2) == ([5, 6, 7], False)


def test_long_prompts_keep_bos_and_their_newest_tokens() -> None:
    assert _fit([1, 10, 11, 12, 13], 3, bos=1) == [1, 12, 13]
    assert _fit([10, 11, 12], 2, bos=1) == [11, 12]
    assert _fit([1, 10], 5, bos=1) == [1, 10]
