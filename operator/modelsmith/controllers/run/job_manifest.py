"""batch/v1 Jobs for training and evaluation, rendered from the intake's ExecutionTarget.

Names are deterministic (run, iteration, phase, attempt), so a restarted operator finds the Job
it created instead of creating a second one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.runtime.settings import OperatorSettings

LABEL_RUN: Final = "modelsmith.io/run"
LABEL_RUN_UID: Final = "modelsmith.io/run-uid"
LABEL_RUN_NAMESPACE: Final = "modelsmith.io/run-namespace"
LABEL_KIND: Final = "modelsmith.io/job-kind"
LABEL_ITERATION: Final = "modelsmith.io/iteration"
LABEL_ATTEMPT: Final = "modelsmith.io/attempt"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "modelsmith"}
MANAGED_SELECTOR: Final = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
KUEUE_QUEUE_LABEL: Final = "kueue.x-k8s.io/queue-name"
DEFAULT_DEADLINE_SECONDS: Final = 6 * 3600
WORK_DIR: Final = "/tmp"


def render_job(
    *,
    name: str,
    run_name: str,
    run_namespace: str,
    run_uid: str,
    kind: Literal["train", "eval"],
    iteration: int,
    attempt: int,
    spec_json: str,
    target: ExecutionTargetSpec,
    gpu_count: int,
    settings: OperatorSettings,
) -> dict[str, Any]:
    """`gpu_count`: GPUs per training Job, the intake's narrowing of the target's maxGpus."""
    namespace = target.job_namespace or run_namespace
    labels = {
        **MANAGED_BY,
        LABEL_RUN: run_name,
        LABEL_RUN_UID: run_uid,
        LABEL_RUN_NAMESPACE: run_namespace,
        LABEL_KIND: kind,
        LABEL_ITERATION: str(iteration),
        LABEL_ATTEMPT: str(attempt),
    }
    job_labels = dict(labels)
    if target.kueue_queue:
        job_labels[KUEUE_QUEUE_LABEL] = target.kueue_queue
    gpus = gpu_count if kind == "train" else min(gpu_count, 1)
    container = _container(kind, spec_json, target, settings, gpus)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": job_labels}
    # ownerReferences cannot cross namespaces: a Job in another execution namespace is found by
    # its labels instead, and the garbage collector would delete it at once if we pointed it at
    # an owner it cannot see.
    if namespace == run_namespace:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "modelsmith.io/v1alpha1",
                "kind": "IterationRun",
                "name": run_name,
                "uid": run_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    spec: dict[str, Any] = {
        "backoffLimit": target.backoff_limit,
        "activeDeadlineSeconds": target.active_deadline_seconds or DEFAULT_DEADLINE_SECONDS,
        "template": {"metadata": {"labels": labels}, "spec": _pod_spec(target, container)},
    }
    if target.kueue_queue:
        # Created suspended, as Kueue expects: Kueue unsuspends it on admission. Its webhook
        # would suspend it too, but a Job that slipped past it would start outside the quota.
        spec["suspend"] = True
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def _container(
    kind: Literal["train", "eval"],
    spec_json: str,
    target: ExecutionTargetSpec,
    settings: OperatorSettings,
    gpus: int,
) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if target.cpu_request:
        requests["cpu"] = target.cpu_request
    if target.memory_request:
        requests["memory"] = target.memory_request
    if gpus:
        requests[target.gpu_resource_name] = str(gpus)
        limits[target.gpu_resource_name] = str(gpus)
    # The admin pins the images on the target; an intake chooses none.
    image = target.trainer_image if kind == "train" else target.evaluator_image
    return {
        "name": kind,
        "image": image,
        "args": ["--spec-json", spec_json],
        "env": _env(target, settings, gpus) + _cpu_env(kind, requests),
        "resources": {k: v for k, v in (("requests", requests), ("limits", limits)) if v},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "work", "mountPath": WORK_DIR}],
    }


def _pod_spec(target: ExecutionTargetSpec, container: dict[str, Any]) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": target.service_account_name,
        # Training and evaluation never call the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "work", "emptyDir": {}}],
    }
    if target.node_selector:
        pod_spec["nodeSelector"] = dict(target.node_selector)
    if target.tolerations:
        pod_spec["tolerations"] = [t.wire() for t in target.tolerations]
    if target.priority_class_name:
        pod_spec["priorityClassName"] = target.priority_class_name
    return pod_spec


def _cpu_env(container: str, requests: dict[str, str]) -> list[dict[str, Any]]:
    """The container's CPU request in whole cores (rounded up), for the images' thread count:
    a pod given one core on a 64-core node that runs 64 math threads is several times slower
    than with one. A limit the images read from their cgroup; a request they cannot."""
    if "cpu" not in requests:
        return []
    ref = {"containerName": container, "resource": "requests.cpu", "divisor": "1"}
    return [{"name": "MODELSMITH_CPU_REQUEST", "valueFrom": {"resourceFieldRef": ref}}]


def _shared_secret(target: ExecutionTargetSpec, settings: OperatorSettings) -> str | None:
    """The Secret all the target's Jobs read their store credential from; None where the target
    names a role for its Jobs: each gets its own, bound after rendering (`jobcredentials`)."""
    if target.object_store.job_role_arn:
        return None
    if target.object_store_secret_ref:
        return target.object_store_secret_ref.name
    return settings.default_object_store_secret


def _env(
    target: ExecutionTargetSpec, settings: OperatorSettings, gpus: int
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "MODELSMITH_GPU_COUNT", "value": str(gpus)},
        {"name": "HOME", "value": WORK_DIR},
        {"name": "HF_HOME", "value": f"{WORK_DIR}/hf"},
    ]
    if settings.job_s3_endpoint:
        env.append({"name": "AWS_ENDPOINT_URL_S3", "value": settings.job_s3_endpoint})
    secret = _shared_secret(target, settings)
    if secret is None:
        return env
    # Credentials travel by reference only: neither the Job spec nor the operator holds them.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    optional = ["AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"]
    if not settings.job_s3_endpoint:
        optional.append("AWS_ENDPOINT_URL_S3")
    for key in optional:
        env.append(
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
            }
        )
    return env


def foreign_job(
    job: Mapping[str, Any], *, run_name: str, run_namespace: str, run_uid: str
) -> str | None:
    """None when `job` is this run's Job; otherwise, in words, what says it is not. Its name
    alone proves nothing (anyone who may create Jobs in the execution namespace may take it):
    the labels render_job sets must name this run, and in the run's own namespace, where an
    ownerReference can point at the run, its controller must be the run too. Words only: the
    message reaches status, which carries no UIDs or Job names."""
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    if LABEL_RUN_UID not in labels:
        return f"it carries no {LABEL_RUN_UID} label"
    if labels[LABEL_RUN_UID] != run_uid:
        return f"its {LABEL_RUN_UID} label names another run"
    if labels.get(LABEL_RUN) != run_name or labels.get(LABEL_RUN_NAMESPACE) != run_namespace:
        return f"its {LABEL_RUN} and {LABEL_RUN_NAMESPACE} labels name another run"
    if meta.get("namespace") == run_namespace:
        owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
        if not owners or owners[0].get("uid") != run_uid or owners[0].get("kind") != "IterationRun":
            return "its controller ownerReference is not this run"
    return None
