"""Synthetic benchmarks, scorecards and observations for the loop's tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop import (
    Decision,
    GateObservation,
    GateOutcome,
    IntakeReadiness,
    JobObservation,
    JobState,
    JobSummary,
    LaunchJob,
    Observation,
    RunConfig,
    RunState,
    decide,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# id, capability, risk, split
BENCHMARK: tuple[tuple[str, str, str, str], ...] = (
    ("r-01", "routing", "high", "train"),
    ("r-02", "routing", "high", "train"),
    ("r-03", "routing", "high", "heldout"),
    ("r-04", "routing", "high", "train"),
    ("b-01", "billing", "low", "train"),
    ("b-02", "billing", "low", "heldout"),
    ("b-03", "billing", "low", "train"),
    ("f-01", "refunds", "critical", "train"),
    ("f-02", "refunds", "critical", "heldout"),
)
ALL_IDS = frozenset(s[0] for s in BENCHMARK)
HELDOUT_IDS = frozenset(s[0] for s in BENCHMARK if s[3] == "heldout")
TRAIN_IDS = ALL_IDS - HELDOUT_IDS


def tally(results: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(1 for r in results if r["passed"])
    total = len(results)
    return {"passed": passed, "total": total, "score": passed / total if total else 0.0}


def card(
    iteration: int,
    passing: Iterable[str],
    benchmark: Iterable[tuple[str, str, str, str]] = BENCHMARK,
) -> Scorecard:
    """A scorecard in the evaluator's JSON shape (read back through the loop's model)."""
    ok = set(passing)
    scenarios = [
        {
            "id": sid,
            "split": split,
            "passed": sid in ok,
            "capability": cap,
            "risk": risk,
            "operatorLens": "frontline",
            "outcomeType": "route",
        }
        for sid, cap, risk, split in benchmark
    ]
    document = {
        "schema": "modelsmith.io/scorecard/v1",
        "iteration": iteration,
        "model_label": f"demo-iter-{iteration}",
        "overall": tally(scenarios),
        "splits": {
            split: tally([s for s in scenarios if s["split"] == split])
            for split in ("train", "heldout")
        },
        "scenarios": scenarios,
        "failure_clusters": [],
        "latency_ms": {"p50": 1.0, "p95": 2.0},
    }
    return Scorecard.model_validate(document)


def config(**overrides: Any) -> RunConfig:
    values: dict[str, Any] = {
        "run_name": "demo",
        "run_key": "0a1b2c3d",
        "threshold": 0.75,
        "max_iterations": 5,
        "plateau_patience": 2,
        "min_improvement": 0.05,
        "max_regressions": 0,
        "max_attempts": 2,
        "gpu_count": 4,
    }
    values.update(overrides)
    return RunConfig(**values)


def job(name: str, state: JobState, **kw: Any) -> JobObservation:
    return JobObservation(name=name, state=state, **kw)


def succeeded(name: str, gpu_seconds: float = 60.0, **kw: Any) -> JobObservation:
    return job(name, JobState.SUCCEEDED, summary=JobSummary(gpu_seconds=gpu_seconds, **kw))


def failed(name: str, exit_code: int | None = 1, **kw: Any) -> JobObservation:
    return job(name, JobState.FAILED, exit_code=exit_code, **kw)


def gate(outcome: GateOutcome = GateOutcome.PENDING, **kw: Any) -> GateObservation:
    return GateObservation(name="demo", outcome=outcome, **kw)


def observe(**kw: Any) -> Observation:
    kw.setdefault("intake", IntakeReadiness(ready=True))
    return Observation(**kw)


@dataclass
class Sim:
    """Drives `decide` the way the handler does: persist each decision's state, step time."""

    cfg: RunConfig = field(default_factory=config)
    state: RunState = field(default_factory=RunState)
    now: datetime = T0
    decisions: list[Decision] = field(default_factory=list)
    scorecards: dict[int, Scorecard] = field(default_factory=dict)

    @property
    def job_name(self) -> str:
        assert self.state.job is not None
        return self.state.job.name

    def step(self, obs: Observation, minutes: float = 1.0) -> Decision:
        self.now += timedelta(minutes=minutes)
        decision = decide(self.state, obs, self.cfg, self.now)
        self.state = decision.state
        self.decisions.append(decision)
        return decision

    def observe(self, **kw: Any) -> Observation:
        """An observation that, like the handler, carries the accepted iteration's scorecard."""
        accepted = self.state.accepted_iteration
        if accepted is not None and "accepted_scorecard" not in kw:
            kw["accepted_scorecard"] = self.scorecards.get(accepted)
        return observe(**kw)

    def finish_job(self, passing: Iterable[str] | None = None, **kw: Any) -> Decision:
        """The current Job succeeds; an evaluation comes with a scorecard passing `passing`."""
        sc = None
        if passing is not None:
            sc = card(self.state.iteration, passing)
            self.scorecards[self.state.iteration] = sc
        return self.step(self.observe(job=succeeded(self.job_name, **kw), scorecard=sc))

    def start(self) -> Decision:
        return self.step(observe())

    def baseline(self, passing: Iterable[str]) -> Decision:
        self.start()
        return self.finish_job(passing)

    def iteration(self, passing: Iterable[str]) -> Decision:
        """Training succeeds, then the assessment scores `passing`."""
        self.finish_job()
        return self.finish_job(passing)

    def launches(self) -> list[LaunchJob]:
        return [a for d in self.decisions for a in d.launches]
