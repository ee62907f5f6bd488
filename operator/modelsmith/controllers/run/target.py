"""The ExecutionTarget's part in a run's reconcile: the GPUs its Jobs get, and the rule applied
to every decision that would launch a Job (see `modelsmith.targets.rules`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelsmith import loop
from modelsmith.api.intake import ModelIntake
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.controllers.run.pinning import read_benchmark
from modelsmith.runtime.core import Runtime
from modelsmith.targets import resolve
from modelsmith.targets.rules import bucket_refusal, effective_gpus, effective_nodes, refusal


@dataclass(frozen=True)
class Placement:
    """The GPUs each training pod asks for and the nodes a training step spans (the intake's
    narrowing of its target's maxima), and the resource the GPUs are counted in."""

    gpus: int
    resource: str
    nodes: int = 1

    def spans(self, phase: loop.Phase | None) -> int:
        """The pods the Job of `phase` runs as: a training step spans `nodes` (one JobSet pod
        each, when above 1); every other Job is one pod."""
        return self.nodes if phase is loop.Phase.TRAINING else 1

    def requested(self, phase: loop.Phase | None) -> int:
        """The GPUs the Job of `phase` requests over all its pods."""
        return self.gpus * self.spans(phase)

    @staticmethod
    def of(intake: ModelIntake, target: ExecutionTargetSpec | None) -> Placement:
        ref = intake.spec.execution_target_ref
        if target is None:
            return Placement(ref.gpu_count or 0, "nvidia.com/gpu", ref.node_count or 1)
        return Placement(
            effective_gpus(target, ref), target.gpu_resource_name, effective_nodes(target, ref)
        )


TARGET_BLOCKS = frozenset(
    {loop.Reason.EXECUTION_TARGET_NOT_ALLOWED, loop.Reason.EXECUTION_TARGET_MISSING}
)


def read_target(
    rt: Runtime, name: str, live: bool = False
) -> tuple[ExecutionTargetSpec | None, bool]:
    """The ExecutionTarget `name` (None: missing), and whether it was read from the API server
    now: else it is one a reconcile read in the last few seconds (`Runtime.targets`). With
    `live` it is always read now: a launch, and a run blocked by its target, decide on the
    target as it is (`reconcile`), so the rule an admin edits holds from the next Job on."""
    if not live and (kept := rt.targets.get(name)) is not None:
        found: ExecutionTargetSpec | None = kept[0]
        return found, False
    spec = resolve.read_target(name)
    rt.targets.put(name, (spec,))
    return spec, True


def blocked_by_target(state: loop.RunState) -> bool:
    return state.blocked_by is not None and state.blocked_by.reason in TARGET_BLOCKS


def decide_checked(
    rt: Runtime,
    state: loop.RunState,
    observation: loop.Observation,
    config: loop.RunConfig,
    now: datetime,
    intake: ModelIntake,
    target: ExecutionTargetSpec | None,
    bucket: str,
    live: bool,
) -> tuple[loop.Observation, ExecutionTargetSpec | None, bool]:
    """The observation with the ExecutionTarget's rule applied to it: checked whenever the
    decision would launch a Job (the target may have changed since the intake was admitted) and
    while the run is blocked by it (to see it restored). `target` was read this reconcile, from
    the API server when `live`; `bucket` is the one the run pinned (see `bucket_refusal`).

    Also returns the target and whether it is as the API server has it now: a launch checked on
    a target read a moment ago reads it afresh while it reads the namespace's labels (one
    round trip instead of two, on the way to every Job), and `reconcile` decides again on it
    when it has changed."""
    checked = blocked_by_target(state)
    if checked:
        observation = observation.model_copy(
            update={"launch_refusal": target_refusal(rt, intake, target, bucket)}
        )
    decision = loop.decide(state, observation, config, now)
    if decision.launches and not checked:
        name = intake.spec.execution_target_ref.name
        reading = None if live else rt.target_reads.submit(read_target, rt, name, True)
        refusal = target_refusal(rt, intake, target, bucket)
        if reading is not None:
            target, live = reading.result()
        if refusal is not None:
            observation = observation.model_copy(update={"launch_refusal": refusal})
    return observation, target, live


def target_refusal(
    rt: Runtime, intake: ModelIntake, target: ExecutionTargetSpec | None, bucket: str
) -> loop.LaunchRefusal | None:
    """The target's verdict, then whether the URIs the Jobs would read are in `bucket`, the
    bucket the run pinned."""
    ref, namespace = intake.spec.execution_target_ref, intake.namespace
    verdict = refusal(ref.name, target, namespace, resolve.namespace_labels(namespace), ref)
    if verdict is None:
        verdict = bucket_refusal(ref.name, bucket, _read_sources(rt, intake))
    if verdict is None:
        return None
    return loop.LaunchRefusal(reason=loop.Reason(verdict.reason), message=verdict.message)


def _read_sources(rt: Runtime, intake: ModelIntake) -> dict[str, str]:
    """The spec URIs a run's Jobs read from: the base model, the Benchmark's scenarios and the
    intake's training data (read by the operator into the Jobs' train.jsonl)."""
    sources = {"the intake's base model": intake.spec.base_model.uri}
    if intake.spec.training_data is not None and intake.spec.training_data.s3 is not None:
        sources["the intake's training data"] = intake.spec.training_data.s3.uri
    read = read_benchmark(rt, intake.namespace, intake.spec.benchmark_ref.name)
    source = read.benchmark.spec.scenarios_from if read is not None else None
    if source is not None and source.s3 is not None:
        sources["the Benchmark's scenarios object"] = source.s3.uri
    return sources
