"""Execution targets as a namespace editor meets them, against the real API server: the chart's
editor role (aggregated into `edit`) in one namespace, as the user mallory.

- an intake naming a target whose namespaceSelector does not select its namespace is refused at
  apply, naming the target and the rule (ValidatingAdmissionPolicy
  modelsmith-intake-execution-target), on create and on update;
- so is an intake asking for more GPUs than the target's maxGpus;
- the editor can neither create nor change an ExecutionTarget (RBAC: they are cluster-scoped and
  only the platform admin writes them);
- the same user succeeds with a target that admits the namespace;
- a target edited after the intake was admitted (the namespace taken out of its selector, then
  the target deleted) blocks the run's next launch with a governance reason naming the target
  and the rule, no Job is created meanwhile, and the run resumes when the target is restored.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelsmith.api import samples
from modelsmith.targets import admission
from testbed import rbac
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
EDITOR = "mallory"  # no groups: only what the RoleBinding below gives

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def policy(crds: Cluster) -> Cluster:
    """The policy as `modelsmith crds` ships it (applied again: another test may have removed
    the copy installed with the CRDs), type-checked by the API server without warnings."""
    crds.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=admission.policy_yaml()
    )

    def checked() -> Doc | None:
        out = crds.kubectl("get", "validatingadmissionpolicy", admission.POLICY_NAME, "-o", "json")
        found = json.loads(out.stdout)
        status: Doc = found.get("status") or {}
        current = status.get("observedGeneration") == found["metadata"]["generation"]
        return status if current and "typeChecking" in status else None

    report = wait_for(checked, 60, "type checking of the execution-target policy")
    assert report["typeChecking"].get("expressionWarnings", []) == []
    return crds


def _chart_user_roles(cluster: Cluster, release: str) -> list[Doc]:
    versions = (REPO / "hack" / "controlplane" / "versions.env").read_text()
    match = re.search(r"^KUBE_VERSION=v?(\S+)$", versions, re.MULTILINE)
    assert match
    out = subprocess.run(
        [
            str(cluster.bin_dir / "helm"),
            "template",
            release,
            str(REPO / "charts" / "modelsmith"),
            "--kube-version",
            match.group(1),
            "--show-only",
            "templates/rbac.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    # The people's roles; the operator's own role and binding are not the editor's business.
    return [
        d
        for d in docs
        if d["kind"] == "ClusterRole" and not d["metadata"]["name"].endswith("-operator")
    ]


@pytest.fixture
def editor(policy: Cluster, namespace: str) -> Iterator[str]:
    """mallory with `edit` in the test namespace, `edit` carrying the chart's editor role."""
    release = f"xt{secrets.token_hex(3)}"
    roles = _chart_user_roles(policy, release)
    manifest = "\n---\n".join(yaml.safe_dump(d) for d in roles)
    policy.kubectl("apply", "-f", "-", input=manifest)
    binding = rbac.binding(namespace, "editors", [EDITOR], cluster_role="edit")
    policy.kubectl("apply", "-f", "-", input=json.dumps(binding))

    def can_write_intakes() -> bool:
        out = policy.kubectl(
            "auth", "can-i", "create", "modelintakes.modelsmith.io", "-n", namespace,
            as_user=EDITOR, check=False,
        )  # fmt: skip
        return out.stdout.strip() == "yes"

    wait_for(can_write_intakes, 60, "the chart's editor role aggregated into edit")
    try:
        yield namespace
    finally:
        policy.kubectl("delete", "--ignore-not-found", "-f", "-", input=manifest, check=False)


def _intake(
    namespace: str, target: str, gpus: int | None = 0, nodes: int | None = None
) -> Doc:
    body = samples.intake(namespace=namespace)
    ref: Doc = {"name": target}
    if gpus is not None:
        ref["gpuCount"] = gpus
    if nodes is not None:
        ref["nodeCount"] = nodes
    body["spec"]["executionTargetRef"] = ref
    return body


def _apply(cluster: Cluster, body: Doc, *extra: str, user: str | None = EDITOR) -> Any:
    return cluster.kubectl(
        "apply", *extra, "-f", "-", input=json.dumps(body), as_user=user, check=False
    )


