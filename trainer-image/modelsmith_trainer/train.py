"""The training loop, top to bottom: apply the recipe (LoRA adapter or every weight), then
`recipe.steps` optimiser steps over seeded shuffles of the examples, each step's loss the
weighted mean of the examples' reference-only losses.

It runs under accelerate's Accelerator: one process on a CPU or a single GPU, or several
processes under `accelerate launch` or `torchrun` (each then trains on its slice of every batch,
and gradients are averaged across processes; see distributed.py), each holding the whole model
or, with the recipe's `sharding: fsdp`, a share of it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from modelsmith.contract.recipe import Recipe, Sharding
from modelsmith_trainer import distributed
from modelsmith_trainer.checkpoint import Checkpoints, Layout, Position, Trainee
from modelsmith_trainer.data import Encoded, weighted_loss
from modelsmith_trainer.progress import ProgressTracker

log = logging.getLogger("modelsmith.train")

MAX_GRAD_NORM = 1.0
WARMUP_SHARE = 0.05
FINAL_LR_SHARE = 0.1


@dataclass(frozen=True)
class TrainOutcome:
    steps: int
    first_loss: float | None
    final_loss: float | None
    tokens: int
    seconds: float
    device: Literal["cpu", "gpu"]
    processes: int
    sharding: Sharding
    trainable_parameters: int
    total_parameters: int
    resumed_from_step: int | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def apply_recipe(model: Any, recipe: Recipe, init_adapter: str | None = None) -> Any:
    """The model to train: with a LoRA adapter (new, or `init_adapter`'s to continue from), or
    with every weight trainable. Call after seeding: a new adapter's weights are random."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if recipe.method == "full":
        if init_adapter is not None:
            # A full fine-tune continues from the merged candidate.
            model = PeftModel.from_pretrained(model, init_adapter).merge_and_unload()
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    if init_adapter is not None:
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        # Every linear layer but the output head: the adapter can then reshape what each layer
        # reads and writes, which matters most when the base never saw the domain.
        target_modules=list(recipe.target_modules) or "all-linear",
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def lr_factor(step: int, total: int) -> float:
    """Linear warm-up over the first 5% of steps, then a cosine decay to 10% of the peak."""
    warmup = max(1, math.ceil(WARMUP_SHARE * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress))


def mixed_precision() -> str:
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


@dataclass
class _Session:
    """What one training session works with, prepared by accelerate, and where it has got to.
    Kept together so the loop's steps can be separate functions without long argument lists."""

    accelerator: Any
    model: Any
    optimizer: Any
    schedule: Any
    params: list[Any]
    loader: Any
    trainable: int
    total_params: int
    sharding: Sharding
    step: int = 0
    tokens: int = 0
    first_loss: float | None = None
    last_loss: float | None = None


def train(
    model: Any,
    examples: Sequence[Encoded],
    recipe: Recipe,
    *,
    seed: int,
    pad_id: int,
    progress: ProgressTracker | None = None,
    accelerator: Any = None,
    checkpoints: Checkpoints | None = None,
) -> tuple[Any, TrainOutcome]:
    """Trains in place; returns the unwrapped model and what happened. With `checkpoints`,
    continues from the newest good checkpoint and saves new ones as it goes."""
    accelerator = accelerator or distributed.make_accelerator(mixed_precision())
    session = _prepare(model, examples, recipe, seed, pad_id, accelerator)
    if progress is not None and accelerator.is_main_process:
        progress.start()
    resumed = None
    if checkpoints is not None:
        resumed = checkpoints.restore(_trainee(session))
    if resumed is not None:
        # Tokens and seconds stay this attempt's, so tokens/s measures it.
        session.step = resumed.step
        session.first_loss, session.last_loss = resumed.first_loss, resumed.last_loss
    began = time.perf_counter()
    _run_steps(session, recipe.steps, progress, checkpoints)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    accelerator.wait_for_everyone()
    session.model.eval()
    outcome = _outcome(session, seconds, None if resumed is None else resumed.step)
    return accelerator.unwrap_model(session.model), outcome


def _prepare(
    model: Any,
    examples: Sequence[Encoded],
    recipe: Recipe,
    seed: int,
    pad_id: int,
    accelerator: Any,
) -> _Session:
    """The seeded batch order, the optimiser and the learning-rate schedule, with the model and
    optimiser handed to accelerate (or the model sharded, and the optimiser built over its
    shares)."""
    sharding = distributed.applied_sharding(recipe.sharding, accelerator.num_processes)
    if sharding == "fsdp":
        model = distributed.shard_model(model, accelerator.device)
    generator = torch.Generator().manual_seed(seed)
    shard = distributed.Shard(accelerator.process_index, accelerator.num_processes)
    loader = distributed.batches(
        examples, recipe.batch_size, generator=generator, pad_id=pad_id, shard=shard
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.0)
    # Not handed to accelerate: it would step the schedule once per process.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, recipe.steps)
    )
    if sharding == "fsdp":
        # accelerate would wrap the sharded model in DDP on top; the optimiser is all it gets.
        optimizer = accelerator.prepare(optimizer)
    else:
        model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    session = _Session(
        accelerator=accelerator,
        model=model,
        optimizer=optimizer,
        schedule=schedule,
        params=params,
        loader=loader,
        trainable=sum(p.numel() for p in params),
        total_params=sum(p.numel() for p in model.parameters()),
        sharding=sharding,
    )
    log.info(
        "training %d of %d parameters for %d steps on %d example(s), %d process(es) (sharding "
        "%s), %s",
        session.trainable,
        session.total_params,
        recipe.steps,
        len(examples),
        accelerator.num_processes,
        sharding,
        accelerator.device,
    )
    return session


