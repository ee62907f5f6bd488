"""The trainer's training loop against TRL's SFTTrainer, on the same model, data, LoRA adapter,
recipe and precision.

    python hack/bench/bench_train.py [--model real|tiny] [--steps N] [--repeats 2] [--threads 1]

Both sides train the quickstart benchmark's train split encoded by the trainer (prompt in the
format the images pick for the model, loss on the answer and its end token only): TRL receives
the very token ids and labels as a pre-tokenised dataset. Both start from the same weights and the
same seeded LoRA adapter (the trainer's `apply_recipe`), with the recipe's steps, batch size and
peak learning rate, 5% warm-up then cosine decay to 10%, gradient clipping at 1.0, no weight decay.
TRL's own defaults that would change the arithmetic (gradient checkpointing, bf16 autocast on the
CPU) are set to what the trainer does, so the comparison is of the loops, not of the settings.

Prints a table: tokens per second (each side's best of --repeats, runs interleaved and
alternating which goes first, so a burst of other work hits both alike), the mean loss of the
last epoch's steps as each trainer reports it, and the loss of each trained model on the whole
train split under one definition. Goals: at least 1.0x TRL's tokens/s, final loss within
LOSS_TOLERANCE of TRL's. Exit status 0 when both are met.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmodel import (
    UNDER_LOAD,
    BenchModel,
    add_arguments,
    load_model,
    machine_line,
    prepare,
    quickstart_recipe,
    table,
)

from modelsmith.contract.jobspec import TrainExample
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.recipe import Recipe

TARGET_RATIO = 1.0
LOSS_TOLERANCE = (0.02, 0.10)
"""Final losses agree when they differ by at most 0.02 nats or 10% of the larger: LoRA dropout
draws differently in each loop, which moves the last epoch's loss by about that much."""


@dataclass(frozen=True)
class Side:
    tokens: int
    seconds: float
    losses: list[float]
    model: Any

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def encoded_train_split(bench: BenchModel, recipe: Recipe) -> list[Any]:
    from modelsmith_trainer.data import encode_examples

    examples = [
        TrainExample(id=s.id, text_prompt=render_prompt(s), reference=s.reference or "")
        for s in bench.scenarios
        if s.split == "train"
    ]
    return encode_examples(examples, bench.tokenizer, recipe.max_seq_length, bench.prompt_format)


def run_ours(model: Any, encoded: list[Any], recipe: Recipe, pad_id: int) -> Side:
    from modelsmith_trainer.progress import ProgressTracker
    from modelsmith_trainer.train import train

    losses: list[float] = []
    tracker = ProgressTracker(
        recipe.steps, 1, lambda p: losses.append(p.loss) if p.loss is not None else None
    )
    began = time.perf_counter()
    model, outcome = train(model, encoded, recipe, seed=0, pad_id=pad_id, progress=tracker)
    return Side(outcome.tokens, time.perf_counter() - began, losses, model)


