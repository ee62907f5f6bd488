"""The evaluator's batched generation against transformers' one-prompt-at-a-time `generate`, on
the same model, prompts and greedy decoding.

    python hack/bench/bench_eval.py [--model real|tiny] [--batch-size 8] [--max-new-tokens 48]
                                    [--repeats 2] [--threads 1]

Both sides generate after every quickstart scenario's prompt, encoded as the images encode it
(chat format for a model with a chat template), until the end token or --max-new-tokens. The
completions must be equal: greedy decoding of the same prompt should not depend on the batch
(left padding is masked out); any that differ are listed, and the run fails. Prints a table of
time and scenarios per second for each (runs interleaved, each variant's best of --repeats, the
least disturbed by other work on the machine) and the speed-up; the goal is at least 3x at the
evaluator's default batch size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmodel import UNDER_LOAD, add_arguments, load_model, machine_line, prepare, table

from modelsmith.contract.prompting import render_prompt

TARGET = 3.0
ONE_AT_A_TIME = "one at a time"


def one_at_a_time(
    model: Any, tokenizer: Any, prompts: Sequence[str], fmt: Any, max_new: int
) -> list[str]:
    """The loop a user writes first: one unpadded generate() per scenario, the prompt's ids and
    the answer's decoding as the evaluator makes them."""
    import torch

    from modelsmith_trainer.prompts import prompt_ids

    eos = tokenizer.eos_token_id
    answers = []
    for ids in prompt_ids(tokenizer, prompts, fmt):
        if len(ids) > 1 and ids[-1] == eos:
            ids = ids[:-1]  # as the evaluator does: the answer follows the prompt itself
        with torch.inference_mode():
            out = model.generate(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
                max_new_tokens=max_new,
                do_sample=False,
                num_beams=1,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[0, len(ids) :].tolist()
        new = new[: new.index(eos)] if eos in new else new
        answers.append(tokenizer.decode(new, skip_special_tokens=True).strip())
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from modelsmith_evaluator.generate import generate_all

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        bench = prepare(args.model, Path(scratch))
        model = load_model(bench.directory)
    tokenizer, fmt, limit = bench.tokenizer, bench.prompt_format, args.max_new_tokens
    prompts = [render_prompt(s) for s in bench.scenarios]

    def batched(size: int) -> Callable[[], list[str]]:
        def run() -> list[str]:
            done = generate_all(
                model, tokenizer, prompts, batch_size=size, max_new_tokens=limit, prompt_format=fmt
            )
            return [g.completion for g in done.generations]

        return run

    runs = {ONE_AT_A_TIME: lambda: one_at_a_time(model, tokenizer, prompts, fmt, limit)}
    for size in sorted({args.batch_size, len(prompts)}):
        runs[f"batched ({size})"] = batched(size)
    machine = machine_line(args.threads)
    batched(args.batch_size)()  # warm-up: first calls allocate and pick kernels
    seconds, answers = best_of(args.repeats, runs)
    print(f"bench-eval, model {args.model}, {machine}")
    print(UNDER_LOAD)
    print(f"{len(prompts)} scenarios ({fmt} prompts), greedy, at most {limit} new tokens")
    return report(seconds, answers, [s.id for s in bench.scenarios], args.batch_size)


def best_of(
    repeats: int, runs: dict[str, Callable[[], list[str]]]
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Each run `repeats` times, interleaved so that a burst of other work on the machine hits
    every variant alike; the best time of each, and its completions."""
    best = dict.fromkeys(runs, float("inf"))
    answers: dict[str, list[str]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            began = time.perf_counter()
            answers[name] = run()
            best[name] = min(best[name], time.perf_counter() - began)
    return best, answers


def report(
    seconds: dict[str, float], answers: dict[str, list[str]], ids: list[str], batch_size: int
) -> int:
    single, reference = seconds[ONE_AT_A_TIME], answers[ONE_AT_A_TIME]
    rows, differing = [], {}
    for name, took in seconds.items():
        differ = [
            i for i, (a, b) in enumerate(zip(answers[name], reference, strict=True)) if a != b
        ]
        if differ:
            differing[name] = differ
        rows.append(
            [
                name,
                f"{took:.2f}",
                f"{len(ids) / took:.2f}",
                f"{single / took:.2f}x",
                f"{len(ids) - len(differ)}/{len(ids)}",
            ]
        )
    header = ["", "seconds (best run)", "scenarios/s", "speed-up", "completions equal"]
    print(table(header, rows))
    for name, differ in differing.items():
        for i in differ:
            print(f"  {name} differs on {ids[i]}:")
            print(f"    one at a time: {reference[i]!r}")
            print(f"    {name}: {answers[name][i]!r}")
    ratio = single / seconds[f"batched ({batch_size})"]
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"speed-up at batch size {batch_size}: {ratio:.1f}x ({verdict} the {TARGET:g}x goal)")
    return 0 if ratio >= TARGET and not differing else 1


if __name__ == "__main__":
    sys.exit(main())
