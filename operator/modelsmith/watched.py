"""The last body the watch delivered for ModelIntakes, which every run reconcile reads.
Benchmarks are read from the API when needed (an intake's check, a Job launch): kept here, 500
of them took 50 MB of the operator's memory for one read per launch.

Served from here they cost no API request; they are as current as the watch event that would
wake the reader anyway. An object not seen yet (the operator just started, or the watch is
behind) is read from the API. While this replica is held by a peer, kopf's watches pause and
nothing here would move, so everything is dropped and read afresh after (`clear`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from modelsmith import kube

CACHED_KINDS = ("modelintakes",)

_lock = threading.Lock()
_bodies: dict[tuple[str, str, str], dict[str, Any]] = {}


def seen(plural: str, type: str | None, namespace: str, name: str, body: Mapping[str, Any]) -> None:
    """Records a watch event of one of CACHED_KINDS."""
    key = (plural, namespace, name)
    with _lock:
        if type == "DELETED" or plural not in CACHED_KINDS:
            _bodies.pop(key, None)
        else:
            _bodies[key] = dict(body)


def cached(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as last watched; None when not seen (or not one of CACHED_KINDS)."""
    with _lock:
        return _bodies.get((plural, namespace, name))


def get(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as last watched, else as the API server has it (None: it does not exist).
    Callers read it and never change it."""
    body = cached(plural, namespace, name)
    return body if body is not None else kube.get_custom(plural, namespace, name)


def clear() -> None:
    with _lock:
        _bodies.clear()
