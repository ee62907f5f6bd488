"""The runtime's work queue: level-triggered reconciles, requeues, and echo suppression.

kopf delivers watch events; a handler only records which object changed and reconciles it. What
a watch cannot tell (training progress in the object store, a ConfigMap that appears, a store
that comes back) is looked at again through the requeue, never by a busy loop. Reconciles of
one object are serialised, so a Job event and a run event arriving together cannot act twice.

Reconciles run on a pool of their own, fed by a first-in first-out queue that holds each object
at most once: a trigger for an object already waiting its turn is dropped, and one for an object
being reconciled puts it back at the end of the queue once that reconcile finishes. A reconcile
reads the whole current state, so one that starts after the last trigger sees everything every
earlier one would have; a burst of pod, Job and status events for one run costs one or two
reconciles instead of one each, kopf's handler threads never wait on each other, and a busy
object cannot hold a worker while others wait for their first look.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from modelsmith.runtime import kube
from modelsmith.runtime.cache import Cache
from modelsmith.runtime.failures import Failures, Patch
from modelsmith.runtime.metrics import Metrics, labels

log = logging.getLogger("modelsmith.reconciler")

Key = tuple[str, str, str]
"""(plural, namespace, name)"""
Reconcile = Callable[[str, str], float | None]
"""reconcile(namespace, name) -> seconds until it wants another look, or None."""


@dataclass(order=True)
class _Due:
    at: float
    key: Key = field(compare=False)


class Queue:
    def __init__(
        self,
        workers: int,
        cache: Cache,
        metrics: Metrics,
        failures: Failures,
        patch: Patch,
        ignored: Callable[[str], bool] = lambda namespace: False,
    ) -> None:
        self._cache = cache
        self._metrics = metrics
        self._failures = failures
        self._patch = patch
        # Namespaces another reconciler owns (settings.ignore_namespaces): nothing starts there.
        self._ignored = ignored
        self._funcs: dict[str, Reconcile] = {}
        self._queued: set[Key] = set()
        self._running: set[Key] = set()
        # Triggers that came while the object was being reconciled, by the version they carry
        # (None: a trigger without one).
        self._dirty: dict[Key, set[str | None]] = {}
        self._guard = threading.Lock()
        self._heap: list[_Due] = []
        self._due: dict[Key, float] = {}
        self._wake = threading.Condition(self._guard)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._holding = False
        self._held: set[Key] = set()
        # The resourceVersions this replica's own status writes produced, a few per object.
        self._own: dict[Key, deque[str]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")

    def register(self, plural: str, func: Reconcile) -> None:
        self._funcs[plural] = func

    def forget(self, key: Key) -> None:
        with self._guard:
            self._dirty.pop(key, None)
            self._held.discard(key)
            self._due.pop(key, None)
            self._own.pop(key, None)

    def hold(self) -> None:
        """Starts no reconcile until `release` (another replica is acting); triggers that
        arrive meanwhile are kept, each object once. Reconciles already running finish."""
        with self._guard:
            self._holding = True

    def release(self) -> None:
        """Reconciles everything triggered while held."""
        with self._guard:
            self._holding = False
            held, self._held = self._held, set()
        for key in sorted(held):
            self.reconcile(*key)

    def wrote(self, key: Key, resource_version: str) -> None:
        with self._guard:
            self._own.setdefault(key, deque(maxlen=4)).append(resource_version)

    def reconcile(
        self, plural: str, namespace: str, name: str, resource_version: str | None = None
    ) -> None:
        """Queues the object for a reconcile (which schedules its own requeue), unless it is
        queued already; while it is being reconciled, marks it to be queued again after.

        `resource_version` is the version a watch event carries. The event of a status write
        this replica made shows nothing its writer did not already know (it asked for its own
        next look), so it starts nothing instead of one more full reconcile, API reads
        included. Any other change to the object has another version."""
        key = (plural, namespace, name)
        if self._ignored(namespace):
            return
        with self._guard:
            if resource_version is not None and resource_version in self._own.get(key, ()):
                return
            if self._holding:
                self._held.add(key)
                return
            if key in self._running:
                # Judged when the reconcile ends: the echo of its own write can arrive before
                # the write's response does.
                self._dirty.setdefault(key, set()).add(resource_version)
                return
            if key in self._queued:
                return
            self._queued.add(key)
        self._pool.submit(self._work, key)

    def _work(self, key: Key) -> None:
        with self._guard:
            self._queued.discard(key)
            self._running.add(key)
            # A reconcile asked for earlier (a requeue, a poll) is this one: it reads everything
            # that one would have. What it still wants, it returns.
            self._due.pop(key, None)
        try:
            self._run_once(key)
        finally:
            with self._guard:
                self._running.discard(key)
                own = self._own.get(key, ())
                again = any(v is None or v not in own for v in self._dirty.pop(key, ()))
            if again:
                self.reconcile(*key)

    def _run_once(self, key: Key) -> None:
        plural, namespace, name = key
        func = self._funcs[plural]
        self._metrics.RECONCILES.labels(*labels(plural)).inc()
        try:
            again = func(namespace, name)
        except Exception as exc:
            if kube.is_conflict(exc):
                # The object changed since it was read: not a failure, read it again now, from
                # the API server (the watch may not have delivered the change yet).
                self._cache.forget(plural, namespace, name)
                self._metrics.RECONCILE_ERRORS.labels(*labels(plural, "Conflict")).inc()
                log.info("%s %s/%s changed while being reconciled; reading it again", *key)
                self.requeue(key, 0)
                return
            self._metrics.RECONCILE_ERRORS.labels(*labels(plural, type(exc).__name__)).inc()
            # One rule for every kind: the object shows why (condition, one Event per cause),
            # and each try in a row waits longer (failures).
            again = self._failures.failed(key, exc, self._patch)
        else:
            self._failures.succeeded(key, self._patch)
        if again is not None:
            self.requeue(key, again)

    def wake_referrers(self, plural: str, namespace: str, ref: str, name: str) -> None:
        """The objects of `plural` in `namespace` whose spec names `name` under `ref`, as the
        watch has them, look again now. One the watch has not delivered yet reads what it
        refers to when it is."""
        for body in self._cache.listed(plural, namespace):
            if (body["spec"].get(ref) or {}).get("name") == name:
                self.requeue((plural, namespace, body["metadata"]["name"]), 0)

    def requeue(self, key: Key, after: float) -> None:
        if self._ignored(key[1]):
            return
        at = time.monotonic() + max(after, 0.0)
        with self._wake:
            current = self._due.get(key)
            if current is not None and current <= at:
                return
            self._due[key] = at
            heapq.heappush(self._heap, _Due(at, key))
            self._wake.notify()
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="requeue", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (
                    not self._heap or self._heap[0].at > time.monotonic()
                ):
                    timeout = (self._heap[0].at - time.monotonic()) if self._heap else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                item = heapq.heappop(self._heap)
                if self._due.get(item.key) != item.at:
                    continue  # superseded by an earlier or later requeue
                del self._due[item.key]
            self.reconcile(*item.key)
