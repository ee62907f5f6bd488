"""Reading and writing objects at `s3://<bucket>/<key>` URIs: the operations the operator and the
trainer and evaluator images share. The transport, URIs and typed errors are in `s3`; what a
process may read, and how much, in `readlimits`.

A process makes one `Store` (the operator's `Runtime`, an image's entry point) and hands it to
whatever reads or writes: it keeps the connections, one per endpoint and credentials, and the
buckets the process may read.

A missing object is `ObjectNotFound` (or None from the `*_or_none` readers); a write-once key
already taken is `AlreadyExists`. Reads are bounded by the limit of the object's kind and refused
outside a confined bucket (`readlimits`).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

import botocore.exceptions
from botocore.awsrequest import AWSResponse

from modelsmith.contract import integrity
from modelsmith.contract.readlimits import (
    READ_LIMITS,
    Confinement,
    ObjectKind,
    ObjectTooLarge,
    kind_of,
)
from modelsmith.contract.s3 import (
    AlreadyExists,
    Call,
    Connection,
    Environment,
    ObjectNotFound,
    ObjectStoreError,
    S3Uri,
    connect,
    error_of,
    parse_uri,
    put_headers,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

STAGING_PREFIX: Final = ".modelsmith-staging/"
"""Where multi-object outputs are staged before they are copied into place. Keys under it are
never read by anything; a bucket lifecycle rule may expire them (a crashed writer leaves some)."""

JSON_TYPE: Final = "application/json"
POOL: Final = 10
"""Connections kept per endpoint and credentials unless a process says otherwise: botocore's
default, enough for a Job's transfers."""


def _total_size(response: AWSResponse) -> int | None:
    """The object's full size: from Content-Range on a 206, Content-Length on a 200."""
    headers = response.headers
    if response.status_code == 206:
        total = str(headers.get("Content-Range", "")).rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = str(headers.get("Content-Length", ""))
    return int(length) if length.isdigit() else None


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    key: str
    size: int
    etag: str

    def relative_to(self, prefix: str) -> str:
        return self.key[len(parse_uri(prefix).key) :]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=2).encode("utf-8") + b"\n"


def _staging_key(bucket: str, name: str) -> S3Uri:
    return S3Uri(bucket, f"{STAGING_PREFIX}{uuid.uuid4().hex}/{name}")


