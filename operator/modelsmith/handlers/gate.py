"""PromotionGate registrations: watch events queue a reconcile (controllers/gate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from modelsmith.controllers.gate import PLURAL, RUNS
from modelsmith.controllers.gate.reconcile import reconcile
from modelsmith.runtime.core import Runtime


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_gate_event(
    type: str,
    namespace: str | None,
    name: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    memo: Any,
    **_: Any,
) -> None:
    rt: Runtime = memo.runtime
    if namespace is None:
        return
    if type == "DELETED":
        rt.queue.forget((PLURAL, namespace, name))
        # Its run follows the gate (and waits on it for minutes at a time): it sees it gone.
        if run := (spec.get("runRef") or {}).get("name"):
            rt.queue.requeue((RUNS, namespace, run), 0)
        return
    rt.queue.reconcile(PLURAL, namespace, name, meta.get("resourceVersion"))


def register(rt: Runtime) -> None:
    rt.register(PLURAL, reconcile)
