"""Small typed helpers over boto3 for `s3://<bucket>/<key>` URIs, shared by the operator and the
trainer and evaluator images.

The endpoint and credentials come from the standard AWS environment (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), so the same
code talks to AWS, MinIO, Ceph or the test bed's loopback server.

Errors are typed: a missing object is `ObjectNotFound` (or None from the `*_or_none` readers), a
write-once key already taken is `AlreadyExists`, and anything that says the store itself cannot
be used now (connection refused, timeouts, 5xx, refused credentials, a missing bucket) is
`ObjectStoreUnavailable`, which callers turn into an infrastructure block or exit code 8.
Messages name the operation and the error code, never the object key or the endpoint: they may
reach logs that are shipped outside the customer boundary.

Reads are bounded. Every object is read with a ranged GET (`Range: bytes=0-<limit>`) whose
answer says the object's full size before any of its body is read; an object over the limit of
its kind (`READ_LIMITS`, by `ObjectKind`) is refused with `ObjectTooLarge`, naming the kind and
the limit, having read none of it. `BodyCounter` counts what was requested and read. A process
that calls `confine_reads` (the operator: its configured bucket and those its ExecutionTargets
name) reads and lists no other bucket: a URI naming another is refused with `ForeignBucket`
before any request.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import boto3
import botocore.exceptions
import botocore.session
import botocore.utils
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

from modelsmith import integrity
from modelsmith.settings import OperatorSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

SCHEME: Final = "s3://"
STAGING_PREFIX: Final = ".modelsmith-staging/"
"""Where multi-object outputs are staged before they are copied into place. Keys under it are
never read by anything; a bucket lifecycle rule may expire them (a crashed writer leaves some)."""

JSON_TYPE: Final = "application/json"
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_PRECONDITION = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})
_UNAVAILABLE = frozenset(
    {
        "NoSuchBucket",
        # The bucket lives in another region than the one configured (requests are not
        # redirected): configuration to fix, like a missing bucket.
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
    }
)


class ObjectStoreError(Exception):
    """Something went wrong talking to the object store."""


class ObjectStoreUnavailable(ObjectStoreError):  # noqa: N818 - the contract's name
    """The store cannot be used now: unreachable, failing, or refusing our credentials."""


class ObjectNotFound(ObjectStoreError):  # noqa: N818 - reads as a condition
    """The object does not exist."""


class AlreadyExists(ObjectStoreError):  # noqa: N818 - the contract's name
    """A write-once object is already there."""


class InvalidUri(ValueError):  # noqa: N818 - reads as a condition
    """Not an `s3://<bucket>/<key>` URI."""


class ObjectKind(StrEnum):
    """What an object is, for its read limit. The value reads in messages."""

    SCENARIOS = "scenarios object"
    SCORECARD = "scorecard"
    LEDGER_ENTRY = "ledger entry"
    BUNDLE = "evidence bundle"
    RECORD = "promotion or rollback record"
    PROGRESS = "training progress report"
    TRAINING_DATA = "training data object"
    OBJECT = "object"
    """Anything else: Job specs, training material, lineage (the images' reads)."""


KIB: Final = 1024
MIB: Final = 1024 * KIB
READ_LIMITS: Final[Mapping[ObjectKind, int]] = MappingProxyType(
    {
        # As a Benchmark's inline or ConfigMap scenarios (benchmark.sources.MAX_SOURCE_BYTES);
        # MODELSMITH_MAX_BENCHMARK_BYTES raises both, the operator passing it as `limit`.
        ObjectKind.SCENARIOS: 1 * MIB,
        # Per scenario an id, a split, four dimension values and a verdict (~250 bytes): room
        # for ten thousand scenarios and more.
        ObjectKind.SCORECARD: 4 * MIB,
        ObjectKind.LEDGER_ENTRY: 256 * KIB,
        ObjectKind.BUNDLE: 4 * MIB,
        ObjectKind.RECORD: 256 * KIB,
        ObjectKind.PROGRESS: 64 * KIB,
        # An intake's supplied training records (benchmark.trainingdata), read by the operator
        # at every training launch: ten thousand prompt/answer pairs of ~400 bytes.
        ObjectKind.TRAINING_DATA: 4 * MIB,
        ObjectKind.OBJECT: 256 * MIB,
    }
)
"""The most bytes read of one object, by kind; defined here only (docs/security.md quotes it)."""


class ObjectTooLarge(ObjectStoreUnavailable):
    """An object is over the read limit of its kind; none of its body was read. A kind of
    `ObjectStoreUnavailable`: what needs it cannot go on until a person replaces the object,
    and callers already block visibly on that (a run, a gate) rather than retry out of sight."""

    def __init__(self, kind: ObjectKind, limit: int, size: int | None) -> None:
        self.kind, self.limit, self.size = kind, limit, size
        how_big = f"{size} bytes" if size is not None else "larger than that"
        super().__init__(
            f"the {kind.value} is {how_big}, more than the limit of {limit} bytes for a "
            f"{kind.value}; it was not read"
        )


class ForeignBucket(ObjectStoreUnavailable):
    """A URI names a bucket this process may not read (see `confine_reads`)."""

    def __init__(self, bucket: str, allowed: str) -> None:
        self.bucket, self.allowed = bucket, allowed
        super().__init__(
            f"the URI names the bucket {bucket}, but the operator reads only its configured "
            f"bucket {allowed} and those its ExecutionTargets name"
        )


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def child(self, name: str) -> S3Uri:
        """The URI of `name` under this prefix (a `/` is added when missing)."""
        base = self.key if self.is_prefix else self.key + "/"
        return S3Uri(self.bucket, base + name.lstrip("/"))


def parse_uri(uri: str) -> S3Uri:
    if not uri.startswith(SCHEME):
        raise InvalidUri("object store URIs start with s3://")
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise InvalidUri("the URI names no bucket")
    return S3Uri(bucket, key)


def join(prefix: str, name: str) -> str:
    return str(parse_uri(prefix).child(name))


# --- the client ---------------------------------------------------------------------------

CONNECT_TIMEOUT: Final = 5
READ_TIMEOUT: Final = 60
ATTEMPTS: Final = 3
"""Tries per request, as botocore's standard retry mode makes them."""
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_RETRYABLE_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}
)


