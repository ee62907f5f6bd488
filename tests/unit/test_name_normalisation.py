"""Names compared where identity matters (issue 19, item 6): case and surrounding whitespace
never tell two people apart, and a name written so that it compares as something else is
refused, its invisible characters shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from modelsmith.api.approvers import Approver, miswritten, normal_name, shown_name
from modelsmith.api.policy import ApproverPolicy
from modelsmith.chain import chain_overlaps, effective_chain
from modelsmith.controllers.gate.approvals import (
    REQUESTER_CANNOT_APPROVE,
    SAME_APPROVER,
    evaluate_chain,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
PREFIX = "0123456789ab"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CHAIN = [
    Approver(role="domain-owner", users=["Alice"]),
    Approver(role="engineering-owner", users=["bob"], groups=["engineering"]),
]


def _sign(role: str, user: str) -> dict[str, str]:
    return {f"approval.modelsmith.io/{role}": f"approved:{user}:{PREFIX}"}


@pytest.mark.parametrize("name", ["alice", "Alice", " alice", "ALICE\t", "\uff41lice"])
def test_spellings_of_one_name_compare_equal(name: str) -> None:
    assert normal_name(name) == "alice"


def test_one_person_in_two_roles_is_flagged_whatever_the_case() -> None:
    chain = [
        Approver(role="domain-owner", users=["Alice"]),
        Approver(role="engineering-owner", users=["alice"]),
    ]
    (message,) = chain_overlaps(chain)
    assert message.startswith(
        "user Alice and alice (one name: case and surrounding whitespace do not tell people "
        "apart) is listed for both domain-owner and engineering-owner"
    )


def test_one_signer_for_two_roles_is_refused_whatever_the_spelling() -> None:
    annotations = _sign("domain-owner", "Alice") | _sign("engineering-owner", "alice ")
    chain = [
        Approver(role="domain-owner", users=["Alice"]),
        Approver(role="engineering-owner", groups=["engineering"]),
    ]
    verdict = evaluate_chain(chain, annotations, DIGEST, [], T0 + timedelta(seconds=1), None)
    assert [b.reason for b in verdict.blockers] == [SAME_APPROVER]
    assert verdict.blockers[0].message.startswith(
        '"alice\u2420" already signed domain-owner (names are compared without case'
    )
    assert not verdict.approved


def test_the_requester_cannot_sign_under_another_spelling() -> None:
    verdict = evaluate_chain(
        CHAIN, _sign("domain-owner", " ALICE"), DIGEST, [], T0, None, requested_by="alice"
    )
    assert [b.reason for b in verdict.blockers] == [REQUESTER_CANNOT_APPROVE]


def test_an_intake_narrows_a_policy_role_whatever_the_case() -> None:
    policy = ApproverPolicy.model_validate(
        {
            "apiVersion": "modelsmith.io/v1alpha1",
            "kind": "ApproverPolicy",
            "metadata": {"name": "p"},
            "spec": {
                "namespaceSelector": {},
                "roles": [{"role": "domain-owner", "users": ["alice", "carol"]}],
            },
        }
    )
    chain = effective_chain([policy], {}, [Approver(role="domain-owner", users=["ALICE"])], None)
    assert chain.approvers[0].users == ["alice"]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("alice ", '"alice\u2420"'),
        ("\talice", '"\\talice"'),
        ("ali\u200bce", '"ali<U+200B>ce"'),
        ("alice\u2060", '"alice<U+2060>"'),
        ("\u00a0alice", '"<U+00A0>alice"'),
    ],
)
def test_a_name_hiding_characters_is_refused_and_shown(name: str, shown: str) -> None:
    assert miswritten(name)
    assert shown_name(name) == shown
    with pytest.raises(pydantic.ValidationError, match=re.escape(shown)):
        Approver(role="domain-owner", users=[name])
    with pytest.raises(pydantic.ValidationError, match="group names must be written"):
        Approver(role="domain-owner", groups=[name])


@pytest.mark.parametrize(
    ("name", "shown"),
    [("alice", "alice"), ("Alice", "Alice"), ("jane doe", '"jane\u2420doe"'), ("ålice", "ålice")],
)
def test_names_as_written_are_kept(name: str, shown: str) -> None:
    """An inner space is legal (it is visible between two words), yet shown quoted."""
    assert not miswritten(name)
    assert shown_name(name) == shown
    Approver(role="domain-owner", users=[name])
