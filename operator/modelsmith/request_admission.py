"""Admission policies recording who requested a run and keeping serving targets consented.

- `modelsmith-run-requester`: an IterationRun is created only with the annotation
  `modelsmith.io/requested-by` equal to the creating user (`request.userInfo.username`), and no
  update may change it. The operator copies it into the run's PromotionGate as spec.requestedBy,
  and the approval policy refuses that user's sign-off: nobody approves their own run.
- `modelsmith-intake-approvers`: whoever writes an intake's approver chain cannot list themselves
  in it (the run's requester is kept off its gate separately).
- `modelsmith-intake-serving-target`: a ModelIntake's serving pointer is never in a kube-*
  system namespace, and is a ConfigMap its requester could patch themselves (an `authorizer`
  check), so an intake cannot borrow the operator's reach to move someone else's pointer. The
  operator checks the owning team's opt-in (`modelsmith.serving`) at intake validation and
  before every pointer move; what admission cannot see (the ConfigMap's labels) is its job.

Generated like the approval policy: `modelsmith crds` writes them beside the CRDs and into the
chart.
"""

from __future__ import annotations

from typing import Any, Final

from modelsmith.api.run import REQUESTED_BY_ANNOTATION
from modelsmith.policyfiles import PolicyFiles, deny_policy
from modelsmith.serving import SYSTEM_NAMESPACES

RUN_REQUESTER: Final = "modelsmith-run-requester"
SERVING_TARGET: Final = "modelsmith-intake-serving-target"
INTAKE_APPROVERS: Final = "modelsmith-intake-approvers"
_A: Final = REQUESTED_BY_ANNOTATION


def _annotation(obj: str) -> str:
    return (
        f"('{_A}' in {obj}.metadata.?annotations.orValue({{}}) ? "
        f"{obj}.metadata.annotations['{_A}'] : '')"
    )


def run_requester_manifests() -> list[dict[str, Any]]:
    variables = [
        ("user", "request.userInfo.username"),
        ("requestedBy", _annotation("object")),
        ("before", f"request.operation == 'UPDATE' ? {_annotation('oldObject')} : ''"),
    ]
    validations = [
        {
            "expression": "request.operation != 'CREATE' || "
            "variables.requestedBy == variables.user",
            "message": f"an IterationRun must carry the annotation {_A} naming the user who "
            "creates it",
            "messageExpression": (
                f"'an IterationRun must carry the annotation {_A}: \"' + variables.user + "
                "'\" (the user creating it, who then cannot sign its PromotionGate); it has \"' "
                "+ variables.requestedBy + '\"'"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "request.operation != 'UPDATE' || variables.requestedBy == "
            "variables.before",
            "message": f"the annotation {_A} is immutable: it records who requested the run",
            "messageExpression": (
                f"'the annotation {_A} is immutable: it records who requested the run and must "
                "stay \"' + variables.before + '\"'"
            ),
            "reason": "Forbidden",
        },
    ]
    return deny_policy(RUN_REQUESTER, "iterationruns", validations, variables=variables)


def serving_target_manifests() -> list[dict[str, Any]]:
    system = ", ".join(f"'{n}'" for n in SYSTEM_NAMESPACES)
    variables = [
        ("target", "object.spec.servingTarget"),
        ("ns", "variables.target.?namespace.orValue(request.namespace)"),
        (
            "unchanged",
            "request.operation == 'UPDATE' && "
            "oldObject.spec.servingTarget == object.spec.servingTarget",
        ),
        (
            "where",
            "'ConfigMap ' + variables.ns + '/' + variables.target.configMapName",
        ),
    ]
    validations = [
        {
            "expression": f"variables.unchanged || !(variables.ns in [{system}])",
            "message": "a serving target never lives in a Kubernetes system namespace",
            "messageExpression": (
                "'serving target ' + variables.where + ' is refused: serving pointers never "
                f"live in the Kubernetes system namespaces ({', '.join(SYSTEM_NAMESPACES)})'"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "variables.unchanged || authorizer.group('').resource('configmaps')"
            ".namespace(variables.ns).name(variables.target.configMapName).check('patch')"
            ".allowed()",
            "message": "a serving target must be a ConfigMap the requester may patch themselves",
            "messageExpression": (
                "'serving target ' + variables.where + ' is refused: user ' + "
                "request.userInfo.username + ' may not patch it themselves, and promotion moves "
                "only pointers its requester could move'"
            ),
            "reason": "Forbidden",
        },
    ]
    return deny_policy(SERVING_TARGET, "modelintakes", validations, variables=variables)


def intake_approvers_manifests() -> list[dict[str, Any]]:
    """Whoever writes an intake's approver chain cannot name themselves in it (by user name;
    system: names are refused by the CRD already). Checked when the chain is created or
    changed, so another editor's later edit of something else is not judged on it."""
    variables = [
        ("user", "request.userInfo.username"),
        ("chain", "object.spec.promotion.approvers"),
        (
            "unchanged",
            "request.operation == 'UPDATE' && "
            "oldObject.spec.promotion.approvers == object.spec.promotion.approvers",
        ),
        (
            "mine",
            "variables.chain.filter(a, variables.user in a.?users.orValue([])).map(a, a.role)",
        ),
    ]
    validations = [
        {
            "expression": "variables.unchanged || size(variables.mine) == 0",
            "message": "whoever writes an approver chain cannot name themselves in it",
            "messageExpression": (
                "'user ' + variables.user + ' may not name themselves in the approver chain "
                "(role ' + variables.mine[0] + '): whoever writes an approver chain cannot "
                "approve through it'"
            ),
            "reason": "Forbidden",
        },
    ]
    return deny_policy(INTAKE_APPROVERS, "modelintakes", validations, variables=variables)


def request_policy_manifests() -> list[dict[str, Any]]:
    """Every policy and its binding, in the order they are shipped."""
    return [
        *run_requester_manifests(),
        *serving_target_manifests(),
        *intake_approvers_manifests(),
    ]


HEADER: Final = (
    "# Generated by `modelsmith crds` from modelsmith/request_admission.py; do not edit.\n"
    f"# {RUN_REQUESTER}: a run records its creator; {SERVING_TARGET}: serving\n"
    "# targets are never in kube-* namespaces and are ConfigMaps the requester may patch;\n"
    f"# {INTAKE_APPROVERS}: whoever writes an approver chain is not in it.\n"
)


CHART_HEADER: Final = (
    "{{- /* Generated by `modelsmith crds` from operator/modelsmith/request_admission.py. Do\n"
    "not edit: change request_policy_manifests() and regenerate. */ -}}\n"
)
FILES: Final = PolicyFiles(
    request_policy_manifests,
    "crds/request-policies.yaml",
    HEADER,
    "charts/modelsmith/templates/request-policies.yaml",
    CHART_HEADER,
)


def request_policies_yaml() -> str:
    """The policies and bindings as one multi-document YAML text."""
    return FILES.yaml()
