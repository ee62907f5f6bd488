"""A training or evaluation Job as the run controller renders it, for the tests of its manifest:
the run is `r` in namespace `ns` (UID uid-1), on the target the test builds; a test names only
what it varies."""

from __future__ import annotations

from typing import Any, Literal

from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.controllers.run.job_manifest import render_job
from modelsmith.runtime.settings import OperatorSettings


def rendered_job(
    target: ExecutionTargetSpec,
    *,
    name: str = "r-i1-train-a1",
    kind: Literal["train", "eval"] = "train",
    iteration: int = 1,
    spec_json: str = '{"iteration": 1}',
    gpu_count: int = 2,
) -> dict[str, Any]:
    return render_job(
        name=name,
        run_name="r",
        run_namespace="ns",
        run_uid="uid-1",
        kind=kind,
        iteration=iteration,
        attempt=1,
        spec_json=spec_json,
        target=target,
        gpu_count=gpu_count,
        settings=OperatorSettings(),
    )
