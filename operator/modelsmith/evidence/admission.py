"""The admission policy that lets only the approver chain sign off a PromotionGate.

Approvers sign off by annotating the gate (see `modelsmith.api.gate`):

    approval.modelsmith.io/<role>: "<approved|rejected>:<username>:<first 12 hex of evidence>"
    modelsmith.io/rollback: "<username>"

The API server enforces who may set them, with a ValidatingAdmissionPolicy comparing
`request.userInfo` with the gate's own `spec.approvers` (immutable, copied from the intake), so
no webhook, and no operator downtime, can let a sign-off through. For every approval annotation
a request adds, changes or removes:

- its role must be one of spec.approvers[].role;
- the requesting user must be listed for that role, by name or through one of their groups;
- its value must read `<approved|rejected>:<username>:<12 hex>` and name the requesting user;
- the requesting user is neither a `system:` identity nor spec.requestedBy (who created the
  run), and `system:` groups never count as membership.

The rollback annotation may be set only by someone in some approver role, naming themselves.
Requests that leave those annotations alone (the operator creating the gate, or updating its
labels, finalizers and other annotations) pass untouched. Status updates go through the status
subresource, which the policy does not match. Order and evidence freshness are the operator's
to judge: it sees the whole chain, the policy sees one request.

The manifests are generated here (the chart's templates are written by hand elsewhere); the
`modelsmith crds` command writes `approval_policy_yaml()` beside the CRDs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from modelsmith.api.gate_annotations import APPROVAL_ANNOTATION_PREFIX, ROLLBACK_ANNOTATION
from modelsmith.policyfiles import PolicyFiles, deny_policy, policy_yaml, write_if_changed

POLICY_NAME: Final = "modelsmith-promotiongate-approvals"
APPROVAL_VALUE_PATTERN: Final = "^(approved|rejected):[^:]+:[a-f0-9]{12}$"
_P: Final = APPROVAL_ANNOTATION_PREFIX
_N: Final = len(APPROVAL_ANNOTATION_PREFIX)
_R: Final = ROLLBACK_ANNOTATION


def _role(key: str) -> str:
    """CEL for the role an approval annotation key names."""
    return f"{key}.substring({_N})"


_VARIABLES: Final = [
    ("annotations", "object.metadata.?annotations.orValue({})"),
    (
        "oldAnnotations",
        "request.operation == 'UPDATE' ? oldObject.metadata.?annotations.orValue({}) : {}",
    ),
    ("user", "request.userInfo.username"),
    # system: groups (system:authenticated, system:serviceaccounts, ...) never confer a role.
    (
        "groups",
        "request.userInfo.?groups.orValue([]).filter(g, !g.startsWith('system:'))",
    ),
    ("requester", "object.spec.?requestedBy.orValue('')"),
    ("approvers", "object.spec.?approvers.orValue([])"),
    ("chainRoles", "variables.approvers.map(a, a.role)"),
    (
        "myRoles",
        "variables.approvers.filter(a, variables.user in a.?users.orValue([]) || "
        "a.?groups.orValue([]).exists(g, g in variables.groups)).map(a, a.role)",
    ),
    (
        "changed",
        f"variables.annotations.filter(k, k.startsWith('{_P}') && "
        "(!(k in variables.oldAnnotations) || "
        "variables.oldAnnotations[k] != variables.annotations[k]))",
    ),
    (
        "removed",
        f"variables.oldAnnotations.filter(k, k.startsWith('{_P}') && "
        "!(k in variables.annotations))",
    ),
    ("touched", "variables.changed + variables.removed"),
    (
        "unknownRole",
        f"variables.touched.filter(k, !({_role('k')} in variables.chainRoles))",
    ),
    (
        "notEntitled",
        f"variables.touched.filter(k, {_role('k')} in variables.chainRoles && "
        f"!({_role('k')} in variables.myRoles))",
    ),
    (
        "malformed",
        "variables.changed.filter(k, "
        f"!variables.annotations[k].matches('{APPROVAL_VALUE_PATTERN}'))",
    ),
    (
        "namesOther",
        f"variables.changed.filter(k, variables.annotations[k].matches('{APPROVAL_VALUE_PATTERN}')"
        " && variables.annotations[k].split(':')[1] != variables.user)",
    ),
    (
        "rollbackChanged",
        f"'{_R}' in variables.annotations && (!('{_R}' in variables.oldAnnotations) || "
        f"variables.oldAnnotations['{_R}'] != variables.annotations['{_R}'])",
    ),
]

_HOW: Final = (
    f"sign off with {_P}<role>=<approved|rejected>:<your username>:"
    "<first 12 hex characters of spec.evidence.digest>"
)

_VALIDATIONS: Final = [
    {
        "expression": "size(variables.touched) == 0 || !variables.user.startsWith('system:')",
        "message": "system: identities (ServiceAccounts, system users) can never sign off a "
        "PromotionGate",
        "messageExpression": (
            "'user ' + variables.user + ' may not set ' + variables.touched[0] + ': system: "
            "identities (ServiceAccounts, system users) can never sign off a PromotionGate'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "size(variables.touched) == 0 || variables.user != variables.requester",
        "message": "the user who requested the run (spec.requestedBy) cannot sign its gate",
        "messageExpression": (
            "'user ' + variables.user + ' may not set ' + variables.touched[0] + ': the user "
            "who requested the run (spec.requestedBy) cannot sign its gate; another holder of "
            "the role must'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "size(variables.unknownRole) == 0",
        "message": "an approval annotation names a role that is not in spec.approvers",
        "messageExpression": (
            "'approval annotation ' + variables.unknownRole[0] + ' names no role in "
            "spec.approvers (roles: ' + variables.chainRoles.join(', ') + ')'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "size(variables.notEntitled) == 0",
        "message": "only the users and groups listed for a role in spec.approvers may set its "
        "approval annotation",
        "messageExpression": (
            "'user ' + variables.user + ' may not sign off as ' + "
            f"{_role('variables.notEntitled[0]')} + ': only the users and groups listed for "
            "that role in spec.approvers may set ' + variables.notEntitled[0]"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "size(variables.malformed) == 0",
        "message": f"approval annotations must read <approved|rejected>:<username>:<12 hex>; "
        f"{_HOW}",
        "messageExpression": (
            "'the value of ' + variables.malformed[0] + ' must read "
            "<approved|rejected>:<username>:<first 12 hex characters of spec.evidence.digest>, "
            "for example approved:' + variables.user + ':' + "
            "object.spec.evidence.digest.substring(7, 19)"
        ),
        "reason": "Invalid",
    },
    {
        "expression": "size(variables.namesOther) == 0",
        "message": "an approval must name the user who gives it",
        "messageExpression": (
            "'the value of ' + variables.namesOther[0] + ' names ' + "
            "variables.annotations[variables.namesOther[0]].split(':')[1] + ' but the request "
            "comes from ' + variables.user + ': an approval must name the user who gives it'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "!variables.rollbackChanged || size(variables.myRoles) > 0",
        "message": f"only a member of the approver chain may set {_R}",
        "messageExpression": (
            f"'user ' + variables.user + ' may not set {_R}: only the users and groups of "
            "spec.approvers may ask for a rollback'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": f"!variables.rollbackChanged || variables.annotations['{_R}'] == "
        "variables.user",
        "message": f"{_R} must name the user who asks for the rollback",
        "messageExpression": (
            f"'{_R} must name the user who asks for the rollback: set it to ' + variables.user"
        ),
        "reason": "Forbidden",
    },
]


def approval_policy_manifests(name: str = POLICY_NAME) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and its binding (validationActions [Deny])."""
    return deny_policy(name, "promotiongates", _VALIDATIONS, variables=_VARIABLES)


HEADER: Final = (
    "# Generated by `modelsmith crds` from modelsmith/evidence/admission.py; do not edit.\n"
    "# Lets only a PromotionGate's approver chain set its approval.modelsmith.io/<role>\n"
    "# and modelsmith.io/rollback annotations, each naming the requesting user.\n"
)


CHART_HEADER: Final = (
    "{{- /* Generated by `modelsmith crds` from operator/modelsmith/evidence/admission.py. Do\n"
    "not edit: change approval_policy_manifests() and regenerate. */ -}}\n"
)
FILES: Final = PolicyFiles(
    approval_policy_manifests,
    "crds/admission-policy.yaml",
    HEADER,
    "charts/modelsmith/templates/admission-policy.yaml",
    CHART_HEADER,
)


def approval_policy_yaml(name: str = POLICY_NAME) -> str:
    """The policy and binding as one multi-document YAML text."""
    return policy_yaml(approval_policy_manifests(name), HEADER)


def write_approval_policy(path: Path, name: str = POLICY_NAME) -> bool:
    """Write the YAML to `path`; True when the file changed."""
    return write_if_changed(path, approval_policy_yaml(name))
