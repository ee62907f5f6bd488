"""The approver chain of a PromotionGate, judged from its annotations. Pure: no I/O.

The API server's admission policy decides *who* may set each role's annotation (it alone knows
group membership). What only the operator can judge is decided here:

- order: a role's approval counts only once every earlier role has a valid approval that was
  seen no later than it. A later role that signs while an earlier one is pending stays
  OutOfOrder until it signs again (removes its annotation and sets it anew) after the earlier
  role signed; the operator cannot know what a reviewer saw, so a sign-off given before the
  earlier one existed is never promoted to valid after the fact.
- freshness: an approval names the first 12 hex characters of the evidence digest it was given
  on; a different prefix is ApprovalStale.
- expiry: with a TTL, an approval first seen longer ago than the TTL is ApprovalExpired.
- separation of duties: one person cannot count for two roles. The intake refuses a user or a
  group listed for two roles (`modelsmith.chain.chain_overlaps`); a user listed for one role who
  is a member of a group listed for another is invisible to the operator (only the API server
  knows group membership), so the gate also refuses one user name signing two roles
  (SameApprover).
  Names are compared as `normal_name` spells them (case and surrounding whitespace aside):
  `Alice` and `alice ` are one person, in the chain and in the sign-offs.

A rejection on the current evidence ends the chain as Rejected wherever it sits: order and
expiry guard against promoting too early, and a "no" needs neither guard. A rejection that names
other evidence is ApprovalStale instead, so the approver can state it on this evidence.

`at` is when the operator first saw a sign-off (the API server keeps no such time per
annotation); it is carried over from the previous status while role, user, decision and evidence
stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelsmith.api.approvers import SYSTEM_PREFIX, Approver, clipped, normal_name, shown_name
from modelsmith.api.common import Blocker, BlockerKind
from modelsmith.api.gate import Approval, ApprovalDecision, GateDecision, GateState
from modelsmith.api.gate_annotations import (
    APPROVAL_ANNOTATION_PREFIX,
    ApprovalAnnotation,
    evidence_prefix,
    parse_approval_annotation,
)

# Blocker reasons (CamelCase codes on status.blockers and Events).
APPROVAL_STALE = "ApprovalStale"
OUT_OF_ORDER = "OutOfOrder"
APPROVAL_EXPIRED = "ApprovalExpired"
REJECTED = "Rejected"
UNKNOWN_ROLE = "UnknownRole"
APPROVAL_MALFORMED = "ApprovalMalformed"
SAME_APPROVER = "SameApprover"
REQUESTER_CANNOT_APPROVE = "RequesterCannotApprove"
SYSTEM_IDENTITY = "SystemIdentityCannotApprove"

AWAITING = "awaiting sign-off"
_FORMAT_HINT = "expected approved|rejected:<username>:<first 12 hex of the evidence digest>"


@dataclass(frozen=True)
class ChainVerdict:
    """What the chain says now."""

    approvals: list[Approval]
    """One per role, in chain order."""
    blockers: list[Blocker] = field(default_factory=list)
    """Governance blockers; UnknownRole entries come last and never change the state."""
    state: GateState = GateState.PENDING
    """Pending, Approved, Rejected or Blocked."""
    decision: GateDecision = GateDecision.NONE
    summary: str = "0/0"
    """Valid approvals over roles, e.g. 1/2."""

    @property
    def approved(self) -> bool:
        """True when every role signed validly (and nobody rejected)."""
        return self.state == GateState.APPROVED

    def valid_approvals(self) -> list[Approval]:
        return [a for a in self.approvals if a.valid and a.decision == ApprovalDecision.APPROVED]


def evaluate_chain(
    approvers: list[Approver],
    annotations: dict[str, str],
    evidence_digest: str,
    previous: list[Approval],
    now: datetime,
    ttl_hours: int | None,
    requested_by: str | None = None,
) -> ChainVerdict:
    """Judges every role's sign-off. `evidence_digest` is the gate's full `sha256:...` digest;
    `previous` is status.approvals from the last reconcile; `now` is timezone-aware;
    `ttl_hours` and `requested_by` come from the gate's spec."""
    now = now.replace(microsecond=0)
    walk = _ChainWalk(
        current=evidence_prefix(evidence_digest),
        earlier={a.role: a for a in previous},
        now=now,
        ttl_hours=ttl_hours,
        requested_by=requested_by,
        chain_at=datetime.min.replace(tzinfo=now.tzinfo),
    )
    for approver in approvers:
        walk.judge(approver.role, annotations.get(APPROVAL_ANNOTATION_PREFIX + approver.role))
    walk.blockers.extend(_unknown_roles(annotations, {a.role for a in approvers}))
    return _verdict(walk, len(approvers))


