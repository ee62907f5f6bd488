"""Finding, fetching and loading models, for the trainer and the evaluator alike.

A model is an ordinary `save_pretrained` directory: under an `s3://` prefix (downloaded to the
Job's scratch space) or `hf://org/name[@revision]` on a model hub the cluster may reach. The
same code loads a customer's own model and the tests' tiny one.

A missing model (nothing at the prefix, no config, no weights) exits 3; one that is there but
cannot be loaded (a truncated or garbled weights file, a config that does not parse) exits 4.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelsmith.contract import s3
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.objectstore import Store
from modelsmith_trainer import special_tokens
from modelsmith_trainer.runtime import JobFailure

if TYPE_CHECKING:
    import torch

log = logging.getLogger("modelsmith.models")

WEIGHT_SUFFIXES = (".safetensors", ".bin")
ADAPTER_CONFIG = "adapter_config.json"
MODEL_CONFIG = "config.json"
HF_SCHEME = "hf://"


@dataclass(frozen=True)
class FetchedModel:
    """A model directory on local disk (or a hub id) and what identifies its weights."""

    source: str
    """A local directory, or a hub repository id for hf:// models."""
    revision: str | None
    digest: str
    weight_bytes: int
    kind: Literal["model", "adapter"]


def offline_unless_hub(*uris: str | None) -> None:
    """Keeps transformers and peft from calling a model hub unless a model comes from one: a
    cluster without egress would otherwise wait on DNS and retries. Must run before they are
    imported (they read it once)."""
    if not any(uri and uri.startswith(HF_SCHEME) for uri in uris):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def weight_files(directory: Path) -> list[Path]:
    """The weight files of a model or adapter directory, in a stable order. Safetensors win
    where both formats are present: they cannot run code when loaded."""
    safetensors = sorted(directory.glob("*.safetensors"))
    return safetensors or sorted(directory.glob("*.bin"))


