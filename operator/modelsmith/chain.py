"""The effective approver chain of a promotion: admin policy first, the intake's additions after.
Pure: the caller lists the policies and reads the namespace's labels.

- Every ApproverPolicy whose namespaceSelector matches the intake's namespace contributes its
  roles, policies in name order and roles in their order. Two policies naming one role require
  holders both admit (never the union: one policy cannot widen another).
- The intake's own roles follow, in its order, except those a policy names: for such a role the
  intake may narrow the holders (the gate gets those both list) but never widen them; when the
  two share nobody the policy's holders stand, so a typo cannot make a role unsignable or wider.
- Users and groups starting with `system:` (ServiceAccounts, system:authenticated, ...) never
  reach here: the CRDs refuse them at apply and the models refuse to parse them; the approval
  policy and `controllers.gate.approvals.evaluate_chain` ignore them besides.
- TTL: the smallest of the matching policies' and the intake's approvalTtlHours (None: none set).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from modelsmith.api.approvers import SYSTEM_PREFIX, Approver, normal_name
from modelsmith.api.policy import ApproverPolicy
from modelsmith.api.selector import selector_matches

MAX_ROLES = 8


@dataclass(frozen=True)
class EffectiveChain:
    approvers: list[Approver]
    ttl_hours: int | None
    policies: list[str]
    """Names of the policies that matched, in the order they were applied."""

    @property
    def too_long(self) -> bool:
        """A gate holds at most MAX_ROLES roles."""
        return len(self.approvers) > MAX_ROLES


def is_system(principal: str) -> bool:
    return principal.startswith(SYSTEM_PREFIX)


def _narrowed(base: Approver, other: Approver) -> Approver:
    """`base`'s role held only by principals both list; `base` itself when they share none."""
    # Compared as normal_name spells them: the intake's `Alice` narrows the policy's `alice`.
    their_users = {normal_name(u) for u in other.users}
    their_groups = {normal_name(g) for g in other.groups}
    users = [u for u in base.users if normal_name(u) in their_users]
    groups = [g for g in base.groups if normal_name(g) in their_groups]
    if not users and not groups:
        return base
    return Approver(role=base.role, users=users, groups=groups)


def matching_policies(
    policies: Iterable[ApproverPolicy], namespace_labels: Mapping[str, str]
) -> list[ApproverPolicy]:
    """The policies selecting a namespace with these labels, in name order."""
    chosen = [p for p in policies if selector_matches(p.spec.namespace_selector, namespace_labels)]
    return sorted(chosen, key=lambda p: p.name)


def effective_chain(
    policies: Iterable[ApproverPolicy],
    namespace_labels: Mapping[str, str],
    intake_approvers: list[Approver],
    intake_ttl_hours: int | None,
) -> EffectiveChain:
    """The chain and TTL a gate in a namespace with `namespace_labels` must carry."""
    matched = matching_policies(policies, namespace_labels)
    required: dict[str, Approver] = {}
    for policy in matched:
        for role in policy.spec.roles:
            known = required.get(role.role)
            required[role.role] = role if known is None else _narrowed(known, role)
    chain: list[Approver] = []
    for approver in required.values():
        own = next((a for a in intake_approvers if a.role == approver.role), None)
        chain.append(approver if own is None else _narrowed(approver, own))
    chain += [a for a in intake_approvers if a.role not in required]
    ttls = [p.spec.approval_ttl_hours for p in matched] + [intake_ttl_hours]
    known_ttls = [t for t in ttls if t is not None]
    return EffectiveChain(
        approvers=chain,
        ttl_hours=min(known_ttls) if known_ttls else None,
        policies=[p.name for p in matched],
    )
