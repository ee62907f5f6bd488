"""The three phases one operator goes through in `make bench` (latency, scale, idle), what they
record, and the waits that tell when a phase's objects are done."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from modelsmith.loop.step import REQUEUE_WHILE_WAITING
from operatorbench import profiling, workload
from operatorbench.observe import (
    AuditLog,
    AuditWrites,
    JobTrace,
    ProcessSampler,
    Recorder,
    apiserver_requests,
    reconciles,
    testbed_cpu,
)
from operatorbench.subjects import BASELINE, Subject
from testbed.cluster import Cluster
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

Keys = set[tuple[str, str]]


@dataclass(frozen=True)
class Plan:
    latency_runs: int = 50
    namespaces: int = 10
    benchmarks: int = 500
    runs: int = 200
    idle_seconds: float = 60.0
    settle_timeout: float = 420.0


@dataclass
class Mark:
    at: float
    cpu: float
    requests: float
    reconciles: float


@dataclass
class Result:
    subject: str
    apply_to_job: list[float] = field(default_factory=list)
    complete_to_status: list[float] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)
    peak_rss: int = 0
    rss_after_scale: int = 0
    scale_writes: AuditWrites = field(default_factory=AuditWrites)
    latency_writes: AuditWrites = field(default_factory=AuditWrites)
    idle_writes: AuditWrites = field(default_factory=AuditWrites)
    idle_seconds: float = 0.0
    scale_seconds: float = 0.0
    drain_seconds: float = 0.0
    reconciles_by_kind: dict[str, float] = field(default_factory=dict)
    objects: int = 0
    loads: list[float] = field(default_factory=list)
    """The machine's 1-minute load average at each mark (other work on it skews figures)."""
    testbed_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each test-bed process over the latency phase."""

    def delta(self, start: str, end: str, what: str) -> float:
        a, b = self.marks[start], self.marks[end]
        return float(getattr(b, what) - getattr(a, what))


@dataclass
class Session:
    """One running operator under measurement: what its phases share."""

    subject: Subject
    cluster: Cluster
    recorder: Recorder
    plan: Plan
    model_uri: str
    operator: OperatorProcess
    sampler: ProcessSampler
    audit: AuditLog
    latency_namespace: str
    scale_namespaces: list[str]
    profile: Path | None = None
    profile_phase: str = "all"
    spy: profiling.PySpy | None = None
    result: Result = field(init=False)
    api: client.ApiClient = field(init=False)
    custom: Any = field(init=False)

    def __post_init__(self) -> None:
        self.result = Result(self.subject.name)
        self.api = self.cluster.api_client()
        self.custom = client.CustomObjectsApi(self.api)

    def mark(self, name: str) -> None:
        """Records the clock, the operator's CPU, its API requests and reconciles at `name`."""
        self.result.loads.append(os.getloadavg()[0])
        self.result.marks[name] = Mark(
            time.monotonic(),
            self.sampler.cpu_seconds(),
            apiserver_requests(self.cluster, self.subject.user),
            sum(reconciles(self.operator.metrics_url).values()),
        )

    def profile_from(self, phase: str) -> None:
        if self.profile and self.profile_phase == phase:
            assert self.operator.proc is not None
            self.spy = profiling.PySpy.attach(self.operator.proc.pid, self.profile)

    def profile_until(self, phase: str) -> None:
        if self.spy is not None and self.profile_phase == phase:
            self.spy.stop()


