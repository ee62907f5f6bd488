"""What a ModelIntake's validation says, from the intake and what was read for it (see
`observe.Observed`). Pure: no API calls, so every check is unit-tested without a cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelsmith.api.intake import ModelIntake
from modelsmith.chain import MAX_ROLES, EffectiveChain, chain_overlaps
from modelsmith.contract.layout import StoreLocation
from modelsmith.runtime.conditions import condition, ready_news, set_condition
from modelsmith.runtime.transitions import Transitions
from modelsmith.serving import SYSTEM_NAMESPACES, serving_refusal
from modelsmith.targets.resolve import Resolved
from modelsmith.targets.rules import bucket_refusal

TRANSITIONS = Transitions(
    headline="Ready",
    conditions=("Ready",),
    warning=lambda _, ready: ready.get("status") != "True",
    # A new cause under the same reason (a benchmark that was validating and is now Invalid)
    # matters to the intake's owner.
    messages=True,
)


@dataclass(frozen=True)
class BaseModelSeen:
    """What the object store said about the base model's prefix."""

    found: bool
    error: str | None = None
    """Why the store could not answer (then `found` means nothing)."""


@dataclass(frozen=True)
class ExecutionSeen:
    """What exists of what an admitted ExecutionTarget names."""

    namespace: str
    """The namespace its Jobs run in."""
    namespace_exists: bool
    service_account_exists: bool
    gpus_advertised: int
    """The target's GPU resource summed over the nodes (0 when its Jobs ask for none)."""
    kueue_queue_found: bool = False
    cluster_queue: str | None = None
    jobset_served: bool = True
    """Whether the API server serves JobSets (asked only when a training step spans nodes)."""


@dataclass(frozen=True)
class ServingSeen:
    namespace: str
    namespace_exists: bool
    configmap: dict[str, Any] | None
    """The pointer's labels and annotations; None when it does not exist or was not read."""


@dataclass(frozen=True)
class Observed:
    """Everything the intake's checks read from the cluster and the object store."""

    benchmark: dict[str, Any] | None
    base_model: BaseModelSeen | None
    """None for a model hub URI, which the operator does not read."""
    target: Resolved
    execution: ExecutionSeen | None
    """None when the target refuses this namespace (nothing it names is read)."""
    chain: EffectiveChain
    serving: ServingSeen


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class Outcome:
    """The status to write, whether runs naming the intake must look again, and when to look
    again (None: only on a watch event)."""

    status: dict[str, Any]
    wake_runs: bool
    requeue: float | None


def benchmark_check(intake: ModelIntake, bench: dict[str, Any] | None) -> Check:
    ref = intake.spec.benchmark_ref
    if bench is None:
        return Check("BenchmarkResolved", False, f"Benchmark {ref.name} not found")
    if bench["spec"].get("version") != ref.version:
        return Check(
            "BenchmarkResolved",
            False,
            f"Benchmark {ref.name} is version {bench['spec'].get('version')}, not {ref.version}",
        )
    ready = condition(bench.get("status"), "Ready") or {}
    if ready.get("status") != "True":
        # The benchmark's own reason tells the intake's owner where to look.
        why = ready.get("reason") or "not validated yet"
        return Check("BenchmarkResolved", False, f"Benchmark {ref.name} is not Ready ({why})")
    return Check("BenchmarkResolved", True, "Ready, digest recorded")


def base_model_check(label: str, seen: BaseModelSeen | None) -> Check:
    """`seen` is None for a model hub URI, which the operator does not read."""
    if seen is None:
        return Check(
            "BaseModelFound",
            True,
            f"{label} comes from a model hub; the first Job verifies it can be loaded",
            blocking=False,
        )
    if seen.error is not None:
        return Check("BaseModelFound", False, seen.error)
    return Check(
        "BaseModelFound",
        seen.found,
        f"{label} found in the object store" if seen.found else f"no model files found for {label}",
    )


