"""Kubernetes client access shared by the handlers: one configured ApiClient per process."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from kubernetes import client, config

# The client loads each API class lazily, on first use; CoreV1Api alone takes over a second of
# CPU to load. Loading them with this module moves that to operator start, off the first
# reconciles (which would otherwise each wait for it).
from kubernetes.client import BatchV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from modelsmith import GROUP, VERSION
from modelsmith.settings import OperatorSettings


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


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call`'s response as plain JSON. The generated clients turn every response into model
    objects, which costs ~3 ms of CPU per Job or pod (a hundred times the JSON parse); the
    operator reads a few fields and sends manifests as dicts, so it takes the JSON as is."""
    response = call(*args, _preload_content=False, **kwargs)
    return json.loads(response.data)


def get_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = custom().get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return obj


def patch_status(
    plural: str,
    namespace: str,
    name: str,
    status: dict[str, Any],
    resource_version: str | None = None,
) -> dict[str, Any]:
    """A merge patch of the status subresource only: the operator never writes spec. With
    `resource_version`, the API server refuses the patch (409) when the object changed since
    that version was read, so a decision taken on a stale read is never written over a newer
    one. Returns the object as stored."""
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    stored: dict[str, Any] = custom().patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        plural,
        name,
        body,
        _content_type="application/merge-patch+json",
    )
    return stored


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def is_gone(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 410


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409
