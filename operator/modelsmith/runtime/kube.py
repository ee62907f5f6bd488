"""Kubernetes API access, the one way the operator and its kubectl plugin call the API server:
`rest` sends a request by URL path with plain JSON manifests in and out (`watch` is the same
request, its answer streamed). The path builders spell the paths; `find`, `get_custom` and
`patch_status` are the reads and writes the controllers repeat."""

from __future__ import annotations

import functools
from typing import Any, Final

import orjson
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelsmith import GROUP, VERSION
from modelsmith.runtime.settings import OperatorSettings

CORE: Final = "v1"
BATCH: Final = "batch/v1"
OURS: Final = f"{GROUP}/{VERSION}"
MERGE_PATCH: Final = "application/merge-patch+json"
METADATA_ONLY: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


# One client per process, made on first use (nothing at import): the kubernetes package keeps its
# configuration process-wide, and every runtime of the process talks to the same API server.
@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize or 0, OperatorSettings().pooled_connections
    )
    return client.ApiClient(configuration)


def path(group_version: str, plural: str, namespace: str = "", name: str = "") -> str:
    """The URL path of a collection (no `name`) or one object; without `namespace`, a
    cluster-scoped resource or a namespaced one across all namespaces. The core group lives
    under /api, every other group under /apis."""
    root = "/api/v1" if group_version == CORE else f"/apis/{group_version}"
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"{root}{where}/{plural}" + (f"/{name}" if name else "")


def core_path(plural: str, namespace: str = "", name: str = "") -> str:
    return path(CORE, plural, namespace, name)


def batch_path(plural: str, namespace: str = "", name: str = "") -> str:
    return path(BATCH, plural, namespace, name)


def custom_path(plural: str, namespace: str = "", name: str = "") -> str:
    """A path of the operator's own API group (modelsmith.io)."""
    return path(OURS, plural, namespace, name)


def _send(
    method: str,
    path: str,
    body: Any,
    query: dict[str, str] | None,
    headers: dict[str, str],
    api: client.ApiClient | None,
    timeout: Any = None,
) -> Any:
    """The response of one request, its body not read yet; non-2xx raises ApiException (with
    the status and the API server's message), as the generated clients do."""
    api_: Any = api or api_client()
    request = api_.param_serialize(
        method=method,
        resource_path=path,
        query_params=list((query or {}).items()),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api_.call_api(*request, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return response


def rest(
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
    api: client.ApiClient | None = None,
) -> Any:
    """One API request by path, its JSON answer as plain data; non-2xx raises ApiException.
    `api` is the process's client unless given (the kubectl plugin brings its own, for the
    user's kubeconfig context and impersonation).

    The generated typed clients are not used: they validate every argument with pydantic,
    turn a manifest dict into their model objects and back before sending it, and every
    response into model objects (~3 ms of CPU per Job or pod, a hundred times the JSON parse);
    the operator sends and reads manifests as the dicts they are. Answers are parsed with
    orjson, as the informer's watch events are: decoding objects was a tenth of the operator's
    CPU in the benchmark's scale phase, and orjson takes about half the time of `json`."""
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    response = _send(method, path, body, query, headers, api)
    response.read()
    return orjson.loads(response.data)


def watch(path: str, query: dict[str, str], timeout: tuple[float, float]) -> Any:
    """A watch request's streaming response (urllib3's: iterate `.stream()`, then call
    `.release_conn()`); `timeout` is (connect, read) in seconds."""
    query = {**query, "watch": "true"}
    sent = _send("GET", path, None, query, {"Accept": "application/json"}, None, timeout)
    return sent.response


def find(path: str) -> dict[str, Any] | None:
    """The object at `path`, or None when the API server has none."""
    try:
        obj: dict[str, Any] = rest("GET", path)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return obj


def get_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    return find(custom_path(plural, namespace, name))


def patch_status(
    plural: str,
    namespace: str,
    name: str,
    status: dict[str, Any],
    resource_version: str | None = None,
    metadata_only: bool = False,
) -> dict[str, Any]:
    """A merge patch of the status subresource only: the operator never writes spec. With
    `resource_version`, the API server refuses the patch (409) when the object changed since
    that version was read, so a decision taken on a stale read is never written over a newer
    one. Returns the object as stored; with `metadata_only`, only its metadata (the API server
    sends, and the operator parses, no spec and status it has no use for)."""
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    stored: dict[str, Any] = rest(
        "PATCH",
        custom_path(plural, namespace, name) + "/status",
        body,
        content_type=MERGE_PATCH,
        accept=METADATA_ONLY if metadata_only else "application/json",
    )
    return stored


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def is_gone(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 410


def is_forbidden(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 403


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409
