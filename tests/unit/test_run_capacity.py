"""What status.capacity says of the run's current Job (controllers/run/capacity.py): the
scheduler's and Kueue's verdicts in operational words, and the GPUs the whole step requests."""

from __future__ import annotations

from typing import Any

import pytest

from modelsmith.controllers.run.capacity import capacity_status
from modelsmith.controllers.run.target import Placement
from modelsmith.loop import JobObservation, JobState, Phase
from modelsmith.loop.queue import QueueObservation, QueueState

GPU = "nvidia.com/gpu"

PLACEMENT = Placement(2, GPU)


def _capacity(job: JobObservation | None, old: Any = None, **kw: Any) -> dict[str, Any]:
    found = capacity_status(PLACEMENT, job, old, **kw)
    assert found is not None
    return found


def test_an_unschedulable_job_is_explained_without_node_names() -> None:
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes"
    job = JobObservation(
        name="j", state=JobState.UNSCHEDULABLE, scheduler_message=message, nodes_not_ready=1
    )
    assert _capacity(job) == {
        "gpusRequested": 2,
        "resourceName": GPU,
        "state": "Unschedulable",
        "reason": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu: no schedulable node "
        "has 2 free nvidia.com/gpu; 1 node(s) that could run it NotReady",
    }
    # A message about something else keeps its first sentence; a dot inside a name stays.
    taint = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/x: }."
    job = JobObservation(name="j", state=JobState.UNSCHEDULABLE, scheduler_message=taint)
    assert _capacity(job)["reason"] == taint.rstrip(".")
    silent = JobObservation(name="j", state=JobState.UNSCHEDULABLE)
    assert _capacity(silent)["reason"] == "no node fits the Job"


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (JobState.PENDING, "Pending"),
        (JobState.RUNNING, "Scheduled"),
        (JobState.SUCCEEDED, "Scheduled"),
        (JobState.FAILED, "Unknown"),
        (JobState.NONE, "Unknown"),
    ],
)
def test_the_jobs_state_becomes_its_capacity_state(state: JobState, shown: str) -> None:
    found = _capacity(JobObservation(name="j", state=state))
    assert (found["state"], found["reason"]) == (shown, "")


def test_a_queued_job_shows_kueues_words_until_admitted_and_not_while_launching() -> None:
    queued = QueueObservation(state=QueueState.QUEUED, queue="team/gpu", ahead=2, quota="2 gpu")
    job = JobObservation(name="j", state=JobState.PENDING, queue=queued)
    found = _capacity(job)
    assert found["state"] == "Queued"
    assert found["reason"] == "queued behind 2 workloads in team/gpu; quota 2 gpu"
    assert (found["queue"], found["queueAhead"], found["queueQuota"]) == ("team/gpu", 2, "2 gpu")
    admitted = queued.model_copy(update={"state": QueueState.ADMITTED})
    found = _capacity(JobObservation(name="j", state=JobState.RUNNING, queue=admitted))
    assert (found["state"], found["queue"]) == ("Scheduled", "team/gpu")
    launching = _capacity(job, launching=True)
    assert launching["state"] == "Pending" and "queue" not in launching


def test_without_a_job_or_a_placement_the_old_capacity_stands() -> None:
    old = {"state": "Scheduled", "reason": ""}
    assert capacity_status(PLACEMENT, None, old) == old
    assert capacity_status(None, None, old) == old
    assert capacity_status(None, None, "junk") is None
    assert _capacity(None)["state"] == "Unknown"


@pytest.mark.parametrize(
    ("phase", "gpus"),
    [(Phase.TRAINING, 6), (Phase.ASSESSING, 2), (Phase.EVALUATING_BASELINE, 2), (None, 2)],
)
def test_a_training_step_over_several_nodes_requests_the_gpus_of_every_node(
    phase: Phase | None, gpus: int
) -> None:
    """Three nodes of two GPUs: the training step's JobSet asks for six, every evaluation Job
    (one pod) for two; the scheduler's verdict names one pod's two, the unit it places."""
    three_nodes = Placement(2, GPU, nodes=3)
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    job = JobObservation(name="j", state=JobState.UNSCHEDULABLE, scheduler_message=message)
    found = capacity_status(three_nodes, job, None, phase=phase)
    assert found is not None and found["gpusRequested"] == gpus
    assert found["reason"].endswith("no schedulable node has 2 free nvidia.com/gpu")
    launching = capacity_status(three_nodes, None, None, launching=True, phase=phase)
    assert launching is not None and launching["gpusRequested"] == gpus
    assert three_nodes.spans(phase) == gpus // 2
