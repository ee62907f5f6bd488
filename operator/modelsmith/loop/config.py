"""The run's limits and policy, resolved by the run controller from the run and its intake."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from modelsmith.loop.clusters import check_dimensions
from modelsmith.loop.model import LoopModel
from modelsmith.loop.recipe import Recipe


class RunConfig(LoopModel):
    run_name: str = Field(min_length=1)
    run_key: str = Field(pattern=r"^[0-9a-f]{8}$")
    """naming.run_key(namespace, UID): part of every Job name, so Job names are the run's own."""
    threshold: float = Field(ge=0, le=1)
    """The intake's promotion threshold, compared with the held-out score."""
    max_iterations: int = Field(default=5, ge=1)
    plateau_patience: int = Field(default=2, ge=1)
    min_improvement: float = Field(default=0.01, ge=0, le=1)
    max_regressions: int = Field(default=0, ge=0)
    gpu_hour_budget: float | None = Field(default=None, ge=0)
    deadline: datetime | None = None
    max_attempts: int = Field(default=2, ge=1)
    cluster_dimensions: tuple[str, str] = ("capability", "risk")
    failing_weight: float = Field(default=3.0, ge=1)
    base_recipe: Recipe = Recipe()
    gpu_count: int = Field(default=1, ge=0)
    gpu_resource: str = "nvidia.com/gpu"
    job_lost_after_seconds: float = Field(default=300.0, gt=0)
    """A Job the state names but the cluster does not show for this long is counted as a
    failed attempt (deleted by someone, or lost): a moment's cache lag is not."""
    container_start_grace_seconds: float = Field(default=180.0, ge=0)
    """A Job whose container cannot start (image pull, missing Secret) for this long after its
    pod was scheduled is deleted (freeing its GPUs) and counted as a failed attempt."""

    input_grace_seconds: float = Field(default=300.0, ge=0)
    """How long a run blocked on a missing or changed input (loop/pinning.py) lets its Job
    go on before stopping it: an intake deleted by mistake can be applied again meanwhile."""

    @field_validator("cluster_dimensions")
    @classmethod
    def _two_dimensions(cls, value: tuple[str, str]) -> tuple[str, str]:
        return check_dimensions(value)

    @field_validator("deadline")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("deadline must carry a time zone")
        return value
