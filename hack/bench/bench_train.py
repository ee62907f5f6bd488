"""The trainer's training loop against a plain transformers/torch loop, on the same model,
data, LoRA recipe and batches.

    python hack/bench/bench_train.py [--model DIR] [--steps 60] [--repeats 3] [--threads 1]

Without --model it builds the tiny quickstart model and trains on the quickstart's train split.
The trainer's loop adds accelerate, the per-example weighted loss, progress tracking and loss
bookkeeping; the plain loop is the textbook `model(**batch, labels=...).loss.backward()`.
Prints tokens per second for each and the trainer's overhead; the target is at most 5%.
Runs are interleaved and each side's best of --repeats is kept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from modelsmith.benchmark.prompting import render_prompt
from modelsmith.jobspec import Recipe, TrainExample

HACK = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HACK))
import tiny_model  # noqa: E402 - found through the path set just above

BENCHMARK = HACK.parent / "examples/quickstart/benchmark.yaml"
TARGET_OVERHEAD = 5.0


def plain_loop(model: Any, loader: Any, recipe: Recipe) -> int:
    """The baseline: no accelerate, the model's own mean token loss, a constant learning rate."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.0)
    model.train()
    step, tokens = 0, 0
    while step < recipe.steps:
        for batch in loader:
            loss = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                labels=batch["labels"],
            ).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            _ = loss.item()  # what any loop logs
            tokens += int(batch["attention_mask"].sum())
            step += 1
            if step >= recipe.steps:
                break
    return tokens


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, help="a save_pretrained model directory")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    import transformers
    from torch.utils.data import DataLoader, RandomSampler

    from modelsmith_trainer.data import collate, encode_examples
    from modelsmith_trainer.progress import ProgressTracker
    from modelsmith_trainer.train import apply_recipe, train

    torch.set_num_threads(args.threads)
    recipe = Recipe(steps=args.steps, learning_rate=1e-3, batch_size=8, max_seq_length=256)
    scenarios = tiny_model.load_scenarios(BENCHMARK)
    examples = [
        TrainExample(id=s.id, text_prompt=render_prompt(s), reference=s.reference or "")
        for s in scenarios
        if s.split == "train"
    ]
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.model or tiny_model.build(scenarios, Path(scratch) / "model")
        hub: Any = transformers
        tokenizer = hub.AutoTokenizer.from_pretrained(directory)
        encoded = encode_examples(examples, tokenizer, recipe.max_seq_length)
        loaded = hub.AutoModelForCausalLM.from_pretrained(directory)
        state, config = loaded.state_dict(), loaded.config

    def fresh_model() -> Any:
        torch.manual_seed(0)
        model = hub.AutoModelForCausalLM.from_config(config)
        model.load_state_dict(state)
        torch.manual_seed(0)
        return apply_recipe(model, recipe)

    def run_trainer() -> tuple[int, float]:
        model = fresh_model()
        tracker = ProgressTracker(recipe.steps, 10, lambda _progress: None)
        _, outcome = train(
            model, encoded, recipe, seed=0, pad_id=tokenizer.pad_token_id, progress=tracker
        )
        return outcome.tokens, outcome.seconds

    def run_plain() -> tuple[int, float]:
        model = fresh_model()
        loader: DataLoader[Any] = DataLoader(
            encoded,  # type: ignore[arg-type]
            batch_size=recipe.batch_size,
            sampler=RandomSampler(encoded, generator=torch.Generator().manual_seed(0)),
            collate_fn=partial(collate, pad_id=tokenizer.pad_token_id),
        )
        began = time.perf_counter()
        tokens = plain_loop(model, loader, recipe)
        return tokens, time.perf_counter() - began

    runs: dict[str, Callable[[], tuple[int, float]]] = {"plain": run_plain, "trainer": run_trainer}
    best = dict.fromkeys(runs, 0.0)
    run_plain()  # warm-up
    for _ in range(args.repeats):
        for name, run in runs.items():
            tokens, seconds = run()
            best[name] = max(best[name], tokens / seconds)
    overhead = 100.0 * (best["plain"] - best["trainer"]) / best["plain"]
    print(
        f"{len(encoded)} examples, {recipe.steps} steps of {recipe.batch_size}, LoRA r{recipe.rank}"
    )
    print(f"{args.threads} thread(s)")
    for name, rate in best.items():
        print(f"  {name:<8} {rate:9.0f} tokens/s")
    verdict = "meets" if overhead <= TARGET_OVERHEAD else "misses"
    print(f"trainer overhead: {overhead:+.1f}% ({verdict} the {TARGET_OVERHEAD:g}% target)")
    return 0 if overhead <= TARGET_OVERHEAD else 1


if __name__ == "__main__":
    sys.exit(main())
