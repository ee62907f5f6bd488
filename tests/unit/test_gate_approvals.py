"""The approver chain judged from annotations: order, freshness, expiry, rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelsmith.api.approvers import Approver
from modelsmith.api.gate import Approval, GateDecision, GateState
from modelsmith.controllers.gate.approvals import ChainVerdict, evaluate_chain

DIGEST = "sha256:" + "0123456789abcdef" * 4
PREFIX = "0123456789ab"
OTHER = "fedcba987654"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

CHAIN = [
    Approver(role="domain-owner", users=["alice"], groups=["domain-owners"]),
    Approver(role="engineering-owner", users=["bob"], groups=["engineering-owners"]),
    Approver(role="compliance", groups=["compliance"]),
]


def key(role: str) -> str:
    return f"approval.modelsmith.io/{role}"


def sign(role: str, user: str, decision: str = "approved", prefix: str = PREFIX) -> dict[str, str]:
    return {key(role): f"{decision}:{user}:{prefix}"}


def judge(
    annotations: dict[str, str],
    previous: list[Approval] | None = None,
    now: datetime = T0,
    ttl_hours: int | None = None,
    chain: list[Approver] | None = None,
) -> ChainVerdict:
    return evaluate_chain(chain or CHAIN, annotations, DIGEST, previous or [], now, ttl_hours)


def reasons(verdict: ChainVerdict) -> list[str]:
    return [b.reason for b in verdict.blockers]


def test_nothing_signed_is_pending_with_every_role_listed_in_order() -> None:
    verdict = judge({"unrelated": "x"})
    assert verdict.state == GateState.PENDING
    assert verdict.decision == GateDecision.NONE
    assert verdict.summary == "0/3"
    assert [a.role for a in verdict.approvals] == [
        "domain-owner",
        "engineering-owner",
        "compliance",
    ]
    assert all(a.decision == "pending" and not a.valid for a in verdict.approvals)
    assert verdict.blockers == []


def test_signing_in_order_approves() -> None:
    annotations = {
        **sign("domain-owner", "alice"),
        **sign("engineering-owner", "bob"),
        **sign("compliance", "carol"),
    }
    verdict = judge(annotations)
    assert verdict.state == GateState.APPROVED and verdict.approved
    assert verdict.decision == GateDecision.PROMOTE
    assert verdict.summary == "3/3"
    assert verdict.blockers == []
    first = verdict.approvals[0]
    assert (first.user, first.decision, first.evidence_digest, first.valid, first.at) == (
        "alice",
        "approved",
        PREFIX,
        True,
        T0,
    )
    assert [a.user for a in verdict.valid_approvals()] == ["alice", "bob", "carol"]


def test_partial_chain_counts_in_summary() -> None:
    verdict = judge(sign("domain-owner", "alice"))
    assert verdict.state == GateState.PENDING
    assert verdict.summary == "1/3"


def test_user_not_listed_by_name_is_accepted() -> None:
    # Group membership is known only to the API server; its admission policy let dave in.
    verdict = judge(sign("domain-owner", "dave"))
    assert verdict.approvals[0].valid
    assert verdict.summary == "1/3"


def test_later_role_signing_first_is_out_of_order() -> None:
    verdict = judge(sign("engineering-owner", "bob"))
    assert verdict.state == GateState.BLOCKED
    assert reasons(verdict) == ["OutOfOrder"]
    bob = verdict.approvals[1]
    assert not bob.valid and bob.decision == "approved"
    assert "before domain-owner had signed" in bob.reason
    assert verdict.blockers[0].kind == "governance"
    assert verdict.summary == "0/3"


def test_out_of_order_sign_off_stays_invalid_after_the_earlier_role_signs() -> None:
    early = judge(sign("engineering-owner", "bob"), now=T0)
    later = judge(
        {**sign("engineering-owner", "bob"), **sign("domain-owner", "alice")},
        previous=early.approvals,
        now=T0 + timedelta(minutes=5),
    )
    assert reasons(later) == ["OutOfOrder"]
    assert later.summary == "1/3"
    # Signing again (the annotation removed, then set) after alice makes it count.
    removed = judge(
        sign("domain-owner", "alice"), previous=later.approvals, now=T0 + timedelta(minutes=6)
    )
    again = judge(
        {**sign("engineering-owner", "bob"), **sign("domain-owner", "alice")},
        previous=removed.approvals,
        now=T0 + timedelta(minutes=7),
    )
    assert again.blockers == []
    assert again.summary == "2/3"


def test_signatures_seen_together_are_in_order() -> None:
    verdict = judge({**sign("domain-owner", "alice"), **sign("engineering-owner", "bob")})
    assert verdict.blockers == [] and verdict.summary == "2/3"


def test_approval_on_other_evidence_is_stale() -> None:
    verdict = judge(sign("domain-owner", "alice", prefix=OTHER))
    assert verdict.state == GateState.BLOCKED
    assert reasons(verdict) == ["ApprovalStale"]
    alice = verdict.approvals[0]
    assert not alice.valid and alice.evidence_digest == OTHER
    assert "other evidence" in alice.reason


def test_stale_earlier_role_makes_later_one_out_of_order() -> None:
    verdict = judge(
        {**sign("domain-owner", "alice", prefix=OTHER), **sign("engineering-owner", "bob")}
    )
    assert reasons(verdict) == ["ApprovalStale", "OutOfOrder"]


def test_rejection_anywhere_rejects() -> None:
    verdict = judge(
        {**sign("domain-owner", "alice"), **sign("compliance", "carol", decision="rejected")}
    )
    assert verdict.state == GateState.REJECTED
    assert verdict.decision == GateDecision.REJECT
    assert verdict.blockers[0].reason == "Rejected"
    assert verdict.blockers[0].kind == "governance"
    assert verdict.blockers[0].message == "carol rejected the candidate as compliance"
    carol = verdict.approvals[2]
    assert carol.decision == "rejected" and carol.valid
    assert verdict.summary == "1/3"


def test_rejection_beats_a_complete_chain() -> None:
    chain = CHAIN[:2]
    verdict = judge(
        {**sign("domain-owner", "alice"), **sign("engineering-owner", "bob", "rejected")},
        chain=chain,
    )
    assert verdict.state == GateState.REJECTED


def test_rejection_on_other_evidence_is_stale_not_final() -> None:
    verdict = judge(sign("domain-owner", "alice", decision="rejected", prefix=OTHER))
    assert verdict.state == GateState.BLOCKED
    assert reasons(verdict) == ["ApprovalStale"]


def test_approval_older_than_ttl_expires() -> None:
    first = judge(sign("domain-owner", "alice"), now=T0, ttl_hours=24)
    assert first.blockers == []
    within = judge(
        sign("domain-owner", "alice"),
        previous=first.approvals,
        now=T0 + timedelta(hours=24),
        ttl_hours=24,
    )
    assert within.blockers == [] and within.approvals[0].at == T0
    late = judge(
        sign("domain-owner", "alice"),
        previous=first.approvals,
        now=T0 + timedelta(hours=24, seconds=1),
        ttl_hours=24,
    )
    assert late.state == GateState.BLOCKED
    assert reasons(late) == ["ApprovalExpired"]
    assert "older than 24 hours" in late.approvals[0].reason
    assert late.summary == "0/3"


def test_no_ttl_never_expires() -> None:
    first = judge(sign("domain-owner", "alice"), now=T0)
    years = judge(
        sign("domain-owner", "alice"), previous=first.approvals, now=T0 + timedelta(days=3650)
    )
    assert years.blockers == []


def test_first_seen_time_is_kept_while_the_sign_off_is_unchanged() -> None:
    first = judge(sign("domain-owner", "alice"), now=T0)
    later = T0 + timedelta(hours=1)
    same = judge(sign("domain-owner", "alice"), previous=first.approvals, now=later)
    assert same.approvals[0].at == T0
    # A different user, decision or evidence is a new sign-off with a new time.
    for changed in (
        sign("domain-owner", "dave"),
        sign("domain-owner", "alice", decision="rejected"),
        sign("domain-owner", "alice", prefix=OTHER),
    ):
        assert judge(changed, previous=first.approvals, now=later).approvals[0].at == later


def test_time_is_whole_seconds() -> None:
    verdict = judge(sign("domain-owner", "alice"), now=T0.replace(microsecond=123456))
    assert verdict.approvals[0].at == T0


def test_unknown_role_is_ignored_but_listed() -> None:
    annotations = {**sign("domain-owner", "alice"), **sign("ceo", "mallory")}
    verdict = judge(annotations)
    assert verdict.state == GateState.PENDING
    assert reasons(verdict) == ["UnknownRole"]
    assert "ceo" in verdict.blockers[0].message
    assert [a.role for a in verdict.approvals] == [
        "domain-owner",
        "engineering-owner",
        "compliance",
    ]
    complete = judge(
        {**annotations, **sign("engineering-owner", "bob"), **sign("compliance", "carol")}
    )
    assert complete.state == GateState.APPROVED
    assert reasons(complete) == ["UnknownRole"]


def test_unknown_role_follows_real_blockers() -> None:
    verdict = judge({**sign("ceo", "mallory"), **sign("engineering-owner", "bob")})
    assert reasons(verdict) == ["OutOfOrder", "UnknownRole"]
    assert verdict.state == GateState.BLOCKED


def test_malformed_annotation_blocks() -> None:
    verdict = judge({key("domain-owner"): "yes please"})
    assert verdict.state == GateState.BLOCKED
    assert reasons(verdict) == ["ApprovalMalformed"]
    assert verdict.approvals[0].decision == "pending"


def test_one_person_cannot_sign_two_roles() -> None:
    verdict = judge({**sign("domain-owner", "alice"), **sign("engineering-owner", "alice")})
    assert reasons(verdict) == ["SameApprover"]
    assert verdict.summary == "1/3"


def test_verdict_approvals_serialise_as_status() -> None:
    verdict = judge(sign("domain-owner", "alice"))
    wire = verdict.approvals[0].wire()
    assert wire == {
        "role": "domain-owner",
        "user": "alice",
        "decision": "approved",
        "at": "2025-01-01T12:00:00Z",
        "evidenceDigest": PREFIX,
        "valid": True,
        "reason": "",
    }
    assert Approval.model_validate(wire) == verdict.approvals[0]