class Store:
    """The object store as one process uses it: its connections, made once per endpoint and
    credentials (making one costs tens of milliseconds; they are thread-safe), and the buckets
    it may read."""

    def __init__(self, pool: int = POOL) -> None:
        """`pool`: connections kept per endpoint and credentials. The operator passes the
        number of its threads that may reach the store at once: with fewer pooled connections
        than that, urllib3 discards the surplus after each burst and the next burst pays a new
        connection (and TLS handshake) per request."""
        self._pool = pool
        self._connections: dict[Environment, Connection] = {}
        self._lock = threading.Lock()
        self.confinement = Confinement()

    def confine(
        self, bucket: str | None, others: Callable[[], Collection[str]] | None = None
    ) -> None:
        """From now on reads and listings stay in `bucket` and the buckets `others()` gives
        (`readlimits.Confinement`)."""
        self.confinement = Confinement(bucket, others)

    def connection(self) -> Connection:
        """The connection for the current environment's endpoint and credentials."""
        environment = Environment.current(self._pool)
        with self._lock:
            found = self._connections.get(environment)
            if found is None:
                found = self._connections[environment] = connect(environment)
            return found

    def client(self) -> S3Client:
        """The boto3 client for the current environment (see `s3.Connection`)."""
        return self.connection().client

    # --- reading --------------------------------------------------------------------------

    def _read_bounded(self, where: S3Uri, kind: ObjectKind, limit: int) -> bytes:
        """The object's bytes, at most `limit` of them: a ranged GET, whose answer's headers give
        the full size before the body is read; a server that ignores the range is read no further
        than one byte past the limit either."""
        found = self.connection()
        found.bodies.add(requested=limit + 1)
        try:
            response = found.send("GET", where, headers={"Range": f"bytes=0-{limit}"}, stream=True)
        except botocore.exceptions.ClientError as err:
            if error_of(err)[0] == "InvalidRange":
                return b""  # a range from byte 0 is unsatisfiable only for an empty object
            raise
        raw = response.raw
        size = _total_size(response)
        data = b"" if size is not None and size > limit else raw.read(limit + 1)
        found.bodies.add(read=len(data))
        if len(data) > limit or (size is not None and size > limit):
            # The rest is not worth draining: the connection is dropped, not reused.
            raw.close()
            raise ObjectTooLarge(kind, limit, size)
        raw.release_conn()  # read to its end: the connection goes back to the pool
        return bytes(data)

    def get_bytes(
        self, uri: str, kind: ObjectKind | None = None, limit: int | None = None
    ) -> bytes:
        """The object's bytes, refused (`ObjectTooLarge`) over the limit of its kind (`kind_of`
        when not given; `limit` overrides the kind's) and outside a confined bucket."""
        where = self.confinement.readable(uri)
        kind = kind or kind_of(uri)
        with Call("get"):
            return self._read_bounded(where, kind, READ_LIMITS[kind] if limit is None else limit)

    def get_bytes_or_none(
        self, uri: str, kind: ObjectKind | None = None, limit: int | None = None
    ) -> bytes | None:
        try:
            return self.get_bytes(uri, kind, limit)
        except ObjectNotFound:
            return None

    def get_json(self, uri: str, kind: ObjectKind | None = None) -> Any:
        return json.loads(self.get_bytes(uri, kind))

    def get_json_or_none(self, uri: str, kind: ObjectKind | None = None) -> Any:
        data = self.get_bytes_or_none(uri, kind)
        return None if data is None else json.loads(data)

    def exists(self, uri: str) -> bool:
        where = self.confinement.readable(uri)
        try:
            with Call("head"):
                self.connection().send("HEAD", where)
        except ObjectNotFound:
            return False
        return True

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with the prefix's key, in key order."""
        where = self.confinement.readable(prefix)
        with Call("list"):
            pages = (
                self.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=where.bucket, Prefix=where.key)
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item.get("Key", "")
                    yield ObjectInfo(
                        uri=str(S3Uri(where.bucket, key)),
                        key=key,
                        size=int(item.get("Size", 0)),
                        etag=str(item.get("ETag", "")).strip('"'),
                    )

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        return list(self.iter_objects(prefix))

    def prefix_has_objects(self, prefix: str) -> bool:
        where = self.confinement.readable(prefix)
        with Call("list"):
            page = self.client().list_objects_v2(Bucket=where.bucket, Prefix=where.key, MaxKeys=1)
        return bool(page.get("KeyCount", 0) or page.get("Contents"))

    def download_prefix(self, prefix: str, directory: Path) -> list[Path]:
        """Copies every object under `prefix` (a "directory" URI) into `directory`, keeping the
        relative key layout; returns the files written. Keys that would land outside `directory`
        (`..` segments, absolute parts) are refused rather than followed."""
        root = directory.resolve()
        base = parse_uri(prefix if prefix.endswith("/") else prefix + "/")
        written: list[Path] = []
        for info in self.iter_objects(str(base)):
            relative = info.key[len(base.key) :]
            if not relative or relative.endswith("/"):
                continue  # a "folder" marker some tools create
            parts = PurePosixPath(relative).parts
            if any(part in ("..", "") for part in parts) or PurePosixPath(relative).is_absolute():
                raise ObjectStoreError("download: an object key leaves the target directory")
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with Call("download"):
                self.client().download_file(base.bucket, info.key, str(target))
            written.append(target)
        return written

    # --- writing --------------------------------------------------------------------------

    def put_bytes(
        self, uri: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """One PUT. S3 never shows a partly written object, but a reader may see the old version
        until the new one is complete."""
        where = parse_uri(uri)
        with Call("put"):
            self.connection().send("PUT", where, data, put_headers(data, content_type))

    def put_json(self, uri: str, value: Any) -> None:
        self.put_bytes(uri, _json_bytes(value), JSON_TYPE)

    def put_if_absent(self, uri: str, data: bytes, content_type: str = JSON_TYPE) -> None:
        """Write-once: a conditional PUT (If-None-Match: *) that raises AlreadyExists when the key
        is taken, whoever took it first."""
        where = parse_uri(uri)
        with Call("put-if-absent"):
            self.connection().send(
                "PUT", where, data, put_headers(data, content_type, if_none_match=True)
            )

    def put_json_once(self, uri: str, value: Any) -> bool:
        """put_if_absent for a document (text and bytes are written as they are, anything else as
        JSON); False when something was already there, which is not compared."""
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = value.encode("utf-8")
        else:
            data = _json_bytes(value)
        try:
            self.put_if_absent(uri, data)
        except AlreadyExists:
            return False
        return True

    def copy(self, source: str, destination: str) -> None:
        src, dst = parse_uri(source), parse_uri(destination)
        with Call("copy"):
            self.client().copy({"Bucket": src.bucket, "Key": src.key}, dst.bucket, dst.key)

    def delete(self, uri: str) -> None:
        where = parse_uri(uri)
        with Call("delete"):
            self.connection().send("DELETE", where)

    def delete_prefix(self, prefix: str) -> int:
        """Deletes every object under the prefix; returns how many."""
        where = parse_uri(prefix)
        keys = [info.key for info in self.iter_objects(prefix)]
        for start in range(0, len(keys), 1000):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": key} for key in keys[start : start + 1000]
            ]
            with Call("delete"):
                self.client().delete_objects(
                    Bucket=where.bucket, Delete={"Objects": batch, "Quiet": True}
                )
        return len(keys)

    def put_atomic(
        self, uri: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """Writes under a temporary key, then copies to the final key (a server-side copy) and
        deletes the temporary, so the final key only ever holds a complete, verified upload."""
        where = parse_uri(uri)
        staged = _staging_key(where.bucket, PurePosixPath(where.key).name or "object")
        self.put_bytes(str(staged), data, content_type)
        try:
            self.copy(str(staged), uri)
        finally:
            self.delete(str(staged))

    def put_json_atomic(self, uri: str, value: Any) -> str:
        """put_atomic for a document; returns the sha256 digest of the bytes written, which a Job
        reports in its termination message (`integrity`)."""
        data = _json_bytes(value)
        self.put_atomic(uri, data, JSON_TYPE)
        return integrity.sha256(data)

    def upload_dir(self, directory: Path, prefix: str) -> list[str]:
        """Uploads every file under `directory` to `prefix` (one object per file, relative paths as
        key suffixes); returns the URIs written. See publish_dir for an all-or-nothing upload."""
        base = parse_uri(prefix if prefix.endswith("/") else prefix + "/")
        written: list[str] = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            target = base.child(path.relative_to(directory).as_posix())
            with Call("upload"):
                self.client().upload_file(str(path), target.bucket, target.key)
            written.append(str(target))
        return written

    def publish_dir(self, directory: Path, prefix: str) -> list[str]:
        """Uploads `directory` to a staging prefix first and copies it into place only once every
        file arrived, so a crash mid-upload leaves nothing under `prefix`. Readers should still
        look for a completion marker written after this (the trainer's result.json)."""
        final = parse_uri(prefix if prefix.endswith("/") else prefix + "/")
        staging = _staging_key(final.bucket, "")
        staged = self.upload_dir(directory, str(staging))
        written: list[str] = []
        try:
            for uri in staged:
                relative = parse_uri(uri).key[len(staging.key) :]
                target = str(final.child(relative))
                self.copy(uri, target)
                written.append(target)
        finally:
            # One DELETE per staged object rather than a multi-object delete: a Jobs' credential
            # may delete only keys its policy names, which every store checks per single DELETE
            # (some, moto among them, check a multi-object delete against the bucket alone).
            for uri in staged:
                self.delete(uri)
        return written
