"""The bundle's history read from the run's ledger: every finished iteration, in order, however
long the run, with nothing from a recipe's per-scenario weights."""

from __future__ import annotations

import random
from datetime import timedelta

import evidence_samples as samples
import pytest
from loop_sim import HELDOUT_IDS, T0, TRAIN_IDS, Sim, config

from modelsmith.evidence.bundle import EvidenceError, IterationRecord, canonical_json
from modelsmith.evidence.history import history_from_ledger
from modelsmith.loop import (
    HISTORY_LIMIT,
    AcceptanceVerdict,
    LedgerEntry,
    LedgerKind,
    Phase,
    Reason,
    Recipe,
    Scores,
    Verdict,
)

LEAKY_ID = "/srv/customers/acme/tickets-2025.jsonl"
"""A weights key no shared surface may show (a path): the bundle refuses it if it leaks."""


class Ledger:
    """Entries as the loop writes them, numbered in order."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []

    def add(self, kind: LedgerKind, reason: Reason, iteration: int, **kw: object) -> LedgerEntry:
        entry = LedgerEntry.model_validate(
            {
                "sequence": len(self.entries),
                "time": T0 + timedelta(minutes=len(self.entries)),
                "kind": kind,
                "reason": reason,
                "message": kw.pop("message", f"{reason} at iteration {iteration}."),
                "iteration": iteration,
                **kw,
            }
        )
        self.entries.append(entry)
        return entry

    def baseline(self, score: float) -> None:
        scores = Scores(current=score, heldout=score / 2, baseline=score)
        self.add(LedgerKind.DECISION, Reason.BASELINE_EVALUATED, 0, scores=scores)
        self.add(LedgerKind.TRANSITION, Reason.BASELINE_EVALUATED, 0, to=Phase.TRAINING)

    def iteration(self, n: int, decision: str, score: float) -> None:
        recipe = Recipe(rank=8 if n < 6 else 16, steps=100 + n)
        self.add(
            LedgerKind.RECIPE,
            Reason.CANDIDATE_REJECTED,
            n,
            recipe=recipe,
            weights={"routing-01": 2.0, LEAKY_ID: 3.0},
        )
        self.add(LedgerKind.JOB, Reason.AWAITING_JOB, n, attempt=1)
        accepted = decision != "Reject"
        verdict = AcceptanceVerdict(
            verdict=Verdict.ACCEPTED if accepted else Verdict.REJECTED,
            reason=Reason.CANDIDATE_ACCEPTED if accepted else Reason.CANDIDATE_REJECTED,
            message=f"Iteration {n} {'improves' if accepted else 'does not improve'}.",
            measurements=(),
        )
        scores = Scores(current=score, heldout=score)
        self.add(
            LedgerKind.DECISION,
            verdict.reason,
            n,
            message=verdict.message,
            scores=scores,
            verdict=verdict,
        )
        to = Phase.PROMOTION_STAGING if decision == "Stage" else Phase.TRAINING
        self.add(LedgerKind.TRANSITION, verdict.reason, n, to=to)


def twelve_iterations() -> Ledger:
    """Iterations 1, 5 and 12 accepted (12 staged), the rest rejected."""
    ledger = Ledger()
    ledger.baseline(0.4)
    for n in range(1, 13):
        decision = {1: "Accept", 5: "Accept", 12: "Stage"}.get(n, "Reject")
        ledger.iteration(n, decision, 0.4 + n / 100)
    return ledger


def test_a_twelve_iteration_run_gives_every_iteration_in_order() -> None:
    records = history_from_ledger(twelve_iterations().entries)
    assert [r.iteration for r in records] == list(range(13))
    assert [r.decision for r in records] == [
        "Baseline",
        "Accept",
        *["Reject"] * 3,
        "Accept",
        *["Reject"] * 6,
        "Stage",
    ]
    assert [r.iteration for r in records if r.accepted] == [1, 5, 12]
    assert records[0] == IterationRecord(
        iteration=0,
        score=0.4,
        heldout_score=0.2,
        decision="Baseline",
        reason="BaselineEvaluated at iteration 0.",
    )
    assert records[12].score == pytest.approx(0.52)
    assert records[12].reason == "Iteration 12 improves."
    assert records[12].recipe == "lora r16 a16 steps112 lr0.0002"
    assert records[1].recipe == "lora r8 a16 steps101 lr0.0002"


def test_the_order_entries_are_given_in_does_not_matter() -> None:
    entries = twelve_iterations().entries
    shuffled = list(entries)
    random.Random(7).shuffle(shuffled)
    assert history_from_ledger(shuffled) == history_from_ledger(entries)


def test_a_replayed_decision_collapses_and_the_later_one_stands() -> None:
    ledger = twelve_iterations()
    first = next(e for e in ledger.entries if e.kind is LedgerKind.DECISION and e.iteration == 3)
    ledger.add(
        LedgerKind.DECISION,
        first.reason,
        3,
        message="Iteration 3, decided again.",
        scores=first.scores,
        verdict=first.verdict,
    )
    records = history_from_ledger(ledger.entries)
    assert [r.iteration for r in records] == list(range(13))
    assert records[3].reason == "Iteration 3, decided again."


def test_entries_that_close_no_iteration_are_ignored() -> None:
    ledger = Ledger()
    ledger.baseline(0.4)
    # Iteration 1 trains, fails once and is retried: recipe, Job, retry and transition entries,
    # but no verdict yet.
    ledger.add(LedgerKind.RECIPE, Reason.BASELINE_EVALUATED, 1, recipe=Recipe())
    ledger.add(LedgerKind.JOB, Reason.AWAITING_JOB, 1, attempt=1)
    ledger.add(LedgerKind.DECISION, Reason.JOB_FAILED_RETRYING, 1, attempt=1)
    ledger.add(LedgerKind.JOB, Reason.JOB_FAILED_RETRYING, 1, attempt=2)
    ledger.add(LedgerKind.TRANSITION, Reason.TRAINING_COMPLETED, 1, to=Phase.ASSESSING)
    assert [r.iteration for r in history_from_ledger(ledger.entries)] == [0]
    assert history_from_ledger([]) == []


def test_a_ledger_missing_an_iteration_is_refused() -> None:
    entries = [
        e
        for e in twelve_iterations().entries
        if not (e.kind is LedgerKind.DECISION and e.iteration in (2, 7))
    ]
    with pytest.raises(EvidenceError, match=r"\[2, 7\]"):
        history_from_ledger(entries)


def test_the_ledger_reads_as_the_status_history_and_goes_further_back() -> None:
    """Driven through `decide`: the last HISTORY_LIMIT records are the status history's, and
    the ledger alone still has the iterations status dropped."""
    sim = Sim(cfg=config(max_iterations=15, plateau_patience=20, min_improvement=0.05))
    passing = {"b-01"}
    sim.baseline(passing)
    for n in range(1, 13):
        if n in (1, 4, 8):
            passing |= {sorted(TRAIN_IDS - passing)[0]}
        if n == 12:
            passing = TRAIN_IDS | HELDOUT_IDS
        sim.iteration(passing)
    assert sim.state.phase is Phase.PROMOTION_STAGING
    entries = [e for d in sim.decisions for e in d.ledger_entries]
    records = history_from_ledger(entries)
    status = [IterationRecord.model_validate(h.wire()) for h in sim.state.history]
    assert len(status) == HISTORY_LIMIT
    assert [r.iteration for r in records] == list(range(13))
    assert records[-HISTORY_LIMIT:] == status
    assert [r.decision for r in records if r.accepted] == ["Accept"] * 3 + ["Stage"]


def test_a_bundle_from_a_long_ledger_shows_all_of_it_and_no_weights() -> None:
    records = history_from_ledger(twelve_iterations().entries)
    cards = {
        0: samples.scorecard(0),
        1: samples.scorecard(1),
        5: samples.scorecard(5, samples.PASSING[1] | {"routing-02"}),
        12: samples.scorecard(12, samples.PASSING[3]),
    }
    b = samples.bundle(
        scorecards=cards, history=records, candidate_label="support-triage-run-1-iter-12"
    )
    assert [p.iteration for p in b.history] == list(range(13))
    assert [s.iteration for s in b.lineage.steps] == [1, 5, 12]
    assert b.lineage.path == (
        "tiny-support-base -> lora r8 a16 steps101 lr0.0002 -> lora r8 a16 steps105 lr0.0002 "
        "-> lora r16 a16 steps112 lr0.0002 -> support-triage-run-1-iter-12"
    )
    # build_bundle refuses a leak, so getting here says as much; the bytes say it again.
    assert LEAKY_ID.encode() not in canonical_json(b)
