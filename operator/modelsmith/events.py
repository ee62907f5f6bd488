"""Kubernetes Events on every transition, sanitised like every other shared surface."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from modelsmith import kube
from modelsmith.surface import clean_text

log = logging.getLogger("modelsmith.events")
COMPONENT = "modelsmith-operator"


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
    try:
        kube.rest("POST", f"/api/v1/namespaces/{meta['namespace']}/events", event)
    except Exception:  # an Event is a courtesy: losing one must never fail a reconcile
        log.warning("could not record event %s on %s/%s", reason, meta["namespace"], meta["name"])
