"""The decisions behind 'nothing read back from the store is trusted without a cluster-held
digest' (modelsmith.contract.integrity), and the deletion policy's shape."""

from __future__ import annotations

import json

from modelsmith import loop
from modelsmith.contract import integrity
from modelsmith.contract.integrity import ChainHead
from modelsmith.controllers.run.trust import Anchors, entry_bytes
from modelsmith.run_deletion import POLICY_NAME, run_deletion_manifests

DATA = b'{"overall": {"passed": 3, "total": 4, "score": 0.75}}'


def test_check_accepts_only_the_recorded_bytes() -> None:
    digest = integrity.sha256(DATA)
    assert integrity.check("the scorecard of iteration 1", digest, DATA) is None
    changed = integrity.check("the scorecard of iteration 1", digest, DATA.replace(b"3", b"4"))
    assert changed is not None and "content changed" in changed.why
    missing = integrity.check("the scorecard of iteration 1", digest, None)
    assert missing is not None and missing.why == "it is missing"


def test_no_anchor_is_no_trust() -> None:
    tamper = integrity.check("the evidence bundle", None, DATA)
    assert tamper is not None and "no digest was recorded" in tamper.why


def test_tamper_message_names_the_record_never_a_key() -> None:
    tamper = integrity.check("the promotion record", integrity.sha256(b"x"), b"y")
    assert tamper is not None
    assert tamper.message.startswith("the promotion record in the object store")
    assert "s3://" not in tamper.message and "runs/" not in tamper.message


def test_reported_digests_read_from_the_termination_message() -> None:
    good = integrity.sha256(DATA)
    message = json.dumps(
        {
            "status": "succeeded",
            "digests": {"scorecard": good, "lineage": "sha256:short", "other": good},
            "details": {"digests": {"result": good}},
        }
    )
    assert integrity.reported_digests(message) == {"scorecard": good}
    assert integrity.reported_digests("not json") == {}
    assert integrity.reported_digests(None) == {}
    assert integrity.reported_digests('{"digests": ["a"]}') == {}


def _entries(count: int) -> list[bytes]:
    chained, previous = [], ""
    for sequence in range(count):
        data = json.dumps({"sequence": sequence, "previous": previous}).encode()
        chained.append(data)
        previous = integrity.sha256(data)
    return chained


def test_an_intact_chain_verifies_against_its_head() -> None:
    entries = _entries(3)
    head = ChainHead(2, integrity.sha256(entries[2]))
    assert integrity.verify_chain(entries, head) is None
    # Entries written after the head the status holds must still link.
    assert integrity.verify_chain(entries, ChainHead(1, integrity.sha256(entries[1]))) is None


def test_a_rewritten_entry_breaks_the_chain_where_it_was_rewritten() -> None:
    entries = _entries(3)
    head = ChainHead(2, integrity.sha256(entries[2]))
    forged = json.loads(entries[1])
    forged["message"] = "forged"
    entries[1] = json.dumps(forged).encode()
    tamper = integrity.verify_chain(entries, head)
    # Entry 1 still links to entry 0, but entry 2 no longer links to it.
    assert tamper is not None and tamper.record == "ledger entry 1 or 2"
    assert (tamper.position, tamper.span) == (1, 2)


def test_an_entry_out_of_place_is_named() -> None:
    entries = _entries(2)
    entries[1] = entries[0]
    tamper = integrity.verify_chain(entries, None)
    assert tamper is not None and tamper.record == "ledger entry 1" and tamper.span == 1


def test_a_rewritten_entry_that_keeps_its_link_breaks_the_next_one() -> None:
    entries = _entries(3)
    head = ChainHead(2, integrity.sha256(entries[2]))
    entries[0] = json.dumps({"sequence": 0, "previous": "", "message": "forged"}).encode()
    tamper = integrity.verify_chain(entries, head)
    assert tamper is not None and tamper.record == "ledger entry 0 or 1"
    assert (tamper.position, tamper.span) == (0, 2)


def test_a_rewritten_last_entry_is_caught_by_the_head() -> None:
    entries = _entries(2)
    head = ChainHead(1, integrity.sha256(entries[1]))
    forged = json.loads(entries[1])
    forged["message"] = "forged, links correctly"
    entries[1] = json.dumps(forged).encode()
    tamper = integrity.verify_chain(entries, head)
    assert tamper is not None and tamper.position == 1
    assert "status recorded" in tamper.why


def test_a_deleted_entry_is_missing() -> None:
    entries = _entries(3)
    head = ChainHead(2, integrity.sha256(entries[2]))
    tamper = integrity.verify_chain(entries[:2], head)
    assert tamper is not None and tamper.why == "it is missing"


def test_a_replayed_entry_is_adopted_only_if_it_links() -> None:
    entries = _entries(2)
    head = ChainHead(0, integrity.sha256(entries[0]))
    assert integrity.adopt(head, 1, entries[1]) == ChainHead(1, integrity.sha256(entries[1]))
    assert integrity.adopt(None, 1, entries[1]) is None
    assert integrity.adopt(head, 2, entries[1]) is None


def test_quarantine_names_keep_each_forgery() -> None:
    one = integrity.quarantine_name("evidence/bundle.json", b"a")
    two = integrity.quarantine_name("evidence/bundle.json", b"b")
    assert one.startswith("quarantine/evidence-bundle.json-") and one != two


def test_ledger_entries_carry_their_link_on_the_wire() -> None:
    entry = loop.LedgerEntry.model_validate(
        {
            "sequence": 0,
            "time": "2026-01-01T00:00:00Z",
            "kind": "transition",
            "reason": "IntakeReady",
            "message": "m",
            "iteration": 0,
        }
    )
    linked = entry.model_copy(update={"previous": "sha256:" + "0" * 64})
    assert json.loads(entry_bytes(linked))["previous"] == "sha256:" + "0" * 64


def test_anchors_record_what_each_job_reported() -> None:
    anchors = Anchors.of({"integrity": {"scorecards": {"0": "sha256:" + "a" * 64}}})
    anchors.reported(loop.Phase.TRAINING, 1, {"result": "sha256:" + "b" * 64})
    anchors.reported(loop.Phase.ASSESSING, 1, {"scorecard": "sha256:" + "c" * 64})
    wire = anchors.wire()
    assert wire["scorecards"] == {"0": "sha256:" + "a" * 64, "1": "sha256:" + "c" * 64}
    assert wire["results"] == {"1": "sha256:" + "b" * 64}


def test_run_deletion_policy_refuses_delete_of_a_run_that_staged_a_gate() -> None:
    policy, binding = run_deletion_manifests()
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules[0]["operations"] == ["DELETE"] and rules[0]["resources"] == ["iterationruns"]
    expression = policy["spec"]["validations"][0]["expression"]
    assert "oldObject.status.gate" in expression
    assert "namespaceObject.metadata.deletionTimestamp" in expression
    assert binding["spec"] == {"policyName": POLICY_NAME, "validationActions": ["Deny"]}
