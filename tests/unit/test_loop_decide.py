"""decide(): the loop's flow, driven by synthetic observations."""

# ruff: noqa: RUF001  (cluster labels join their cells with a multiplication sign)

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from loop_sim import (
    HELDOUT_IDS,
    T0,
    TRAIN_IDS,
    Sim,
    card,
    config,
    failed,
    gate,
    job,
    observe,
    succeeded,
)

from modelsmith.loop import (
    BlockKind,
    DeleteJob,
    GateOutcome,
    IntakeReadiness,
    JobObservation,
    JobState,
    JobSummary,
    LaunchJob,
    LedgerKind,
    Phase,
    Reason,
    RunState,
    StageGate,
    decide,
    nodes_not_ready,
)
from modelsmith.loop.advice import CapacityProblem, capacity_problem
from modelsmith.loop.decide import REQUEUE_WHILE_WAITING
from modelsmith.loop.failures import container_start_wait, contamination_ids
from modelsmith.loop.step import REQUEUE_WHILE_BLOCKED

BASE_PASSING = {"b-01", "b-02", "b-03"}  # 3/9; routing x high fails 4, refunds x critical 2
GPU_FULL = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes."


def sim_in_training(**overrides: object) -> Sim:
    sim = Sim(cfg=config(**overrides))
    sim.baseline(BASE_PASSING)
    assert sim.state.phase is Phase.TRAINING
    return sim


# --- the happy path ---------------------------------------------------------------------------


def test_happy_path_from_pending_to_staged() -> None:
    sim = Sim()

    d = sim.step(observe(intake=IntakeReadiness(ready=False, reason="BenchmarkNotReady")))
    assert (d.phase, d.reason, d.launches) == (Phase.PENDING, Reason.INTAKE_NOT_READY, ())
    assert "BenchmarkNotReady" in d.next_action

    d = sim.start()
    assert (d.phase, d.reason) == (Phase.EVALUATING_BASELINE, Reason.INTAKE_READY)
    assert [(j.name, j.kind, j.model_iteration) for j in d.launches] == [
        ("demo-0a1b2c3d-i0-eval-a1", "eval", None)
    ]
    # The Job's own events wake the run; the requeue is only a safety net.
    assert d.requeue_after_seconds == REQUEUE_WHILE_WAITING
    assert sim.state.started_at == sim.now
    assert sim.state.scores.target == 0.75

    d = sim.step(observe(job=job("demo-0a1b2c3d-i0-eval-a1", JobState.RUNNING)))
    assert (d.phase, d.reason, d.actions) == (Phase.EVALUATING_BASELINE, Reason.JOB_RUNNING, ())

    d = sim.finish_job(BASE_PASSING)
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.BASELINE_EVALUATED)
    assert sim.state.scores.baseline == pytest.approx(3 / 9)
    assert sim.state.scores.previous_accepted == pytest.approx(3 / 9)
    assert sim.state.accepted_iteration == 0
    (train,) = d.launches
    assert (train.name, train.kind, train.init_from_iteration) == (
        "demo-0a1b2c3d-i1-train-a1",
        "train",
        None,
    )
    assert train.weights is not None and set(train.weights) == TRAIN_IDS
    assert {k for k, w in train.weights.items() if w > 1} == {"r-01", "r-02", "r-04"}
    assert d.state.strongest_failure_cluster is not None
    assert d.state.strongest_failure_cluster.label == "capability=routing × risk=high"
    assert [h.decision for h in sim.state.history] == ["Baseline"]

    d = sim.finish_job()
    assert (d.phase, d.reason) == (Phase.ASSESSING, Reason.TRAINING_COMPLETED)
    assert [(j.name, j.model_iteration) for j in d.launches] == [("demo-0a1b2c3d-i1-eval-a1", 1)]

    # Accepted (5/9 > 3/9 + 0.05, no regressions) but held-out 2/3 < 0.75: train on.
    d = sim.finish_job(BASE_PASSING | {"r-01", "r-03"})
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.CANDIDATE_ACCEPTED)
    assert d.verdict is not None and d.verdict.accepted
    assert sim.state.accepted_iteration == 1
    (train,) = d.launches
    assert (train.name, train.init_from_iteration) == ("demo-0a1b2c3d-i2-train-a1", 1)
    assert train.weights is not None
    # routing x high and refunds x critical now fail 2 each: the tie goes to the higher risk.
    assert {k for k, w in train.weights.items() if w > 1} == {"f-01"}

    sim.finish_job()
    d = sim.finish_job(BASE_PASSING | {"r-01", "r-02", "r-03", "r-04", "f-02"})
    assert (d.phase, d.reason) == (Phase.PROMOTION_STAGING, Reason.THRESHOLD_CLEARED)
    (stage,) = [a for a in d.actions if isinstance(a, StageGate)]
    assert (stage.name, stage.iteration, stage.heldout_score) == ("demo", 2, 1.0)
    assert sim.state.gate_name == "demo"
    assert sim.state.history[-1].decision == "Stage"

    d = sim.step(observe(gate=gate(awaiting_role="domain-owner")))
    assert (d.phase, d.reason) == (Phase.STAGED, Reason.GATE_CREATED)
    assert d.next_action == "Approve the PromotionGate demo as domain-owner"

    d = sim.step(observe(gate=gate(GateOutcome.PROMOTED)))
    assert (d.phase, d.reason, d.transitioned) == (Phase.STAGED, Reason.PROMOTED, False)

    phases = [x.phase for x in sim.decisions if x.transitioned]
    assert phases == [
        Phase.EVALUATING_BASELINE,
        Phase.TRAINING,
        Phase.ASSESSING,
        Phase.TRAINING,
        Phase.ASSESSING,
        Phase.PROMOTION_STAGING,
        Phase.STAGED,
    ]
    assert [h.decision for h in sim.state.history] == ["Baseline", "Accept", "Stage"]
    entries = [e for x in sim.decisions for e in x.ledger_entries]
    assert [e.sequence for e in entries] == list(range(len(entries)))
    assert sim.state.ledger_sequence == len(entries)
    assert {e.kind for e in entries} == set(LedgerKind)
    recipes = [e for e in entries if e.kind is LedgerKind.RECIPE]
    assert [e.iteration for e in recipes] == [1, 2]
    assert all(e.weights is not None and not set(e.weights) & HELDOUT_IDS for e in recipes)


