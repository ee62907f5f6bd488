"""Names where identity matters (issue 19, item 6), tried on the real API server as the users
themselves: an approver name that hides characters is refused at apply with them shown, and one
person holding two accounts spelled `Bob` and `bob` cannot sign two roles of one gate; the same
roles signed by two people pass. The gate reconciler runs in-process (test_approver_governance)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from staged import forget_staged_runs, stage_gate
from test_approver_governance import GATE, PREFIX, SERVING, _apply, _intake, team

from modelsmith.api import samples
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]
RBAC = "rbac.authorization.k8s.io"
__all__ = ["team"]  # the fixture, shared with test_approver_governance


@pytest.fixture(autouse=True)
def _forget_staged_runs() -> Any:
    yield
    forget_staged_runs()


def test_an_approver_name_hiding_whitespace_is_refused_and_shown(crds: Cluster, team: str) -> None:
    for users, shown in ((["bob "], '"bob\u2420"'), (["\tbob"], '"\\tbob"')):
        refused = _apply(crds, _intake(team, [{"role": "domain-owner", "users": users}]))
        assert refused.returncode != 0, refused.stdout
        assert "user names must be written as they compare" in refused.stderr, refused.stderr
        assert f"refused: {shown}" in refused.stderr, refused.stderr
    allowed = _apply(crds, _intake(team, [{"role": "domain-owner", "users": ["bob"]}]))
    assert allowed.returncode == 0, allowed.stderr


def _sign(cluster: Cluster, namespace: str, role: str, user: str, group: str) -> Any:
    value = f"approval.modelsmith.io/{role}=approved:{user}:{PREFIX}"
    return cluster.kubectl(
        "annotate",
        "-n",
        namespace,
        f"promotiongate/{GATE}",
        "--overwrite",
        value,
        "--as",
        user,
        "--as-group",
        group,
        check=False,
    )


def _blockers(namespace: str) -> list[dict[str, Any]]:
    from modelsmith.controllers.gate.reconcile import reconcile

    reconcile(RT, namespace, GATE)
    got = kube.get_custom("promotiongates", namespace, GATE)
    assert got is not None
    return list((got.get("status") or {}).get("blockers") or [])


def test_one_person_cannot_sign_two_roles_under_two_spellings(crds: Cluster, team: str) -> None:
    approvers = [
        {"role": "domain-owner", "users": ["Bob"]},
        {"role": "engineering-owner", "groups": ["eng-owners"]},
    ]
    # Bob's second account may patch gates like any approver (the chart's approver role).
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "gate-approver-groups", "namespace": team},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "gate-approver",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}
            for g in ("domain-owners", "eng-owners")
        ],
    }
    crds.kubectl("apply", "-f", "-", input=json.dumps(binding))
    gate = samples.gate(GATE, team)
    gate["spec"] |= {
        "requestedBy": "alice",
        "approvers": approvers,
        "serving": {"configMapName": SERVING, "namespace": team},
    }
    stage_gate(team, gate)

    signed = _sign(crds, team, "domain-owner", "Bob", "domain-owners")
    assert signed.returncode == 0, signed.stderr
    _blockers(team)
    # Admission lets bob sign (his group holds the role); the operator knows it is Bob again.
    again = _sign(crds, team, "engineering-owner", "bob", "eng-owners")
    assert again.returncode == 0, again.stderr
    blockers = _blockers(team)
    same = [b for b in blockers if b["reason"] == "SameApprover"]
    assert same, blockers
    assert same[0]["message"].startswith("bob already signed domain-owner (names are compared")

    # Another person in the group signs: the chain holds.
    other = _sign(crds, team, "engineering-owner", "carol", "eng-owners")
    assert other.returncode == 0, other.stderr
    assert not [b for b in _blockers(team) if b["reason"] == "SameApprover"]
