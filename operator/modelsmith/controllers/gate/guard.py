"""Only the operator's own gates count: the gate controller acts on a PromotionGate only when it
is the one its run staged.

Admission (evidence/gate_creation.py) already lets no one but the operator and cluster admins
create a gate. This is the operator's own check, for whatever got through anyway (a cluster
admin's hand-made gate, a gate made while the policy was off): the gate's controller
ownerReference must be its run, and the run's status.gate (written by the operator when it
staged the gate) must name this very object (by the sha256 of its UID) and its evidence digest.
The gate's spec is immutable, so the UID also vouches for its chain, intake and serving target
as staged.

Anything else is flagged: condition Authentic=False, reason NotStagedByOperator, one Warning
Event; it is never promoted, rolled back, or given a promotion record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from modelsmith.runtime.conditions import set_condition
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.transitions import Transitions
from modelsmith.uids import records

CONDITION: Final = "Authentic"
NOT_STAGED: Final = "NotStagedByOperator"
STAGED: Final = "StagedByOperator"
AUTHENTICITY: Final = Transitions(
    headline=CONDITION,
    conditions=(CONDITION,),
    warning=lambda _, authentic: authentic.get("status") != "True",
)
"""The guard's own condition: flagging a gate is a Warning, clearing the flag a Normal Event."""
RECORD_GRACE_SECONDS: Final = 120.0
"""The run records the gate in its status just after creating it: a gate this young, controlled
by its run, waits for the record instead of being flagged (it acts on nothing meanwhile)."""
RECHECK_SECONDS: Final = 2.0


@dataclass(frozen=True)
class Verdict:
    authentic: bool
    why: str = ""
    """When not authentic: what does not match, in words."""
    wait: bool = False
    """Not known yet (the run's record is on its way): look again soon, flag nothing."""


def verify(gate: dict[str, Any], run: dict[str, Any] | None, now: datetime) -> Verdict:
    """Whether `gate` is the one its run (`run`, None when there is none) staged."""
    meta = gate.get("metadata") or {}
    spec = gate.get("spec") or {}
    run_name = (spec.get("runRef") or {}).get("name") or ""
    if run is None:
        return Verdict(False, f"it names the IterationRun {run_name}, which does not exist")
    run_meta = run.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    if not owners or owners[0].get("uid") != run_meta.get("uid"):
        return Verdict(False, f"its controller is not the IterationRun {run_name}")
    record = (run.get("status") or {}).get("gate")
    if record is None:
        if _young(meta, now):
            # The run writes its record just after creating the gate (with the phase that
            # staging moves it to), so the gate's own event can come first.
            return Verdict(False, wait=True)
        return Verdict(False, f"the IterationRun {run_name} recorded no gate it staged")
    if not records(record, meta):
        return Verdict(False, f"the IterationRun {run_name} staged another gate")
    digest = (spec.get("evidence") or {}).get("digest")
    if record.get("evidenceDigest") != digest:
        return Verdict(
            False, f"its evidence digest is not the one the IterationRun {run_name} staged"
        )
    return Verdict(True)


def _young(meta: dict[str, Any], now: datetime) -> bool:
    created = meta.get("creationTimestamp")
    if not created:
        return False
    since = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    return (now - since).total_seconds() < RECORD_GRACE_SECONDS


def refuse(rt: Runtime, plural: str, body: dict[str, Any], verdict: Verdict) -> float | None:
    """Flags a gate that is not the operator's (or looks again soon while the run's record is
    on its way). The status writer announces the flag once, when it is first set."""
    if verdict.wait:
        return RECHECK_SECONDS
    message = (
        f"not staged by the Modelsmith operator: {verdict.why}; this gate is never promoted and "
        "writes no promotion record"
    )
    _write_condition(rt, plural, body, False, NOT_STAGED, message)
    return None


def vouch(rt: Runtime, plural: str, body: dict[str, Any]) -> None:
    """A gate flagged before its run's record arrived is cleared once it matches. A gate never
    flagged gets no condition (nothing to write)."""
    conditions = (body.get("status") or {}).get("conditions") or []
    if any(c.get("type") == CONDITION and c.get("status") == "False" for c in conditions):
        _write_condition(rt, plural, body, True, STAGED, "staged by the Modelsmith operator")


def _write_condition(
    rt: Runtime, plural: str, body: dict[str, Any], value: bool, reason: str, message: str
) -> None:
    meta = body["metadata"]
    old: dict[str, Any] = body.get("status") or {}
    conditions = set_condition(
        old.get("conditions"), CONDITION, value, reason, message, meta.get("generation")
    )
    written = rt.status.patch(
        plural, body, {"conditions": conditions}, old=old, transitions=AUTHENTICITY
    )
    if written is not None:
        meta["resourceVersion"] = written.stored["metadata"]["resourceVersion"]
        body["status"] = {**old, "conditions": conditions}


def now() -> datetime:
    return datetime.now(UTC)
