"""Prometheus metrics. Every label value passes the sanitiser, like every other shared surface."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from modelsmith.surface import clean_label

PHASE_TRANSITIONS = Counter(
    "modelsmith_phase_transitions_total",
    "IterationRun phase transitions.",
    ["namespace", "from_phase", "to_phase", "reason"],
)
PHASE_DURATION = Histogram(
    "modelsmith_phase_duration_seconds",
    "Time an IterationRun spent in a phase before leaving it.",
    ["phase"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
SCORE = Gauge(
    "modelsmith_run_score",
    "Scores of an IterationRun (current, heldout, baseline, previous_accepted, target).",
    ["namespace", "run", "kind"],
)
JOBS_LAUNCHED = Counter(
    "modelsmith_jobs_launched_total",
    "Training and evaluation Jobs created.",
    ["namespace", "phase"],
)
JOBS_FAILED = Counter(
    "modelsmith_jobs_failed_total",
    "Training and evaluation Jobs that failed.",
    ["namespace", "phase"],
)
GATE_DECISIONS = Counter(
    "modelsmith_gate_decisions_total", "PromotionGate final decisions.", ["namespace", "decision"]
)
RECONCILES = Counter("modelsmith_reconciles_total", "Reconciles run.", ["kind"])
RECONCILE_ERRORS = Counter(
    "modelsmith_reconcile_errors_total", "Reconciles that raised an error.", ["kind", "error"]
)


def labels(*values: str) -> list[str]:
    return [clean_label(v) for v in values]


def serve(port: int) -> None:
    start_http_server(port)