def test_messages_carry_no_job_names() -> None:
    sim = sim_in_training()
    sim.finish_job()
    for d in sim.decisions:
        for text in (d.message, d.next_action):
            assert "demo-i" not in text


def test_a_base_that_clears_the_threshold_still_trains_once() -> None:
    sim = Sim()
    d = sim.baseline(TRAIN_IDS | HELDOUT_IDS)
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.BASELINE_EVALUATED)
    assert "already clears the target" in d.message


# --- documented stops -------------------------------------------------------------------------


def test_plateau_after_patience_names_the_strongest_cluster() -> None:
    sim = sim_in_training(plateau_patience=2)
    d = sim.iteration(BASE_PASSING)
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.CANDIDATE_REJECTED)
    assert sim.state.iterations_without_improvement == 1
    # One rejection short of a plateau: the last chance trains a larger adapter from base.
    (train,) = d.launches
    assert train.recipe is not None and (train.recipe.rank, train.recipe.alpha) == (16, 32)
    assert train.init_from_iteration is None

    d = sim.iteration((BASE_PASSING | {"r-01"}) - {"b-01"})
    assert (d.phase, d.reason) == (Phase.PLATEAUED, Reason.PLATEAU)
    assert d.launches == ()
    assert d.requeue_after_seconds is None
    assert d.next_action.startswith(
        "Add training material for capability=routing × risk=high "
        "(4 failing scenarios: r-01, r-02, r-03, r-04)"
    )
    assert "review the rubric of scenarios r-01, r-02, r-04" in d.next_action
    assert "raise adapter rank from 16 to 32" in d.next_action
    assert [h.decision for h in sim.state.history] == ["Baseline", "Reject", "Reject"]
    assert sim.state.regressions == ("b-01",)
    # Final: nothing moves it any more.
    again = sim.step(sim.observe(job=succeeded(sim.job_name)))
    assert (again.phase, again.actions) == (Phase.PLATEAUED, ())


def test_max_iterations_stops_the_run() -> None:
    sim = sim_in_training(max_iterations=1)
    d = sim.iteration(BASE_PASSING | {"r-01"})
    assert d.verdict is not None and d.verdict.accepted
    assert (d.phase, d.reason) == (Phase.STOPPED, Reason.MAX_ITERATIONS_REACHED)
    assert d.launches == ()
    assert d.next_action.startswith("Raise maxIterations")


def test_budget_exhausted_after_an_assessment() -> None:
    sim = sim_in_training(gpu_hour_budget=1.0)
    sim.finish_job(gpu_seconds=3000.0)
    d = sim.finish_job(BASE_PASSING | {"r-01"}, gpu_seconds=600.0)
    assert (d.phase, d.reason) == (Phase.STOPPED, Reason.BUDGET_EXHAUSTED)
    assert d.state.gpu_seconds_used == pytest.approx(60.0 + 3000.0 + 600.0)
    assert "1.02 of 1" in d.next_action


