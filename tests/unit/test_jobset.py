"""A training step over several nodes: the JobSet rendered around the training Job, what the run
makes of the JobSet and its pods, the trainer's torchrun command, and the intake's check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from job_samples import rendered_job
from loop_sim import Sim, config

from modelsmith import loop
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.controllers.intake.decide import ExecutionSeen, multi_node_check
from modelsmith.controllers.run.job_manifest import KUEUE_QUEUE_LABEL, LABEL_RUN
from modelsmith.controllers.run.jobset_manifest import (
    COMPLETION_INDEX,
    MAX_NAME,
    jobset_name,
    leader_address,
    render_jobset,
    rendezvous_port,
)
from modelsmith.controllers.run.jobset_observe import (
    jobset_event_matters,
    jobset_observation,
    jobset_outcome,
)
from modelsmith.loop.queue import QueueObservation, QueueState
from modelsmith.targets.resolve import Resolved
from modelsmith_trainer import launch

NOW = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
STEP = "r-1a2b3c4d-i1-train-a1"
LEADER = '{"details": {"resumed_from_step": 40}}'


def _target(**overrides: Any) -> ExecutionTargetSpec:
    return ExecutionTargetSpec.model_validate(
        {
            "namespaceSelector": {},
            "serviceAccountName": "runner",
            "trainerImage": "registry.example/trainer:1",
            "evaluatorImage": "registry.example/evaluator:1",
            "maxTrainingNodes": 2,
            "backoffLimit": 2,
            **overrides,
        }
    )


def _jobset(target: ExecutionTargetSpec, gpus: int = 0) -> dict[str, Any]:
    return render_jobset(rendered_job(target, name=STEP, gpu_count=gpus), 2)


def test_the_jobset_runs_the_training_pod_on_every_node() -> None:
    jobset = _jobset(_target(kueueQueue="team-a", cpuRequest="1"), gpus=4)
    meta, spec = jobset["metadata"], jobset["spec"]
    assert meta["name"] == STEP and meta["namespace"] == "ns"
    assert meta["ownerReferences"][0]["uid"] == "uid-1"
    # Kueue admits the JobSet as one Workload: created suspended, the queue label on it only.
    assert meta["labels"][KUEUE_QUEUE_LABEL] == "team-a" and spec["suspend"] is True
    assert spec["failurePolicy"] == {"maxRestarts": 2}
    (replicated,) = spec["replicatedJobs"]
    assert replicated["replicas"] == 1
    assert KUEUE_QUEUE_LABEL not in replicated["template"]["metadata"]["labels"]
    assert replicated["template"]["metadata"]["labels"][LABEL_RUN] == "r"
    child = replicated["template"]["spec"]
    assert (child["parallelism"], child["completions"], child["backoffLimit"]) == (2, 2, 0)
    assert child["completionMode"] == "Indexed"
    pod = child["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == "runner"
    assert container["image"] == "registry.example/trainer:1"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELSMITH_GPU_COUNT"]["value"] == "4"
    assert env["MODELSMITH_NODE_COUNT"]["value"] == "2"
    assert env["MODELSMITH_MASTER_ADDR"]["value"] == f"{STEP}-node-0-0.{STEP}"
    assert env["MODELSMITH_MASTER_PORT"]["value"] == str(rendezvous_port(STEP))
    rank = env["MODELSMITH_NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert rank == f"metadata.annotations['{COMPLETION_INDEX}']"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["key"] == "AWS_ACCESS_KEY_ID"


def test_without_a_queue_the_jobset_starts_at_once() -> None:
    spec = _jobset(_target())["spec"]
    assert "suspend" not in spec


def test_jobset_names_keep_host_names_and_the_service_name_valid() -> None:
    assert jobset_name(STEP) == STEP
    long = "a" * 63
    for step in (long, "1starts-with-a-digit"):
        name = jobset_name(step)
        assert len(name) <= MAX_NAME and name[0].isalpha() and name == jobset_name(step)
        assert len(leader_address(name).split(".")[0]) <= 63
    assert jobset_name(long) != jobset_name("a" * 62)
    assert 29500 <= rendezvous_port(STEP) < 31500


def _pod(index: int, phase: str, terminated: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "startTime": "2026-01-01T12:00:00+00:00"}
    if terminated is not None:
        status["containerStatuses"] = [{"state": {"terminated": terminated}}]
    return {
        "metadata": {
            "name": f"p{index}",
            "creationTimestamp": "2026-01-01T11:59:59Z",
            "annotations": {COMPLETION_INDEX: str(index)},
        },
        "status": status,
    }


def _with_status(status: dict[str, Any]) -> dict[str, Any]:
    return {**_jobset(_target(), gpus=1), "status": status}


def test_a_completed_jobset_reports_what_the_leader_wrote() -> None:
    status = {
        "terminalState": "Completed",
        "conditions": [
            {"type": "Completed", "status": "True", "lastTransitionTime": "2026-01-01T12:00:05Z"}
        ],
    }
    pods = [
        _pod(1, "Succeeded", {"exitCode": 0, "message": ""}),
        _pod(0, "Succeeded", {"exitCode": 0, "message": LEADER}),
    ]
    seen = jobset_observation(STEP, _with_status(status), pods, NOW)
    assert seen.state is loop.JobState.SUCCEEDED
    assert seen.summary is not None and seen.summary.resumed_from_step == 40
    # Two nodes of one GPU each, 5 seconds.
    assert seen.summary.gpu_seconds == 10.0


def test_a_failed_jobset_says_why_and_which_pod_failed() -> None:
    status = {
        "terminalState": "Failed",
        "conditions": [{"type": "Failed", "status": "True", "reason": "ReachedMaxRestarts"}],
    }
    pods = [_pod(0, "Failed", {"exitCode": 1}), _pod(1, "Failed", {"exitCode": 137})]
    seen = jobset_observation(STEP, _with_status(status), pods, NOW)
    assert seen.state is loop.JobState.FAILED and seen.attempts_exhausted
    assert seen.reason == "ReachedMaxRestarts"
    assert seen.exit_code == 137
    bare = jobset_observation(STEP, _with_status({"terminalState": "Failed"}), pods, NOW)
    assert bare.state is loop.JobState.FAILED and bare.reason == "JobSetFailed"


def test_a_failed_pod_with_restarts_left_is_not_the_steps_failure() -> None:
    pods = [_pod(0, "Running"), _pod(1, "Failed", {"exitCode": 1})]
    seen = jobset_observation(STEP, _with_status({"restarts": 1}), pods, NOW)
    assert seen.state is loop.JobState.RUNNING


def test_a_jobset_waits_while_its_pods_cannot_be_placed() -> None:
    pod = _pod(0, "Pending")
    pod["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no"}
    ]
    seen = jobset_observation(STEP, _with_status({}), [pod], NOW)
    assert seen.state is loop.JobState.UNSCHEDULABLE
    assert jobset_observation(STEP, _with_status({}), [], NOW).state is loop.JobState.PENDING


def test_a_jobset_suspended_by_kueue_waits_in_its_queue_without_spending_an_attempt() -> None:
    """Kueue's preemption suspends the JobSet: its pods go and no verdict comes. While they
    stop the step still runs; once they are gone it is Pending, `jobset_read.observe_jobset`
    adds Kueue's verdict on the JobSet's Workload, and the run waits in Training on the same
    attempt (its pods continue from the checkpoint when Kueue admits the JobSet again)."""
    suspended = _with_status(
        {"conditions": [{"type": "Suspended", "status": "True", "reason": "SuspendedJobs"}]}
    )
    stopping = [_pod(0, "Running"), _pod(1, "Running")]
    assert jobset_observation(STEP, suspended, stopping, NOW).state is loop.JobState.RUNNING
    seen = jobset_observation(STEP, suspended, [], NOW)
    assert seen.state is loop.JobState.PENDING and seen.summary is None
    assert not jobset_event_matters("MODIFIED", {}, suspended["status"])

    sim = Sim(cfg=config())
    sim.baseline({"b-01", "b-02", "b-03"})
    assert sim.state.phase is loop.Phase.TRAINING
    preempted = QueueObservation(
        state=QueueState.PREEMPTED, queue="ns/training", why="its quota was taken back"
    )
    step = seen.model_copy(update={"name": sim.job_name, "queue": preempted})
    d = sim.step(sim.observe(job=step))
    assert (d.phase, d.reason) == (loop.Phase.TRAINING, loop.Reason.PREEMPTED)
    assert sim.state.attempt == 1 and not d.launches


def test_after_a_restart_the_newest_leader_says_where_the_training_resumed() -> None:
    """A restart recreates every pod: the failed attempt's leader and the new one both carry
    node rank 0, and what the step reports is the new leader's."""
    old = _pod(0, "Failed", {"exitCode": 137})
    new = _pod(0, "Succeeded", {"exitCode": 0, "message": LEADER})
    new["metadata"].update(name="p0-restarted", creationTimestamp="2026-01-01T12:00:02Z")
    status = {"terminalState": "Completed", "restarts": 1}
    seen = jobset_observation(STEP, _with_status(status), [new, old], NOW)
    assert seen.state is loop.JobState.SUCCEEDED
    assert seen.summary is not None and seen.summary.resumed_from_step == 40


