"""The admission policy that refuses a ModelIntake naming an ExecutionTarget its namespace may
not use, or asking for more GPUs or nodes than the target allows.

A ValidatingAdmissionPolicy with paramKind ExecutionTarget, bound with `paramRef.selector: {}`:
the API server evaluates it once per target, so each evaluation sees one target (`params`)
beside the intake (`object`) and its namespace (`namespaceObject`). Evaluations for targets the
intake does not name pass. For the one it names:

- the namespace's labels must match the target's `spec.namespaceSelector` (matchLabels and
  matchExpressions with In/NotIn/Exists/DoesNotExist, as `modelsmith.api.selector` evaluates
  them for the operator);
- `spec.executionTargetRef.gpuCount`, when set, must not exceed the target's `spec.maxGpus`;
- `spec.executionTargetRef.nodeCount`, when set, must not exceed the target's
  `spec.maxTrainingNodes`.

An intake naming no existing target passes (`parameterNotFoundAction: Allow` when there are
none at all): it is admitted not Ready, and the operator says the target is missing. The
operator re-checks the same rule (`modelsmith.targets.rules`) before every Job launch, since a
target's selector or a namespace's labels can change after admission.

`modelsmith crds` writes the manifests beside the CRDs and into the chart's templates.
"""

from __future__ import annotations

from typing import Any, Final

from modelsmith import policyfiles
from modelsmith.policyfiles import PolicyFiles, deny_policy

POLICY_NAME: Final = "modelsmith-intake-execution-target"
CRDS_FILE: Final = "crds/admission-execution-target.yaml"
CHART_TEMPLATE: Final = "charts/modelsmith/templates/admission-execution-target.yaml"

_SELECTOR: Final = "params.spec.namespaceSelector"
_REQUIREMENT_HOLDS: Final = (
    "r.operator == 'In' ? (r.key in variables.labels && variables.labels[r.key] in "
    "r.?values.orValue([])) : r.operator == 'NotIn' ? !(r.key in variables.labels && "
    "variables.labels[r.key] in r.?values.orValue([])) : r.operator == 'Exists' ? "
    "r.key in variables.labels : !(r.key in variables.labels)"
)

_VARIABLES: Final = [
    ("named", "object.spec.?executionTargetRef.?name.orValue('') == params.metadata.name"),
    ("labels", "namespaceObject.metadata.?labels.orValue({})"),
    (
        "labelsMatch",
        f"{_SELECTOR}.?matchLabels.orValue({{}}).all(k, k in variables.labels && "
        f"variables.labels[k] == {_SELECTOR}.matchLabels[k])",
    ),
    (
        "expressionsMatch",
        f"{_SELECTOR}.?matchExpressions.orValue([]).all(r, {_REQUIREMENT_HOLDS})",
    ),
    ("gpuCount", "object.spec.?executionTargetRef.?gpuCount.orValue(0)"),
    ("maxGpus", "params.spec.?maxGpus.orValue(1)"),
    ("nodeCount", "object.spec.?executionTargetRef.?nodeCount.orValue(1)"),
    ("maxNodes", "params.spec.?maxTrainingNodes.orValue(1)"),
]

_VALIDATIONS: Final = [
    {
        "expression": "!variables.named || (variables.labelsMatch && variables.expressionsMatch)",
        "message": "the ExecutionTarget's spec.namespaceSelector does not select the intake's "
        "namespace",
        "messageExpression": (
            "'ExecutionTarget ' + params.metadata.name + ' does not admit namespace ' + "
            "namespaceObject.metadata.name + ': its spec.namespaceSelector does not match the "
            "namespace\\'s labels (rule: an intake may use only a target whose namespaceSelector "
            "selects its namespace; ask a platform admin, or name another target in "
            "spec.executionTargetRef.name)'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.named || variables.gpuCount <= variables.maxGpus",
        "message": "spec.executionTargetRef.gpuCount exceeds the ExecutionTarget's spec.maxGpus",
        "messageExpression": (
            "'spec.executionTargetRef.gpuCount ' + string(variables.gpuCount) + ' exceeds "
            "ExecutionTarget ' + params.metadata.name + '\\'s spec.maxGpus ' + "
            "string(variables.maxGpus) + ' (rule: an intake may narrow a target, never widen "
            "it)'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.named || variables.nodeCount <= variables.maxNodes",
        "message": "spec.executionTargetRef.nodeCount exceeds the ExecutionTarget's "
        "spec.maxTrainingNodes",
        "messageExpression": (
            "'spec.executionTargetRef.nodeCount ' + string(variables.nodeCount) + ' exceeds "
            "ExecutionTarget ' + params.metadata.name + '\\'s spec.maxTrainingNodes ' + "
            "string(variables.maxNodes) + ' (rule: an intake may narrow a target, never widen "
            "it)'"
        ),
        "reason": "Forbidden",
    },
]


def manifests(name: str = POLICY_NAME) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding (validationActions [Deny]). Like the
    approval policy, it names the served version so the API server type-checks the CEL against
    both CRDs' schemas."""
    return deny_policy(
        name,
        "modelintakes",
        _VALIDATIONS,
        variables=_VARIABLES,
        param_kind="ExecutionTarget",
        param_ref={"selector": {}, "parameterNotFoundAction": "Allow"},
    )


HEADER: Final = (
    "# Generated by `modelsmith crds` from modelsmith/targets/admission.py; do not edit.\n"
    "# Refuses a ModelIntake naming an ExecutionTarget whose namespaceSelector does not select\n"
    "# its namespace, or asking for more GPUs or nodes than the target's maxGpus or\n"
    "# maxTrainingNodes.\n"
)
CHART_HEADER: Final = (
    "{{- /* Generated by `modelsmith crds` from operator/modelsmith/targets/admission.py. Do\n"
    "not edit: change manifests() there and regenerate. */ -}}\n"
)


FILES: Final = PolicyFiles(manifests, CRDS_FILE, HEADER, CHART_TEMPLATE, CHART_HEADER)


def policy_yaml(name: str = POLICY_NAME) -> str:
    """The policy and binding as one multi-document YAML text (for crds/)."""
    return policyfiles.policy_yaml(manifests(name), HEADER)


def chart_template() -> str:
    """The chart's template (inside `admissionPolicy.enabled`, chart-labelled)."""
    return FILES.chart_template()