def test_budget_stops_a_retry() -> None:
    sim = sim_in_training(gpu_hour_budget=1.0)
    d = sim.step(sim.observe(job=failed(sim.job_name, 1, summary=JobSummary(gpu_seconds=4000))))
    assert (d.phase, d.reason, d.launches) == (Phase.STOPPED, Reason.BUDGET_EXHAUSTED, ())


def test_deadline_passed_stops_before_the_next_training() -> None:
    sim = sim_in_training(deadline=T0 + timedelta(minutes=30))
    sim.finish_job()
    sim.now = T0 + timedelta(hours=1)
    # The assessment of a trained candidate still runs to its end and is recorded.
    d = sim.finish_job(BASE_PASSING | {"r-01"})
    assert (d.phase, d.reason) == (Phase.STOPPED, Reason.DEADLINE_PASSED)
    assert d.history_entry is not None and d.history_entry.decision == "Accept"


def test_deadline_before_start() -> None:
    sim = Sim(cfg=config(deadline=T0))
    d = sim.start()
    assert (d.phase, d.reason, d.launches) == (Phase.STOPPED, Reason.DEADLINE_PASSED, ())


# --- infrastructure -------------------------------------------------------------------------


def test_unschedulable_blocks_then_resumes_when_scheduled() -> None:
    sim = sim_in_training()
    name = sim.job_name
    d = sim.step(sim.observe(job=job(name, JobState.UNSCHEDULABLE, scheduler_message=GPU_FULL)))
    assert d.phase is Phase.BLOCKED
    assert d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (
        BlockKind.INFRASTRUCTURE,
        Reason.UNSCHEDULABLE,
    )
    assert "no schedulable node has 4 free nvidia.com/gpu" in d.message
    assert "nodes are available" not in d.message
    assert d.next_action == (
        "Free 4 nvidia.com/gpu on a schedulable node or lower executionTargetRef.gpuCount"
    )
    assert d.state.resume_phase is Phase.TRAINING

    d = sim.step(sim.observe(job=job(name, JobState.UNSCHEDULABLE, scheduler_message=GPU_FULL)))
    assert (d.phase, d.transitioned, d.actions) == (Phase.BLOCKED, False, ())

    d = sim.step(sim.observe(job=job(name, JobState.RUNNING)))
    assert (d.phase, d.reason, d.blocked_by, d.launches) == (
        Phase.TRAINING,
        Reason.RESUMED,
        None,
        (),
    )
    d = sim.finish_job()
    assert d.phase is Phase.ASSESSING


@pytest.mark.parametrize(
    ("message", "advice"),
    [
        ("0/2 nodes are available: 2 node(s) had untolerated taint {gpu: true}.", "tolerations"),
        ("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.", "node"),
        ("0/1 nodes are available: 1 Insufficient memory.", "CPU or memory"),
    ],
)
def test_unschedulable_advice_follows_the_scheduler(message: str, advice: str) -> None:
    sim = sim_in_training()
    d = sim.step(
        sim.observe(job=job(sim.job_name, JobState.UNSCHEDULABLE, scheduler_message=message))
    )
    assert advice in d.next_action


# What a v1.34 scheduler says about a NotReady node: the taint is not named.
UNTOLERATED = (
    "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient "
    "nvidia.com/gpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful."
)


@pytest.mark.parametrize(
    ("message", "down", "problem"),
    [
        # Older schedulers name the lifecycle controller's taints.
        (
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/"
            "not-ready: }.",
            0,
            CapacityProblem.NODES_NOT_READY,
        ),
        (
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/"
            "unreachable: }.",
            0,
            CapacityProblem.NODES_NOT_READY,
        ),
        (UNTOLERATED, 1, CapacityProblem.NODES_NOT_READY),
        # With every candidate node Ready, an untolerated taint is a configuration gap.
        (UNTOLERATED, 0, CapacityProblem.ACCELERATORS),
        ("0/2 nodes are available: 2 node(s) had untolerated taint(s).", 0, CapacityProblem.TAINTS),
        # A node that is down but not (yet) tainted is not what keeps the Job out.
        (GPU_FULL, 2, CapacityProblem.ACCELERATORS),
    ],
)
def test_capacity_problem_tells_a_node_outage_from_a_missing_toleration(
    message: str, down: int, problem: CapacityProblem
) -> None:
    assert capacity_problem(message, "nvidia.com/gpu", down) is problem


def test_only_nodes_that_could_run_the_job_count_as_not_ready() -> None:
    # (ready, GPUs in capacity) per node.
    nodes = [(False, 0), (False, 4), (True, 4), (True, 0)]
    assert nodes_not_ready(nodes, gpu_count=2) == 1
    assert nodes_not_ready(nodes, gpu_count=0) == 2
    assert nodes_not_ready([(True, 4)], gpu_count=1) == 0


