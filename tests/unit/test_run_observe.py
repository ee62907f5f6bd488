"""What a run makes of its Job, pods, nodes, gate and intake (controllers/run/observe.py), from
API objects as dicts: no cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelsmith.contract.exitcodes import ExitCode
from modelsmith.controllers.run.observe import (
    candidates_not_ready,
    contaminated,
    gate_observation,
    gpu_limits,
    gpu_resource,
    intake_readiness,
    job_observation,
    last_termination,
    requested_gpus,
    waiting,
)
from modelsmith.loop import GateOutcome, JobState

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GPU = "nvidia.com/gpu"
DIGEST = "sha256:" + "ab" * 32


def _job(
    status: dict[str, Any] | None = None, limits: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "resources": {"limits": lim}} for i, lim in enumerate(limits or [{}])
    ]
    return {
        "metadata": {"name": "r-i1-train-a1", "namespace": "gpu"},
        "spec": {"template": {"spec": {"containers": containers}}},
        "status": status or {},
    }


def _pod(
    created: str,
    phase: str = "Pending",
    waiting_reasons: tuple[str, ...] = (),
    init_waiting: tuple[str, ...] = (),
    scheduled_at: str | None = None,
    terminated: dict[str, Any] | None = None,
    unschedulable: str | None = None,
) -> dict[str, Any]:
    conditions = []
    if scheduled_at is not None:
        conditions.append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled_at}
        )
    if unschedulable is not None:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
            }
        )
    containers = [{"state": {"waiting": {"reason": r}}} for r in waiting_reasons]
    if terminated is not None:
        containers.append({"state": {"terminated": terminated}})
    return {
        "metadata": {"name": f"pod-{created}", "creationTimestamp": created},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": containers,
            "initContainerStatuses": [{"state": {"waiting": {"reason": r}}} for r in init_waiting],
        },
    }


T0, T1, T2 = "2026-01-01T11:00:00Z", "2026-01-01T11:10:00Z", "2026-01-01T11:20:00Z"


# --- waiting reasons -----------------------------------------------------------------------------


def test_the_newest_live_pod_waits_with_a_reason_that_says_the_image_never_ran_first() -> None:
    old = _pod(T0, waiting_reasons=("ErrImagePull",))
    new = _pod(T1, waiting_reasons=("ContainerCreating", "CreateContainerConfigError"))
    assert waiting([old, new]) == (
        "CreateContainerConfigError",
        datetime(2026, 1, 1, 11, 10, tzinfo=UTC),
    )


def test_a_waiting_pod_is_dated_from_its_scheduling_else_its_creation() -> None:
    scheduled = _pod(T0, waiting_reasons=("ContainerCreating",), scheduled_at=T2)
    assert waiting([scheduled]) == ("ContainerCreating", datetime(2026, 1, 1, 11, 20, tzinfo=UTC))
    # An init container's wait counts too.
    init = _pod(T0, init_waiting=("ImagePullBackOff",))
    assert waiting([init]) == ("ImagePullBackOff", datetime(2026, 1, 1, 11, 0, tzinfo=UTC))


def test_finished_pods_and_no_pods_wait_for_nothing() -> None:
    assert waiting([]) == (None, None)
    assert waiting([_pod(T0, phase="Failed", waiting_reasons=("ErrImagePull",))]) == (None, None)
    # A live pod with nothing waiting: no reason, still dated.
    assert waiting([_pod(T1, phase="Running")]) == (None, datetime(2026, 1, 1, 11, 10, tzinfo=UTC))


def test_a_pending_job_whose_image_never_ran_counts_its_gpu_time() -> None:
    job = _job({"startTime": "2026-01-01T11:00:00Z"}, [{GPU: "2"}])
    seen = job_observation("j", job, [_pod(T1, waiting_reasons=("ErrImagePull",))], NOW)
    assert seen.state is JobState.PENDING
    assert seen.waiting_reason == "ErrImagePull"
    assert seen.summary is not None and seen.summary.gpu_seconds == 2 * 3600
    creating = job_observation("j", job, [_pod(T1, waiting_reasons=("ContainerCreating",))], NOW)
    assert (creating.state, creating.waiting_reason, creating.summary) == (
        JobState.PENDING,
        "ContainerCreating",
        None,
    )


# --- the Job's verdict and its pods ---------------------------------------------------------


def _finished(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "conditions": [{"type": kind, "status": "True", **extra}],
        "startTime": "2026-01-01T11:00:00Z",
        "completionTime": "2026-01-01T11:30:00Z",
    }


def test_a_succeeded_job_reports_gpu_seconds_and_its_digests() -> None:
    message = json.dumps({"digests": {"scorecard": DIGEST, "bogus": DIGEST, "result": "x"}})
    pod = _pod(T0, phase="Succeeded", terminated={"exitCode": 0, "message": message})
    seen = job_observation("j", _job(_finished("Complete"), [{GPU: "4"}]), [pod], NOW)
    assert seen.state is JobState.SUCCEEDED
    assert seen.summary is not None
    assert seen.summary.gpu_seconds == 4 * 1800
    # Only digests of records the Job reports, and only well-formed ones.
    assert seen.summary.reported == {"scorecard": DIGEST}
    assert not seen.summary.contaminated


def test_a_resumed_training_jobs_checkpoint_step_reaches_its_summary() -> None:
    message = json.dumps({"details": {"resumed_from_step": 150}})
    pod = _pod(T0, phase="Succeeded", terminated={"exitCode": 0, "message": message})
    seen = job_observation("j", _job(_finished("Complete")), [pod], NOW)
    assert seen.summary is not None and seen.summary.resumed_from_step == 150
    fresh = _pod(T0, phase="Succeeded", terminated={"exitCode": 0, "message": "{}"})
    seen = job_observation("j", _job(_finished("Complete")), [fresh], NOW)
    assert seen.summary is not None and seen.summary.resumed_from_step is None


def test_the_first_verdict_mark_decides_and_a_cpu_job_holds_no_gpu_time() -> None:
    seen = job_observation("j", _job(_finished("SuccessCriteriaMet")), [], NOW)
    assert seen.state is JobState.SUCCEEDED
    assert seen.summary is not None and seen.summary.gpu_seconds == 0


def test_a_failed_job_says_why_with_its_exit_code() -> None:
    pod = _pod(T0, phase="Failed", terminated={"exitCode": 3, "reason": "Error"})
    failed = _finished("Failed", reason="BackoffLimitExceeded")
    seen = job_observation("j", _job(failed), [pod], NOW)
    assert (seen.state, seen.exit_code, seen.reason) == (
        JobState.FAILED,
        3,
        "BackoffLimitExceeded",
    )
    # The container's reason says more when the image never ran.
    never = _pod(T0, phase="Failed", terminated={"reason": "StartError"})
    seen = job_observation("j", _job(failed), [never], NOW)
    assert (seen.exit_code, seen.reason) == (None, "StartError")
    # Only the FailureTarget mark yet, and no reason on it: the container's.
    target = _finished("FailureTarget")
    oom = _pod(T0, phase="Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})
    seen = job_observation("j", _job(target), [oom], NOW)
    assert (seen.state, seen.reason) == (JobState.FAILED, "OOMKilled")


def test_an_unschedulable_pod_makes_the_job_unschedulable_with_the_schedulers_words() -> None:
    pods = [_pod(T0, unschedulable="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")]
    seen = job_observation("j", _job({"active": 1}, [{GPU: "1"}]), pods, NOW)
    assert seen.state is JobState.UNSCHEDULABLE
    assert seen.scheduler_message == "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    # Counting NotReady nodes needs a read: left to the reader.
    assert seen.nodes_not_ready == 0


def test_a_running_pod_makes_the_job_running_and_no_pod_leaves_it_pending() -> None:
    running = [_pod(T0, phase="Failed"), _pod(T1, phase="Running")]
    assert job_observation("j", _job({"active": 1}), running, NOW).state is JobState.RUNNING
    empty = job_observation("j", _job({}), [], NOW)
    assert (empty.state, empty.waiting_reason, empty.queue) == (JobState.PENDING, None, None)


def test_the_last_termination_is_the_newest_pods() -> None:
    first = _pod(T1, phase="Failed", terminated={"exitCode": 1})
    second = _pod(T2, phase="Failed", terminated={"exitCode": 6})
    assert last_termination([second, first]) == {"exitCode": 6}
    assert last_termination([_pod(T0, waiting_reasons=("ContainerCreating",))]) is None
    assert last_termination([]) is None


# --- contamination -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terminated", "expected"),
    [
        (None, False),
        ({"exitCode": int(ExitCode.CONTAMINATION)}, True),
        ({"exitCode": 1, "message": json.dumps({"contaminated": True})}, True),
        ({"exitCode": 0, "message": json.dumps({"contaminated": False})}, False),
        ({"exitCode": 1, "message": "not json: contaminated"}, False),
        ({"exitCode": 1, "message": json.dumps(["contaminated"])}, False),
    ],
)
def test_contamination_comes_from_the_exit_code_or_the_termination_message(
    terminated: dict[str, Any] | None, expected: bool
) -> None:
    assert contaminated(terminated) is expected


def test_a_contaminated_jobs_overlapping_ids_reach_its_summary() -> None:
    message = json.dumps(
        {"contaminated": True, "details": {"overlaps": [{"scenario_id": "h-001"}]}}
    )
    pod = _pod(T0, phase="Failed", terminated={"exitCode": 6, "message": message})
    seen = job_observation("j", _job(_finished("Failed")), [pod], NOW)
    assert seen.summary is not None
    assert (seen.summary.contaminated, seen.summary.overlapping) == (True, ("h-001",))


# --- GPUs and nodes ------------------------------------------------------------------------------


def test_gpu_limits_add_up_over_containers_and_ignore_other_resources() -> None:
    limits = [{GPU: "2", "cpu": "4", "memory": "1Gi"}, {GPU: "1"}, {"example.com/fpga": "1"}]
    job = _job(limits=limits)
    assert gpu_limits(job) == {GPU: 3}
    assert requested_gpus(job) == 3
    assert gpu_resource(job) == GPU
    amd = _job(limits=[{"amd.com/gpu": "8"}])
    assert (requested_gpus(amd), gpu_resource(amd)) == (8, "amd.com/gpu")
    cpu = _job(limits=[{"cpu": "1"}])
    assert (gpu_limits(cpu), requested_gpus(cpu), gpu_resource(cpu)) == ({}, 0, GPU)


def _node(ready: str, gpus: str | None = None) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [{"type": "Ready", "status": ready}],
            "capacity": {GPU: gpus} if gpus is not None else {},
        }
    }


def test_only_notready_nodes_that_could_run_the_job_are_counted() -> None:
    nodes = [_node("True", "4"), _node("False", "4"), _node("Unknown", "8"), _node("False")]
    # A GPU Job: the NotReady CPU node says nothing about why it waits.
    assert candidates_not_ready(_job(limits=[{GPU: "1"}]), nodes) == 2
    # A CPU Job: every NotReady node could have run it.
    assert candidates_not_ready(_job(limits=[{}]), nodes) == 3
    assert candidates_not_ready(_job(limits=[{GPU: "1"}]), []) == 0


# --- intake and gate -----------------------------------------------------------------------------


def _intake(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"status": {"conditions": list(conditions)}}


def test_intake_readiness_names_why_not() -> None:
    assert intake_readiness(None).reason == "IntakeNotFound"
    assert intake_readiness({}).reason == "NotValidatedYet"
    assert intake_readiness(_intake({"type": "Ready", "status": "True"})).ready
    refused = intake_readiness(_intake({"type": "Ready", "status": "False", "reason": "BadModel"}))
    assert (refused.ready, refused.reason) == (False, "BadModel")
    unsaid = intake_readiness(_intake({"type": "Ready", "status": "False"}))
    assert unsaid.reason == "NotReady"


def test_gate_observation_reads_state_next_role_and_first_blocker() -> None:
    gate = {
        "status": {
            "state": "Blocked",
            "approvals": [
                {"role": "owner", "decision": "approved"},
                {"role": "risk", "decision": "pending"},
                {"role": "ops", "decision": "pending"},
            ],
            "blockers": [{"reason": "ApprovalExpired"}, {"reason": "Other"}],
        }
    }
    seen = gate_observation("g", gate)
    assert (seen.name, seen.outcome, seen.awaiting_role, seen.blocker_reason) == (
        "g",
        GateOutcome.BLOCKED,
        "risk",
        "ApprovalExpired",
    )
    fresh = gate_observation("g", {})
    assert (fresh.outcome, fresh.awaiting_role, fresh.blocker_reason) == (
        GateOutcome.PENDING,
        None,
        None,
    )
    odd = gate_observation("g", {"status": {"state": "Approved", "blockers": ["text"]}})
    assert (odd.outcome, odd.blocker_reason) == (GateOutcome.APPROVED, None)


def test_a_pending_never_ran_summary_uses_now_when_the_job_has_not_completed() -> None:
    start = NOW - timedelta(minutes=5)
    job = _job({"startTime": start.isoformat()}, [{GPU: "1"}])
    seen = job_observation("j", job, [_pod(T0, waiting_reasons=("InvalidImageName",))], NOW)
    assert seen.summary is not None and seen.summary.gpu_seconds == 300
