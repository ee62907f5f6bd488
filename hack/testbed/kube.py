"""Typed seams over the Kubernetes client: its loaders and watch are untyped, and its generated
models make every field Optional, so the test bed reads objects as plain JSON (camelCase keys,
as in a manifest) and writes manifests as plain dicts, which the client sends unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

# A Kubernetes object as JSON. `Any` rather than dict[str, Any]: the client's methods are typed
# with model classes, and they accept a manifest dict in their place.
Json = Any


def new_api_client(kubeconfig: Path | str, context: str | None = None,
                   impersonate: str | None = None,
                   impersonate_group: str | None = None) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), context=context)
    if impersonate:
        api.set_default_header("Impersonate-User", impersonate)  # type: ignore[no-untyped-call]
    if impersonate_group:
        api.set_default_header(  # type: ignore[no-untyped-call]
            "Impersonate-Group", impersonate_group)
    return api


def read_json(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
    """Calls a client method for its raw response and returns the decoded JSON."""
    response = call(*args, _preload_content=False, **kwargs)
    return json.loads(response.data)


def watch_json(call: Callable[..., Any], **kwargs: Any) -> Iterator[tuple[str, Json]]:
    """(event type, object as JSON) for each event of a watch on a list method."""
    stream = watch.Watch().stream(call, **kwargs)  # type: ignore[no-untyped-call]
    for event in stream:
        yield str(event["type"]), event["raw_object"]


def condition(obj: Json, kind: str) -> Json:
    """The status condition of type `kind`, or None (Json being Any, the type says no more)."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return item
    return None