def test_a_not_ready_node_gets_operational_advice_not_tolerations() -> None:
    sim = sim_in_training()
    observed = job(sim.job_name, JobState.UNSCHEDULABLE, scheduler_message=UNTOLERATED)
    d = sim.step(sim.observe(job=observed.model_copy(update={"nodes_not_ready": 1})))
    assert (d.phase, d.reason, d.blocked_by.kind if d.blocked_by else None) == (
        Phase.BLOCKED,
        Reason.UNSCHEDULABLE,
        BlockKind.INFRASTRUCTURE,
    )
    assert "NotReady or unreachable" in d.message
    assert d.next_action.startswith("Bring the NotReady nodes back")
    assert "executionTarget.tolerations" not in d.next_action
    # The same message with every node Ready is a toleration (here: GPU) question again.
    d = sim.step(sim.observe(job=observed))
    assert "Bring the NotReady nodes back" not in d.next_action


def waiting(sim: Sim, reason: str, scheduled_minutes_ago: float, **kw: object) -> JobObservation:
    """The current Job's pod, scheduled a while before the next step, waiting on `reason`."""
    since = sim.now + timedelta(minutes=1 - scheduled_minutes_ago)  # step() adds one minute
    return job(sim.job_name, JobState.PENDING, waiting_reason=reason, waiting_since=since, **kw)


def test_container_start_wait_counts_only_reasons_that_mean_the_image_never_ran() -> None:
    pod = job("j", JobState.PENDING, waiting_reason="ErrImagePull", waiting_since=T0)
    assert container_start_wait(pod, T0 + timedelta(seconds=30), 120) == 90
    assert container_start_wait(pod, T0 + timedelta(seconds=600), 120) == 0
    creating = pod.model_copy(update={"waiting_reason": "ContainerCreating"})
    assert container_start_wait(creating, T0 + timedelta(hours=6), 120) is None
    assert container_start_wait(job("j", JobState.PENDING), T0, 120) is None


def test_a_pull_failure_within_the_grace_is_waited_for() -> None:
    # ImagePullBackOff can clear up (a registry that was down a moment): no attempt spent yet.
    sim = sim_in_training(container_start_grace_seconds=180)
    name = sim.job_name
    d = sim.step(sim.observe(job=waiting(sim, "ImagePullBackOff", scheduled_minutes_ago=1)))
    assert (d.phase, d.reason, d.actions) == (Phase.TRAINING, Reason.JOB_PENDING, ())
    assert "ImagePullBackOff" in d.message and "180 s" in d.message
    # Looked at again when the grace ends, not only when the pod changes.
    assert d.requeue_after_seconds == 120
    d = sim.step(sim.observe(job=job(name, JobState.RUNNING)))
    assert (d.phase, d.launches) == (Phase.TRAINING, ())


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ErrImagePull", "its image could not be pulled (ErrImagePull)"),
        ("CreateContainerConfigError", "a Secret or ConfigMap its container needs is missing"),
    ],
)
def test_a_container_that_never_starts_is_a_failed_attempt_and_its_job_is_deleted(
    reason: str, words: str
) -> None:
    sim = sim_in_training(max_attempts=2, container_start_grace_seconds=120)
    first, spent = sim.job_name, sim.state.gpu_seconds_used
    stuck = waiting(sim, reason, 3, summary=JobSummary(gpu_seconds=180.0))
    d = sim.step(sim.observe(job=stuck))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.JOB_FAILED_RETRYING)
    assert words in d.message
    # The old Job goes before its successor starts: its pod holds the GPUs until deleted.
    assert d.actions.index(DeleteJob(name=first)) < d.actions.index(d.launches[0])
    assert d.launches[0].name == "demo-0a1b2c3d-i1-train-a2"
    # The GPUs it held while waiting are spent all the same.
    assert d.state.gpu_seconds_used == spent + 180.0

    d = sim.step(sim.observe(job=waiting(sim, reason, 3)))
    assert (d.phase, d.reason) == (Phase.BLOCKED, Reason.RETRY_BUDGET_EXHAUSTED)
    assert d.blocked_by is not None and d.blocked_by.kind is BlockKind.INFRASTRUCTURE
    assert words in d.message
    # Out of attempts, the Job is deleted all the same.
    assert [a for a in d.actions if isinstance(a, DeleteJob)] == [DeleteJob(name=sim.job_name)]
    assert d.launches == ()


def test_a_slow_start_for_other_reasons_is_not_a_failure() -> None:
    sim = sim_in_training(container_start_grace_seconds=60)
    launch = sim.decisions[-1]
    d = sim.step(sim.observe(job=waiting(sim, "ContainerCreating", scheduled_minutes_ago=30)))
    assert (d.phase, d.actions, d.transitioned) == (Phase.TRAINING, (), False)
    # The launch's words stand while its Job waits (status.capacity says Pending): the wait
    # writes no status of its own.
    assert (d.reason, d.message) == (launch.reason, launch.message)


