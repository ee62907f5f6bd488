"""The evidence bundle: built from synthetic scorecards, regressions computed against both
baselines, stable digests, a schema that validates, and leaks refused."""

from __future__ import annotations

import json
import re
from datetime import timedelta, timezone

import evidence_samples as samples
import jsonschema
import pytest

from modelsmith.api.gate import EvidenceSummary
from modelsmith.contract.jobspec import Lineage as TrainedLineage
from modelsmith.evidence.bundle import (
    EVIDENCE_SCHEMA,
    EvidenceBundle,
    EvidenceError,
    IterationRecord,
    bundle_json_schema,
    canonical_json,
    digest,
    gate_evidence,
    parse_bundle,
)
from modelsmith.evidence.report import render_report
from modelsmith.evidence.sanitiser import LeakError, LeakKind
from modelsmith.loop.state import HistoryEntry


def test_scores_against_both_baselines() -> None:
    b = samples.bundle()
    assert b.schema_id == EVIDENCE_SCHEMA
    assert b.candidate.iteration == 3
    assert b.candidate.label == "support-triage-run-1-iter-3"
    assert (b.candidate.passed, b.candidate.total) == (11, 12)
    assert b.candidate.score == pytest.approx(11 / 12, abs=1e-6)
    assert b.candidate.heldout_score == 1.0
    assert b.candidate.clears_threshold
    base, previous = b.comparisons
    assert (base.baseline, base.iteration, base.label) == ("baseline", 0, "tiny-support-base")
    assert base.delta == pytest.approx(0.5, abs=1e-6)
    assert base.heldout_delta == 0.75
    assert (previous.baseline, previous.iteration) == ("previous", 1)
    assert previous.label == "support-triage-run-1-iter-1"
    assert previous.delta == pytest.approx(0.25, abs=1e-6)
    assert previous.heldout_delta == 0.5


def test_regressions_name_the_scenarios_and_where_they_passed() -> None:
    b = samples.bundle()
    assert b.regressions.count == 1
    (r,) = b.regressions.scenarios
    assert (r.id, r.split, r.capability, r.risk) == ("refund-03", "train", "refunds", "critical")
    assert r.passed_on == ["baseline", "previous"]


def test_regression_against_the_base_model_only_and_missing_results() -> None:
    cards = {i: samples.scorecard(i) for i in (0, 1, 3)}
    # escalate-01 passed on the base model and on iteration 1; make iteration 1 fail it, and
    # drop refund-01's result from the candidate altogether (a vanished result counts).
    cards[1] = samples.scorecard(1, samples.PASSING[1] - {"escalate-01"})
    cards[3] = samples.scorecard(3, samples.PASSING[3] - {"escalate-01"})
    cards[3]["scenarios"] = [s for s in cards[3]["scenarios"] if s["id"] != "refund-01"]
    b = samples.bundle(scorecards=cards)
    found = {r.id: r.passed_on for r in b.regressions.scenarios}
    assert found == {
        "escalate-01": ["baseline"],
        "refund-01": ["baseline", "previous"],
        "refund-03": ["baseline", "previous"],
    }
    assert b.regressions.count == 3


def test_lineage_history_and_dimensions() -> None:
    b = samples.bundle()
    assert [s.iteration for s in b.lineage.steps] == [1, 3]
    assert b.lineage.path == (
        "tiny-support-base -> lora r8 a16 steps100 lr0.0002 -> lora r16 a32 steps100 lr0.0002 "
        "-> support-triage-run-1-iter-3"
    )
    assert [(p.iteration, p.accepted, p.decision) for p in b.history] == [
        (0, True, "Baseline"),
        (1, True, "Accept"),
        (2, False, "Reject"),
        (3, True, "Stage"),
    ]
    capability = {d.value: d for d in b.by_dimension["capability"]}
    assert set(capability) == {"escalation", "refunds", "routing"}
    assert capability["routing"].baseline == 0.5
    assert capability["routing"].candidate == 1.0
    assert capability["routing"].delta == 0.5
    assert capability["refunds"].total == 4
    assert set(b.by_dimension) == {"capability", "risk", "operatorLens", "outcomeType"}


