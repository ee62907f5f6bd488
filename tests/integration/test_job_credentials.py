"""Per-Job store credentials (issue 18, "separate who can write what"): a target naming a role for
its Jobs (`spec.objectStore.jobRoleArn`) gets each Job its own temporary keys from STS, limited
by a session policy to that Job's own iteration outputs, in a Secret the Job owns.

Against SeaweedFS (`testbed.seaweedfs`), whose STS grants a session the intersection of the
role's policy and the session policy as AWS and MinIO do; moto, every other test's store, does
not enforce session policies. Real boto3 and STS, a real API server; the run reconciler runs in
the test process as the chart's ServiceAccount, so the chart's RBAC is what lets it create the
Secret."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kubernetes import client
from staged import launchable_run, run_layout

from modelsmith import storepolicy
from modelsmith.contract import objectstore
from modelsmith.contract.layout import RunLayout
from modelsmith.controllers.run import jobcredentials
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.seaweedfs import ROLE_ARN, SeaweedFS
from testbed.waiting import wait_for

RT = Runtime()
RUN = "run"


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS.start(tmp_path_factory.mktemp("testbed-seaweedfs", numbered=True))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def as_operator_on_seaweedfs(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's store credentials (the caller STS trusts with the Jobs' role)."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELSMITH_BUCKET", seaweedfs.bucket)


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
    objectstore.publish_dir(tmp_path / "adapter", layout.adapter(1))
    objectstore.put_json_atomic(layout.progress(1), {"step": 1})

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


@pytest.fixture
def as_operator(
    crds: Cluster, operator_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch,
    as_operator_on_seaweedfs: None,
) -> Iterator[None]:
    """Operator code in the test process talks to the API server as the chart's ServiceAccount
    and to SeaweedFS with the operator's credentials."""
    monkeypatch.setenv("KUBECONFIG", str(operator_kubeconfig))
    monkeypatch.setattr(
        "kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(operator_kubeconfig)
    )
    kube.api_client.cache_clear()
    RT.cache.clear()
    RT.published_scenarios.clear()
    yield
    RT.events.flush(30)
    kube.api_client.cache_clear()
    RT.cache.clear()
    RT.published_scenarios.clear()


@pytest.mark.cluster
@pytest.mark.inprocess
def test_each_job_gets_its_own_credential_in_a_secret_it_owns(
    as_operator: None, crds: Cluster, namespace: str, seaweedfs: SeaweedFS
) -> None:
    launchable_run(crds, namespace, run_name=RUN,
                   object_store={"bucket": seaweedfs.bucket, "jobRoleArn": ROLE_ARN})
    reconcile(RT, namespace, RUN)
    reconcile(RT, namespace, RUN)
    batch = client.BatchV1Api(crds.api_client())
    jobs = batch.list_namespaced_job(namespace).items
    assert len(jobs) == 1, [j.metadata.name for j in jobs]
    job = jobs[0]
    core = client.CoreV1Api(crds.api_client())
    name = jobcredentials.secret_name(job.metadata.name)
    secret = core.read_namespaced_secret(name, namespace)
    owners = secret.metadata.owner_references
    assert [(o.kind, o.uid) for o in owners] == [("Job", job.metadata.uid)]
    # The Job's pods read this Secret, session token included, and no shared one.
    container = job.spec.template.spec.containers[0]
    env = {e.name: e.value_from.secret_key_ref.name for e in container.env
           if e.value_from and e.value_from.secret_key_ref}
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SESSION_TOKEN"] == name

    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    layout = run_layout(namespace, RUN, seaweedfs.bucket)
    iteration = int(job.metadata.labels["modelsmith.io/iteration"])
    kind = job.metadata.labels["modelsmith.io/job-kind"]
    own = jobcredentials.outputs(layout, kind, iteration)
    other = jobcredentials.outputs(layout, "train" if kind == "eval" else "eval", iteration)
    _assert_only_own_outputs(_job_client(seaweedfs, data), layout, own, other)

    # The garbage collector deletes the Secret with its Job.
    batch.delete_namespaced_job(job.metadata.name, namespace, propagation_policy="Background")
    def collected() -> bool:
        return name not in {s.metadata.name for s in core.list_namespaced_secret(namespace).items}

    wait_for(collected, 60, "the Job's Secret collected with it")
