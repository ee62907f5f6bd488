"""Random walks through the gate's decide(): whatever approvers, the store and the serving
pointer do, the gate keeps its promises.

A walk signs, rejects and withdraws sign-offs (some on other evidence, some by the requester or
by one person for two roles), lets time pass, asks for rollbacks, and after each step reconciles:
decide() on the gate as it is, then a simulated act whose outcome (promoted, or blocked by a
tampered bundle, a foreign record, the store, serving consent, RBAC) is drawn at random and
turned into status by the same pure `outcomes` functions the real act uses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsmith.api import samples
from modelsmith.api.gate import PromotionGate
from modelsmith.api.gate_annotations import ROLLBACK_ANNOTATION
from modelsmith.controllers.gate import outcomes
from modelsmith.controllers.gate.decide import Decision, GateView, Step, chain_verdict, decide
from modelsmith.controllers.gate.outcomes import Failure
from modelsmith.controllers.gate.pointer import PointerState, pointer_of
from modelsmith.runtime.status import merge_patch
from modelsmith.serving import ServingRefusal

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PREFIX = samples.SAMPLE_DIGEST.removeprefix("sha256:")[:12]
ROLES = ("domain-owner", "engineering-owner")
USERS = ("alice", "bob", "carol", "Alice ", "dave", "system:serviceaccount:x:y")
REQUESTER = "dave"
LOCATION = "s3://store/run/adapters/3/"
FINAL = {"Rejected", "RolledBack"}


def make_gate(ttl: int | None, retain: bool) -> PromotionGate:
    body = samples.gate()
    body["spec"].update(
        approvalTtlHours=ttl,
        requestedBy=REQUESTER,
        rollback={"expectation": "restore", "retainPrevious": retain},
    )
    return PromotionGate.model_validate(body)


def step_annotations(rng: random.Random, annotations: dict[str, str]) -> timedelta:
    """One thing an approver (or the clock) does; returns how much time passes."""
    role = rng.choice(ROLES)
    key = f"approval.modelsmith.io/{role}"
    moves = ["approve"] * 8 + ["reject", "withdraw", "stale", "junk", "rollback"]
    moves += ["rollback", "wait"]
    move = rng.choice(moves)
    if move == "approve":
        annotations[key] = f"approved:{rng.choice(USERS)}:{PREFIX}"
    elif move == "reject":
        annotations[key] = f"rejected:{rng.choice(USERS)}:{PREFIX}"
    elif move == "withdraw":
        annotations.pop(key, None)
    elif move == "stale":  # signed on other evidence
        annotations[key] = f"{rng.choice(['approved', 'rejected'])}:alice:fedcba987654"
    elif move == "junk":
        annotations[key] = "yes please"
    elif move == "rollback":
        annotations[ROLLBACK_ANNOTATION] = rng.choice(["carol", " ", "erin"])
    return timedelta(minutes=rng.choice([0, 0, 1, 30, 90, 300]))


def act(
    rng: random.Random, view: GateView, decision: Decision
) -> tuple[dict[str, Any], Failure | str | None]:
    """The status after a simulated act, and what (if anything) stopped it."""
    status = {**view.status, **decision.status}
    gate, generation = view.gate, view.generation
    if decision.step == Step.PROMOTE:
        failure = rng.choice([None, None, *Failure, "consent"])
        if failure == "consent":
            blocker = outcomes.refusal_blocker(ServingRefusal("ServingTargetNotAllowed", "no"))
            return {**status, **outcomes.blocked(status, blocker, generation)}, failure
        if isinstance(failure, Failure):
            blocker = outcomes.failure_blocker(failure, pointer_of(gate), "tampered")
            return {**status, **outcomes.blocked(status, blocker, generation)}, failure
        record = outcomes.promotion_document(
            gate, "uid", decision.approvals, view.now, LOCATION, PointerState(exists=False)
        )
        return {
            **status,
            **outcomes.promoted(status, record, "sha256:rec", gate, generation),
        }, None
    if decision.step == Step.ROLLBACK:
        if rng.random() < 0.3:
            failed = outcomes.rollback_failed(
                {"rollback": status.get("rollback")},
                status.get("conditions"),
                decision.by,
                "x",
                generation,
            )
            return {**status, **failed}, "rollback failed"
        record = outcomes.rollback_document(
            gate, "uid", "sha256:rec", decision.by, view.now, LOCATION, PointerState(True)
        )
        done = outcomes.rolled_back(status.get("conditions"), record, "sha256:rb", "c", generation)
        return {**status, **done}, None
    return status, None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    ttl=st.sampled_from([None, None, 1, 4]),
    retain=st.booleans(),
)
def test_random_walk_keeps_the_gate_s_promises(seed: int, ttl: int | None, retain: bool) -> None:
    # Hypothesis picks the gate; a seeded generator picks each step, which keeps a walk of 60
    # steps fast (a failure reports the seed, and replays exactly). Condition times come from
    # the wall clock: pinned, so two decisions on the same state can be compared whole.
    rng = random.Random(seed)
    gate = make_gate(ttl, retain)
    annotations: dict[str, str] = {}
    status: dict[str, Any] = {}
    now = T0
    with mock.patch("modelsmith.runtime.conditions.now_iso", return_value="2025-01-01T12:00:00Z"):
        for _ in range(rng.randint(1, 60)):
            now += step_annotations(rng, annotations)
            view = GateView(gate, status, dict(annotations), 1, now, 10.0)
            decision = decide(view)
            check_decision(view, decision)
            after, stopped = act(rng, view, decision)
            check_transition(view, decision, after, stopped)
            status = after


def check_decision(view: GateView, decision: Decision) -> None:
    state = view.status.get("state")
    # The same gate in the same state gets the same answer.
    assert decide(view) == decision
    if state in FINAL:
        assert decision.step == Step.NOTHING
    if state == "Promoted":
        assert decision.step in (Step.NOTHING, Step.ROLLBACK, Step.REFUSE_ROLLBACK)
        assert "promotionRecord" not in decision.status and "state" not in decision.status
    if decision.step == Step.PROMOTE:
        # Only a chain satisfied now, or an approval already recorded, ships.
        assert chain_verdict(view).approved or state == "Approved"
        users = [a.user.strip().lower() for a in decision.approvals]
        assert [a.role for a in decision.approvals] == list(ROLES)
        assert len(set(users)) == len(users), "one person signed two roles"
        assert REQUESTER not in users and not any(u.startswith("system:") for u in users)
        times = [a.at for a in decision.approvals]
        assert all(t is not None for t in times) and times == sorted(times), "out of order"
        ttl = view.gate.spec.approval_ttl_hours
        if ttl is not None and state != "Approved":
            assert all(view.now - t <= timedelta(hours=ttl) for t in times if t), "expired"
    if decision.step == Step.ROLLBACK:
        assert view.gate.spec.rollback.retain_previous and decision.by.strip() == decision.by
    if decision.step == Step.WRITE_CHAIN:
        # Writing what the chain says, then deciding again, writes nothing new.
        written = {**view.status, **decision.status}
        again = decide(GateView(view.gate, written, view.annotations, 1, view.now, 10.0))
        assert again.step == Step.WRITE_CHAIN or again.step == Step.NOTHING
        assert not merge_patch(written, again.status)


def check_transition(
    view: GateView, decision: Decision, after: dict[str, Any], stopped: Failure | str | None
) -> None:
    before = view.status.get("state")
    state = after.get("state")
    if before in FINAL:
        assert after == view.status, "a final gate changed"
    if before == "Promoted":
        assert state in ("Promoted", "RolledBack")
        assert after["promotionRecord"] == view.status["promotionRecord"]
    if state == "Promoted" and before != "Promoted":
        # Shipped only when the chain was satisfied and nothing (bundle, record, store,
        # consent, RBAC) stopped it.
        assert decision.step == Step.PROMOTE and stopped is None
        assert not after.get("blockers")
    if stopped is not None and decision.step == Step.PROMOTE:
        assert state == "Approved" and after["blockers"]
    if state == "Rejected":
        assert before in (None, "Pending", "Blocked", "Rejected")
    if state == "RolledBack":
        assert before in ("Promoted", "RolledBack")