def _refused_once_seen(cluster: Cluster, body: Doc, words: str) -> str:
    """The refusal of `body` (applied as the editor), once the policy's view of targets has
    caught up with a target just created; returns the API server's message."""

    def refused() -> str | None:
        out = _apply(cluster, body, "--dry-run=server")
        return out.stderr if out.returncode != 0 and words in out.stderr else None

    wait_for(refused, 30, f"the policy refusing with {words!r}")
    out = _apply(cluster, body)
    assert out.returncode != 0, "the intake was admitted"
    return str(out.stderr)


def test_an_intake_naming_a_target_that_does_not_admit_its_namespace_is_refused(
    policy: Cluster, editor: str, execution_target: Callable[..., str]
) -> None:
    other = execution_target(match_labels={"team": f"nobody-{secrets.token_hex(3)}"})
    message = _refused_once_seen(policy, _intake(editor, other), "does not admit")
    assert f"ExecutionTarget {other} does not admit namespace {editor}" in message
    assert "spec.namespaceSelector" in message
    assert "modelsmith-intake-execution-target" in message
    assert not _exists(policy, editor)


def test_an_intake_asking_for_more_gpus_than_the_target_allows_is_refused(
    policy: Cluster, editor: str, execution_target: Callable[..., str]
) -> None:
    small = execution_target(maxGpus=2)
    cluster = policy
    assert _apply(cluster, _intake(editor, small, gpus=2)).returncode == 0
    message = _refused_once_seen(cluster, _intake(editor, small, gpus=3), "exceeds")
    assert f"spec.executionTargetRef.gpuCount 3 exceeds ExecutionTarget {small}'s " in message
    assert "spec.maxGpus 2" in message and "never widen" in message


def test_an_intake_asking_for_more_nodes_than_the_target_allows_is_refused(
    policy: Cluster, editor: str, execution_target: Callable[..., str]
) -> None:
    small = execution_target(maxTrainingNodes=2)
    assert _apply(policy, _intake(editor, small, nodes=2)).returncode == 0
    message = _refused_once_seen(policy, _intake(editor, small, nodes=3), "exceeds")
    assert f"spec.executionTargetRef.nodeCount 3 exceeds ExecutionTarget {small}'s " in message
    assert "spec.maxTrainingNodes 2" in message and "never widen" in message


def test_a_namespace_editor_cannot_write_execution_targets(policy: Cluster, editor: str) -> None:
    cluster = policy
    for verb in ("create", "patch", "update", "delete"):
        out = cluster.kubectl(
            "auth", "can-i", verb, "executiontargets.modelsmith.io", as_user=EDITOR, check=False
        )
        assert out.stdout.strip() == "no", verb
    mine = samples.execution_target(
        f"mine-{secrets.token_hex(3)}", match_labels={}, serviceAccountName="default"
    )
    out = cluster.kubectl("create", "-f", "-", input=json.dumps(mine), as_user=EDITOR, check=False)
    assert out.returncode != 0, "the editor created an ExecutionTarget"
    assert 'User "mallory" cannot create resource "executiontargets"' in out.stderr, out.stderr
    assert "at the cluster scope" in out.stderr, out.stderr
    # Nor widen the shared one to every namespace.
    out = cluster.kubectl(
        "patch", "executiontarget", samples.TARGET, "--type=merge", "-p",
        '{"spec": {"namespaceSelector": {"matchLabels": null}, "maxGpus": 64}}',
        as_user=EDITOR, check=False,
    )  # fmt: skip
    assert out.returncode != 0 and "forbidden" in out.stderr, out.stderr


def test_the_same_editor_succeeds_with_a_target_that_admits_the_namespace(
    policy: Cluster, editor: str, execution_target: Callable[..., str]
) -> None:
    cluster = policy
    body = _intake(editor, samples.TARGET, gpus=None)
    out = _apply(cluster, body)
    assert out.returncode == 0, out.stderr
    assert _exists(cluster, editor)
    # Changing it to a target that does not admit the namespace is refused too (UPDATE).
    other = execution_target(match_labels={"team": f"nobody-{secrets.token_hex(3)}"})
    message = _refused_once_seen(cluster, _intake(editor, other), "does not admit")
    assert f"ExecutionTarget {other} does not admit namespace {editor}" in message


