"""`make bench`: Modelsmith's reaction latency and scale on the local control plane, measured
against a minimal kopf operator (hack/bench/baseline_operator.py) on the same objects in the same
run, printed as a Markdown table.

Each operator, in turn, runs as a real process under its own API identity over fresh namespaces:

1. latency: 50 IterationRuns applied at once, their Jobs running the node agent's noop image;
   apply -> first Job created, and Job Complete -> the run's status showing it (p50, p95), both
   from the arrival times of one watch (this script's), so watch delivery cancels out;
2. scale: 500 Benchmarks (20 scenarios each), 10 intakes and 200 IterationRuns over 10
   namespaces until everything settled: peak RSS and CPU seconds of the operator process (psutil),
   API requests per reconcile (the identity's own APF series from the API server's /metrics,
   over the operator's modelsmith_reconciles_total);
3. idle: a quiet window after that: the identity's writes in the API server's audit log (kopf
   peering counted apart), and its requests.

The test bed is the one in $MODELSMITH_BENCH_TESTBED_DIR when one runs there, else a fresh one in
a temporary folder, stopped at the end (never the shared .testbed/).

    .venv/bin/python hack/bench/bench_operator.py [--idle 60] [--quick] [--fraction F]
        [--profile out.txt [--profile-phase all|latency|scale]] [--only modelsmith|baseline]
        [--compare DIR] [--modelsmith DIR] [--json out.json]

--compare DIR also runs Modelsmith from DIR (a checkout of this repository, or a folder holding
another `modelsmith/` package), e.g. the commit before a change, and prints a second table: the
measured Modelsmith against it. --modelsmith DIR measures Modelsmith from DIR instead of the
working tree (a fixed commit while the working tree changes). For a change's before and after:

    git worktree add --detach /tmp/ms-before <change>^
    git worktree add --detach /tmp/ms-after <change>
    .venv/bin/python hack/bench/bench_operator.py --only modelsmith \
        --modelsmith /tmp/ms-after --compare /tmp/ms-before
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

from kubernetes import client  # noqa: E402
from operatorbench import identity, profiling, report, workload  # noqa: E402
from operatorbench.observe import (  # noqa: E402
    AuditLog,
    AuditWrites,
    JobTrace,
    ProcessSampler,
    Recorder,
    apiserver_requests,
    reconciles,
    testbed_cpu,
)
from operatorbench.subjects import BASELINE, MODELSMITH, Subject, modelsmith_from  # noqa: E402

from modelsmith.loop.decide import REQUEUE_WHILE_WAITING  # noqa: E402
from testbed import procs  # noqa: E402
from testbed.admission import wait_for_intake_admission  # noqa: E402
from testbed.cluster import Cluster  # noqa: E402
from testbed.objectstore import ObjectStore  # noqa: E402
from testbed.operator import OperatorProcess  # noqa: E402
from testbed.waiting import wait_for  # noqa: E402

REPO = BENCH_DIR.parent.parent


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


# --- the test bed -----------------------------------------------------------------------------


@contextlib.contextmanager
def testbed() -> Iterator[tuple[Cluster, ObjectStore]]:
    existing = os.environ.get("MODELSMITH_BENCH_TESTBED_DIR")
    if existing and procs.alive(Path(existing), "kube-apiserver"):
        directory = Path(existing)
        yield Cluster.attach(directory), ObjectStore.attach(directory)
        return
    directory = Path(existing) if existing else Path(tempfile.mkdtemp(prefix="modelsmith-bench-"))
    began = time.monotonic()
    cluster = Cluster.start(directory)
    store: ObjectStore | None = None
    try:
        store = ObjectStore.start(directory)
        log(f"test bed up in {time.monotonic() - began:.0f}s in {directory}")
        yield cluster, store
    finally:
        if store is not None:
            store.stop()
        cluster.stop()
        if not existing:
            shutil.rmtree(directory, ignore_errors=True)


def install_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all", timeout=90
    )
    wait_for_intake_admission(cluster)


# --- one operator, all phases -----------------------------------------------------------------


def measure(
    subject: Subject,
    cluster: Cluster,
    store: ObjectStore,
    recorder: Recorder,
    plan: Plan,
    model_uri: str,
    profile: Path | None,
    last: bool,
    profile_phase: str = "all",
) -> Result:
    result = Result(subject.name)
    api = cluster.api_client()
    custom: Any = client.CustomObjectsApi(api)
    prefix = f"bench-{subject.name[:4]}"
    lat_ns = f"{prefix}-lat"
    scale_ns = [f"{prefix}-s{i:02d}" for i in range(plan.namespaces)]
    for ns in (lat_ns, *scale_ns):
        workload.prepare_namespace(cluster, store, ns)
    kubeconfig = identity.create(cluster, subject.user)
    _unused(cluster, subject.user)
    env = {
        **cluster.env(),
        **store.env(),
        "KUBECONFIG": str(kubeconfig),
        "MODELSMITH_BUCKET": store.bucket,
        "MODELSMITH_REQUEUE_SECONDS": "5",  # the operator's own default, not the tests' 1 s
    }
    if subject.python_path:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (subject.python_path, os.environ.get("PYTHONPATH", "")) if p
        )
    operator = OperatorProcess(cluster.log_dir, env, name=f"bench-{subject.name}")
    operator.args = list(subject.argv)
    audit = AuditLog(cluster.log_dir / "audit.jsonl", subject.user)
    recorder.reset()
    operator.start()
    assert operator.proc is not None
    sampler = ProcessSampler(operator.proc.pid).start()
    spy: profiling.PySpy | None = None
    pid = operator.proc.pid

    def profile_from(phase: str) -> None:
        nonlocal spy
        if profile and profile_phase == phase:
            spy = profiling.PySpy.attach(pid, profile)

    def profile_until(phase: str) -> None:
        if spy is not None and profile_phase == phase:
            spy.stop()

    profile_from("all")

    def mark(name: str) -> None:
        result.loads.append(os.getloadavg()[0])
        result.marks[name] = Mark(
            time.monotonic(),
            sampler.cpu_seconds(),
            apiserver_requests(cluster, subject.user),
            sum(reconciles(operator.metrics_url).values()),
        )

    try:
        mark("started")
        # -- latency --------------------------------------------------------------------------
        workload.create(api, workload.benchmark(lat_ns, "bench"))
        workload.create(api, workload.intake(lat_ns, "intake", "bench", model_uri))
        wait_for(
            lambda: subject.intake_ready(
                custom.get_namespaced_custom_object(
                    workload.GROUP, workload.VERSION, lat_ns, "modelintakes", "intake"
                ).get("status")
                or {}
            ),
            60,
            f"{subject.name}: latency intake ready",
        )
        # A long-running operator has its clients warm: one run first, outside the figures.
        warmup = workload.run(lat_ns, "warmup", "intake")
        workload.create(api, warmup)
        wait_for(
            lambda: _all_runs(recorder, {(lat_ns, "warmup")}, subject, settled=True),
            60,
            f"{subject.name}: warm-up run settled",
            interval=0.2,
        )
        mark("latency-start")
        profile_from("latency")
        audit.mark()
        testbed_before = testbed_cpu(cluster.run_dir)
        runs = [workload.run(lat_ns, f"run-{i:03d}", "intake") for i in range(plan.latency_runs)]
        workload.create_all(api, runs)
        keys = {(lat_ns, r["metadata"]["name"]) for r in runs}
        wait_for(
            lambda: _all_runs(recorder, keys, subject, settled=True),
            plan.settle_timeout,
            f"{subject.name}: {len(keys)} latency runs settled",
            interval=0.5,
        )
        # A run can settle before this watch shows its Job complete (two streams).
        wait_for(
            lambda: _first_jobs_complete(recorder, keys),
            30,
            f"{subject.name}: the latency runs' Jobs seen complete",
            interval=0.5,
        )
        result.apply_to_job, result.complete_to_status = latencies(recorder, keys, subject)
        mark("latency-end")
        profile_until("latency")
        result.latency_writes = audit.writes_since_mark()
        result.testbed_cpu = {
            name: seconds - testbed_before.get(name, 0.0)
            for name, seconds in testbed_cpu(cluster.run_dir).items()
        }

        # -- scale ----------------------------------------------------------------------------
        sampler.reset_peak()
        profile_from("scale")
        audit.mark()
        per_ns_bench = plan.benchmarks // plan.namespaces
        per_ns_runs = plan.runs // plan.namespaces
        benches = [
            workload.benchmark(ns, f"bench-{j:03d}") for ns in scale_ns for j in range(per_ns_bench)
        ]
        intakes = [workload.intake(ns, "intake", "bench-000", model_uri) for ns in scale_ns]
        scale_runs = [
            workload.run(ns, f"run-{j:03d}", "intake")
            for ns in scale_ns
            for j in range(per_ns_runs)
        ]
        result.objects = len(benches) + len(intakes) + len(scale_runs) + len(runs) + 3
        began = time.monotonic()
        workload.create_all(api, [*benches, *intakes, *scale_runs])
        scale_keys = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in scale_runs}
        # Both operators write each Benchmark's status at least once: the audit log counts the
        # writes for free (listing 500 Benchmarks every second would load the API server being
        # measured); one listing then checks each is current, waiting on if one is written twice.
        wait_for(
            lambda: (
                _all_runs(recorder, scale_keys, subject, settled=True)
                and audit.writes_since_mark().by_kind["patch benchmarks/status"] >= len(benches)
            ),
            plan.settle_timeout,
            f"{subject.name}: scale objects settled",
            interval=1.0,
        )
        wait_for(
            lambda: _benchmarks_seen(custom, scale_ns, per_ns_bench),
            60,
            f"{subject.name}: every Benchmark's status current",
            interval=2.0,
        )
        _quiet(audit, subject.name)
        result.scale_seconds = time.monotonic() - began
        result.drain_seconds = _drained(operator, len(scale_keys) + len(keys) + 1)
        mark("scale-end")
        profile_until("scale")
        result.scale_writes = audit.writes_since_mark()
        result.rss_after_scale = sampler.rss()

        # -- idle -----------------------------------------------------------------------------
        audit.mark()
        # The baseline writes nothing on its own by construction: a short window shows it.
        idle = plan.idle_seconds if subject is not BASELINE else min(plan.idle_seconds, 20.0)
        time.sleep(idle)
        result.idle_seconds = idle
        mark("idle-end")
        result.idle_writes = audit.writes_since_mark()
        result.peak_rss = sampler.peak_rss
        result.reconciles_by_kind = reconciles(operator.metrics_url)
    finally:
        if spy is not None:
            spy.stop()
        sampler.stop()
        operator.stop()
    # The next operator must start on an empty cluster (it would otherwise reconcile these);
    # after the last one, the deletion runs on in the background.
    log(f"{subject.name}: done; deleting its namespaces")
    workload.delete_namespaces(cluster, [lat_ns, *scale_ns], wait=not last)
    return result


def _unused(cluster: Cluster, user: str, seconds: float = 2.0) -> None:
    """Refuses to measure while something else (an operator left over from an interrupted run)
    acts under the identity: its requests and writes would be counted as the subject's."""
    before = apiserver_requests(cluster, user)
    time.sleep(seconds)
    if apiserver_requests(cluster, user) != before:
        raise RuntimeError(
            f"another process is using the API as {user}; stop it (ps aux | grep operator)"
        )


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


