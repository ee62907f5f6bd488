"""ModelIntake reconciler: validate what the intake names before any run may use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf

from modelsmith import kube, objectstore, watched
from modelsmith.api.intake import ModelIntake
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.chain import MAX_ROLES
from modelsmith.conditions import condition, ready_news, set_condition
from modelsmith.controllers.gate.approvals import chain_overlaps
from modelsmith.events import emit
from modelsmith.handlers.run_queue import KUEUE
from modelsmith.handlers.staging import staged_chain
from modelsmith.layout import StoreLocation
from modelsmith.reconciler import RECONCILER
from modelsmith.serving import SYSTEM_NAMESPACES, serving_refusal
from modelsmith.settings import OperatorSettings
from modelsmith.statusdiff import merge_patch
from modelsmith.targets.resolve import resolve
from modelsmith.targets.rules import bucket_refusal

PLURAL = "modelintakes"
SETTINGS = OperatorSettings()


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    message: str
    blocking: bool = True


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_intake_event(**kwargs: Any) -> None:
    type, namespace, name = kwargs["type"], kwargs["namespace"], kwargs["name"]
    watched.seen(PLURAL, kwargs["event"])
    if type == "DELETED":
        RECONCILER.forget((PLURAL, namespace, name))
        RECONCILER.wake_referrers("iterationruns", namespace, "intakeRef", name)  # it is gone
    else:
        RECONCILER.reconcile(PLURAL, namespace, name, kwargs["meta"].get("resourceVersion"))


def reconcile(namespace: str, name: str) -> float | None:
    body = kube.get_custom(PLURAL, namespace, name)
    if body is None:
        return None
    intake = ModelIntake.model_validate(body)
    spec = intake.spec
    checks: list[Check] = []
    resolved: dict[str, Any] | None = None

    bench = kube.get_custom("benchmarks", namespace, spec.benchmark_ref.name)
    if bench is None:
        checks.append(
            Check("BenchmarkResolved", False, f"Benchmark {spec.benchmark_ref.name} not found")
        )
    elif bench["spec"].get("version") != spec.benchmark_ref.version:
        checks.append(
            Check(
                "BenchmarkResolved",
                False,
                f"Benchmark {spec.benchmark_ref.name} is version {bench['spec'].get('version')}, "
                f"not {spec.benchmark_ref.version}",
            )
        )
    elif (ready := condition(bench.get("status"), "Ready") or {}).get("status") != "True":
        # The benchmark's own reason tells the intake's owner where to look.
        why = ready.get("reason") or "not validated yet"
        checks.append(
            Check(
                "BenchmarkResolved",
                False,
                f"Benchmark {spec.benchmark_ref.name} is not Ready ({why})",
            )
        )
    else:
        resolved = {
            "name": spec.benchmark_ref.name,
            "version": spec.benchmark_ref.version,
            "digest": bench["status"].get("digest"),
        }
        checks.append(Check("BenchmarkResolved", True, "Ready, digest recorded"))

    checks.append(_base_model(spec.base_model.uri, spec.base_model.label))
    execution, exec_ns = _execution_checks(intake, namespace)
    checks.extend(execution)
    checks.append(_approver_chain(namespace, intake))
    serving_ns = spec.serving_target.namespace or namespace
    checks.append(_serving_target(namespace, serving_ns, spec.serving_target.config_map_name))

    failing = [c for c in checks if c.blocking and not c.ok]
    generation = body["metadata"].get("generation")
    old: dict[str, Any] = body.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "benchmark": resolved,
        "baseModelLabel": spec.base_model.label,
        "executionNamespace": exec_ns,
        "executionTarget": spec.execution_target_ref.name,
        "servingTarget": (
            f"{serving_ns}/{spec.serving_target.config_map_name}:{spec.serving_target.key}"
        ),
        "resolvedThreshold": spec.promotion.threshold,
        "owner": spec.owner,
        "rollbackExpectation": spec.rollback.expectation,
        "validation": [{"check": c.check, "ok": c.ok, "message": c.message} for c in checks],
    }
    reason = "Validated" if not failing else failing[0].check + "Failed"
    message = "all checks passed" if not failing else "; ".join(c.message for c in failing)
    status["conditions"] = set_condition(
        old.get("conditions"), "Ready", not failing, reason, message, generation
    )
    patch = merge_patch(old, status)
    if patch:
        RECONCILER.write_status(PLURAL, namespace, name, patch)
        before = condition(old, "Ready") or {}
        # A new cause under the same reason (a benchmark that was validating and is now
        # Invalid) is news to the intake's owner, so the message counts as a transition too.
        if (before.get("status"), before.get("reason"), before.get("message")) != (
            "True" if not failing else "False",
            reason,
            message,
        ):
            emit(body, "Normal" if not failing else "Warning", reason, message)
    # Runs wait in Pending for readiness and are decided on the spec; a status write's echo or a
    # new message under the same verdict changes nothing for them.
    if ready_news(old, status):
        RECONCILER.wake_referrers("iterationruns", namespace, "intakeRef", name)
    # Not ready yet may be a matter of time (a benchmark validating, a model being uploaded).
    return None if not failing else SETTINGS.requeue_seconds * 2


def _serving_target(namespace: str, serving_ns: str, name: str) -> Check:
    """Serving consent, checked again before every pointer move. A system namespace or a
    namespace that does not exist fails the intake; a pointer not (yet) opted in is reported
    but does not stop training: its team may opt in before a candidate is staged, and the gate
    blocks on it otherwise (this check is not re-run when the ConfigMap changes)."""
    if serving_ns not in SYSTEM_NAMESPACES and not _exists(
        lambda: kube.core().read_namespace(serving_ns)
    ):
        return Check("ServingTarget", False, f"namespace {serving_ns} not found")
    configmap: dict[str, Any] | None = None
    if serving_ns not in SYSTEM_NAMESPACES:
        try:
            found = kube.core().read_namespaced_config_map(name, serving_ns)
            meta = found.metadata
            configmap = {"metadata": {"labels": meta.labels, "annotations": meta.annotations}}
        except Exception as exc:
            if not kube.is_not_found(exc):
                raise
    refusal = serving_refusal(namespace, serving_ns, name, configmap)
    if refusal is None:
        return Check("ServingTarget", True, f"ConfigMap {serving_ns}/{name} is opted in")
    system = serving_ns in SYSTEM_NAMESPACES
    return Check("ServingTarget", False, refusal.message, blocking=system)


def _exists(read: Any) -> bool:
    try:
        read()
    except Exception as exc:
        if kube.is_not_found(exc):
            return False
        raise
    return True


def _execution_checks(intake: ModelIntake, namespace: str) -> tuple[list[Check], str]:
    """The target may be used from this namespace (the rule admission also checks), and what
    it names exists: the Job namespace and its ServiceAccount. Returns the Job namespace."""
    target = resolve(intake, namespace)
    if target.refusal is not None:
        return [Check("ExecutionTarget", False, target.refusal.message)], namespace
    assert target.spec is not None
    checks = [Check("ExecutionTarget", True, f"{target.name} admits namespace {namespace}")]
    exec_ns = target.spec.job_namespace or namespace
    ns_ok = _exists(lambda: kube.core().read_namespace(exec_ns))
    checks.append(
        Check("ExecutionNamespace", ns_ok, "exists" if ns_ok else f"namespace {exec_ns} not found")
    )
    sa = target.spec.service_account_name
    sa_ok = ns_ok and _exists(lambda: kube.core().read_namespaced_service_account(sa, exec_ns))
    checks.append(
        Check(
            "ServiceAccount",
            sa_ok,
            "exists"
            if sa_ok
            else f"service account {sa} not found (ExecutionTarget {target.name})",
        )
    )
    checks.append(_gpu_resource(target.gpu_count, target.spec.gpu_resource_name))
    if target.spec.kueue_queue:
        checks.append(_kueue_queue(target.spec.kueue_queue, exec_ns, target.name))
    checks.append(_object_store(intake, target.name, target.spec))
    return checks, exec_ns


def _kueue_queue(queue: str, exec_ns: str, target: str) -> Check:
    """The LocalQueue the target's Jobs are labelled for: without it Kueue never admits them
    and runs would wait with no reason of their own."""
    try:
        local = kube.rest("GET", f"{KUEUE}/namespaces/{exec_ns}/localqueues/{queue}")
    except Exception as exc:
        if not kube.is_not_found(exc):
            raise
        return Check(
            "KueueQueue",
            False,
            f"Kueue LocalQueue {queue} does not exist in namespace {exec_ns} (ExecutionTarget "
            f"{target} spec.kueueQueue); its Jobs would never be admitted",
        )
    cluster_queue = (local.get("spec") or {}).get("clusterQueue")
    return Check("KueueQueue", True, f"LocalQueue {exec_ns}/{queue} feeds ClusterQueue "
                 f"{cluster_queue}")


def _object_store(intake: ModelIntake, name: str, target: ExecutionTargetSpec) -> Check:
    """The runs' store is the target's bucket: a base model elsewhere is refused now, not at
    the first launch (which checks again: the target may change meanwhile)."""
    bucket = StoreLocation.of_target(target, SETTINGS.bucket).bucket
    base = {"the intake's base model": intake.spec.base_model.uri}
    refused = bucket_refusal(name, bucket, base)
    if refused is not None:
        return Check("ObjectStoreBucket", False, refused.message)
    return Check("ObjectStoreBucket", True, f"runs keep their artefacts in the bucket {bucket}")


def _base_model(uri: str, label: str) -> Check:
    if uri.startswith("hf://"):
        return Check(
            "BaseModelFound",
            True,
            f"{label} comes from a model hub; the first Job verifies it can be loaded",
            blocking=False,
        )
    try:
        found = objectstore.prefix_has_objects(uri)
    except objectstore.ForeignBucket as exc:
        return Check("BaseModelFound", False, str(exc))
    except objectstore.ObjectStoreUnavailable:
        return Check("BaseModelFound", False, "the object store is unreachable")
    return Check(
        "BaseModelFound",
        found,
        f"{label} found in the object store" if found else f"no model files found for {label}",
    )


def _gpu_resource(count: int, resource: str) -> Check:
    if count == 0:
        return Check("GpuResource", True, "CPU only (gpuCount 0)", blocking=False)
    nodes = kube.core().list_node().items
    advertised = sum(int((n.status.allocatable or {}).get(resource, "0") or 0) for n in nodes)
    if advertised == 0:
        return Check(
            "GpuResource",
            False,
            f"no node advertises {resource}; Jobs would wait for capacity",
            blocking=False,
        )
    return Check("GpuResource", True, f"{advertised} {resource} advertised in the cluster", False)


def _approver_chain(namespace: str, intake: ModelIntake) -> Check:
    """The chain a gate would carry now: the admin policies' roles, then the intake's (staging
    computes it again; a policy changed since is applied then)."""
    chain = staged_chain(namespace, intake)
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


RECONCILER.register(PLURAL, reconcile)