def latency(s: Session) -> Keys:
    """50 runs applied at once after one warm-up run; returns the measured runs' keys."""
    ns, name = s.latency_namespace, s.subject.name
    workload.create(s.api, workload.benchmark(ns, "bench"))
    workload.create(s.api, workload.intake(ns, "intake", "bench", s.model_uri))
    wait_for(
        lambda: s.subject.intake_ready(
            s.custom.get_namespaced_custom_object(
                workload.GROUP, workload.VERSION, ns, "modelintakes", "intake"
            ).get("status")
            or {}
        ),
        60,
        f"{name}: latency intake ready",
    )
    # A long-running operator has its clients warm: one run first, outside the figures.
    workload.create(s.api, workload.run(ns, "warmup", "intake"))
    wait_for(
        lambda: _all_runs(s.recorder, {(ns, "warmup")}, s.subject, settled=True),
        60,
        f"{name}: warm-up run settled",
        interval=0.2,
    )
    s.mark("latency-start")
    s.profile_from("latency")
    s.audit.mark()
    testbed_before = testbed_cpu(s.cluster.run_dir)
    runs = [workload.run(ns, f"run-{i:03d}", "intake") for i in range(s.plan.latency_runs)]
    workload.create_all(s.api, runs)
    keys = {(ns, r["metadata"]["name"]) for r in runs}
    wait_for(
        lambda: _all_runs(s.recorder, keys, s.subject, settled=True),
        s.plan.settle_timeout,
        f"{name}: {len(keys)} latency runs settled",
        interval=0.5,
    )
    # A run can settle before this watch shows its Job complete (two streams).
    wait_for(
        lambda: _first_jobs_complete(s.recorder, keys),
        30,
        f"{name}: the latency runs' Jobs seen complete",
        interval=0.5,
    )
    s.result.apply_to_job, s.result.complete_to_status = latencies(s.recorder, keys, s.subject)
    s.mark("latency-end")
    s.profile_until("latency")
    s.result.latency_writes = s.audit.writes_since_mark()
    s.result.testbed_cpu = {
        process: seconds - testbed_before.get(process, 0.0)
        for process, seconds in testbed_cpu(s.cluster.run_dir).items()
    }
    return keys


def scale(s: Session, latency_keys: Keys) -> None:
    """Benchmarks, intakes and runs over many namespaces until all of them are done."""
    s.sampler.reset_peak()
    s.profile_from("scale")
    s.audit.mark()
    plan, namespaces = s.plan, s.scale_namespaces
    per_ns_bench = plan.benchmarks // plan.namespaces
    per_ns_runs = plan.runs // plan.namespaces
    benches = [
        workload.benchmark(ns, f"bench-{j:03d}") for ns in namespaces for j in range(per_ns_bench)
    ]
    intakes = [workload.intake(ns, "intake", "bench-000", s.model_uri) for ns in namespaces]
    runs = [
        workload.run(ns, f"run-{j:03d}", "intake") for ns in namespaces for j in range(per_ns_runs)
    ]
    s.result.objects = len(benches) + len(intakes) + len(runs) + len(latency_keys) + 3
    began = time.monotonic()
    workload.create_all(s.api, [*benches, *intakes, *runs])
    keys = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in runs}
    # Both operators write each Benchmark's status at least once: the audit log counts the
    # writes for free (listing 500 Benchmarks every second would load the API server being
    # measured); one listing then checks each is current, waiting on if one is written twice.
    wait_for(
        lambda: (
            _all_runs(s.recorder, keys, s.subject, settled=True)
            and s.audit.writes_since_mark().by_kind["patch benchmarks/status"] >= len(benches)
        ),
        plan.settle_timeout,
        f"{s.subject.name}: scale objects settled",
        interval=1.0,
    )
    wait_for(
        lambda: _benchmarks_seen(s.custom, namespaces, per_ns_bench),
        60,
        f"{s.subject.name}: every Benchmark's status current",
        interval=2.0,
    )
    _quiet(s.audit, s.subject.name)
    s.result.scale_seconds = time.monotonic() - began
    s.result.drain_seconds = _drained(s.operator, len(keys) + len(latency_keys) + 1)
    s.mark("scale-end")
    s.profile_until("scale")
    s.result.scale_writes = s.audit.writes_since_mark()
    s.result.rss_after_scale = s.sampler.rss()