@dataclass(frozen=True)
class _Store:
    """A boto3 client for listings, transfers and copies, and a plain signed-request path for
    single-object GET, HEAD, PUT and DELETE. botocore's per-call pipeline (model-driven
    serialisation and parsing, endpoint rules, a dozen event hooks) costs about 1.3 ms of CPU
    per small object here against 0.7 ms for the same request signed by its SigV4 signer and
    sent over its HTTP session; the operator makes four such requests per Job it launches
    (ledger entries, the scorecard), which were a seventh of its CPU."""

    client: S3Client
    endpoint: str
    """Where objects are addressed path-style: the configured endpoint, else the regional
    AWS endpoint botocore resolved."""
    region: str
    credentials: Credentials | None
    http: URLLib3Session

    def url(self, where: S3Uri) -> str:
        return f"{self.endpoint}/{where.bucket}/{quote(where.key, safe='/~')}"

    def send(
        self,
        method: str,
        where: S3Uri,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> AWSResponse:
        """One request, retried as botocore's standard mode retries (connection failures and
        timeouts, 5xx, throttling; up to ATTEMPTS with jittered exponential backoff). A refusal
        raises the ClientError botocore would have raised, so `_translate` reads both alike.
        With `stream`, a successful answer's body is left unread (`_read_bounded`)."""
        if self.credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        url = self.url(where)
        attempt = 0
        while True:
            attempt += 1
            request = AWSRequest(
                method=method,
                url=url,
                data=body,
                headers=dict(headers or {}),
                stream_output=stream,
            )
            signer = S3SigV4Auth(self.credentials.get_frozen_credentials(), "s3", self.region)
            signer.add_auth(request)
            try:
                response = self.http.send(request.prepare())
            except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError):
                if attempt == ATTEMPTS:
                    raise
            else:
                if response.status_code < 300:
                    return response
                code = _error_code(response.content)
                if attempt == ATTEMPTS or not (
                    response.status_code in _RETRYABLE_STATUS or code in _RETRYABLE_CODES
                ):
                    answer: Any = {
                        "Error": {"Code": code or str(response.status_code)},
                        "ResponseMetadata": {"HTTPStatusCode": response.status_code},
                    }
                    raise botocore.exceptions.ClientError(answer, method)
            time.sleep(random.random() * 2 ** (attempt - 1))


