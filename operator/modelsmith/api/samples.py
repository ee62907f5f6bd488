"""Valid objects of every kind, for tests and documentation.

They match examples/quickstart (one namespace, a support-triage domain) so a test can apply
them without the example files; the benchmark is generated (24 scenarios, a quarter held out)
rather than hand-written domain material.
"""

from __future__ import annotations

from typing import Any

from modelsmith.api.benchmark import Benchmark
from modelsmith.api.gate import PromotionGate
from modelsmith.api.intake import ModelIntake
from modelsmith.api.run import REQUESTED_BY_ANNOTATION, IterationRun
from modelsmith.api.target import ExecutionTarget

SAMPLE_DIGEST = "sha256:" + "0123456789abcdef" * 4
SAMPLE_ADAPTER_DIGEST = "sha256:" + "ad" * 32
"""The sample candidate's adapter digest (its lineage's artefactDigest)."""

_CAPABILITIES = ("routing", "refunds", "escalation", "account-access")
_RISKS = ("low", "medium", "high", "critical")
_LENSES = ("frontline-agent", "compliance", "customer")
_OUTCOMES = ("route", "answer", "refuse", "escalate")
_QUEUES = ("billing", "technical", "accounts", "trust-and-safety")


def _criteria(index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    queue = _QUEUES[index % len(_QUEUES)]
    variants: list[list[dict[str, Any]]] = [
        [{"kind": "contains", "value": queue}],
        [{"kind": "oneOf", "values": [queue, f"{queue}-priority"]}],
        [{"kind": "regex", "value": rf"\bqueue:\s*{queue}\b"}],
        [
            {
                "kind": "jsonSchema",
                "jsonSchema": {
                    "type": "object",
                    "required": ["queue"],
                    "properties": {"queue": {"const": queue}},
                },
            }
        ],
        [{"kind": "numeric", "target": float(index % 5 + 1), "tolerance": 0.5}],
        [{"kind": "equals", "value": queue}],
    ]
    fail = [{"kind": "contains", "value": "password"}] if index % 3 else []
    return variants[index % len(variants)], fail


def scenario(index: int, split: str = "train") -> dict[str, Any]:
    passes, fails = _criteria(index)
    return {
        "id": f"triage-{index:02d}",
        "capability": _CAPABILITIES[index % len(_CAPABILITIES)],
        "risk": _RISKS[(index // 2) % len(_RISKS)],
        "operatorLens": _LENSES[index % len(_LENSES)],
        "outcomeType": _OUTCOMES[(index // 3) % len(_OUTCOMES)],
        "split": split,
        "prompt": f"Ticket {index}: route this customer request to the right queue.",
        "inputs": {"channel": "email", "plan": "business" if index % 2 else "starter"},
        "reference": f"queue: {_QUEUES[index % len(_QUEUES)]}",
        "pass": passes,
        "fail": fails,
    }


def benchmark(
    name: str = "support-triage", namespace: str = "modelsmith-demo", count: int = 24
) -> dict[str, Any]:
    """A valid Benchmark with `count` scenarios, every fourth held out."""
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "Benchmark",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "version": "1.0.0",
            "owner": "support-domain-owners",
            "domain": "support-triage",
            "description": "Generated sample: ticket routing for a support desk.",
            "scenarios": [scenario(i, "heldout" if i % 4 == 3 else "train") for i in range(count)],
        },
    }


TARGET = "modelsmith-cpu"
"""The sample ExecutionTarget the sample intake names (the tests' shared target too)."""
TEST_NAMESPACES = {"modelsmith.io/test": "true"}
"""The label every test namespace carries (the sample target selects those namespaces)."""


def execution_target(
    name: str = TARGET,
    match_labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A valid ExecutionTarget: CPU-only Jobs (up to 8 GPUs on request) in the intake's own
    namespace as modelsmith-runner, with the images the operator ships; `spec` overrides
    (camelCase) any field."""
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "ExecutionTarget",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {
                "matchLabels": dict(TEST_NAMESPACES if match_labels is None else match_labels)
            },
            "serviceAccountName": "modelsmith-runner",
            "trainerImage": "modelsmith/trainer:0.1.0",
            "evaluatorImage": "modelsmith/evaluator:0.1.0",
            "maxGpus": 8,
            **spec,
        },
    }


def intake(name: str = "support-triage", namespace: str = "modelsmith-demo") -> dict[str, Any]:
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "ModelIntake",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "owner": "support-platform-team",
            "benchmarkRef": {"name": "support-triage", "version": "1.0.0"},
            "baseModel": {
                "uri": "s3://modelsmith/models/tiny-support-base/",
                "label": "tiny-support-base",
            },
            "executionTargetRef": {"name": TARGET, "gpuCount": 0},
            "servingTarget": {"configMapName": "support-triage-serving"},
            "promotion": {
                "threshold": 0.6,
                "approvers": [
                    {"role": "domain-owner", "users": ["alice"], "groups": ["domain-owners"]},
                    {
                        "role": "engineering-owner",
                        "users": ["bob"],
                        "groups": ["engineering-owners"],
                    },
                ],
            },
            "rollback": {"expectation": "Restore the previous model within 5 minutes."},
        },
    }


def run(
    name: str = "support-triage-run-1",
    namespace: str = "modelsmith-demo",
    requested_by: str = "admin",
) -> dict[str, Any]:
    """A run as `requested_by` creates it (admission wants their username in the annotation;
    the default is the test bed's admin)."""
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "IterationRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {REQUESTED_BY_ANNOTATION: requested_by},
        },
        "spec": {"intakeRef": {"name": "support-triage"}},
    }


def gate(
    name: str = "support-triage-run-1-iter-3", namespace: str = "modelsmith-demo"
) -> dict[str, Any]:
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "PromotionGate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "runRef": {"name": "support-triage-run-1"},
            "intakeRef": {"name": "support-triage"},
            "candidate": {
                "label": "support-triage-run-1-iter-3",
                "iteration": 3,
                "adapterDigest": SAMPLE_ADAPTER_DIGEST,
            },
            "evidence": {
                "digest": SAMPLE_DIGEST,
                "score": 0.71,
                "heldoutScore": 0.67,
                "baselineScore": 0.42,
                "regressionCount": 0,
                "latencyP95Ms": 180.0,
                "costPerDecision": 0.0004,
            },
            "approvers": intake()["spec"]["promotion"]["approvers"],
            "rollback": {"expectation": "Restore the previous model within 5 minutes."},
            "serving": {"configMapName": "support-triage-serving", "namespace": namespace},
        },
    }


def promotion_record() -> dict[str, Any]:
    """A status.promotionRecord as the operator writes it."""
    return {
        "digest": "sha256:" + "fedcba9876543210" * 4,
        "time": "2025-01-01T12:00:00Z",
        "candidateLabel": "support-triage-run-1-iter-3",
        "evidenceDigest": SAMPLE_DIGEST,
        "approvals": [
            {"role": "domain-owner", "user": "alice", "at": "2025-01-01T11:00:00Z"},
            {"role": "engineering-owner", "user": "bob", "at": "2025-01-01T11:30:00Z"},
        ],
    }


def parsed() -> tuple[Benchmark, ModelIntake, IterationRun, PromotionGate]:
    """The samples as models (raises if any stopped being valid)."""
    ExecutionTarget.model_validate(execution_target())
    return (
        Benchmark.model_validate(benchmark()),
        ModelIntake.model_validate(intake()),
        IterationRun.model_validate(run()),
        PromotionGate.model_validate(gate()),
    )
