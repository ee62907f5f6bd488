"""The Helm chart: it lints clean, renders with default and full values, its schema refuses
typos, its RBAC is least-privilege, and it installs into the local control plane (rendered and
applied server-side, and through `helm install` itself)."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelsmith import chart
from testbed.cluster import Cluster, controlplane_bin_dir

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelsmith"
FULL_VALUES = REPO / "tests" / "chart-values-full.yaml"


def _kube_version() -> str:
    """The test bed's Kubernetes version: `helm template` checks kubeVersion against it."""
    versions = (REPO / "hack" / "controlplane" / "versions.env").read_text()
    match = re.search(r"^KUBE_VERSION=(\S+)$", versions, re.MULTILINE)
    assert match, "versions.env names no KUBE_VERSION"
    return match.group(1)


KUBE_VERSION = _kube_version()
PEERING_CRD = "clusterkopfpeerings.kopf.dev"
METRICS = (
    "modelsmith_phase_transitions_total",
    "modelsmith_phase_duration_seconds",
    "modelsmith_run_score",
    "modelsmith_jobs_launched_total",
    "modelsmith_jobs_failed_total",
    "modelsmith_gate_decisions_total",
    "modelsmith_reconcile_errors_total",
)

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    """The pinned helm the test bed builds (cached outside the checkout)."""
    return controlplane_bin_dir() / "helm"


def _helm(
    helm: Path,
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def render(
    helm: Path,
    *args: str,
    release: str = "modelsmith",
    namespace: str = "modelsmith-system",
    chart_dir: Path = CHART,
) -> list[Doc]:
    out = _helm(
        helm,
        "template",
        release,
        str(chart_dir),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
        *args,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def only(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(docs: list[Doc]) -> Doc:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["operator"]
    result: Doc = pod["containers"][0]
    return result


def env_of(docs: list[Doc]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs)["env"]}


# --- lint and render -------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_lint_is_clean(helm: Path, values: Path | None) -> None:
    extra = ["--values", str(values)] if values else []
    result = _helm(helm, "lint", "--strict", str(CHART), *extra)
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def test_default_render(helm: Path) -> None:
    docs = render(helm)
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == sorted(
        {
            "ClusterKopfPeering",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "CustomResourceDefinition",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
            *(
                ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
                if (REPO / chart.ADMISSION_TEMPLATE).exists()
                else []
            ),
        }
    )
    assert not [d for d in docs if d["kind"] == "ServiceMonitor"]

    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "modelsmith-operator"
    assert pod["affinity"]["podAntiAffinity"], "replicas should spread over nodes by default"
    operator = container(docs)
    assert operator["image"] == "modelsmith/operator:0.1.0"
    assert operator["args"] == [
        "operator",
        "--peering=modelsmith",
        "--liveness=http://0.0.0.0:8081/healthz",
    ]
    assert operator["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert operator["resources"]["requests"] and operator["resources"]["limits"]
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081} in operator["ports"]
    env = env_of(docs)
    assert env["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "modelsmith-operator-object-store", "key": "AWS_ACCESS_KEY_ID"}
    }
    # The Jobs' credential is another Secret: the operator's never reaches a Job.
    assert env["MODELSMITH_OBJECT_STORE_SECRET"] == "modelsmith-object-store"
    assert "AWS_ENDPOINT_URL_S3" not in env

    crd = only(docs, "CustomResourceDefinition", PEERING_CRD)
    assert crd["spec"]["scope"] == "Cluster" and crd["spec"]["group"] == "kopf.dev"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    peering = only(docs, "ClusterKopfPeering", "modelsmith")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert "post-install" in peering["metadata"]["annotations"]["helm.sh/hook"]

    dashboard = only(docs, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["modelsmith.json"])["uid"] == "modelsmith"


def test_full_values_render(helm: Path) -> None:
    docs = render(helm, "--values", str(FULL_VALUES), namespace="ml-platform")
    monitor = only(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "interval": "15s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ml-platform"]}

    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-services": "true"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "ml-platform"
    operator = container(docs)
    assert operator["image"] == "registry.example.com/platform/modelsmith-operator:0.1.0-rc1"
    assert operator["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }
    assert "--peering=modelsmith-prod" in operator["args"]
    assert "--liveness=http://0.0.0.0:9091/healthz" in operator["args"]
    env = env_of(docs)
    assert env["AWS_ENDPOINT_URL_S3"] == "https://minio.storage.svc:9000"
    assert env["MODELSMITH_JOB_S3_ENDPOINT"] == "https://minio.storage.svc:9000"
    assert env["MODELSMITH_BUCKET"] == "ml-evidence"
    assert env["MODELSMITH_METRICS_PORT"] == "9090"
    assert env["MODELSMITH_TRAINER_IMAGE"].endswith("modelsmith-trainer:0.1.0-rc1")
    assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "ml-evidence-credentials"

    # installCRD false: another kopf operator's CRD is used; the peering object is still ours.
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert only(docs, "ClusterKopfPeering", "modelsmith-prod")
    binding = only(docs, "ClusterRoleBinding", "modelsmith-approver")
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "domain-owners"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "engineering-owners"},
    ]
    assert only(docs, "ConfigMap")["metadata"]["labels"]["team"] == "ml-platform"
    assert only(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    # The platform team's target, its images defaulted from jobImages.
    target = only(docs, "ExecutionTarget", "ml-platform-gpu")
    assert target["metadata"]["labels"]["app.kubernetes.io/name"] == "modelsmith"
    assert target["spec"]["trainerImage"].endswith("modelsmith-trainer:0.1.0-rc1")
    assert target["spec"]["evaluatorImage"].endswith("modelsmith-evaluator:0.1.0-rc1")
    assert (target["spec"]["maxGpus"], target["spec"]["jobNamespace"]) == (4, "training")


def test_optional_parts_switch_off(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "grafanaDashboard.enabled=false",
        "--set",
        "replicas=1",
        "--set",
        "admissionPolicy.enabled=false",
        "--set",
        "rbac.userRoles=false",
    )
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ConfigMap", "PodDisruptionBudget", "ValidatingAdmissionPolicy"}
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"] == [
        "modelsmith-operator",
        "modelsmith-operator-workloads",
    ]


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("replicass=3", "additional properties 'replicass' not allowed"),
        ("metrics.port=http", "/metrics/port"),
        ("objectStore.endpoint=minio:9000", "/objectStore/endpoint"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("objectStore.secret=hunter2", "additional properties 'secret' not allowed"),
        ("metrics.serviceMonitor.enable=true", "additional properties 'enable' not allowed"),
    ],
)
def test_schema_refuses_typos_and_wrong_types(helm: Path, setting: str, complaint: str) -> None:
    result = _helm(
        helm,
        "template",
        "modelsmith",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set",
        setting,
        check=False,
    )
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


