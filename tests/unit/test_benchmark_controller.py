"""The Benchmark controller's pure decisions: status, requeue, Events and intake wake-ups from
the object and the scenarios read for it (no cluster)."""

from __future__ import annotations

from typing import Any

from modelsmith.api import samples
from modelsmith.api.benchmark import Benchmark
from modelsmith.contract.scenario import Scenario
from modelsmith.controllers.benchmark.decide import (
    TRANSITIONS,
    decide,
    source_kind,
    unreadable,
    version_digest,
    wakes_intakes,
)
from modelsmith.runtime.events import Event
from modelsmith.runtime.transitions import announcement

REQUEUE = 10.0


def transition_event(old: dict[str, Any], new: dict[str, Any]) -> Event | None:
    """The Event the status writer records when it writes `new` over `old`."""
    return announcement(old, new, TRANSITIONS)


def inline(count: int = 24) -> Benchmark:
    return Benchmark.model_validate(samples.benchmark(count=count))


def from_configmap() -> Benchmark:
    body = samples.benchmark()
    del body["spec"]["scenarios"]
    body["spec"]["scenariosFrom"] = {"configMapRef": {"name": "scenarios", "key": "all.yaml"}}
    return Benchmark.model_validate(body)


def scenarios_of(benchmark: Benchmark) -> list[Scenario]:
    return list(benchmark.spec.scenarios or [])


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_valid_inline_benchmark_is_ready_and_records_its_first_digest() -> None:
    benchmark = inline()
    outcome = decide(benchmark, {}, 3, scenarios_of(benchmark), REQUEUE)
    status = outcome.status
    assert ready(status)["status"] == "True"
    assert ready(status)["reason"] == "Validated"
    assert ready(status)["observedGeneration"] == 3
    assert status["source"] == "inline"
    assert status["scenarioCount"] == 24
    assert status["heldoutCount"] == 6
    assert status["digest"].startswith("sha256:")
    assert status["versionDigest"] == status["digest"]
    assert outcome.requeue is None  # inline scenarios change only with a new object
    event = transition_event({}, status)
    assert event is not None and (event.type, event.reason) == ("Normal", "Validated")
    assert wakes_intakes({}, status)


def test_a_referenced_document_is_read_again_later() -> None:
    benchmark = from_configmap()
    outcome = decide(benchmark, {}, 1, scenarios_of(inline()), REQUEUE)
    assert outcome.status["source"] == "configMap"
    assert outcome.requeue == REQUEUE * 6


def test_content_changed_under_a_published_version_keeps_the_published_digest() -> None:
    benchmark = inline()
    published = decide(benchmark, {}, 1, scenarios_of(benchmark), REQUEUE).status
    edited = scenarios_of(inline(count=20))
    outcome = decide(benchmark, published, 2, edited, REQUEUE)
    assert ready(outcome.status)["status"] == "False"
    assert ready(outcome.status)["reason"] == "ContentChanged"
    assert outcome.status["digest"] == published["digest"]
    assert outcome.requeue == REQUEUE * 2
    event = transition_event(published, outcome.status)
    assert event is not None and (event.type, event.reason) == ("Warning", "ContentChanged")


def test_no_heldout_scenario_is_invalid_and_publishes_no_version_digest() -> None:
    train_only = [s for s in scenarios_of(inline()) if s.split == "train"]
    outcome = decide(from_configmap(), {}, 1, train_only, REQUEUE)
    assert ready(outcome.status)["reason"] == "NoHeldout"
    assert ready(outcome.status)["status"] == "False"
    assert outcome.status["versionDigest"] is None
    assert outcome.status["heldoutCount"] == 0


def test_unreadable_sources_are_retried_by_kind() -> None:
    missing = unreadable(from_configmap(), {}, 1, "ConfigMap scenarios not found", True, REQUEUE)
    assert ready(missing.status)["reason"] == "SourceNotFound"
    assert ready(missing.status)["message"] == "ConfigMap scenarios not found"
    assert missing.status == {
        "source": "configMap",
        "observedGeneration": 1,
        "conditions": missing.status["conditions"],
    }
    assert missing.requeue == REQUEUE * 2
    invalid = unreadable(from_configmap(), {}, 1, "not a list", False, REQUEUE)
    assert ready(invalid.status)["reason"] == "SourceInvalid"
    assert invalid.requeue == REQUEUE * 12
    assert unreadable(inline(), {}, 1, "bad", False, REQUEUE).requeue is None


def test_an_unchanged_verdict_emits_nothing_and_wakes_no_intake() -> None:
    benchmark = inline()
    first = decide(benchmark, {}, 1, scenarios_of(benchmark), REQUEUE).status
    again = decide(benchmark, first, 1, scenarios_of(benchmark), REQUEUE).status
    assert again == first
    assert transition_event(first, again) is None
    assert not wakes_intakes(first, again)
    assert wakes_intakes(first, {**again, "digest": "sha256:other"})


def test_version_digest_of_status_written_before_it_was_recorded() -> None:
    ready_status = {"digest": "sha256:a", "conditions": [{"type": "Ready", "status": "True"}]}
    assert version_digest(ready_status) == "sha256:a"
    assert version_digest({**ready_status, "versionDigest": "sha256:b"}) == "sha256:b"
    not_ready = {"digest": "sha256:a", "conditions": [{"type": "Ready", "status": "False"}]}
    assert version_digest(not_ready) is None
    assert version_digest({}) is None


def test_source_kind() -> None:
    assert source_kind(inline()) == "inline"
    assert source_kind(from_configmap()) == "configMap"
