"""The one way status is written, in the style of cluster-api's patch helper: a controller states
the status it wants (`StatusWriter.patch`), and the writer sends the smallest JSON merge patch
(RFC 7386) from the stored status to it, one request, or none when nothing changed (an idle
cluster sees no API writes from the operator). Conditions carry observedGeneration
(`conditions.set_condition`).

The desired status is sanitised first (`statusguard`): what was stored is the sanitised form, so
a status whose text needed redacting compares equal to it and is not written again.

When a write moves what the kind's `Transitions` name (a condition's status or reason, or the
phase), the writer records one Event about it, after the write succeeded (`transitions`).

A write remembers the version it produced, so that its own watch echo does not start another
reconcile (`queue.Queue.reconcile`), and what it stored for the next read (`cache.Cache.wrote`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelsmith.runtime import kube
from modelsmith.runtime.cache import VERSIONED_KINDS, Cache
from modelsmith.runtime.events import Recorder
from modelsmith.runtime.statusguard import CleanStatus, clean_status
from modelsmith.runtime.transitions import Transitions, announcement, merged

Key = tuple[str, str, str]
"""(plural, namespace, name)"""


@dataclass(frozen=True)
class Written:
    patch: dict[str, Any]
    """What was sent: the fields that changed."""
    stored: dict[str, Any]
    """The object as stored (of the kinds the cache keeps by version only, its metadata)."""


class StatusWriter:
    def __init__(
        self, cache: Cache, remember: Callable[[Key, str], None], events: Recorder
    ) -> None:
        self._cache = cache
        self._remember = remember
        self._events = events

    def write(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Sends `patch` to the status subresource (with `resource_version`, refused if the
        object changed since it was read) and returns the object as stored (of the kinds the
        cache keeps by version only, only its metadata). A patch from `merge_patch` is already
        sanitised; any other is cleaned here."""
        patch = clean_status(patch, (plural, namespace, name))
        stored = kube.patch_status(
            plural,
            namespace,
            name,
            patch,
            resource_version,
            metadata_only=plural in VERSIONED_KINDS,
        )
        self._remember((plural, namespace, name), stored["metadata"]["resourceVersion"])
        self._cache.wrote(plural, stored)
        return stored

    def patch(
        self,
        plural: str,
        body: dict[str, Any],
        desired: dict[str, Any],
        old: dict[str, Any] | None = None,
        guarded: bool = True,
        transitions: Transitions | None = None,
    ) -> Written | None:
        """Writes what `desired` changes in the stored status (`old`, else `body`'s), as one
        merge patch; None when it changes nothing. `guarded`: refused (409) if the object
        changed since `body` was read. Once written, a move of what `transitions` names is
        recorded as an Event. `body` is left as it is: it may be the cache's, which only the
        watch and `Cache.wrote` change."""
        meta = body["metadata"]
        stored_status = (body.get("status") or {}) if old is None else old
        changed = merge_patch(stored_status, desired, (plural, meta["namespace"], meta["name"]))
        if not changed:
            return None
        version = meta.get("resourceVersion") if guarded else None
        written = Written(
            changed, self.write(plural, meta["namespace"], meta["name"], changed, version)
        )
        event = (
            None
            if transitions is None
            else announcement(stored_status, merged(stored_status, changed), transitions)
        )
        if event is not None:
            self._events.emit(body, event.type, event.reason, event.message)
        return written


def merge_patch(old: dict[str, Any], new: dict[str, Any], key: Key | None = None) -> dict[str, Any]:
    """The patch from `old` to the sanitised `new`, itself marked as sanitised."""
    return CleanStatus(_diff(old, clean_status(new, key)))


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in new.items():
        current = old.get(key)
        if value is None:
            if current is not None:
                patch[key] = None
        elif isinstance(value, dict) and isinstance(current, dict):
            nested = _diff(current, value)
            if nested:
                patch[key] = nested
        elif _normal(value) != _normal(current):
            patch[key] = value
    return patch


def _normal(value: Any) -> Any:
    """Numbers compare by value (1 and 1.0 are the same score), and nulls inside lists and
    objects are dropped, as the API server stores them."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value
