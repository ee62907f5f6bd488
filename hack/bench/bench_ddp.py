"""The trainer as two DDP processes (torchrun, gloo, one torch thread each) against one process
with two torch threads and one with one thread: the same two cores, model, data, seeded LoRA
adapter and recipe.

    python hack/bench/bench_ddp.py [--model real|tiny] [--steps N] [--repeats 2]

Both sides train the quickstart benchmark's train split as bench_train.py encodes it, each in a
fresh process started the same way (the single process also through this script), so both pay
the same imports and model load. Under DDP each process trains on half of every batch of the
recipe's size and the two exchange gradients after each backward pass; the steps are the same.

Prints a table: tokens per second in the training loop (each side's best of --repeats, runs
alternating which goes first), the seconds each run took from process start to exit, and each
trained model's loss on the whole train split, which must agree within bench_train.py's
tolerance: the arithmetic is the same but for LoRA dropout, whose masks each process draws from
its own random stream. Exit status 0 when the losses agree; the speed is reported, not judged:
on two busy cores, which side wins depends on the model's size and the machine's load (two
math threads in one process wait on each other whenever either loses its core).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_train import LOSS_TOLERANCE, agree, encoded_train_split, split_loss
from benchmodel import (
    UNDER_LOAD,
    ModelChoice,
    add_arguments,
    from_directory,
    load_model,
    machine_line,
    prepare,
    quickstart_recipe,
    table,
)

SIDES = {
    "1 process, 2 threads": (1, 2),
    "1 process, 1 thread": (1, 1),
    "2 DDP processes, 1 thread each": (2, 1),
}


def worker(choice: ModelChoice, directory: Path, steps: int | None, out: Path) -> None:
    """One training in this process, which may be one of several under torchrun; the first
    process writes what happened to `out`."""
    import torch

    from modelsmith_trainer.distributed import make_accelerator
    from modelsmith_trainer.train import apply_recipe, train

    bench = from_directory(choice, directory)
    recipe = quickstart_recipe(choice)
    if steps:
        recipe = recipe.model_copy(update={"steps": steps})
    encoded = encoded_train_split(bench, recipe)
    pad = bench.tokenizer.pad_token_id
    accelerator = make_accelerator("no")
    torch.manual_seed(0)
    model = apply_recipe(load_model(directory), recipe)
    model, outcome = train(model, encoded, recipe, seed=0, pad_id=pad, accelerator=accelerator)
    if accelerator.is_main_process:
        summary = {
            "tokens": outcome.tokens,
            "seconds": outcome.seconds,
            "processes": outcome.processes,
            "split_loss": split_loss(model, encoded, recipe, pad),
            "examples": len(encoded),
            "recipe": recipe.model_dump(),
        }
        out.write_text(json.dumps(summary))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(processes: int, threads: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One run in fresh processes; its summary and the seconds from start to exit."""
    if processes == 1:
        prefix = [sys.executable]
    else:
        prefix = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node"]
        prefix += [str(processes), "--master-port", str(free_port())]
    command = [*prefix, __file__, "--worker", str(args.directory), "--out", str(out)]
    command += ["--model", args.model, "--threads", str(threads)]
    if args.steps:
        command += ["--steps", str(args.steps)]
    began = time.perf_counter()
    subprocess.run(command, check=True)
    summary: dict[str, Any] = json.loads(out.read_text())
    summary["wall"] = time.perf_counter() - began
    return summary


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SIDES}
    for repeat in range(args.repeats):
        order = list(SIDES) if repeat % 2 == 0 else list(reversed(SIDES))
        for name in order:
            processes, threads = SIDES[name]
            out = scratch / f"{processes}x{threads}-{repeat}.json"
            results[name].append(launch(processes, threads, args, out))
    return results


def report(results: dict[str, list[dict[str, Any]]]) -> int:
    sides = [results[name] for name in SIDES]
    rates = [[r["tokens"] / r["seconds"] for r in side] for side in sides]
    best = [max(side) for side in rates]
    losses = [side[-1]["split_loss"] for side in sides]
    recipe = sides[0][0]["recipe"]
    walls = [" / ".join(f"{run['wall']:.1f}" for run in side) for side in sides]
    print(
        f"{sides[0][0]['examples']} examples, {recipe['steps']} steps of "
        f"{recipe['batch_size']} (the recipe's batch on every side), {len(sides[0])} run(s) per "
        "side interleaved"
    )
    rows = [
        ["tokens/s in the training loop (best run)", *(f"{b:.0f}" for b in best)],
        ["tokens/s per run", *(" / ".join(f"{r:.0f}" for r in side) for side in rates)],
        ["seconds per run, process start to exit", *walls],
        ["tokens trained per run", *(str(side[-1]["tokens"]) for side in sides)],
        ["trained model's loss on the train split", *(f"{v:.4f}" for v in losses)],
    ]
    print(table(["", *SIDES], rows))
    agreed = all(agree(losses[-1], loss) for loss in losses[:-1])
    print(
        f"DDP tokens/s {best[-1] / best[0]:.2f}x one 2-thread process's, "
        f"{best[-1] / best[1]:.2f}x one 1-thread process's; trained losses "
        f"{'within' if agreed else 'OUTSIDE'} {LOSS_TOLERANCE[0]:g} nats or "
        f"{LOSS_TOLERANCE[1]:.0%} of each other"
    )
    return 0 if agreed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    parser.add_argument("--steps", type=int, help="optimiser steps (default: the model's recipe)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        worker(args.model, args.worker, args.steps, args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        args.directory = prepare(args.model, scratch).directory
        machine = machine_line(2)
        results = measure(args, scratch)
    print(f"bench-train DDP, model {args.model}, {machine}")
    print(UNDER_LOAD)
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
