"""The Benchmark reconciler against the real API server, with the operator running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelsmith.api import samples
from testbed.cluster import Cluster
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def _apply(cluster: Cluster, manifest: dict[str, Any], namespace: str) -> None:
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def _get(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "benchmark", name, "-n", namespace, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _ready(cluster: Cluster, namespace: str, name: str, want: str) -> dict[str, Any] | None:
    body = _get(cluster, namespace, name)
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready" and cond["status"] == want:
            return body
    return None


def _events(cluster: Cluster, namespace: str, name: str) -> list[str]:
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name}",
        "-o",
        "json",
    ).stdout
    return [e["reason"] for e in json.loads(out)["items"]]


def test_quickstart_benchmark_becomes_ready_with_its_coverage(
    operator: OperatorProcess, cluster: Cluster, namespace: str
) -> None:
    manifest = yaml.safe_load((REPO / "examples/quickstart/benchmark.yaml").read_text())
    _apply(cluster, manifest, namespace)
    name = manifest["metadata"]["name"]
    body = wait_for(
        lambda: _ready(cluster, namespace, name, "True"),
        timeout=60,
        description="quickstart Benchmark Ready",
    )
    status = body["status"]
    assert status["scenarioCount"] == 24
    assert status["heldoutCount"] == 6
    assert status["digest"].startswith("sha256:")
    assert status["source"] == "inline"
    coverage = status["coverage"]
    assert sum(coverage["capability"].values()) == 24
    assert sum(coverage["risk"].values()) == 24
    assert set(coverage) == {"capability", "risk", "operatorLens", "outcomeType"}
    assert {k: coverage[k] for k in QUICKSTART_COVERAGE} == QUICKSTART_COVERAGE
    # Status is a shared surface: no prompt text reaches it.
    flat = json.dumps(status)
    for scenario in manifest["spec"]["scenarios"]:
        assert scenario["prompt"] not in flat
    wait_for(
        lambda: "Validated" in _events(cluster, namespace, name),
        timeout=30,
        description="a Validated Event on the Benchmark",
    )


# The quickstart's designed spread, counted by hand from examples/quickstart/benchmark.yaml.
QUICKSTART_COVERAGE: dict[str, dict[str, int]] = {
    "capability": {"escalation": 5, "refusal": 5, "routing": 9, "safety-phrase": 5},
    "risk": {"critical": 7, "high": 7, "low": 5, "medium": 5},
    "operatorLens": {"compliance": 8, "finance-ops": 5, "frontline-agent": 6, "security-team": 5},
    "outcomeType": {"escalate": 5, "refuse": 5, "route": 9, "route-with-phrase": 5},
}


def test_extraction_benchmark_is_ready_with_exact_coverage_and_no_challenges(
    operator: OperatorProcess, cluster: Cluster, namespace: str
) -> None:
    """The second domain (jsonSchema and numeric criteria) through the same workbench."""
    manifest = yaml.safe_load((REPO / "examples/extraction/benchmark.yaml").read_text())
    _apply(cluster, manifest, namespace)
    name = manifest["metadata"]["name"]
    body = wait_for(
        lambda: _ready(cluster, namespace, name, "True"),
        timeout=60,
        description="extraction Benchmark Ready",
    )
    status = body["status"]
    assert (status["scenarioCount"], status["heldoutCount"]) == (24, 6)
    assert status["coverage"] == EXTRACTION_COVERAGE
    assert not status.get("challenges")


# Counted by hand from examples/extraction/benchmark.yaml.
EXTRACTION_COVERAGE: dict[str, dict[str, int]] = {
    "capability": {"invoice": 8, "order": 8, "receipt": 8},
    "risk": {"high": 8, "low": 7, "medium": 9},
    "operatorLens": {"accounts-payable": 8, "audit": 8, "procurement": 8},
    "outcomeType": {"amount": 8, "fields": 8, "line-total": 8},
}


def test_weak_rubric_is_challenged_scenario_by_scenario(
    operator: OperatorProcess, cluster: Cluster, namespace: str
) -> None:
    manifest = samples.benchmark(name="weak", count=20)
    scenarios = manifest["spec"]["scenarios"]
    scenarios[0]["fail"] = []  # NoFailCriteria
    scenarios[1]["pass"] = [{"kind": "contains", "value": "route this customer request"}]
    scenarios[1]["fail"] = [{"kind": "contains", "value": "password"}]
    scenarios[2]["pass"] = [{"kind": "notContains", "value": "zebra crossing"}]
    scenarios[2]["fail"] = [{"kind": "contains", "value": "password"}]
    duplicate = dict(scenarios[4], id="triage-dup")
    scenarios.append(duplicate)
    _apply(cluster, manifest, namespace)
    body = wait_for(
        lambda: (_get(cluster, namespace, "weak").get("status") or {}).get("challenges"),
        timeout=60,
        description="challenges recorded",
    )
    found = {(c.get("scenarioId"), c["reason"]) for c in body}
    assert ("triage-00", "NoFailCriteria") in found
    assert ("triage-01", "CopiedFromPrompt") in found
    assert ("triage-02", "PassesAnyAnswer") in found
    assert ("triage-dup", "DuplicateScenario") in found
    # Every finding about one scenario names it; a class finding names its scenarios in detail.
    assert all(c.get("scenarioId") or c["reason"] == "NoTrainingScenario" for c in body)
    assert not any(s["prompt"] in json.dumps(body) for s in scenarios)


def test_a_class_only_held_out_is_challenged_and_the_benchmark_stays_ready(
    operator: OperatorProcess, cluster: Cluster, namespace: str
) -> None:
    # The sample holds out every fourth scenario and cycles four capabilities, so every
    # account-access scenario is held out: nothing would train it.
    manifest = samples.benchmark(name="untrained", count=20)
    _apply(cluster, manifest, namespace)
    body = wait_for(
        lambda: _ready(cluster, namespace, "untrained", "True"),
        timeout=60,
        description="the Benchmark Ready with its challenges",
    )
    untrained = [c for c in body["status"]["challenges"] if c["reason"] == "NoTrainingScenario"]
    assert [c["detail"] for c in untrained] == [
        'capability "account-access" appears only in held-out scenarios (triage-03, triage-07, '
        "triage-11 and 2 more): nothing trains it; add a train scenario for it"
    ]


def test_contradictory_criteria_make_the_benchmark_invalid_naming_the_scenario(
    operator: OperatorProcess, cluster: Cluster, namespace: str
) -> None:
    manifest = samples.benchmark(name="unpassable", count=20)
    manifest["spec"]["scenarios"][5]["pass"] = [
        {"kind": "oneOf", "values": ["billing", "technical"]},
        {"kind": "contains", "value": "queue:"},
    ]
    _apply(cluster, manifest, namespace)
    body = wait_for(
        lambda: _ready(cluster, namespace, "unpassable", "False"),
        timeout=60,
        description="the Benchmark Invalid",
    )
    cond = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
    assert cond["reason"] == "ContradictoryCriteria"
    assert cond["message"].startswith(
        "1 scenario can never pass, whatever the answer: triage-05: pass[0] (oneOf) accepts only "
        "2 whole answers (its labels), and pass[1] (contains) rules every one out."
    )
    found = [c for c in body["status"]["challenges"] if c["reason"] == "ContradictoryCriteria"]
    assert [c["scenarioId"] for c in found] == ["triage-05"]
    wait_for(
        lambda: "ContradictoryCriteria" in _events(cluster, namespace, "unpassable"),
        timeout=30,
        description="a ContradictoryCriteria Event on the Benchmark",
    )


def test_configmap_benchmark_waits_for_its_configmap(
    operator: OperatorProcess, cluster: Cluster, namespace: str
) -> None:
    manifest = samples.benchmark(name="from-cm", count=20)
    scenarios = manifest["spec"].pop("scenarios")
    manifest["spec"]["scenariosFrom"] = {"configMapRef": {"name": "triage-scenarios", "key": "s"}}
    _apply(cluster, manifest, namespace)
    body = wait_for(
        lambda: _ready(cluster, namespace, "from-cm", "False"),
        timeout=60,
        description="Benchmark Invalid while its ConfigMap is missing",
    )
    cond = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
    assert cond["reason"] == "SourceNotFound"
    assert "triage-scenarios" in cond["message"]
    cluster.kubectl(
        "create",
        "configmap",
        "triage-scenarios",
        "-n",
        namespace,
        f"--from-literal=s={yaml.safe_dump(scenarios)}",
    )
    body = wait_for(
        lambda: _ready(cluster, namespace, "from-cm", "True"),
        timeout=60,
        description="Benchmark Ready once its ConfigMap exists",
    )
    assert body["status"]["source"] == "configMap"
    assert body["status"]["scenarioCount"] == 20
    assert body["status"]["heldoutCount"] == 5
    wait_for(
        lambda: {"SourceNotFound", "Validated"} <= set(_events(cluster, namespace, "from-cm")),
        timeout=30,
        description="SourceNotFound then Validated Events",
    )
