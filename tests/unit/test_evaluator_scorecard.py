"""The sanitised scorecard: tallies, failure clusters, latency percentiles and cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelsmith.contract.scenario import Scenario
from modelsmith.contract.scorecard import (
    Outcome,
    Scorecard,
    build_scorecard,
    cost,
    failure_clusters,
    percentile,
)


def scenario(id_: str, capability: str, risk: str, split: str = "train") -> Scenario:
    return Scenario.model_validate(
        {
            "id": id_,
            "capability": capability,
            "risk": risk,
            "operatorLens": "agent",
            "outcomeType": "route",
            "split": split,
            "prompt": f"secret prompt {id_}",
            "inputs": {"ticket": f"secret ticket text {id_}"},
            "reference": f"secret reference {id_}",
            "pass": [{"kind": "contains", "value": "x"}],
        }
    )


def outcome(s: Scenario, passed: bool, latency: float = 10.0) -> Outcome:
    return Outcome(s, passed, latency, prompt_tokens=20, generated_tokens=5)


OUTCOMES = [
    outcome(scenario("a", "routing", "low"), True, 10.0),
    outcome(scenario("b", "routing", "low"), False, 20.0),
    outcome(scenario("c", "routing", "low", "heldout"), False, 30.0),
    outcome(scenario("d", "refusal", "critical"), False, 40.0),
    outcome(scenario("e", "refusal", "critical", "heldout"), True, 50.0),
]


def card(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "iteration": 2,
        "model_label": "tiny-iter-2",
        "model_digest": "sha256:" + "0" * 64,
        "outcomes": OUTCOMES,
        "dimensions": ("capability", "risk"),
        "device": "cpu",
        "device_seconds": 1.5,
        "gpu_hourly_price": 2.5,
    }
    return build_scorecard(**(fields | changes)).document()


def test_tallies_by_split_and_dimension() -> None:
    result = card()
    assert result["schema"] == "modelsmith.io/scorecard/v1"
    assert result["overall"] == {"passed": 2, "total": 5, "score": 0.4}
    assert result["splits"]["train"] == {"passed": 1, "total": 3, "score": pytest.approx(1 / 3)}
    assert result["splits"]["heldout"] == {"passed": 1, "total": 2, "score": 0.5}
    assert result["by_dimension"]["capability"]["refusal"]["passed"] == 1
    assert set(result["by_dimension"]) == {"capability", "risk", "operatorLens", "outcomeType"}
    assert result["tokens"] == {"prompt": 100, "generated": 25}
    assert result["latency_ms"] == {"p50": 30.0, "p95": 48.0}


def test_the_operator_and_the_evidence_bundle_can_read_it() -> None:
    parsed = Scorecard.model_validate(card())
    assert parsed.heldout_score == 0.5
    assert {s.id for s in parsed.failing()} == {"b", "c", "d"}


def test_the_document_is_what_the_model_reads_back() -> None:
    """The evaluator writes through the same model the operator reads with: every field it
    writes is one the model knows, so reading loses nothing."""
    document = card()
    assert set(document) == {
        "schema",
        "iteration",
        "model_label",
        "model_digest",
        "overall",
        "splits",
        "by_dimension",
        "scenarios",
        "failure_clusters",
        "latency_ms",
        "tokens",
        "cost",
    }
    assert set(document["scenarios"][0]) == {
        "id",
        "split",
        "passed",
        "capability",
        "risk",
        "operatorLens",
        "outcomeType",
    }
    assert Scorecard.model_validate(document).document() == document


def test_no_scenario_text_reaches_the_scorecard() -> None:
    assert "secret" not in json.dumps(card())


def test_failure_clusters_largest_first() -> None:
    clusters = failure_clusters(OUTCOMES, ("capability", "risk"))
    assert clusters == [
        {
            "dimensions": {"capability": "routing", "risk": "low"},
            "failures": 2,
            "scenario_ids": ["b", "c"],
        },
        {
            "dimensions": {"capability": "refusal", "risk": "critical"},
            "failures": 1,
            "scenario_ids": ["d"],
        },
    ]
    assert failure_clusters([OUTCOMES[0]], ("capability", "risk")) == []


def test_percentiles_interpolate() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0


def test_cost_per_decision() -> None:
    gpu = cost("gpu", device_seconds=36.0, gpu_hourly_price=2.5, decisions=10)
    assert gpu["per_decision"] == pytest.approx(36.0 * 2.5 / 3600 / 10)
    cpu = cost("cpu", device_seconds=36.0, gpu_hourly_price=2.5, decisions=10)
    assert cpu["per_decision"] == 0.0 and "CPU" in cpu["note"]
    assert cost("gpu", 1.0, 2.5, 0)["per_decision"] == 0.0
