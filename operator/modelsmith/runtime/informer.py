"""List-and-watch of the Jobs and pods the operator launched, feeding the cache and waking runs.

kopf watches a resource whole and filters by label in the operator: for pods that means every
pod of the cluster (or of each watched namespace) crosses the wire, is decoded, and goes through
kopf's per-event machinery, though only the operator's own concern it. Here the API server
filters (`labelSelector`), and an event costs one JSON decode and a dictionary update.

The loop is the usual informer's: list, then watch from the list's resourceVersion (with
bookmarks, so a quiet watch resumes without a relist); a watch that ends is resumed from the
last version seen; one the API server no longer can resume (410 Gone) is replaced by a fresh
list, whose differences from the cache are delivered as events (what vanished as DELETED, the
rest as a listing, type None, as kopf delivers its initial listing). Failures are retried with
a capped backoff, logged once per outage."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from modelsmith.engines import JOBSET_API_VERSION
from modelsmith.runtime import kube
from modelsmith.runtime.cache import Cache

log = logging.getLogger("modelsmith.informer")

OnEvent = Callable[[str | None, dict[str, Any] | None, dict[str, Any]], None]
"""on_event(type, before, object): type is ADDED, MODIFIED, DELETED, or None for a listing;
`before` is the object as cached until this event (None: not seen before)."""

WATCH_SECONDS = 300
"""How long one watch request lasts before the API server ends it (it is resumed at once)."""
BACKOFF_CAP = 30.0


class Gone(Exception):  # noqa: N818 - the API server's word
    """The watch cannot resume from the version it asked for: list again."""


@dataclass(frozen=True)
class Resource:
    plural: str
    """As the cache keys it and the API names it: "jobs", "pods" or "jobsets"."""
    group_version: str


JOBS = Resource("jobs", kube.BATCH)
PODS = Resource("pods", kube.CORE)
JOBSETS = Resource("jobsets", JOBSET_API_VERSION)
"""Where multi-node training steps run. Watched whether or not the API is served: where JobSet
is not installed the listing fails and is retried with backoff, so JobSet installed later is
watched without a restart."""


class Informer:
    def __init__(
        self,
        cache: Cache,
        resource: Resource,
        label_selector: str,
        on_event: OnEvent,
        namespace: str | None = None,
    ) -> None:
        self.cache = cache
        self.resource = resource
        self.selector = label_selector
        self.on_event = on_event
        self.namespace = namespace
        self.version: str | None = None
        """The resourceVersion to resume the watch from; None: list first."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._backoff = 1.0

    def start(self) -> Informer:
        name = f"informer-{self.resource.plural}-{self.namespace or 'all'}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _path(self) -> str:
        return kube.path(self.resource.group_version, self.resource.plural, self.namespace or "")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.version is None:
                    self.relist()
                self.watch_once()
            except Gone:
                self.version = None
            except Exception as exc:
                if kube.is_gone(exc):
                    self.version = None
                    continue
                if not self._failing:
                    log.warning(
                        "watching %s failed (%s); retrying",
                        self.resource.plural,
                        getattr(exc, "status", None) or type(exc).__name__,
                    )
                self._failing = True
                self._stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, BACKOFF_CAP)

    def _recovered(self) -> None:
        """The API server answered a watch: the outage (if any) is over now, not when this
        watch ends minutes later."""
        if self._failing:
            log.info("watching %s again", self.resource.plural)
        self._failing = False
        self._backoff = 1.0

    def relist(self) -> None:
        listing = kube.rest("GET", self._path(), query={"labelSelector": self.selector})
        items: list[dict[str, Any]] = listing.get("items") or []
        listed = {(i["metadata"].get("namespace") or "", i["metadata"]["name"]) for i in items}
        for body in self.cache.listed(self.resource.plural, self.namespace):
            meta = body["metadata"]
            if (meta.get("namespace") or "", meta["name"]) not in listed:
                self._deliver("DELETED", body)
        for body in items:
            self._deliver(None, body)
        self.version = listing["metadata"]["resourceVersion"]

    def watch_once(self) -> None:
        """One watch request from `version`, until the API server ends it."""
        query = {
            "labelSelector": self.selector,
            "resourceVersion": self.version or "",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        response = kube.watch(self._path(), query, timeout=(10, WATCH_SECONDS + 30))
        self._recovered()
        try:
            for line in _lines(response):
                if self._stop.is_set():
                    return
                self.handle(orjson.loads(line))
        finally:
            response.release_conn()

    def handle(self, event: dict[str, Any]) -> None:
        type, body = event.get("type"), event.get("object") or {}
        if type == "ERROR":
            if body.get("code") == 410:
                raise Gone(body.get("message") or "")
            raise RuntimeError(f"watch error {body.get('code')}: {body.get('reason')}")
        version = (body.get("metadata") or {}).get("resourceVersion")
        if type != "BOOKMARK":
            self._deliver(type, body)
        if version:
            self.version = version

    def _deliver(self, type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        before = self.cache.cached(self.resource.plural, meta.get("namespace") or "", meta["name"])
        self.cache.seen(self.resource.plural, {"type": type, "object": body})
        try:
            self.on_event(type, before, body)
        except Exception:
            log.exception("handling a %s event failed", self.resource.plural)


def _lines(response: Any) -> Iterator[bytes]:
    """The watch's newline-delimited JSON events as they arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())


def start(
    cache: Cache, namespaces: list[str], label_selector: str, handlers: dict[str, OnEvent]
) -> list[Informer]:
    """An informer per resource ("jobs", "pods", "jobsets") and watched namespace (one for the
    whole cluster when `namespaces` is empty)."""
    made = {"jobs": JOBS, "pods": PODS, "jobsets": JOBSETS}
    return [
        Informer(cache, made[plural], label_selector, handler, namespace).start()
        for plural, handler in handlers.items()
        for namespace in ([*namespaces] if namespaces else [None])
    ]
