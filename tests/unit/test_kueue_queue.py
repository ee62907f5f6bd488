"""Kueue's Workload -> the run's capacity words and the loop's decision (modelsmith.loop.queue),
on Workload, ClusterQueue and pendingworkloads JSON captured from Kueue v0.17.0 running in the
test bed (hack/kueue_samples.py writes tests/unit/kueue_samples/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from loop_sim import Sim, config, job

from modelsmith.controllers.run.capacity import capacity_status
from modelsmith.controllers.run.target import Placement
from modelsmith.loop import BlockKind, JobState, Phase, Reason
from modelsmith.loop.queue import QueueObservation, QueueState, ahead_of, read_workload

SAMPLES = Path(__file__).parent / "kueue_samples"
GPU = "nvidia.com/gpu"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def verdict(name: str, ahead: int | None = None) -> QueueObservation:
    return read_workload(
        sample(name), cluster_queue=sample("clusterqueue"), ahead=ahead, gpu_resource=GPU
    )


def test_an_admitted_workload_is_admitted_with_its_queue_and_quota() -> None:
    v = verdict("workload-admitted")
    assert (v.state, v.queue, v.cluster_queue, v.quota) == (
        QueueState.ADMITTED, "team-a/gpu", "team-a-gpu", "1 nvidia.com/gpu"
    )


def test_a_workload_waiting_on_quota_says_how_many_are_ahead_and_why() -> None:
    v = verdict("workload-queued-quota", ahead=2)
    assert v.state is QueueState.QUEUED
    assert v.summary() == (
        "queued behind 2 workloads in team-a/gpu; quota 1 nvidia.com/gpu; waiting for "
        "nvidia.com/gpu quota in flavor gpu (1 more needed than is free)"
    )


def test_without_the_visibility_api_the_position_is_left_out() -> None:
    assert verdict("workload-queued-quota").summary().startswith(
        "queued in team-a/gpu; quota 1 nvidia.com/gpu; waiting for nvidia.com/gpu quota"
    )


def test_a_request_over_the_whole_quota_is_inadmissible_not_queued() -> None:
    v = verdict("workload-over-quota")
    assert v.state is QueueState.INADMISSIBLE
    assert v.why == "it asks for 2 nvidia.com/gpu, more than flavor gpu can ever give (1)"


def test_a_missing_local_queue_is_inadmissible_in_words() -> None:
    v = read_workload(
        sample("workload-no-localqueue"), cluster_queue=None, ahead=None, gpu_resource=GPU
    )
    assert v.state is QueueState.INADMISSIBLE
    assert v.summary() == "not admissible in team-a/missing; LocalQueue missing does not exist"


def test_preemption_wins_over_the_admitted_condition_it_still_carries() -> None:
    v = verdict("workload-preempted")
    assert v.state is QueueState.PREEMPTED
    assert "by a higher-priority workload in its ClusterQueue" in v.summary()
    # Kueue's message names the preemptor's UIDs; none of it reaches the words.
    assert "UID" not in v.summary()


def test_the_position_comes_from_the_pending_workloads_list() -> None:
    pending = sample("pendingworkloads")
    assert ahead_of(pending, sample("workload-queued-quota")["metadata"]["name"]) == 2
    assert ahead_of(pending, "not-listed") is None


# --- the loop -----------------------------------------------------------------------------------


def queued_sim() -> Sim:
    sim = Sim(cfg=config())
    sim.start()
    assert sim.state.phase is Phase.EVALUATING_BASELINE
    return sim


def pending(sim: Sim, name: str, ahead: int | None = None) -> Any:
    queue = verdict(name, ahead)
    return sim.observe(job=job(sim.job_name, JobState.PENDING, queue=queue))


def test_a_queued_job_waits_with_kueues_words_and_no_failed_attempt() -> None:
    sim = queued_sim()
    d = sim.step(pending(sim, "workload-queued-quota", ahead=1))
    assert (d.phase, d.reason) == (Phase.EVALUATING_BASELINE, Reason.QUEUED)
    assert "queued behind 1 workload in team-a/gpu; quota 1 nvidia.com/gpu" in d.message
    assert "queued behind 1 workload in team-a/gpu" in d.next_action
    assert sim.state.attempt == 1 and not d.launches


def test_an_inadmissible_queue_blocks_as_infrastructure_and_resumes_once_admitted() -> None:
    sim = queued_sim()
    d = sim.step(pending(sim, "workload-no-localqueue"))
    assert d.phase is Phase.BLOCKED
    assert d.state.blocked_by is not None
    assert d.state.blocked_by.kind is BlockKind.INFRASTRUCTURE
    assert d.reason is Reason.QUEUE_INADMISSIBLE
    assert "LocalQueue missing does not exist" in d.message
    assert "platform admin" in d.next_action
    d = sim.step(pending(sim, "workload-admitted"))
    assert d.phase is Phase.EVALUATING_BASELINE and d.reason is Reason.RESUMED


def test_preemption_is_an_infrastructure_wait_not_a_failed_attempt() -> None:
    sim = queued_sim()
    d = sim.step(pending(sim, "workload-preempted"))
    assert (d.phase, d.reason) == (Phase.EVALUATING_BASELINE, Reason.PREEMPTED)
    assert "does not count as failed" in d.message
    assert sim.state.attempt == 1 and not d.launches and sim.state.blocked_by is None


@pytest.mark.parametrize(
    ("name", "state"),
    [("workload-queued-quota", "Queued"), ("workload-no-localqueue", "Inadmissible"),
     ("workload-preempted", "Preempted")],
)
def test_capacity_status_carries_the_queue(name: str, state: str) -> None:
    placement = Placement(gpus=1, resource=GPU)
    queue = verdict(name, ahead=1)
    obs = job("j", JobState.PENDING, queue=queue)
    status = capacity_status(placement, obs, None)
    assert status is not None
    assert status["state"] == state
    assert status["reason"] == queue.summary()
    assert (status["queue"], status["queueQuota"]) == (queue.queue, "1 nvidia.com/gpu")
    assert status["queue"].startswith("team-a/")


def test_a_job_waiting_for_a_node_then_preempted_goes_back_to_the_queue() -> None:
    sim = queued_sim()
    full = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    unschedulable = job(sim.job_name, JobState.UNSCHEDULABLE, scheduler_message=full)
    assert sim.step(sim.observe(job=unschedulable)).reason is Reason.UNSCHEDULABLE
    d = sim.step(pending(sim, "workload-preempted"))
    assert d.reason is Reason.RESUMED
    assert d.message == "The baseline evaluation is back in its Kueue queue."
    d = sim.step(pending(sim, "workload-preempted"))
    assert d.reason is Reason.PREEMPTED and sim.state.attempt == 1
