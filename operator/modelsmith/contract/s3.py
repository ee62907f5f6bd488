"""The object store's transport, shared by the operator and the trainer and evaluator images:
`s3://<bucket>/<key>` URIs, the typed errors, and the signed requests and boto3 client every
read and write (`objectstore`) goes through.

The endpoint and credentials come from the standard AWS environment (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), so the same
code talks to AWS, MinIO, Ceph or the test bed's loopback server.

Errors are typed: a missing object is `ObjectNotFound`, a write-once key already taken is
`AlreadyExists`, and anything that says the store itself cannot be used now (connection refused,
timeouts, 5xx, refused credentials, a missing bucket) is `ObjectStoreUnavailable`, which callers
turn into an infrastructure block or exit code 8. Messages name the operation and the error
code, never the object key or the endpoint: they may reach logs that are shipped outside the
customer boundary.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
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

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SCHEME: Final = "s3://"
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


class BodyCounter:
    """Bytes of object bodies a store was asked for (the ranges sent) and read, so a test can
    show a refused object cost nothing and a bounded read no more than its limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requested = 0
        self.read = 0

    def add(self, requested: int = 0, read: int = 0) -> None:
        with self._lock:
            self.requested += requested
            self.read += read


@dataclass(frozen=True)
class Connection:
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
    bodies: BodyCounter = field(default_factory=BodyCounter)

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
        raises the ClientError botocore would have raised, so `translate` reads both alike.
        With `stream`, a successful answer's body is left unread (`objectstore` reads it, no
        further than its limit)."""
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


@dataclass(frozen=True)
class Environment:
    """What a connection is made from: a change in any of it makes a new one."""

    pool: int
    endpoint: str | None
    region: str
    key_id: str | None
    secret: str | None

    @classmethod
    def current(cls, pool: int) -> Environment:
        """The process environment's endpoint and credentials, `pool` connections kept."""
        env = os.environ
        return cls(
            pool=pool,
            endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            key_id=env.get("AWS_ACCESS_KEY_ID"),
            secret=env.get("AWS_SECRET_ACCESS_KEY"),
        )


def connect(environment: Environment) -> Connection:
    """A new connection (tens of milliseconds: `objectstore.Store` makes one per environment
    and keeps it; clients and HTTP sessions are thread-safe)."""
    endpoint, region, pooled = environment.endpoint, environment.region, environment.pool
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
    return Connection(
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


def error_of(err: botocore.exceptions.ClientError) -> tuple[str, int]:
    error = err.response.get("Error", {})
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status)


def translate(err: Exception, operation: str) -> ObjectStoreError:
    if isinstance(err, botocore.exceptions.ClientError):
        code, status = error_of(err)
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


class Call:
    """Turns boto3's exceptions into ours for the block it guards."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: BaseException | None, tb: object) -> None:
        if isinstance(err, Exception) and not isinstance(err, ObjectStoreError):
            raise translate(err, self.operation) from err