def idle(s: Session) -> None:
    """A quiet window: what the operator writes when nothing changes."""
    s.audit.mark()
    # The baseline writes nothing on its own by construction: a short window shows it.
    seconds = s.plan.idle_seconds if s.subject is not BASELINE else min(s.plan.idle_seconds, 20.0)
    time.sleep(seconds)
    s.result.idle_seconds = seconds
    s.mark("idle-end")
    s.result.idle_writes = s.audit.writes_since_mark()
    s.result.peak_rss = s.sampler.peak_rss
    s.result.reconciles_by_kind = reconciles(s.operator.metrics_url)


def _all_runs(
    recorder: Recorder, keys: set[tuple[str, str]], subject: Subject, settled: bool
) -> bool:
    traces, _ = recorder.snapshot()
    check = subject.settled if settled else subject.reacted
    return all(k in traces and check(traces[k].last_status()) for k in keys)


def _first_jobs_complete(recorder: Recorder, keys: set[tuple[str, str]]) -> bool:
    _, jobs = recorder.snapshot()
    done = {(ns, job.run) for (ns, _), job in jobs.items() if job.attempt == "1" and job.complete}
    return keys <= done


def _benchmarks_seen(custom: Any, namespaces: list[str], expected: int) -> bool:
    for ns in namespaces:
        items = custom.list_namespaced_custom_object(
            workload.GROUP, workload.VERSION, ns, "benchmarks"
        )["items"]
        seen = [
            b
            for b in items
            if (b.get("status") or {}).get("observedGeneration") == b["metadata"]["generation"]
        ]
        if len(seen) < expected:
            return False
    return True


def _quiet(audit: AuditLog, name: str, seconds: float = 3.0, timeout: float = 60.0) -> None:
    """Waits until the operator has written nothing for `seconds` (follow-up reconciles done)."""

    def quiet() -> bool:
        last = audit.writes_since_mark().last_at
        return time.time() - last >= seconds

    wait_for(quiet, timeout, f"{name}: no writes for {seconds:.0f}s", interval=0.5)


def _drained(operator: OperatorProcess, runs: int, timeout: float = 120.0) -> float:
    """Waits until the operator reconciles no faster than its steady requeue of waiting runs
    (every REQUEUE_WHILE_WAITING seconds each, with half again for bunching): events still
    queued when the last write landed are worked off first. Returns how long that took."""
    began = time.monotonic()
    window = 3
    allowed = 3 + 1.5 * runs * window / REQUEUE_WHILE_WAITING
    readings: list[float] = []
    while time.monotonic() - began < timeout:
        readings.append(sum(reconciles(operator.metrics_url).values()))
        if len(readings) > window and readings[-1] - readings[-1 - window] <= allowed:
            break
        time.sleep(1.0)
    return time.monotonic() - began


def latencies(
    recorder: Recorder, keys: set[tuple[str, str]], subject: Subject
) -> tuple[list[float], list[float]]:
    traces, jobs = recorder.snapshot()
    first_jobs: dict[tuple[str, str], JobTrace] = {}
    for (ns, _), job in jobs.items():
        key = (ns, job.run)
        if key in keys and job.attempt == "1":
            first_jobs[key] = job
    apply_to_job, complete_to_status = [], []
    for key in sorted(keys):
        trace, found = traces[key], first_jobs.get(key)
        if found is None or trace.added is None:
            raise RuntimeError(f"{subject.name}: no Job seen for run {key}")
        job = found
        apply_to_job.append(job.added - trace.added)
        if job.complete is None:
            raise RuntimeError(f"{subject.name}: Job of run {key} never seen Complete")
        # The run's status and its Job come on two watch streams, so the status that answers
        # the completion can arrive before this watch shows the completion itself: that counts
        # as no delay, not as no answer.
        reaction = next(
            (t for t, status in trace.statuses if t >= job.added and subject.reacted(status)),
            None,
        )
        if reaction is None:
            raise RuntimeError(f"{subject.name}: run {key} never showed its Job's completion")
        complete_to_status.append(max(reaction - job.complete, 0.0))
    return apply_to_job, complete_to_status
