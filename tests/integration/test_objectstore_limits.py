"""Bounded reads against the test bed's S3 server: a 1 GiB object is refused naming its kind
and limit, having read none of its body (counted by the object store module and by the memory
the read allocated, never by timing); an object at its limit is read whole, one byte more is
refused; a bucket outside the configured one is refused before any request."""

from __future__ import annotations

import secrets
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from modelsmith.api.benchmark import Benchmark
from modelsmith.benchmark.sources import BenchmarkSourceError
from modelsmith.contract import readlimits
from modelsmith.contract.objectstore import Store
from modelsmith.contract.readlimits import READ_LIMITS, ObjectKind
from modelsmith.runtime.core import Runtime
from modelsmith.scenarios import fetch_scenarios
from testbed.objectstore import ObjectStore

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = Store()

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

GIB = 1 << 30
PART = 64 * readlimits.MIB


@pytest.fixture
def env(object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)
    yield f"s3://{object_store.bucket}/limits-test-{secrets.token_hex(4)}/"


@pytest.fixture(scope="module")
def gib_object(object_store: ObjectStore) -> Iterator[str]:
    """A 1 GiB scorecard, uploaded in 16 parts of one 64 MiB chunk (this process never holds
    more than the chunk; the server keeps it on disk)."""
    s3 = object_store.client()
    key = f"limits-test-{secrets.token_hex(4)}/runs/ns/run/iter-1/eval/scorecard.json"
    upload = s3.create_multipart_upload(Bucket=object_store.bucket, Key=key)["UploadId"]
    chunk = b"{" + b" " * (PART - 1)
    parts: list[Any] = []
    for number in range(1, GIB // PART + 1):
        answer = s3.upload_part(
            Bucket=object_store.bucket, Key=key, PartNumber=number, UploadId=upload, Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    del chunk
    s3.complete_multipart_upload(
        Bucket=object_store.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert s3.head_object(Bucket=object_store.bucket, Key=key)["ContentLength"] == GIB
    yield f"s3://{object_store.bucket}/{key}"
    s3.delete_object(Bucket=object_store.bucket, Key=key)


@pytest.fixture
def sent(env: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """(method, url, Range header) of every single-object request the module sends."""
    requests: list[tuple[str, str, str]] = []
    http = STORE.connection().http
    send = http.send

    def record(request: Any) -> Any:
        requests.append((request.method, request.url, request.headers.get("Range", "")))
        return send(request)

    monkeypatch.setattr(http, "send", record)
    return requests


def test_a_gib_scorecard_is_refused_having_read_none_of_it(
    gib_object: str, sent: list[tuple[str, str, str]]
) -> None:
    limit = READ_LIMITS[ObjectKind.SCORECARD]
    requested, read = STORE.connection().bodies.requested, STORE.connection().bodies.read
    tracemalloc.start()
    try:
        with pytest.raises(readlimits.ObjectTooLarge) as refused:
            STORE.get_json_or_none(gib_object)  # the kind follows from the name
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (refused.value.kind, refused.value.limit, refused.value.size) == (
        ObjectKind.SCORECARD,
        limit,
        GIB,
    )
    assert str(refused.value) == (
        f"the scorecard is {GIB} bytes, more than the limit of {limit} bytes for a scorecard; "
        "it was not read"
    )
    assert [(m, r) for m, _, r in sent] == [("GET", f"bytes=0-{limit}")]
    assert STORE.connection().bodies.read - read == 0
    assert STORE.connection().bodies.requested - requested == limit + 1
    # What the read allocated, whatever the object's size: well under one limit.
    assert peak < limit, peak


def test_a_benchmarks_gib_scenarios_object_is_invalid(gib_object: str, env: str) -> None:
    benchmark = Benchmark.model_validate(
        {
            "apiVersion": "modelsmith.io/v1alpha1",
            "kind": "Benchmark",
            "metadata": {"name": "huge", "namespace": "default"},
            "spec": {
                "version": "1.0.0",
                "owner": "support-operations",
                "domain": "support-triage",
                "scenariosFrom": {"s3": {"uri": gib_object}},
            },
        }
    )
    read = STORE.connection().bodies.read
    with pytest.raises(BenchmarkSourceError) as invalid:
        fetch_scenarios(RT, benchmark, "default")
    assert "more than the limit of 1048576 bytes for a scenarios object" in str(invalid.value)
    assert STORE.connection().bodies.read == read


def test_an_object_at_its_limit_is_read_whole_one_byte_more_is_refused(
    env: str, sent: list[tuple[str, str, str]]
) -> None:
    limit = READ_LIMITS[ObjectKind.PROGRESS]
    STORE.put_bytes(env + "at/progress.json", b"x" * limit)
    STORE.put_bytes(env + "over/progress.json", b"x" * (limit + 1))
    STORE.put_bytes(env + "empty/progress.json", b"")
    read = STORE.connection().bodies.read
    assert STORE.get_bytes(env + "at/progress.json") == b"x" * limit
    assert STORE.connection().bodies.read - read == limit
    with pytest.raises(readlimits.ObjectTooLarge) as refused:
        STORE.get_bytes(env + "over/progress.json")
    assert refused.value.size == limit + 1
    assert STORE.connection().bodies.read - read == limit  # nothing more
    assert STORE.get_bytes(env + "empty/progress.json") == b""
    assert STORE.get_bytes_or_none(env + "missing/progress.json") is None
    assert all(r.startswith("bytes=0-") for m, _, r in sent if m == "GET")


def test_a_bucket_outside_the_configured_one_is_refused(
    env: str,
    object_store: ObjectStore,
    sent: list[tuple[str, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = f"other-{secrets.token_hex(4)}"
    s3 = object_store.client()
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="benchmarks/support.yaml", Body=b"[]")
    s3.put_object(Bucket=other, Key="models/base/config.json", Body=b"{}")
    # The operator's credentials can read it: only the confinement stands in the way.
    assert STORE.get_bytes(f"s3://{other}/benchmarks/support.yaml") == b"[]"
    sent.clear()

    monkeypatch.setattr(STORE, "confinement", readlimits.Confinement(object_store.bucket))
    with pytest.raises(readlimits.ForeignBucket) as refused:
        STORE.get_bytes(f"s3://{other}/benchmarks/support.yaml")
    assert str(refused.value) == (
        f"the URI names the bucket {other}, but the operator reads only its configured bucket "
        f"{object_store.bucket} and those its ExecutionTargets name"
    )
    with pytest.raises(readlimits.ForeignBucket):
        STORE.prefix_has_objects(f"s3://{other}/models/base/")
    assert sent == []
    STORE.put_json(env + "own.json", {"ok": True})
    assert STORE.get_json(env + "own.json") == {"ok": True}
