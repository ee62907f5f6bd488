"""One training Job, in the order a reader (or a failure) meets it:

1. the spec, the train split and the held-out fingerprint (bad spec 2, empty split 5);
2. the held-out guard over the training material (contamination 6) -- all before any model
   is touched, so a refused Job costs seconds;
3. the base model and, when continuing, the accepted adapter (missing 3, corrupt 4);
4. training, with progress.json every `progress_every` steps;
5. the outputs, staged then moved into place, result.json last: a reader that finds
   result.json finds a complete candidate, and a failed Job leaves no candidate at all.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from modelsmith.contract import s3
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.heldout import HeldoutFingerprint
from modelsmith.contract.jobspec import (
    Digested,
    Lineage,
    Progress,
    TrainExample,
    TrainResult,
    TrainSpec,
)
from modelsmith.contract.objectstore import Store
from modelsmith_trainer import data, models, prompts
from modelsmith_trainer.launch import node_count
from modelsmith_trainer.runtime import JobFailure, configure_torch_threads

if TYPE_CHECKING:
    # Types only: importing these at run time would load torch before the inputs are checked.
    from modelsmith_trainer.checkpoint import Checkpoints
    from modelsmith_trainer.data import Encoded
    from modelsmith_trainer.train import TrainOutcome

log = logging.getLogger("modelsmith.trainer")

ADAPTER_DIR = "adapter/"
LINEAGE = "lineage.json"
PROGRESS = "progress.json"
RESULT = "result.json"


def candidate_label(spec: TrainSpec) -> str:
    return spec.label or f"{spec.base_model.label}-iter-{spec.iteration}"


def read_inputs(
    store: Store, spec: TrainSpec
) -> tuple[bytes, list[TrainExample], HeldoutFingerprint]:
    """The train split and the fingerprint, checked against each other."""
    raw = _required(store, spec.train_data, "the training data")
    examples = data.parse_train_data(raw)
    if spec.heldout_fingerprint is None:
        raise JobFailure(
            ExitCode.BAD_SPEC,
            "the spec names no held-out fingerprint; the overlap check is required",
        )
    try:
        fingerprint = HeldoutFingerprint.model_validate_json(
            _required(store, spec.heldout_fingerprint, "the held-out fingerprint")
        )
    except ValidationError:
        raise JobFailure(ExitCode.BAD_SPEC, "the held-out fingerprint is malformed") from None
    data.guard_heldout(examples, fingerprint, spec.overlap_threshold)
    return raw, examples, fingerprint


def _required(store: Store, uri: str, what: str) -> bytes:
    found = store.get_bytes_or_none(uri)
    if found is None:
        raise JobFailure(ExitCode.BAD_SPEC, f"{what} named by the spec does not exist")
    return found


def run(store: Store, spec: TrainSpec) -> dict[str, Any]:
    raw, examples, fingerprint = read_inputs(store, spec)
    models.offline_unless_hub(spec.base_model.uri, spec.init_adapter)
    with tempfile.TemporaryDirectory(prefix="modelsmith-train-") as scratch:
        return _train(store, spec, raw, examples, fingerprint, Path(scratch))


def _train(
    store: Store,
    spec: TrainSpec,
    raw: bytes,
    examples: Sequence[TrainExample],
    fingerprint: HeldoutFingerprint,
    scratch: Path,
) -> dict[str, Any]:
    base = models.fetch(store, spec.base_model.uri, scratch / "base", "the base model")
    init = None
    if spec.init_adapter is not None:
        init = models.fetch(store, spec.init_adapter, scratch / "init", "the initial adapter")

    # Heavy imports from here on.
    from modelsmith_trainer.distributed import make_accelerator, trainable_state
    from modelsmith_trainer.train import mixed_precision

    threads = configure_torch_threads()
    accelerator = make_accelerator(mixed_precision())
    log.info("device %s, %d CPU thread(s)", accelerator.device, threads)
    tokenizer = models.load_tokenizer(base.source, "the base model")
    model = _load_model(spec, base, init)
    prompt_format = prompts.resolve(spec.prompt_format, tokenizer, "the base model")
    encoded = data.encode_examples(examples, tokenizer, spec.recipe.max_seq_length, prompt_format)
    checkpoints = _checkpoints(store, spec, raw, accelerator.is_main_process)
    model, outcome = _run_training(
        store, spec, model, encoded, tokenizer.pad_token_id, accelerator, checkpoints
    )
    # A sharded model's weights are gathered by every process, into the main one.
    state = trainable_state(model) if outcome.sharding == "fsdp" else None
    # Every process trains; only the main one writes the candidate.
    if not accelerator.is_main_process:
        return {}

    artefact = scratch / "out" / "adapter"
    save_artefact(model, tokenizer, spec, artefact, state)
    files = models.weight_files(artefact)
    lineage = _lineage(
        store,
        spec,
        base,
        init,
        models.weights_digest(files),
        raw,
        examples,
        prompt_format,
        outcome,
    )
    result = _result(
        spec,
        outcome,
        len(encoded),
        sum(f.stat().st_size for f in files),
        base,
        len(fingerprint.scenarios),
    )
    digests = publish(store, spec.output, artefact, lineage, result)
    checkpoints.remove()
    return _summary(result, checkpoints.skipped, digests)


def _load_model(
    spec: TrainSpec, base: models.FetchedModel, init: models.FetchedModel | None
) -> Any:
    """The base (or a fully fine-tuned candidate) with the recipe applied; seeded first, since
    a new adapter's weights are random. A bad init adapter is corrupt (4), a recipe that does
    not fit the base is a bad spec (2)."""
    import torch
    from accelerate.utils import set_seed

    from modelsmith_trainer.train import apply_recipe

    model = models.load_causal_lm(base, "the base model", torch.float32)
    init_path: str | None = None
    if init is not None and init.kind == "model":
        # A fully fine-tuned candidate replaces the base it was trained from.
        model = models.load_causal_lm(init, "the initial adapter", torch.float32)
    elif init is not None:
        init_path = init.source
    set_seed(spec.seed)
    try:
        return apply_recipe(model, spec.recipe, init_path)
    except (ValueError, RuntimeError, OSError) as err:
        if init_path is not None:
            raise JobFailure(
                ExitCode.MODEL_CORRUPT,
                f"the initial adapter could not be loaded ({type(err).__name__})",
            ) from None
        raise JobFailure(
            ExitCode.BAD_SPEC, f"the recipe does not fit the base model ({type(err).__name__})"
        ) from None


def _checkpoints(store: Store, spec: TrainSpec, raw: bytes, writer: bool) -> Checkpoints:
    from modelsmith_trainer.checkpoint import CHECKPOINT_DIR, Checkpoints, spec_digest

    return Checkpoints(
        store,
        s3.join(spec.output, CHECKPOINT_DIR),
        spec.recipe.checkpoint_every_steps,
        spec_digest(spec.model_dump_json(), raw),
        writer=writer,
    )


def _run_training(
    store: Store,
    spec: TrainSpec,
    model: Any,
    encoded: Sequence[Encoded],
    pad_id: int,
    accelerator: Any,
    checkpoints: Checkpoints,
) -> tuple[Any, TrainOutcome]:
    """The training loop, writing progress.json as it goes."""
    from modelsmith_trainer.progress import ProgressTracker
    from modelsmith_trainer.train import train

    def write_progress(progress: Progress) -> None:
        # A single PUT: readers see the previous or the new document, never a mix.
        resumed = progress.model_copy(update={"resumed_from_step": checkpoints.resumed_from})
        store.put_json(s3.join(spec.output, PROGRESS), resumed.model_dump())

    tracker = ProgressTracker(spec.recipe.steps, spec.progress_every, write_progress)
    return train(
        model,
        encoded,
        spec.recipe,
        seed=spec.seed,
        pad_id=pad_id,
        progress=tracker,
        accelerator=accelerator,
        checkpoints=checkpoints,
    )


def _lineage(
    store: Store,
    spec: TrainSpec,
    base: models.FetchedModel,
    init: models.FetchedModel | None,
    artefact_digest: str,
    raw: bytes,
    examples: Sequence[TrainExample],
    prompt_format: prompts.Resolved,
    outcome: TrainOutcome,
) -> Lineage:
    return Lineage(
        label=candidate_label(spec),
        iteration=spec.iteration,
        base_model=Digested(
            label=spec.base_model.label, digest=base.digest, revision=base.revision
        ),
        init_adapter=None
        if init is None
        else Digested(label=_init_label(store, spec), digest=init.digest),
        method=spec.recipe.method,
        artefact_digest=artefact_digest,
        recipe=spec.recipe,
        seed=spec.seed,
        training_data=data.describe(raw, examples, spec.supplied_data_digest),
        prompt_format=prompt_format,
        nodes=node_count(os.environ),
        processes=outcome.processes,
        versions=_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _result(
    spec: TrainSpec,
    outcome: TrainOutcome,
    examples: int,
    artefact_bytes: int,
    base: models.FetchedModel,
    heldout_checked: int,
) -> TrainResult:
    return TrainResult(
        iteration=spec.iteration,
        label=candidate_label(spec),
        method=spec.recipe.method,
        steps=outcome.steps,
        examples=examples,
        first_loss=outcome.first_loss,
        final_loss=outcome.final_loss,
        tokens=outcome.tokens,
        tokens_per_second=round(outcome.tokens_per_second, 1),
        train_seconds=round(outcome.seconds, 3),
        device=outcome.device,
        processes=outcome.processes,
        sharding=outcome.sharding,
        trainable_parameters=outcome.trainable_parameters,
        total_parameters=outcome.total_parameters,
        artefact_bytes=artefact_bytes,
        base_bytes=base.weight_bytes,
        heldout_checked=heldout_checked,
        resumed_from_step=outcome.resumed_from_step,
    )


def _summary(
    result: TrainResult, skipped_checkpoints: list[str], digests: dict[str, str]
) -> dict[str, Any]:
    """The termination message: the result's headline numbers, checkpoints skipped as unreadable,
    and the digests of the documents just written."""
    return {
        "iteration": result.iteration,
        "label": result.label,
        "method": result.method,
        "steps": result.steps,
        "final_loss": None if result.final_loss is None else round(result.final_loss, 6),
        "artefact_bytes": result.artefact_bytes,
        "base_bytes": result.base_bytes,
        "tokens_per_second": result.tokens_per_second,
        "train_seconds": result.train_seconds,
        "device": result.device,
        "contaminated": False,
        "heldout_checked": result.heldout_checked,
        "resumed_from_step": result.resumed_from_step,
        "skipped_checkpoints": skipped_checkpoints,
        "digests": digests,
    }


def save_artefact(
    model: Any,
    tokenizer: Any,
    spec: TrainSpec,
    directory: Path,
    state: dict[str, Any] | None = None,
) -> None:
    """The adapter (safetensors and its config), or for a full fine-tune the whole model with
    its tokenizer. Local paths never reach the artefact: the adapter names its base by label.
    `state`: the trained weights gathered whole, for a sharded model whose own parameters are
    each only one process's share; the files are then the same as an unsharded model's."""
    directory.mkdir(parents=True, exist_ok=True)
    if spec.recipe.method == "lora":
        for config in model.peft_config.values():
            config.base_model_name_or_path = spec.base_model.label
        # "auto" would ask a model hub whether the base's vocabulary changed (the label is not
        # a hub id); embeddings only need saving when the recipe adapts them.
        adapts_embeddings = any(
            "embed" in name or "lm_head" in name for name in spec.recipe.target_modules
        )
        model.save_pretrained(
            directory,
            safe_serialization=True,
            save_embedding_layers="auto" if adapts_embeddings else False,
            state_dict=state,
        )
        (directory / "README.md").unlink(missing_ok=True)  # a generated card, not ours
    else:
        model.config.name_or_path = spec.base_model.label
        model.save_pretrained(directory, safe_serialization=True, state_dict=state)
        tokenizer.save_pretrained(directory)


def publish(
    store: Store, output: str, artefact: Path, lineage: Lineage, result: TrainResult
) -> dict[str, str]:
    """Writes the candidate; returns the digests of its lineage and result documents (for the
    termination message)."""
    store.publish_dir(artefact, s3.join(output, ADAPTER_DIR))
    return {
        "lineage": store.put_json_atomic(
            s3.join(output, LINEAGE), lineage.model_dump(mode="json", by_alias=True)
        ),
        "result": store.put_json_atomic(
            s3.join(output, RESULT), result.model_dump(mode="json", by_alias=True)
        ),
    }


def _init_label(store: Store, spec: TrainSpec) -> str:
    assert spec.init_adapter is not None
    found = models.lineage_next_to(store, spec.init_adapter)
    label = found.get("label") if found else None
    return label if isinstance(label, str) and label else f"{spec.base_model.label}+adapter"


def _versions() -> dict[str, str]:
    import accelerate
    import peft
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
    }
