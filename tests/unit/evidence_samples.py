"""Synthetic inputs for the evidence bundle and report tests: a twelve-scenario benchmark, its
scorecards across a four-iteration run, and the intake's policy."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from modelsmith.api.approvers import Approver
from modelsmith.api.common import RollbackContract
from modelsmith.evidence.bundle import BenchmarkFacts, EvidenceBundle, IntakeFacts, build_bundle
from modelsmith.evidence.sanitiser import Sanitiser

# id, capability, risk, split
SCENARIOS: list[tuple[str, str, str, str]] = [
    ("routing-01", "routing", "low", "train"),
    ("routing-02", "routing", "medium", "train"),
    ("routing-03", "routing", "high", "train"),
    ("routing-04", "routing", "high", "heldout"),
    ("refund-01", "refunds", "low", "train"),
    ("refund-02", "refunds", "medium", "train"),
    ("refund-03", "refunds", "critical", "train"),
    ("refund-04", "refunds", "high", "heldout"),
    ("escalate-01", "escalation", "high", "train"),
    ("escalate-02", "escalation", "critical", "train"),
    ("escalate-03", "escalation", "medium", "heldout"),
    ("escalate-04", "escalation", "critical", "heldout"),
]
PROMPTS = [
    "A customer writes that their card was charged twice for the same order and asks for a "
    "reversal before the weekend.",
    "Decide which queue the ticket belongs to and whether it needs a human agent right away.",
    "Refund the duplicate charge, apologise and confirm the reversal date in writing.",
]
BENCHMARK_DIGEST = "sha256:" + "0123456789abcdef" * 4
GENERATED_AT = datetime(2025, 11, 27, 20, 14, 3, tzinfo=UTC)

# Which scenarios pass at each iteration. Iteration 2 was rejected.
PASSING: dict[int, set[str]] = {
    0: {"routing-01", "refund-01", "escalate-01", "routing-04", "refund-03"},
    1: {
        "routing-01",
        "routing-02",
        "refund-01",
        "refund-02",
        "escalate-01",
        "routing-04",
        "escalate-03",
        "refund-03",
    },
    2: {"routing-01", "refund-01"},
    3: {
        "routing-01",
        "routing-02",
        "routing-03",
        "refund-01",
        "refund-02",
        "escalate-01",
        "escalate-02",
        "routing-04",
        "refund-04",
        "escalate-03",
        "escalate-04",
    },
}
# At iteration 3, refund-03 fails: it passed on the base model and on iteration 1.
RECIPES = {
    1: "lora r8 a16 steps100 lr0.0002",
    2: "lora r8 a16 steps100 lr0.0002",
    3: "lora r16 a32 steps100 lr0.0002",
}


def _tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(r["passed"] for r in rows)
    return {"passed": passed, "total": len(rows), "score": passed / len(rows) if rows else 0.0}


def scorecard(
    iteration: int, passing: set[str] | None = None, label: str | None = None
) -> dict[str, Any]:
    passing = PASSING[iteration] if passing is None else passing
    rows: list[dict[str, Any]] = [
        {
            "id": i,
            "split": split,
            "passed": i in passing,
            "capability": cap,
            "risk": risk,
            "operatorLens": "frontline-agent",
            "outcomeType": "route",
        }
        for i, cap, risk, split in SCENARIOS
    ]
    by_dimension: dict[str, dict[str, Any]] = {}
    for dim in ("capability", "risk", "operatorLens", "outcomeType"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            groups[r[dim]].append(r)
        by_dimension[dim] = {v: _tally(g) for v, g in sorted(groups.items())}
    return {
        "schema": "modelsmith.io/scorecard/v1",
        "iteration": iteration,
        "model_label": label
        or ("tiny-support-base" if iteration == 0 else f"support-triage-run-1-iter-{iteration}"),
        "overall": _tally(rows),
        "splits": {s: _tally([r for r in rows if r["split"] == s]) for s in ("train", "heldout")},
        "by_dimension": by_dimension,
        "scenarios": rows,
        "failure_clusters": [],
        "latency_ms": {"p50": 100.0 + iteration * 5, "p95": 180.0 + iteration * 10},
        "tokens": {"prompt": 1200, "generated": 300},
        "cost": {
            "device": "gpu",
            "device_seconds": 12.5,
            "gpu_hourly_price": 2.1,
            "per_decision": 0.000608,
            "note": None,
        },
    }


def history() -> list[dict[str, Any]]:
    def score(i: int) -> float:
        return float(_tally(scorecard(i)["scenarios"])["score"])

    def heldout(i: int) -> float:
        return float(scorecard(i)["splits"]["heldout"]["score"])

    return [
        {
            "iteration": 0,
            "score": score(0),
            "heldoutScore": heldout(0),
            "accepted": True,
            "decision": "Baseline",
            "reason": "BaselineEvaluated",
            "recipe": "",
        },
        {
            "iteration": 1,
            "score": score(1),
            "heldoutScore": heldout(1),
            "accepted": True,
            "decision": "Accept",
            "reason": "CandidateAccepted",
            "recipe": RECIPES[1],
        },
        {
            "iteration": 2,
            "score": score(2),
            "heldoutScore": heldout(2),
            "accepted": False,
            "decision": "Reject",
            "reason": "CandidateRejected",
            "recipe": RECIPES[2],
        },
        {
            "iteration": 3,
            "score": score(3),
            "heldoutScore": heldout(3),
            "accepted": True,
            "decision": "Stage",
            "reason": "ThresholdCleared",
            "recipe": RECIPES[3],
        },
    ]


def benchmark() -> BenchmarkFacts:
    coverage: dict[str, dict[str, int]] = {"capability": {}, "risk": {}}
    for _, cap, risk, _split in SCENARIOS:
        coverage["capability"][cap] = coverage["capability"].get(cap, 0) + 1
        coverage["risk"][risk] = coverage["risk"].get(risk, 0) + 1
    return BenchmarkFacts(
        name="support-triage",
        version="v3",
        digest=BENCHMARK_DIGEST,
        coverage=coverage,
        scenario_count=len(SCENARIOS),
        heldout_count=4,
    )


def intake() -> IntakeFacts:
    return IntakeFacts(
        owner="support-platform",
        base_model_label="tiny-support-base",
        threshold=0.7,
        approvers=[
            Approver(role="domain-owner", users=["alice"], groups=["domain-owners"]),
            Approver(role="engineering-owner", users=["bob"]),
        ],
        rollback=RollbackContract(
            expectation="Restore the previous model within 5 minutes; no data migration."
        ),
        min_improvement=0.025,
        max_regressions=1,
    )


def sanitiser() -> Sanitiser:
    return Sanitiser.for_texts(PROMPTS)


def bundle(**overrides: Any) -> EvidenceBundle:
    args: dict[str, Any] = {
        "run": "support-triage-run-1",
        "candidate_label": "support-triage-run-1-iter-3",
        "benchmark": benchmark(),
        "intake": intake(),
        "scorecards": {i: scorecard(i) for i in (0, 1, 3)},
        "history": history(),
        "generated_at": GENERATED_AT,
        "sanitiser": sanitiser(),
        "notes": [
            "Iteration 2 was rejected: 6 regressions against iteration 1.",
            "Assessed on 1 nvidia.com/gpu; the rank was raised from 8 to 16 at iteration 3.",
        ],
    }
    args.update(overrides)
    return build_bundle(**args)