def _exists(cluster: Cluster, namespace: str) -> bool:
    out = cluster.kubectl("get", "intake", "support-triage", "-n", namespace, check=False)
    return out.returncode == 0


# ----- a target edited after admission -------------------------------------------------------


def _run_status(cluster: Cluster, namespace: str) -> Doc:
    out = cluster.kubectl("get", "irun", "support-triage-run-1", "-n", namespace, "-o", "json")
    status: Doc = json.loads(out.stdout).get("status") or {}
    return status


def _jobs(cluster: Cluster, namespace: str) -> list[str]:
    out = json.loads(cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)
    return [j["metadata"]["name"] for j in out["items"]]


def _blocked_by(cluster: Cluster, namespace: str, reason: str) -> Doc | None:
    status = _run_status(cluster, namespace)
    blocked = status.get("blockedBy") or {}
    return status if status.get("phase") == "Blocked" and blocked.get("reason") == reason else None


def test_a_target_edited_after_admission_blocks_the_next_launch_until_restored(
    operator: OperatorProcess,
    object_store: ObjectStore,
    policy: Cluster,
    editor: str,
    execution_target: Callable[..., str],
) -> None:
    cluster, namespace = policy, editor
    cluster.kubectl("create", "serviceaccount", "modelsmith-runner", "-n", namespace)
    prefix = f"targets/{namespace}/base/"
    object_store.client().put_object(
        Bucket=object_store.bucket, Key=prefix + "config.json", Body=b"{}"
    )
    admits = {"kubernetes.io/metadata.name": namespace}
    target = execution_target(match_labels=admits, maxGpus=0, evaluatorImage="modelsmith/noop:1")
    intake = _intake(namespace, target, gpus=None)
    intake["spec"]["baseModel"]["uri"] = f"s3://{object_store.bucket}/{prefix}"
    for doc in (samples.benchmark(namespace=namespace), intake):
        out = _apply(cluster, doc)
        assert out.returncode == 0, out.stderr

    def ready() -> bool:
        out = cluster.kubectl("get", "intake", "support-triage", "-n", namespace, "-o", "json")
        conditions = (json.loads(out.stdout).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_for(ready, 90, "the intake Ready on its target")

    # The platform admin takes the namespace out of the target; the admitted intake stays.
    elsewhere = {"kubernetes.io/metadata.name": f"elsewhere-{secrets.token_hex(3)}"}
    execution_target(target, match_labels=elsewhere, maxGpus=0, evaluatorImage="modelsmith/noop:1")
    out = _apply(cluster, samples.run(namespace=namespace, requested_by=EDITOR))
    assert out.returncode == 0, out.stderr
    status = wait_for(
        lambda: _blocked_by(cluster, namespace, "ExecutionTargetNotAllowed"),
        60,
        "the run Blocked by its target",
    )
    assert status["blockedBy"]["kind"] == "governance"
    assert (
        f"ExecutionTarget {target} does not admit namespace {namespace}"
        in (status["blockedBy"]["message"])
    )
    assert "spec.namespaceSelector" in status["blockedBy"]["message"]
    assert "platform admin" in status["nextAction"]
    assert _jobs(cluster, namespace) == [], "a Job was created where the target does not admit"

    # Deleted: the block says so (the run looks again on its own, twice a minute).
    cluster.kubectl("delete", "executiontarget", target)
    status = wait_for(
        lambda: _blocked_by(cluster, namespace, "ExecutionTargetMissing"),
        90,
        "the run Blocked by its missing target",
    )
    assert f"ExecutionTarget {target} does not exist" in status["blockedBy"]["message"]
    assert _jobs(cluster, namespace) == []

    # Restored: the run resumes and launches the Job it was about to.
    execution_target(target, match_labels=admits, maxGpus=0, evaluatorImage="modelsmith/noop:1")
    jobs = wait_for(lambda: _jobs(cluster, namespace), 90, "the run's Job after the restore")
    assert len(jobs) == 1 and jobs[0].startswith("support-triage-run-1-"), jobs
    status = _run_status(cluster, namespace)
    assert (status.get("blockedBy") or {}).get("reason") not in (
        "ExecutionTargetNotAllowed",
        "ExecutionTargetMissing",
    )
