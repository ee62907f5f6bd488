"""Training checkpoints in the iteration's own prefix (`<output>checkpoint/step-NNNNNN/`), so a
retried attempt (the Job's pod retry, the operator's relaunch, a preemption) continues where the
last one stopped instead of starting from step 0.

A checkpoint holds the trainable weights, the optimiser and LR-schedule state, every random
generator's state (torch, CUDA when present, Python, NumPy) of every training process, the step,
and what the loop counted so far. Weights and optimiser state are whole tensors keyed by
parameter name whether the processes replicate the model or share it (`sharding: fsdp`): a
sharded model's shares are gathered into the first process, which alone writes; on resume the
first process alone reads the checkpoint and sends it to the others, each keeping its share.
The data position needs no state of its own: the sampler's shuffles are seeded, so a resumed
attempt replays the loader up to the step (collating batches, running no model) and then
restores the random state saved at that step.

It is complete only when its manifest (the sha256 of each file, the step, the digest of the
spec that trained it, and the layout: number of processes and sharding) is written, last. A
resumed attempt loads the newest checkpoint whose manifest is readable, names the same spec and
layout, and whose files match their digests; anything else is skipped with the reason logged,
and with none left training starts from step 0. Files load with `weights_only`: a checkpoint
is data, never code, even though only the Jobs write it."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Final, cast

import torch

from modelsmith.contract import s3
from modelsmith.contract.objectstore import Store
from modelsmith_trainer import distributed

log = logging.getLogger("modelsmith.checkpoint")

CHECKPOINT_DIR: Final = "checkpoint/"
MANIFEST: Final = "manifest.json"
MANIFEST_SCHEMA: Final = "modelsmith.io/checkpoint/v2"
WEIGHTS: Final = "weights.pt"
TRAINING: Final = "training.pt"
KEEP: Final = 2
"""Complete checkpoints kept: the newest, and the one before it in case the newest turns out
unreadable."""


@dataclass(frozen=True)
class Position:
    """What the loop had counted when a checkpoint was taken."""

    step: int
    first_loss: float | None
    last_loss: float | None


@dataclass(frozen=True)
class Layout:
    """How training is spread over processes. A checkpoint is resumed only under the layout
    that wrote it: each process restores the random state its counterpart saved, and another
    number of processes or another sharding sums the same gradients in another order, so the
    resumed steps would not be the ones an uninterrupted attempt trains."""

    processes: int
    sharding: str

    def __str__(self) -> str:
        return f"{self.processes} process(es), sharding {self.sharding}"


@dataclass(frozen=True)
class Trainee:
    """What a checkpoint saves and restores, and this process's place among the others."""

    model: Any
    optimizer: Any
    schedule: Any
    layout: Layout
    rank: int


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _serialise(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _deserialise(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np
    except ImportError:
        return state
    kind, keys, pos, has_gauss, gauss = cast("tuple[Any, ...]", np.random.get_state())
    # As tensors and numbers: `weights_only` loading accepts no NumPy arrays.
    state["numpy"] = (kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, gauss)
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))


def _delete(store: Store, prefix: str) -> None:
    """Deletes the objects under `prefix` one by one: the Jobs' credential allows deleting only
    under an iteration's outputs, which a store checks per key for a single delete but may
    check against the whole bucket for a multi-object one. A failure leaves them (they cost
    storage, not correctness); the log says so."""
    try:
        for info in store.list_objects(prefix):
            store.delete(info.uri)
    except s3.ObjectStoreError as err:
        log.warning("checkpoints left in place (%s)", type(err).__name__)


