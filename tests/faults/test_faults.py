"""Fault injection on the quickstart loop (real operator, real trainer and evaluator, real Job
controller): the operator killed at every phase boundary, the object store down, the API server
restarted, a pod deleted, the node going NotReady, two peered replicas. Each run must end where
an undisturbed run ends, with nothing lost: one Job per phase, iteration and attempt, and a
ledger numbered without gaps that agrees with status.

`make test-faults` runs these (marker `faults`); each takes minutes on two CPU cores.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from e2e.quickstart import apply_quickstart
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .harness import (
    FAULT_MARKS,
    RUN,
    TO_STAGED,
    Json,
    RunWatch,
    assert_nothing_lost,
    assert_resumed_from_checkpoint,
    frozen,
    injected,
    install_peering,
    quickstart_training,
    reconciles,
    status_writes_refused,
    survived,
    train_pod_running,
)

pytestmark = FAULT_MARKS

def _launched(watch: RunWatch, suffix: str) -> bool:
    name = watch.job_name(suffix)
    return bool(name) and watch.has_job(name)


# ----- the operator killed at each phase boundary -------------------------------------------


@dataclass(frozen=True)
class Boundary:
    name: str
    ready: Callable[[RunWatch], bool]
    """When the run is just before the boundary."""
    launched: str | None = None
    """The Job whose launch is the boundary (its name's end, see RunWatch.job_name): the operator
    is killed once it exists and before status claims it (its status writes are refused
    meanwhile). None: killed once `ready`."""


BOUNDARIES = [
    Boundary("SIGKILL: EvaluatingBaseline just launched", lambda w: True, "i0-eval-a1"),
    Boundary(
        "SIGKILL: Training just launched",
        lambda w: w.phase() == "EvaluatingBaseline",
        "i1-train-a1",
    ),
    Boundary("SIGKILL: mid-Training", lambda w: w.phase() == "Training" and train_pod_running(w)),
    Boundary("SIGKILL: Assessing just launched", lambda w: w.phase() == "Training", "i1-eval-a1"),
    Boundary(
        "SIGKILL: PromotionStaging / just Staged",
        lambda w: w.phase() in ("PromotionStaging", "Staged"),
    ),
]


def _claimed(watch: RunWatch) -> Json | None:
    job: Json | None = (watch.status().get("memory") or {}).get("job")
    return job


def test_operator_killed_at_every_phase_boundary_resumes_without_duplicates(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    watch = RunWatch(cluster, namespace)
    applied = False
    for boundary in BOUNDARIES:
        wait_for(
            functools.partial(boundary.ready, watch),
            timeout=TO_STAGED,
            interval=0.1,
            description=f"the run before {boundary.name}",
        )
        if boundary.launched is None:
            operator.kill(signal.SIGKILL)
        else:
            with status_writes_refused(cluster, namespace):
                if not applied:
                    apply_quickstart(cluster, object_store, namespace, base_model)
                    applied = True
                wait_for(
                    functools.partial(_launched, watch, boundary.launched),
                    timeout=TO_STAGED,
                    interval=0.2,
                    description=f"{boundary.launched} created",
                )
                operator.kill(signal.SIGKILL)
            claimed = _claimed(watch)
            # The window was hit: the Job exists and status still names the previous one.
            assert claimed is None or claimed["phase"] != _phase_of(boundary.name), claimed
        injected(boundary.name)
        print(
            f"  killed at {boundary.name}: phase {watch.phase()}, status claims {_claimed(watch)}"
        )
        operator.start()
    watch.wait_phase("Staged", timeout=TO_STAGED)
    audit = assert_nothing_lost(watch, object_store)
    gates = cluster.kubectl("get", "promotiongates", "-n", namespace, "-o", "name").stdout.split()
    assert gates == [f"promotiongate.modelsmith.io/{RUN}"]
    assert audit.status["gateName"] == RUN
    # The gate carries the digest of the one bundle stored, whichever restart staged it.
    gate = json.loads(
        cluster.kubectl("get", "promotiongate", RUN, "-n", namespace, "-o", "json").stdout
    )
    store = gate["spec"]["store"]  # the gate finds its evidence by its own spec
    key = f"{store.get('prefix', '')}runs/{namespace}/{RUN}-{store['runKey']}/evidence/bundle.json"
    bundle = object_store.client().get_object(Bucket=store["bucket"], Key=key)["Body"].read()
    assert gate["spec"]["evidence"]["digest"] == "sha256:" + hashlib.sha256(bundle).hexdigest()
    survived(*(b.name for b in BOUNDARIES))


def _phase_of(boundary: str) -> str:
    return boundary.removeprefix("SIGKILL: ").split()[0]


# ----- the object store down while a candidate is assessed ----------------------------------


def test_object_store_outage_blocks_then_resumes(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    fault = "object store down during Assessing"
    watch = RunWatch(cluster, namespace)
    apply_quickstart(cluster, object_store, namespace, base_model)
    wait_for(
        lambda: watch.phase() == "Assessing",
        timeout=TO_STAGED,
        interval=0.5,
        description="run Assessing",
    )
    injected(fault)
    # Moto keeps objects in memory only: what the store holds is put aside, with the operator
    # frozen so that nothing is written between the copy and the outage.
    with frozen(operator):
        held = object_store.objects()
        object_store.stop()
        assert not object_store.healthy()
    try:
        status = watch.wait_phase("Blocked", timeout=180)
        assert status["blockedBy"]["kind"] == "infrastructure"
        assert status["blockedBy"]["reason"] == "ObjectStoreUnavailable"
        assert "object store" in status["blockedBy"]["message"]
        blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
        assert blocked["status"] == "True" and blocked["reason"] == "ObjectStoreUnavailable"
    finally:
        object_store.restart(held)  # same port, so every client's endpoint still holds
    wait_for(
        lambda: watch.phase() not in ("Blocked", None),
        timeout=300,
        interval=1,
        description="run resumed once the object store is back",
    )
    watch.wait_phase("Staged", timeout=TO_STAGED)
    audit = assert_nothing_lost(watch, object_store)
    reasons = [(e["to"], e["reason"]) for e in audit.ledger if e["kind"] == "transition"]
    assert ("Blocked", "ObjectStoreUnavailable") in reasons
    assert operator.proc is not None and operator.proc.poll() is None
    survived(fault)


# ----- the API server restarted mid-run -----------------------------------------------------


def test_api_server_restart_mid_training_is_ridden_out(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    fault = "API server restart mid-Training"
    quickstart_training(cluster, object_store, namespace, base_model)
    assert operator.proc is not None
    pid = operator.proc.pid
    injected(fault)
    cluster.restart_apiserver(down_seconds=3)
    watch = RunWatch(cluster, namespace)  # a fresh connection pool
    watch.wait_phase("Staged", timeout=TO_STAGED)
    # The same process carried on: kopf re-established its watches, nobody restarted it.
    assert operator.proc.pid == pid and operator.proc.poll() is None
    assert_nothing_lost(watch, object_store)
    survived(fault)


# ----- a pod deleted under its Job ----------------------------------------------------------


def test_deleted_training_pod_is_replaced_and_the_run_continues(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    fault = "training pod deleted"
    watch = quickstart_training(
        cluster, object_store, namespace, base_model, target={"backoffLimit": 1}
    )
    job = watch.job_name("i1-train-a1")
    (victim,) = [p["metadata"]["name"] for p in watch.pods(f"job-name={job}")]
    injected(fault)
    cluster.kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")
    wait_for(
        lambda: [p for p in watch.pods(f"job-name={job}") if p["metadata"]["name"] != victim],
        timeout=120,
        interval=0.5,
        description="the Job controller's replacement pod",
    )
    watch.wait_phase("Staged", timeout=TO_STAGED)
    trained = next(j for j in watch.jobs() if j["metadata"]["name"] == job)
    assert trained["status"].get("failed", 0) >= 1, trained["status"]
    assert trained["status"].get("succeeded") == 1, trained["status"]
    audit = assert_nothing_lost(watch, object_store)
    # The Job's own retry absorbed it: the run spent none of its attempts.
    assert watch.job_name("i1-train-a2") not in audit.jobs
    survived(fault)


def test_killed_training_pod_resumes_from_its_checkpoint(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    fault = "training pod killed after a checkpoint"
    # 100 steps finish in ~5 s on quiet cores, before the kill lands: 300 keep it in training.
    steps, every = 300, 20
    watch = quickstart_training(
        cluster,
        object_store,
        namespace,
        base_model,
        target={"backoffLimit": 1},
        run={"recipe": {"steps": steps, "checkpointEverySteps": every}},
        checkpoint=True,
    )
    job = watch.job_name("i1-train-a1")
    (victim,) = [p["metadata"]["name"] for p in watch.pods(f"job-name={job}")]
    injected(fault)
    cluster.kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")
    status = wait_for(
        lambda: (s := watch.status()).get("phase") != "Training" and s,
        timeout=TO_STAGED,
        interval=0.5,
        description="training finished",
    )
    assert status["phase"] == "Assessing", status.get("lastTransition")
    trained = next(j for j in watch.jobs() if j["metadata"]["name"] == job)
    assert trained["status"].get("failed", 0) >= 1, trained["status"]
    assert trained["status"].get("succeeded") == 1, trained["status"]

    # The replacement pod continued from a checkpoint; the Job's own retry absorbed the kill.
    assert_resumed_from_checkpoint(watch, object_store, status, steps, every)
    survived(fault)


# ----- the node going NotReady --------------------------------------------------------------


def test_node_not_ready_shows_in_capacity_then_the_run_proceeds(
    operator: OperatorProcess,
    node_control: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    fault = "node NotReady (heartbeats stop)"
    cluster = node_control
    watch = RunWatch(cluster, namespace)
    # The node goes NotReady before the run's first Job: once training ran, how long it takes
    # against the node-lifecycle controller's grace decided whether the assessment was placed.
    injected(fault)
    cluster.set_heartbeats(False, wait=True)
    apply_quickstart(cluster, object_store, namespace, base_model)
    status = wait_for(
        lambda: (s := watch.status()).get("capacity", {}).get("state") == "Unschedulable" and s,
        timeout=TO_STAGED,
        interval=1,
        description="capacity Unschedulable",
    )
    capacity = status["capacity"]
    assert "NotReady" in capacity["reason"], capacity
    status = watch.wait_phase("Blocked", timeout=120)
    assert status["blockedBy"]["kind"] == "infrastructure"
    assert status["blockedBy"]["reason"] == "Unschedulable"
    # An outage, not a configuration gap: no advice to tolerate the lifecycle controller's taint.
    assert "NotReady or unreachable" in status["blockedBy"]["message"], status["blockedBy"]
    assert status["nextAction"].startswith("Bring the NotReady nodes back"), status["nextAction"]
    cluster.set_heartbeats(True, wait=True)
    wait_for(
        lambda: (
            watch.status().get("capacity", {}).get("state") == "Scheduled"
            or watch.phase() in ("PromotionStaging", "Staged", "Training")
        ),
        timeout=300,
        interval=1,
        description="capacity back once the node is Ready",
    )
    watch.wait_phase("Staged", timeout=TO_STAGED)
    audit = assert_nothing_lost(watch, object_store)
    reasons = [(e["to"], e["reason"]) for e in audit.ledger if e["kind"] == "transition"]
    assert ("Blocked", "Unschedulable") in reasons
    survived(fault)


# ----- two replicas with peering ------------------------------------------------------------


class BothActedError(AssertionError):
    """A paused replica went on reconciling while its peer was active."""


_PAUSED = re.compile(r"^(\S+ \S+),\d+ .*Pausing operations in favour of", re.MULTILINE)


def _paused_at(replica: OperatorProcess) -> datetime | None:
    found = _PAUSED.findall(replica.log_path.read_text(errors="replace"))
    return datetime.fromisoformat(found[-1]) if found else None


@pytest.fixture
def standalone_stopped(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The session's standalone operator out of the way (it ignores peering), back after."""
    operator.stop()
    try:
        yield operator
    finally:
        operator.start()


def test_two_peered_replicas_never_both_act(
    standalone_stopped: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    takeover, failover = "peering: a second replica takes over", "peering: the survivor resumes"
    install_peering(cluster)
    env = dict(standalone_stopped.env)
    # Fixed priorities make the order certain: b outranks a, as a newer replica's random
    # priority may outrank the running one's.
    a = OperatorProcess(
        cluster.log_dir,
        env,
        name=f"replica-a-{namespace}",
        extra_args=["--peering", "modelsmith", "--priority", "100"],
    ).start()
    b = OperatorProcess(
        cluster.log_dir,
        env,
        name=f"replica-b-{namespace}",
        extra_args=["--peering", "modelsmith", "--priority", "200"],
    )
    violations: list[str] = []
    try:
        watch = quickstart_training(cluster, object_store, namespace, base_model)
        injected(takeover, failover)
        b.start()
        wait_for(lambda: _paused_at(a), timeout=60, interval=0.5, description="a pauses for b")
        # In-flight work of a finishes; after that a must stay idle while b drives the run.
        settle = time.monotonic() + 3
        wait_for(lambda: time.monotonic() >= settle, timeout=10, description="a settles")
        before = reconciles(a)
        progressed = reconciles(b)
        wait_for(
            lambda: reconciles(b) > progressed + 5,
            timeout=120,
            interval=1,
            description="b reconciles the run",
        )
        if reconciles(a) != before:
            violations.append(
                f"paused replica a ran {reconciles(a) - before:.0f} reconciles while b was active"
            )
        # b dies without a goodbye: a resumes once b's keep-alive lapses (60 s).
        b.kill(signal.SIGKILL)
        wait_for(
            lambda: "Resuming operations" in a.log_tail(200),
            timeout=180,
            interval=1,
            description="a resumes after b is gone",
        )
        watch.wait_phase("Staged", timeout=TO_STAGED)
        assert_nothing_lost(watch, object_store)
        if not violations:
            survived(takeover, failover)
        else:
            survived(failover)
    finally:
        b.stop()
        a.stop()
    if violations:
        print("  " + "; ".join(violations))
        raise BothActedError("; ".join(violations))

