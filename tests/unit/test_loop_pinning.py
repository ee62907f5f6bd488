"""A started run's inputs: a missing or changed intake, a missing Benchmark (loop/pinning.py)."""

from __future__ import annotations

from loop_sim import Sim, config, job

from modelsmith.controllers.run.pinning import spec_digest
from modelsmith.loop import (
    BlockKind,
    DeleteJob,
    InputProblem,
    JobState,
    Phase,
    Reason,
    input_problem,
)

PINNED = spec_digest({"benchmarkRef": {"name": "support", "version": "1"}, "owner": "a"})
MISSING = input_problem("intake", PINNED, None, "support", True)
CHANGED = input_problem("intake", PINNED, spec_digest({"owner": "b"}), "support", True)


def _training(grace_minutes: float = 5) -> Sim:
    sim = Sim(cfg=config(input_grace_seconds=grace_minutes * 60))
    sim.baseline({"b-01", "b-02", "b-03"})
    assert sim.state.phase is Phase.TRAINING
    return sim


def test_the_spec_digest_is_canonical_and_the_problems_are_named() -> None:
    assert spec_digest({"a": 1, "b": [1, 2]}) == spec_digest({"b": [1, 2], "a": 1})
    assert spec_digest({"a": 1}) != spec_digest({"a": 2})
    assert input_problem("intake", PINNED, PINNED, "support", True) is None
    assert MISSING is not None and MISSING.reason is Reason.INTAKE_MISSING
    assert "intake" in MISSING.message
    assert CHANGED is not None and CHANGED.reason is Reason.INTAKE_CHANGED
    gone = input_problem("intake", PINNED, PINNED, "support", False)
    assert gone is not None and gone.reason is Reason.BENCHMARK_MISSING
    assert "support" in gone.message


def test_a_deleted_intake_blocks_the_run_and_stops_its_job_after_the_grace() -> None:
    sim = _training(grace_minutes=5)
    name = sim.job_name
    running = job(name, JobState.RUNNING)
    d = sim.step(sim.observe(job=running, input_problem=MISSING))
    assert (d.phase, d.reason) == (Phase.BLOCKED, Reason.INTAKE_MISSING)
    assert d.blocked_by is not None and d.blocked_by.kind is BlockKind.GOVERNANCE
    assert "was deleted" in d.message and "300 s" in d.message
    assert "Apply the ModelIntake again" in d.next_action
    assert not [a for a in d.actions if isinstance(a, DeleteJob)]
    # It looks again when the grace is over, not before.
    assert d.requeue_after_seconds == 300
    d = sim.step(sim.observe(job=running, input_problem=MISSING), minutes=2)
    assert (d.phase, d.transitioned, d.actions) == (Phase.BLOCKED, False, ())
    assert d.requeue_after_seconds == 180
    d = sim.step(sim.observe(job=running, input_problem=MISSING), minutes=3)
    assert [a.name for a in d.actions if isinstance(a, DeleteJob)] == [name]
    assert "its Job was stopped" in d.message
    # Deleted: still blocked, nothing deleted or launched again.
    d = sim.step(sim.observe(job=job(name, JobState.NONE), input_problem=MISSING))
    assert (d.phase, d.actions, d.reason) == (Phase.BLOCKED, (), Reason.INTAKE_MISSING)


def test_an_intake_back_with_the_pinned_spec_resumes_the_stopped_job_as_a_new_attempt() -> None:
    sim = _training(grace_minutes=0)
    name, attempt = sim.job_name, sim.state.attempt
    sim.step(sim.observe(job=job(name, JobState.RUNNING), input_problem=MISSING))
    d = sim.step(sim.observe(job=job(name, JobState.RUNNING), input_problem=MISSING))
    assert [a.name for a in d.actions if isinstance(a, DeleteJob)] == [name]
    d = sim.step(sim.observe(job=job(name, JobState.NONE)))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
    assert [j.attempt for j in d.launches] == [attempt + 1]
    assert d.launches[0].name != name


def test_a_re_created_intake_with_another_spec_keeps_the_run_blocked_as_changed() -> None:
    sim = _training()
    name = sim.job_name
    sim.step(sim.observe(job=job(name, JobState.RUNNING), input_problem=MISSING))
    d = sim.step(sim.observe(job=job(name, JobState.RUNNING), input_problem=CHANGED))
    assert (d.phase, d.reason, d.transitioned) == (Phase.BLOCKED, Reason.INTAKE_CHANGED, False)
    assert d.blocked_by is not None and d.blocked_by.reason is Reason.INTAKE_CHANGED
    assert "another spec" in d.message
    # The intake changed back: the Job still running goes on, nothing launched again.
    d = sim.step(sim.observe(job=job(name, JobState.RUNNING)))
    assert (d.phase, d.reason, d.launches) == (Phase.TRAINING, Reason.RESUMED, ())


def test_a_job_that_finished_while_blocked_is_read_once_the_inputs_are_back() -> None:
    sim = _training(grace_minutes=0)
    name = sim.job_name
    sim.step(sim.observe(job=job(name, JobState.RUNNING), input_problem=MISSING))
    done = job(name, JobState.SUCCEEDED)
    d = sim.step(sim.observe(job=done, input_problem=MISSING))
    assert (d.phase, d.actions) == (Phase.BLOCKED, ())
    assert "finished Job is read" in d.message
    d = sim.step(sim.observe(job=done))
    assert (d.phase, d.launches) == (Phase.TRAINING, ())
    d = sim.finish_job()
    assert d.phase is Phase.ASSESSING


def test_pending_runs_and_gate_phases_are_not_blocked_on_inputs() -> None:
    # Before the start nothing is pinned; the handler reports no problem, and readiness rules.
    sim = Sim()
    problem = InputProblem(reason=Reason.INTAKE_MISSING, message="its ModelIntake x was deleted")
    d = sim.step(sim.observe(input_problem=problem))
    assert d.phase is not Phase.BLOCKED