def _error_code(content: bytes) -> str:
    found = re.search(rb"<Code>([^<]{1,64})</Code>", content or b"")
    return found.group(1).decode("ascii", "replace") if found else ""


_stores: dict[tuple[str | None, ...], _Store] = {}
_lock = threading.Lock()


def _settings() -> tuple[str | None, ...]:
    env = os.environ
    return (
        env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
        env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    )


def _store() -> _Store:
    """The store for the current environment, made once per endpoint and credentials (making
    a client costs tens of milliseconds; clients and HTTP sessions are thread-safe)."""
    settings = _settings()
    with _lock:
        found = _stores.get(settings)
        if found is None:
            found = _stores[settings] = _make_store(settings)
        return found


def _make_store(settings: tuple[str | None, ...]) -> _Store:
    endpoint, region, _key, _secret = settings
    pooled = OperatorSettings().pooled_connections
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        max_pool_connections=pooled,
        # S3-compatible stores are reached by IP or service name, not bucket subdomains.
        s3={"addressing_style": "path" if endpoint else "auto"},
        # Several S3-compatible servers reject the newer default checksum headers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = botocore.session.get_session()
    made = boto3.session.Session(botocore_session=session).client(
        "s3", endpoint_url=endpoint, region_name=region, config=config
    )
    made.meta.events.register("before-call.s3", _expect_continue_for_large_bodies_only)
    base = made.meta.endpoint_url.rstrip("/")
    return _Store(
        client=made,
        endpoint=base,
        region=region or "us-east-1",
        credentials=session.get_credentials(),
        http=URLLib3Session(
            verify=session.get_config_variable("ca_bundle") or True,
            proxies=botocore.utils.get_environ_proxies(base),
            # (connect, read), as botocore's endpoint passes it; the stubs know only a number.
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),  # type: ignore[arg-type]
            max_pool_connections=pooled,
        ),
    )


def client() -> S3Client:
    """The boto3 client for the current environment (see `_Store`)."""
    return _store().client


EXPECT_CONTINUE_FROM: Final = 1024 * 1024
"""botocore asks every upload to wait for `100 Continue` before its body: a second round trip
for each small JSON document (ledger entries, scorecards, manifests), which is most of what the
operator writes. Only bodies this large are worth the store's chance to refuse them first."""


def put_headers(data: bytes, content_type: str, if_none_match: bool = False) -> dict[str, str]:
    """The headers of a single-object PUT (its signature and length are added on sending)."""
    headers = {"Content-Type": content_type}
    if if_none_match:
        headers["If-None-Match"] = "*"
    if len(data) >= EXPECT_CONTINUE_FROM:
        headers["Expect"] = "100-continue"
    return headers


def _expect_continue_for_large_bodies_only(params: dict[str, Any], **_: Any) -> None:
    headers = params.get("headers") or {}
    if "Expect" in headers:
        size = botocore.utils.determine_content_length(params.get("body"))
        if size is not None and size < EXPECT_CONTINUE_FROM:
            del headers["Expect"]


def _code(err: botocore.exceptions.ClientError) -> tuple[str, int]:
    error = err.response.get("Error", {})
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status)


