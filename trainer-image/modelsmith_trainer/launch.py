"""One process per GPU: with MODELSMITH_GPU_COUNT above 1 (the operator sets it from the
execution target), the entry point re-runs itself under `accelerate launch` and waits.

The children cannot pass the contract's exit codes through the launcher (torchrun reports any
failure as 1), so the parent does the input checks that have their own codes before launching,
and afterwards exits with the code the main child recorded in the termination message."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence

from modelsmith.contract.exitcodes import ExitCode
from modelsmith_trainer.runtime import termination_path

LAUNCHED_MARKERS = ("LOCAL_RANK", "WORLD_SIZE", "ACCELERATE_LAUNCHED")


def gpu_count(env: Mapping[str, str]) -> int:
    try:
        return max(0, int(env.get("MODELSMITH_GPU_COUNT", "0") or 0))
    except ValueError:
        return 0


def is_child(env: Mapping[str, str]) -> bool:
    return any(marker in env for marker in LAUNCHED_MARKERS)


def launch_command(argv: Sequence[str], env: Mapping[str, str]) -> list[str] | None:
    """The `accelerate launch` command for this Job, or None when one process is right."""
    gpus = gpu_count(env)
    if gpus <= 1 or is_child(env):
        return None
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_machines",
        "1",
        "--num_processes",
        str(gpus),
        "--module",
        "modelsmith_trainer",
        *argv,
    ]


def relaunch(command: Sequence[str], env: Mapping[str, str]) -> int:
    completed = subprocess.run(list(command), env={**env, "ACCELERATE_LAUNCHED": "1"}, check=False)
    if completed.returncode == 0:
        return 0
    return recorded_exit_code() or completed.returncode or int(ExitCode.UNEXPECTED)


def recorded_exit_code() -> int | None:
    try:
        message = json.loads(termination_path().read_text())
    except (OSError, ValueError):
        return None
    code = message.get("exit_code") if isinstance(message, dict) else None
    return code if isinstance(code, int) and code > 0 else None
