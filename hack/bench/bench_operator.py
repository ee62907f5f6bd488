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
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

from operatorbench import identity, phases, report, workload  # noqa: E402
from operatorbench.observe import (  # noqa: E402
    AuditLog,
    ProcessSampler,
    Recorder,
    apiserver_requests,
    testbed_cpu,
)
from operatorbench.phases import Plan, Result  # noqa: E402
from operatorbench.subjects import BASELINE, MODELSMITH, Subject, modelsmith_from  # noqa: E402

from testbed import procs  # noqa: E402
from testbed.admission import wait_for_intake_admission  # noqa: E402
from testbed.cluster import Cluster  # noqa: E402
from testbed.objectstore import ObjectStore  # noqa: E402
from testbed.operator import OperatorProcess  # noqa: E402
from testbed.waiting import wait_for  # noqa: E402

REPO = BENCH_DIR.parent.parent


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
    prefix = f"bench-{subject.name[:4]}"
    lat_ns = f"{prefix}-lat"
    scale_ns = [f"{prefix}-s{i:02d}" for i in range(plan.namespaces)]
    for ns in (lat_ns, *scale_ns):
        workload.prepare_namespace(cluster, store, ns)
    kubeconfig = identity.create(cluster, subject.user)
    _unused(cluster, subject.user)
    operator = _operator(subject, cluster, store, kubeconfig)
    audit = AuditLog(cluster.log_dir / "audit.jsonl", subject.user)
    recorder.reset()
    operator.start()
    assert operator.proc is not None
    sampler = ProcessSampler(operator.proc.pid).start()
    session = phases.Session(
        subject, cluster, recorder, plan, model_uri, operator, sampler, audit, lat_ns, scale_ns,
        profile, profile_phase,
    )
    session.profile_from("all")
    try:
        session.mark("started")
        latency_keys = phases.latency(session)
        phases.scale(session, latency_keys)
        phases.idle(session)
    finally:
        if session.spy is not None:
            session.spy.stop()
        sampler.stop()
        operator.stop()
    # The next operator must start on an empty cluster (it would otherwise reconcile these);
    # after the last one, the deletion runs on in the background.
    log(f"{subject.name}: done; deleting its namespaces")
    workload.delete_namespaces(cluster, [lat_ns, *scale_ns], wait=not last)
    return session.result


def _operator(
    subject: Subject, cluster: Cluster, store: ObjectStore, kubeconfig: Path
) -> OperatorProcess:
    """The subject's operator process (not started), acting under its own identity."""
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
    return operator


def _unused(cluster: Cluster, user: str, seconds: float = 2.0) -> None:
    """Refuses to measure while something else (an operator left over from an interrupted run)
    acts under the identity: its requests and writes would be counted as the subject's."""
    before = apiserver_requests(cluster, user)
    time.sleep(seconds)
    if apiserver_requests(cluster, user) != before:
        raise RuntimeError(
            f"another process is using the API as {user}; stop it (ps aux | grep operator)"
        )


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


def _source(folder: Path | None) -> str:
    return f"Modelsmith from {folder}" if folder else "The working tree"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
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
    return parser


def _plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(latency_runs=10, namespaces=2, benchmarks=50, runs=20, idle_seconds=15)
    return Plan(
        namespaces=max(1, round(10 * args.fraction)),
        benchmarks=max(1, round(500 * args.fraction)),
        runs=max(1, round(200 * args.fraction)),
        idle_seconds=args.idle,
    )


def _subjects(args: argparse.Namespace) -> tuple[list[Subject], Subject]:
    """The operators to measure, in the order of the first round, and the measured Modelsmith."""
    measured = modelsmith_from(args.modelsmith, "modelsmith") if args.modelsmith else MODELSMITH
    subjects = [s for s in (BASELINE, measured) if args.only in (None, s.name)]
    if args.compare:
        compared = modelsmith_from(args.compare)
        # Figures drift with the machine's load and with what the cluster went through: run the
        # two Modelsmiths in both orders to tell the change from the order.
        first = args.compare_first and measured in subjects
        subjects.insert(subjects.index(measured) if first else len(subjects), compared)
    return subjects, measured


def _rounds(args: argparse.Namespace, plan: Plan) -> dict[str, list[Result]]:
    """Every subject's results, round after round, on one test bed."""
    subjects, measured = _subjects(args)
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
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = _plan(args)
    began = time.monotonic()
    results = _rounds(args, plan)
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
