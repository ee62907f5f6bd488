"""The benchmark's Markdown table: Modelsmith's figures, the baseline's, their ratio, the target."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MB = 1024 * 1024
P95_APPLY_TO_JOB_S = 1.0
MAX_RSS_MB = 250.0
MAX_RATIO = 1.5


class Figures(Protocol):
    subject: str
    apply_to_job: list[float]
    complete_to_status: list[float]
    peak_rss: int
    rss_after_scale: int
    idle_seconds: float
    scale_seconds: float
    drain_seconds: float
    objects: int
    loads: list[float]
    reconciles_by_kind: dict[str, float]
    testbed_cpu: dict[str, float]

    @property
    def idle_writes(self) -> Any: ...

    @property
    def scale_writes(self) -> Any: ...

    @property
    def latency_writes(self) -> Any: ...

    def delta(self, start: str, end: str, what: str) -> float: ...


def percentile(values: list[float], q: int) -> float:
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class Row:
    label: str
    value: Callable[[Figures], float]
    fmt: str
    ratio: bool = False
    target: str = ""
    check: Callable[[float, float | None], bool] | None = None
    """(Modelsmith's value, ratio or None) -> met"""


def _per(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _rpr(f: Figures, start: str, end: str) -> float:
    return _per(f.delta(start, end, "requests"), f.delta(start, end, "reconciles"))


def _ratio_ok(_: float, ratio: float | None) -> bool:
    return ratio is not None and ratio <= MAX_RATIO


ROWS = (
    Row(
        "Apply → first Job created, p50 (ms)",
        lambda f: 1000 * percentile(f.apply_to_job, 50),
        "{:.0f}",
        ratio=True,
    ),
    Row(
        "Apply → first Job created, p95 (ms)",
        lambda f: 1000 * percentile(f.apply_to_job, 95),
        "{:.0f}",
        ratio=True,
        target=f"≤ {P95_APPLY_TO_JOB_S * 1000:.0f} ms; ≤ {MAX_RATIO}x baseline",
        check=lambda v, r: v <= P95_APPLY_TO_JOB_S * 1000 and _ratio_ok(v, r),
    ),
    Row(
        "Job Complete → run status updated, p50 (ms)",
        lambda f: 1000 * percentile(f.complete_to_status, 50),
        "{:.0f}",
        ratio=True,
    ),
    Row(
        "Job Complete → run status updated, p95 (ms)",
        lambda f: 1000 * percentile(f.complete_to_status, 95),
        "{:.0f}",
        ratio=True,
        target=f"≤ {MAX_RATIO}x baseline",
        check=_ratio_ok,
    ),
    Row(
        "CPU seconds, latency phase (50 runs)",
        lambda f: f.delta("latency-start", "latency-end", "cpu"),
        "{:.1f}",
        ratio=True,
    ),
    Row(
        "CPU seconds, scale phase (apply → settled)",
        lambda f: f.delta("latency-end", "scale-end", "cpu"),
        "{:.1f}",
        ratio=True,
    ),
    Row(
        "CPU seconds, both phases",
        lambda f: f.delta("latency-start", "scale-end", "cpu"),
        "{:.1f}",
        ratio=True,
        target=f"≤ {MAX_RATIO}x baseline",
        check=_ratio_ok,
    ),
    Row(
        "CPU seconds per idle minute",
        lambda f: 60 * _per(f.delta("scale-end", "idle-end", "cpu"), f.idle_seconds),
        "{:.2f}",
        ratio=True,
    ),
    Row(
        "Peak RSS, whole run (MB)",
        lambda f: f.peak_rss / MB,
        "{:.0f}",
        ratio=True,
        target=f"≤ {MAX_RSS_MB:.0f} MB",
        check=lambda v, _: v <= MAX_RSS_MB,
    ),
    Row("Objects at the end of the scale phase", lambda f: float(f.objects), "{:.0f}"),
    Row("Scale phase, apply → settled (s)", lambda f: f.scale_seconds, "{:.0f}", ratio=True),
    Row(
        "Reconcile backlog left after the last write (s)",
        lambda f: f.drain_seconds,
        "{:.0f}",
    ),
    Row(
        "Reconciles, scale phase",
        lambda f: f.delta("latency-end", "scale-end", "reconciles"),
        "{:.0f}",
        ratio=True,
    ),
    Row(
        "API requests, scale phase",
        lambda f: f.delta("latency-end", "scale-end", "requests"),
        "{:.0f}",
        ratio=True,
    ),
    Row(
        "API requests per reconcile, scale phase",
        lambda f: _rpr(f, "latency-end", "scale-end"),
        "{:.2f}",
        target="bounded, stated",
    ),
    Row(
        "API requests per reconcile, latency phase",
        lambda f: _rpr(f, "latency-start", "latency-end"),
        "{:.2f}",
    ),
    Row(
        "API writes, scale phase (audit log)",
        lambda f: float(f.scale_writes.total),
        "{:.0f}",
        ratio=True,
    ),
    Row(
        "API writes per idle minute (audit log)",
        lambda f: 60 * _per(f.idle_writes.total, f.idle_seconds),
        "{:.1f}",
        target="0",
        check=lambda v, _: v == 0,
    ),
    Row(
        "  of which kopf peering",
        lambda f: 60 * _per(f.idle_writes.peering, f.idle_seconds),
        "{:.1f}",
    ),
    Row(
        "API requests per idle minute",
        lambda f: 60 * _per(f.delta("scale-end", "idle-end", "requests"), f.idle_seconds),
        "{:.0f}",
        ratio=True,
    ),
    Row(
        "Reconciles per idle minute",
        lambda f: 60 * _per(f.delta("scale-end", "idle-end", "reconciles"), f.idle_seconds),
        "{:.0f}",
        ratio=True,
    ),
)


def _cell(fmt: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return fmt.format(value)


def table(
    results: Mapping[str, Sequence[Figures]],
    idle_seconds: float,
    reference: str = "Baseline (minimal kopf)",
    targets: bool = True,
) -> str:
    """Modelsmith ("modelsmith") against the reference ("baseline"), each figure the median
    over the rounds measured (one or more per operator). Without `targets` (a before/after of
    Modelsmith itself, whose targets name the minimal baseline), the Target and Met columns are
    left out. The detail lines below the table are those of the last round."""
    ms, base = results.get("modelsmith") or [], results.get("baseline") or []
    lines = [
        f"| Measure | Modelsmith | {reference} | Ratio | Target | Met |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    if not targets:
        lines = [f"| Measure | Modelsmith | {reference} | Ratio |", "|---|---:|---:|---:|"]
    for row in ROWS:
        value = _median(row, ms)
        base_value = _median(row, base)
        ratio = None
        if row.ratio and value is not None and base_value:
            ratio = value / base_value
        met = ""
        if row.check is not None and value is not None and not math.isnan(value):
            met = "yes" if row.check(value, ratio) else "**no**"
        cells = f"| {row.label} | {_cell(row.fmt, value)} | {_cell(row.fmt, base_value)} | "
        cells += f"{_cell('{:.2f}x', ratio)} |"
        lines.append(cells + (f" {row.target} | {met} |" if targets else ""))
    return "\n".join(lines + _details(ms, base, reference, idle_seconds))


def _details(
    ms: Sequence[Figures], base: Sequence[Figures], reference: str, idle_seconds: float
) -> list[str]:
    """The lines below the table: each round's figures when there were several, the machine's
    load and the test bed's CPU, and each side's writes and reconciles by kind."""
    lines: list[str] = []
    rounds = max(len(ms), len(base))
    if rounds > 1:
        lines.append("")
        lines.append(f"Medians of {rounds} rounds; each round's figures, in the order measured:")
        for row in ROWS:
            if row.check is not None and row.ratio:
                lines.append(
                    f"- {row.label}: " + _per_round(row, [("Modelsmith", ms), (reference, base)])
                )
    sides = [("Modelsmith", ms[-1] if ms else None), (reference, base[-1] if base else None)]
    loads = [f"{name} {_loads(f.loads)}" for name, f in sides if f is not None and f.loads]
    if loads:
        lines.append("")
        lines.append("1-minute load average at the phase marks (2 cores here): " + "; ".join(loads))
    cpu = [f"{name}: {_cpu(f.testbed_cpu)}" for name, f in sides if f is not None and f.testbed_cpu]
    if cpu:
        lines.append("")
        lines.append("Test-bed CPU seconds in the latency phase (same 2 cores): " + "; ".join(cpu))
    for name, f in sides:
        if f is None:
            continue
        lines.append("")
        lines.append(
            f"{name}: writes in the {idle_seconds:.0f} s idle window: "
            + (_kinds(f.idle_writes.by_kind) or "none")
        )
        lines.append(f"{name}: writes in the latency phase: " + _kinds(f.latency_writes.by_kind))
        lines.append(f"{name}: writes in the scale phase: " + _kinds(f.scale_writes.by_kind))
        lines.append(
            f"{name}: reconciles by kind (whole run): "
            + ", ".join(f"{k} {v:.0f}" for k, v in sorted(f.reconciles_by_kind.items()))
        )
    return lines


def _median(row: Row, rounds: Sequence[Figures]) -> float | None:
    if not rounds:
        return None
    values = [v for v in (row.value(f) for f in rounds) if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _per_round(row: Row, sides: Sequence[tuple[str, Sequence[Figures]]]) -> str:
    return "; ".join(
        f"{name} " + ", ".join(_cell(row.fmt, row.value(f)) for f in rounds)
        for name, rounds in sides
        if rounds
    )


def _cpu(seconds: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f}" for name, value in sorted(seconds.items()))


def _loads(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def _kinds(counts: Any) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.most_common())


def raw(results: Mapping[str, Sequence[Figures]]) -> dict[str, Any]:
    """Every round's figures, per operator."""
    return {name: [_raw(f) for f in rounds] for name, rounds in results.items()}


def _raw(f: Figures) -> dict[str, Any]:
    return {
        "apply_to_job_s": f.apply_to_job,
        "complete_to_status_s": f.complete_to_status,
        "peak_rss": f.peak_rss,
        "rss_after_scale": f.rss_after_scale,
        "idle_writes": dict(f.idle_writes.by_kind),
        "scale_writes": dict(f.scale_writes.by_kind),
        "latency_writes": dict(f.latency_writes.by_kind),
        "reconciles_by_kind": f.reconciles_by_kind,
        "loads": f.loads,
        "testbed_cpu": f.testbed_cpu,
        "rows": {row.label: row.value(f) for row in ROWS},
    }
