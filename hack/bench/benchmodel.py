"""What the image benchmarks (bench_train.py, bench_eval.py) share: the model they run on
(`--model real`, the converted SmolLM2-135M-Instruct from the cache, or `--model tiny`, the
quickstart's ~1 M-parameter model built on the spot), the quickstart benchmark's scenarios, the
prompt format the images would pick for that model, and the recipe the quickstart trains it with.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic.alias_generators import to_snake

from modelsmith.contract.recipe import Recipe
from modelsmith.contract.scenario import Scenario

HACK = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HACK))
import quickstart_model  # noqa: E402 - found through the path set just above
import real_model  # noqa: E402
import tiny_model  # noqa: E402

BENCHMARK = HACK.parent / "examples/quickstart/benchmark.yaml"
ModelChoice = Literal["real", "tiny"]

UNDER_LOAD = (
    "The machine's load is shared: read the ratios (both sides measured interleaved in this run), "
    "not the absolute speeds."
)


@dataclass(frozen=True)
class BenchModel:
    choice: ModelChoice
    directory: Path
    scenarios: list[Scenario]
    tokenizer: Any
    prompt_format: Literal["plain", "chat"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=("real", "tiny"),
        default="real",
        help="real: SmolLM2-135M-Instruct (converted into the cache first if absent); "
        "tiny: the quickstart's ~1 M-parameter model",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def prepare(choice: ModelChoice, scratch: Path) -> BenchModel:
    """The model folder and its tokenizer, loaded as the images load them (end/pad fixes)."""
    if choice == "real":
        return from_directory(choice, real_model.ensure())
    scenarios = tiny_model.load_scenarios(BENCHMARK)
    return from_directory(choice, tiny_model.build(scenarios, scratch / "model"))


def from_directory(choice: ModelChoice, directory: Path) -> BenchModel:
    """A model `prepare` made before (in another process, e.g. a torchrun worker)."""
    from modelsmith_trainer.models import load_tokenizer
    from modelsmith_trainer.prompts import resolve

    scenarios = tiny_model.load_scenarios(BENCHMARK)
    tokenizer = load_tokenizer(str(directory), "the base model")
    fmt = resolve("auto", tokenizer, "the base model")
    return BenchModel(choice, directory, scenarios, tokenizer, fmt)


def quickstart_recipe(choice: ModelChoice) -> Recipe:
    """The recipe the quickstart's run trains `choice` with (examples/quickstart/run.yaml as
    hack/quickstart_model.py changes it for the model)."""
    docs = yaml.safe_load_all((quickstart_model.QUICKSTART / "run.yaml").read_text())
    run = next(d for d in docs if d and d["kind"] == "IterationRun")
    fields = quickstart_model.patch(run, choice)["spec"]["recipe"]
    known = {to_snake(k): v for k, v in fields.items() if to_snake(k) in Recipe.model_fields}
    return Recipe(**known)


def load_model(directory: Path) -> Any:
    """The model in float32 on the CPU, as the images load it where no GPU is present."""
    import torch
    import transformers

    hub: Any = transformers
    return hub.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()


def machine_line(threads: int) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPU core(s), {threads} torch thread(s), "
        f"1-minute load average {load:.1f} at the start"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, so the output pastes into docs/benchmarks.md as it is."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
