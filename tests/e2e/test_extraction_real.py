"""The second domain, structured extraction (examples/extraction), through the operator on the
real model (SmolLM2-135M-Instruct): real evaluator and trainer Jobs run by the node agent, on the
same workbench and loop as the quickstart, with jsonSchema and numeric criteria.

The run is cut to what the CI budget allows (one iteration of 30 steps, 40 new tokens: the
longest reference is 29 tokens), so the loop decides once, from one candidate. Measured with the
trainer's and evaluator's own code on this recipe (seed, weights and all): the base model gets 1
of 24 right, the candidate 24 of 24 and all 6 held out, so the loop stages it: its held-out score
clears the intake's 0.8 with no regression. docs/real-model.md gives the figures."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess

from .extraction import coverage, run_extraction
from .quickstart import real_model_evidence

pytestmark = [pytest.mark.slow, pytest.mark.realmodel]
THRESHOLD = 0.8
BASELINE = 1 / 24
"""Measured three times: the base model's greedy answers get only order-signage right (status
rounds scores to six decimals)."""

RUN_CHANGES: dict[str, Any] = {
    "maxIterations": 1,
    "plateauPatience": 1,
    "recipe": {"steps": 30},
    "evaluation": {"maxNewTokens": 40},
}


@pytest.mark.timeout(2400)  # a loaded machine takes several times the CI figure
def test_extraction_on_the_real_model(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
) -> None:
    began = time.monotonic()
    benchmark, status = run_extraction(
        cluster, object_store, namespace, "real", RUN_CHANGES, timeout=2100
    )
    print(f"\nextraction on the real model: {time.monotonic() - began:.0f} s")
    print(json.dumps({k: status.get(k) for k in ("phase", "scores", "history")}, indent=1))
    assert benchmark["coverage"] == coverage()
    assert status["scores"]["baseline"] == pytest.approx(BASELINE, abs=1e-5), status
    assert [h["decision"] for h in status["history"]] == ["Baseline", "Stage"], status
    assert "0 regression(s)" in status["history"][1]["reason"], status
    assert "clears the threshold 0.800" in status["history"][1]["reason"], status
    _staged(cluster, namespace, status)


def _staged(cluster: Cluster, namespace: str, status: dict[str, Any]) -> None:
    assert status["phase"] == "Staged", status
    assert status["scores"]["heldout"] >= THRESHOLD, status
    real_model_evidence(cluster, namespace, status, BASELINE, THRESHOLD)