def test_jobset_events_that_matter() -> None:
    assert jobset_outcome({"conditions": [{"type": "Completed", "status": "True"}]})
    assert jobset_outcome({"restarts": 1}) is None
    assert jobset_event_matters("DELETED", {}, {})
    assert not jobset_event_matters("ADDED", None, {})
    assert jobset_event_matters("MODIFIED", {}, {"restarts": 1})
    assert jobset_event_matters("MODIFIED", {}, {"terminalState": "Completed"})
    assert not jobset_event_matters("MODIFIED", {"restarts": 1}, {"restarts": 1, "x": 2})


def test_each_pod_runs_torchrun_across_the_nodes() -> None:
    env = {
        "MODELSMITH_NODE_COUNT": "2",
        "MODELSMITH_NODE_RANK": "1",
        "MODELSMITH_MASTER_ADDR": "leader.js",
        "MODELSMITH_MASTER_PORT": "29501",
    }
    command = launch.launch_command(["--spec-json", "{}"], env)
    assert command is not None
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert "--nnodes=2" in command and "--node-rank=1" in command
    assert "--nproc-per-node=1" in command and "--master-addr=leader.js" in command
    assert command[-4:] == ["--module", "modelsmith_trainer", "--spec-json", "{}"]
    gpus = launch.launch_command([], {**env, "MODELSMITH_GPU_COUNT": "4"})
    assert gpus is not None and "--nproc-per-node=4" in gpus
    # The processes torchrun starts train; they launch nothing.
    assert launch.launch_command([], {**env, "LOCAL_RANK": "0"}) is None


def test_an_intake_training_on_several_nodes_needs_the_jobset_api() -> None:
    target = Resolved("t", _target(multiNodeEngine="JobSet"), 0, None, 2)
    seen = ExecutionSeen("ns", True, True, 0)
    assert multi_node_check(target, seen).ok
    missing = multi_node_check(target, ExecutionSeen("ns", True, True, 0, jobset_served=False))
    assert not missing.ok and "does not serve jobset.x-k8s.io" in missing.message
