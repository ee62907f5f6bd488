"""Status is a shared surface: against the real API server, an intake whose owner is a token
and whose rollback expectation carries a URL with a host and a connection string shows none of
them in status after its reconcile, each replaced by a placeholder naming what was removed; a
second reconcile writes nothing; and a patch written without `merge_patch` is cleaned too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from modelsmith import GROUP, VERSION
from modelsmith.api import samples
from modelsmith.contract import readlimits
from modelsmith.handlers import intake
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster

# Reconciled here, in a namespace the session's operator process leaves alone (conftest).
pytestmark = [pytest.mark.inprocess]

TOKEN = "ghp_Zk3xQ9vLm2Pw8Rt5Yb7Nc4Hd6Jf1Gs0AeKu"
URL = "https://grafana.ops.acme.internal:3000/d/serving"
CONNECTION = "Server=sqlprod07;Database=claims;User Id=sa;Password=Winter2025!"
LEAKED = (TOKEN, "grafana.ops.acme", "sqlprod07", "Winter2025!", "ops.acme.internal")


@pytest.fixture
def rt(operator_env: None) -> Iterator[Runtime]:
    """A runtime of the test's own, reconciling intakes here, in the test process. Stopped after
    the test, its Events sent: an intake's reconcile asks for its next look, which would
    otherwise run on after the test's namespace, and the session's test bed, are gone."""
    runtime = Runtime()
    intake.register(runtime)
    yield runtime
    runtime.stop()
    runtime.events.flush(30)


def _status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "modelintakes", name)
    return body.get("status") or {}


def test_an_intakes_status_carries_no_token_host_or_connection_string(
    rt: Runtime, crds: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom: Any = client.CustomObjectsApi(crds.api_client())
    body = samples.intake("leaky-intake", namespace)
    body["spec"]["owner"] = f"token {TOKEN}"
    body["spec"]["rollback"]["expectation"] = f"Page the on-call via {URL}; then run {CONNECTION}"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelintakes", body)

    rt.queue._run_once(("modelintakes", namespace, "leaky-intake"))
    status = _status(custom, namespace, "leaky-intake")
    text = str(status)
    assert status["owner"] == "token [redacted:secret]"
    assert "[redacted:url]" in status["rollbackExpectation"]
    assert "[redacted:host]" in status["rollbackExpectation"]
    assert "[redacted:secret]" in status["rollbackExpectation"]
    for leaked in LEAKED:
        assert leaked not in text, leaked
    # What the schema constrains or the status names on purpose is kept.
    assert status["baseModelLabel"] == "tiny-support-base"
    assert status["conditions"][0]["type"] == "Ready"

    # The redacted status is what the next reconcile wants too: it writes nothing.
    writes: list[dict[str, Any]] = []
    patch_status = kube.patch_status
    monkeypatch.setattr(
        kube, "patch_status", lambda *a, **kw: writes.append(a[3]) or patch_status(*a, **kw)
    )
    rt.cache.clear()
    rt.queue._run_once(("modelintakes", namespace, "leaky-intake"))
    assert writes == []


def test_a_patch_written_directly_is_cleaned_at_the_choke_point(
    rt: Runtime, crds: Cluster, namespace: str
) -> None:
    custom: Any = client.CustomObjectsApi(crds.api_client())
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "iterationruns", samples.run("run-x7k2p", namespace)
    )
    rt.status.write(
        "iterationruns",
        namespace,
        "run-x7k2p",
        {
            "capacity": {"reason": "0/2 nodes: gpu-node-17 Insufficient nvidia.com/gpu"},
            "nextAction": "Approve the PromotionGate run-x7k2p as domain-owner",
            "memory": {"retryToken": "AKIAIOSFODNN7EXAMPLE"},
        },
    )
    stored = kube.get_custom("iterationruns", namespace, "run-x7k2p") or {}
    status = stored.get("status") or {}
    assert status["capacity"]["reason"] == "0/2 nodes: [redacted:node] Insufficient nvidia.com/gpu"
    assert status["nextAction"] == "Approve the PromotionGate run-x7k2p as domain-owner"
    assert status["memory"]["retryToken"] == "AKIAIOSFODNN7EXAMPLE"


def test_an_intakes_base_model_in_another_bucket_is_refused_with_the_reason(
    rt: Runtime, crds: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rt.store, "confinement", readlimits.Confinement("modelsmith"))
    custom: Any = client.CustomObjectsApi(crds.api_client())
    body = samples.intake("elsewhere", namespace)
    body["spec"]["baseModel"]["uri"] = "s3://customer-models/base/"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelintakes", body)
    rt.queue._run_once(("modelintakes", namespace, "elsewhere"))
    checks = {c["check"]: c for c in _status(custom, namespace, "elsewhere")["validation"]}
    assert checks["BaseModelFound"]["ok"] is False
    assert checks["BaseModelFound"]["message"] == (
        "the URI names the bucket customer-models, but the operator reads only its configured "
        "bucket modelsmith and those its ExecutionTargets name"
    )
