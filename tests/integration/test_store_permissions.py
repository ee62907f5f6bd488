"""The object store itself decides who writes what (modelsmith.storepolicy), not the clients'
good manners: the test bed's S3 server enforces the same IAM policies the docs give for AWS and
MinIO, and these tests use real boto3 and modelsmith.contract.objectstore against it.

The run prefixes cover the layout keyed by name, the one keyed by the run's identity, and one
under an ExecutionTarget's store prefix: the policies are written by key suffix."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import botocore.exceptions
import pytest

from modelsmith.contract import objectstore, s3
from testbed import rbac
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.waiting import wait_for

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = objectstore.Store()

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

EDITOR = "mallory"  # no groups: only what the RoleBinding below gives

RUN_PREFIXES = (
    "runs/{ns}/support-run/",
    "runs/{ns}/support-run-{key}/",
    "teams/ml/runs/{ns}/support-run-{key}/",
)


@pytest.fixture(params=RUN_PREFIXES, ids=("by-name", "by-identity", "target-prefix"))
def run_prefix(request: pytest.FixtureRequest) -> str:
    template: str = request.param
    return template.format(ns=f"perm-{secrets.token_hex(3)}", key=secrets.token_hex(8))


@pytest.fixture
def as_jobs(object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """modelsmith.contract.objectstore in this process holds the Jobs' credentials, as in a Job."""
    for key, value in object_store.job_env().items():
        monkeypatch.setenv(key, value)
    yield


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def multipart(s3: S3Client, bucket: str, key: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"forged")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )


RECORDS = ("ledger/000001.json", "evidence/bundle.json", "evidence/promotion-record.json")


@pytest.mark.parametrize("record", RECORDS)
def test_jobs_credentials_cannot_write_a_runs_records(
    object_store: ObjectStore, run_prefix: str, record: str
) -> None:
    bucket, key = object_store.bucket, run_prefix + record
    operator, jobs = object_store.client("operator"), object_store.client("jobs")
    operator.put_object(Bucket=bucket, Key=key, Body=b"the operator's record")
    jobs.put_object(Bucket=bucket, Key=run_prefix + "iter-1/candidate/forged", Body=b"forged")

    source = {"Bucket": bucket, "Key": run_prefix + "iter-1/candidate/forged"}
    assert refused(lambda: jobs.put_object(Bucket=bucket, Key=key, Body=b"forged")) == (
        "AccessDenied"
    )
    assert refused(lambda: jobs.copy_object(Bucket=bucket, Key=key, CopySource=source)) == (
        "AccessDenied"
    )
    assert refused(lambda: multipart(jobs, bucket, key)) == "AccessDenied"
    assert refused(lambda: jobs.delete_object(Bucket=bucket, Key=key)) == "AccessDenied"
    answer = jobs.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    assert [e["Code"] for e in answer.get("Errors", [])] == ["AccessDenied"]
    # A new record the operator has not written yet is refused alike.
    fresh = key.replace("000001", "000002").replace(".json", "-new.json")
    assert refused(lambda: jobs.put_object(Bucket=bucket, Key=fresh, Body=b"x")) == "AccessDenied"
    # A key crafted to also match the iteration outputs' pattern: the explicit Deny wins.
    crafted = run_prefix + record.split("/")[0] + "/iter-1/candidate/x"
    assert refused(lambda: jobs.put_object(Bucket=bucket, Key=crafted, Body=b"x")) == (
        "AccessDenied"
    )
    body = operator.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == b"the operator's record"


def test_jobs_credentials_write_iteration_outputs_only(
    object_store: ObjectStore, run_prefix: str
) -> None:
    bucket, jobs = object_store.bucket, object_store.client("jobs")
    for output in ("iter-1/candidate/adapter/weights.bin", "iter-3/eval/scorecard.json"):
        jobs.put_object(Bucket=bucket, Key=run_prefix + output, Body=b"output")
        multipart(jobs, bucket, run_prefix + output + ".large")
        jobs.delete_object(Bucket=bucket, Key=run_prefix + output + ".large")
    # What the operator prepares for an iteration, and what it keeps beside runs, are inputs.
    for key in (
        run_prefix + "iter-1/train.jsonl",
        run_prefix + "iter-1/heldout-fingerprint.json",
        "benchmarks/team/support/scenarios-0123.jsonl",
        "models/tiny-support-base/config.json",
    ):
        assert refused(lambda k=key: jobs.put_object(Bucket=bucket, Key=k, Body=b"x")) == (
            "AccessDenied"
        ), key
    # Reading is allowed: the base model, scenarios and training material.
    listed = jobs.list_objects_v2(Bucket=bucket, Prefix=run_prefix)
    assert listed["KeyCount"] >= 2