def _translate(err: Exception, operation: str) -> ObjectStoreError:
    if isinstance(err, botocore.exceptions.ClientError):
        code, status = _code(err)
        if code in _NOT_FOUND or (status == 404 and code != "NoSuchBucket"):
            return ObjectNotFound(f"{operation}: no such object")
        if code in _PRECONDITION or status == 412:
            return AlreadyExists(f"{operation}: the object already exists")
        if code in _UNAVAILABLE or status >= 500 or status in (401, 403):
            return ObjectStoreUnavailable(f"{operation}: the object store answered {code}")
        return ObjectStoreError(f"{operation}: the object store answered {code or status}")
    if isinstance(err, botocore.exceptions.NoCredentialsError):
        return ObjectStoreUnavailable(f"{operation}: no object store credentials are configured")
    if isinstance(err, botocore.exceptions.BotoCoreError | ConnectionError | TimeoutError):
        return ObjectStoreUnavailable(
            f"{operation}: the object store is unreachable ({type(err).__name__})"
        )
    return ObjectStoreError(f"{operation}: {type(err).__name__}")


class _Call:
    """Turns boto3's exceptions into ours for the block it guards."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: BaseException | None, tb: object) -> None:
        if isinstance(err, Exception) and not isinstance(err, ObjectStoreError):
            raise _translate(err, self.operation) from err


# --- reading ------------------------------------------------------------------------------

_confined: str | None = None
_also_allowed: Callable[[], Collection[str]] | None = None


def confine_reads(bucket: str | None, others: Callable[[], Collection[str]] | None = None) -> None:
    """From now on this process reads and lists only `bucket` (None: any) and the buckets
    `others()` gives when asked (asked only for a URI outside `bucket`). The operator calls it
    at start with its configured bucket and its ExecutionTargets' buckets: a URI from a spec (a
    Benchmark's scenarios, an intake's base model) must not make it read any other bucket with
    its own credentials."""
    global _confined, _also_allowed
    _confined, _also_allowed = bucket, others


def _readable(uri: str) -> S3Uri:
    where = parse_uri(uri)
    if _confined is None or where.bucket == _confined:
        return where
    if _also_allowed is None or where.bucket not in _also_allowed():
        raise ForeignBucket(where.bucket, _confined)
    return where


class BodyCounter:
    """Bytes of object bodies this process asked for (the ranges it sent) and read, so a test
    can show a refused object cost nothing and a bounded read no more than its limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requested = 0
        self.read = 0

    def add(self, requested: int = 0, read: int = 0) -> None:
        with self._lock:
            self.requested += requested
            self.read += read


BODIES: Final = BodyCounter()


def kind_of(uri: str) -> ObjectKind:
    """The kind of an object of the run layout (`layout`), by its name; OBJECT otherwise."""
    key = parse_uri(uri).key
    name = PurePosixPath(key).name
    if "/ledger/" in f"/{key}":
        return ObjectKind.LEDGER_ENTRY
    by_name = {
        "scorecard.json": ObjectKind.SCORECARD,
        "bundle.json": ObjectKind.BUNDLE,
        "promotion-record.json": ObjectKind.RECORD,
        "rollback-record.json": ObjectKind.RECORD,
        "progress.json": ObjectKind.PROGRESS,
    }
    # A Benchmark's source object is read as SCENARIOS by name of the caller; the snapshot the
    # Jobs read (layout.benchmark_scenarios) is JSON lines of it, larger than its YAML source.
    return by_name.get(name, ObjectKind.OBJECT)


def _total_size(response: AWSResponse) -> int | None:
    """The object's full size: from Content-Range on a 206, Content-Length on a 200."""
    headers = response.headers
    if response.status_code == 206:
        total = str(headers.get("Content-Range", "")).rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = str(headers.get("Content-Length", ""))
    return int(length) if length.isdigit() else None


