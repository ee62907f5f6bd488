"""Training in several processes (torchrun, or `accelerate launch` on one node), each holding a
replica of the model, with the recipe's batch split between them.

Every process draws the same seeded sequence of batches of `recipe.batch_size` examples and keeps
its own slice of each, so the batch an optimiser step sees is the recipe's whatever the number of
processes. DDP averages gradients over processes; each process therefore scales its slice's loss
so that the average equals the gradient of the whole batch's weighted mean loss, the quantity a
single process minimises. Rank and world size come from the environment torchrun sets (read by
accelerate's Accelerator, which also joins the process group: gloo on CPUs, NCCL on GPUs).

With the recipe's `sharding: fsdp` and more than one process, the model is sharded with torch's
own FSDP (`fully_shard`, one group per decoder layer and one for the rest) instead of being
replicated: each process then keeps only its share of the weights, gradients and optimiser
state. Gradients are still averaged over processes, so the loss scaling above holds unchanged.
torch's `fully_shard` is used rather than accelerate's FSDP plugin because accelerate applies
the plugin only on accelerators, never with gloo on CPUs, where the tests train."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, cast

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from modelsmith.contract.recipe import Sharding
from modelsmith_trainer.data import Encoded, collate


def make_accelerator(mixed_precision: str) -> Any:
    """accelerate's Accelerator, joined to the process group torchrun's environment describes
    (one process alone when there is none). Without a GPU it must be told to use the CPU: it
    would otherwise look for an accelerator device, find none, and train every process alone."""
    from accelerate import Accelerator

    return Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available())


def applied_sharding(requested: Sharding, processes: int) -> Sharding:
    """The sharding a training of `processes` processes runs with: a single process has no one
    to share with, so it holds the whole model whatever the recipe asks."""
    return requested if processes > 1 else "none"


def shard_model(model: Any, device: Any) -> Any:
    """`model` sharded across the process group (in place: the same object, its parameters now
    each process's share). Decoder layers, the classes transformers names as never to be split,
    are sharded one by one so that only one layer's weights are gathered whole at a time."""
    from torch.distributed.fsdp import fully_shard

    model.to(device)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layer_classes = set(getattr(base, "_no_split_modules", None) or ())
    for module in list(model.modules()):
        if type(module).__name__ in layer_classes:
            fully_shard(module)
    fully_shard(model)
    return model


def _whole() -> Any:
    """Options for state dicts of whole tensors keyed by parameter name, whatever the layout:
    a sharded model's shares are gathered, a replicated or single model's weights taken as
    they are, and a DDP wrapper's prefix left out. Frozen weights (the base under LoRA) are
    left out: they are the base's, which every attempt loads anyway."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)


def trainable_state(model: Any) -> dict[str, Any]:
    """The trainable weights, whole and on the CPU, in the main process (empty in the others).
    A sharded model's are gathered from every process, so every process must call this."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_whole())


def training_state(model: Any, optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trainable weights and the optimiser's state, whole and on the CPU, in the main
    process (empty in the others). Gathered like `trainable_state`: every process must call
    this. The optimiser's state is keyed by parameter name rather than position, so it loads
    into any layout's optimiser."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    return get_state_dict(model, optimizer, options=_whole())


def load_training_state(
    model: Any, optimizer: Any, weights: dict[str, Any], optimizer_state: dict[str, Any]
) -> None:
    """Loads whole weights and optimiser state (as `training_state` returns them) into every
    process's model and optimiser, each process keeping its share of a sharded model's. Every
    process must call this; only the main process passes the state (the others empty dicts):
    it is sent to the others one tensor at a time, so no other process ever holds it whole."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    # Not strict: sending drops the frozen weights (the checkpoint has none) from what the
    # model loads, which a strict load would count as missing; keys the model lacks are
    # refused below instead.
    options = StateDictOptions(
        full_state_dict=True,
        ignore_frozen_params=True,
        broadcast_from_rank0=_grouped(),
        strict=False,
    )
    # Separately: set_state_dict would skip the model in a process passing no weights, while
    # the main process sends them.
    loaded = set_model_state_dict(model, weights, options=options)
    if loaded.unexpected_keys:
        raise ValueError(f"the checkpoint has weights the model lacks: {loaded.unexpected_keys}")
    set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)


def _grouped() -> bool:
    """Whether this process is one of a process group (a process alone has none)."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def broadcast(value: Any) -> Any:
    """The main process's `value`, in every process. Every process must call this."""
    import torch.distributed as dist

    if not _grouped():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every process's `value` in process order, in the main process (empty in the others);
    a process alone gets its own. Every process must call this."""
    import torch.distributed as dist

    if not _grouped():
        return [value]
    main = dist.get_rank() == 0
    gathered: list[Any] | None = [None] * dist.get_world_size() if main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered or []


@dataclass(frozen=True)
class Shard:
    """Which slice of every batch this process trains on."""

    rank: int = 0
    processes: int = 1

    def take(self, batch: Sequence[Encoded]) -> tuple[list[Encoded], list[Encoded]]:
        """This process's examples (every `processes`-th, from its rank on) and the ones it runs
        only so that it joins the step: a batch smaller than the number of processes leaves
        some processes no example, and each process must still run a backward pass for the
        gradient exchange to complete. Those borrow the batch's first example at weight zero."""
        mine = list(batch[self.rank :: self.processes])
        if mine:
            return mine, mine
        return [], [replace(batch[0], weight=0.0)]


def collate_shard(batch: Sequence[Encoded], shard: Shard, pad_id: int) -> dict[str, Any]:
    """The slice of `batch` this process trains on, padded into tensors, with `share`: the
    factor on the slice's weighted mean loss that makes the processes' average gradient the
    whole batch's, and `tokens`: the slice's own tokens (not a borrowed example's)."""
    mine, rows = shard.take(batch)
    batch_weight = sum(item.weight for item in batch)
    mine_weight = sum(item.weight for item in mine)
    share = shard.processes * mine_weight / batch_weight if batch_weight > 0 else 0.0
    tensors: dict[str, Any] = dict(collate(rows, pad_id))
    # One process: exactly 1, so its loss is the batch's weighted mean unchanged.
    tensors["share"] = 1.0 if shard.processes == 1 else share
    tensors["tokens"] = sum(len(item.input_ids) for item in mine)
    return tensors


def batches(
    examples: Sequence[Encoded],
    batch_size: int,
    *,
    generator: torch.Generator,
    pad_id: int,
    shard: Shard,
) -> DataLoader[Encoded]:
    """Seeded shuffles of `examples` in batches of `batch_size`, each cut to this process's
    slice. The generator must be seeded alike in every process: they then agree on the
    batches without exchanging them."""
    dataset = cast("Dataset[Encoded]", list(examples))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=RandomSampler(examples, generator=generator),
        collate_fn=partial(collate_shard, shard=shard, pad_id=pad_id),
    )


def batch_loss(accelerator: Any, loss: torch.Tensor) -> float:
    """The whole batch's loss from this process's scaled share of it (the mean over processes
    of the scaled losses); one process needs no exchange."""
    if accelerator.num_processes == 1:
        return float(loss.detach())
    return float(accelerator.reduce(loss.detach(), reduction="mean"))


def total_tokens(accelerator: Any, tokens: int) -> int:
    """Tokens trained on by all processes together."""
    if accelerator.num_processes == 1:
        return tokens
    counted = torch.tensor(tokens, dtype=torch.long, device=accelerator.device)
    return int(accelerator.reduce(counted, reduction="sum"))
