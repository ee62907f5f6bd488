"""The second domain, structured extraction (examples/extraction), through the operator on the
tiny model built from its benchmark: the same loop and workbench as support triage, with
jsonSchema and numeric criteria and failures clustered by capability and outcome type. The tiny
model cannot learn it (asserted as measured): the run plateaus naming a failure cluster."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import REPO, build_base_model, get, manifests, prepare_namespace

pytestmark = pytest.mark.slow
EXTRACTION = REPO / "examples" / "extraction"
RUN = "document-extraction-run-1"
ENDED = {"Staged", "Plateaued", "Failed", "Stopped", "Blocked"}


def test_extraction_run_decides_on_its_own_benchmark(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    tmp_path: Path,
) -> None:
    model_uri = f"s3://{object_store.bucket}/models/{namespace}/tiny-extraction-base/"
    build_base_model(object_store, model_uri, benchmark=EXTRACTION / "benchmark.yaml")
    prepare_namespace(cluster, object_store, namespace)
    target = manifests(namespace, model_uri, files=("execution-target.yaml",))
    docs = manifests(
        namespace, model_uri, EXTRACTION, ("benchmark.yaml", "intake.yaml", "run.yaml")
    )
    for doc in target + docs:
        if doc["kind"] == "IterationRun":
            doc["spec"]["recipe"]["steps"] = 60  # the 2-core CI budget
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    status: dict[str, Any] = wait_for(
        lambda: (
            (s := get(cluster, "irun", namespace, RUN).get("status") or {}).get("phase") in ENDED
            and s
        ),
        timeout=900,
        interval=3,
        description="extraction run ended",
    )
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
    cells = _cells()
    assert cluster_["failures"] == max(cells.values()) == len(cluster_["scenarioIds"])
    key = (cluster_["dimensions"]["capability"], cluster_["dimensions"]["outcomeType"])
    assert cells[key] == cluster_["failures"]
    assert status["nextAction"].startswith(f"Add training material for {cluster_['label']}")
    assert "spec.trainingData" in status["nextAction"]


def _cells() -> dict[tuple[str, str], int]:
    """Scenarios per (capability, outcome type) of the extraction benchmark."""
    spec = yaml.safe_load((EXTRACTION / "benchmark.yaml").read_text())["spec"]
    return dict(Counter((s["capability"], s["outcomeType"]) for s in spec["scenarios"]))
