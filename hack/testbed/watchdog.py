"""Stops a test bed when the process that owns it dies without stopping it (a pytest session
killed by a timeout or ^C twice), so abandoned control planes do not pile up on the machine.

    python -m testbed.watchdog --owner-pid PID --owner-start TICKS --run-dir DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from testbed import procs


def owner_alive(pid: int, start: str) -> bool:
    return procs.start_time(pid) == start


def stop_everything(run_dir: Path) -> None:
    from testbed.cluster import Cluster
    from testbed.objectstore import NAME as OBJECT_STORE

    if (run_dir / "cluster.json").exists():
        Cluster.load(run_dir).stop()
    procs.stop(run_dir, OBJECT_STORE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.watchdog")
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--owner-start", required=True)
    parser.add_argument("--run-dir", required=True)
    args = parser.parse_args(argv)
    while owner_alive(args.owner_pid, args.owner_start):
        time.sleep(2)
    print(f"owner {args.owner_pid} is gone: stopping the test bed in {args.run_dir}", flush=True)
    stop_everything(Path(args.run_dir))
    return 0


def watch(run_dir: Path, owner_pid: int) -> None:
    """Starts a watchdog that stops the test bed in `run_dir` once `owner_pid` is gone."""
    import os

    start = procs.start_time(owner_pid)
    if start is None:
        raise RuntimeError(f"process {owner_pid} is not running")
    hack_dir = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (hack_dir, env.get("PYTHONPATH")) if p)
    procs.spawn(
        run_dir, "watchdog",
        [sys.executable, "-m", "testbed.watchdog", f"--owner-pid={owner_pid}",
         f"--owner-start={start}", f"--run-dir={run_dir}"],
        run_dir / "logs" / "watchdog.out", env=env,
    )


if __name__ == "__main__":
    sys.exit(main())
