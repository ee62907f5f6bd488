"""Per-Job store credentials (issue 18, "separate who can write what"): a target naming a role for
its Jobs (`spec.objectStore.jobRoleArn`) gets each Job its own temporary keys from STS, limited
by a session policy to that Job's own iteration outputs, in an immutable Secret made before the
Job; an ordinary namespace user (impersonated) cannot make the Job run with other keys.

Against SeaweedFS (`testbed.seaweedfs`), whose STS grants a session the intersection of the
role's policy and the session policy as AWS and MinIO do; moto, every other test's store, does
not enforce session policies. Real boto3 and STS, a real API server; the run reconciler runs in
the test process as the chart's ServiceAccount, so the chart's RBAC is what lets it create the
Secret."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from staged import launchable_run, run_layout

from modelsmith import GROUP, VERSION, storepolicy
from modelsmith.contract import storecredential
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.layout import RunLayout, run_key
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.run import jobcredentials
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.seaweedfs import ROLE_ARN, SeaweedFS
from testbed.waiting import wait_for

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = Store()

RT = Runtime()
RUN = "run"
EDITOR = "mallory"  # no groups: only what the RoleBinding gives


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS.start(tmp_path_factory.mktemp("testbed-seaweedfs", numbered=True))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def operator_store_env(seaweedfs: SeaweedFS) -> dict[str, str]:
    """The operator's store credentials (the caller STS trusts with the Jobs' role), for
    `as_operator` too."""
    return {**seaweedfs.env(), "MODELSMITH_BUCKET": seaweedfs.bucket}


@pytest.fixture
def as_operator_on_seaweedfs(
    operator_store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in operator_store_env.items():
        monkeypatch.setenv(name, value)


def _job_client(seaweedfs: SeaweedFS, secret: dict[str, str]) -> Any:
    return seaweedfs.client(
        (secret["AWS_ACCESS_KEY_ID"], secret["AWS_SECRET_ACCESS_KEY"]), secret["AWS_SESSION_TOKEN"]
    )


def _refused(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"forged")
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


def _assert_only_own_outputs(s3: Any, layout: RunLayout, own: str, other_iteration: str) -> None:
    bucket = layout.bucket
    s3.put_object(Bucket=bucket, Key=own + "progress.json", Body=b"{}")
    assert s3.get_object(Bucket=bucket, Key=own + "progress.json")["Body"].read() == b"{}"
    for key in (
        other_iteration + "scorecard.json",
        layout.iteration(7) + "candidate/adapter/weights.bin",
        layout.iteration(7) + "eval/scorecard.json",
        "runs/other-ns/other-run-0badc0de/" + own[len(layout.prefix):] + "forged.json",
        layout.ledger_prefix() + "000001.json",
        layout.prefix + "evidence/bundle.json",
        layout.prefix + "evidence/promotion-record.json",
    ):
        assert _refused(s3, bucket, key), key


def test_a_sessions_keys_write_only_the_iteration_its_policy_names(
    seaweedfs: SeaweedFS, as_operator_on_seaweedfs: None, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layout = RunLayout(seaweedfs.bucket, "team", "run", "0a1b2c3d")
    own = jobcredentials.outputs(layout, "train", 1)
    policy = storepolicy.job_session_policy(layout.bucket, own)
    keys = jobcredentials.assume(ROLE_ARN, "run-train-1", policy, jobcredentials.MIN_SECONDS)
    secret = {"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key,
              "AWS_SESSION_TOKEN": keys.session_token}
    _assert_only_own_outputs(
        _job_client(seaweedfs, secret), layout, own, jobcredentials.outputs(layout, "eval", 1))

    # The trainer's own writers (staged upload, server-side copy into place) work with them.
    for name, value in secret.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "weights.bin").write_bytes(b"w" * 1024)
    STORE.publish_dir(tmp_path / "adapter", layout.adapter(1))
    STORE.put_json_atomic(layout.progress(1), {"step": 1})

    # Without a session policy the role alone would let the same Job write any iteration: the
    # session policy is what narrows it (and the role still keeps records out of reach).
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    answer = boto3.client("sts").assume_role(RoleArn=ROLE_ARN, RoleSessionName="unscoped")
    creds = answer["Credentials"]
    unscoped = seaweedfs.client((creds["AccessKeyId"], creds["SecretAccessKey"]),
                                creds["SessionToken"])
    unscoped.put_object(Bucket=layout.bucket, Key=layout.iteration(7) + "eval/x.json", Body=b"{}")
    assert _refused(unscoped, layout.bucket, layout.ledger_prefix() + "000001.json")


@pytest.mark.cluster
@pytest.mark.inprocess
def test_each_job_gets_its_own_credential_in_a_secret_its_run_owns(
    as_operator: None, crds: Cluster, namespace: str, seaweedfs: SeaweedFS
) -> None:
    launchable_run(crds, namespace, run_name=RUN,
                   object_store={"bucket": seaweedfs.bucket, "jobRoleArn": ROLE_ARN})
    reconcile(RT, namespace, RUN)
    reconcile(RT, namespace, RUN)
    job = _only_job(crds, namespace)
    data, name = _credential_of(crds, job)
    layout = run_layout(namespace, RUN, seaweedfs.bucket)
    iteration = int(job.metadata.labels["modelsmith.io/iteration"])
    kind = job.metadata.labels["modelsmith.io/job-kind"]
    own = jobcredentials.outputs(layout, kind, iteration)
    other = jobcredentials.outputs(layout, "train" if kind == "eval" else "eval", iteration)
    _assert_only_own_outputs(_job_client(seaweedfs, data), layout, own, other)

    # The garbage collector deletes the Secret with its run.
    custom = client.CustomObjectsApi(crds.api_client())
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "iterationruns", RUN,
                                           propagation_policy="Background")
    core = client.CoreV1Api(crds.api_client())

    def collected() -> bool:
        return name not in {s.metadata.name for s in core.list_namespaced_secret(namespace).items}

    wait_for(collected, 60, "the Job's Secret collected with its run")


def _only_job(crds: Cluster, namespace: str) -> Any:
    jobs = client.BatchV1Api(crds.api_client()).list_namespaced_job(namespace).items
    assert len(jobs) == 1, [j.metadata.name for j in jobs]
    return jobs[0]


def _credential_of(crds: Cluster, job: Any) -> tuple[dict[str, str], str]:
    """The keys the Job's pods read, and their Secret's name, checked the way the API server
    and the Job's container hold them: the Secret is immutable and owned by the run, the Job
    reads only the three keys from it, and names their digest."""
    container = job.spec.template.spec.containers[0]
    refs = {e.name: e.value_from.secret_key_ref.name for e in container.env
            if e.value_from and e.value_from.secret_key_ref}
    assert set(refs) == set(storecredential.KEYS), refs
    (name,) = set(refs.values())
    namespace = job.metadata.namespace
    secret = client.CoreV1Api(crds.api_client()).read_namespaced_secret(name, namespace)
    assert secret.immutable is True
    run = client.CustomObjectsApi(crds.api_client()).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "iterationruns", RUN)
    assert [(o.kind, o.uid) for o in secret.metadata.owner_references] == [
        ("IterationRun", run["metadata"]["uid"])]
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    literal = {e.name: e.value for e in container.env if e.value is not None}
    assert literal[storecredential.ENV] == storecredential.digest(data)
    return data, name


def _editor(crds: Cluster, namespace: str) -> Any:
    """An ordinary namespace user: `edit` in the namespace (Secrets included), impersonated."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "editors", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": EDITOR}],
    }
    crds.kubectl("apply", "-f", "-", input=json.dumps(binding))
    editor = client.CoreV1Api(crds.api_client(impersonate=EDITOR))
    wait_for(lambda: editor.list_namespaced_secret(namespace) is not None, 30, "the editor's role")
    return editor