def test_a_retried_job_waiting_to_start_says_so() -> None:
    # A retry launches without a transition: the last transition's words are about another Job.
    sim = sim_in_training(max_attempts=2)
    d = sim.step(sim.observe(job=failed(sim.job_name, attempts_exhausted=True)))
    assert (d.reason, d.launches[0].name) == (
        Reason.JOB_FAILED_RETRYING,
        "demo-0a1b2c3d-i1-train-a2",
    )
    d = sim.step(sim.observe(job=job(sim.job_name, JobState.PENDING)))
    assert (d.phase, d.reason, d.actions) == (Phase.TRAINING, Reason.JOB_PENDING, ())
    assert d.message == "Training of iteration 1 waits to start."


def test_deadline_while_unschedulable_stops_and_deletes_the_waiting_job() -> None:
    sim = sim_in_training(deadline=T0 + timedelta(hours=1))
    name = sim.job_name
    sim.step(sim.observe(job=job(name, JobState.UNSCHEDULABLE, scheduler_message=GPU_FULL)))
    sim.now = T0 + timedelta(hours=2)
    d = sim.step(sim.observe(job=job(name, JobState.UNSCHEDULABLE, scheduler_message=GPU_FULL)))
    assert (d.phase, d.reason) == (Phase.STOPPED, Reason.DEADLINE_PASSED)
    assert [a for a in d.actions if isinstance(a, DeleteJob)] == [DeleteJob(name=name)]


def test_failed_job_retries_then_blocks_on_the_retry_budget() -> None:
    sim = sim_in_training(max_attempts=2)
    first = sim.decisions[-1].launches[0]
    d = sim.step(sim.observe(job=failed(sim.job_name, 1, reason="BackoffLimitExceeded")))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.JOB_FAILED_RETRYING)
    (second,) = d.launches
    assert second.name == "demo-0a1b2c3d-i1-train-a2"
    assert (second.recipe, second.weights) == (first.recipe, first.weights)
    assert "exit code 1" in d.message and "BackoffLimitExceeded" in d.message
    first_entry = d.ledger_entries[0]
    assert (first_entry.kind, first_entry.reason, first_entry.attempt) == (
        LedgerKind.DECISION,
        Reason.JOB_FAILED_RETRYING,
        1,
    )

    d = sim.step(sim.observe(job=failed(sim.job_name, None, reason="OOMKilled")))
    assert d.phase is Phase.BLOCKED
    assert d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (
        BlockKind.INFRASTRUCTURE,
        Reason.RETRY_BUDGET_EXHAUSTED,
    )
    assert "modelsmith.io/retry" in d.next_action
    assert d.launches == ()

    # A retry request relaunches once; the same request seen again does nothing more.
    d = sim.step(sim.observe(job=failed(sim.job_name, 1), retry_request="r1"))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
    assert [j.name for j in d.launches] == ["demo-0a1b2c3d-i1-train-a3"]
    d = sim.step(sim.observe(job=job(sim.job_name, JobState.RUNNING), retry_request="r1"))
    assert (d.phase, d.launches) == (Phase.TRAINING, ())


def test_a_blocked_run_polls_only_what_no_watch_reports() -> None:
    # The retry budget: cleared by a retry request, whose annotation wakes the run by itself.
    # Entering the block waits as staying in it does: a look at once would find the same.
    sim = sim_in_training(max_attempts=1)
    d = sim.step(sim.observe(job=failed(sim.job_name, 1)))
    assert (d.phase, d.transitioned) == (Phase.BLOCKED, True)
    assert d.requeue_after_seconds == REQUEUE_WHILE_BLOCKED
    d = sim.step(sim.observe(job=failed(sim.job_name, 1)))
    assert (d.phase, d.requeue_after_seconds) == (Phase.BLOCKED, REQUEUE_WHILE_BLOCKED)

    # The object store's return is seen by nothing but a look.
    sim = sim_in_training()
    running = job(sim.job_name, JobState.RUNNING)
    d = sim.step(sim.observe(job=running, object_store_reachable=False))
    assert (d.phase, d.requeue_after_seconds) == (Phase.BLOCKED, REQUEUE_WHILE_WAITING)
    d = sim.step(sim.observe(job=running, object_store_reachable=False))
    assert (d.phase, d.requeue_after_seconds) == (Phase.BLOCKED, REQUEUE_WHILE_WAITING)


