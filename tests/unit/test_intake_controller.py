"""The ModelIntake controller's pure decisions: checks, status, Events, run wake-ups and
requeue from the intake and what was read for it (no cluster)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modelsmith.api import samples
from modelsmith.api.intake import ModelIntake
from modelsmith.api.target import ExecutionTarget
from modelsmith.chain import EffectiveChain
from modelsmith.controllers.intake.decide import (
    TRANSITIONS,
    BaseModelSeen,
    ExecutionSeen,
    Observed,
    Outcome,
    ServingSeen,
    decide,
)
from modelsmith.runtime.events import Event
from modelsmith.runtime.transitions import announcement
from modelsmith.targets.resolve import Resolved
from modelsmith.targets.rules import Refusal

NS = "team-a"
REQUEUE = 10.0
BUCKET = "modelsmith"
DIGEST = "sha256:" + "b" * 64
POINTER = {"metadata": {"labels": {"modelsmith.io/serving-pointer": "true"}, "annotations": {}}}


def body(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    doc = samples.intake(namespace=NS)
    doc["metadata"]["generation"] = 4
    doc["spec"].update(spec)
    if status is not None:
        doc["status"] = status
    return doc


def bench(ready: str = "True", version: str = "1.0.0", reason: str = "Validated") -> Any:
    conditions = [{"type": "Ready", "status": ready, "reason": reason}]
    return {"spec": {"version": version}, "status": {"digest": DIGEST, "conditions": conditions}}


def all_good(intake: ModelIntake, **changes: Any) -> Observed:
    target = ExecutionTarget.model_validate(samples.execution_target()).spec
    chain = EffectiveChain(intake.spec.promotion.approvers, None, [])
    observed = Observed(
        benchmark=bench(),
        base_model=BaseModelSeen(True),
        target=Resolved(samples.TARGET, target, 0, None),
        execution=ExecutionSeen(NS, True, True, 0),
        chain=chain,
        serving=ServingSeen(NS, True, POINTER),
    )
    return replace(observed, **changes)


def event(old: dict[str, Any], outcome: Outcome) -> Event | None:
    """The Event the status writer records when it writes the outcome's status over `old`."""
    return announcement(old, outcome.status, TRANSITIONS)


def run(doc: dict[str, Any], **changes: Any) -> Outcome:
    intake = ModelIntake.model_validate(doc)
    return decide(intake, NS, doc, all_good(intake, **changes), BUCKET, REQUEUE)


def ready(outcome: Outcome) -> dict[str, Any]:
    return next(c for c in outcome.status["conditions"] if c["type"] == "Ready")


def checks(outcome: Outcome) -> dict[str, tuple[bool, str]]:
    return {c["check"]: (c["ok"], c["message"]) for c in outcome.status["validation"]}


def test_everything_found_validates_and_records_the_benchmark_digest() -> None:
    outcome = run(body())
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == ("True", "Validated")
    assert ready(outcome)["message"] == "all checks passed"
    assert outcome.status["benchmark"] == {
        "name": "support-triage",
        "version": "1.0.0",
        "digest": DIGEST,
    }
    assert outcome.status["executionNamespace"] == NS
    assert outcome.status["servingTarget"] == f"{NS}/support-triage-serving:model"
    assert list(checks(outcome)) == [
        "BenchmarkResolved",
        "BaseModelFound",
        "ExecutionTarget",
        "ExecutionNamespace",
        "ServiceAccount",
        "GpuResource",
        "ObjectStoreBucket",
        "ApproverChain",
        "ServingTarget",
    ]
    assert checks(outcome)["ApproverChain"] == (True, "2 roles: domain-owner, engineering-owner")
    assert outcome.requeue is None
    announced = event({}, outcome)
    assert announced is not None and announced.type == "Normal"
    assert outcome.wake_runs


def test_a_benchmark_not_ready_fails_with_its_reason_and_is_retried() -> None:
    outcome = run(body(), benchmark=bench("False", reason="NoHeldout"))
    assert (ready(outcome)["status"], ready(outcome)["reason"]) == (
        "False",
        "BenchmarkResolvedFailed",
    )
    assert ready(outcome)["message"] == "Benchmark support-triage is not Ready (NoHeldout)"
    assert outcome.status["benchmark"] is None
    assert outcome.requeue == REQUEUE * 2
    announced = event({}, outcome)
    assert announced is not None and announced.type == "Warning"


