"""The threat model's promises, checked: least-privilege RBAC with no access to Secrets, locked
down training and evaluation Jobs that get credentials only by reference, and approvals decided
by the API server.

Who may sign a PromotionGate is tested against a real API server in test_admission.py (each
approver only for their own role and in their own name, mallory refused); here only that the
policy ships as a hard Deny is checked, so an install cannot quietly downgrade it to a warning.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelsmith.api import samples
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.controllers.run.job_manifest import render_job
from modelsmith.runtime.settings import OperatorSettings
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelsmith"
FULL_VALUES = REPO / "tests" / "chart-values-full.yaml"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# Verbs that hand out more than the holder has, or let it act as someone else.
ESCALATING = {"escalate", "bind", "impersonate", "*"}
OUR_KINDS = ("benchmarks", "modelintakes", "iterationruns", "promotiongates")
SENTINEL_SECRET = "sentinel-secret-" + "9f3a" * 6

Doc = dict[str, Any]


# ----- the chart's RBAC ----------------------------------------------------------------------


def _kube_version() -> str:
    versions = (REPO / "hack" / "controlplane" / "versions.env").read_text()
    match = re.search(r"^KUBE_VERSION=(\S+)$", versions, re.MULTILINE)
    assert match
    return match.group(1)


def _render(cluster: Cluster, release: str, namespace: str, *args: str) -> list[Doc]:
    import subprocess

    out = subprocess.run(
        [
            str(cluster.bin_dir / "helm"),
            "template",
            release,
            str(CHART),
            "--namespace",
            namespace,
            "--kube-version",
            _kube_version(),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _grants(role: Doc) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role.get("rules") or []:
        assert not rule.get("nonResourceURLs"), role["metadata"]["name"]
        assert not rule.get("resourceNames") or rule.get("resources"), role["metadata"]["name"]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


@pytest.mark.parametrize("values", [(), ("--values", str(FULL_VALUES))], ids=["default", "full"])
def test_chart_roles_have_no_wildcards_and_read_no_secrets(
    cluster: Cluster, values: tuple[str, ...]
) -> None:
    docs = _render(cluster, "modelsmith", "modelsmith-system", *values)
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        name = role["metadata"]["name"]
        for (group, resource), verbs in _grants(role).items():
            assert "*" not in (group, resource), f"{name}: wildcard in {group}/{resource}"
            assert not verbs & ESCALATING, f"{name}: {sorted(verbs & ESCALATING)} on {resource}"
            if resource.split("/")[0] == "secrets":
                # Only a Job's own store credential, created where the workloads role is
                # bound and never read back, changed or deleted (controllers/run/jobcredentials.py).
                assert name.endswith("-operator-workloads"), f"{name}: {verbs} on secrets"
                assert (resource, verbs) == ("secrets", {"create"}), f"{name}: {verbs} on secrets"
            # No way into a pod or the node from the API either.
            assert resource not in (
                "pods/exec",
                "pods/attach",
                "pods/portforward",
                "nodes/proxy",
            ), f"{name}: {resource}"
    operator = next(r for r in roles if r["metadata"]["name"] == "modelsmith-operator")
    grants = _grants(operator)
    for kind in OUR_KINDS:
        # People own spec and annotations: the operator can neither edit a spec nor sign an
        # approval annotation, only write status.
        assert not grants.get(("modelsmith.io", kind), set()) & {"update", "patch", "delete"}, kind
        assert grants[("modelsmith.io", f"{kind}/status")] <= {"get", "patch"}, kind
    assert grants[("", "pods")] <= {"get", "list", "watch"}
    assert "create" not in grants[("", "pods")]
    assert grants.get(("", "nodes"), set()) <= {"get", "list", "watch"}
    # Bound to the operator's own ServiceAccount, and only there.
    bindings = [
        d
        for d in docs
        if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and d["roleRef"]["name"] == "modelsmith-operator"
    ]
    assert [s["kind"] for b in bindings for s in b["subjects"]] == ["ServiceAccount"]


@pytest.fixture
def installed_rbac(cluster: Cluster, namespace: str) -> Iterator[str]:
    """The chart's ServiceAccount, ClusterRoles and bindings applied under a release name of
    its own; yields the operator's ServiceAccount as the API server names it."""
    release = f"sec-{secrets.token_hex(3)}"
    docs = [
        d
        for d in _render(cluster, release, namespace)
        if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    manifest = "\n---\n".join(yaml.safe_dump(d) for d in docs)
    cluster.kubectl("apply", "-f", "-", input=manifest)
    account = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    try:
        yield f"system:serviceaccount:{namespace}:{account}"
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "-f", "-", input=manifest, check=False)