def test_a_blocked_run_looks_again_at_its_deadline() -> None:
    sim = sim_in_training(max_attempts=1, deadline=T0 + timedelta(minutes=7))
    sim.step(sim.observe(job=failed(sim.job_name, 1)))
    d = sim.step(sim.observe(job=failed(sim.job_name, 1)))
    assert d.phase is Phase.BLOCKED
    until = (T0 + timedelta(minutes=7) - sim.now).total_seconds()
    assert 0 < until < REQUEUE_WHILE_BLOCKED
    assert d.requeue_after_seconds == until
    d = sim.step(sim.observe(job=failed(sim.job_name, 1)), minutes=until / 60)
    assert (d.phase, d.reason) == (Phase.STOPPED, Reason.DEADLINE_PASSED)


def test_a_job_still_retrying_inside_kubernetes_is_waited_for() -> None:
    sim = sim_in_training()
    d = sim.step(sim.observe(job=failed(sim.job_name, 1, attempts_exhausted=False)))
    assert (d.phase, d.reason, d.launches) == (Phase.TRAINING, Reason.JOB_RUNNING, ())


def test_a_lost_job_counts_as_a_failed_attempt() -> None:
    sim = sim_in_training()
    d = sim.step(sim.observe(), minutes=1)
    assert (d.reason, d.launches) == (Reason.AWAITING_JOB, ())
    d = sim.step(sim.observe(), minutes=10)
    assert d.reason is Reason.JOB_FAILED_RETRYING
    assert "disappeared" in d.message
    jobs = [a for a in d.actions if isinstance(a, DeleteJob | LaunchJob)]
    assert jobs == [DeleteJob(name="demo-0a1b2c3d-i1-train-a1"), *d.launches]
    assert [j.name for j in d.launches] == ["demo-0a1b2c3d-i1-train-a2"]


def test_object_store_outage_blocks_and_resumes() -> None:
    sim = sim_in_training()
    d = sim.step(sim.observe(job=job(sim.job_name, JobState.RUNNING), object_store_reachable=False))
    assert d.phase is Phase.BLOCKED and d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (
        BlockKind.INFRASTRUCTURE,
        Reason.OBJECT_STORE_UNAVAILABLE,
    )
    d = sim.step(sim.observe(job=job(sim.job_name, JobState.RUNNING), object_store_reachable=False))
    assert (d.phase, d.transitioned) == (Phase.BLOCKED, False)
    d = sim.step(sim.observe(job=job(sim.job_name, JobState.RUNNING)))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)


def test_object_store_outage_before_start() -> None:
    sim = Sim()
    d = sim.step(observe(object_store_reachable=False))
    assert (d.phase, d.state.resume_phase) == (Phase.BLOCKED, Phase.PENDING)
    d = sim.step(observe())
    assert (d.phase, d.reason) == (Phase.PENDING, Reason.RESUMED)
    assert sim.start().phase is Phase.EVALUATING_BASELINE


# --- quality and inputs ---------------------------------------------------------------------


def test_trainer_contamination_exit_blocks_on_quality() -> None:
    sim = sim_in_training()
    d = sim.step(sim.observe(job=failed(sim.job_name, 6)))
    assert d.phase is Phase.BLOCKED and d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (BlockKind.QUALITY, Reason.CONTAMINATION)
    assert d.launches == ()
    assert "Benchmark" in d.next_action


def test_a_replaced_store_credential_blocks_on_governance_until_a_person_retries() -> None:
    # Exit 9: the Job found keys the operator did not mint. Retrying by itself would let whoever
    # swaps the Secret spend the retry budget unseen.
    sim = sim_in_training(max_attempts=5)
    d = sim.step(sim.observe(job=failed(sim.job_name, 9)))
    assert d.phase is Phase.BLOCKED and d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (
        BlockKind.GOVERNANCE,
        Reason.CREDENTIAL_REPLACED,
    )
    assert d.launches == ()
    assert "not the one the operator minted" in d.message
    assert "security incident" in d.next_action and "modelsmith.io/retry" in d.next_action
    d = sim.step(sim.observe(job=failed(sim.job_name, 9)))
    assert (d.phase, d.transitioned, d.launches) == (Phase.BLOCKED, False, ())

    d = sim.step(sim.observe(job=failed(sim.job_name, 9), retry_request="r1"))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
    assert [j.name for j in d.launches] == ["demo-0a1b2c3d-i1-train-a2"]


def test_contamination_reported_by_a_successful_job_blocks_too() -> None:
    sim = sim_in_training()
    d = sim.finish_job(contaminated=True)
    assert d.blocked_by is not None and d.blocked_by.reason is Reason.CONTAMINATION


