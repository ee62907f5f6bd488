"""Which Job, pod and intake events wake a run, and when, and when the watched pods of a
finished Job are complete (no cluster needed)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from modelsmith.api import samples
from modelsmith.api.intake import ModelIntake
from modelsmith.controllers.run.capacity import capacity_status
from modelsmith.controllers.run.observe import (
    every_counted_pod_seen,
    job_event_matters,
    pod_event_matters,
)
from modelsmith.controllers.run.target import Placement
from modelsmith.handlers import gate, run
from modelsmith.loop import JobObservation, JobState
from modelsmith.runtime.conditions import ready_news
from modelsmith.runtime.core import Runtime

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

STARTED = {"active": 1, "startTime": "t0"}
CRITERIA_MET = {"type": "SuccessCriteriaMet", "status": "True"}
FAILURE_TARGET = {"type": "FailureTarget", "status": "True"}
COMPLETE = {
    "conditions": [CRITERIA_MET, {"type": "Complete", "status": "True"}],
    "startTime": "t0",
    "completionTime": "t1",
}
PENDING_UNSCHEDULABLE = {
    "phase": "Pending",
    "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1"}
    ],
}
SCHEDULED = {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "t1"}],
}
CREATING = {
    **SCHEDULED,
    "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}],
}
PULL_BACKOFF = {
    **SCHEDULED,
    "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff"}}}],
}
RUNNING = {
    **SCHEDULED,
    "phase": "Running",
    "containerStatuses": [{"state": {"running": {}}}],
}


@pytest.mark.parametrize(
    ("type_", "before", "status", "wakes"),
    [
        ("ADDED", None, {}, False),  # just created by the reconcile that launched it
        ("MODIFIED", {}, STARTED, True),
        ("MODIFIED", STARTED, {**STARTED, "ready": 1}, False),  # its pods' events carry it
        ("MODIFIED", STARTED, COMPLETE, True),
        # The controller's second mark of the same verdict.
        ("MODIFIED", {**STARTED, "conditions": [CRITERIA_MET]}, COMPLETE, False),
        ("MODIFIED", STARTED, {**STARTED, "conditions": [FAILURE_TARGET]}, True),
        ("DELETED", COMPLETE, COMPLETE, True),
        (None, None, {}, True),  # the listing after a restart: not seen before
        (None, COMPLETE, COMPLETE, False),  # a relisting that shows nothing new
        ("ADDED", None, {"active": 1}, True),  # seen first already started
    ],
)
def test_job_events(
    type_: str | None, before: dict[str, Any] | None, status: dict[str, Any], wakes: bool
) -> None:
    assert job_event_matters(type_, before, status) is wakes


@pytest.mark.parametrize(
    ("type_", "before", "status", "wakes"),
    [
        ("ADDED", None, {"phase": "Pending"}, False),
        ("MODIFIED", {"phase": "Pending"}, PENDING_UNSCHEDULABLE, True),
        ("MODIFIED", PENDING_UNSCHEDULABLE, PENDING_UNSCHEDULABLE, False),
        ("MODIFIED", {"phase": "Pending"}, SCHEDULED, True),
        ("MODIFIED", SCHEDULED, CREATING, True),
        ("MODIFIED", CREATING, PULL_BACKOFF, True),
        ("MODIFIED", CREATING, RUNNING, True),
        ("MODIFIED", RUNNING, {**RUNNING, "podIP": "10.0.0.9"}, False),  # nothing a run reads
        ("MODIFIED", RUNNING, {"phase": "Succeeded"}, False),  # the Job's event follows
        ("MODIFIED", RUNNING, {"phase": "Failed"}, False),
        ("DELETED", RUNNING, RUNNING, False),
        (None, None, PENDING_UNSCHEDULABLE, True),  # the listing after a restart
    ],
)
def test_pod_events(
    type_: str | None, before: dict[str, Any] | None, status: dict[str, Any], wakes: bool
) -> None:
    assert pod_event_matters(type_, before, status) is wakes


def _pod(phase: str) -> dict[str, Any]:
    return {"metadata": {"name": phase}, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("pods", "job_status", "seen"),
    [
        ([_pod("Succeeded")], {"succeeded": 1}, True),
        ([_pod("Running")], {"succeeded": 1}, False),  # the pod's last event not here yet
        ([_pod("Failed")], {"failed": 2}, False),  # a retried Job: its last pod is missing
        ([_pod("Failed"), _pod("Failed")], {"failed": 2}, True),
        ([], {}, False),
        # The controller's first verdict mark: the pod is still being counted.
        ([_pod("Succeeded")], {"uncountedTerminatedPods": {"succeeded": ["u1"]}}, True),
        ([_pod("Running")], {"uncountedTerminatedPods": {"succeeded": ["u1"]}}, False),
        ([_pod("Failed")], {"failed": 1, "uncountedTerminatedPods": {"failed": ["u2"]}}, False),
    ],
)
def test_a_finished_jobs_pods_are_trusted_from_the_watch_only_when_all_are_there(
    pods: list[dict[str, Any]], job_status: dict[str, Any], seen: bool
) -> None:
    assert every_counted_pod_seen(pods, job_status) is seen


class _Recorder:
    """Stands in for the reconciler's queue: what was asked of it, and when for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[str, str, str], float]] = []

    def reconcile(self, plural: str, namespace: str, name: str, version: str | None = None) -> None:
        self.asked.append(("now", (plural, namespace, name), 0.0))

    def forget(self, key: tuple[str, str, str]) -> None:
        self.asked.append(("forget", key, 0.0))

    def requeue(self, key: tuple[str, str, str], after: float) -> None:
        self.asked.append(("later", key, after))


