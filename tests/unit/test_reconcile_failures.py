"""What a failed reconcile leaves on its object (modelsmith.runtime.failures), from a stored
body to the status patch and the Event (chosen by the status writer from the condition it moved),
and the run loop resuming from such a block."""

from __future__ import annotations

from typing import Any

import pytest
from loop_sim import Sim, observe, succeeded

from modelsmith.controllers.run.state import state_from_status
from modelsmith.loop import Phase, Reason
from modelsmith.runtime import failures
from modelsmith.runtime.cache import Cache
from modelsmith.runtime.errors import classify
from modelsmith.runtime.events import Recorder
from modelsmith.runtime.status import StatusWriter

EVENTS: list[tuple[str, str, str]] = []


class _Recorder(Recorder):
    """Keeps the Events instead of sending them."""

    def emit(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        EVENTS.append((type_, reason, message))


class _Writer(StatusWriter):
    """The real status writer, its merge patch kept instead of sent."""

    def __init__(self) -> None:
        super().__init__(Cache(), lambda *a: None, _Recorder())
        self.written: list[dict[str, Any]] = []

    def write(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        assert resource_version == "7"  # guarded: refused if the object changed since read
        self.written.append(patch)
        return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": "8"}}


@pytest.fixture(autouse=True)
def _events() -> None:
    EVENTS.clear()


def _body(kind: str, status: dict[str, Any] | None) -> dict[str, Any]:
    meta = {"name": "triage", "namespace": "team", "generation": 1, "resourceVersion": "7"}
    return {"kind": kind, "metadata": meta, "status": status or {}}


def _surface(plural: str, body: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    writer = _Writer()
    failure = classify(exc, "the object")
    failures._surface(plural, body, failure, writer.patch)
    patch = writer.written[-1] if writer.written else {}
    body["status"] = _merged(body["status"], patch)
    return patch


def _merged(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for k, v in patch.items():
        out[k] = _merged(old.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def test_an_intake_shows_ready_false_with_the_reason_and_one_event_per_cause() -> None:
    body = _body("ModelIntake", {"conditions": []})
    patch = _surface("modelintakes", body, KeyError("x"))
    (ready,) = patch["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "InternalError")
    assert "Next: " in ready["message"]
    assert _surface("modelintakes", body, KeyError("x")) == {}  # the same cause again
    assert [e[:2] for e in EVENTS] == [("Warning", "InternalError")]
    _surface("modelintakes", body, ConnectionError())
    assert [e[1] for e in EVENTS] == ["InternalError", "ApiUnavailable"]


@pytest.mark.parametrize(
    ("plural", "kind"), [("iterationruns", "IterationRun"), ("promotiongates", "PromotionGate")]
)
def test_the_warning_carries_the_condition_the_writer_moved(plural: str, kind: str) -> None:
    body = _body(kind, {"conditions": []})
    patch = _surface(plural, body, ConnectionError("refused"))
    blocked = next(c for c in patch["conditions"] if c["type"] == "Blocked")
    (event,) = EVENTS
    assert event == ("Warning", blocked["reason"], blocked["message"])
    _surface(plural, body, ConnectionError("refused"))  # a retry with the same cause
    assert len(EVENTS) == 1


def test_a_running_run_is_blocked_where_it_was_and_resumes_from_there() -> None:
    sim = Sim()
    sim.start()
    sim.finish_job(["t1"])  # baseline done: Training
    status = {"phase": "Training", "memory": {}, "conditions": []}
    body = _body("IterationRun", status)
    _surface("iterationruns", body, KeyError("x"))
    stored = body["status"]
    assert stored["phase"] == "Blocked"
    assert stored["blockedBy"]["reason"] == "InternalError"
    assert stored["blockedBy"]["kind"] == "infrastructure"
    assert stored["memory"]["resumePhase"] == "Training"
    assert "lastTransition" not in stored  # no transition of the loop, no ledger entry
    assert {c["type"]: c["status"] for c in stored["conditions"]} == {
        "Blocked": "True",
        "Progressing": "False",
    }
    assert stored["nextAction"].startswith("report it")
    state = state_from_status("triage", "k" * 12, stored | {"iteration": 1})
    before = sim.state
    sim.state = before.model_copy(
        update={
            "phase": state.phase,
            "blocked_by": state.blocked_by,
            "resume_phase": Phase.TRAINING,
        }
    )
    decision = sim.step(observe(job=succeeded(sim.job_name)))
    # Decided as if from Training: the same transition, ledger entries chained from Training.
    assert decision.state.phase is Phase.ASSESSING and decision.state.blocked_by is None
    transitions = [e for e in decision.ledger_entries if e.kind.value == "transition"]
    assert [(e.from_phase, e.to) for e in transitions] == [(Phase.TRAINING, Phase.ASSESSING)]


def test_a_blocked_run_keeps_the_phase_it_resumes_to() -> None:
    body = _body("IterationRun", {"phase": "Assessing", "conditions": []})
    _surface("iterationruns", body, KeyError("x"))
    _surface("iterationruns", body, ConnectionError())
    assert body["status"]["memory"]["resumePhase"] == "Assessing"
    assert body["status"]["blockedBy"]["reason"] == Reason.API_UNAVAILABLE.value


@pytest.mark.parametrize("phase", ["Plateaued", "Failed", "Suspended"])
def test_a_run_at_rest_keeps_its_phase_and_shows_the_error_as_a_condition(phase: str) -> None:
    body = _body("IterationRun", {"phase": phase, "conditions": []})
    patch = _surface("iterationruns", body, KeyError("x"))
    assert "phase" not in patch and "blockedBy" not in patch
    assert patch["conditions"][0]["type"] == "Blocked"


def test_a_gate_shows_blocked() -> None:
    body = _body("PromotionGate", {"conditions": []})
    patch = _surface("promotiongates", body, ConnectionError())
    assert patch["conditions"][0]["type"] == "Blocked"
    assert patch["conditions"][0]["status"] == "True"


def test_failures_in_a_row_count_attempts_and_reset_on_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures.kube, "get_custom", lambda *a: None)
    tracker = failures.Failures()
    key = ("benchmarks", "team", "triage")
    delays = [tracker.failed(key, KeyError("x"), lambda *a: None) for _ in range(3)]
    # The object is gone: no retry asked for, but the attempts are counted.
    assert delays == [None, None, None]
    assert tracker.attempts(key) == 3
    tracker.failed(key, ConnectionError(), lambda *a: None)
    assert tracker.attempts(key) == 1  # a new cause starts again
    tracker.succeeded(key, lambda *a: None)
    assert tracker.attempts(key) == 0


def test_a_block_the_loop_decided_stays_its_own() -> None:
    """Its ledger has the transition into it, and the loop resumes from it by its own rule:
    the error shows beside it, as a condition, and changes neither phase nor blocker."""
    blocked = {"kind": "infrastructure", "reason": "ObjectStoreUnavailable", "message": "down"}
    status = {"phase": "Blocked", "blockedBy": blocked, "memory": {"resumePhase": "Training"}}
    body = _body("IterationRun", status | {"conditions": []})
    patch = _surface("iterationruns", body, KeyError("x"))
    assert "phase" not in patch and "blockedBy" not in patch and "memory" not in patch
    assert patch["conditions"][0]["reason"] == "InternalError"
