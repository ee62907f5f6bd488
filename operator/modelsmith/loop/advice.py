"""The next action: what happens next, or what a person should do, in operational words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from modelsmith.loop.clusters import Cluster
from modelsmith.loop.observation import RETRY_ANNOTATION, GateObservation
from modelsmith.loop.phases import Phase
from modelsmith.loop.queue import QueueObservation
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe, raised_rank

SHOWN_IDS: Final = 5


class CapacityProblem(StrEnum):
    ACCELERATORS = "Accelerators"
    CPU_OR_MEMORY = "CpuOrMemory"
    NODES_NOT_READY = "NodesNotReady"
    TAINTS = "Taints"
    NODE_SELECTOR = "NodeSelector"
    QUOTA = "Quota"
    UNKNOWN = "Unknown"


_INSUFFICIENT: Final = re.compile(r"Insufficient ([A-Za-z0-9./_-]+)")
# The node lifecycle controller taints a node whose kubelet reports NotReady (not-ready) or has
# stopped reporting (unreachable). Schedulers before 1.34 name the taint in their message; later
# ones say only "untolerated taint(s)", so the count of NotReady nodes decides then. Tolerating
# these taints would place a Job on a node that cannot run it: an outage, not a configuration gap.
_NOT_READY_TAINT: Final = re.compile(r"node\.kubernetes\.io/(?:not-ready|unreachable)\b")


def nodes_not_ready(nodes: Iterable[tuple[bool, int]], gpu_count: int) -> int:
    """How many nodes that could run the Job are not Ready, from (ready, GPUs in the node's
    capacity) per node. A GPU Job counts only nodes with GPUs: a NotReady CPU node says nothing
    about why a GPU Job waits. Capacity, not allocatable: it stays put while a node is down."""
    return sum(1 for ready, gpus in nodes if not ready and (gpu_count == 0 or gpus > 0))


def capacity_problem(
    scheduler_message: str | None, gpu_resource: str, nodes_not_ready: int = 0
) -> CapacityProblem:
    """What the scheduler's message says is missing, with the count of NotReady nodes that
    could run the Job (`nodes_not_ready`). The message itself never reaches status: it may
    name nodes."""
    text = scheduler_message or ""
    # Checked first: the scheduler lists the other nodes' shortfalls too, but with nodes down
    # bringing them back is the likely fix, and no other verdict's advice would help.
    if _NOT_READY_TAINT.search(text) or (nodes_not_ready and "taint" in text):
        return CapacityProblem.NODES_NOT_READY
    insufficient = {m.rstrip(".") for m in _INSUFFICIENT.findall(text)}
    if gpu_resource in insufficient:
        return CapacityProblem.ACCELERATORS
    if insufficient & {"cpu", "memory", "ephemeral-storage"}:
        return CapacityProblem.CPU_OR_MEMORY
    if "taint" in text:
        return CapacityProblem.TAINTS
    if "affinity" in text or "selector" in text:
        return CapacityProblem.NODE_SELECTOR
    if "quota" in text.lower():
        return CapacityProblem.QUOTA
    return CapacityProblem.UNKNOWN


def capacity_message(problem: CapacityProblem, gpu_count: int, gpu_resource: str) -> str:
    return {
        CapacityProblem.ACCELERATORS: f"no schedulable node has {gpu_count} free {gpu_resource}",
        CapacityProblem.CPU_OR_MEMORY: "no schedulable node has enough free CPU or memory",
        CapacityProblem.NODES_NOT_READY: "nodes that could run it are NotReady or unreachable",
        CapacityProblem.TAINTS: "the nodes with room carry taints the execution target does "
        "not tolerate",
        CapacityProblem.NODE_SELECTOR: "no node matches the execution target's node selector",
        CapacityProblem.QUOTA: "the namespace or queue quota is used up",
        CapacityProblem.UNKNOWN: "the scheduler cannot place it yet",
    }[problem]


def capacity_action(problem: CapacityProblem, gpu_count: int, gpu_resource: str) -> str:
    return {
        CapacityProblem.ACCELERATORS: f"Free {gpu_count} {gpu_resource} on a schedulable node "
        "or lower executionTargetRef.gpuCount",
        CapacityProblem.CPU_OR_MEMORY: "Free CPU or memory on a schedulable node",
        CapacityProblem.NODES_NOT_READY: "Bring the NotReady nodes back (check their kubelet, "
        "network and conditions with kubectl describe node) or add Ready capacity with "
        f"{gpu_count} free {gpu_resource}; the run resumes on its own once the Job can be "
        "placed. Do not tolerate the not-ready or unreachable taints",
        CapacityProblem.TAINTS: "Add the GPU nodes' taints to the ExecutionTarget's tolerations",
        CapacityProblem.NODE_SELECTOR: "Make the ExecutionTarget's nodeSelector match a node with "
        f"{gpu_resource}",
        CapacityProblem.QUOTA: "Raise the quota of the execution target's namespace or queue",
        CapacityProblem.UNKNOWN: f"Free {gpu_count} {gpu_resource} on a schedulable node or "
        "check the execution target's node selector and tolerations",
    }[problem]


def work(phase: Phase, iteration: int) -> str:
    """What a phase is doing, as a sentence fragment."""
    return {
        Phase.PENDING: "the run's start",
        Phase.EVALUATING_BASELINE: "the baseline evaluation",
        Phase.TRAINING: f"training of iteration {iteration}",
        Phase.ASSESSING: f"the assessment of iteration {iteration}",
        Phase.PROMOTION_STAGING: f"staging the candidate of iteration {iteration}",
        Phase.STAGED: "the staged candidate",
    }.get(phase, phase.value)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def id_list(ids: Sequence[str], limit: int = SHOWN_IDS) -> str:
    shown = ", ".join(ids[:limit])
    return f"{shown}, ..." if len(ids) > limit else shown


@dataclass(frozen=True)
class AdviceContext:
    phase: Phase
    reason: Reason
    work_phase: Phase
    """The phase doing the work (for Blocked and Suspended: the one they return to)."""
    iteration: int = 0
    attempt: int = 0
    max_attempts: int = 1
    max_iterations: int = 1
    cluster: Cluster | None = None
    recipe: Recipe | None = None
    gpu_count: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    scheduler_message: str | None = None
    nodes_not_ready: int = 0
    intake_reason: str | None = None
    gate: GateObservation | None = None
    gate_name: str | None = None
    gpu_seconds_used: float = 0.0
    gpu_hour_budget: float | None = None
    store_refusal: bool = False
    """The store answers, but an object in it was refused (over its read limit)."""
    queue: QueueObservation | None = None


def plateau_action(cluster: Cluster | None, recipe: Recipe | None) -> str:
    """Drawn from the strongest failure cluster: more material where the model fails most (the
    intake's trainingData, whose records carrying the cluster's values the recipe up-weights); a
    rubric review where it keeps failing on material it trained on; more adapter capacity."""
    if cluster is None:
        return "Review the threshold and minImprovement: no failing scenario is left to train on"
    ids = cluster.scenario_ids
    noun = "scenario" if len(ids) == 1 else "scenarios"
    options = [
        f"Add training material for {cluster.label} ({len(ids)} failing {noun}: {id_list(ids)}) "
        "as intake spec.trainingData records carrying those values"
    ]
    if cluster.failing_train_ids:
        options.append(f"review the rubric of scenarios {id_list(cluster.failing_train_ids)}")
    if recipe is not None and recipe.method == "lora":
        higher = raised_rank(recipe.rank)
        if higher is not None:
            options.append(f"raise adapter rank from {recipe.rank} to {higher}")
    return "; or ".join(options)


_START_NEW: Final = "then start a new run"

_REAPPLY_INTAKE: Final = (
    "Apply the ModelIntake again with the spec the run started on (status.pinned "
    "holds its digest; the run resumes on its own), or delete this run and start a "
    "new one on the intake as it is now"
)

_FIXED: Final[dict[Reason, str]] = {
    Reason.EVIDENCE_UNAVAILABLE: (
        "Check that the run's scorecards are still in the object store; the run retries on its own"
    ),
    Reason.EXECUTION_TARGET_NOT_ALLOWED: (
        "Ask a platform admin to let this namespace use the ExecutionTarget (its "
        "namespaceSelector and maxGpus), or name another target in the intake's "
        "spec.executionTargetRef; the run resumes on its own"
    ),
    Reason.EXECUTION_TARGET_MISSING: (
        "Ask a platform admin to restore the ExecutionTarget, or name another target "
        "in the intake's spec.executionTargetRef; the run resumes on its own"
    ),
    Reason.SUSPENDED: "Set spec.suspend to false to resume",
    Reason.JOB_NAME_TAKEN: (
        "Find who created the Job that holds this run's Job name in the execution "
        "namespace and have it removed; the run then starts its own"
    ),
    Reason.CREDENTIAL_REPLACED: (
        "Treat it as a security incident: find who replaced the Job's credential Secret "
        "(the API server's audit log names them) and take away their write access to "
        f"Secrets in the namespace, then set the {RETRY_ANNOTATION} annotation on the run to "
        "a new value: the next attempt gets a new credential"
    ),
    Reason.INTAKE_MISSING: _REAPPLY_INTAKE,
    Reason.INTAKE_CHANGED: _REAPPLY_INTAKE,
    Reason.BENCHMARK_MISSING: (
        "Apply the Benchmark again (the run reads its pinned scenarios and resumes on "
        "its own), or delete this run"
    ),
    Reason.OPERATOR_NOT_PERMITTED: (
        "Ask a platform admin to bind the chart's operator-workloads ClusterRole in the "
        "execution namespace (chart value operator.workloadNamespaces); the run resumes "
        "on its own"
    ),
}

_FIX_THEN_START_NEW: Final[dict[Reason, str]] = {
    Reason.ROLLED_BACK: "Review why the promotion was rolled back",
    Reason.CONTAMINATION: (
        "Remove the overlap between training material and held-out scenarios in a "
        "new Benchmark version"
    ),
    Reason.BAD_SPEC: "Check the run's recipe and the intake's execution target",
    Reason.MODEL_MISSING: "Put the base model where the ModelIntake points",
    Reason.MODEL_CORRUPT: "Replace the base model's files (they do not load)",
    Reason.EMPTY_SPLIT: "Give the Benchmark train and held-out scenarios in a new version",
    Reason.MALFORMED_CRITERION: "Fix the malformed criterion in a new Benchmark version",
    Reason.EVIDENCE_TAMPERED: (
        "Treat it as a security incident: find who holds write access to the run's "
        "store prefix (the tampered copy is kept under its quarantine/), revoke it"
    ),
}
"""Ends of a run that a person has to fix before a new run can do better; the words all end
in the same request to start a new run."""


def next_action(ctx: AdviceContext) -> str:
    if (fixed := _FIXED.get(ctx.reason)) is not None:
        return fixed
    if (fix := _FIX_THEN_START_NEW.get(ctx.reason)) is not None:
        return f"{fix}, {_START_NEW}"
    return (
        _gate_action(ctx)
        or _limit_action(ctx)
        or _infrastructure_action(ctx)
        or f"None: wait for {work(ctx.work_phase, ctx.iteration)} to finish"
    )


def _gate_action(ctx: AdviceContext) -> str | None:
    """What to do about the intake, the evidence bundle or the PromotionGate; None for other
    reasons."""
    gate = ctx.gate.name if ctx.gate else (ctx.gate_name or "of this run")
    match ctx.reason:
        case Reason.INTAKE_NOT_READY:
            why = f" (it reports {ctx.intake_reason})" if ctx.intake_reason else ""
            return f"Make the ModelIntake ready{why}"
        case Reason.THRESHOLD_CLEARED | Reason.AWAITING_GATE:
            return f"None: the evidence bundle and the PromotionGate {gate} are being created"
        case Reason.GATE_CREATED | Reason.GATE_PENDING:
            role = ctx.gate.awaiting_role if ctx.gate else None
            if role:
                return f"Approve the PromotionGate {gate} as {role}"
            return f"Review and approve the PromotionGate {gate}"
        case Reason.GATE_APPROVED:
            return f"None: the PromotionGate {gate} is approved; promotion follows"
        case Reason.PROMOTED:
            return (
                f"None: the candidate is promoted; annotate the PromotionGate {gate} to roll back"
            )
        case Reason.GATE_REJECTED:
            return f"Read the rejection on the PromotionGate {gate}, {_START_NEW} that addresses it"
        case Reason.GATE_BLOCKED:
            blocker = ctx.gate.blocker_reason if ctx.gate else None
            why = f" ({blocker})" if blocker else ""
            return f"Resolve the blocker on the PromotionGate {gate}{why}"
    return None


def _limit_action(ctx: AdviceContext) -> str | None:
    """What to do when the run stopped at one of its limits; None for other reasons."""
    cluster_hint = f"; the strongest failure cluster is {ctx.cluster.label}" if ctx.cluster else ""
    match ctx.reason:
        case Reason.PLATEAU:
            return plateau_action(ctx.cluster, ctx.recipe)
        case Reason.MAX_ITERATIONS_REACHED:
            return (
                f"Raise maxIterations (now {ctx.max_iterations}) and start a new run{cluster_hint}"
            )
        case Reason.BUDGET_EXHAUSTED:
            used = ctx.gpu_seconds_used / 3600.0
            of = f" (used {used:.2f} of {ctx.gpu_hour_budget:g})" if ctx.gpu_hour_budget else ""
            return f"Raise the GPU-hour budget{of} and start a new run{cluster_hint}"
        case Reason.DEADLINE_PASSED:
            return f"Extend the deadline and start a new run{cluster_hint}"
        case Reason.RETRY_BUDGET_EXHAUSTED:
            return (
                f"Find why {work(ctx.work_phase, ctx.iteration)} failed {ctx.attempt} times and "
                f"fix it, then set the {RETRY_ANNOTATION} annotation on the run to a new value "
                "to retry"
            )
    return None


def _infrastructure_action(ctx: AdviceContext) -> str | None:
    """What to do when the queue, the nodes or the object store hold the run up; None for
    other reasons."""
    doing = work(ctx.work_phase, ctx.iteration)
    match ctx.reason:
        case Reason.QUEUED | Reason.PREEMPTED if ctx.queue is not None:
            return f"None: Kueue admits {doing} when quota frees ({ctx.queue.summary()})"
        case Reason.QUEUE_INADMISSIBLE if ctx.queue is not None:
            return (
                f"Ask a platform admin to fix the Kueue queue ({ctx.queue.summary()}); the run "
                "resumes on its own"
            )
        case Reason.UNSCHEDULABLE:
            problem = capacity_problem(ctx.scheduler_message, ctx.gpu_resource, ctx.nodes_not_ready)
            return capacity_action(problem, ctx.gpu_count, ctx.gpu_resource)
        case Reason.OBJECT_STORE_UNAVAILABLE if ctx.store_refusal:
            return (
                "Replace the refused object with one within its read limit (see the Blocked "
                "message); the run resumes on its own"
            )
        case Reason.OBJECT_STORE_UNAVAILABLE:
            return (
                "Restore the operator's access to the object store (endpoint, credentials, "
                "network policy); the run resumes on its own"
            )
    return None
