"""The last body the watch delivered for the objects every run reconcile reads: ModelIntakes,
IterationRuns, and the Jobs and pods the operator launched. Benchmarks are read from the API
when needed (an intake's check, a Job launch): kept here, 500 of them took 50 MB of the
operator's memory for one read per launch. Only a Benchmark body an event brought and no
reconcile has taken yet is held (`take`), so the reconcile that event starts reads nothing.

Served from here they cost no API request; they are as current as the watch event that would
wake the reader anyway. An object not seen yet (the operator just started, or the watch is
behind) is read from the API, never stored: only the watch and this replica's own writes put
bodies here, so a body read just before its object was deleted cannot come back after the
deletion event. A write's response replaces the cached body when it is newer, so a reconcile
never reads anything older than what this replica itself wrote; a status write decided on a
body someone else changed since is refused by its resourceVersion precondition, and the
queue drops the entry (`forget`) so the next read goes to the API server.

While this replica is held by a peer, kopf's watches pause and what they fed would not move, so
it is dropped and read afresh after (`clear(KOPF_FED)`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from modelsmith.runtime import kube

CACHED_KINDS = frozenset({"modelintakes", "iterationruns", "jobs", "pods", "jobsets"})
KOPF_FED = frozenset({"modelintakes", "iterationruns", "benchmarks"})
"""Fed by kopf's watches, which pause while a peer holds this replica (Jobs and pods come from
`informer`, which goes on)."""
VERSIONED_KINDS = frozenset({"benchmarks"})
"""Kept as their last resourceVersion only, so a reader can tell whether what it derived from
one (a Benchmark's parsed scenarios) is still current without reading it again; and the body of
a change no reconcile has taken yet, until one does."""


def resource_version(body: Mapping[str, Any]) -> int | None:
    """The body's resourceVersion as the integer the API server makes it; None if it is not one."""
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def _newer(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """resourceVersions are opaque to clients in general, but the API server's (etcd's) are
    increasing integers, the same comparison client-go's mutation cache makes; anything else
    counts as newer, as the watch's order says."""
    if old is None:
        return True
    a, b = resource_version(new), resource_version(old)
    return a is None or b is None or a >= b


class Cache:
    """The cached bodies and versions of one runtime (see the module's notes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (plural, namespace) -> name -> body: a namespace's pods are listed without a scan of all.
        self._bodies: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._versions: dict[tuple[str, str, str], int | None] = {}
        self._handed: dict[tuple[str, str, str], dict[str, Any]] = {}

    def seen(self, plural: str, event: Mapping[str, Any]) -> None:
        """Records a watch event (kopf's raw `event`: its type, None for the initial listing, and
        its object) of one of CACHED_KINDS or VERSIONED_KINDS; others are ignored. The object is
        kept as decoded (kopf's view of it would cost a copy per event): nobody changes it."""
        type, body = event.get("type"), event["object"]
        meta = body["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        if plural in VERSIONED_KINDS:
            with self._lock:
                if type == "DELETED":
                    self._versions.pop((plural, namespace, name), None)
                    self._handed.pop((plural, namespace, name), None)
                else:
                    key, version = (plural, namespace, name), resource_version(body)
                    known = self._versions.get(key)
                    # Not what this replica wrote itself (`wrote` recorded that version first).
                    if known is None or version is None or version > known:
                        self._handed[key] = body
                    self._versions[key] = version
            return
        if plural not in CACHED_KINDS:
            return
        with self._lock:
            bodies = self._bodies.setdefault((plural, namespace), {})
            if type == "DELETED":
                bodies.pop(name, None)
            elif _newer(body, bodies.get(name)):
                bodies[name] = body

    def wrote(self, plural: str, body: dict[str, Any]) -> None:
        """Records the object a write of this replica's returned, over an older cached body; an
        object not cached (deleted meanwhile, or not seen yet) stays out."""
        meta = body["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        with self._lock:
            if plural in VERSIONED_KINDS:
                key, version = (plural, namespace, name), resource_version(body)
                known = self._versions.get(key)
                if known is not None and version is not None and version >= known:
                    self._versions[key] = version
                    # What an event brought before this write is older than it: read afresh.
                    self._handed.pop(key, None)
                return
            bodies = self._bodies.get((plural, namespace), {})
            old = bodies.get(name)
            if old is not None and _newer(body, old):
                bodies[name] = body

    def take(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The body of one of VERSIONED_KINDS a watch event brought and nobody has taken yet, once;
        None when there is none (the caller reads the API)."""
        with self._lock:
            return self._handed.pop((plural, namespace, name), None)

    def cached(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as last watched; None when not seen (or not one of CACHED_KINDS)."""
        with self._lock:
            return self._bodies.get((plural, namespace), {}).get(name)

    def version(self, plural: str, namespace: str, name: str) -> int | None:
        """The resourceVersion last watched of one of VERSIONED_KINDS; None when not seen."""
        with self._lock:
            return self._versions.get((plural, namespace, name))

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A custom object as last watched, else as the API server has it (None: it does not
        exist). Callers read it and never change it."""
        body = self.cached(plural, namespace, name)
        return body if body is not None else kube.get_custom(plural, namespace, name)

    def listed(
        self, plural: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The cached objects of `plural` in `namespace` (None: in all) carrying all of `labels`.
        Only as complete as the watch so far: a caller that bases a final verdict on it checks
        first that nothing is missing (see `handlers.run._job_pods`)."""
        wanted = dict(labels or {})
        with self._lock:
            if namespace is not None:
                found = list(self._bodies.get((plural, namespace), {}).values())
            else:
                found = [
                    body
                    for (kind, _), bodies in self._bodies.items()
                    if kind == plural
                    for body in bodies.values()
                ]
        return [
            body
            for body in found
            if all((body["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]

    def forget(self, plural: str, namespace: str, name: str) -> None:
        with self._lock:
            self._bodies.get((plural, namespace), {}).pop(name, None)
            self._handed.pop((plural, namespace, name), None)

    def clear(self, plurals: frozenset[str] | None = None) -> None:
        """Drops the kinds in `plurals` (default: all)."""
        with self._lock:
            for key in [k for k in self._bodies if plurals is None or k[0] in plurals]:
                del self._bodies[key]
            for vkey in [k for k in self._versions if plurals is None or k[0] in plurals]:
                del self._versions[vkey]
            for hkey in [k for k in self._handed if plurals is None or k[0] in plurals]:
                del self._handed[hkey]


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """What a controller derived and may use again: the `kept` most recently used entries,
    each for at most `max_age` seconds (None: until pushed out by newer ones). One per runtime,
    so a test's runtime starts with nothing remembered."""

    def __init__(self, kept: int, max_age: float | None = None) -> None:
        self.kept = kept
        self.max_age = max_age
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value kept for `key`; None when none is (or it is older than `max_age`)."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if self.max_age is not None and time.monotonic() - found[0] > self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.kept:
                self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class SharedCalls(Generic[K, V]):
    """Concurrent calls for the same key share one: the first caller runs it, the others wait
    and get its result or its exception. Nothing is kept once the call ends (keeping a result
    is a Memo's job), so a failure reaches only the callers that waited on it, and the next
    caller runs the call again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[K, Future[V]] = {}

    def call(self, key: K, fn: Callable[[], V]) -> V:
        mine: Future[V] = Future()
        with self._lock:
            running = self._running.setdefault(key, mine)
        if running is not mine:
            return running.result()
        try:
            value = fn()
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(value)
            return value
        finally:
            with self._lock:
                del self._running[key]
