"""Sampling the operator with py-spy (every thread: kopf's event loop and its handler threads),
and a short text summary of where its CPU went. py-spy is not a project dependency:
`pip install py-spy` (or put it on PATH) to use --profile."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class PySpy:
    def __init__(self, proc: subprocess.Popen[bytes], raw: Path, summary: Path) -> None:
        self._proc = proc
        self._raw = raw
        self._summary = summary

    @classmethod
    def attach(cls, pid: int, summary: Path) -> PySpy:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise FileNotFoundError("--profile needs py-spy: pip install py-spy")
        raw = summary.with_suffix(".collapsed")
        proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
             "--output", str(raw), "--nonblocking", "--gil", "--threads"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return cls(proc, raw, summary)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._raw.exists():
            self._summary.write_text(summarise(self._raw.read_text()))


def summarise(collapsed: str, top: int = 30) -> str:
    """Inclusive and self sample shares per function, from py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        seen = set()
        for frame in frames[1:]:
            name = _function(frame)
            if name not in seen:
                inclusive[name] += count
                seen.add(name)
        if len(frames) > 1:
            own[_function(frames[-1])] += count
    if not total:
        return "no samples\n"
    out = [f"{total} samples\n", "by thread:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common(10)]
    out.append("\ninclusive (modelsmith code):")
    ms = [(n, c) for n, c in inclusive.most_common() if "modelsmith" in n]
    out += [f"  {100 * c / total:5.1f}%  {n}" for n, c in ms[:top]]
    out.append("\ninclusive (all):")
    out += [f"  {100 * c / total:5.1f}%  {n}" for n, c in inclusive.most_common(top)]
    out.append("\nself:")
    out += [f"  {100 * c / total:5.1f}%  {n}" for n, c in own.most_common(top)]
    return "\n".join(out) + "\n"


def _function(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (path/to/file.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0] if where else ""
    for marker in ("site-packages/", "operator/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})" if file else name
