"""Detached processes with pid files, so a test bed outlives the shell or session that started it
and a later `stop` ends exactly the processes it started.

Each process leads its own session (so its process group is its pid) and is recorded as
"<pid> <start time>" in `<run_dir>/pids/<name>.pid`: the start time guards against signalling an
unrelated process that reused the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment (with `extra`) and hack/ first on PYTHONPATH, so a Python
    subprocess imports the test bed's modules (testbed, tiny_model) as pytest's `pythonpath`
    lets the test process."""
    env = {**os.environ, **(extra or {})}
    hack = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (hack, env.get("PYTHONPATH")) if p)
    return env


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return fields[19]


# Children started by this process, kept so they are reaped (a dead child stays a zombie until
# its parent waits for it). A later `hack/cluster stop` never had them and goes by pid alone.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / "pids" / f"{name}.pid"


def spawn(
    run_dir: Path,
    name: str,
    argv: Sequence[str],
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Starts `argv` in a new session with stdout and stderr appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file(run_dir, name).parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    started = start_time(proc.pid) or "0"
    pid_file(run_dir, name).write_text(f"{proc.pid} {started}\n")
    _children[proc.pid] = proc
    return proc.pid


def record(run_dir: Path, name: str, pid: int) -> None:
    """Records a process started elsewhere (the node agent's pod processes) for `stop`."""
    path = pid_file(run_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {start_time(pid) or '0'}\n")


def forget(run_dir: Path, name: str) -> None:
    pid_file(run_dir, name).unlink(missing_ok=True)


def recorded_pid(run_dir: Path, name: str) -> int | None:
    """The pid recorded for `name` if that very process still runs."""
    try:
        pid_text, started = pid_file(run_dir, name).read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    _reap(pid)
    current = start_time(pid)
    if current is None or (started != "0" and current != started):
        return None
    return pid


def alive(run_dir: Path, name: str) -> bool:
    return recorded_pid(run_dir, name) is not None


def stop(run_dir: Path, name: str, grace: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after `grace` seconds, then forget the pid."""
    pid = recorded_pid(run_dir, name)
    if pid is not None:
        terminate_group(pid, grace)
    pid_file(run_dir, name).unlink(missing_ok=True)


def terminate_group(pgid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pgid)
        if start_time(pgid) is None and not _group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (start_time(pgid) is not None or _group_alive(pgid)):
        _reap(pgid)
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Signal 0 also succeeds while only zombies remain in the group; those are not running.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