def _read_bounded(where: S3Uri, kind: ObjectKind, limit: int) -> bytes:
    """The object's bytes, at most `limit` of them: a ranged GET, whose answer's headers give
    the full size before the body is read; a server that ignores the range is read no further
    than one byte past the limit either."""
    BODIES.add(requested=limit + 1)
    try:
        response = _store().send("GET", where, headers={"Range": f"bytes=0-{limit}"}, stream=True)
    except botocore.exceptions.ClientError as err:
        if _code(err)[0] == "InvalidRange":
            return b""  # a range from byte 0 is unsatisfiable only for an empty object
        raise
    raw = response.raw
    size = _total_size(response)
    data = b"" if size is not None and size > limit else raw.read(limit + 1)
    BODIES.add(read=len(data))
    if len(data) > limit or (size is not None and size > limit):
        # The rest is not worth draining: the connection is dropped, not reused.
        raw.close()
        raise ObjectTooLarge(kind, limit, size)
    raw.release_conn()  # read to its end: the connection goes back to the pool
    return bytes(data)


def get_bytes(uri: str, kind: ObjectKind | None = None, limit: int | None = None) -> bytes:
    """The object's bytes, refused (`ObjectTooLarge`) over the limit of its kind (`kind_of`
    when not given; `limit` overrides the kind's) and outside a confined bucket."""
    where = _readable(uri)
    kind = kind or kind_of(uri)
    with _Call("get"):
        return _read_bounded(where, kind, READ_LIMITS[kind] if limit is None else limit)


def get_bytes_or_none(
    uri: str, kind: ObjectKind | None = None, limit: int | None = None
) -> bytes | None:
    try:
        return get_bytes(uri, kind, limit)
    except ObjectNotFound:
        return None


def get_json(uri: str, kind: ObjectKind | None = None) -> Any:
    return json.loads(get_bytes(uri, kind))


def get_json_or_none(uri: str, kind: ObjectKind | None = None) -> Any:
    data = get_bytes_or_none(uri, kind)
    return None if data is None else json.loads(data)


def exists(uri: str) -> bool:
    where = _readable(uri)
    try:
        with _Call("head"):
            _store().send("HEAD", where)
    except ObjectNotFound:
        return False
    return True


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    key: str
    size: int
    etag: str

    def relative_to(self, prefix: str) -> str:
        return self.key[len(parse_uri(prefix).key) :]


