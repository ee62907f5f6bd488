"""Types shared by the four kinds: references, conditions, approvers, and the CEL helpers.

Every string and list here is bounded. The API server estimates the worst-case cost of each CEL
rule from those bounds and refuses a CRD whose estimate is too high, so an unbounded field that a
rule touches (directly or through `self == oldSelf`) would make the whole CRD unusable.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel

GROUP = "modelsmith.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "modelsmith"

# Kubernetes name grammars (RE2-compatible: the API server evaluates `pattern` with Go's regexp).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIGMAP_KEY = r"^[-._a-zA-Z0-9]+$"
SHA256_DIGEST = r"^sha256:[a-f0-9]{64}$"
# A human-readable label used on shared surfaces instead of an object key or URI.
READABLE_LABEL = r"^[A-Za-z0-9]([-A-Za-z0-9_.@+]*[A-Za-z0-9])?$"

DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Label = Annotated[str, Field(min_length=1, max_length=128, pattern=READABLE_LABEL)]
ScenarioId = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
Reason = Annotated[str, Field(max_length=128)]
Message = Annotated[str, Field(max_length=1024)]
Digest = Annotated[str, Field(max_length=71, pattern=SHA256_DIGEST)]
Score = Annotated[float, Field(ge=0, le=1)]


# --- CEL (x-kubernetes-validations) helpers -------------------------------------------------


def cel(
    rule: str,
    message: str,
    *,
    reason: str | None = None,
    field_path: str | None = None,
) -> dict[str, Any]:
    """One `x-kubernetes-validations` entry. `reason` is one of the API server's
    FieldValueInvalid / FieldValueRequired / FieldValueForbidden / FieldValueDuplicate;
    `field_path` (e.g. `.value`) makes the error point at the field a reader must fix."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if reason is not None:
        entry["reason"] = reason
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A `json_schema_extra` carrying CEL rules (and any other `x-kubernetes-*` keys)."""
    out: dict[str, Any] = dict(extra)
    if rules:
        out["x-kubernetes-validations"] = list(rules)
    return out


def immutable(message: str) -> dict[str, Any]:
    """A transition rule: once set, the field keeps its value. Only evaluated on update when
    the field exists in both the old and the new object."""
    return cel("self == oldSelf", message)


def list_map(*keys: str) -> dict[str, Any]:
    """Schema keys making a list behave as a map keyed by `keys` (server-side apply merges
    entries by key and the API server refuses duplicate keys)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


UNIQUE_ROLES_RULE = "self.all(a, self.exists_one(b, b.role == a.role))"
UNIQUE_ROLES_MESSAGE = "approver roles must be unique"
APPROVER_NEEDS_PRINCIPAL = "an approver needs at least one user or group"
SYSTEM_PREFIX = "system:"
SYSTEM_APPROVER_MESSAGE = (
    "approvers must be people: users and groups starting with system: (ServiceAccounts, "
    "system:authenticated and other system groups) can never approve"
)


# Principals are compared as `normal_name` spells them; one written so that it compares as
# something else (surrounding whitespace, invisible characters) is refused at apply, with the
# invisible characters shown. Case is not refused (identity providers spell names as they
# like) but never separates two people.
_INVISIBLE_CLASS = r"[\\p{Cc}\\p{Cf}]"
"""Control and format characters (tabs, newlines, zero-width spaces, BOMs) as a CEL regex."""
_SHOWN_INVISIBLE = (
    ("\t", "\\t"),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\u200b", "<U+200B>"),
    ("\ufeff", "<U+FEFF>"),
    ("\u00a0", "<U+00A0>"),
    (" ", "\u2420"),
)
"""How a message spells the invisible characters it can name (a space as the symbol for one)."""