def safetensors_intact(path: Path) -> bool:
    """Whether a safetensors file's header parses and every tensor it lists lies inside the
    file: catches truncated uploads and garbage in seconds, before torch is even imported."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            return False
        header_length = int.from_bytes(prefix, "little")
        if header_length < 2 or header_length > size - 8 or header_length > 100 * 1024 * 1024:
            return False
        try:
            header = json.loads(handle.read(header_length))
        except (ValueError, UnicodeDecodeError):
            return False
    if not isinstance(header, dict):
        return False
    data_size = size - 8 - header_length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            return False
    return True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(files: list[Path]) -> str:
    """sha256 of the weights file; for sharded weights, of the list of `name sha256` lines."""
    if len(files) == 1:
        return "sha256:" + sha256_file(files[0])
    listing = "".join(f"{f.name} {sha256_file(f)}\n" for f in files)
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def fetch(store: Store, uri: str, directory: Path, what: str) -> FetchedModel:
    """Brings a model or adapter to local disk and checks that it is all there. `what` names
    it in messages ("the base model", "the initial adapter")."""
    if uri.startswith(HF_SCHEME):
        return _from_hub(uri, what)
    try:
        files = store.download_prefix(uri, directory)
    except s3.InvalidUri as err:
        raise JobFailure(ExitCode.BAD_SPEC, f"{what}: {err}") from None
    if not files:
        raise JobFailure(ExitCode.MODEL_MISSING, f"{what} was not found: nothing at its prefix")
    return inspect_directory(directory, what)


def inspect_directory(directory: Path, what: str) -> FetchedModel:
    if (directory / ADAPTER_CONFIG).is_file():
        kind: Literal["model", "adapter"] = "adapter"
    elif (directory / MODEL_CONFIG).is_file():
        kind = "model"
    else:
        raise JobFailure(
            ExitCode.MODEL_MISSING, f"{what} was not found: no {MODEL_CONFIG} or {ADAPTER_CONFIG}"
        )
    weights = weight_files(directory)
    if not weights:
        raise JobFailure(ExitCode.MODEL_MISSING, f"{what} was not found: no weights file")
    for path in weights:
        if path.suffix == ".safetensors" and not safetensors_intact(path):
            raise JobFailure(
                ExitCode.MODEL_CORRUPT, f"{what} is corrupt: a weights file is truncated or garbled"
            )
    for config in (ADAPTER_CONFIG, MODEL_CONFIG):
        path = directory / config
        if path.is_file():
            try:
                json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError):
                raise JobFailure(
                    ExitCode.MODEL_CORRUPT, f"{what} is corrupt: {config} does not parse"
                ) from None
    return FetchedModel(
        source=str(directory),
        revision=None,
        digest=weights_digest(weights),
        weight_bytes=sum(f.stat().st_size for f in weights),
        kind=kind,
    )


def _from_hub(uri: str, what: str) -> FetchedModel:
    """Downloads a hub snapshot (only where the cluster can reach a hub: HF_ENDPOINT, proxies
    and HF_HUB_OFFLINE apply as usual)."""
    repo, _, revision = uri[len(HF_SCHEME) :].partition("@")
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(repo, revision=revision or None)
    except Exception as err:
        raise JobFailure(
            ExitCode.MODEL_MISSING,
            f"{what} could not be fetched from the hub ({type(err).__name__})",
        ) from None
    fetched = inspect_directory(Path(local), what)
    return FetchedModel(
        source=local,
        # The hub's cache keeps a snapshot under the commit it resolved the revision (a tag, a
        # branch, or none: the default branch) to: lineage records that commit, not the name.
        revision=Path(local).name,
        digest=fetched.digest,
        weight_bytes=fetched.weight_bytes,
        kind=fetched.kind,
    )


def load_causal_lm(fetched: FetchedModel, what: str, dtype: torch.dtype) -> Any:
    """The model, in eval mode on the CPU. Anything that stops a present model from loading is
    corruption (exit 4): a truncated safetensors header, shapes that disagree with the config."""
    from transformers import AutoModelForCausalLM

    auto: Any = AutoModelForCausalLM
    try:
        model = auto.from_pretrained(fetched.source, dtype=dtype, low_cpu_mem_usage=True)
    except Exception as err:
        log.error("loading %s failed: %s", what, err)
        raise JobFailure(
            ExitCode.MODEL_CORRUPT, f"{what} could not be loaded ({type(err).__name__})"
        ) from None
    model.eval()
    return model


def load_tokenizer(source: str, what: str) -> Any:
    """The tokenizer saved with the model, made to agree with the model's own generation config
    about the end and pad tokens (a GGUF-converted tokenizer may end on the wrong token: answers
    would be trained to end where the model never stops). Models without a pad token pad with
    their end token (only ever in attention-masked positions)."""
    from transformers import AutoTokenizer

    auto: Any = AutoTokenizer
    try:
        tokenizer = auto.from_pretrained(source)
    except Exception as err:
        log.error("loading the tokenizer of %s failed: %s", what, err)
        raise JobFailure(
            ExitCode.MODEL_CORRUPT, f"the tokenizer of {what} could not be loaded"
        ) from None
    declared = special_tokens.declared_by_model_config(
        _generation_config(Path(source)), tokenizer.eos_token_id
    )
    size = len(tokenizer)
    try:
        fixes = special_tokens.token_fixes(
            special_tokens.state_of(tokenizer),
            declared,
            lambda i: tokenizer.convert_ids_to_tokens(i) if 0 <= i < size else None,
        )
        special_tokens.apply_fixes(tokenizer, fixes)
    except ValueError as err:
        raise JobFailure(ExitCode.MODEL_CORRUPT, f"the tokenizer of {what}: {err}") from None
    if fixes:
        log.warning("the tokenizer of %s follows its model's config for %s", what, sorted(fixes))
    if tokenizer.eos_token_id is None:
        raise JobFailure(ExitCode.MODEL_CORRUPT, f"the tokenizer of {what} has no end token")
    return tokenizer


def _generation_config(directory: Path) -> dict[str, Any]:
    """generation_config.json, which generate() follows, else config.json; {} when neither
    parses (an adapter-only folder has neither: its base model's tokenizer applies)."""
    for name in ("generation_config.json", MODEL_CONFIG):
        try:
            found = json.loads((directory / name).read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(found, dict):
            return found
    return {}


def attach_adapter(model: Any, adapter: FetchedModel, what: str, *, trainable: bool) -> Any:
    """Base model + PEFT adapter. A corrupt or mismatched adapter exits 4."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, adapter.source, is_trainable=trainable)
    except Exception as err:
        log.error("loading %s failed: %s", what, err)
        raise JobFailure(
            ExitCode.MODEL_CORRUPT, f"{what} could not be loaded ({type(err).__name__})"
        ) from None


def lineage_next_to(store: Store, adapter_uri: str) -> dict[str, Any] | None:
    """The lineage.json beside a candidate's adapter/ prefix, if there is one."""
    prefix = adapter_uri.rstrip("/")
    parent = prefix.rsplit("/", 1)[0] + "/"
    try:
        found = store.get_json_or_none(s3.join(parent, "lineage.json"))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
