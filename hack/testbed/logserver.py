"""The slice of the kubelet's HTTPS API that `kubectl logs` needs: the API server fetches
/containerLogs/<namespace>/<pod>/<container> from the node's kubeletEndpoint, presenting its
kubelet-client certificate, which this server verifies against the test bed's CA."""

from __future__ import annotations

import io
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from testbed.waiting import tail

# (namespace, pod, container) -> (log file, still running?)
Lookup = Callable[[str, str, str], tuple[Path, Callable[[], bool]] | None]


def serve(port: int, cert: Path, key: Path, client_ca: Path, lookup: Lookup) -> ThreadingHTTPServer:
    """Starts the server on a daemon thread and returns it."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # the node agent's log is for pod lifecycle, not for every request

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if url.path in ("/healthz", "/readyz", "/livez"):
                self._reply(200, b"ok")
                return
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._reply(404, b"not found")
                return
            found = lookup(parts[1], parts[2], parts[3])
            if found is None:
                self._reply(404, f"container {parts[3]} of pod {parts[1]}/{parts[2]} has no "
                                 "logs on this node".encode())
                return
            path, running = found
            query = parse_qs(url.query)
            data = _logged(path, query)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(data)
            if query.get("follow", ["false"])[0] == "true":
                _follow(self.wfile, path, running)

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.load_verify_locations(str(client_ca))
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="log-server", daemon=True).start()
    return server


def _logged(path: Path, query: dict[str, list[str]]) -> bytes:
    """What the log holds now, cut to the request's tailLines and limitBytes."""
    tail_lines = query.get("tailLines", [None])[0]
    limit = int(query.get("limitBytes", ["0"])[0] or 0)
    if tail_lines is not None:
        data = (tail(path, int(tail_lines), max_bytes=10_000_000) + "\n").encode()
        if int(tail_lines) == 0:
            data = b""
    else:
        data = path.read_bytes() if path.exists() else b""
    return data[:limit] if limit else data


def _follow(out: io.BufferedIOBase, path: Path, running: Callable[[], bool]) -> None:
    """Writes what the log gains until its container has stopped and all of it is written, or
    the client goes away."""
    offset = path.stat().st_size if path.exists() else 0
    try:
        while True:
            alive = running()
            if path.exists() and path.stat().st_size > offset:
                with path.open("rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                out.write(chunk)
                out.flush()
            elif not alive:
                return
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
        return
