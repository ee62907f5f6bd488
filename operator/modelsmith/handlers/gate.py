"""PromotionGate registrations: watch events queue a reconcile (controllers/gate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from modelsmith.controllers.gate import PLURAL, RUNS
from modelsmith.controllers.gate.reconcile import reconcile
from modelsmith.reconciler import RECONCILER


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_gate_event(
    type: str,
    namespace: str | None,
    name: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    **_: Any,
) -> None:
    if namespace is None:
        return
    if type == "DELETED":
        RECONCILER.forget((PLURAL, namespace, name))
        # Its run follows the gate (and waits on it for minutes at a time): it sees it gone.
        if run := (spec.get("runRef") or {}).get("name"):
            RECONCILER.requeue((RUNS, namespace, run), 0)
        return
    RECONCILER.reconcile(PLURAL, namespace, name, meta.get("resourceVersion"))


RECONCILER.register(PLURAL, reconcile)
