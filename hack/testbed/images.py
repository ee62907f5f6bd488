"""What the node agent runs for a container image: each known image stands for a Python entry
point of this repository's virtual environment; any other image cannot run on the test bed.

  modelsmith/trainer[:tag]    python -m modelsmith_trainer <args>
  modelsmith/evaluator[:tag]  python -m modelsmith_evaluator <args>
  modelsmith/operator[:tag]   python -m modelsmith.cli operator <args>
  modelsmith/noop[:tag]       exits 0 at once, writing `{}` as its termination message
  python[:tag]                the container's command, `python` being the venv's interpreter

A registry host and `library/` are ignored (`docker.io/library/python:3.11` is `python`), so are
tag and digest; `ghcr.io/acme/modelsmith/trainer` is `modelsmith/trainer`.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

PYTHON = sys.executable
VENV_BIN = str(Path(sys.executable).parent)

_NOOP = (
    "import os, pathlib; "
    "pathlib.Path(os.environ['MODELSMITH_TERMINATION_LOG']).write_text('{}')"
)

# Entrypoint per image, as the image's ENTRYPOINT/CMD would be; a container's `command`
# replaces it, its `args` follow it.
ENTRYPOINTS: dict[str, tuple[str, ...]] = {
    "modelsmith/trainer": ("python", "-m", "modelsmith_trainer"),
    "modelsmith/evaluator": ("python", "-m", "modelsmith_evaluator"),
    "modelsmith/operator": ("python", "-m", "modelsmith.cli", "operator"),
    "python": ("python3",),
}
NOOP_IMAGE = "modelsmith/noop"
_PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")


class UnknownImageError(Exception):
    pass


class CommandNotFoundError(Exception):
    pass


def repository(image: str) -> str:
    """`registry.example:5000/library/python:3.11@sha256:...` -> `python`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def known(image: str) -> str | None:
    """The known image `image` names, or None."""
    repo = repository(image)
    for candidate in (*ENTRYPOINTS, NOOP_IMAGE):
        if repo == candidate or repo.endswith("/" + candidate):
            return candidate
    return None


def argv_for(image: str, command: Sequence[str], args: Sequence[str], path: str) -> list[str]:
    """The local command line for a container; `path` is the PATH the process will see."""
    kind = known(image)
    if kind is None:
        raise UnknownImageError(
            f"image {image!r} is not available on the test bed's node; it runs "
            f"{', '.join(sorted((*ENTRYPOINTS, NOOP_IMAGE)))} (any registry or tag)"
        )
    if kind == NOOP_IMAGE:
        return [PYTHON, "-c", _NOOP]
    argv = [*command] if command else [*ENTRYPOINTS[kind]]
    argv += args
    if not argv:
        raise CommandNotFoundError("container has neither command nor args")
    if _PYTHON_NAMES.match(argv[0]):
        argv[0] = PYTHON
    elif "/" not in argv[0]:
        found = shutil.which(argv[0], path=path)
        if found is None:
            raise CommandNotFoundError(f'exec: "{argv[0]}": executable file not found in $PATH')
        argv[0] = found
    return argv