# --- RBAC -------------------------------------------------------------------------------------

# What the operator does, resource by resource; anything more is a finding.
OPERATOR_RULES = {
    ("modelsmith.io", "benchmarks"): {"get", "list", "watch"},
    ("modelsmith.io", "modelintakes"): {"get", "list", "watch"},
    ("modelsmith.io", "iterationruns"): {"get", "list", "watch"},
    ("modelsmith.io", "promotiongates"): {"get", "list", "watch", "create"},
    ("modelsmith.io", "approverpolicies"): {"get", "list"},
    ("modelsmith.io", "executiontargets"): {"get", "list"},
    ("modelsmith.io", "benchmarks/status"): {"get", "patch"},
    ("modelsmith.io", "modelintakes/status"): {"get", "patch"},
    ("modelsmith.io", "iterationruns/status"): {"get", "patch"},
    ("modelsmith.io", "promotiongates/status"): {"get", "patch"},
    ("modelsmith.io", "iterationruns/finalizers"): {"update"},
    ("batch", "jobs"): {"get", "list", "watch"},
    ("jobset.x-k8s.io", "jobsets"): {"get", "list", "watch"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "configmaps"): {"get"},
    ("", "namespaces"): {"get"},
    ("", "serviceaccounts"): {"get"},
    ("", "nodes"): {"get", "list"},
    # Kueue: read only, to report a queued Job's standing and check an intake's LocalQueue.
    ("kueue.x-k8s.io", "workloads"): {"list"},
    ("kueue.x-k8s.io", "localqueues"): {"get"},
    ("kueue.x-k8s.io", "clusterqueues"): {"get"},
    ("visibility.kueue.x-k8s.io", "localqueues/pendingworkloads"): {"get"},
    ("", "events"): {"create"},
    ("events.k8s.io", "events"): {"create"},
    ("kopf.dev", "clusterkopfpeerings"): {"get", "list", "watch", "patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}


def _grants(role: Doc) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def test_operator_role_is_least_privilege(helm: Path) -> None:
    docs = render(helm, "--values", str(FULL_VALUES))
    roles = [d for d in docs if d["kind"] == "ClusterRole"]
    for role in roles:
        assert "*" not in json.dumps(role["rules"]), f"wildcard in {role['metadata']['name']}"
        for rule in role["rules"]:
            # Secrets only in the workloads role, create only (checked below): a Job's own store
            # credential, never read back.
            if role["metadata"]["name"] != "modelsmith-operator-workloads":
                assert "secrets" not in rule["resources"], role["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
    operator = only(docs, "ClusterRole", "modelsmith-operator")
    assert _grants(operator) == OPERATOR_RULES
    # Launching and moving pointers only where bound, per namespace (operator.workloadNamespaces).
    workloads = only(docs, "ClusterRole", "modelsmith-operator-workloads")
    assert _grants(workloads) == WORKLOAD_RULES
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["ml-gpu-pool", "ml-serving"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == "modelsmith-operator-workloads"
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "modelsmith-operator",
                "namespace": "modelsmith-system",
            }
        ]
    assert not [
        d for d in docs if d["kind"] == "ClusterRoleBinding" and "workloads" in json.dumps(d)
    ]
    # People never get write access to status, nor create gates (the operator does).
    for name in PERSONAS:
        grants = _grants(only(docs, "ClusterRole", name))
        assert not any(resource.endswith("/status") for _, resource in grants), name
        assert "create" not in grants.get(("modelsmith.io", "promotiongates"), set()), name


WORKLOAD_RULES = {
    ("batch", "jobs"): {"create", "delete"},
    ("jobset.x-k8s.io", "jobsets"): {"create", "delete"},
    ("", "configmaps"): {"patch"},
    ("", "secrets"): {"create"},
}
PERSONAS = (
    "modelsmith-viewer",
    "modelsmith-editor",
    "modelsmith-approver",
    "modelsmith-platform-admin",
    "modelsmith-domain-owner",
    "modelsmith-run-operator",
    "modelsmith-reviewer",
)


def test_only_viewer_and_editor_aggregate_and_edit_never_writes_the_boundary(helm: Path) -> None:
    docs = render(helm)
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    assert set(PERSONAS) <= set(roles)
    aggregated = {
        name: sorted(k for k in role["metadata"]["labels"] if k.startswith("rbac.authorization"))
        for name, role in roles.items()
        if any(k.startswith("rbac.authorization") for k in role["metadata"]["labels"])
    }
    assert set(aggregated) == {"modelsmith-viewer", "modelsmith-editor"}
    edit = _grants(roles["modelsmith-editor"])
    for kind in ("executiontargets", "approverpolicies", "promotiongates"):
        assert ("modelsmith.io", kind) not in edit, kind


# --- dashboard --------------------------------------------------------------------------------


def test_dashboard_charts_every_metric() -> None:
    dashboard = json.loads((CHART / "dashboards" / "modelsmith.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in METRICS:
        assert metric in exprs, metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {
        "datasource",
        "namespace",
        "run",
    }
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])


# --- the admission template (written by `modelsmith crds` through modelsmith.chart) ---------------


def _chart_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "modelsmith"
    shutil.copytree(CHART, copy)
    return copy


def test_admission_template_renders_manifests_verbatim(helm: Path, tmp_path: Path) -> None:
    manifests = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "example-approvals", "labels": {"team": "governance"}},
            "spec": {
                "failurePolicy": "Fail",
                "validations": [
                    {"expression": "true", "message": "literal {{ braces }} stay literal"}
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "example-approvals"},
            "spec": {"policyName": "example-approvals", "validationActions": ["Deny"]},
        },
    ]
    copy = _chart_copy(tmp_path)
    (copy / "templates" / "admission-policy.yaml").write_text(
        chart.render_admission_template(manifests)
    )
    # Only the template under test: the other generated policies are rendered the same way.
    (copy / "templates" / "request-policies.yaml").unlink()
    docs = render(helm, chart_dir=copy)
    policy = only(docs, "ValidatingAdmissionPolicy", "example-approvals")
    assert policy["spec"] == manifests[0]["spec"]
    assert policy["metadata"]["labels"]["team"] == "governance"
    assert policy["metadata"]["labels"]["app.kubernetes.io/name"] == "modelsmith"
    binding = only(docs, "ValidatingAdmissionPolicyBinding", "example-approvals")
    assert binding["spec"] == manifests[1]["spec"]
    off = render(helm, "--set", "admissionPolicy.enabled=false", chart_dir=copy)
    assert not [d for d in off if d["kind"].startswith("ValidatingAdmissionPolicy")]