class Checkpoints:
    """Saves every `every` steps under `prefix` (0: never) and resumes from the newest good
    checkpoint there. `spec_digest` ties a checkpoint to the spec that trained it: another
    spec's checkpoint (a changed recipe, other data) is never resumed."""

    def __init__(
        self, store: Store, prefix: str, every: int, spec_digest: str, *, writer: bool = True
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.every = every
        self.spec_digest = spec_digest
        self.writer = writer
        """False in the second and later processes: every process takes part in gathering a
        checkpoint's state, the first one writes it."""
        self.resumed_from: int | None = None
        self.skipped: list[str] = []
        """Why each newer checkpoint was not resumed from, in words."""
        self._replay: tuple[int, dict[str, Any]] | None = None

    def _step_prefix(self, step: int) -> str:
        return s3.join(self.prefix, f"step-{step:06d}/")

    def due(self, step: int, total: int) -> bool:
        """Whether a checkpoint is taken after `step`: in every process, since each takes part
        in gathering it."""
        return self.every > 0 and step % self.every == 0 and step < total

    def save(self, step_position: Position, trainee: Trainee) -> None:
        """Writes the checkpoint for `step_position.step`, manifest last, then prunes older
        ones. Every process must call this; only the writer writes."""
        step = step_position.step
        weights, optimizer = distributed.training_state(trainee.model, trainee.optimizer)
        rng = distributed.gather(_rng_state())
        if not self.writer:
            return
        files = {
            WEIGHTS: _serialise(weights),
            TRAINING: _serialise(
                {
                    "optimizer": optimizer,
                    "schedule": trainee.schedule.state_dict(),
                    "rng": rng,
                    "position": asdict(step_position),
                }
            ),
        }
        where = self._step_prefix(step)
        for name, data in files.items():
            self.store.put_bytes(s3.join(where, name), data)
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "step": step,
            "spec": self.spec_digest,
            "layout": asdict(trainee.layout),
            "files": {name: _sha256(data) for name, data in files.items()},
        }
        self.store.put_json(s3.join(where, MANIFEST), manifest)
        log.info("checkpoint at step %d saved (%d bytes)", step, sum(map(len, files.values())))
        complete = self._complete_steps()
        if len(complete) > KEEP:
            # Older ones, incomplete ones (an attempt killed while writing) among them.
            for older in (s for s in self._steps() if s < complete[KEEP - 1]):
                _delete(self.store, self._step_prefix(older))

    def remove(self) -> None:
        """Deletes every checkpoint once the candidate is complete: no attempt follows. A
        failure to delete leaves them (the candidate stands); the log says so."""
        if self.writer:
            _delete(self.store, self.prefix)

    def _steps(self) -> dict[int, bool]:
        """Every step with a checkpoint folder -> whether its manifest is there."""
        steps: dict[int, bool] = {}
        for info in self.store.list_objects(self.prefix):
            folder, name = info.key.rsplit("/", 2)[-2:]
            if folder.startswith("step-") and folder.removeprefix("step-").isdigit():
                step = int(folder.removeprefix("step-"))
                steps[step] = steps.get(step, False) or name == MANIFEST
        return steps

    def _complete_steps(self) -> list[int]:
        """Steps with a manifest, newest first."""
        return sorted((step for step, done in self._steps().items() if done), reverse=True)

    def _load(self, step: int, layout: Layout) -> tuple[dict[str, Any], dict[str, Any]] | str:
        """The checkpoint's weights and training state, or why it cannot be used."""
        where = self._step_prefix(step)
        try:
            manifest = json.loads(self.store.get_bytes(s3.join(where, MANIFEST)))
            if manifest.get("schema") != MANIFEST_SCHEMA:
                return f"it is in another format ({manifest.get('schema')})"
            if manifest.get("spec") != self.spec_digest:
                return "it was written for another spec"
            if manifest.get("layout") != asdict(layout):
                return f"it was written by {Layout(**manifest['layout'])}, not {layout}"
            loaded = {}
            for name in (WEIGHTS, TRAINING):
                data = self.store.get_bytes_or_none(s3.join(where, name))
                if data is None:
                    return f"its {name} is missing"
                if _sha256(data) != manifest["files"].get(name):
                    return f"its {name} does not match the manifest's digest"
                loaded[name] = _deserialise(data)
        except (ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
            return f"it is unreadable ({type(err).__name__})"
        return loaded[WEIGHTS], loaded[TRAINING]

    def restore(self, trainee: Trainee) -> Position | None:
        """Loads the newest good checkpoint into the model, optimiser and schedule; returns its
        position, or None (training starts from step 0). Every process must call this. The
        first process alone reads and checks the checkpoints, then sends the others its choice
        and the state: a sharded model's whole state is then held by one process, not by every
        process at once. The random state is restored by `batches`, once the loader has been
        replayed to the step."""
        found = self._newest(trainee.layout) if trainee.rank == 0 else None
        step, weights, training = found or (0, {}, {})
        # What the other processes need besides the weights and optimiser state, which
        # load_training_state sends tensor by tensor.
        rest = {key: value for key, value in training.items() if key != "optimizer"}
        chosen = distributed.broadcast(None if found is None else (step, rest))
        if chosen is None:
            return None
        step, rest = chosen
        distributed.load_training_state(
            trainee.model, trainee.optimizer, weights, training.get("optimizer", {})
        )
        trainee.schedule.load_state_dict(rest["schedule"])
        self._replay = (step, rest["rng"][trainee.rank])
        self.resumed_from = step
        log.info("resuming from the checkpoint at step %d", step)
        return Position(**rest["position"])

    def _newest(self, layout: Layout) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        """The newest good checkpoint's step, weights and training state, noting why each newer
        one was skipped; None when there is none."""
        for step, complete in sorted(self._steps().items(), reverse=True):
            found = self._load(step, layout) if complete else "it has no manifest (incomplete)"
            if not isinstance(found, str):
                return step, *found
            self.skipped.append(f"step {step}: {found}")
            log.warning("checkpoint at step %d skipped: %s", step, found)
        if self.skipped:
            log.warning("no usable checkpoint; training starts from step 0")
        return None

    def batches(self, loader: Iterable[Any]) -> Iterator[Any]:
        """One pass over `loader`. After `restore`, the first pass first replays the batches
        the checkpoint's steps consumed (across passes), then restores the random state."""
        if self._replay is None:
            yield from loader
            return
        remaining, rng = self._replay
        self._replay = None
        batches = iter(loader)
        while remaining > 0:
            try:
                next(batches)
                remaining -= 1
            except StopIteration:
                batches = iter(loader)
        _restore_rng(rng)
        yield from batches


def spec_digest(spec_json: str, train_data: bytes) -> str:
    """What a checkpoint is resumed only under: the same spec and the same training data."""
    return _sha256(_sha256(spec_json.encode()).encode() + train_data)
