"""Reads what a ModelIntake names: its benchmark, base model, execution target and what that
target names, the approver chain, and the serving pointer. Only reads; `decide` judges."""

from __future__ import annotations

from modelsmith.api.intake import ModelIntake
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.chain import staged_chain
from modelsmith.contract import readlimits, s3
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.intake.decide import (
    BaseModelSeen,
    ExecutionSeen,
    Observed,
    ServingSeen,
)
from modelsmith.engines import KUEUE, jobset_installed
from modelsmith.runtime import kube
from modelsmith.serving import SYSTEM_NAMESPACES
from modelsmith.targets.resolve import resolve


def base_model(store: Store, uri: str) -> BaseModelSeen | None:
    """None for a model hub URI: the first Job verifies it can be loaded."""
    if uri.startswith("hf://"):
        return None
    try:
        return BaseModelSeen(store.prefix_has_objects(uri))
    except readlimits.ForeignBucket as exc:
        return BaseModelSeen(False, str(exc))
    except s3.ObjectStoreUnavailable:
        return BaseModelSeen(False, "the object store is unreachable")


def gpus_advertised(count: int, resource: str) -> int:
    """The resource summed over the nodes' allocatable; not asked when Jobs want no GPU."""
    if count == 0:
        return 0
    nodes = kube.rest("GET", kube.core_path("nodes"))["items"]
    allocatable = [(n.get("status") or {}).get("allocatable") or {} for n in nodes]
    return sum(int(a.get(resource, "0") or 0) for a in allocatable)


def kueue_queue(queue: str, namespace: str) -> tuple[bool, str | None]:
    """Whether the LocalQueue exists, and the ClusterQueue it feeds."""
    local = kube.find(f"{KUEUE}/namespaces/{namespace}/localqueues/{queue}")
    if local is None:
        return False, None
    return True, (local.get("spec") or {}).get("clusterQueue")


def execution(
    target: ExecutionTargetSpec, gpu_count: int, namespace: str, node_count: int
) -> ExecutionSeen:
    """What exists of what an admitted target names: its Job namespace, ServiceAccount, GPUs,
    Kueue queue and, for training over several nodes, the JobSet API."""
    exec_ns = target.job_namespace or namespace
    ns_ok = kube.find(kube.core_path("namespaces", name=exec_ns)) is not None
    sa = kube.core_path("serviceaccounts", exec_ns, target.service_account_name)
    sa_ok = ns_ok and kube.find(sa) is not None
    gpus = gpus_advertised(gpu_count, target.gpu_resource_name)
    found, cluster_queue = (
        kueue_queue(target.kueue_queue, exec_ns) if target.kueue_queue else (False, None)
    )
    served = jobset_installed() if node_count > 1 else True
    return ExecutionSeen(exec_ns, ns_ok, sa_ok, gpus, found, cluster_queue, served)


def serving(serving_ns: str, name: str) -> ServingSeen:
    """The serving namespace and pointer ConfigMap; a system namespace is not read (it is
    refused whatever it holds)."""
    if serving_ns in SYSTEM_NAMESPACES:
        return ServingSeen(serving_ns, True, None)
    if kube.find(kube.core_path("namespaces", name=serving_ns)) is None:
        return ServingSeen(serving_ns, False, None)
    pointer = kube.find(kube.core_path("configmaps", serving_ns, name))
    if pointer is None:
        return ServingSeen(serving_ns, True, None)
    meta = pointer.get("metadata") or {}
    labels = {"labels": meta.get("labels"), "annotations": meta.get("annotations")}
    return ServingSeen(serving_ns, True, {"metadata": labels})


def observe(store: Store, intake: ModelIntake, namespace: str) -> Observed:
    spec = intake.spec
    bench = kube.get_custom("benchmarks", namespace, spec.benchmark_ref.name)
    base = base_model(store, spec.base_model.uri)
    target = resolve(intake, namespace)
    seen = None
    if target.refusal is None:
        assert target.spec is not None
        seen = execution(target.spec, target.gpu_count, namespace, target.node_count)
    chain = staged_chain(namespace, intake)
    serving_ns = spec.serving_target.namespace or namespace
    pointer = serving(serving_ns, spec.serving_target.config_map_name)
    return Observed(bench, base, target, seen, chain, pointer)