def test_a_contamination_block_names_the_heldout_scenarios() -> None:
    sim = sim_in_training()
    summary = JobSummary(overlapping=("ticket-03", "ticket-07"))
    d = sim.step(sim.observe(job=failed(sim.job_name, 6, summary=summary)))
    assert d.blocked_by is not None and d.blocked_by.reason is Reason.CONTAMINATION
    assert "(it reproduces held-out scenarios ticket-03, ticket-07)" in d.message


def test_a_long_contamination_list_is_counted() -> None:
    sim = sim_in_training()
    ids = tuple(f"held-{i:02d}" for i in range(13))
    d = sim.finish_job(contaminated=True, overlapping=ids)
    assert "held-09 and 3 more)" in d.message and "held-10" not in d.message


def test_contamination_ids_come_from_the_termination_message() -> None:
    details = {
        "overlaps": [
            {"scenario_id": "ticket-03", "fraction": 0.8, "part": "prompt"},
            {"scenario_id": "ticket-03", "fraction": 0.6, "part": "reference"},
            {"scenario_id": "Not An Id <script>", "fraction": 1.0, "part": "prompt"},
            {"scenario_id": 7},
            "junk",
            {"scenario_id": "ticket-09", "fraction": 0.5, "part": "prompt"},
        ]
    }
    message = json.dumps({"status": "failed", "exit_code": 6, "details": details})
    assert contamination_ids({"message": message}) == ("ticket-03", "ticket-09")
    for terminated in (None, {}, {"message": "not json"}, {"message": '{"details": []}'}):
        assert contamination_ids(terminated) == ()


@pytest.mark.parametrize(
    ("code", "reason"),
    [(2, Reason.BAD_SPEC), (3, Reason.MODEL_MISSING), (5, Reason.EMPTY_SPLIT)],
)
def test_input_errors_fail_the_run_without_retrying(code: int, reason: Reason) -> None:
    sim = sim_in_training()
    d = sim.step(sim.observe(job=failed(sim.job_name, code)))
    assert (d.phase, d.reason, d.launches) == (Phase.FAILED, reason, ())


def test_an_evaluation_without_a_scorecard_is_retried() -> None:
    sim = Sim()
    sim.start()
    d = sim.step(observe(job=succeeded("demo-0a1b2c3d-i0-eval-a1")))
    assert d.reason is Reason.JOB_FAILED_RETRYING
    assert [j.name for j in d.launches] == ["demo-0a1b2c3d-i0-eval-a2"]


def test_a_missing_accepted_scorecard_waits() -> None:
    sim = sim_in_training()
    sim.finish_job()
    sc = card(1, BASE_PASSING | {"r-01"})
    d = sim.step(observe(job=succeeded(sim.job_name), scorecard=sc))
    assert (d.phase, d.reason, d.launches) == (Phase.ASSESSING, Reason.EVIDENCE_UNAVAILABLE, ())
    d = sim.step(sim.observe(job=succeeded(sim.job_name), scorecard=sc))
    assert d.phase is Phase.TRAINING
    # The Job's GPU time was counted once, on the first sight of its end.
    assert d.state.gpu_seconds_used == pytest.approx(3 * 60.0)


# --- operator on duty -----------------------------------------------------------------------


def test_suspend_and_resume() -> None:
    sim = sim_in_training()
    name = sim.job_name
    d = sim.step(sim.observe(job=job(name, JobState.RUNNING), suspended=True))
    assert (d.phase, d.reason, d.state.resume_phase) == (
        Phase.SUSPENDED,
        Reason.SUSPENDED,
        Phase.TRAINING,
    )
    assert d.next_action == "Set spec.suspend to false to resume"
    # The Job ends while suspended: nothing new starts.
    d = sim.step(sim.observe(job=succeeded(name), suspended=True))
    assert (d.phase, d.launches) == (Phase.SUSPENDED, ())
    d = sim.step(sim.observe(job=succeeded(name)))
    assert (d.phase, d.reason, d.launches) == (Phase.TRAINING, Reason.RESUMED, ())
    d = sim.step(sim.observe(job=succeeded(name)))
    assert d.phase is Phase.ASSESSING and len(d.launches) == 1


def test_suspending_a_blocked_run_remembers_the_block() -> None:
    sim = sim_in_training(max_attempts=1)
    d = sim.step(sim.observe(job=failed(sim.job_name, 1)))
    assert d.reason is Reason.RETRY_BUDGET_EXHAUSTED
    used = d.state.gpu_seconds_used
    spent = JobSummary(gpu_seconds=500.0)
    d = sim.step(sim.observe(job=failed(sim.job_name, 1, summary=spent), suspended=True))
    assert (d.phase, d.blocked_by) == (Phase.SUSPENDED, None)
    sim.step(sim.observe(job=failed(sim.job_name, 1, summary=spent)))
    d = sim.step(sim.observe(job=failed(sim.job_name, 1, summary=spent)))
    assert (d.phase, d.reason, d.launches) == (
        Phase.BLOCKED,
        Reason.RETRY_BUDGET_EXHAUSTED,
        (),
    )
    # Reading the same failed Job again after the resume does not count its GPU time twice.
    assert d.state.gpu_seconds_used == used


