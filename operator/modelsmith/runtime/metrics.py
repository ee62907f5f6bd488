"""Prometheus metrics, on the runtime's own registry (a second runtime in one process, as a test
builds, gets collectors of its own instead of clashing over the default registry's names).
Every label value passes the sanitiser, like every other shared surface."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from modelsmith.runtime.surface import ObjectName, clean_label, clean_name_label


def labels(*values: str) -> list[str]:
    """Cleaned label values: the names of cluster objects (`ObjectName`) as names, the rest as
    free text."""
    return [clean_name_label(v) if isinstance(v, ObjectName) else clean_label(v) for v in values]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # What the default registry would have served besides ours: process and Python figures.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(GC_COLLECTOR)
        self.PHASE_TRANSITIONS = Counter(
            "modelsmith_phase_transitions_total",
            "IterationRun phase transitions.",
            ["namespace", "from_phase", "to_phase", "reason"],
            registry=r,
        )
        self.PHASE_DURATION = Histogram(
            "modelsmith_phase_duration_seconds",
            "Time an IterationRun spent in a phase before leaving it.",
            ["phase"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
            registry=r,
        )
        self.SCORE = Gauge(
            "modelsmith_run_score",
            "Scores of an IterationRun (current, heldout, baseline, previous_accepted, target).",
            ["namespace", "run", "kind"],
            registry=r,
        )
        self.JOBS_LAUNCHED = Counter(
            "modelsmith_jobs_launched_total",
            "Training and evaluation Jobs created.",
            ["namespace", "phase"],
            registry=r,
        )
        self.JOBS_FAILED = Counter(
            "modelsmith_jobs_failed_total",
            "Training and evaluation Jobs that failed.",
            ["namespace", "phase"],
            registry=r,
        )
        self.GATE_DECISIONS = Counter(
            "modelsmith_gate_decisions_total",
            "PromotionGate final decisions.",
            ["namespace", "decision"],
            registry=r,
        )
        self.RECONCILES = Counter(
            "modelsmith_reconciles_total", "Reconciles run.", ["kind"], registry=r
        )
        self.RECONCILE_ERRORS = Counter(
            "modelsmith_reconcile_errors_total",
            "Reconciles that raised an error.",
            ["kind", "error"],
            registry=r,
        )

    labels = staticmethod(labels)

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
