"""The rule that makes a tokenizer agree with its model's declared special tokens, without a
model: SmolLM2's GGUF conversion as data, and the edge cases around it."""

from __future__ import annotations

from typing import Any

import pytest

from modelsmith_trainer.special_tokens import (
    DeclaredTokens,
    TokenizerState,
    apply_fixes,
    declared_by_gguf,
    declared_by_model_config,
    token_fixes,
)

VOCAB = {0: "<|endoftext|>", 1: "<|im_start|>", 2: "<|im_end|>", 3: "hello"}
SMOLLM2_METADATA: dict[str, Any] = {
    "general.architecture": "llama",
    "llama.context_length": 8192,
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.add_bos_token": False,
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.ggml.padding_token_id": 2,
}
AS_CONVERTED = TokenizerState(
    eos_id=1, pad_id=None, add_bos=True, clean_up_spaces=True, max_length=10**30
)


def test_smollm2_as_transformers_converts_it() -> None:
    fixes = token_fixes(AS_CONVERTED, declared_by_gguf(SMOLLM2_METADATA), VOCAB.get)
    assert fixes == {
        "eos_token": "<|im_end|>",
        "pad_token": "<|im_end|>",
        "add_bos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 8192,
    }


def test_a_tokenizer_that_agrees_needs_nothing() -> None:
    right = TokenizerState(
        eos_id=2, pad_id=2, add_bos=False, clean_up_spaces=False, max_length=8192
    )
    assert token_fixes(right, declared_by_gguf(SMOLLM2_METADATA), VOCAB.get) == {}
    assert token_fixes(right, DeclaredTokens(), VOCAB.get) == {}


def test_without_a_declared_pad_the_end_token_pads() -> None:
    state = TokenizerState(eos_id=2, pad_id=None, add_bos=None, clean_up_spaces=False, max_length=8)
    assert token_fixes(state, DeclaredTokens(), VOCAB.get) == {"pad_token": "<|im_end|>"}
    assert token_fixes(state, DeclaredTokens(eos_id=1), VOCAB.get) == {
        "eos_token": "<|im_start|>",
        "pad_token": "<|im_start|>",
    }


def test_a_declared_id_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="end token id 99"):
        token_fixes(AS_CONVERTED, DeclaredTokens(eos_id=99), VOCAB.get)


def test_metadata_that_declares_nothing_declares_nothing() -> None:
    assert declared_by_gguf({"general.architecture": "llama"}) == DeclaredTokens()
    # A sentencepiece GGUF decodes through its own rules: clean-up is not ours to decide.
    sentencepiece = declared_by_gguf({**SMOLLM2_METADATA, "tokenizer.ggml.model": "llama"})
    assert sentencepiece.clean_up_spaces is None


class Stubborn:
    """A tokenizer class whose start-token switch is a plain attribute: its prompts keep bos."""

    bos_token_id = 1
    add_bos_token = True

    def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
        return {"input_ids": [1, 3]}


def test_a_start_token_switch_that_does_not_take_is_an_error() -> None:
    with pytest.raises(ValueError, match="still prepends"):
        apply_fixes(Stubborn(), {"add_bos_token": False})


def test_the_model_config_declares_end_and_pad() -> None:
    config = {"eos_token_id": 2, "pad_token_id": 2, "bos_token_id": 1}
    assert declared_by_model_config(config, tokenizer_eos=1) == DeclaredTokens(eos_id=2, pad_id=2)
    assert declared_by_model_config({}, tokenizer_eos=1) == DeclaredTokens()


def test_a_model_ending_on_several_tokens_accepts_any_of_them() -> None:
    config = {"eos_token_id": [7, 9]}
    assert declared_by_model_config(config, tokenizer_eos=9).eos_id is None
    assert declared_by_model_config(config, tokenizer_eos=1).eos_id == 7
