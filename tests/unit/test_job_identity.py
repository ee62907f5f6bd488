"""Job identity and the operator's reach: whose Job a name holds, and what the run does when it is
not its own or when the operator may not launch where the run's Jobs run."""

from __future__ import annotations

from typing import Any

from loop_sim import Sim, job, observe

from modelsmith.controllers.run.job_manifest import LABEL_RUN_UID, foreign_job, render_job
from modelsmith.loop import BlockKind, DeleteJob, JobState, Phase, Reason
from modelsmith.loop.decide import REQUEUE_WHILE_WAITING

RUN, NS, UID = "support-run", "team-a", "9f1c-uid"


def _job(namespace: str = NS, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "support-run-0a1b2c3d-i1-train-a1",
        "namespace": namespace,
        "labels": {
            "modelsmith.io/run": RUN,
            "modelsmith.io/run-namespace": NS,
            LABEL_RUN_UID: UID,
            **labels,
        },
    }
    if namespace == NS:
        meta["ownerReferences"] = [
            {"kind": "IterationRun", "name": RUN, "uid": UID, "controller": True}
        ]
    return {"metadata": meta}


def _foreign(job: dict[str, Any]) -> str | None:
    return foreign_job(job, run_name=RUN, run_namespace=NS, run_uid=UID)


def test_the_runs_own_job_is_adopted_in_its_namespace_and_in_another() -> None:
    assert _foreign(_job()) is None
    assert _foreign(_job(namespace="gpu-pool")) is None


def test_what_makes_a_job_foreign() -> None:
    unlabelled = _job()
    del unlabelled["metadata"]["labels"][LABEL_RUN_UID]
    assert "carries no modelsmith.io/run-uid" in str(_foreign(unlabelled))
    assert "names another run" in str(_foreign(_job(**{LABEL_RUN_UID: "other"})))
    assert "name another run" in str(_foreign(_job(**{"modelsmith.io/run": "other"})))
    other_ns = _job(namespace="gpu-pool", **{"modelsmith.io/run-namespace": "team-b"})
    assert "name another run" in str(_foreign(other_ns))
    # In the run's namespace the labels alone are not enough: the run must be its controller.
    orphan = _job()
    orphan["metadata"]["ownerReferences"] = []
    assert "ownerReference" in str(_foreign(orphan))
    stolen = _job()
    stolen["metadata"]["ownerReferences"][0]["uid"] = "another-uid"
    assert "ownerReference" in str(_foreign(stolen))


def test_rendered_jobs_are_the_runs_own() -> None:
    from modelsmith.api.target import ExecutionTargetSpec
    from modelsmith.runtime.settings import OperatorSettings

    manifest = render_job(
        name="support-run-0a1b2c3d-i1-train-a1",
        run_name=RUN,
        run_namespace=NS,
        run_uid=UID,
        kind="train",
        iteration=1,
        attempt=1,
        spec_json="{}",
        target=ExecutionTargetSpec.model_validate(
            {
                "namespaceSelector": {},
                "serviceAccountName": "trainer",
                "trainerImage": "t:1",
                "evaluatorImage": "e:1",
            }
        ),
        gpu_count=1,
        settings=OperatorSettings(),
    )
    assert manifest["metadata"]["labels"][LABEL_RUN_UID] == UID
    assert _foreign(manifest) is None


# --- the loop ---------------------------------------------------------------------------------


def _training() -> Sim:
    sim = Sim()
    sim.baseline({"b-01", "b-02", "b-03"})
    assert sim.state.phase is Phase.TRAINING
    return sim


def test_a_foreign_job_under_the_runs_name_blocks_the_run_and_is_left_alone() -> None:
    sim = _training()
    name = sim.job_name
    why = "its modelsmith.io/run-uid label names another run"
    d = sim.step(sim.observe(job=job(name, JobState.FOREIGN, reason=why)))
    assert (d.phase, d.reason) == (Phase.BLOCKED, Reason.JOB_NAME_TAKEN)
    assert d.blocked_by is not None and d.blocked_by.kind is BlockKind.GOVERNANCE
    assert why in d.message and name not in d.message
    assert not [a for a in d.actions if isinstance(a, DeleteJob)]
    assert d.requeue_after_seconds == REQUEUE_WHILE_WAITING
    # Still there: still blocked, nothing launched or deleted.
    d = sim.step(sim.observe(job=job(name, JobState.FOREIGN, reason=why)))
    assert (d.phase, d.launches, d.transitioned) == (Phase.BLOCKED, (), False)
    # Gone: the run launches the same attempt under its own name.
    d = sim.step(sim.observe(job=job(name, JobState.NONE)))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
    assert [j.name for j in d.launches] == [name]


REFUSED = "the operator may not create Jobs in namespace team-a (no RoleBinding there)"


def test_a_first_launch_the_operator_may_not_make_blocks_the_run() -> None:
    sim = Sim()
    d = sim.step(observe(rbac_refusal=REFUSED))
    assert (d.phase, d.reason, d.launches) == (Phase.BLOCKED, Reason.OPERATOR_NOT_PERMITTED, ())
    assert d.blocked_by is not None and d.blocked_by.kind is BlockKind.GOVERNANCE
    assert REFUSED in d.message
    assert "operator-workloads" in d.next_action
    assert d.requeue_after_seconds == REQUEUE_WHILE_WAITING
    d = sim.step(observe(rbac_refusal=REFUSED))
    assert (d.phase, d.transitioned) == (Phase.BLOCKED, False)
    d = sim.step(observe())
    assert (d.phase, d.reason) == (Phase.PENDING, Reason.RESUMED)
    d = sim.step(observe())
    assert d.phase is Phase.EVALUATING_BASELINE and len(d.launches) == 1


def test_a_later_launch_the_operator_may_not_make_blocks_where_the_run_was() -> None:
    sim = _training()
    trained = job(sim.job_name, JobState.SUCCEEDED)
    d = sim.step(sim.observe(job=trained, rbac_refusal=REFUSED))
    assert (d.phase, d.reason, d.launches) == (Phase.BLOCKED, Reason.OPERATOR_NOT_PERMITTED, ())
    assert d.state.resume_phase is Phase.TRAINING
    d = sim.step(sim.observe(job=trained))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
    d = sim.step(sim.observe(job=trained))
    assert d.phase is Phase.ASSESSING and len(d.launches) == 1
