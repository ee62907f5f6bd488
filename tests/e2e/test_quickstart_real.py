"""The quickstart on the real model (SmolLM2-135M-Instruct, hack/real_model.py): the operator
drives real trainer and evaluator Jobs, run by the node agent, from a base model that scores 0 to
a candidate that clears the quickstart's threshold on held-out scenarios, and stages it with
evidence that carries the real model's latency. Nothing in the operator or the images knows
which model it is: the intake names an s3:// folder, as a user's own model would be named.

Measured on the 2-core development machine: see docs/benchmarks.md."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import apply_quickstart, build_base_model, get, real_model_evidence

pytestmark = [pytest.mark.slow, pytest.mark.realmodel]
RUN = "support-triage-run-1"
THRESHOLD = 0.6


def _staged(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    body = get(cluster, "irun", namespace, RUN)
    status = body.get("status") or {}
    if status.get("phase") in {"Failed", "Plateaued", "Stopped", "Blocked"}:
        raise AssertionError(f"run ended {status['phase']}: {json.dumps(status, indent=1)}")
    return status if status.get("phase") == "Staged" else None


def test_real_model_goes_from_zero_to_staged(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
) -> None:
    began = time.monotonic()
    model_uri = f"s3://{object_store.bucket}/models/{namespace}/smollm2-135m-instruct/"
    build_base_model(object_store, model_uri, model="real")
    uploaded = time.monotonic()
    apply_quickstart(cluster, object_store, namespace, model_uri, model="real")
    status = wait_for(
        lambda: _staged(cluster, namespace),
        timeout=840,
        interval=3,
        description="the real-model quickstart run Staged",
    )
    staged = time.monotonic()

    scores = status["scores"]
    assert scores["baseline"] == 0.0, scores  # the base model answers none of them right
    assert scores["heldout"] >= scores["target"] == THRESHOLD, scores
    assert status["candidate"]["iteration"] >= 1

    evidence = real_model_evidence(cluster, namespace, status, 0.0, THRESHOLD)
    print(
        f"\nreal-model quickstart: upload {uploaded - began:.0f} s, apply -> Staged "
        f"{staged - uploaded:.0f} s; baseline {scores['baseline']}, candidate iteration "
        f"{status['candidate']['iteration']} held-out {scores['heldout']}, latency p95 "
        f"{evidence['latencyP95Ms']} ms"
    )
