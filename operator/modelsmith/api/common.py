"""Types shared by the kinds: references, conditions, blockers, and the CEL helpers (the approver
chain is in modelsmith.api.approvers).

Every string and list here is bounded. The API server estimates the worst-case cost of each CEL
rule from those bounds and refuses a CRD whose estimate is too high, so an unbounded field that a
rule touches (directly or through `self == oldSelf`) would make the whole CRD unusable.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

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