def test_rejected_gate_blocks_on_governance_and_recovers() -> None:
    sim = sim_in_training()
    sim.iteration(BASE_PASSING | {"r-01", "r-02", "r-03", "r-04", "f-02"})
    assert sim.state.phase is Phase.PROMOTION_STAGING
    sim.step(observe(gate=gate()))
    d = sim.step(observe(gate=gate(GateOutcome.REJECTED)))
    assert d.phase is Phase.BLOCKED and d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (BlockKind.GOVERNANCE, Reason.GATE_REJECTED)
    assert "PromotionGate demo" in d.next_action
    # Suspending has nothing to pause once staged.
    d = sim.step(observe(gate=gate(GateOutcome.REJECTED), suspended=True))
    assert d.phase is Phase.BLOCKED
    d = sim.step(observe(gate=gate(GateOutcome.PENDING)))
    assert (d.phase, d.reason) == (Phase.STAGED, Reason.RESUMED)


def test_a_staged_run_waits_on_its_gate_for_the_gate_to_wake_it() -> None:
    """The gate's reconcile wakes its run on every change (and on its deletion); the run's own
    look is a safety net, as for a blocked run. Until the gate is seen, it looks sooner."""
    sim = sim_in_training()
    sim.iteration(BASE_PASSING | {"r-01", "r-02", "r-03", "r-04", "f-02"})
    d = sim.step(observe(gate=gate()))
    assert (d.phase, d.requeue_after_seconds) == (Phase.STAGED, 0.0)  # a transition: look again
    for outcome in (GateOutcome.PENDING, GateOutcome.APPROVED, GateOutcome.PROMOTED):
        d = sim.step(observe(gate=gate(outcome)))
        assert (d.phase, d.requeue_after_seconds) == (Phase.STAGED, REQUEUE_WHILE_BLOCKED)
    d = sim.step(observe())
    assert (d.phase, d.reason) == (Phase.STAGED, Reason.GATE_PENDING)
    assert d.requeue_after_seconds == REQUEUE_WHILE_WAITING


def test_a_gate_that_never_appears_is_requested_again() -> None:
    sim = sim_in_training()
    sim.iteration(BASE_PASSING | {"r-01", "r-02", "r-03", "r-04", "f-02"})
    d = sim.step(observe(), minutes=1)
    assert (d.reason, [a for a in d.actions if isinstance(a, StageGate)]) == (
        Reason.AWAITING_GATE,
        [],
    )
    d = sim.step(observe(), minutes=10)
    assert len([a for a in d.actions if isinstance(a, StageGate)]) == 1


# --- idempotence ------------------------------------------------------------------------------


def test_the_same_observation_twice_launches_nothing_twice() -> None:
    sim = Sim()
    first = sim.start()
    again = sim.step(observe())
    assert [j.name for j in first.launches] == ["demo-0a1b2c3d-i0-eval-a1"]
    assert again.launches == ()
    assert (again.phase, again.transitioned) == (Phase.EVALUATING_BASELINE, False)

    sim.finish_job(BASE_PASSING)
    obs = sim.observe(job=succeeded(sim.job_name))
    one = sim.step(obs)
    two = sim.step(obs)
    assert [j.name for j in one.launches] == ["demo-0a1b2c3d-i1-eval-a1"]
    assert two.launches == ()
    names = [j.name for j in sim.launches()]
    assert len(names) == len(set(names))


def test_replaying_a_decision_from_the_old_state_gives_the_same_actions() -> None:
    """After a crash between the actions and the status write, the handler decides again from
    the old state: the same Job names and ledger sequence numbers come out."""
    sim = sim_in_training()
    sim.finish_job()
    obs = sim.observe(job=succeeded(sim.job_name), scorecard=card(1, BASE_PASSING | {"r-01"}))
    before = sim.state
    a = decide(before, obs, sim.cfg, sim.now)
    b = decide(before, obs, sim.cfg, sim.now)
    assert a == b
    assert a.launches[0].name == "demo-0a1b2c3d-i2-train-a1"


def test_decide_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="time zone"):
        decide(RunState(), observe(), config(), T0.replace(tzinfo=None))


def test_launch_actions_are_the_only_jobs_named_in_state() -> None:
    sim = sim_in_training()
    (launch,) = sim.decisions[-1].launches
    assert isinstance(launch, LaunchJob)
    assert sim.state.job is not None
    assert (sim.state.job.name, sim.state.job.attempt) == (launch.name, 1)
