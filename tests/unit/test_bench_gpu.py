"""The prepared GPU script (hack/bench/bench_gpu.py) keeps working on machines without an
accelerator: its --smoke run goes through the trainer's and evaluator's own code at toy sizes,
from a model folder without weights as the device gets it (config and tokenizer only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tiny_model

REPO = Path(__file__).resolve().parents[2]
BENCHMARK = REPO / "examples/quickstart/benchmark.yaml"


@pytest.mark.slow
def test_smoke_run_measures_every_step_on_a_folder_without_weights(tmp_path: Path) -> None:
    built = tiny_model.build(tiny_model.load_scenarios(BENCHMARK), tmp_path / "built")
    travelled = tmp_path / "model"
    travelled.mkdir()
    for f in built.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, travelled)
    paths = [REPO / p for p in ("operator", "trainer-image", "evaluator-image", "hack")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    out = tmp_path / "gpu.json"
    argv = [REPO / "hack/bench/bench_gpu.py", "--smoke", "--steps", "2"]
    result = subprocess.run(
        [sys.executable, *map(str, argv), "--model-dir", str(travelled), "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = {row["name"]: row for row in json.loads(out.read_text())}
    assert set(figures) == {"train", "eval", "1b"}
    assert {row["weights"] for row in figures.values()} == {"random"}
    assert figures["train"]["tokens_per_second"] > 0
    assert figures["1b"]["tokens_per_second"] > 0
    assert figures["eval"]["decisions_per_second"] > 0
    assert 0 < figures["eval"]["p50_ms"] <= figures["eval"]["p95_ms"]
    # No accelerator here: no peak to divide by, so no MFU is claimed.
    assert figures["1b"]["mfu"] is None
    assert "| 1b | random |" in result.stdout
