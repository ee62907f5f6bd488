"""The ExecutionTarget rule (one selector matcher, one "may this intake use it" decision), the
admission policy generated from it, and the loop's refusal of a launch the target no longer
allows."""

from __future__ import annotations

from typing import Any

import pytest
from loop_sim import Sim, card, observe, succeeded

from modelsmith.api import samples
from modelsmith.api.intake import ExecutionTargetReference
from modelsmith.api.selector import LabelSelector, selector_matches
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.loop import BlockKind, LaunchRefusal, LedgerKind, Phase, Reason
from modelsmith.targets import admission
from modelsmith.targets.rules import (
    MISSING,
    NOT_ALLOWED,
    describe_selector,
    effective_gpus,
    effective_nodes,
    refusal,
)

TEAM = {"team": "support", "kubernetes.io/metadata.name": "support"}


def _selector(**wire: Any) -> LabelSelector:
    return LabelSelector.model_validate(wire)


def _target(**spec: Any) -> ExecutionTargetSpec:
    return ExecutionTargetSpec.model_validate(samples.execution_target(**spec)["spec"])


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "support"}}, TEAM, True),
        ({"matchLabels": {"team": "billing"}}, TEAM, False),
        ({"matchLabels": {"team": "support", "tier": "gold"}}, TEAM, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "support"]}]},
            TEAM,
            True,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}, TEAM, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}, TEAM, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["support"]}]},
            TEAM,
            False,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, TEAM, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, TEAM, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, TEAM, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, TEAM, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, TEAM, False),
    ],
)
def test_selector_matches_like_kubernetes(
    selector: dict[str, Any], labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(_selector(**selector), labels) is matches


def test_selector_description_reads_like_kubectl() -> None:
    assert describe_selector(_selector()) == "every namespace"
    text = describe_selector(
        _selector(
            matchLabels={"team": "support"},
            matchExpressions=[
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "frozen", "operator": "DoesNotExist"},
            ],
        )
    )
    assert text == "team=support,tier in (a,b),!frozen"


def test_an_intake_may_narrow_a_target_never_widen_it() -> None:
    target = _target(maxGpus=4)
    assert effective_gpus(target, ExecutionTargetReference(name="t")) == 4
    assert effective_gpus(target, ExecutionTargetReference(name="t", gpu_count=2)) == 2
    assert refusal("t", target, "ns", samples.TEST_NAMESPACES, _ref(gpu_count=4)) is None
    wide = refusal("t", target, "ns", samples.TEST_NAMESPACES, _ref(gpu_count=5))
    assert wide is not None and wide.reason == NOT_ALLOWED
    assert "gpuCount 5 exceeds ExecutionTarget t's spec.maxGpus 4" in wide.message


def test_an_intake_may_span_fewer_nodes_than_its_target_never_more() -> None:
    target = _target(maxTrainingNodes=2)
    assert effective_nodes(_target(), _ref()) == 1
    assert effective_nodes(target, _ref()) == 2
    assert effective_nodes(target, _ref(node_count=1)) == 1
    assert refusal("t", target, "ns", samples.TEST_NAMESPACES, _ref(node_count=2)) is None
    wide = refusal("t", target, "ns", samples.TEST_NAMESPACES, _ref(node_count=3))
    assert wide is not None and wide.reason == NOT_ALLOWED
    assert "nodeCount 3 exceeds ExecutionTarget t's spec.maxTrainingNodes 2" in wide.message


def _ref(**fields: Any) -> ExecutionTargetReference:
    return ExecutionTargetReference(name="t", **fields)


def test_a_target_refuses_a_namespace_it_does_not_select() -> None:
    target = _target()
    assert refusal("shared", target, "ns", samples.TEST_NAMESPACES, _ref()) is None
    found = refusal("shared", target, "team-b", {"team": "b"}, _ref())
    assert found is not None and found.reason == NOT_ALLOWED
    assert "ExecutionTarget shared does not admit namespace team-b" in found.message
    assert "modelsmith.io/test=true" in found.message