def test_a_job_publishes_its_outputs_through_staging(
    object_store: ObjectStore, run_prefix: str, as_jobs: None, tmp_path: Path
) -> None:
    """What the trainer does with its adapter (publish_dir: stage, copy, delete the staged) and
    the evaluator with its scorecard (put_json_atomic) works with the Jobs' credentials."""
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "weights.safetensors").write_bytes(b"\0" * 1024)
    base = f"s3://{object_store.bucket}/{run_prefix}"
    written = STORE.publish_dir(tmp_path, base + "iter-2/candidate/adapter/")
    assert len(written) == 2
    STORE.put_json_atomic(base + "iter-2/eval/scorecard.json", {"passed": 1})
    assert STORE.get_json(base + "iter-2/eval/scorecard.json") == {"passed": 1}
    with pytest.raises(s3.ObjectStoreUnavailable, match="AccessDenied"):
        STORE.put_json_atomic(base + "evidence/bundle.json", {"forged": True})
    with pytest.raises(s3.ObjectStoreUnavailable, match="AccessDenied"):
        STORE.put_if_absent(base + "ledger/000009.json", b"{}")
    staging = f"s3://{object_store.bucket}/{objectstore.STAGING_PREFIX}"
    assert not [i.key for i in STORE.iter_objects(staging)]


def test_the_operators_credentials_write_records(
    object_store: ObjectStore, run_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)
    base = f"s3://{object_store.bucket}/{run_prefix}"
    STORE.put_if_absent(base + "ledger/000000.json", b'{"sequence": 0}')
    STORE.put_if_absent(base + "evidence/bundle.json", b"{}")
    STORE.put_bytes(base + "iter-1/train.jsonl", b"{}\n")
    assert STORE.get_bytes(base + "ledger/000000.json") == b'{"sequence": 0}'


def test_the_bucket_keeps_every_version_of_a_record(
    object_store: ObjectStore, run_prefix: str
) -> None:
    """Versioning is on: an overwrite (by anyone who could) leaves the original readable."""
    bucket, key = object_store.bucket, run_prefix + "evidence/bundle.json"
    operator = object_store.client("operator")
    assert operator.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    operator.put_object(Bucket=bucket, Key=key, Body=b"original")
    operator.put_object(Bucket=bucket, Key=key, Body=b"overwritten")
    versions = object_store.client().list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    bodies = {
        object_store.client()
        .get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"]
        .read()
        for v in versions
    }
    assert bodies == {b"original", b"overwritten"}


def test_a_namespace_editor_who_reads_the_jobs_secret_cannot_rewrite_records(
    cluster: Cluster, namespace: str, object_store: ObjectStore, run_prefix: str
) -> None:
    """The threat as it reads: anyone who may read the Job namespace's Secrets (a namespace
    editor, impersonated) holds the Jobs' credential. The store refuses it the records and still
    takes the iteration outputs."""
    cluster.kubectl("apply", "-f", "-", input=json.dumps(object_store.job_secret(namespace)))
    binding = rbac.binding(namespace, "editors", [EDITOR], cluster_role="edit")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(binding))

    def read_secret() -> dict[str, str] | None:
        out = cluster.kubectl(
            "get", "secret", "modelsmith-object-store", "-n", namespace, "-o", "json",
            as_user=EDITOR, check=False,
        )  # fmt: skip
        if out.returncode:
            return None
        data: dict[str, str] = json.loads(out.stdout)["data"]
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    stolen = wait_for(read_secret, 60, "the editor reading the Jobs' Secret")
    s3 = boto3.client(
        "s3",
        endpoint_url=stolen["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=stolen["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stolen["AWS_SECRET_ACCESS_KEY"],
        region_name=stolen["AWS_DEFAULT_REGION"],
    )
    bucket = object_store.bucket
    for record in RECORDS:
        key = run_prefix + record
        assert refused(lambda k=key: s3.put_object(Bucket=bucket, Key=k, Body=b"forged")) == (
            "AccessDenied"
        ), record
    s3.put_object(Bucket=bucket, Key=run_prefix + "iter-1/eval/scorecard.json", Body=b"{}")
