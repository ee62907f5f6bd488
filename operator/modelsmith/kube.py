"""Kubernetes client access shared by the handlers: one configured ApiClient per process."""

from __future__ import annotations

import functools
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelsmith import GROUP, VERSION


@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


# The generated clients are typed with model classes; the operator speaks plain JSON manifests
# (the same shapes as the YAML users write), so they are handed out untyped.
def core() -> Any:
    return client.CoreV1Api(api_client())


def batch() -> Any:
    return client.BatchV1Api(api_client())


def custom() -> Any:
    return client.CustomObjectsApi(api_client())


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


def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    """A merge patch of the status subresource only: the operator never writes spec."""
    custom().patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        plural,
        name,
        {"status": status},
        _content_type="application/merge-patch+json",
    )


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409