def iter_objects(prefix: str) -> Iterator[ObjectInfo]:
    """Every object whose key starts with the prefix's key, in key order."""
    where = _readable(prefix)
    with _Call("list"):
        pages = (
            client()
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


def list_objects(prefix: str) -> list[ObjectInfo]:
    return list(iter_objects(prefix))


def prefix_has_objects(prefix: str) -> bool:
    where = _readable(prefix)
    with _Call("list"):
        page = client().list_objects_v2(Bucket=where.bucket, Prefix=where.key, MaxKeys=1)
    return bool(page.get("KeyCount", 0) or page.get("Contents"))


def download_prefix(prefix: str, directory: Path) -> list[Path]:
    """Copies every object under `prefix` (a "directory" URI) into `directory`, keeping the
    relative key layout; returns the files written. Keys that would land outside `directory`
    (`..` segments, absolute parts) are refused rather than followed."""
    root = directory.resolve()
    base = parse_uri(prefix if prefix.endswith("/") else prefix + "/")
    written: list[Path] = []
    for info in iter_objects(str(base)):
        relative = info.key[len(base.key) :]
        if not relative or relative.endswith("/"):
            continue  # a "folder" marker some tools create
        parts = PurePosixPath(relative).parts
        if any(part in ("..", "") for part in parts) or PurePosixPath(relative).is_absolute():
            raise ObjectStoreError("download: an object key leaves the target directory")
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _Call("download"):
            client().download_file(base.bucket, info.key, str(target))
        written.append(target)
    return written


# --- writing ------------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=2).encode("utf-8") + b"\n"


def put_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """One PUT. S3 never shows a partly written object, but a reader may see the old version
    until the new one is complete."""
    where = parse_uri(uri)
    with _Call("put"):
        _store().send("PUT", where, data, put_headers(data, content_type))


def put_json(uri: str, value: Any) -> None:
    put_bytes(uri, _json_bytes(value), JSON_TYPE)


def put_if_absent(uri: str, data: bytes, content_type: str = JSON_TYPE) -> None:
    """Write-once: a conditional PUT (If-None-Match: *) that raises AlreadyExists when the key
    is taken, whoever took it first."""
    where = parse_uri(uri)
    with _Call("put-if-absent"):
        _store().send("PUT", where, data, put_headers(data, content_type, if_none_match=True))


def put_json_once(uri: str, value: Any) -> bool:
    """put_if_absent for a document (text and bytes are written as they are, anything else as
    JSON); False when something was already there, which is not compared."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = _json_bytes(value)
    try:
        put_if_absent(uri, data)
    except AlreadyExists:
        return False
    return True


def _staging_key(bucket: str, name: str) -> S3Uri:
    return S3Uri(bucket, f"{STAGING_PREFIX}{uuid.uuid4().hex}/{name}")


def copy(source: str, destination: str) -> None:
    src, dst = parse_uri(source), parse_uri(destination)
    with _Call("copy"):
        client().copy({"Bucket": src.bucket, "Key": src.key}, dst.bucket, dst.key)


def delete(uri: str) -> None:
    where = parse_uri(uri)
    with _Call("delete"):
        _store().send("DELETE", where)


def delete_prefix(prefix: str) -> int:
    """Deletes every object under the prefix; returns how many."""
    where = parse_uri(prefix)
    keys = [info.key for info in iter_objects(prefix)]
    for start in range(0, len(keys), 1000):
        batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys[start : start + 1000]]
        with _Call("delete"):
            client().delete_objects(Bucket=where.bucket, Delete={"Objects": batch, "Quiet": True})
    return len(keys)


def put_atomic(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """Writes under a temporary key, then copies to the final key (a server-side copy) and
    deletes the temporary, so the final key only ever holds a complete, verified upload."""
    where = parse_uri(uri)
    staged = _staging_key(where.bucket, PurePosixPath(where.key).name or "object")
    put_bytes(str(staged), data, content_type)
    try:
        copy(str(staged), uri)
    finally:
        delete(str(staged))


def put_json_atomic(uri: str, value: Any) -> str:
    """put_atomic for a document; returns the sha256 digest of the bytes written, which a Job
    reports in its termination message (modelsmith.integrity)."""
    data = _json_bytes(value)
    put_atomic(uri, data, JSON_TYPE)
    return integrity.sha256(data)


def upload_dir(directory: Path, prefix: str) -> list[str]:
    """Uploads every file under `directory` to `prefix` (one object per file, relative paths as
    key suffixes); returns the URIs written. See publish_dir for an all-or-nothing upload."""
    base = parse_uri(prefix if prefix.endswith("/") else prefix + "/")
    written: list[str] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        target = base.child(path.relative_to(directory).as_posix())
        with _Call("upload"):
            client().upload_file(str(path), target.bucket, target.key)
        written.append(str(target))
    return written


def publish_dir(directory: Path, prefix: str) -> list[str]:
    """Uploads `directory` to a staging prefix first and copies it into place only once every
    file arrived, so a crash mid-upload leaves nothing under `prefix`. Readers should still
    look for a completion marker written after this (the trainer's result.json)."""
    final = parse_uri(prefix if prefix.endswith("/") else prefix + "/")
    staging = _staging_key(final.bucket, "")
    staged = upload_dir(directory, str(staging))
    written: list[str] = []
    try:
        for uri in staged:
            relative = parse_uri(uri).key[len(staging.key) :]
            target = str(final.child(relative))
            copy(uri, target)
            written.append(target)
    finally:
        # One DELETE per staged object rather than a multi-object delete: a Jobs' credential
        # may delete only keys its policy names, which every store checks per single DELETE
        # (some, moto among them, check a multi-object delete against the bucket alone).
        for uri in staged:
            delete(uri)
    return written
