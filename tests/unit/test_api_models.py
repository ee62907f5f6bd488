"""The API models: wire round-trips, defaults, and the Python twins of the CEL rules."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from modelsmith.api import samples
from modelsmith.api.approvers import Approver
from modelsmith.api.benchmark import Benchmark, BenchmarkSpec, BenchmarkStatus
from modelsmith.api.common import BlockerKind, Condition
from modelsmith.api.criteria import Criterion
from modelsmith.api.gate import PromotionGate, PromotionGateStatus
from modelsmith.api.gate_annotations import evidence_prefix, parse_approval_annotation
from modelsmith.api.intake import ModelIntake, ModelIntakeSpec
from modelsmith.api.policy import ApproverPolicy
from modelsmith.api.run import IterationRun
from modelsmith.api.run_spec import IterationRunSpec
from modelsmith.api.run_status import IterationRunStatus, Phase
from modelsmith.api.target import ExecutionTarget, Toleration

REPO = Path(__file__).resolve().parents[2]
INVALID = sorted((REPO / "tests" / "invalid").glob("*.yaml"))
EXAMPLES = REPO / "examples" / "quickstart"
MODELS: dict[str, type[BaseModel]] = {
    "Benchmark": Benchmark,
    "ModelIntake": ModelIntake,
    "IterationRun": IterationRun,
    "PromotionGate": PromotionGate,
    "ExecutionTarget": ExecutionTarget,
    "ApproverPolicy": ApproverPolicy,
}


def _wire(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.mark.parametrize(
    "sample",
    [samples.benchmark, samples.intake, samples.run, samples.gate],
    ids=lambda f: f.__name__,
)
def test_samples_round_trip(sample: Any) -> None:
    manifest = sample()
    model = MODELS[manifest["kind"]].model_validate(manifest)
    again = MODELS[manifest["kind"]].model_validate(_wire(model))
    assert again == model
    # Every field the manifest set comes back under the same wire name and value.
    assert _subset(manifest["spec"], _wire(model)["spec"])


def _subset(small: Any, big: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _subset(v, big[k]) for k, v in small.items()
        )
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(map(_subset, small, big))
    return bool(small == big)


@pytest.mark.parametrize("name", ["execution-target.yaml", "intake.yaml", "run.yaml"])
def test_quickstart_examples_parse(name: str) -> None:
    manifest = yaml.safe_load((EXAMPLES / name).read_text())
    MODELS[manifest["kind"]].model_validate(manifest)


def test_quickstart_benchmark_parses_when_present() -> None:
    path = EXAMPLES / "benchmark.yaml"
    if not path.exists():
        pytest.skip("examples/quickstart/benchmark.yaml is not written yet")
    benchmark = Benchmark.model_validate(yaml.safe_load(path.read_text()))
    assert benchmark.spec.version == "1.0.0"


def test_sample_benchmark_shape() -> None:
    spec = Benchmark.model_validate(samples.benchmark()).spec
    assert len(spec.scenarios) == 24
    assert sum(s.split == "heldout" for s in spec.scenarios) == 6
    assert {c.kind for s in spec.scenarios for c in s.pass_criteria} == {
        "contains",
        "oneOf",
        "regex",
        "jsonSchema",
        "numeric",
        "equals",
    }


def test_run_defaults() -> None:
    spec = IterationRunSpec.model_validate({"intakeRef": {"name": "x"}})
    assert spec.max_iterations == 5
    assert spec.plateau_patience == 2
    assert spec.recipe.method == "lora"
    assert (spec.recipe.rank, spec.recipe.alpha, spec.recipe.failing_weight) == (8, 16, 3.0)
    assert spec.recipe.seed == 0
    assert spec.cluster_dimensions == ["capability", "risk"]
    assert spec.retries.max_attempts == 2
    assert spec.suspend is False
    assert spec.budget.gpu_hours is None


def test_execution_target_defaults() -> None:
    target = ExecutionTarget.model_validate(
        {
            "metadata": {"name": "t"},
            "spec": {
                "namespaceSelector": {},
                "serviceAccountName": "runner",
                "trainerImage": "t:1",
                "evaluatorImage": "e:1",
            },
        }
    ).spec
    assert target.gpu_resource_name == "nvidia.com/gpu"
    assert (target.max_gpus, target.backoff_limit, target.job_namespace) == (1, 0, None)
    assert target.namespace_selector.match_labels == {}


def test_intake_refuses_the_old_inline_execution_target() -> None:
    body = samples.intake()
    body["spec"]["executionTarget"] = {"serviceAccountName": "runner"}
    with pytest.raises(ValidationError):
        ModelIntake.model_validate(body)


def test_intake_defaults() -> None:
    spec = ModelIntake.model_validate(samples.intake()).spec
    assert spec.execution_target_ref.name == samples.TARGET
    assert spec.promotion.min_improvement == 0.01
    assert spec.promotion.max_regressions == 0
    assert spec.rollback.retain_previous is True
    assert spec.serving_target.key == "model"


def test_benchmark_balance_defaults() -> None:
    balance = Benchmark.model_validate(samples.benchmark()).spec.balance
    assert (balance.max_share, balance.heldout_share_min, balance.heldout_share_max) == (
        0.4,
        0.15,
        0.35,
    )


# --- Python twins of the CEL rules ------------------------------------------------------------


def _benchmark_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(samples.benchmark(count=4)["spec"])
    spec.update(changes)
    return spec


def test_duplicate_scenario_ids_refused() -> None:
    spec = _benchmark_spec()
    spec["scenarios"][1]["id"] = spec["scenarios"][0]["id"]
    with pytest.raises(ValidationError, match="scenario ids must be unique"):
        BenchmarkSpec.model_validate(spec)


def test_inline_benchmark_needs_heldout() -> None:
    spec = _benchmark_spec()
    for s in spec["scenarios"]:
        s["split"] = "train"
    with pytest.raises(ValidationError, match="heldout split"):
        BenchmarkSpec.model_validate(spec)


@pytest.mark.parametrize("with_inline", [True, False])
def test_exactly_one_scenario_source(with_inline: bool) -> None:
    spec = _benchmark_spec()
    if with_inline:
        spec["scenariosFrom"] = {"s3": {"uri": "s3://bench/support.yaml"}}
    else:
        del spec["scenarios"]
    with pytest.raises(ValidationError, match="exactly one of scenarios"):
        BenchmarkSpec.model_validate(spec)


def test_scenarios_from_alone_is_valid() -> None:
    spec = _benchmark_spec(scenariosFrom={"configMapRef": {"name": "big", "key": "s.yaml"}})
    del spec["scenarios"]
    parsed = BenchmarkSpec.model_validate(spec)
    assert parsed.scenarios == []
    assert parsed.scenarios_from is not None and parsed.scenarios_from.config_map_ref is not None


def test_heldout_share_bounds_ordered() -> None:
    with pytest.raises(ValidationError, match="heldoutShareMin must not exceed"):
        BenchmarkSpec.model_validate(
            _benchmark_spec(balance={"heldoutShareMin": 0.5, "heldoutShareMax": 0.2})
        )


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        ({"kind": "contains"}, "value is required"),
        ({"kind": "regex"}, "value is required"),
        ({"kind": "oneOf", "values": []}, "values \\(at least one\\)"),
        ({"kind": "jsonSchema"}, "jsonSchema is required"),
        ({"kind": "numeric", "tolerance": 1}, "target is required"),
    ],
)
def test_criterion_fields_per_kind(criterion: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Criterion.model_validate(criterion)


def test_approver_needs_a_principal() -> None:
    with pytest.raises(ValidationError, match="at least one user or group"):
        Approver.model_validate({"role": "domain-owner"})
    assert Approver.model_validate({"role": "compliance", "groups": ["compliance"]}).users == []


def test_duplicate_approver_roles_refused() -> None:
    spec = copy.deepcopy(samples.intake()["spec"])
    spec["promotion"]["approvers"][1]["role"] = "domain-owner"
    with pytest.raises(ValidationError, match="approver roles must be unique"):
        ModelIntakeSpec.model_validate(spec)


def test_cluster_dimensions_must_differ() -> None:
    with pytest.raises(ValidationError, match="two different dimensions"):
        IterationRunSpec.model_validate(
            {"intakeRef": {"name": "x"}, "clusterDimensions": ["risk", "risk"]}
        )


def test_toleration_exists_without_value() -> None:
    assert Toleration.model_validate({"key": "nvidia.com/gpu", "operator": "Exists"})
    with pytest.raises(ValidationError, match="value must be empty"):
        Toleration.model_validate({"key": "k", "operator": "Exists", "value": "v"})
    with pytest.raises(ValidationError, match="key is required"):
        Toleration.model_validate({"operator": "Equal", "value": "v"})
    assert Toleration.model_validate({"operator": "Exists"}).key is None


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_python_models_refuse_every_invalid_manifest(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    with pytest.raises(ValidationError):
        MODELS[manifest["kind"]].model_validate(manifest)


def test_invalid_corpus_is_well_formed() -> None:
    assert len(INVALID) >= 30
    for path in INVALID:
        lines = path.read_text().splitlines()
        expects = [line for line in lines if line.startswith("# expect: ")]
        assert len(expects) == 1, path.name
        manifest = yaml.safe_load(path.read_text())
        assert manifest["kind"] in MODELS, path.name
        assert path.stem.split("-")[0] in {"benchmark", "intake", "run", "gate", "target", "policy"}


# --- status ------------------------------------------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_run_status_round_trip() -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Progressing",
                "message": "iteration 2 training",
                "lastTransitionTime": "2025-01-01T12:00:00Z",
                "observedGeneration": 2,
            }
        ],
        "phase": "Training",
        "lastTransition": {
            "from": "Assessing",
            "to": "Training",
            "reason": "CandidateAccepted",
            "message": "score 0.58 > 0.50",
            "time": "2025-01-01T12:00:00Z",
        },
        "iteration": 2,
        "attempt": 1,
        "scores": {"current": 0.58, "previousAccepted": 0.5, "baseline": 0.42, "target": 0.6},
        "regressionCount": 1,
        "regressions": ["triage-07"],
        "strongestFailureCluster": {
            "dimensions": {"capability": "refunds", "risk": "high"},
            "failures": 3,
            "label": "refunds/high",
            "scenarioIds": ["triage-01", "triage-05", "triage-09"],
        },
        "capacity": {"gpusRequested": 0, "state": "Scheduled"},
        "training": {"percent": 40.0, "step": 24, "totalSteps": 60, "loss": 1.2},
        "blockedBy": {"kind": "infrastructure", "reason": "Unschedulable", "message": "no GPU"},
        "nextAction": "wait for GPU capacity",
        "history": [
            {"iteration": 0, "score": 0.42, "accepted": True, "decision": "Baseline"},
            {
                "iteration": 1,
                "score": 0.5,
                "heldoutScore": 0.5,
                "accepted": True,
                "decision": "Accept",
                "recipe": "lora r8 a16 steps60",
                "finishedAt": "2025-01-01T11:00:00Z",
            },
        ],
        "ledger": {"entries": 5, "lastSequence": 4, "location": "run ledger in the object store"},
        "candidate": {"label": "support-triage-run-1-iter-1", "iteration": 1},
        "startedAt": "2025-01-01T10:00:00Z",
        "gpuSecondsUsed": 0,
    }
    parsed = IterationRunStatus.model_validate(status)
    assert parsed.phase == Phase.TRAINING
    assert parsed.last_transition is not None and parsed.last_transition.from_phase == "Assessing"
    assert parsed.blocked_by is not None and parsed.blocked_by.kind == BlockerKind.INFRASTRUCTURE
    wire = _wire(parsed)
    assert wire["lastTransition"]["from"] == "Assessing"
    assert wire["lastTransition"]["time"] == "2025-01-01T12:00:00Z"
    assert IterationRunStatus.model_validate(wire) == parsed


def test_status_defaults_are_empty() -> None:
    for model in (BenchmarkStatus, IterationRunStatus, PromotionGateStatus):
        assert model.model_validate({}).conditions == []
    assert PromotionGateStatus.model_validate({}).decision == ""
    assert "blockedBy" not in _wire(IterationRunStatus.model_validate({"blockedBy": None}))


def test_history_is_bounded() -> None:
    rows = [{"iteration": i} for i in range(11)]
    with pytest.raises(ValidationError):
        IterationRunStatus.model_validate({"history": rows})


def test_gate_status_with_promotion_record() -> None:
    status = PromotionGateStatus.model_validate(
        {
            "state": "Promoted",
            "decision": "Promote",
            "approvalsSummary": "2/2",
            "approvals": [
                {"role": "domain-owner", "user": "alice", "decision": "approved", "valid": True},
                {"role": "engineering-owner", "decision": "pending"},
            ],
            "promotionRecord": samples.promotion_record(),
        }
    )
    assert status.promotion_record is not None
    assert status.promotion_record.approvals[0].user == "alice"


def test_condition_reason_grammar() -> None:
    ok = {"type": "Ready", "status": "True", "reason": "Validated", "lastTransitionTime": NOW}
    assert Condition.model_validate(ok).wire()["lastTransitionTime"] == "2025-01-01T12:00:00Z"
    with pytest.raises(ValidationError):
        Condition.model_validate({**ok, "reason": "not ok"})


# --- approval annotations -------------------------------------------------------------------------


def test_approval_annotation_round_trip() -> None:
    prefix = evidence_prefix(samples.SAMPLE_DIGEST)
    assert prefix == "0123456789ab"
    parsed = parse_approval_annotation(
        "approval.modelsmith.io/domain-owner", f"approved:alice:{prefix}"
    )
    assert parsed is not None
    assert (parsed.role, parsed.decision, parsed.user) == ("domain-owner", "approved", "alice")
    assert parsed.matches(samples.SAMPLE_DIGEST)
    assert parsed.key() == "approval.modelsmith.io/domain-owner"
    assert parsed.value() == f"approved:alice:{prefix}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("modelsmith.io/rollback", "bob"),
        ("approval.modelsmith.io/domain-owner", "yes"),
        ("approval.modelsmith.io/domain-owner", "approved:alice"),
        ("approval.modelsmith.io/domain-owner", "maybe:alice:0123456789ab"),
        ("approval.modelsmith.io/domain-owner", "approved:alice:0123456789AB"),
    ],
)
def test_malformed_approval_annotations(key: str, value: str) -> None:
    assert parse_approval_annotation(key, value) is None


def test_quickstart_approval_patch_is_an_approval() -> None:
    patch = yaml.safe_load((EXAMPLES / "approval.yaml").read_text())
    ((key, value),) = patch["metadata"]["annotations"].items()
    parsed = parse_approval_annotation(key, value)
    assert parsed is not None and parsed.role == "domain-owner" and parsed.user == "alice"


def test_a_hub_revision_reaches_the_jobs_model_uri() -> None:
    from modelsmith.api.intake import BaseModelSource
    from modelsmith.contract.jobspec import ModelRef

    pinned = BaseModelSource.model_validate(
        {"uri": "hf://acme/tiny", "label": "tiny", "revision": "refs/pr/1"}
    )
    assert pinned.job_uri() == "hf://acme/tiny@refs/pr/1"
    assert ModelRef(uri=pinned.job_uri(), label="tiny").uri == "hf://acme/tiny@refs/pr/1"
    plain = BaseModelSource.model_validate({"uri": "s3://models/tiny/", "label": "tiny"})
    assert plain.job_uri() == "s3://models/tiny/"
