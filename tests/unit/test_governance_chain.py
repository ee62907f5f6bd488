"""Approver policy, effective chain, separation of duties, selector matching and serving consent:
the pure parts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from modelsmith.api.approvers import Approver
from modelsmith.api.policy import ApproverPolicy
from modelsmith.api.selector import LabelSelector, selector_matches
from modelsmith.chain import chain_overlaps, effective_chain
from modelsmith.controllers.gate.approvals import (
    REQUESTER_CANNOT_APPROVE,
    SYSTEM_IDENTITY,
    evaluate_chain,
)
from modelsmith.serving import (
    SERVING_TARGET_MISSING,
    SERVING_TARGET_NOT_ALLOWED,
    serving_refusal,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
PREFIX = "0123456789ab"


def selector(**wire: Any) -> LabelSelector:
    return LabelSelector.model_validate(wire)


@pytest.mark.parametrize(
    ("wire", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},
            {"team": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]},
            {"team": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "prod", "operator": "Exists"}]}, {"prod": ""}, True),
        ({"matchExpressions": [{"key": "prod", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "prod", "operator": "DoesNotExist"}]}, {"prod": "1"}, False),
    ],
)
def test_selector_matches_like_kubernetes(
    wire: dict[str, Any], labels: dict[str, str], expected: bool
) -> None:
    assert selector_matches(selector(**wire), labels) is expected


def policy(
    name: str,
    roles: list[dict[str, Any]],
    ttl: int | None = None,
    match: dict[str, str] | None = None,
) -> ApproverPolicy:
    spec: dict[str, Any] = {"namespaceSelector": {"matchLabels": match or {}}, "roles": roles}
    if ttl is not None:
        spec["approvalTtlHours"] = ttl
    return ApproverPolicy.model_validate({"metadata": {"name": name}, "spec": spec})


COMPLIANCE = {"role": "compliance", "users": ["carol"], "groups": ["compliance"]}


def test_policy_roles_come_first_and_intake_adds_its_own() -> None:
    intake = [Approver(role="domain-owner", users=["bob"])]
    chain = effective_chain([policy("p", [COMPLIANCE])], {}, intake, None)
    assert [a.role for a in chain.approvers] == ["compliance", "domain-owner"]
    assert chain.policies == ["p"]


def test_an_intake_cannot_drop_or_widen_a_policy_role() -> None:
    intake = [Approver(role="compliance", users=["mallory"])]  # tries to hold it themselves
    chain = effective_chain([policy("p", [COMPLIANCE])], {}, intake, None)
    assert chain.approvers == [Approver.model_validate(COMPLIANCE)]


def test_an_intake_may_narrow_a_policy_role() -> None:
    intake = [Approver(role="compliance", users=["carol", "mallory"])]
    chain = effective_chain([policy("p", [COMPLIANCE])], {}, intake, None)
    assert chain.approvers == [Approver(role="compliance", users=["carol"])]


def test_policies_apply_only_to_selected_namespaces_in_name_order() -> None:
    a = policy("b-policy", [COMPLIANCE], match={"tier": "prod"})
    b = policy("a-policy", [{"role": "security", "users": ["dave"]}])
    intake = [Approver(role="domain-owner", users=["bob"])]
    dev = effective_chain([a, b], {"tier": "dev"}, intake, None)
    assert [x.role for x in dev.approvers] == ["security", "domain-owner"]
    prod = effective_chain([a, b], {"tier": "prod"}, intake, None)
    assert [x.role for x in prod.approvers] == ["security", "compliance", "domain-owner"]


def test_two_policies_on_one_role_admit_only_common_holders() -> None:
    one = policy("one", [{"role": "compliance", "users": ["carol", "dave"]}])
    two = policy("two", [{"role": "compliance", "users": ["dave"]}])
    chain = effective_chain([one, two], {}, [Approver(role="x", users=["bob"])], None)
    assert chain.approvers[0] == Approver(role="compliance", users=["dave"])


def test_ttl_is_the_smallest() -> None:
    chain = effective_chain([policy("p", [COMPLIANCE], ttl=24)], {}, [], 48)
    assert chain.ttl_hours == 24
    assert effective_chain([policy("p", [COMPLIANCE])], {}, [], 48).ttl_hours == 48
    assert effective_chain([], {}, [Approver(role="x", users=["a"])], None).ttl_hours is None


@pytest.mark.parametrize(
    "approver",
    [
        {"role": "r", "users": ["system:serviceaccount:ns:sa"]},
        {"role": "r", "groups": ["system:authenticated"]},
    ],
)
def test_system_identities_are_never_approvers(approver: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="system:"):
        Approver.model_validate(approver)


def _judge(annotations: dict[str, str], requested_by: str | None) -> Any:
    chain = [Approver(role="domain-owner", users=["alice", "bob", "system:x"][:2])]
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return evaluate_chain(chain, annotations, DIGEST, [], now, None, requested_by)


def test_the_requester_signing_does_not_count() -> None:
    verdict = _judge({"approval.modelsmith.io/domain-owner": f"approved:alice:{PREFIX}"}, "alice")
    assert not verdict.approved
    assert verdict.blockers[0].reason == REQUESTER_CANNOT_APPROVE
    other = _judge({"approval.modelsmith.io/domain-owner": f"approved:bob:{PREFIX}"}, "alice")
    assert other.approved


def test_a_system_user_signing_does_not_count() -> None:
    value = f"approved:system:admin:{PREFIX}"  # malformed (two colons) or not, never counts
    verdict = _judge({"approval.modelsmith.io/domain-owner": value}, None)
    assert not verdict.approved


def test_a_system_identity_blocker_names_the_rule() -> None:
    from modelsmith.api.gate_annotations import ApprovalAnnotation
    from modelsmith.controllers.gate.approvals import _ineligible

    parsed = ApprovalAnnotation("domain-owner", "approved", "system:node1", PREFIX)
    problem = _ineligible(parsed, None)
    assert problem is not None and problem[0] == SYSTEM_IDENTITY


# ----- chain_overlaps: the intake's separation-of-duties check ---------------------------------


def test_a_chain_with_distinct_principals_has_no_overlap() -> None:
    chain = [
        Approver(role="domain-owner", users=["alice"], groups=["domain-owners"]),
        Approver(role="engineering-owner", users=["bob"], groups=["engineering-owners"]),
        Approver(role="compliance", groups=["compliance"]),
    ]
    assert chain_overlaps(chain) == []


def test_a_user_in_two_roles_is_flagged() -> None:
    chain = [
        Approver(role="domain-owner", users=["alice"]),
        Approver(role="engineering-owner", users=["bob", "alice"]),
    ]
    assert chain_overlaps(chain) == [
        "user alice is listed for both domain-owner and engineering-owner; each role must be "
        "signed by a different person"
    ]


def test_a_group_in_two_roles_is_flagged_like_a_user() -> None:
    # Any member of "owners" could sign both roles, so the chain is as weak as one user in both.
    chain = [
        Approver(role="domain-owner", users=["alice"], groups=["owners"]),
        Approver(role="engineering-owner", users=["bob"], groups=["platform", "owners"]),
    ]
    [message] = chain_overlaps(chain)
    assert message.startswith("group owners is listed for both domain-owner and engineering-owner")
    assert "members could sign more than one role" in message


def test_a_group_and_a_user_of_the_same_name_are_different_principals() -> None:
    # Kubernetes keeps user and group names apart: user "ops" is not a member of group "ops".
    chain = [
        Approver(role="domain-owner", users=["ops"]),
        Approver(role="engineering-owner", groups=["ops"]),
    ]
    assert chain_overlaps(chain) == []


def test_every_overlap_is_reported_with_all_its_roles() -> None:
    chain = [
        Approver(role="domain-owner", users=["alice"], groups=["owners"]),
        Approver(role="engineering-owner", users=["alice"], groups=["owners"]),
        Approver(role="compliance", groups=["owners"]),
    ]
    messages = chain_overlaps(chain)
    assert len(messages) == 2
    assert messages[0].startswith(
        "user alice is listed for both domain-owner and engineering-owner;"
    )
    assert messages[1].startswith(
        "group owners is listed for domain-owner, engineering-owner and compliance;"
    )


def test_a_principal_repeated_within_one_role_is_not_an_overlap() -> None:
    chain = [
        Approver(role="domain-owner", users=["alice", "alice"], groups=["owners", "owners"]),
        Approver(role="engineering-owner", users=["bob"]),
    ]
    assert chain_overlaps(chain) == []


def cm(labels: dict[str, str] | None = None, allowed: str | None = None) -> dict[str, Any]:
    annotations = {"modelsmith.io/serving-allowed-namespaces": allowed} if allowed else {}
    return {"metadata": {"labels": labels or {}, "annotations": annotations}}


OPTED_IN = {"modelsmith.io/serving-pointer": "true"}


def test_serving_consent() -> None:
    assert serving_refusal("team", "team", "ptr", cm(OPTED_IN)) is None
    assert serving_refusal("team", "other", "ptr", cm(OPTED_IN, "x, team")) is None
    missing = serving_refusal("team", "team", "ptr", None)
    assert missing is not None and missing.reason == SERVING_TARGET_MISSING
    for case in (
        serving_refusal("team", "team", "ptr", cm()),
        serving_refusal("team", "other", "ptr", cm(OPTED_IN)),
        serving_refusal("team", "other", "ptr", cm(OPTED_IN, "teams")),
        serving_refusal("kube-system", "kube-system", "ptr", cm(OPTED_IN)),
    ):
        assert case is not None and case.reason == SERVING_TARGET_NOT_ALLOWED
    system = serving_refusal("team", "kube-public", "ptr", cm(OPTED_IN, "team"))
    assert system is not None and "kube-public/ptr" in system.message
