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
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def batch() -> client.BatchV1Api:
    return client.BatchV1Api(api_client())


def custom() -> client.CustomObjectsApi:
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
    custom().api_client.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status",
        "PATCH",
        body={"status": status},
        header_params={
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
        auth_settings=["BearerToken"],
        response_type="object",
        _return_http_data_only=True,
    )


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409
