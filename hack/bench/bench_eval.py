"""Batched evaluation against a one-at-a-time loop, on the same model and scenarios.

    python hack/bench/bench_eval.py [--model DIR] [--batch-size 8] [--repeats 3] [--threads 1]

Without --model it builds the tiny quickstart model (random weights, so every answer runs to
--max-new-tokens and both sides generate the same number of tokens). Prints scenarios per
second for each and the ratio; the target is at least 3x at the evaluator's default batch size.
Timings are the best of --repeats (the least disturbed by other work on the machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HACK = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HACK))

import tiny_model  # noqa: E402 - after the path tweak that finds it

from modelsmith.benchmark.prompting import render_prompt  # noqa: E402

BENCHMARK = HACK.parent / "examples/quickstart/benchmark.yaml"
TARGET = 3.0


def best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def one_at_a_time(model: Any, tokenizer: Any, prompts: Sequence[str], max_new: int) -> list[str]:
    """The loop the evaluator replaces: one generate() call per scenario, no padding."""
    import torch

    answers = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", return_token_type_ids=False)
        with torch.inference_mode():
            out = model.generate(
                **ids,
                max_new_tokens=max_new,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        answers.append(tokenizer.decode(out[0, ids["input_ids"].shape[1] :]))
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, help="a save_pretrained model directory")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from modelsmith_evaluator.generate import generate_all

    torch.set_num_threads(args.threads)
    scenarios = tiny_model.load_scenarios(BENCHMARK)
    prompts = [render_prompt(s) for s in scenarios]
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.model or tiny_model.build(scenarios, Path(scratch) / "model")
        model = AutoModelForCausalLM.from_pretrained(directory).eval()
        tokenizer = AutoTokenizer.from_pretrained(directory)

    def batched(size: int) -> Callable[[], object]:
        return lambda: generate_all(
            model, tokenizer, prompts, batch_size=size, max_new_tokens=args.max_new_tokens
        )

    batched(args.batch_size)()  # warm-up: first calls allocate and pick kernels
    single = best_of(args.repeats, lambda: one_at_a_time(model, tokenizer, prompts, args.max_new_tokens))
    results = {"one at a time": single}
    for size in sorted({args.batch_size, len(prompts)}):
        results[f"batched ({size})"] = best_of(args.repeats, batched(size))
    n = len(prompts)
    print(f"{n} scenarios, {args.max_new_tokens} new tokens max, {args.threads} thread(s)")
    for name, seconds in results.items():
        print(f"  {name:<16} {seconds:7.3f} s  {n / seconds:8.1f} scenarios/s")
    ratio = single / results[f"batched ({args.batch_size})"]
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"speed-up at batch size {args.batch_size}: {ratio:.1f}x ({verdict} the {TARGET:g}x target)")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