def test_latency_cost_policy_approvers_rollback() -> None:
    b = samples.bundle()
    assert (b.latency.p50_ms, b.latency.p95_ms) == (115.0, 210.0)
    assert (b.latency.baseline_p50_ms, b.latency.baseline_p95_ms) == (100.0, 180.0)
    assert b.cost.device == "gpu"
    assert b.cost.per_decision == 0.000608
    assert "GPU-hour" in b.cost.note
    assert b.policy.threshold == 0.7
    assert [(a.role, a.users, a.groups) for a in b.approvers] == [
        ("domain-owner", ["alice"], ["domain-owners"]),
        ("engineering-owner", ["bob"], []),
    ]
    assert b.rollback.retain_previous
    assert b.benchmark.digest == samples.BENCHMARK_DIGEST
    assert b.benchmark.coverage["capability"] == {"escalation": 4, "refunds": 4, "routing": 4}


def test_cpu_cost_note() -> None:
    cards = {i: samples.scorecard(i) for i in (0, 1, 3)}
    cards[3]["cost"] = {"device": "cpu", "device_seconds": 40.0, "per_decision": 0.0}
    b = samples.bundle(scorecards=cards)
    assert b.cost.device == "cpu"
    assert "CPU" in b.cost.note


def test_digest_is_stable_and_canonical() -> None:
    first, second = samples.bundle(), samples.bundle()
    assert digest(first) == digest(second)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest(first))
    raw = canonical_json(first)
    assert b"\n" not in raw
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    # Reading the JSON back gives the same bundle and the same digest.
    assert parse_bundle(raw) == first
    assert digest(parse_bundle(raw)) == digest(first)
    later = samples.bundle(generated_at=samples.GENERATED_AT + timedelta(seconds=1))
    assert digest(later) != digest(first)
    # History given in another order, or the loop's own HistoryEntry, changes nothing.
    entries = [HistoryEntry.model_validate(h) for h in reversed(samples.history())]
    assert digest(samples.bundle(history=[e.wire() for e in entries])) == digest(first)
    assert digest(samples.bundle(history=[e.model_dump() for e in entries])) == digest(first)


def test_generated_at_is_utc() -> None:
    with pytest.raises(ValueError, match="time zone"):
        samples.bundle(generated_at=samples.GENERATED_AT.replace(tzinfo=None))
    elsewhere = samples.GENERATED_AT.astimezone(timezone(timedelta(hours=2)))
    assert digest(samples.bundle(generated_at=elsewhere)) == digest(samples.bundle())
    assert samples.bundle().wire()["generatedAt"] == "2025-11-27T20:14:03Z"


def test_schema_validates_the_bundle() -> None:
    schema = bundle_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == EVIDENCE_SCHEMA
    document = json.loads(canonical_json(samples.bundle()))
    jsonschema.Draft202012Validator(schema).validate(document)
    broken = {**document, "schema": "modelsmith.io/evidence/v0"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(broken)


def test_gate_evidence_summary() -> None:
    b = samples.bundle()
    summary = gate_evidence(b)
    assert isinstance(summary, EvidenceSummary)
    assert summary.digest == digest(b)
    assert summary.score == b.candidate.score
    assert summary.baseline_score == b.comparisons[0].score
    assert summary.regression_count == 1
    assert summary.latency_p95_ms == 210.0
    assert summary.wire()["schemaVersion"] == EVIDENCE_SCHEMA


def test_first_accepted_candidate_has_no_previous_baseline() -> None:
    history = [h for h in samples.history() if h["iteration"] in (0, 1)]
    b = samples.bundle(
        history=history,
        scorecards={0: samples.scorecard(0), 1: samples.scorecard(1)},
        candidate_label="support-triage-run-1-iter-1",
    )
    assert [c.baseline for c in b.comparisons] == ["baseline"]
    assert b.candidate.iteration == 1
    assert b.regressions.count == 0
    assert b.by_dimension["capability"][0].previous is None


def test_baseline_point_is_added_when_history_lacks_it() -> None:
    history = [h for h in samples.history() if h["iteration"] != 0]
    b = samples.bundle(history=history)
    assert b.history[0].iteration == 0
    assert b.history[0].score == pytest.approx(5 / 12, abs=1e-6)


def test_explicit_candidate_iteration() -> None:
    b = samples.bundle(candidate_iteration=1, candidate_label="support-triage-run-1-iter-1")
    assert b.candidate.iteration == 1
    assert [c.baseline for c in b.comparisons] == ["baseline"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scorecards": {0: samples.scorecard(0), 3: samples.scorecard(3)}}, "previous accepted"),
        ({"scorecards": {1: samples.scorecard(1), 3: samples.scorecard(3)}}, "base model"),
        ({"scorecards": {0: samples.scorecard(0), 1: samples.scorecard(1)}}, "candidate"),
        (
            {
                "history": [h for h in samples.history() if not h["iteration"]]
                and [{"iteration": 2, "accepted": False, "decision": "Reject"}]
            },
            "no iteration",
        ),
        (
            {
                "scorecards": {
                    0: samples.scorecard(0),
                    1: samples.scorecard(1),
                    3: samples.scorecard(2),
                }
            },
            "iteration 2's",
        ),
        ({"candidate_iteration": 0}, ">= 1"),
    ],
)
def test_incomplete_evidence_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        samples.bundle(**overrides)