@dataclass
class _ChainWalk:
    """The chain judged role by role, in order: what each later role is checked against."""

    current: str
    """The first 12 hex of the gate's evidence digest."""
    earlier: dict[str, Approval]
    now: datetime
    ttl_hours: int | None
    requested_by: str | None
    chain_at: datetime | None
    """The latest first-seen time among the valid approvals of the roles judged so far, or
    None once any of them lacks a valid approval."""
    wait_for: str | None = None
    """The role an out-of-order sign-off should have waited for."""
    signers: dict[str, str] = field(default_factory=dict)
    approvals: list[Approval] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    rejected_by: list[Approval] = field(default_factory=list)

    def judge(self, role: str, raw: str | None) -> None:
        if raw is None:
            self.approvals.append(Approval(role=role, reason=AWAITING))
            self._break(role)
            return
        parsed = parse_approval_annotation(APPROVAL_ANNOTATION_PREFIX + role, raw)
        if parsed is None:
            message = f"the {role} annotation is malformed ({_FORMAT_HINT})"
            self.approvals.append(Approval(role=role, reason=message))
            self.blockers.append(_blocker(APPROVAL_MALFORMED, message))
            self._break(role)
            return
        approval = self._signed(role, parsed)
        self.approvals.append(approval)
        if approval.valid and approval.decision == ApprovalDecision.APPROVED:
            self.chain_at, self.wait_for = approval.at, role  # valid means in order
        else:
            self._break(role)

    def _signed(self, role: str, parsed: ApprovalAnnotation) -> Approval:
        at = _first_seen(self.earlier.get(role), parsed, self.now)
        approval = Approval(
            role=role,
            user=parsed.user,
            decision=ApprovalDecision(parsed.decision),
            at=at,
            evidence_digest=parsed.evidence_prefix,
        )
        problem = _ineligible(parsed, self.requested_by) or _problem(
            parsed,
            approval,
            self.current,
            self.chain_at,
            self.wait_for,
            self.signers,
            self.now,
            self.ttl_hours,
        )
        if problem is None:
            approval.valid = True
            if parsed.decision == "rejected":
                self.rejected_by.append(approval)
            else:
                self.signers.setdefault(normal_name(parsed.user), role)
        else:
            reason, message = problem
            approval.reason = message
            self.blockers.append(_blocker(reason, message))
        return approval

    def _break(self, role: str) -> None:
        """The chain stops counting at `role`; later sign-offs wait for the first role that
        broke it."""
        self.wait_for = role if self.chain_at is not None else self.wait_for
        self.chain_at = None


def _unknown_roles(annotations: dict[str, str], roles: set[str]) -> list[Blocker]:
    """Sign-offs for roles the chain does not list: reported, never counted."""
    blockers = []
    for key in sorted(annotations):
        if key.startswith(APPROVAL_ANNOTATION_PREFIX):
            role = key.removeprefix(APPROVAL_ANNOTATION_PREFIX)
            if role not in roles:
                blockers.append(
                    _blocker(
                        UNKNOWN_ROLE,
                        f"an approval names the role {clipped(role)}, which is not in the "
                        "approver chain; it is ignored",
                    )
                )
    return blockers


def _verdict(walk: _ChainWalk, roles: int) -> ChainVerdict:
    """A valid rejection anywhere wins; then all roles signed; else pending or blocked."""
    approvals, blockers = walk.approvals, walk.blockers
    valid = sum(1 for a in approvals if a.valid and a.decision == ApprovalDecision.APPROVED)
    summary = f"{valid}/{roles}"
    if walk.rejected_by:
        first = walk.rejected_by[0]
        rejection = _blocker(REJECTED, f"{first.user} rejected the candidate as {first.role}")
        return ChainVerdict(
            approvals, [rejection, *blockers], GateState.REJECTED, GateDecision.REJECT, summary
        )
    if valid == roles:
        return ChainVerdict(approvals, blockers, GateState.APPROVED, GateDecision.PROMOTE, summary)
    blocking = any(b.reason != UNKNOWN_ROLE for b in blockers)
    state = GateState.BLOCKED if blocking else GateState.PENDING
    return ChainVerdict(approvals, blockers, state, GateDecision.NONE, summary)


def _ineligible(parsed: ApprovalAnnotation, requested_by: str | None) -> tuple[str, str] | None:
    """Sign-offs that never count, whoever the chain lists."""
    user = clipped(parsed.user)
    if parsed.user.startswith(SYSTEM_PREFIX):
        return (
            SYSTEM_IDENTITY,
            f"{user} signed {parsed.role}, but system: identities (ServiceAccounts, system "
            "groups) can never approve",
        )
    if requested_by is not None and normal_name(parsed.user) == normal_name(requested_by):
        return (
            REQUESTER_CANNOT_APPROVE,
            f"{user} requested the run and cannot sign its gate ({parsed.role}); another holder "
            "of the role must sign",
        )
    return None


def _problem(
    parsed: ApprovalAnnotation,
    approval: Approval,
    current: str,
    chain_at: datetime | None,
    wait_for: str | None,
    signers: dict[str, str],
    now: datetime,
    ttl_hours: int | None,
) -> tuple[str, str] | None:
    """Why a parsed sign-off does not count, or None when it does."""
    role, user = parsed.role, parsed.user
    if parsed.evidence_prefix != current:
        return (
            APPROVAL_STALE,
            f"{user} signed {role} on other evidence ({parsed.evidence_prefix}, the gate's is "
            f"{current}); sign again on the current evidence",
        )
    if parsed.decision == "rejected":
        return None
    assert approval.at is not None
    if ttl_hours is not None and now - approval.at > timedelta(hours=ttl_hours):
        return (
            APPROVAL_EXPIRED,
            f"the {role} approval by {user} is older than {ttl_hours} hours; sign again",
        )
    if chain_at is None or approval.at < chain_at:
        return (
            OUT_OF_ORDER,
            f"{user} signed {role} before {wait_for or 'an earlier role'} had signed; once the "
            f"earlier roles have signed, remove the {role} annotation and sign again",
        )
    if (same := normal_name(parsed.user)) in signers:
        return (
            SAME_APPROVER,
            f"{shown_name(user)} already signed {signers[same]} (names are compared without "
            f"case and surrounding whitespace); {role} needs a different person",
        )
    return None


def _first_seen(before: Approval | None, parsed: ApprovalAnnotation, now: datetime) -> datetime:
    if (
        before is not None
        and before.at is not None
        and before.user == parsed.user
        and before.decision == parsed.decision
        and before.evidence_digest == parsed.evidence_prefix
    ):
        return before.at
    return now


def _blocker(reason: str, message: str) -> Blocker:
    return Blocker(kind=BlockerKind.GOVERNANCE, reason=reason, message=message[:1024])