def _can(cluster: Cluster, who: str, verb: str, resource: str, namespace: str | None) -> bool:
    where = ["-n", namespace] if namespace else ["--all-namespaces"]
    resource, _, sub = resource.partition("/")
    if sub:
        where.append(f"--subresource={sub}")
    out = cluster.kubectl("auth", "can-i", verb, resource, "--as", who, *where, check=False)
    answer = out.stdout.strip()
    assert answer in ("yes", "no"), out.stderr
    return answer == "yes"


def test_operator_account_cannot_read_secrets_on_the_api_server(
    cluster: Cluster, crds: Cluster, namespace: str, installed_rbac: str
) -> None:
    who = installed_rbac
    # The binding is live: what the operator needs is allowed...
    wait_for(
        lambda: _can(cluster, who, "patch", "iterationruns.modelsmith.io/status", namespace),
        30,
        "the operator's ClusterRoleBinding to take effect",
    )
    assert _can(cluster, who, "watch", "jobs.batch", namespace)
    # ...and the rest is not, anywhere.
    for scope in (namespace, None):
        for verb in ("get", "list", "watch"):
            assert not _can(cluster, who, verb, "secrets", scope), f"{verb} secrets"
    for verb, resource in (
        ("create", "pods"),
        ("create", "pods/exec"),
        # Only where a platform admin bound its workloads role (operator.workloadNamespaces).
        ("create", "jobs.batch"),
        ("delete", "jobs.batch"),
        ("patch", "configmaps"),
        ("update", "iterationruns.modelsmith.io"),
        ("patch", "promotiongates.modelsmith.io"),
        ("patch", "modelintakes.modelsmith.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("impersonate", "users"),
        ("delete", "namespaces"),
    ):
        assert not _can(cluster, who, verb, resource, namespace), f"{verb} {resource}"


# ----- the Jobs the operator creates ---------------------------------------------------------


def assert_locked_down(job: Doc, *, leaked: tuple[str, ...] = ()) -> None:
    """A training or evaluation Job (or its pod) as the threat model describes it."""
    template = job["spec"]["template"]["spec"] if job["kind"] == "Job" else job["spec"]
    assert template["automountServiceAccountToken"] is False
    assert template["securityContext"]["runAsNonRoot"] is True
    assert template["securityContext"].get("runAsUser", 0) != 0
    assert template["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not template.get(key), key
    for volume in template.get("volumes") or []:
        assert set(volume) <= {"name", "emptyDir"}, f"volume {volume['name']}: {volume}"
    containers = template["containers"] + (template.get("initContainers") or [])
    for container in containers:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert not context["capabilities"].get("add")
        assert not context.get("privileged")
        assert context.get("readOnlyRootFilesystem") is True
        assert not container.get("envFrom"), "whole Secrets or ConfigMaps as environment"
        env = {e["name"]: e for e in container.get("env") or []}
        for name in CREDENTIALS:
            assert "value" not in env[name], f"{name} given as a literal"
            assert set(env[name]["valueFrom"]) == {"secretKeyRef"}, name
        for e in env.values():
            if "secretKeyRef" in (e.get("valueFrom") or {}):
                assert e["name"].startswith("AWS_"), f"a Secret reaches {e['name']}"
    text = json.dumps(job)
    for value in leaked:
        assert value not in text, "a credential's value is in the Job"


_IMAGES = {"trainerImage": "modelsmith/trainer:1", "evaluatorImage": "modelsmith/evaluator:1"}
TARGETS = {
    "cpu-default-secret": ExecutionTargetSpec.model_validate(
        {"namespaceSelector": {}, "serviceAccountName": "runner", "maxGpus": 0, **_IMAGES}
    ),
    "gpus-own-secret": ExecutionTargetSpec.model_validate(
        {
            **_IMAGES,
            "namespaceSelector": {"matchLabels": {"team": "support"}},
            "serviceAccountName": "runner",
            "maxGpus": 4,
            "gpuResourceName": "amd.com/gpu",
            "objectStoreSecretRef": {"name": "team-store"},
            "kueueQueue": "gpu-queue",
            "jobNamespace": "training",
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "batch-low",
            "backoffLimit": 2,
            "cpuRequest": "1500m",
        }
    ),
}


@pytest.mark.parametrize("kind", ["train", "eval"])
@pytest.mark.parametrize("target", list(TARGETS), ids=list(TARGETS))
def test_rendered_jobs_are_locked_down(
    kind: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator itself holds credentials in its environment; none may reach a Job spec.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SENTINEL_SECRET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sentinel-access-key")
    monkeypatch.setenv("MODELSMITH_JOB_S3_ENDPOINT", "https://store.example:9000")
    job = render_job(
        name="support-run-i1-train-a1",
        run_name="support-run",
        run_namespace="support",
        run_uid="0000-uid",
        kind="train" if kind == "train" else "eval",
        iteration=1,
        attempt=1,
        spec_json='{"output": "s3://modelsmith/runs/support/support-run/iter-1/candidate/"}',
        target=TARGETS[target],
        gpu_count=TARGETS[target].max_gpus,
        settings=OperatorSettings(),
    )
    assert_locked_down(job, leaked=(SENTINEL_SECRET, "sentinel-access-key"))
    secret = TARGETS[target].object_store_secret_ref
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {secret.name if secret else "modelsmith-object-store"}


@pytest.fixture
def placeholder_model(object_store: ObjectStore) -> str:
    uri = f"s3://{object_store.bucket}/security/models/placeholder/"
    object_store.client().put_object(
        Bucket=object_store.bucket, Key=uri.split("/", 3)[3] + "config.json", Body=b"{}"
    )
    return uri


def test_jobs_a_run_launches_are_locked_down(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    placeholder_model: str,
    execution_target: Callable[..., str],
) -> None:
    cluster.kubectl("create", "serviceaccount", "modelsmith-runner", "-n", namespace)
    store_secret = object_store.job_secret(namespace)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(store_secret))
    intake = samples.intake(namespace=namespace)
    intake["spec"]["baseModel"]["uri"] = placeholder_model
    intake["spec"]["executionTargetRef"]["name"] = execution_target(
        objectStoreSecretRef={"name": "modelsmith-object-store"},
        # Only the Job's shape matters here, not what it computes.
        evaluatorImage="modelsmith/noop:1",
    )
    for doc in (samples.benchmark(namespace=namespace), intake, samples.run(namespace=namespace)):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    def first_job() -> Doc | None:
        out = cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout
        items: list[Doc] = json.loads(out)["items"]
        return items[0] if items else None

    job = wait_for(first_job, timeout=90, interval=1, description="the run's first Job")
    job = {**job, "kind": "Job"}
    assert_locked_down(job, leaked=(object_store.job_secret_key, object_store.job_access_key))

    def its_pod() -> Doc | None:
        out = cluster.kubectl(
            "get",
            "pods",
            "-n",
            namespace,
            "-l",
            f"job-name={job['metadata']['name']}",
            "-o",
            "json",
        ).stdout
        items: list[Doc] = json.loads(out)["items"]
        return items[0] if items else None

    # The pod as admission left it: no service-account token was mounted after all.
    pod = {**wait_for(its_pod, timeout=60, interval=1, description="the Job's pod"), "kind": "Pod"}
    assert_locked_down(pod, leaked=(object_store.job_secret_key, object_store.job_access_key))
    mounts = [
        m["mountPath"] for c in pod["spec"]["containers"] for m in c.get("volumeMounts") or []
    ]
    assert not [m for m in mounts if "serviceaccount" in m], mounts


# ----- approvals -----------------------------------------------------------------------------


def test_the_approval_policy_ships_as_a_hard_deny(cluster: Cluster) -> None:
    crds = [
        d
        for path in sorted((REPO / "crds").glob("*polic*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
    ]
    shipped = {"crds/": crds, "chart": _render(cluster, "modelsmith", "modelsmith-system")}
    for where, docs in shipped.items():
        policies = {
            d["metadata"]["name"]: d for d in docs if d and d["kind"] == "ValidatingAdmissionPolicy"
        }
        bindings = {
            d["spec"]["policyName"]: d
            for d in docs
            if d and d["kind"] == "ValidatingAdmissionPolicyBinding"
        }
        assert set(bindings) == set(policies), where
        for name, policy in policies.items():
            assert policy["spec"]["failurePolicy"] == "Fail", (where, name)
            assert bindings[name]["spec"]["validationActions"] == ["Deny"], (where, name)
        for name, operations in (
            ("modelsmith-promotiongate-approvals", {"CREATE", "UPDATE"}),
            ("modelsmith-gate-creation", {"CREATE"}),
        ):
            rules = policies[name]["spec"]["matchConstraints"]["resourceRules"]
            assert any(
                "promotiongates" in r["resources"] and operations <= set(r["operations"])
                for r in rules
            ), (where, name)
