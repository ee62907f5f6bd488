"""How single-object requests retry, against a loopback HTTP server that answers as a struggling
S3 store does (the test bed's store never fails on its own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelsmith.contract import s3
from modelsmith.contract.objectstore import Store

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = Store()


class Script:
    """What the store answers, in order: (status, error code or None for a body of b"ok")."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str | None]] = []
        self.requests: list[str] = []


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            script.requests.append(f"{self.command} {self.path}")
            status, code = script.answers.pop(0) if script.answers else (200, None)
            body = b"ok" if code is None else f"<Error><Code>{code}</Code></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = _answer  # noqa: N815 - http.server's names

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Iterator[Script]:
    script = Script()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "retry-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "retry-test-secret")
    yield script
    server.shutdown()
    server.server_close()


def test_throttling_and_server_errors_are_retried(script: Script) -> None:
    script.answers = [(503, "SlowDown"), (500, "InternalError")]
    assert STORE.get_bytes("s3://bucket/runs/a b.json") == b"ok"
    assert script.requests == ["GET /bucket/runs/a%20b.json"] * 3


def test_a_store_failing_every_attempt_is_unavailable(script: Script) -> None:
    script.answers = [(503, "SlowDown")] * s3.ATTEMPTS
    with pytest.raises(s3.ObjectStoreUnavailable, match="SlowDown"):
        STORE.put_bytes("s3://bucket/key", b"{}")
    assert len(script.requests) == s3.ATTEMPTS


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "NoSuchKey", s3.ObjectNotFound),
        (412, "PreconditionFailed", s3.AlreadyExists),
        (403, "AccessDenied", s3.ObjectStoreUnavailable),
        (404, "NoSuchBucket", s3.ObjectStoreUnavailable),
        (301, "PermanentRedirect", s3.ObjectStoreUnavailable),
    ],
)
def test_answers_are_final_and_typed(
    script: Script, status: int, code: str, error: type[Exception]
) -> None:
    script.answers = [(status, code)]
    with pytest.raises(error) as caught:
        STORE.put_if_absent("s3://bucket/secret-key.json", b"{}")
    assert len(script.requests) == 1
    assert "secret-key" not in str(caught.value) and "127.0.0.1" not in str(caught.value)