def normal_name(name: str) -> str:
    """A user or group name as identity comparisons see it: Unicode compatibility form, without
    surrounding whitespace, case folded. `Alice` and `alice ` are one person to separation of
    duties, the requester rule and chain narrowing."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def miswritten(name: str) -> bool:
    """Whether `name` hides something a reader cannot see: surrounding whitespace, or a control
    or format character anywhere (the CEL rule `names_as_written` refuses the same)."""
    return name != name.strip() or any(unicodedata.category(c) in ("Cc", "Cf") for c in name)


def shown_name(name: str) -> str:
    """`name` as a message shows it: as written when every character is visible, else quoted
    with its whitespace and invisible characters spelled out."""
    if not any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return name
    for char, shown in _SHOWN_INVISIBLE:
        name = name.replace(char, shown)
    out = "".join(
        c if unicodedata.category(c) not in ("Cc", "Cf") else f"<U+{ord(c):04X}>" for c in name
    )
    return f'"{out}"'


def _cel_escape(text: str) -> str:
    return text.encode("unicode_escape").decode().replace("'", "\\'")


def names_as_written(noun: str) -> dict[str, Any]:
    """The CEL rule on one user or group name refusing what `miswritten` refuses; the message
    quotes the name with its invisible characters shown. On each name rather than on the list:
    a rule over every name of every role costs the API server more than a CRD may."""
    shown = "'\"' + self"
    for char, visible in _SHOWN_INVISIBLE:
        shown += f".replace('{_cel_escape(char)}', '{_cel_escape(visible)}')"
    return {
        "rule": f"self == self.trim() && !self.matches('{_INVISIBLE_CLASS}')",
        # The fallback should the expression fail: the rule without the name.
        "message": _as_written_message(noun).removesuffix("; refused: "),
        "messageExpression": f"'{_as_written_message(noun)}' + {shown} + '\"'",
    }


def _as_written_message(noun: str) -> str:
    return (
        f"{noun} names must be written as they compare: no leading or trailing whitespace and "
        "no invisible characters; refused: "
    )


def _as_written(noun: str) -> Any:
    def check(name: str) -> str:
        if miswritten(name):
            raise ValueError(_as_written_message(noun) + shown_name(name))
        return name

    return check


Username = Annotated[str, Field(min_length=1, max_length=253)]
"""A user name as recorded (who signed, who asked): kept as the API server or annotation gave it."""
ApproverUser = Annotated[
    str,
    Field(min_length=1, max_length=253, json_schema_extra=validations(names_as_written("user"))),
    AfterValidator(_as_written("user")),
]
"""A user name in an approver chain: written as it compares (`names_as_written`)."""
ApproverGroup = Annotated[
    str,
    Field(min_length=1, max_length=253, json_schema_extra=validations(names_as_written("group"))),
    AfterValidator(_as_written("group")),
]


def require_unique_roles(approvers: list[Approver]) -> None:
    """Python twin of UNIQUE_ROLES_RULE, so the operator refuses what the API server refuses."""
    roles = [a.role for a in approvers]
    if len(set(roles)) != len(roles):
        raise ValueError(UNIQUE_ROLES_MESSAGE)


# --- Shared enums ---------------------------------------------------------------------------


class Dimension(StrEnum):
    """A scenario dimension that coverage, balance and failure clusters are reported by."""

    CAPABILITY = "capability"
    RISK = "risk"
    OPERATOR_LENS = "operatorLens"
    OUTCOME_TYPE = "outcomeType"


class BlockerKind(StrEnum):
    """Why progress stopped: quality (threshold not met, regressions, contamination),
    governance (approval missing, rejected, out of order, expired) or infrastructure (no GPU
    capacity, a Job failing past its retry budget, object store unreachable)."""

    QUALITY = "quality"
    GOVERNANCE = "governance"
    INFRASTRUCTURE = "infrastructure"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# --- Shared objects -------------------------------------------------------------------------


class Condition(ApiModel):
    """The latest observation of one aspect of the resource, following the Kubernetes API
    conventions (metav1.Condition)."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="The aspect observed, in CamelCase (e.g. Ready).",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="A CamelCase code for why the condition is in this status "
        "(e.g. Validated, DigestMismatch).",
    )
    message: str = Field(
        default="",
        max_length=32768,
        description="A human-readable explanation. Never carries prompts, completions, object "
        "keys or other artefact identifiers.",
    )
    last_transition_time: datetime = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation the condition was computed from; older than the "
        "object's generation means the condition is stale.",
    )


def conditions_field() -> Any:
    """The `conditions` field every status has: a list keyed by type."""
    return Field(
        default_factory=list,
        max_length=16,
        description="Current conditions, keyed by type. Ready summarises the resource: True "
        "when the operator has accepted it, False with a reason when it has not.",
        json_schema_extra=list_map("type"),
    )


def observed_generation_field() -> Any:
    return Field(
        default=None,
        ge=0,
        description="The metadata.generation of the spec the operator last acted on.",
    )


class LocalObjectReference(ApiModel):
    # No docstring on purpose: the field using it says which kind it names, and a generic
    # sentence would be appended to that description in `kubectl explain`.

    name: ObjectName = Field(description="The object's name.")


