"""The effective approver chain of a promotion: admin policy first, the intake's additions after.
`effective_chain` is pure: `staged_chain` lists the policies and reads the namespace's labels for
it, for the intake controller (which shows the chain on the intake) and the run controller
(which copies it into the gate it stages).

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
- Separation of duties: a chain listing one user or one group for two roles is refused
  (`chain_overlaps`; the intake is not Ready).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from modelsmith.api.approvers import SYSTEM_PREFIX, Approver, clipped, normal_name, shown_name
from modelsmith.api.intake import ModelIntake
from modelsmith.api.policy import ApproverPolicy
from modelsmith.api.selector import selector_matches
from modelsmith.runtime import kube

MAX_ROLES = 8
POLICIES = "approverpolicies"


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


def staged_chain(namespace: str, intake: ModelIntake) -> EffectiveChain:
    """The approver chain and TTL a gate in `namespace` carries: the admin policies selecting
    the namespace (read now, at staging; the gate keeps what they said), then the intake's."""
    ns = kube.rest("GET", kube.core_path("namespaces", name=namespace))
    labels: dict[str, str] = dict((ns.get("metadata") or {}).get("labels") or {})
    listed = kube.rest("GET", kube.custom_path(POLICIES))
    policies = [ApproverPolicy.model_validate(item) for item in listed.get("items") or []]
    promotion = intake.spec.promotion
    return effective_chain(policies, labels, promotion.approvers, promotion.approval_ttl_hours)


def chain_overlaps(approvers: list[Approver]) -> list[str]:
    """Every user and every group listed for more than one role, each as a message naming the
    principal and its roles (chain order); empty when the chain keeps duties apart.

    A group counts like a user: any member of a group listed for two roles may sign both, so
    one person could carry the whole chain. Listing a principal twice within one role is
    harmless and not reported."""
    roles_of: dict[tuple[str, str], list[str]] = {}
    spellings: dict[tuple[str, str], list[str]] = {}
    for approver in approvers:
        for kind, names in (("user", approver.users), ("group", approver.groups)):
            for name in names or []:
                key = (kind, normal_name(name))
                roles = roles_of.setdefault(key, [])
                if approver.role not in roles:
                    roles.append(approver.role)
                if name not in (seen := spellings.setdefault(key, [])):
                    seen.append(name)
    messages = []
    for key, roles in roles_of.items():
        if len(roles) < 2:
            continue
        kind = key[0]
        name = " and ".join(shown_name(clipped(n)) for n in spellings[key])
        if len(spellings[key]) > 1:
            name += " (one name: case and surrounding whitespace do not tell people apart)"
        listed = ("both " if len(roles) == 2 else "") + ", ".join(roles[:-1]) + " and " + roles[-1]
        consequence = (
            "each role must be signed by a different person"
            if kind == "user"
            else "one of its members could sign more than one role; give each role its own group"
        )
        messages.append(f"{kind} {name} is listed for {listed}; {consequence}")
    return messages