def gpu_check(count: int, resource: str, advertised: int) -> Check:
    if count == 0:
        return Check("GpuResource", True, "CPU only (gpuCount 0)", blocking=False)
    if advertised == 0:
        return Check(
            "GpuResource",
            False,
            f"no node advertises {resource}; Jobs would wait for capacity",
            blocking=False,
        )
    return Check("GpuResource", True, f"{advertised} {resource} advertised in the cluster", False)


def kueue_check(queue: str, seen: ExecutionSeen, target: str) -> Check:
    """The LocalQueue the target's Jobs are labelled for: without it Kueue never admits them
    and runs would wait with no reason of their own."""
    if not seen.kueue_queue_found:
        return Check(
            "KueueQueue",
            False,
            f"Kueue LocalQueue {queue} does not exist in namespace {seen.namespace} "
            f"(ExecutionTarget {target} spec.kueueQueue); its Jobs would never be admitted",
        )
    return Check(
        "KueueQueue",
        True,
        f"LocalQueue {seen.namespace}/{queue} feeds ClusterQueue {seen.cluster_queue}",
    )


def multi_node_check(target: Resolved, seen: ExecutionSeen) -> Check:
    """A training step over several nodes runs as a JobSet: without the JobSet API its
    launch would be refused at every attempt."""
    assert target.spec is not None
    engine = str(target.spec.multi_node_engine)
    if not seen.jobset_served:
        return Check(
            "MultiNodeEngine",
            False,
            f"training spans {target.node_count} nodes (ExecutionTarget {target.name} "
            f"spec.maxTrainingNodes), which runs as a {engine}, but the cluster does not serve "
            "jobset.x-k8s.io: a platform admin installs JobSet, or the intake asks for "
            "spec.executionTargetRef.nodeCount 1",
        )
    return Check("MultiNodeEngine", True, f"training spans {target.node_count} nodes as a {engine}")


def object_store_check(intake: ModelIntake, target: Resolved, default_bucket: str) -> Check:
    """The runs' store is the target's bucket: a base model elsewhere is refused now, not at
    the first launch (which checks again: the target may change meanwhile)."""
    bucket = StoreLocation.of_target(target.spec, default_bucket).bucket
    base = {"the intake's base model": intake.spec.base_model.uri}
    refused = bucket_refusal(target.name, bucket, base)
    if refused is not None:
        return Check("ObjectStoreBucket", False, refused.message)
    return Check("ObjectStoreBucket", True, f"runs keep their artefacts in the bucket {bucket}")


def execution_checks(
    intake: ModelIntake, namespace: str, observed: Observed, default_bucket: str
) -> list[Check]:
    """The target may be used from this namespace (the rule admission also checks), and what
    it names exists: the Job namespace and its ServiceAccount."""
    target, seen = observed.target, observed.execution
    if target.refusal is not None:
        return [Check("ExecutionTarget", False, target.refusal.message)]
    assert target.spec is not None and seen is not None
    sa = target.spec.service_account_name
    checks = [
        Check("ExecutionTarget", True, f"{target.name} admits namespace {namespace}"),
        Check(
            "ExecutionNamespace",
            seen.namespace_exists,
            "exists" if seen.namespace_exists else f"namespace {seen.namespace} not found",
        ),
        Check(
            "ServiceAccount",
            seen.service_account_exists,
            "exists"
            if seen.service_account_exists
            else f"service account {sa} not found (ExecutionTarget {target.name})",
        ),
        gpu_check(target.gpu_count, target.spec.gpu_resource_name, seen.gpus_advertised),
    ]
    if target.spec.kueue_queue:
        checks.append(kueue_check(target.spec.kueue_queue, seen, target.name))
    if target.node_count > 1:
        checks.append(multi_node_check(target, seen))
    checks.append(object_store_check(intake, target, default_bucket))
    return checks