class Candidate(ApiModel):
    """A trained model that may be promoted, named by its readable label."""

    label: Label = Field(
        description="A readable label for the candidate (e.g. support-triage-run-1-iter-3). "
        "Never an object key."
    )
    iteration: int = Field(ge=0, le=10_000, description="The iteration that produced it.")
    adapter_digest: Digest | None = Field(
        default=None,
        description="sha256 of the weights the candidate's training Job wrote (its lineage): "
        "the content a promotion serves. The promotion record carries it.",
    )


class Approver(ApiModel):
    """One role in the approver chain. Anyone listed (by user name or group) may sign off the
    role by annotating the PromotionGate; the admission policy shipped in the chart enforces it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.users) && size(self.users) > 0) || "
                "(has(self.groups) && size(self.groups) > 0)",
                APPROVER_NEEDS_PRINCIPAL,
            ),
            cel(
                "!has(self.users) || self.users.all(u, !u.startsWith('system:'))",
                SYSTEM_APPROVER_MESSAGE,
                field_path=".users",
            ),
            cel(
                "!has(self.groups) || self.groups.all(g, !g.startsWith('system:'))",
                SYSTEM_APPROVER_MESSAGE,
                field_path=".groups",
            ),
        )
    )

    role: str = Field(
        min_length=1,
        max_length=40,
        pattern=DNS_LABEL,
        description="The role's name (lowercase, digits, dashes; at most 40 characters), e.g. "
        "domain-owner. It names the approval annotation: approval.modelsmith.io/<role>.",
    )
    users: list[ApproverUser] = Field(
        default_factory=list,
        max_length=32,
        description="User names (as the API server authenticates them) allowed to sign off.",
    )
    groups: list[ApproverGroup] = Field(
        default_factory=list,
        max_length=32,
        description="Groups whose members are allowed to sign off.",
    )

    @model_validator(mode="after")
    def _has_principal(self) -> Approver:
        if not self.users and not self.groups:
            raise ValueError(APPROVER_NEEDS_PRINCIPAL)
        if any(p.startswith(SYSTEM_PREFIX) for p in [*self.users, *self.groups]):
            raise ValueError(SYSTEM_APPROVER_MESSAGE)
        return self


def approvers_field(description: str, *extra_rules: dict[str, Any]) -> Any:
    """The approver chain: 1..8 roles, unique, in sign-off order."""
    return Field(
        min_length=1,
        max_length=8,
        description=description,
        json_schema_extra=validations(
            cel(UNIQUE_ROLES_RULE, UNIQUE_ROLES_MESSAGE),
            *extra_rules,
            **list_map("role"),
        ),
    )


class ServingTarget(ApiModel):
    """The serving pointer: a ConfigMap key whose value names the model being served.
    Promotion writes the candidate into it; rollback restores the previous value."""

    config_map_name: ObjectName = Field(description="Name of the serving pointer ConfigMap.")
    namespace: DnsLabel | None = Field(
        default=None,
        description="Namespace of the ConfigMap; defaults to the resource's own namespace.",
    )
    key: str = Field(
        default="model",
        min_length=1,
        max_length=253,
        pattern=CONFIGMAP_KEY,
        description="The ConfigMap key holding the pointer.",
    )


class RollbackContract(ApiModel):
    """What rolling back a promotion means for this domain."""

    expectation: str = Field(
        min_length=1,
        max_length=1024,
        description="The rollback expectation in plain words (e.g. 'restore the previous model "
        "within 5 minutes; no data migration'). Copied into the evidence bundle.",
    )
    retain_previous: bool = Field(
        default=True,
        description="Keep the previous serving pointer so a rollback can restore it.",
    )


class Blocker(ApiModel):
    """Something that stops progress, with the kind of problem it is."""

    kind: BlockerKind = Field(description="quality, governance or infrastructure.")
    reason: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="A CamelCase code (e.g. ThresholdNotMet, ApprovalMissing, Unschedulable).",
    )
    message: Message = Field(default="", description="What is wrong and how to unblock it.")


class KubernetesObject(ApiModel):
    """The envelope every kind shares. `metadata` stays a plain mapping: the API server owns
    its shape and adds fields (managedFields, uid, ...) that the operator never interprets."""

    api_version: str = Field(default=API_VERSION, description="modelsmith.io/v1alpha1.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard metadata.")

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))