def test_unknown_scorecard_schema_is_refused() -> None:
    cards = {i: samples.scorecard(i) for i in (0, 1, 3)}
    cards[1]["schema"] = "modelsmith.io/scorecard/v9"
    with pytest.raises(EvidenceError, match="scorecard/v9"):
        samples.bundle(scorecards=cards)


def test_a_bundle_carrying_a_seeded_prompt_is_refused() -> None:
    note = f"Failing answer to: {samples.PROMPTS[1]}"
    with pytest.raises(LeakError) as raised:
        samples.bundle(notes=[note])
    assert samples.PROMPTS[1] not in str(raised.value)
    assert "$.notes[0]" in str(raised.value)
    assert [f.kind for _, f in raised.value.leaks] == [LeakKind.TEXT]


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("model_label", "/home/ubuntu/models/iter-1", LeakKind.PATH),
        ("model_label", "s3://modelsmith/runs/ns/run/iter-1/candidate/", LeakKind.URL),
        ("model_label", "support-run-i1-eval-a1-x2k4q", LeakKind.WORKLOAD),
    ],
)
def test_a_bundle_carrying_an_artefact_identifier_is_refused(
    field: str, value: str, kind: LeakKind
) -> None:
    cards = {i: samples.scorecard(i) for i in (0, 1, 3)}
    cards[1][field] = value
    with pytest.raises(LeakError) as raised:
        samples.bundle(scorecards=cards)
    assert value not in str(raised.value)
    assert kind in {f.kind for _, f in raised.value.leaks}


def test_scenario_ids_and_vocabulary_pass() -> None:
    b = samples.bundle()
    assert samples.sanitiser().is_clean(b.wire())
    assert isinstance(parse_bundle(canonical_json(b)), EvidenceBundle)


def test_iteration_record_reads_both_spellings() -> None:
    a = IterationRecord.model_validate({"iteration": 2, "heldoutScore": 0.5})
    b = IterationRecord.model_validate({"iteration": 2, "heldout_score": 0.5})
    assert a == b


def test_generated_names_of_our_own_resources_pass() -> None:
    """A run created with generateName ends like a pod; its own name is still a label."""
    b = samples.bundle(run="support-run-x7k2p", candidate_label="support-run-x7k2p-iter-3")
    assert b.run == "support-run-x7k2p"
    with pytest.raises(LeakError) as raised:
        samples.bundle(
            run="support-run-x7k2p",
            candidate_label="support-run-x7k2p-iter-3",
            notes=["Pod support-run-x7k2p-i1-train-a1-bzt7q was evicted."],
        )
    assert [f.kind for _, f in raised.value.leaks] == [LeakKind.WORKLOAD]


def test_scorecards_of_rejected_iterations_are_not_read() -> None:
    cards = {i: samples.scorecard(i) for i in (0, 1, 3)}
    cards[2] = {"schema": "something/else", "iteration": 2}
    assert samples.bundle(scorecards=cards).candidate.iteration == 3


