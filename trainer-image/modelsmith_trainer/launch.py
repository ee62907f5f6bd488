"""One process per GPU: with MODELSMITH_GPU_COUNT above 1 (the operator sets it from the
execution target), the entry point re-runs itself under `accelerate launch` and waits. With
MODELSMITH_NODE_COUNT above 1 (a pod of the JobSet a multi-node training step runs as), it runs
itself under torchrun instead, one process per GPU (one on a CPU node), meeting the other pods at
MODELSMITH_MASTER_ADDR:MODELSMITH_MASTER_PORT as node MODELSMITH_NODE_RANK.

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
    return _count(env, "MODELSMITH_GPU_COUNT", 0)


def node_count(env: Mapping[str, str]) -> int:
    return _count(env, "MODELSMITH_NODE_COUNT", 1)


def _count(env: Mapping[str, str], name: str, least: int) -> int:
    try:
        return max(least, int(env.get(name, str(least)) or least))
    except ValueError:
        return least


def is_child(env: Mapping[str, str]) -> bool:
    return any(marker in env for marker in LAUNCHED_MARKERS)


def launch_command(argv: Sequence[str], env: Mapping[str, str]) -> list[str] | None:
    """The `accelerate launch` (or, across nodes, torchrun) command for this Job, or None when
    one process is right."""
    gpus = gpu_count(env)
    if is_child(env):
        return None
    if node_count(env) > 1:
        return torchrun_command(argv, env, max(gpus, 1))
    if gpus <= 1:
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


def torchrun_command(argv: Sequence[str], env: Mapping[str, str], per_node: int) -> list[str]:
    """torchrun's static rendezvous: every pod knows the node count, its own rank and the
    leader's address, so none waits for a rendezvous service."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={node_count(env)}",
        f"--nproc-per-node={per_node}",
        f"--node-rank={env.get('MODELSMITH_NODE_RANK', '0')}",
        f"--master-addr={env['MODELSMITH_MASTER_ADDR']}",
        f"--master-port={env['MODELSMITH_MASTER_PORT']}",
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
