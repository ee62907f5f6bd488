"""The two operators the benchmark runs, and how each shows in an IterationRun's status that it
has seen what the benchmark times."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
StatusCheck = Callable[[dict[str, Any]], bool]

# Where Modelsmith's run stops with noop Jobs: the evaluation leaves no scorecard, each attempt
# counts as failed, and the run blocks once its retries are spent.
SETTLED_PHASES = frozenset({"Blocked", "Failed", "Stopped", "Plateaued", "Staged"})
BASELINE_COMPLETE = "baseline: evaluation Job complete"


@dataclass(frozen=True)
class Subject:
    name: str
    user: str
    """The API identity it runs as (its own client certificate)."""
    argv: tuple[str, ...]
    intake_ready: StatusCheck
    reacted: StatusCheck
    """The run's status shows the first Job's completion was seen."""
    settled: StatusCheck
    """The run will not move again on its own."""
    python_path: str = ""
    """Put first on the operator's PYTHONPATH: another copy of the operator's code."""


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def _ms_intake_ready(status: dict[str, Any]) -> bool:
    return _condition(status, "Ready").get("status") == "True"


def _ms_reacted(status: dict[str, Any]) -> bool:
    """No longer waiting on attempt 1 of the baseline evaluation: a retry was launched, or the
    run moved on."""
    job = (status.get("memory") or {}).get("job")
    if status.get("phase") not in (None, "Pending", "EvaluatingBaseline"):
        return True
    return job is not None and job.get("attempt") != 1


def _ms_settled(status: dict[str, Any]) -> bool:
    return status.get("phase") in SETTLED_PHASES


def _baseline_seen(status: dict[str, Any]) -> bool:
    return status.get("observedGeneration") is not None


def _baseline_complete(status: dict[str, Any]) -> bool:
    return status.get("nextAction") == BASELINE_COMPLETE


MODELSMITH = Subject(
    name="modelsmith",
    user="modelsmith-operator",
    argv=(sys.executable, "-m", "modelsmith.cli", "operator"),
    intake_ready=_ms_intake_ready,
    reacted=_ms_reacted,
    settled=_ms_settled,
)


def modelsmith_from(source: Path, name: str = "compare") -> Subject:
    """Modelsmith run from another copy of its package, e.g. the code before a change, to compare
    with the working tree in the same run. `source` is a folder holding `modelsmith/` or a
    checkout of this repository (`git worktree add /tmp/ms-before <commit>`): its `operator/`.

    The venv's editable install of the working tree would answer `import modelsmith` for a
    folder without the package, and the run would compare the working tree with itself: the
    operator's interpreter is asked where it imports `modelsmith` from before anything runs."""
    folder = source.resolve()
    if not (folder / "modelsmith" / "__init__.py").is_file():
        folder = folder / "operator"
    package = folder / "modelsmith"
    if not (package / "__init__.py").is_file():
        raise SystemExit(f"--compare {source}: no modelsmith/ package there nor in its operator/")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    found = subprocess.run(
        [*MODELSMITH.argv[:1], "-c", "import modelsmith; print(modelsmith.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if Path(found).resolve().parent != package:
        raise SystemExit(f"--compare {source}: the operator would import modelsmith from {found}")
    return replace(MODELSMITH, name=name, python_path=str(folder))


BASELINE = Subject(
    name="baseline",
    user="baseline-operator",
    argv=(sys.executable, str(BENCH_DIR / "baseline_operator.py")),
    intake_ready=_baseline_seen,
    reacted=_baseline_complete,
    settled=_baseline_complete,
)
