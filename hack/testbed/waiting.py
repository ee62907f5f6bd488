"""Polling with a deadline, and the log tails that explain a missed one.

Tests wait on observable state, never on bare sleeps: `wait_for` polls a predicate and, when the
deadline passes, raises a TimeoutError carrying what was awaited, the predicate's last answer or
error, and the tail of every test-bed component's log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Folders whose *.log files explain a timeout; the cluster and object store register theirs.
_log_dirs: list[Path] = []


def register_log_dir(directory: Path) -> None:
    if directory not in _log_dirs:
        _log_dirs.append(directory)


def tail(path: Path, lines: int = 20, max_bytes: int = 64_000) -> str:
    """The last `lines` lines of a file, read from its end so large logs cost nothing."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def log_tails(directories: Iterable[Path] | None = None, lines: int = 20) -> str:
    """The tail of each *.log file in the given (default: registered) folders, one block each."""
    blocks = []
    for directory in directories if directories is not None else _log_dirs:
        for path in sorted(directory.glob("*.log")):
            blocks.append(f"----- {path} (last {lines} lines) -----\n{tail(path, lines)}")
    return "\n".join(blocks)


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 30.0,
    description: str = "condition",
    interval: float = 0.2,
) -> T:
    """Polls `predicate` until it returns something truthy, and returns that.

    An exception from the predicate counts as "not yet" (the object may not exist yet); the last
    one is reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
            if result:
                return result
            last = result
        except Exception as e:  # any failure means "not yet"; reported on timeout
            last = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    tails = log_tails()
    raise TimeoutError(
        f"timed out after {timeout:.0f}s waiting for {description}; last result: {last!r}"
        + (f"\n{tails}" if tails else "")
    )
