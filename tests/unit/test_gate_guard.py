"""Only the operator's own gates count: what makes a PromotionGate the one its run staged."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from modelsmith.api.run_status import StagedGate
from modelsmith.controllers.gate.guard import verify
from modelsmith.controllers.run.staging import staged_record
from modelsmith.evidence.gate_creation import POLICY_NAME, gate_creation_policy_manifests
from modelsmith.uids import uid_digest

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
RUN_UID, GATE_UID = "run-uid-1", "gate-uid-1"


def _gate(age_seconds: float = 600, digest: str = DIGEST, owner: str | None = RUN_UID) -> Any:
    created = (NOW - timedelta(seconds=age_seconds)).isoformat().replace("+00:00", "Z")
    meta: dict[str, Any] = {"name": "run", "uid": GATE_UID, "creationTimestamp": created}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": "IterationRun", "uid": owner, "controller": True}]
    return {"metadata": meta, "spec": {"runRef": {"name": "run"}, "evidence": {"digest": digest}}}


def _run(record: dict[str, str] | None = None, phase: str = "Staged") -> Any:
    status: dict[str, Any] = {"phase": phase}
    if record is not None:
        status["gate"] = record
    return {"metadata": {"name": "run", "uid": RUN_UID}, "status": status}


RECORD = {"name": "run", "uidDigest": uid_digest(GATE_UID), "evidenceDigest": DIGEST}
EARLIER = uid_digest("an-earlier-gate")


def test_the_gate_its_run_staged_is_authentic() -> None:
    assert verify(_gate(), _run(RECORD), NOW).authentic
    assert staged_record(_gate(), RUN_UID, DIGEST) == RECORD


def test_the_record_names_the_gate_by_a_digest_of_its_uid() -> None:
    # Status carries no opaque identifiers: the UID only as a full sha256 digest, which the
    # status model accepts and which still tells a recreated gate (another UID) from it.
    record = staged_record(_gate(), RUN_UID, DIGEST)
    assert record is not None and GATE_UID not in json.dumps(record)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["uidDigest"])
    assert StagedGate.model_validate(record).uid_digest == record["uidDigest"]
    assert uid_digest("gate-uid-2") != record["uidDigest"]


def test_hand_made_gates_are_not() -> None:
    cases = [
        (_gate(), None, "does not exist"),
        (_gate(owner=None), _run(RECORD), "controller is not"),
        (_gate(owner="someone-else"), _run(RECORD), "controller is not"),
        (_gate(), _run(None), "recorded no gate"),
        (_gate(), _run({**RECORD, "uidDigest": EARLIER}), "staged another gate"),
        (_gate(digest="sha256:" + "0" * 64), _run(RECORD), "evidence digest"),
    ]
    for gate, run, words in cases:
        verdict = verify(gate, run, NOW)
        assert not verdict.authentic and not verdict.wait
        assert words in verdict.why
    assert staged_record(_gate(owner="someone-else"), RUN_UID, DIGEST) is None
    assert staged_record(_gate(digest="sha256:" + "0" * 64), RUN_UID, DIGEST) is None


def test_a_new_gate_waits_for_its_runs_record_for_a_while() -> None:
    # The gate's event may come before the run's status write (still in its old phase).
    assessing = _run(None, phase="Assessing")
    assert verify(_gate(age_seconds=5), assessing, NOW).wait
    assert not verify(_gate(age_seconds=600), assessing, NOW).wait
    # Only for a gate its run controls.
    assert not verify(_gate(age_seconds=5, owner="someone-else"), assessing, NOW).wait


def test_only_who_may_write_gate_status_may_create_a_gate() -> None:
    policy, binding = gate_creation_policy_manifests()
    assert policy["metadata"]["name"] == POLICY_NAME == "modelsmith-gate-creation"
    rule = policy["spec"]["matchConstraints"]["resourceRules"][0]
    assert (rule["resources"], rule["operations"]) == (["promotiongates"], ["CREATE"])
    (check,) = policy["spec"]["validations"]
    assert "subresource('status')" in check["expression"]
    assert "check('patch')" in check["expression"]
    assert binding["spec"] == {"policyName": POLICY_NAME, "validationActions": ["Deny"]}
