"""A training attempt that continued from a checkpoint: what its termination message says, what
the ledger records, and that the Jobs' store credential may write the checkpoints."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from loop_sim import Sim, config

from modelsmith.contract.layout import RunLayout
from modelsmith.loop import LedgerKind, Phase, Reason, resumed_from_step, step_number
from modelsmith.storepolicy import JOB_OUTPUTS, OPERATOR_ONLY


def sim_in_training() -> Sim:
    sim = Sim(cfg=config())
    sim.baseline({"b-01", "b-02", "b-03"})
    assert sim.state.phase is Phase.TRAINING
    return sim


def test_a_resumed_training_is_recorded_in_the_ledger_before_the_assessment() -> None:
    sim = sim_in_training()
    d = sim.finish_job(resumed_from_step=50)
    assert (d.phase, d.reason) == (Phase.ASSESSING, Reason.TRAINING_COMPLETED)
    resumed, transition = d.ledger_entries[:2]
    assert (resumed.kind, resumed.reason) == (LedgerKind.DECISION, Reason.TRAINING_RESUMED)
    assert (resumed.iteration, resumed.attempt) == (1, 1)
    assert resumed.message == (
        "Training of iteration 1 (attempt 1) continued from its checkpoint at step 50 of 100 "
        "instead of starting over."
    )
    assert transition.reason is Reason.TRAINING_COMPLETED


def test_an_uninterrupted_training_records_no_resume() -> None:
    sim = sim_in_training()
    d = sim.finish_job()
    assert Reason.TRAINING_RESUMED not in {e.reason for e in d.ledger_entries}


def test_the_step_is_read_from_the_termination_message_details_only_when_it_is_one() -> None:
    def terminated(details: object) -> dict[str, str]:
        return {"message": json.dumps({"status": "succeeded", "details": details})}

    assert resumed_from_step(terminated({"resumed_from_step": 40})) == 40
    for details in ({"resumed_from_step": None}, {"resumed_from_step": 0}, {}, ["x"]):
        assert resumed_from_step(terminated(details)) is None
    assert resumed_from_step(terminated({"resumed_from_step": True})) is None
    assert resumed_from_step({"message": "not json"}) is None
    assert resumed_from_step(None) is None
    assert [step_number(v) for v in (3, -1, 2.5, "4", True)] == [3, None, None, None, None]


def test_checkpoints_lie_where_the_jobs_may_write_and_never_on_records() -> None:
    layout = RunLayout("bucket", "team-a", "demo", "0a1b2c3d", "teams/ml/")
    key = layout.checkpoint(2).removeprefix("s3://bucket/") + "step-000050/manifest.json"
    below_target = key.removeprefix("teams/ml/")
    assert any(fnmatchcase(below_target, pattern) for pattern in JOB_OUTPUTS)
    assert not any(fnmatchcase(below_target, pattern) for pattern in OPERATOR_ONLY)
