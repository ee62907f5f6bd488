"""Kubernetes Events on every transition, sanitised like every other shared surface.

They are sent in the background, each object's in the order emitted, as client-go's event
recorder sends them: the reconcile that recorded a transition goes on to the next object
instead of waiting for the API server to store an Event nobody waits for. A stuck send delays
later Events, never a reconcile."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelsmith.runtime import kube
from modelsmith.runtime.settings import EVENT_SENDERS as SENDERS
from modelsmith.runtime.surface import clean_text


@dataclass(frozen=True)
class Event:
    """An Event about an object: the status writer chooses those of its transitions
    (`transitions.announcement`)."""

    type: str
    """Normal or Warning."""
    reason: str
    """A CamelCase code (also used on conditions and blockers)."""
    message: str

log = logging.getLogger("modelsmith.events")
COMPONENT = "modelsmith-operator"
BACKLOG_LIMIT = 10_000
"""Events waiting to be sent, at most; beyond it the oldest are dropped (and logged)."""


def event(body: dict[str, Any], type_: str, reason: str, message: str) -> dict[str, Any]:
    """The Event manifest about `body`, its message sanitised."""
    meta = body["metadata"]
    now = datetime.now(UTC).isoformat()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type_,
        "reason": reason,
        "message": clean_text(message)[:1024],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
    }


class Recorder:
    """Sends Events on SENDERS threads, each object's always on the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A condition per sender, sharing the one lock: an Event wakes only the sender that
        # sends it, not every sender and every flush.
        self._queued = [threading.Condition(self._lock) for _ in range(SENDERS)]
        self._drained = threading.Condition(self._lock)
        self._backlogs: list[deque[dict[str, Any]]] = [deque() for _ in range(SENDERS)]
        self._sending = 0
        self._senders: list[threading.Thread | None] = [None] * SENDERS

    def emit(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        shard = hash((meta["namespace"], meta["name"])) % SENDERS
        manifest = event(body, type_, reason, message)
        with self._lock:
            if sum(len(b) for b in self._backlogs) >= BACKLOG_LIMIT:
                dropped = max(self._backlogs, key=len).popleft()
                log.warning("event backlog full; dropped event %s", dropped["reason"])
            self._backlogs[shard].append(manifest)
            sender = self._senders[shard]
            if sender is None or not sender.is_alive():
                sender = threading.Thread(
                    target=self._send_all, args=(shard,), name="events", daemon=True
                )
                self._senders[shard] = sender
                sender.start()
            self._queued[shard].notify()

    def _send_all(self, shard: int) -> None:
        backlog, queued = self._backlogs[shard], self._queued[shard]
        while True:
            with self._lock:
                while not backlog:
                    queued.wait()
                manifest = backlog.popleft()
                self._sending += 1
            try:
                _post(manifest)
            finally:
                with self._lock:
                    self._sending -= 1
                    if not self._sending and not any(self._backlogs):
                        self._drained.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every Event emitted so far was sent (or failed); False if `timeout`
        passed first. For shutdown, and for callers that read Events back at once."""
        with self._lock:
            return self._drained.wait_for(
                lambda: not any(self._backlogs) and not self._sending, timeout
            )


def _post(manifest: dict[str, Any]) -> None:
    where = manifest["involvedObject"]
    try:
        kube.rest("POST", kube.core_path("events", where["namespace"]), manifest)
    except Exception:  # losing an Event must never fail a reconcile
        log.warning(
            "could not record event %s on %s/%s",
            manifest["reason"],
            where["namespace"],
            where["name"],
        )
