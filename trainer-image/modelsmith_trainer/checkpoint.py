"""Training checkpoints in the iteration's own prefix (`<output>checkpoint/step-NNNNNN/`), so a
retried attempt (the Job's pod retry, the operator's relaunch, a preemption) continues where the
last one stopped instead of starting from step 0.

A checkpoint holds the trainable weights, the optimiser and LR-schedule state, every random
generator's state (torch, CUDA when present, Python, NumPy), the step, and what the loop counted
so far. The data position needs no state of its own: the sampler's shuffles are seeded, so a
resumed attempt replays the loader up to the step (collating batches, running no model) and
then restores the random state saved at that step.

It is complete only when its manifest (the sha256 of each file, the step, and the digest of
the spec that trained it) is written, last. A resumed attempt loads the newest checkpoint whose
manifest is readable, names the same spec and whose files match their digests; anything else
is skipped with the reason logged, and with none left training starts from step 0. Files load
with `weights_only`: a checkpoint is data, never code, even though only the Jobs write it."""

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

log = logging.getLogger("modelsmith.checkpoint")

CHECKPOINT_DIR: Final = "checkpoint/"
MANIFEST: Final = "manifest.json"
MANIFEST_SCHEMA: Final = "modelsmith.io/checkpoint/v1"
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


def _trainable(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


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
        """False in the second and later processes: they hold the same state, one writes it."""
        self.resumed_from: int | None = None
        self.skipped: list[str] = []
        """Why each newer checkpoint was not resumed from, in words."""
        self._replay: tuple[int, dict[str, Any]] | None = None

    def _step_prefix(self, step: int) -> str:
        return s3.join(self.prefix, f"step-{step:06d}/")

    def due(self, step: int, total: int) -> bool:
        return self.writer and self.every > 0 and step % self.every == 0 and step < total

    def save(self, step_position: Position, model: Any, optimizer: Any, schedule: Any) -> None:
        """Writes the checkpoint for `step_position.step`, manifest last, then prunes older
        ones."""
        step = step_position.step
        files = {
            WEIGHTS: _serialise(_trainable(model)),
            TRAINING: _serialise(
                {
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "rng": _rng_state(),
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

    def _load(self, step: int) -> tuple[dict[str, Any], dict[str, Any]] | str:
        """The checkpoint's weights and training state, or why it cannot be used."""
        where = self._step_prefix(step)
        try:
            manifest = json.loads(self.store.get_bytes(s3.join(where, MANIFEST)))
            if manifest.get("spec") != self.spec_digest:
                return "it was written for another spec"
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

    def restore(self, model: Any, optimizer: Any, schedule: Any) -> Position | None:
        """Loads the newest good checkpoint into the model, optimiser and schedule; returns its
        position, or None (training starts from step 0). The random state is restored by
        `batches`, once the loader has been replayed to the step."""
        for step, complete in sorted(self._steps().items(), reverse=True):
            found = self._load(step) if complete else "it has no manifest (incomplete)"
            if isinstance(found, str):
                self.skipped.append(f"step {step}: {found}")
                log.warning("checkpoint at step %d skipped: %s", step, found)
                continue
            weights, training = found
            params = dict(model.named_parameters())
            with torch.no_grad():
                for name, value in weights.items():
                    params[name].copy_(value)
            optimizer.load_state_dict(training["optimizer"])
            schedule.load_state_dict(training["schedule"])
            self._replay = (step, training["rng"])
            self.resumed_from = step
            log.info("resuming from the checkpoint at step %d", step)
            return Position(**training["position"])
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
