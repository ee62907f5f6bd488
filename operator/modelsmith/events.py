"""Kubernetes Events on every transition, sanitised like every other shared surface.

They are sent in the background, each object's in the order emitted, as client-go's event
recorder sends them: the reconcile that recorded a transition goes on to the next object
instead of waiting for the API server to store a courtesy. A stuck send delays later Events,
never a reconcile."""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from modelsmith import kube
from modelsmith.settings import EVENT_SENDERS as SENDERS
from modelsmith.surface import clean_text

log = logging.getLogger("modelsmith.events")
COMPONENT = "modelsmith-operator"
BACKLOG_LIMIT = 10_000
"""Events waiting to be sent, at most; beyond it the oldest are dropped (and logged)."""

_lock = threading.Lock()
# A condition per sender, sharing the one lock: an Event wakes only the sender that sends it
# (with one condition for all, every emit and every send woke every sender and every flush, a
# few context switches per Event for nothing).
_queued = [threading.Condition(_lock) for _ in range(SENDERS)]
_drained = threading.Condition(_lock)
_backlogs: list[deque[dict[str, Any]]] = [deque() for _ in range(SENDERS)]
_sending = 0
_senders: list[threading.Thread | None] = [None] * SENDERS


def emit(body: dict[str, Any], type_: str, reason: str, message: str) -> None:
    meta = body["metadata"]
    now = datetime.now(UTC)
    event = {
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
        "firstTimestamp": now.isoformat(),
        "lastTimestamp": now.isoformat(),
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
    }
    shard = hash((meta["namespace"], meta["name"])) % SENDERS
    with _lock:
        if sum(len(b) for b in _backlogs) >= BACKLOG_LIMIT:
            dropped = max(_backlogs, key=len).popleft()
            log.warning("event backlog full; dropped event %s", dropped["reason"])
        _backlogs[shard].append(event)
        sender = _senders[shard]
        if sender is None or not sender.is_alive():
            sender = threading.Thread(target=_send_all, args=(shard,), name="events", daemon=True)
            _senders[shard] = sender
            sender.start()
        _queued[shard].notify()


def _send_all(shard: int) -> None:
    global _sending
    backlog, queued = _backlogs[shard], _queued[shard]
    while True:
        with _lock:
            while not backlog:
                queued.wait()
            event = backlog.popleft()
            _sending += 1
        try:
            _post(event)
        finally:
            with _lock:
                _sending -= 1
                if not _sending and not any(_backlogs):
                    _drained.notify_all()


def _post(event: dict[str, Any]) -> None:
    where = event["involvedObject"]
    try:
        kube.rest("POST", f"/api/v1/namespaces/{where['namespace']}/events", event)
    except Exception:  # an Event is a courtesy: losing one must never fail anything
        log.warning(
            "could not record event %s on %s/%s", event["reason"], where["namespace"], where["name"]
        )


def flush(timeout: float = 10.0) -> bool:
    """Waits until every Event emitted so far was sent (or failed); False if `timeout` passed
    first. For shutdown, and for callers that read Events back at once."""
    with _lock:
        return _drained.wait_for(lambda: not any(_backlogs) and not _sending, timeout)