def test_a_missing_target_is_named() -> None:
    found = refusal("gone", None, "ns", {}, _ref(gpu_count=0))
    assert found is not None and found.reason == MISSING
    assert "ExecutionTarget gone does not exist" in found.message


def test_the_admission_policy_is_bound_to_every_target() -> None:
    policy, binding = admission.manifests()
    assert policy["metadata"]["name"] == "modelsmith-intake-execution-target"
    assert policy["spec"]["paramKind"] == {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "ExecutionTarget",
    }
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules[0]["resources"] == ["modelintakes"]
    assert binding["spec"]["paramRef"] == {"selector": {}, "parameterNotFoundAction": "Allow"}
    assert binding["spec"]["validationActions"] == ["Deny"]
    messages = " ".join(v["messageExpression"] for v in policy["spec"]["validations"])
    assert "namespaceSelector" in messages and "maxGpus" in messages
    # The chart's copy is the same policy inside the admissionPolicy switch.
    assert "{{- if .Values.admissionPolicy.enabled }}" in admission.chart_template()


# --- the loop: a refused launch blocks, and resumes launching the same Job --------------------

REFUSED = LaunchRefusal(
    reason=Reason.EXECUTION_TARGET_NOT_ALLOWED,
    message="ExecutionTarget shared does not admit namespace team-b",
)


def test_a_refused_first_launch_blocks_on_governance_and_resumes() -> None:
    sim = Sim()
    d = sim.step(observe(launch_refusal=REFUSED))
    assert (d.phase, d.reason, d.launches) == (
        Phase.BLOCKED,
        Reason.EXECUTION_TARGET_NOT_ALLOWED,
        (),
    )
    assert d.blocked_by is not None and d.blocked_by.kind is BlockKind.GOVERNANCE
    assert d.blocked_by.message.startswith(REFUSED.message)
    assert "platform admin" in d.next_action
    assert sim.state.job is None
    # Still refused: it stays, writing nothing new.
    d = sim.step(observe(launch_refusal=REFUSED))
    assert (d.phase, d.transitioned, d.actions) == (Phase.BLOCKED, False, ())
    # A different refusal (the target deleted) replaces the words.
    missing = LaunchRefusal(reason=Reason.EXECUTION_TARGET_MISSING, message="gone")
    d = sim.step(observe(launch_refusal=missing))
    assert d.blocked_by is not None and d.blocked_by.reason is Reason.EXECUTION_TARGET_MISSING
    # Restored: it resumes and launches the baseline evaluation at once.
    d = sim.step(observe())
    assert (d.phase, d.reason) == (Phase.EVALUATING_BASELINE, Reason.RESUMED)
    assert [j.name for j in d.launches] == [sim.job_name]
    assert sim.job_name.endswith("-i0-eval-a1")


def test_a_refused_training_launch_keeps_the_baseline_verdict() -> None:
    sim = Sim()
    sim.start()
    card_passing = {"b-01", "b-02", "b-03"}
    normal = Sim()
    normal.baseline(card_passing)
    expected = normal.decisions[-1].launches

    sc = card(0, card_passing)
    d = sim.step(observe(job=succeeded(sim.job_name), scorecard=sc, launch_refusal=REFUSED))
    assert d.phase is Phase.BLOCKED and d.launches == ()
    assert sim.state.resume_phase is Phase.TRAINING and sim.state.iteration == 1
    assert sim.state.scores.baseline is not None  # the baseline's verdict stands
    kinds = [e.kind for e in d.ledger_entries]
    assert LedgerKind.JOB not in kinds and LedgerKind.RECIPE not in kinds
    # Restored: the same training Job (same name and recipe) as without the block.
    d = sim.step(observe(accepted_scorecard=sc))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
    assert [(j.name, j.recipe) for j in d.launches] == [(j.name, j.recipe) for j in expected]