def _forged(name: str, namespace: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "stringData": {"AWS_ACCESS_KEY_ID": "THEIRS", "AWS_SECRET_ACCESS_KEY": "theirs",
                           "AWS_SESSION_TOKEN": "theirs",
                           "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}}


def _container_exit(job: Any, secret: dict[str, str], tmp_path: Path) -> int:
    """The Job's container as its pod would start it, with `secret`'s keys (env from Secret
    keys, as the kubelet sets them), up to where it refuses or begins."""
    container = job.spec.template.spec.containers[0]
    env = {**os.environ, **{e.name: e.value for e in container.env if e.value is not None}}
    env.update({k: secret[k] for k in storecredential.KEYS})
    env["MODELSMITH_TERMINATION_LOG"] = str(tmp_path / "termination-log")
    module = "modelsmith_trainer" if container.name == "train" else "modelsmith_evaluator"
    done = subprocess.run([sys.executable, "-m", module, *container.args], env=env,
                          capture_output=True, timeout=120, check=False)
    return done.returncode


@pytest.mark.cluster
@pytest.mark.inprocess
def test_a_secret_a_namespace_editor_makes_or_replaces_is_never_a_jobs_credential(
    as_operator: None, crds: Cluster, namespace: str, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    """Attacks of an ordinary namespace user on a Job's own credential, each refused by the API
    server or by the Job's container."""
    launchable_run(crds, namespace, run_name=RUN,
                   object_store={"bucket": seaweedfs.bucket, "jobRoleArn": ROLE_ARN})
    editor = _editor(crds, namespace)
    # 1. Secrets made first under every name the run's first Jobs would have had
    # (`<job>-store`), with the editor's keys and store endpoint.
    run = client.CustomObjectsApi(crds.api_client()).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "iterationruns", RUN)
    key = run_key(namespace, run["metadata"]["uid"])
    planted = {f"{RUN}-{key}-i{i}-{kind}-a1-store" for i in (0, 1) for kind in ("train", "eval")}
    for name in planted:
        editor.create_namespaced_secret(namespace, _forged(name, namespace))
    reconcile(RT, namespace, RUN)
    reconcile(RT, namespace, RUN)
    job = _only_job(crds, namespace)
    minted, name = _credential_of(crds, job)
    assert name not in planted

    # 2. The operator's Secret rewritten: the API server refuses (it is immutable).
    with pytest.raises(ApiException) as refused:
        editor.patch_namespaced_secret(name, namespace, {"stringData": {"AWS_ACCESS_KEY_ID": "X"}})
    assert refused.value.status == 422, refused.value.body

    # 3. Deleted and made again under its name with the editor's keys: the Job's container
    # refuses them before it reads or writes anything; with the minted keys it goes past.
    editor.delete_namespaced_secret(name, namespace)
    editor.create_namespaced_secret(namespace, _forged(name, namespace))
    forged = _forged(name, namespace)["stringData"]
    assert _container_exit(job, forged, tmp_path) == ExitCode.FOREIGN_CREDENTIAL
    assert _container_exit(job, minted, tmp_path) != ExitCode.FOREIGN_CREDENTIAL


@pytest.mark.cluster
@pytest.mark.inprocess
def test_a_launch_cut_off_between_the_secret_and_the_job_completes_on_the_next_reconcile(
    as_operator: None, crds: Cluster, namespace: str, seaweedfs: SeaweedFS
) -> None:
    """The operator stops after making a Job's Secret and before the Job (here the API server
    refuses the Job: a quota of no Jobs). No Job exists without its credential; the next
    reconcile makes a new credential and the one Job, bound to it."""
    launchable_run(crds, namespace, run_name=RUN,
                   object_store={"bucket": seaweedfs.bucket, "jobRoleArn": ROLE_ARN})
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "no-jobs", "namespace": namespace},
             "spec": {"hard": {"count/jobs.batch": "0"}}}
    crds.kubectl("apply", "-f", "-", input=json.dumps(quota))
    core = client.CoreV1Api(crds.api_client())
    batch = client.BatchV1Api(crds.api_client())

    def secrets() -> set[str]:
        return {s.metadata.name for s in core.list_namespaced_secret(namespace).items
                if s.metadata.name.startswith(RUN + "-")}

    def cut_off() -> bool:
        with contextlib.suppress(ApiException):
            reconcile(RT, namespace, RUN)
        return bool(secrets())

    wait_for(cut_off, 60, "a Secret made and its Job refused")
    assert batch.list_namespaced_job(namespace).items == []
    before = secrets()

    crds.kubectl("delete", "resourcequota", "no-jobs", "-n", namespace)

    def launched() -> bool:
        with contextlib.suppress(ApiException):
            reconcile(RT, namespace, RUN)
        return bool(batch.list_namespaced_job(namespace).items)

    wait_for(launched, 60, "the Job launched once the quota is gone")
    reconcile(RT, namespace, RUN)
    job = _only_job(crds, namespace)
    _, name = _credential_of(crds, job)
    # Its own new Secret; the ones made before stay owned by the run until it goes.
    assert name not in before and before < secrets()
