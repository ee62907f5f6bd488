"""Kubernetes client access shared by the handlers: one configured ApiClient per process."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from kubernetes import client, config

# The client loads each API class lazily, on first use; CoreV1Api alone takes over a second of
# CPU to load. Loading them with this module moves that to operator start, off the first
# reconciles (which would otherwise each wait for it).
from kubernetes.client import BatchV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from modelsmith import GROUP, VERSION
from modelsmith.runtime.settings import OperatorSettings


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


# The generated clients are typed with model classes; the operator speaks plain JSON manifests
# (the same shapes as the YAML users write), so they are handed out untyped.
def core() -> Any:
    return CoreV1Api(api_client())


def batch() -> Any:
    return BatchV1Api(api_client())


def custom() -> Any:
    return CustomObjectsApi(api_client())


def rest(
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> Any:
    """One API request by path, its JSON answer as plain data; non-2xx raises ApiException as
    the generated clients do. The generated clients validate every argument with pydantic,
    turn a manifest dict into their model objects and back before sending it, and every
    response into model objects (~3 ms of CPU per Job or pod, a hundred times the JSON parse);
    the operator sends and reads manifests as the dicts they are. Answers are parsed with
    orjson, as the informer's watch events are: decoding objects was a tenth of the operator's
    CPU in the benchmark's scale phase, and orjson takes about half the time of `json`."""
    api: Any = api_client()
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    request = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=list((query or {}).items()),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    response.read()
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return orjson.loads(response.data)


def custom_path(plural: str, namespace: str, name: str = "") -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
    return f"{base}/{name}" if name else base


def get_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = rest("GET", custom_path(plural, namespace, name))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return obj


METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


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
        content_type="application/merge-patch+json",
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
