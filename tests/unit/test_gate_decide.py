"""What a PromotionGate does next (controllers/gate/decide.py) and what promoting or rolling back
leads to (outcomes.py), without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelsmith.api import samples
from modelsmith.api.common import BlockerKind
from modelsmith.api.gate import Approval, PromotionGate
from modelsmith.api.gate_annotations import ROLLBACK_ANNOTATION
from modelsmith.controllers.gate import outcomes, pointer
from modelsmith.controllers.gate.decide import GateView, Step, decide
from modelsmith.controllers.gate.outcomes import Failure
from modelsmith.controllers.gate.pointer import PointerState
from modelsmith.controllers.gate.status import TRANSITIONS
from modelsmith.runtime.events import Event
from modelsmith.runtime.transitions import announcement, merged

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PREFIX = samples.SAMPLE_DIGEST.removeprefix("sha256:")[:12]
LOCATION = "s3://store/run/adapters/3/"


def gate(**spec: Any) -> PromotionGate:
    body = samples.gate()
    body["spec"].update(spec)
    return PromotionGate.model_validate(body)


def sign(role: str, user: str, decision: str = "approved", prefix: str = PREFIX) -> dict[str, str]:
    return {f"approval.modelsmith.io/{role}": f"{decision}:{user}:{prefix}"}


BOTH = {**sign("domain-owner", "alice"), **sign("engineering-owner", "bob")}


def view(
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    now: datetime = T0,
    the_gate: PromotionGate | None = None,
) -> GateView:
    return GateView(
        gate=the_gate or gate(),
        status=status or {},
        annotations=annotations or {},
        generation=1,
        now=now,
        requeue_seconds=10.0,
    )


def announced(old: dict[str, Any], status: dict[str, Any]) -> Event | None:
    """The Event the status writer records when it writes `status` over `old`."""
    return announcement(old, merged(old, status), TRANSITIONS)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_nothing_signed_writes_pending_and_waits_for_an_event() -> None:
    decision = decide(view())
    assert decision.step == Step.WRITE_CHAIN
    assert decision.status["state"] == "Pending"
    assert decision.status["approvalsSummary"] == "0/2"
    assert condition(decision.status, "Promoted")["reason"] == "AwaitingApproval"
    assert decision.requeue is None
    assert not decision.rejected


def test_every_role_signed_promotes_with_the_signers() -> None:
    decision = decide(view(BOTH))
    assert decision.step == Step.PROMOTE
    assert decision.status["state"] == "Approved"
    assert decision.status["decision"] == "Promote"
    assert decision.status["blockers"] == []
    assert [(a.role, a.user) for a in decision.approvals] == [
        ("domain-owner", "alice"),
        ("engineering-owner", "bob"),
    ]
    assert announced({}, decision.status) == Event(
        "Normal", "Approved", "every role signed (2/2)"
    )
    assert condition(decision.status, "Promoted")["reason"] == "Promoting"


def test_a_rejection_is_counted_once_and_is_final() -> None:
    first = decide(view(sign("domain-owner", "alice", "rejected")))
    assert first.step == Step.WRITE_CHAIN
    assert first.status["state"] == "Rejected"
    assert first.rejected
    event = announced({}, first.status)
    assert event is not None and (event.type, event.reason) == ("Warning", "Rejected")
    # Withdrawn or outvoted, the rejection stands: the gate does nothing more.
    assert decide(view(BOTH, status=first.status)).step == Step.NOTHING
    assert decide(view({}, status={"decision": "Reject"})).step == Step.NOTHING


def test_an_approval_recorded_before_promotion_stands_when_a_sign_off_is_withdrawn() -> None:
    approved = decide(view(BOTH)).status
    decision = decide(view(sign("domain-owner", "alice"), status=approved))
    assert decision.step == Step.PROMOTE
    assert [a.user for a in decision.approvals] == ["alice", "bob"]


def test_with_a_ttl_it_looks_again_when_the_oldest_approval_expires() -> None:
    ttl_gate = gate(approvalTtlHours=2)
    decision = decide(view(sign("domain-owner", "alice"), the_gate=ttl_gate))
    assert decision.requeue == 2 * 3600 + 1
    later = decide(
        view(sign("domain-owner", "alice"), decision.status, T0 + timedelta(hours=1), ttl_gate)
    )
    assert later.requeue == 3600 + 1


def test_a_promoted_gate_acts_only_on_a_rollback_request() -> None:
    promoted = {"state": "Promoted", "rollback": {"state": "Available"}}
    assert decide(view(BOTH, promoted)).step == Step.NOTHING
    asked = decide(view({ROLLBACK_ANNOTATION: " carol "}, promoted))
    assert (asked.step, asked.by, asked.status) == (Step.ROLLBACK, "carol", {})


def test_a_rollback_without_a_user_or_a_previous_pointer_is_refused() -> None:
    promoted = {"state": "Promoted", "rollback": {"state": "Available"}}
    blank = decide(view({ROLLBACK_ANNOTATION: "  "}, promoted))
    assert blank.step == Step.REFUSE_ROLLBACK
    assert blank.status["rollback"] == {"state": "Failed", "by": None}
    assert condition(blank.status, "RolledBack")["reason"] == "RollbackFailed"
    assert blank.requeue == 60.0
    too_long = decide(view({ROLLBACK_ANNOTATION: "x" * 254}, promoted))
    event = announced(promoted, too_long.status)
    assert event is not None and event.type == "Warning" and "253" in event.message
    kept_none = gate(rollback={"expectation": "redeploy", "retainPrevious": False})
    refused = decide(view({ROLLBACK_ANNOTATION: "carol"}, promoted, the_gate=kept_none))
    assert refused.step == Step.REFUSE_ROLLBACK
    event = announced(promoted, refused.status)
    assert event is not None and "keeps no previous" in event.message
    assert announced(refused.status, refused.status) is None


def test_a_rolled_back_gate_is_final() -> None:
    status = {"state": "RolledBack"}
    assert decide(view({**BOTH, ROLLBACK_ANNOTATION: "carol"}, status)).step == Step.NOTHING


# --- outcomes ---------------------------------------------------------------------------------


POINTER = pointer.ServingPointer("serving", "pointer", "model", "team")


NEW_WEIGHTS = "sha256:" + "3" * 64
OLD_WEIGHTS = "sha256:" + "2" * 64


def test_a_pointer_already_moved_is_left_alone() -> None:
    there = PointerState(exists=True, value=LOCATION, candidate="c3", digest=NEW_WEIGHTS)
    assert pointer.promote_update(POINTER, there, LOCATION, "c3", NEW_WEIGHTS, keep=True) is None


def test_a_pointer_naming_the_folder_but_other_weights_is_moved_again() -> None:
    there = PointerState(exists=True, value=LOCATION, candidate="c3", digest=OLD_WEIGHTS)
    update = pointer.promote_update(POINTER, there, LOCATION, "c3", NEW_WEIGHTS, keep=True)
    assert update is not None and update[0] == {"model": LOCATION, "model.digest": NEW_WEIGHTS}


def test_a_move_keeps_what_it_replaces_only_when_rollback_needs_it() -> None:
    current = PointerState(exists=True, value="old", candidate="c2", digest=OLD_WEIGHTS)
    kept = pointer.promote_update(POINTER, current, LOCATION, "c3", NEW_WEIGHTS, keep=True)
    data, notes = kept or ({}, {})
    assert data == {
        "model": LOCATION,
        "model.digest": NEW_WEIGHTS,
        "model.previous": "old",
        "model.previous.digest": OLD_WEIGHTS,
    }
    assert notes == {"modelsmith.io/candidate": "c3", "modelsmith.io/previous-candidate": "c2"}
    dropped = pointer.promote_update(POINTER, current, LOCATION, "c3", NEW_WEIGHTS, keep=False)
    data, notes = dropped or ({}, {})
    assert data["model.previous"] == "" and data["model.previous.digest"] == ""
    assert notes["modelsmith.io/previous-candidate"] == ""


def test_a_rollback_serves_the_weights_the_record_names_again() -> None:
    after = {"value": "old", "candidate": "c2", "digest": OLD_WEIGHTS}
    data, notes = pointer.restore_update(POINTER, after)
    assert data == {
        "model": "old",
        "model.digest": OLD_WEIGHTS,
        "model.previous": "",
        "model.previous.digest": "",
    }
    assert notes["modelsmith.io/candidate"] == "c2"


def test_the_record_names_what_was_served_before_even_after_a_half_done_attempt() -> None:
    approvals = (Approval(role="domain-owner", user="alice", at=T0),)
    moved = PointerState(
        exists=True,
        value=LOCATION,
        previous="old",
        previous_candidate="c2",
        previous_digest=OLD_WEIGHTS,
    )
    document = outcomes.promotion_document(gate(), "uid", approvals, T0, LOCATION, moved)
    assert document["serving"]["before"] == {
        "value": "old",
        "candidate": "c2",
        "digest": OLD_WEIGHTS,
    }
    assert document["serving"]["after"]["digest"] == "sha256:" + "ad" * 32
    assert document["approvals"] == [
        {"role": "domain-owner", "user": "alice", "at": "2025-01-01T12:00:00Z"}
    ]
    assert outcomes.belongs(document, gate())
    assert not outcomes.belongs({**document, "evidenceDigest": "sha256:" + "0" * 64}, gate())


def test_each_failure_blocks_with_its_kind() -> None:
    kinds = {f: outcomes.failure_blocker(f, POINTER, "detail").kind for f in Failure}
    assert kinds[Failure.STORE_UNAVAILABLE] == BlockerKind.INFRASTRUCTURE
    assert kinds[Failure.TARGET_MISSING] == BlockerKind.INFRASTRUCTURE
    assert kinds[Failure.TAMPERED] == BlockerKind.GOVERNANCE
    approved = {"state": "Approved"}
    status = outcomes.blocked(
        approved, outcomes.failure_blocker(Failure.TAMPERED, POINTER, "bad"), 1
    )
    assert status["blockers"][0]["reason"] == "EvidenceTampered"
    assert announced(approved, status) == Event("Warning", "EvidenceTampered", "bad")
    assert condition(status, "Promoted")["status"] == "False"


def test_promoted_mirrors_the_record() -> None:
    record = outcomes.promotion_document(
        gate(), "uid", (Approval(role="r", user="u", at=T0),), T0, LOCATION, PointerState(False)
    )
    status = outcomes.promoted({}, record, "sha256:abc", gate(), 1)
    assert status["state"] == "Promoted"
    assert status["promotionRecord"]["digest"] == "sha256:abc"
    assert status["rollback"] == {"state": "Available"}
    event = announced({}, status)
    assert event is not None and (event.type, event.reason) == ("Normal", "Promoted")


def test_rollback_refuses_a_pointer_that_moved_on() -> None:
    assert outcomes.moved_on("c3", PointerState(False), LOCATION) is not None
    other = PointerState(exists=True, value="later")
    assert "another promotion" in (outcomes.moved_on("c3", other, LOCATION) or "")
    assert outcomes.moved_on("c3", PointerState(True, value=LOCATION), LOCATION) is None