def approver_chain_check(chain: EffectiveChain) -> Check:
    """The chain a gate would carry now: the admin policies' roles, then the intake's (staging
    computes it again; a policy changed since is applied then)."""
    overlaps = chain_overlaps(chain.approvers)
    if overlaps:
        return Check("ApproverChain", False, "; ".join(overlaps))
    roles = [a.role for a in chain.approvers]
    if chain.too_long:
        return Check(
            "ApproverChain",
            False,
            f"the approver policies ({', '.join(chain.policies)}) and the intake make "
            f"{len(roles)} roles; a gate holds at most {MAX_ROLES}: drop some of the intake's own",
        )
    source = f" (policies: {', '.join(chain.policies)})" if chain.policies else ""
    return Check("ApproverChain", True, f"{len(roles)} roles: {', '.join(roles)}{source}")


def serving_check(namespace: str, name: str, seen: ServingSeen) -> Check:
    """Serving consent, checked again before every pointer move. A system namespace or a
    namespace that does not exist fails the intake; a pointer not (yet) opted in is reported
    but does not stop training: its team may opt in before a candidate is staged, and the gate
    blocks on it otherwise (this check is not re-run when the ConfigMap changes)."""
    if not seen.namespace_exists:
        return Check("ServingTarget", False, f"namespace {seen.namespace} not found")
    refusal = serving_refusal(namespace, seen.namespace, name, seen.configmap)
    if refusal is None:
        return Check("ServingTarget", True, f"ConfigMap {seen.namespace}/{name} is opted in")
    system = seen.namespace in SYSTEM_NAMESPACES
    return Check("ServingTarget", False, refusal.message, blocking=system)


def other_checks(
    intake: ModelIntake, namespace: str, observed: Observed, default_bucket: str
) -> list[Check]:
    """The checks after the benchmark's, in the order status.validation lists them."""
    spec = intake.spec
    return [
        base_model_check(spec.base_model.label, observed.base_model),
        *execution_checks(intake, namespace, observed, default_bucket),
        approver_chain_check(observed.chain),
        serving_check(namespace, spec.serving_target.config_map_name, observed.serving),
    ]


def resolved_benchmark(intake: ModelIntake, bench: dict[str, Any]) -> dict[str, Any]:
    """What status.benchmark records of a Ready benchmark: name, version and digest."""
    ref = intake.spec.benchmark_ref
    return {"name": ref.name, "version": ref.version, "digest": bench["status"].get("digest")}


def decide(
    intake: ModelIntake,
    namespace: str,
    body: dict[str, Any],
    observed: Observed,
    default_bucket: str,
    requeue_seconds: float,
) -> Outcome:
    """The intake's status and whether runs must look again."""
    spec = intake.spec
    bench = benchmark_check(intake, observed.benchmark)
    found = [bench, *other_checks(intake, namespace, observed, default_bucket)]
    failing = [c for c in found if c.blocking and not c.ok]
    generation = body["metadata"].get("generation")
    old: dict[str, Any] = body.get("status") or {}
    serving = observed.serving.namespace
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "benchmark": (
            resolved_benchmark(intake, observed.benchmark)
            if bench.ok and observed.benchmark is not None
            else None
        ),
        "baseModelLabel": spec.base_model.label,
        "executionNamespace": observed.execution.namespace if observed.execution else namespace,
        "executionTarget": spec.execution_target_ref.name,
        "servingTarget": (
            f"{serving}/{spec.serving_target.config_map_name}:{spec.serving_target.key}"
        ),
        "resolvedThreshold": spec.promotion.threshold,
        "owner": spec.owner,
        "rollbackExpectation": spec.rollback.expectation,
        "validation": [{"check": c.check, "ok": c.ok, "message": c.message} for c in found],
    }
    reason = "Validated" if not failing else failing[0].check + "Failed"
    message = "all checks passed" if not failing else "; ".join(c.message for c in failing)
    status["conditions"] = set_condition(
        old.get("conditions"), "Ready", not failing, reason, message, generation
    )
    # Not ready yet may be a matter of time (a benchmark validating, a model being uploaded).
    return Outcome(
        status,
        # Runs wait in Pending for readiness and are decided on the spec; a status write's
        # echo or a new message under the same verdict changes nothing for them.
        ready_news(old, status),
        None if not failing else requeue_seconds * 2,
    )