def test_failures_are_joined_in_check_order() -> None:
    outcome = run(
        body(),
        benchmark=bench(version="2.0.0"),
        base_model=BaseModelSeen(False, "the object store is unreachable"),
    )
    assert ready(outcome)["reason"] == "BenchmarkResolvedFailed"
    assert ready(outcome)["message"] == (
        "Benchmark support-triage is version 2.0.0, not 1.0.0; the object store is unreachable"
    )


def test_a_refused_target_is_the_only_execution_check() -> None:
    refusal = Refusal("NamespaceNotSelected", "modelsmith-cpu does not select team-a")
    target = Resolved(samples.TARGET, None, 0, refusal)
    outcome = run(body(), target=target, execution=None)
    found = checks(outcome)
    assert found["ExecutionTarget"] == (False, refusal.message)
    assert "ExecutionNamespace" not in found and "ObjectStoreBucket" not in found
    assert ready(outcome)["reason"] == "ExecutionTargetFailed"


def test_missing_service_account_and_queue_and_gpus() -> None:
    spec = ExecutionTarget.model_validate(
        samples.execution_target(jobNamespace="jobs", kueueQueue="q", gpuResourceName="x/gpu")
    ).spec
    seen = ExecutionSeen("jobs", True, False, 0, kueue_queue_found=False)
    outcome = run(body(), target=Resolved(samples.TARGET, spec, 2, None), execution=seen)
    found = checks(outcome)
    assert outcome.status["executionNamespace"] == "jobs"
    assert found["ServiceAccount"] == (
        False,
        "service account modelsmith-runner not found (ExecutionTarget modelsmith-cpu)",
    )
    assert found["GpuResource"][0] is False  # reported, not blocking
    assert found["KueueQueue"][0] is False
    assert ready(outcome)["message"].startswith("service account modelsmith-runner not found (")
    assert "Kueue LocalQueue q does not exist in namespace jobs" in ready(outcome)["message"]
    assert "x/gpu" not in ready(outcome)["message"]


def test_base_model_in_another_bucket_than_the_targets_is_refused() -> None:
    doc = body(baseModel={"uri": "s3://elsewhere/models/m/", "label": "m"})
    found = checks(run(doc))
    assert found["ObjectStoreBucket"][0] is False
    assert found["BaseModelFound"] == (True, "m found in the object store")


def test_a_hub_model_is_not_read_and_does_not_block() -> None:
    doc = body(baseModel={"uri": "hf://org/model", "label": "hub"})
    outcome = run(doc, base_model=None)
    assert checks(outcome)["BaseModelFound"][0] is True
    assert ready(outcome)["status"] == "True"


def test_serving_pointer_not_opted_in_is_reported_without_blocking() -> None:
    outcome = run(body(), serving=ServingSeen(NS, True, None))
    assert checks(outcome)["ServingTarget"][0] is False
    assert ready(outcome)["status"] == "True"
    gone = run(body(), serving=ServingSeen("other", False, None))
    assert checks(gone)["ServingTarget"] == (False, "namespace other not found")
    assert ready(gone)["reason"] == "ServingTargetFailed"
    system = run(body(), serving=ServingSeen("kube-system", True, None))
    assert ready(system)["reason"] == "ServingTargetFailed"


def test_a_chain_with_one_principal_in_two_roles_fails() -> None:
    intake = ModelIntake.model_validate(body())
    approvers = intake.spec.promotion.approvers
    doubled = [approvers[0], approvers[1].model_copy(update={"users": ["alice"]})]
    outcome = run(body(), chain=EffectiveChain(doubled, None, []))
    assert ready(outcome)["reason"] == "ApproverChainFailed"
    assert "alice" in ready(outcome)["message"]


def test_same_verdict_again_emits_nothing_and_wakes_no_run() -> None:
    first = run(body())
    again = run(body(first.status))
    assert again.status == first.status
    assert event(first.status, again) is None
    assert not again.wake_runs


def test_a_new_message_under_the_same_reason_is_an_event_but_wakes_no_run() -> None:
    first = run(body(), benchmark=bench("False", reason="Validating"))
    later = run(body(first.status), benchmark=bench("False", reason="NoHeldout"))
    assert ready(later)["reason"] == ready(first)["reason"]
    announced = event(first.status, later)
    assert announced is not None and "NoHeldout" in announced.message
    assert not later.wake_runs