def _child(status: dict[str, Any]) -> dict[str, Any]:
    labels = {"modelsmith.io/run": "r", "modelsmith.io/run-namespace": "team"}
    return {
        "metadata": {"name": "r-i0-eval-a1", "namespace": "gpu", "labels": labels},
        "status": status,
    }


def test_a_job_on_its_way_reconciles_its_run_after_a_delay_and_a_verdict_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = _Recorder()
    rt = Runtime()
    monkeypatch.setattr(rt, "queue", queue)
    key = ("iterationruns", "team", "r")
    later = ("later", key, run.JOB_PROGRESS_DELAY_SECONDS)
    assert run.JOB_PROGRESS_DELAY_SECONDS > 0
    run.on_job_event(rt, "MODIFIED", _child({}), _child(STARTED))
    run.on_pod_event(rt, "MODIFIED", _child(SCHEDULED), _child(RUNNING))
    assert queue.asked == [later, later]
    run.on_job_event(rt, "MODIFIED", _child(STARTED), _child(COMPLETE))
    run.on_job_event(rt, "DELETED", _child(COMPLETE), _child(COMPLETE))
    # First seen (after a restart): what it shows may be a verdict.
    run.on_job_event(rt, None, None, _child(STARTED))
    assert queue.asked[2:] == [("now", key, 0.0)] * 3
    # Nothing new for the run: nothing asked.
    run.on_pod_event(rt, "MODIFIED", _child(RUNNING), _child(RUNNING))
    run.on_job_event(rt, "MODIFIED", _child(COMPLETE), _child(COMPLETE))
    assert len(queue.asked) == 5


def test_a_gate_wakes_its_run_when_it_is_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A staged run reads its gate only every few minutes on its own: the gate's events bring
    its reconcile forward (the gate's reconcile wakes the run when it changes), its deletion
    too."""
    queue = _Recorder()
    rt = Runtime()
    monkeypatch.setattr(rt, "queue", queue)
    body = samples.gate()
    meta, spec = body["metadata"], body["spec"]
    namespace, name = meta["namespace"], meta["name"]
    memo = SimpleNamespace(runtime=rt)  # what kopf hands every handler (modelsmith.operator)
    events = {"namespace": namespace, "name": name, "meta": meta, "spec": spec, "memo": memo}
    asyncio.run(gate.on_gate_event(type="MODIFIED", **events))
    assert queue.asked == [("now", ("promotiongates", namespace, name), 0.0)]
    asyncio.run(gate.on_gate_event(type="DELETED", **events))
    assert queue.asked[1:] == [
        ("forget", ("promotiongates", namespace, name), 0.0),
        ("later", ("iterationruns", namespace, spec["runRef"]["name"]), 0),
    ]


def _intake_status(ready: str, reason: str, generation: int, message: str = "") -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
    }


def test_an_intake_or_benchmark_wakes_dependents_only_with_news_for_them() -> None:
    waiting = _intake_status("False", "BenchmarkResolvedFailed", 1, "validating")
    ready = _intake_status("True", "Validated", 1)
    # First status, readiness either way, a new spec: the runs act on each.
    assert ready_news({}, waiting)
    assert ready_news(waiting, ready)
    assert ready_news(ready, _intake_status("False", "BaseModelFailed", 1))
    assert ready_news(ready, _intake_status("True", "Validated", 2))
    # A new message under the same verdict, or nothing new: the runs decide the same.
    assert not ready_news(waiting, _intake_status("False", "BenchmarkResolvedFailed", 1, "x"))
    assert not ready_news(ready, ready)


def test_a_job_being_launched_shows_pending_capacity() -> None:
    intake = Placement.of(
        ModelIntake.model_validate(samples.intake(name="i", namespace="n")), None
    )
    finished = JobObservation(name="run-i0-eval-a1", state=JobState.SUCCEEDED)
    scheduled = {"state": "Scheduled", "reason": ""}
    # The previous Job's verdict is not the new Job's: it waits for its pod.
    launched = capacity_status(intake, finished, scheduled, launching=True)
    assert launched is not None and launched["state"] == "Pending"
    # Its first pod event (still pending) then changes nothing: no status write for it.
    pending = JobObservation(name="run-i1-train-a1", state=JobState.PENDING)
    assert capacity_status(intake, pending, launched) == launched
    scheduled_now = capacity_status(intake, finished, launched)
    assert scheduled_now is not None and scheduled_now["state"] == "Scheduled"
    assert capacity_status(intake, None, scheduled_now) == scheduled_now
