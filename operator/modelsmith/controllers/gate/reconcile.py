"""One reconcile of a PromotionGate: read it, check it is the operator's, decide, act."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelsmith.api.gate import GateDecision, PromotionGate
from modelsmith.controllers.gate import PLURAL, RUNS, guard
from modelsmith.controllers.gate.act import promote, roll_back
from modelsmith.controllers.gate.decide import GateView, Step, decide
from modelsmith.controllers.gate.status import write
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.surface import ObjectName


def reconcile(rt: Runtime, namespace: str, name: str) -> float | None:
    body = kube.get_custom(PLURAL, namespace, name)
    if body is None:
        return None
    gate = PromotionGate.model_validate(body)
    run = rt.cache.get(RUNS, namespace, gate.spec.run_ref.name)
    if not (check := guard.verify(body, run, guard.now())).authentic:
        # Not the gate its run staged: nothing here acts on it (no promotion, no record).
        return guard.refuse(rt, PLURAL, body, check)
    guard.vouch(rt, PLURAL, body)
    old: dict[str, Any] = body.get("status") or {}
    meta = body["metadata"]
    view = GateView(
        gate=gate,
        status=old,
        annotations=dict(meta.get("annotations") or {}),
        generation=meta.get("generation"),
        now=now(),
        requeue_seconds=rt.settings.requeue_seconds,
    )
    decision = decide(view)
    if decision.step == Step.PROMOTE:
        return promote(rt, body, gate, old, decision, view.now)
    if decision.step == Step.ROLLBACK:
        return roll_back(rt, body, gate, old, decision, view.now)
    if decision.step in (Step.WRITE_CHAIN, Step.REFUSE_ROLLBACK):
        write(rt, body, old, decision.status)
    if decision.rejected:
        rt.metrics.GATE_DECISIONS.labels(
            *rt.metrics.labels(ObjectName(namespace), GateDecision.REJECT.value)
        ).inc()
    return decision.requeue


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
