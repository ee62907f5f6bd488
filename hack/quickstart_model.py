"""The base models the quickstart can run on, for `make demo MODEL=...` and the end-to-end tests:
`tiny`, the ~1 M-parameter model built from the benchmark's vocabulary (what
examples/quickstart names), and `real`, SmolLM2-135M-Instruct (hack/real_model.py).

Each model changes the quickstart's documents in as few places as possible: the intake's base
model label and the run's recipe (the real model learns the benchmark with fewer, smaller steps:
60 steps of 6 at learning rate 5e-4 scored 24/24 overall and 6/6 held-out after one iteration;
docs/real-model.md). Everything else is examples/quickstart as a newcomer applies it.

    python hack/quickstart_model.py publish real s3://modelsmith/models/smollm2-135m-instruct/
    python hack/quickstart_model.py patch real examples/quickstart/run.yaml | kubectl apply -f -
    python hack/quickstart_model.py patch real examples/quickstart/intake.yaml --uri s3://...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HACK = Path(__file__).resolve().parent
QUICKSTART = HACK.parent / "examples" / "quickstart"


@dataclass(frozen=True)
class QuickstartModel:
    label: str | None = None
    """The intake's base model label (None: as the example has it)."""
    recipe: dict[str, Any] = field(default_factory=dict)
    """The run's recipe fields this model changes."""


MODELS: dict[str, QuickstartModel] = {
    "tiny": QuickstartModel(),
    "real": QuickstartModel(
        label="smollm2-135m-instruct",
        recipe={"steps": 60, "batchSize": 6, "learningRate": 0.0005},
    ),
}


def patch(doc: dict[str, Any], model: str, uri: str | None = None) -> dict[str, Any]:
    """The quickstart document as `model` runs it (other kinds unchanged); `uri`: where the
    model was published, when not where examples/quickstart says."""
    chosen = MODELS[model]
    if doc.get("kind") == "ModelIntake":
        if chosen.label is not None:
            doc["spec"]["baseModel"]["label"] = chosen.label
        if uri is not None:
            doc["spec"]["baseModel"]["uri"] = uri
    if doc.get("kind") == "IterationRun":
        doc["spec"]["recipe"].update(chosen.recipe)
    return doc


def publish(
    model: str,
    uri: str,
    env: dict[str, str] | None = None,
    benchmark: Path = QUICKSTART / "benchmark.yaml",
) -> None:
    """Builds (tiny, from `benchmark`'s vocabulary) or fetches from the cache (real) the model's
    folder and publishes it at `uri` with the store named by `env`'s AWS variables, as a user
    publishes their own."""
    env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory(prefix="modelsmith-quickstart-") as scratch:
        if model == "tiny":
            argv = [
                str(HACK / "tiny_model.py"),
                "--benchmark",
                str(benchmark),
                "--out",
                str(Path(scratch) / "tiny-support-base"),
            ]
        else:
            argv = [str(HACK / "real_model.py")]
        subprocess.run(
            [sys.executable, *argv, "--upload", uri],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    publishing = commands.add_parser("publish", help="build or fetch the model, upload it")
    publishing.add_argument("model", choices=sorted(MODELS))
    publishing.add_argument("uri", help="s3://bucket/prefix/")
    patching = commands.add_parser("patch", help="print a quickstart file as the model runs it")
    patching.add_argument("model", choices=sorted(MODELS))
    patching.add_argument("file", type=Path)
    patching.add_argument("--uri", help="the intake's base model location instead of the file's")
    args = parser.parse_args(argv)
    if args.command == "publish":
        publish(args.model, args.uri)
        return 0
    docs = [patch(d, args.model, args.uri) for d in yaml.safe_load_all(args.file.read_text()) if d]
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