def _testbed_quiet(cluster: Cluster, cores: float = 0.2, timeout: float = 60.0) -> None:
    """Waits until the test bed's processes use less than `cores` over a few seconds: the
    previous operator's namespaces are still being torn down (garbage collection, the node
    agent reaping pods) when their deletion returns, and that work would count against the
    next operator's figures."""
    window = 3.0

    def quiet() -> bool:
        before = sum(testbed_cpu(cluster.run_dir).values())
        time.sleep(window)
        return sum(testbed_cpu(cluster.run_dir).values()) - before < cores * window

    try:
        wait_for(quiet, timeout, "a quiet test bed", interval=0.1)
    except TimeoutError:
        log(f"the test bed is still busy after {timeout:.0f}s; measuring anyway")


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


def _source(folder: Path | None) -> str:
    return f"Modelsmith from {folder}" if folder else "The working tree"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the objects, 15 s idle (a smoke test)"
    )
    parser.add_argument(
        "--fraction",
        type=float,
        default=1.0,
        help="scale phase at this fraction of 500 Benchmarks / 200 runs / 10 namespaces",
    )
    parser.add_argument(
        "--only",
        choices=["modelsmith", "baseline"],
        help="run one of the two operators (no ratios to the baseline)",
    )
    parser.add_argument(
        "--profile", type=Path, help="sample Modelsmith with py-spy and write a summary here"
    )
    parser.add_argument(
        "--profile-phase",
        choices=["all", "latency", "scale"],
        default="all",
        help="the phase --profile samples (default: the whole run)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="also run Modelsmith from this checkout (or its operator/) for a before/after",
    )
    parser.add_argument(
        "--compare-first",
        action="store_true",
        help="run the compared Modelsmith before the measured one (default: after)",
    )
    parser.add_argument(
        "--modelsmith",
        type=Path,
        metavar="DIR",
        help="measure Modelsmith from this folder instead of the working tree",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every operator this many times, alternating which goes first, and report "
        "the median of each figure (the machine's speed drifts between and within runs)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    plan = Plan(
        namespaces=max(1, round(10 * args.fraction)),
        benchmarks=max(1, round(500 * args.fraction)),
        runs=max(1, round(200 * args.fraction)),
        idle_seconds=args.idle,
    )
    if args.quick:
        plan = Plan(latency_runs=10, namespaces=2, benchmarks=50, runs=20, idle_seconds=15)
    measured = modelsmith_from(args.modelsmith, "modelsmith") if args.modelsmith else MODELSMITH
    subjects = [s for s in (BASELINE, measured) if args.only in (None, s.name)]
    if args.compare:
        compared = modelsmith_from(args.compare)
        # Figures drift with the machine's load and with what the cluster went through: run the
        # two Modelsmiths in both orders to tell the change from the order.
        first = args.compare_first and measured in subjects
        subjects.insert(subjects.index(measured) if first else len(subjects), compared)
    began = time.monotonic()
    results: dict[str, list[Result]] = {s.name: [] for s in subjects}
    with testbed() as (cluster, store):
        install_crds(cluster)
        model_uri = workload.upload_base_model(store)
        recorder = Recorder(cluster).start()
        try:
            for round_ in range(args.rounds):
                # Whoever goes first meets a fresher test bed: the order alternates by round.
                order = subjects if round_ % 2 == 0 else subjects[::-1]
                for i, subject in enumerate(order):
                    _testbed_quiet(cluster)
                    log(f"{subject.name}: measuring (round {round_ + 1} of {args.rounds})")
                    profile = args.profile if subject is measured and round_ == 0 else None
                    results[subject.name].append(
                        measure(
                            subject,
                            cluster,
                            store,
                            recorder,
                            plan,
                            model_uri,
                            profile,
                            last=round_ == args.rounds - 1 and i == len(order) - 1,
                            profile_phase=args.profile_phase,
                        )
                    )
        finally:
            recorder.stop()
    table = report.table(results, plan.idle_seconds)
    print(table)
    if "compare" in results and "modelsmith" in results:
        print(f"\n{_source(args.modelsmith)} against Modelsmith from {args.compare}:\n")
        print(
            report.table(
                {"modelsmith": results["modelsmith"], "baseline": results["compare"]},
                plan.idle_seconds,
                reference=f"Modelsmith from {args.compare}",
                targets=False,
            )
        )
    log(f"bench finished in {time.monotonic() - began:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(report.raw(results), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
