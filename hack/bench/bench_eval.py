"""Batched evaluation against a one-at-a-time loop, on the same model and scenarios.

    python hack/bench/bench_eval.py [--model DIR] [--batch-size 8] [--repeats 3] [--threads 1]

Without --model it builds the tiny quickstart model (random weights, so every answer runs to
--max-new-tokens and both sides generate the same number of tokens). Prints scenarios per
second for each and the ratio; the target is at least 3x at the evaluator's default batch size.
Runs are interleaved and each variant's best of --repeats is kept (the least disturbed by other
work on the machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelsmith.benchmark.prompting import render_prompt

HACK = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HACK))
import tiny_model  # noqa: E402 - found through the path set just above

BENCHMARK = HACK.parent / "examples/quickstart/benchmark.yaml"
TARGET = 3.0


def best_of(repeats: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Each run `repeats` times, interleaved so that a burst of other work on the machine hits
    every variant alike; the best time of each."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            began = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - began)
    return best


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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    import transformers

    from modelsmith_evaluator.generate import generate_all

    torch.set_num_threads(args.threads)
    scenarios = tiny_model.load_scenarios(BENCHMARK)
    prompts = [render_prompt(s) for s in scenarios]
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.model or tiny_model.build(scenarios, Path(scratch) / "model")
        hub: Any = transformers
        model = hub.AutoModelForCausalLM.from_pretrained(directory).eval()
        tokenizer = hub.AutoTokenizer.from_pretrained(directory)

    def batched(size: int) -> Callable[[], object]:
        return lambda: generate_all(
            model, tokenizer, prompts, batch_size=size, max_new_tokens=args.max_new_tokens
        )

    runs: dict[str, Callable[[], object]] = {
        "one at a time": lambda: one_at_a_time(model, tokenizer, prompts, args.max_new_tokens)
    }
    for size in sorted({args.batch_size, len(prompts)}):
        runs[f"batched ({size})"] = batched(size)
    batched(args.batch_size)()  # warm-up: first calls allocate and pick kernels
    results = best_of(args.repeats, runs)
    single = results["one at a time"]
    n = len(prompts)
    print(f"{n} scenarios, {args.max_new_tokens} new tokens max, {args.threads} thread(s)")
    for name, seconds in results.items():
        print(f"  {name:<16} {seconds:7.3f} s  {n / seconds:8.1f} scenarios/s")
    ratio = single / results[f"batched ({args.batch_size})"]
    verdict = "meets" if ratio >= TARGET else "misses"
    print(
        f"speed-up at batch size {args.batch_size}: {ratio:.1f}x ({verdict} the {TARGET:g}x target)"
    )
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
