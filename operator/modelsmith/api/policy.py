"""ApproverPolicy: the roles a promotion needs in selected namespaces, owned by platform admins.

Cluster-scoped, so a namespace editor can neither write nor delete one. Every policy whose
namespaceSelector matches an intake's namespace contributes its roles, in policy order (by name),
to the effective chain the operator copies into each PromotionGate (`modelsmith.governance`);
the intake can add roles of its own but never drop or widen a policy's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelsmith.api.approvers import Approver, approvers_field, require_unique_roles
from modelsmith.api.base import ApiModel
from modelsmith.api.common import KubernetesObject, observed_generation_field
from modelsmith.api.resource import AGE_COLUMN, PrinterColumn, ResourceKind
from modelsmith.api.selector import LabelSelector


class ApproverPolicySpec(ApiModel):
    """Which namespaces the policy governs, the roles it requires and who may hold them."""

    namespace_selector: LabelSelector = Field(
        description="The namespaces whose promotions need these roles ({} selects every one)."
    )
    roles: list[Approver] = approvers_field(
        "The roles every promotion in the selected namespaces needs, in sign-off order, and "
        "who may hold each (users and groups starting with system: never count)."
    )
    approval_ttl_hours: int | None = Field(
        default=None,
        ge=1,
        le=8760,
        description="The longest an approval stays valid in the selected namespaces; an intake "
        "may set a shorter one, never a longer one.",
    )

    @model_validator(mode="after")
    def _unique_roles(self) -> ApproverPolicySpec:
        require_unique_roles(self.roles)
        return self


class ApproverPolicyStatus(ApiModel):
    """Reserved: the operator reads policies and records nothing on them yet."""

    observed_generation: int | None = observed_generation_field()


class ApproverPolicy(KubernetesObject):
    """An admin-owned approver policy."""

    kind: Literal["ApproverPolicy"] = Field(default="ApproverPolicy", description="ApproverPolicy.")
    spec: ApproverPolicySpec = Field(description="Selected namespaces, roles and TTL.")
    status: ApproverPolicyStatus | None = Field(default=None, description="Observed state.")


APPROVER_POLICY = ResourceKind(
    kind="ApproverPolicy",
    plural="approverpolicies",
    short_name="approverpolicy",
    spec=ApproverPolicySpec,
    status=ApproverPolicyStatus,
    description=(
        "An ApproverPolicy (cluster-scoped, written by platform admins) fixes the roles every "
        "promotion in the namespaces it selects must be signed by, and who may hold each. "
        "ModelIntakes there may add roles but never drop one or widen who holds it; the "
        "operator copies the effective chain into each PromotionGate."
    ),
    columns=(
        PrinterColumn("Roles", "string", ".spec.roles[*].role", "Required roles."),
        PrinterColumn("TTL", "integer", ".spec.approvalTtlHours", "Approval TTL in hours."),
        AGE_COLUMN,
    ),
    namespaced=False,
)