def test_a_malformed_scorecard_is_named_without_its_content() -> None:
    cards = {i: samples.scorecard(i) for i in (0, 1, 3)}
    cards[3]["overall"] = {"passed": "/tmp/secret-path", "total": 12, "score": 0.5}
    with pytest.raises(EvidenceError, match=r"iteration 3 is malformed at overall\.passed") as e:
        samples.bundle(scorecards=cards)
    assert "/tmp" not in str(e.value)


def test_candidate_point_is_added_when_history_lacks_it() -> None:
    history = [h for h in samples.history() if h["iteration"] != 3]
    b = samples.bundle(history=history, candidate_iteration=3)
    assert [(p.iteration, p.decision) for p in b.history][-1] == (3, "Stage")
    assert b.lineage.steps[-1].recipe == "recipe not recorded"


def _lineage(
    iteration: int, data: str, adapter: str, supplied: str | None = None, nodes: int = 1
) -> TrainedLineage:
    training_data: dict[str, object] = {"digest": "sha256:" + data * 64, "examples": 3}
    if supplied:
        training_data |= {"supplied": 1, "supplied_digest": "sha256:" + supplied * 64}
    return TrainedLineage.model_validate(
        {
            "label": f"support-triage-run-1-iter-{iteration}",
            "iteration": iteration,
            "base_model": {
                "label": "tiny-support-base",
                "digest": "sha256:" + "b" * 64,
                "revision": "fedcba9876543210fedcba9876543210fedcba98",
            },
            "method": "lora",
            "artefact_digest": "sha256:" + adapter * 64,
            "recipe": {},
            "seed": 0,
            "training_data": training_data,
            "nodes": nodes,
            "created_at": "2026-01-01T00:00:00Z",
        }
    )


def test_lineage_carries_the_digests_of_base_weights_training_material_and_adapters() -> None:
    b = samples.bundle(lineages={1: _lineage(1, "1", "a"), 3: _lineage(3, "3", "c")})
    assert b.lineage.base_digest == "sha256:" + "b" * 64
    assert "fedcba9876543210fedcba9876543210fedcba98" not in canonical_json(b).decode()
    assert [(s.iteration, s.training_data_digest, s.adapter_digest) for s in b.lineage.steps] == [
        (1, "sha256:" + "1" * 64, "sha256:" + "a" * 64),
        (3, "sha256:" + "3" * 64, "sha256:" + "c" * 64),
    ]
    page = render_report(b, samples.sanitiser())
    assert "sha256:" + "c" * 64 in page and "sha256:" + "b" * 64 in page
    # The digests are part of what approvers sign: another adapter is another bundle.
    other = samples.bundle(lineages={1: _lineage(1, "1", "a"), 3: _lineage(3, "3", "d")})
    assert digest(other) != digest(b)
    # Not recorded is said, not invented.
    bare = samples.bundle()
    assert bare.lineage.base_digest is None and bare.lineage.steps[-1].adapter_digest is None
    assert "digest not recorded" in render_report(bare, samples.sanitiser())


def test_lineage_names_the_pinned_training_data_its_supplied_examples_came_from() -> None:
    b = samples.bundle(lineages={1: _lineage(1, "1", "a"), 3: _lineage(3, "3", "c", "e")})
    assert [(s.iteration, s.supplied_data_digest) for s in b.lineage.steps] == [
        (1, None),
        (3, "sha256:" + "e" * 64),
    ]
    page = render_report(b, samples.sanitiser())
    assert "sha256:" + "e" * 64 in page
    other = samples.bundle(lineages={1: _lineage(1, "1", "a"), 3: _lineage(3, "3", "c", "f")})
    assert digest(other) != digest(b)


def test_lineage_says_how_many_nodes_each_step_trained_on() -> None:
    b = samples.bundle(lineages={1: _lineage(1, "1", "a"), 3: _lineage(3, "3", "c", nodes=2)})
    assert [(s.iteration, s.training_nodes) for s in b.lineage.steps] == [(1, 1), (3, 2)]
    page = render_report(b, samples.sanitiser())
    assert page.count("trained on 2 nodes") == 1 and "trained on 1 nodes" not in page
    assert samples.bundle().lineage.steps[-1].training_nodes is None
