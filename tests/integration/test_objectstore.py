"""contract.objectstore against the test bed's S3 server (moto, over HTTP on loopback)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.awsrequest import AWSPreparedRequest

from modelsmith.contract import objectstore, s3
from testbed.objectstore import ObjectStore

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = objectstore.Store()


@pytest.fixture
def prefix(object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)
    yield f"s3://{object_store.bucket}/objectstore-test-{secrets.token_hex(4)}/"


def test_parse_uri() -> None:
    uri = s3.parse_uri("s3://bucket/a/b/")
    assert (uri.bucket, uri.key, uri.is_prefix) == ("bucket", "a/b/", True)
    assert str(uri.child("c.json")) == "s3://bucket/a/b/c.json"
    assert s3.join("s3://bucket/a", "c") == "s3://bucket/a/c"
    for bad in ("bucket/key", "s3:///key", "https://bucket/key"):
        with pytest.raises(s3.InvalidUri):
            s3.parse_uri(bad)


def test_json_and_bytes(prefix: str) -> None:
    uri = prefix + "doc.json"
    assert STORE.get_json_or_none(uri) is None
    assert not STORE.exists(uri)
    with pytest.raises(s3.ObjectNotFound):
        STORE.get_bytes(uri)
    STORE.put_json(uri, {"b": 1, "a": [1, 2]})
    assert STORE.exists(uri)
    assert STORE.get_json(uri) == {"a": [1, 2], "b": 1}
    STORE.put_bytes(prefix + "raw", b"\x00\x01")
    assert STORE.get_bytes_or_none(prefix + "raw") == b"\x00\x01"


def test_put_if_absent_is_write_once(prefix: str) -> None:
    uri = prefix + "ledger/000000.json"
    STORE.put_if_absent(uri, b"first")
    with pytest.raises(s3.AlreadyExists):
        STORE.put_if_absent(uri, b"second")
    assert STORE.get_bytes(uri) == b"first"
    assert STORE.put_json_once(prefix + "once.jsonl", "line\n") is True
    assert STORE.put_json_once(prefix + "once.jsonl", "other\n") is False
    assert STORE.get_bytes(prefix + "once.jsonl") == b"line\n"


def test_atomic_writes_leave_no_staging_behind(prefix: str, object_store: ObjectStore) -> None:
    STORE.put_json_atomic(prefix + "scorecard.json", {"score": 1})
    STORE.put_atomic(prefix + "results.jsonl", b"{}\n")
    assert STORE.get_json(prefix + "scorecard.json") == {"score": 1}
    staging = f"s3://{object_store.bucket}/{objectstore.STAGING_PREFIX}"
    assert STORE.list_objects(staging) == []


def test_directories_round_trip(prefix: str, tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    (source / "config.json").write_text("{}")
    (source / "sub" / "weights.bin").write_bytes(os.urandom(3000))
    written = STORE.publish_dir(source, prefix + "model")
    assert sorted(written) == [prefix + "model/config.json", prefix + "model/sub/weights.bin"]
    listed = STORE.list_objects(prefix + "model/")
    assert [o.relative_to(prefix + "model/") for o in listed] == ["config.json", "sub/weights.bin"]
    assert listed[1].size == 3000 and listed[1].etag
    assert STORE.prefix_has_objects(prefix + "model/")
    assert not STORE.prefix_has_objects(prefix + "nothing/")
    target = tmp_path / "copy"
    files = STORE.download_prefix(prefix + "model/", target)
    assert sorted(p.relative_to(target).as_posix() for p in files) == [
        "config.json",
        "sub/weights.bin",
    ]
    copied = (target / "sub" / "weights.bin").read_bytes()
    assert copied == (source / "sub/weights.bin").read_bytes()
    assert STORE.delete_prefix(prefix + "model/") == 2
    assert STORE.list_objects(prefix + "model/") == []


def test_keys_cannot_escape_the_download_directory(prefix: str, tmp_path: Path) -> None:
    STORE.put_bytes(prefix + "evil/../../outside", b"x")
    with pytest.raises(s3.ObjectStoreError):
        STORE.download_prefix(prefix + "evil/", tmp_path / "dest")
    assert not (tmp_path / "outside").exists()


def test_an_unreachable_store_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with pytest.raises(s3.ObjectStoreUnavailable) as caught:
        STORE.get_bytes_or_none("s3://modelsmith/anything")
    assert "127.0.0.1" not in str(caught.value)


def test_a_missing_bucket_is_unavailable(prefix: str) -> None:
    with pytest.raises(s3.ObjectStoreUnavailable):
        STORE.get_bytes_or_none("s3://no-such-bucket-here/key")


def test_only_large_uploads_wait_for_100_continue(prefix: str, tmp_path: Path) -> None:
    """Both paths: boto3's transfers (a directory upload) and single-object PUTs."""
    sent: dict[str, bytes | None] = {}

    def record(request: AWSPreparedRequest, **_: object) -> None:
        expect = request.headers.get("Expect")
        key = request.url.rsplit("/", 1)[-1]
        sent[key] = expect.encode() if isinstance(expect, str) else expect

    (tmp_path / "small-file").write_bytes(b"{}")
    (tmp_path / "large-file").write_bytes(b"x" * s3.EXPECT_CONTINUE_FROM)
    boto = STORE.client()
    boto.meta.events.register("before-send.s3", record)
    try:
        STORE.upload_dir(tmp_path, prefix + "dir/")
    finally:
        boto.meta.events.unregister("before-send.s3", record)
    assert sent == {"small-file": None, "large-file": b"100-continue"}

    large = b"y" * s3.EXPECT_CONTINUE_FROM
    assert "Expect" not in s3.put_headers(b"{}", objectstore.JSON_TYPE)
    assert s3.put_headers(large, objectstore.JSON_TYPE)["Expect"] == "100-continue"
    STORE.put_if_absent(prefix + "small", b"{}")
    STORE.put_bytes(prefix + "large", large)
    assert STORE.get_bytes(prefix + "small") == b"{}"
    assert STORE.get_bytes(prefix + "large") == large
    assert len(STORE.get_bytes(prefix + "dir/large-file")) == len(large)


def test_keys_are_sent_as_written(prefix: str) -> None:
    """Keys with characters a URL path escapes round-trip, and listings show them unescaped."""
    key = prefix + "odd keys/a+b=c,~d%e é.json"
    STORE.put_json(key, {"ok": True})
    assert STORE.get_json(key) == {"ok": True}
    assert STORE.exists(key)
    assert [info.uri for info in STORE.list_objects(prefix + "odd keys/")] == [key]
    STORE.delete(key)
    assert not STORE.exists(key)
    assert STORE.get_bytes_or_none(key) is None