def run_trl(model: Any, encoded: list[Any], recipe: Recipe, pad_id: int, scratch: Path) -> Side:
    import datasets
    from transformers import PrinterCallback, TrainerCallback
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling, SFTTrainer

    collator = DataCollatorForLanguageModeling(pad_token_id=pad_id)
    tokens = [0]

    def counting(rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = collator(rows)
        tokens[0] += int(batch["attention_mask"].sum())
        return batch

    losses: list[float] = []

    class Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    config = _trl_config(recipe, scratch)
    datasets.disable_progress_bars()
    dataset = datasets.Dataset.from_list(
        [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        data_collator=counting,
        callbacks=[Losses()],
    )
    # transformers leaves remove_callback unannotated; this is its type.
    remove: Callable[[type[TrainerCallback]], None] = trainer.remove_callback
    remove(PrinterCallback)  # its per-step log lines would bury the table
    began = time.perf_counter()
    trainer.train()
    return Side(tokens[0], time.perf_counter() - began, losses, trainer.model)


def _trl_config(recipe: Recipe, scratch: Path) -> Any:
    """TRL's settings for the trainer's own schedule: the same warm-up, cosine decay to the same
    final share, clipping and precision, one log line per step and nothing saved."""
    import torch
    from trl.trainer.sft_config import SFTConfig

    from modelsmith_trainer.train import (
        FINAL_LR_SHARE,
        MAX_GRAD_NORM,
        WARMUP_SHARE,
        mixed_precision,
    )

    return SFTConfig(
        output_dir=str(scratch / "trl"),
        max_steps=recipe.steps,
        per_device_train_batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": FINAL_LR_SHARE},
        warmup_steps=max(1, math.ceil(WARMUP_SHARE * recipe.steps)),
        weight_decay=0.0,
        max_grad_norm=MAX_GRAD_NORM,
        max_length=recipe.max_seq_length,
        gradient_checkpointing=False,
        bf16=mixed_precision() == "bf16",
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
        data_seed=0,
    )


def split_loss(model: Any, encoded: list[Any], recipe: Recipe, pad_id: int) -> float:
    """The trained model's loss on the whole train split, dropout off: each example's mean
    answer-token loss, averaged over examples (the trainer's definition, weights 1)."""
    import torch

    from modelsmith_trainer.data import Encoded, collate, weighted_loss

    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(encoded), recipe.batch_size):
            rows = encoded[start : start + recipe.batch_size]
            flat = [Encoded(e.input_ids, e.labels, 1.0) for e in rows]
            batch = collate(flat, pad_id)
            ids, mask = batch["input_ids"], batch["attention_mask"]
            logits = model(input_ids=ids, attention_mask=mask).logits
            total += float(weighted_loss(logits, batch["labels"], batch["weights"])) * len(rows)
    return total / len(encoded)


def last_epoch_mean(losses: Sequence[float], steps_per_epoch: int) -> float:
    tail = losses[-max(1, steps_per_epoch) :]
    return sum(tail) / len(tail)


def agree(a: float, b: float) -> bool:
    absolute, relative = LOSS_TOLERANCE
    return abs(a - b) <= max(absolute, relative * max(a, b))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    parser.add_argument("--steps", type=int, help="optimiser steps (default: the model's recipe)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    recipe = quickstart_recipe(args.model)
    if args.steps:
        recipe = recipe.model_copy(update={"steps": args.steps})
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        bench = prepare(args.model, scratch)
        base = load_model(bench.directory)
        encoded = encoded_train_split(bench, recipe)
        pad = bench.tokenizer.pad_token_id
        machine = machine_line(args.threads)
        sides = measure(base, encoded, recipe, pad, scratch, args.repeats)
    print(f"bench-train, model {args.model}, {machine}")
    print(UNDER_LOAD)
    return report(sides, encoded, recipe, bench)


def measure(
    base: Any, encoded: list[Any], recipe: Recipe, pad: int, scratch: Path, repeats: int
) -> dict[str, list[tuple[Side, float]]]:
    """Each side `repeats` times, alternating which goes first; each run's trained model is
    scored on the train split at once and let go (two 135 M models at a time is plenty)."""
    import torch

    from modelsmith_trainer.train import apply_recipe

    def fresh() -> Any:
        torch.manual_seed(0)
        return apply_recipe(copy.deepcopy(base), recipe)

    runs: dict[str, Callable[[], Side]] = {
        "Modelsmith trainer": lambda: run_ours(fresh(), encoded, recipe, pad),
        "TRL SFTTrainer": lambda: run_trl(fresh(), encoded, recipe, pad, scratch),
    }
    results: dict[str, list[tuple[Side, float]]] = {name: [] for name in runs}
    for repeat in range(repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            side = runs[name]()
            loss = split_loss(side.model, encoded, recipe, pad)
            results[name].append((Side(side.tokens, side.seconds, side.losses, None), loss))
    return results


def report(
    results: dict[str, list[tuple[Side, float]]],
    encoded: list[Any],
    recipe: Recipe,
    bench: BenchModel,
) -> int:
    pair = [results[k] for k in ("Modelsmith trainer", "TRL SFTTrainer")]
    per_epoch = math.ceil(len(encoded) / recipe.batch_size)
    best = [max(s.rate for s, _ in side) for side in pair]
    tail = [last_epoch_mean(side[-1][0].losses, per_epoch) for side in pair]
    held = [side[-1][1] for side in pair]
    ratio = best[0] / best[1]
    print(
        f"{len(encoded)} examples ({bench.prompt_format} prompts), {recipe.steps} steps of "
        f"{recipe.batch_size}, LoRA r{recipe.rank} alpha {recipe.alpha} on every linear layer, "
        f"lr {recipe.learning_rate:g}, {len(pair[0])} run(s) per side interleaved"
    )
    rows = [
        ["tokens/s (best run)", f"{best[0]:.0f}", f"{best[1]:.0f}", f"{ratio:.2f}x"],
        ["tokens/s per run", *(" / ".join(f"{s.rate:.0f}" for s, _ in x) for x in pair), ""],
        ["tokens trained per run", *(str(x[-1][0].tokens) for x in pair), ""],
        ["loss, last epoch's steps (as each trainer reports it)", *(f"{v:.4f}" for v in tail), ""],
        ["trained model's loss on the train split (one rule)", *(f"{v:.4f}" for v in held), ""],
    ]
    print(table(["", "Modelsmith trainer", "TRL SFTTrainer", "ratio"], rows))
    speed_ok, loss_ok = ratio >= TARGET_RATIO, agree(*held)
    print(
        f"tokens/s {ratio:.2f}x TRL's ({'meets' if speed_ok else 'misses'} the "
        f"{TARGET_RATIO:g}x goal); final loss {'within' if loss_ok else 'outside'} "
        f"{LOSS_TOLERANCE[0]:g} nats or {LOSS_TOLERANCE[1]:.0%} of TRL's"
    )
    return 0 if speed_ok and loss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