def test_admission_template_is_current() -> None:
    assert not chart.admission_template_stale(REPO), "run `modelsmith crds` to regenerate"


# --- on the local control plane ---------------------------------------------------------------


def _kubectl_apply(cluster: Cluster, docs: list[Doc], *extra: str) -> None:
    if docs:
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=modelsmith-chart-test",
            *extra,
            "-f",
            "-",
            input=yaml.safe_dump_all(docs),
        )


def _served(cluster: Cluster, group_version: str) -> bool:
    return cluster.kubectl("get", "--raw", f"/apis/{group_version}", check=False).returncode == 0


@pytest.fixture
def release(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A release name unique to the test; its cluster-scoped objects are removed afterwards."""
    name = f"ms{secrets.token_hex(3)}"
    yield name
    for kind in ("clusterrolebinding", "clusterrole"):
        cluster.kubectl(
            "delete",
            kind,
            "--ignore-not-found",
            "--wait=false",
            "-l",
            f"app.kubernetes.io/instance={name}",
        )


def test_helm_install_upgrade_uninstall(
    cluster: Cluster, namespace: str, release: str, helm: Path, tmp_path: Path
) -> None:
    """The real thing: helm install (no operator pods: replicas 0), upgrade, uninstall. On a
    cluster without the kopf CRD (the first install of the session) this also proves the hook
    creates the peering object of a kind the same install introduced."""
    env = {**cluster.env(), "HOME": str(tmp_path)}
    had_crd = cluster.kubectl("get", "crd", PEERING_CRD, check=False).returncode == 0
    peering = f"{release}-peering"
    common = [
        "--namespace",
        namespace,
        "--set",
        "replicas=0",
        "--set",
        f"peering.name={peering}",
        "--set",
        "admissionPolicy.enabled=false",
    ]
    try:
        _helm(helm, "install", release, str(CHART), *common, "--wait", "--timeout", "60s", env=env)
        assert cluster.kubectl("get", "clusterkopfpeering", peering, check=False).returncode == 0
        if not had_crd:
            crd = json.loads(cluster.kubectl("get", "crd", PEERING_CRD, "-o", "json").stdout)
            assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
        cluster.kubectl("get", "clusterrole", f"{release}-modelsmith-operator")
        cluster.kubectl("get", "deployment", f"{release}-modelsmith-operator", "-n", namespace)

        # Peers' keep-alives survive an upgrade (the hook is not re-run for an existing object).
        cluster.kubectl(
            "patch",
            "clusterkopfpeering",
            peering,
            "--type=merge",
            "-p",
            json.dumps({"status": {"replica-a": {"priority": 7, "lifetime": 60}}}),
        )
        _helm(helm, "upgrade", release, str(CHART), *common, env=env)
        status = json.loads(
            cluster.kubectl("get", "clusterkopfpeering", peering, "-o", "json").stdout
        ).get("status", {})
        assert "replica-a" in status
    finally:
        _helm(helm, "uninstall", release, "--namespace", namespace, check=False, env=env)
        cluster.kubectl("delete", "clusterkopfpeering", peering, "--ignore-not-found")
    # The CRD stays (other operators' peerings may live in it); the release's roles go.
    cluster.kubectl("get", "crd", PEERING_CRD)
    gone = cluster.kubectl("get", "clusterrole", f"{release}-modelsmith-operator", check=False)
    assert gone.returncode != 0


def test_rendered_chart_applies_server_side(
    cluster: Cluster, namespace: str, release: str, helm: Path
) -> None:
    docs = render(helm, "--include-crds", release=release, namespace=namespace)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert {d["metadata"]["name"] for d in crds} >= {
        "benchmarks.modelsmith.io",
        "modelintakes.modelsmith.io",
        "iterationruns.modelsmith.io",
        "promotiongates.modelsmith.io",
    }
    _kubectl_apply(cluster, crds)
    for crd in crds:
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}"
        )
    admission = [d for d in docs if d["kind"].startswith("ValidatingAdmissionPolicy")]
    rest = [d for d in docs if d["kind"] != "CustomResourceDefinition" and d not in admission]
    deployment = [d for d in rest if d["kind"] == "Deployment"]
    rest = [d for d in rest if d["kind"] != "Deployment"]
    # The session's crds fixture installed the same policies (crds/ holds them too) and later
    # tests rely on them: only what this test added is removed afterwards.
    added = [
        d
        for d in admission
        if cluster.kubectl("get", d["kind"], d["metadata"]["name"], check=False).returncode != 0
    ]
    try:
        _kubectl_apply(cluster, rest)
        _kubectl_apply(cluster, admission)
        # Validated by the API server in full, but not run: its pods would start a second
        # operator inside the test bed.
        _kubectl_apply(cluster, deployment, "--dry-run=server")
        assert (
            cluster.kubectl("get", "clusterkopfpeering", "modelsmith", check=False).returncode == 0
        )
        _check_operator_permissions(cluster, namespace, release)
    finally:
        for doc in added:
            cluster.kubectl("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found")


def _check_operator_permissions(cluster: Cluster, namespace: str, release: str) -> None:
    sa = f"system:serviceaccount:{namespace}:{release}-modelsmith-operator"

    def can(*args: str) -> bool:
        result = cluster.kubectl("auth", "can-i", *args, "--as", sa, check=False)
        assert result.stdout.strip() in ("yes", "no"), result.stderr
        return result.stdout.strip() == "yes"

    other = "some-execution-namespace"
    allowed = [
        ("watch", "jobs.batch", "-n", other),
        ("get", "configmaps", "-n", other),
        ("watch", "pods", "-n", other),
        ("patch", "iterationruns.modelsmith.io", "--subresource=status", "-n", other),
        ("patch", "promotiongates.modelsmith.io", "--subresource=status", "-n", other),
        ("create", "promotiongates.modelsmith.io", "-n", other),
        ("list", "benchmarks.modelsmith.io", "--all-namespaces"),
        ("create", "events", "-n", other),
        ("get", "serviceaccounts", "-n", other),
        ("list", "nodes"),
        ("patch", "clusterkopfpeerings.kopf.dev"),
    ]
    denied = [
        # Not bound there (operator.workloadNamespaces is empty by default).
        ("create", "jobs.batch", "-n", other),
        ("delete", "jobs.batch", "-n", other),
        ("patch", "configmaps", "-n", other),
        ("create", "configmaps", "-n", other),
        ("get", "secrets", "-n", namespace),
        ("list", "secrets", "--all-namespaces"),
        ("watch", "secrets", "-n", other),
        ("patch", "iterationruns.modelsmith.io", "-n", other),
        ("update", "promotiongates.modelsmith.io", "-n", other),
        ("delete", "promotiongates.modelsmith.io", "-n", other),
        ("create", "pods", "-n", other),
        ("deletecollection", "jobs.batch", "-n", other),
        ("delete", "configmaps", "-n", other),
        ("create", "rolebindings.rbac.authorization.k8s.io", "-n", other),
        ("impersonate", "users"),
        ("*", "*", "--all-namespaces"),
    ]
    wrong = [" ".join(a) for a in allowed if not can(*a)]
    wrong += [f"NOT {' '.join(a)}" for a in denied if can(*a)]
    assert not wrong, f"operator service account permissions differ: {wrong}"


def test_full_values_render_is_accepted_by_the_api_server(
    cluster: Cluster, namespace: str, release: str, helm: Path
) -> None:
    """Every object of the fully configured chart passes server-side validation (dry run);
    the ServiceMonitor only where the Prometheus operator's CRD is installed."""
    docs = render(
        helm,
        "--include-crds",
        "--values",
        str(FULL_VALUES),
        "--set",
        "peering.installCRD=true",
        release=release,
        namespace=namespace,
    )
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    _kubectl_apply(cluster, crds)
    for crd in crds:
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}"
        )
    # The RoleBindings of operator.workloadNamespaces go into namespaces that must exist.
    for bound in {d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"}:
        cluster.kubectl("create", "namespace", bound, check=False)
    checked = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    if not _served(cluster, "monitoring.coreos.com/v1"):
        checked = [d for d in checked if d["kind"] != "ServiceMonitor"]
    # The priority class the full values name is a built-in one, so the Deployment validates.
    _kubectl_apply(cluster, checked, "--dry-run=server")
