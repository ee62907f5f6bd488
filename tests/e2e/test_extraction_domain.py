"""The second domain, structured extraction (examples/extraction), through the operator on the
tiny model built from its benchmark: the same loop and workbench as support triage, with
jsonSchema and numeric criteria and failures clustered by capability and outcome type. The tiny
model cannot learn it (asserted as measured): the run plateaus naming a failure cluster."""

from __future__ import annotations

import pytest

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess

from .extraction import cells, coverage, run_extraction

pytestmark = pytest.mark.slow


def test_extraction_run_decides_on_its_own_benchmark(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
) -> None:
    benchmark, status = run_extraction(
        cluster,
        object_store,
        namespace,
        "tiny",
        {"recipe": {"steps": 60}},  # the 2-core CI budget
        timeout=900,
    )
    assert benchmark["coverage"] == coverage()
    # Measured here: the tiny model (a vocabulary built from the benchmark, 60 steps) never
    # writes a whole JSON record with the right number, so every scenario fails at every
    # iteration, the rank raise does not help, and the loop plateaus after its patience of 2.
    assert status["phase"] == "Plateaued", status
    assert status["lastTransition"]["reason"] == "Plateau"
    assert [h["decision"] for h in status["history"]] == ["Baseline", "Reject", "Reject"]
    assert [h["score"] for h in status["history"]] == [0, 0, 0]
    assert status["history"][2]["recipe"].startswith("lora r16")  # plateau near: rank raised
    # With everything failing, the strongest cluster is one of the run's clusterDimensions
    # (capability and outcomeType) with the most scenarios; the advice names it and where to
    # add material for it.
    cluster_ = status["strongestFailureCluster"]
    assert set(cluster_["dimensions"]) == {"capability", "outcomeType"}
    cells_ = cells()
    assert cluster_["failures"] == max(cells_.values()) == len(cluster_["scenarioIds"])
    key = (cluster_["dimensions"]["capability"], cluster_["dimensions"]["outcomeType"])
    assert cells_[key] == cluster_["failures"]
    assert status["nextAction"].startswith(f"Add training material for {cluster_['label']}")
    assert "spec.trainingData" in status["nextAction"]