def _run_steps(
    session: _Session,
    total: int,
    progress: ProgressTracker | None,
    checkpoints: Checkpoints | None,
) -> None:
    """Optimiser steps until `total`, reporting progress and saving checkpoints when due.
    The loader ends with each pass over the examples, so passes repeat until done."""
    while session.step < total:
        loader = session.loader if checkpoints is None else checkpoints.batches(session.loader)
        for sliced in loader:
            _step(session, sliced)
            if progress is not None and session.accelerator.is_main_process:
                progress.step(session.step, session.last_loss)
            if checkpoints is not None and checkpoints.due(session.step, total):
                position = Position(session.step, session.first_loss, session.last_loss)
                checkpoints.save(position, _trainee(session))
            if session.step >= total:
                break


def _trainee(session: _Session) -> Trainee:
    accelerator = session.accelerator
    layout = Layout(accelerator.num_processes, session.sharding)
    return Trainee(
        session.model, session.optimizer, session.schedule, layout, accelerator.process_index
    )


def _step(session: _Session, sliced: dict[str, Any]) -> None:
    """One optimiser step on this process's slice of a batch."""
    accelerator = session.accelerator
    session.tokens += sliced.pop("tokens")
    share = sliced.pop("share")
    batch = {name: tensor.to(accelerator.device) for name, tensor in sliced.items()}
    weights = batch.pop("weights")
    labels = batch.pop("labels")
    # accelerate's mixed precision comes with `prepare`, which a sharded model skips.
    with accelerator.autocast():
        logits = session.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    loss = weighted_loss(logits, labels, weights) * share
    accelerator.backward(loss)
    accelerator.clip_grad_norm_(session.params, MAX_GRAD_NORM)
    session.optimizer.step()
    session.schedule.step()
    session.optimizer.zero_grad(set_to_none=True)
    session.step += 1
    session.last_loss = distributed.batch_loss(accelerator, loss)
    if session.first_loss is None:
        session.first_loss = session.last_loss


def _outcome(session: _Session, seconds: float, resumed_from_step: int | None) -> TrainOutcome:
    accelerator = session.accelerator
    outcome = TrainOutcome(
        steps=session.step,
        first_loss=session.first_loss,
        final_loss=session.last_loss,
        tokens=distributed.total_tokens(accelerator, session.tokens),
        seconds=seconds,
        device="gpu" if accelerator.device.type == "cuda" else "cpu",
        processes=accelerator.num_processes,
        sharding=session.sharding,
        trainable_parameters=session.trainable,
        total_parameters=session.total_params,
        resumed_from_step=resumed_from_step,
    )
    log.info(
        "trained %d steps in %.1fs: loss %.4f -> %.4f, %.0f tokens/s",
        outcome.steps,
        seconds,
        session.first_loss or 0.0,
        session.last_loss or 0.0,
        outcome.tokens_per_second,
    )
    return outcome
