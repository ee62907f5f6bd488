"""Recognising a model directory: missing (exit 3) versus corrupt (exit 4), and its digest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelsmith.contract.exitcodes import ExitCode
from modelsmith_trainer.models import (
    inspect_directory,
    offline_unless_hub,
    safetensors_intact,
    weight_files,
    weights_digest,
)
from modelsmith_trainer.runtime import JobFailure


def code_for(directory: Path) -> ExitCode:
    with pytest.raises(JobFailure) as caught:
        inspect_directory(directory, "the base model")
    return caught.value.code


def test_missing_pieces_are_a_missing_model(tmp_path: Path) -> None:
    assert code_for(tmp_path) == ExitCode.MODEL_MISSING
    (tmp_path / "config.json").write_text("{}")
    assert code_for(tmp_path) == ExitCode.MODEL_MISSING  # no weights


def test_an_unreadable_config_is_corruption(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{trunc")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert code_for(tmp_path) == ExitCode.MODEL_CORRUPT


def test_model_and_adapter_directories(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"weights")  # only safetensors are inspected
    found = inspect_directory(tmp_path, "m")
    assert found.kind == "model" and found.weight_bytes == 7
    assert found.digest == "sha256:" + hashlib.sha256(b"weights").hexdigest()
    (tmp_path / "adapter_config.json").write_text("{}")
    assert inspect_directory(tmp_path, "m").kind == "adapter"


def test_sharded_weights_have_one_stable_digest(tmp_path: Path) -> None:
    for name in ("model-00002-of-00002.safetensors", "model-00001-of-00002.safetensors"):
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "pytorch_model.bin").write_bytes(b"ignored when safetensors exist")
    files = weight_files(tmp_path)
    assert [f.name for f in files] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    listing = "".join(f"{f.name} {hashlib.sha256(f.name.encode()).hexdigest()}\n" for f in files)
    assert weights_digest(files) == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def test_offline_unless_a_model_comes_from_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    offline_unless_hub("hf://org/model", None)
    assert "HF_HUB_OFFLINE" not in os.environ
    offline_unless_hub("s3://b/model/", None)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_truncated_or_garbled_safetensors_are_corrupt(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(4, 4), "b": torch.ones(4)}, str(weights))
    (tmp_path / "config.json").write_text("{}")
    good = weights.read_bytes()
    assert safetensors_intact(weights)
    assert inspect_directory(tmp_path, "m").kind == "model"
    for bad in (good[:-10], b"\x00" * 8 + good[8:], good[:6], b"\xff" * 64):
        weights.write_bytes(bad)
        assert not safetensors_intact(weights)
        assert code_for(tmp_path) == ExitCode.MODEL_CORRUPT
