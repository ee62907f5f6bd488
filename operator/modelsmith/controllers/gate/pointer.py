"""The serving pointer and how promotion and rollback change it. Pure.

The serving pointer is a ConfigMap inside the customer's cluster (spec.serving; its namespace
defaults to the gate's) and it is what the serving stack reads: data[<key>] holds the model
location of the promoted candidate (its adapter prefix in the customer's object store) and
data[<key>.previous] the value it replaced ("" when there was none, or when the rollback contract
keeps no previous pointer). data[<key>.digest] and data[<key>.previous.digest] hold the sha256 of
the weights each of them names, so the serving stack can check it loads the content approvers
signed for, not whatever the folder holds by then. The annotation modelsmith.io/candidate names
the candidate served, modelsmith.io/previous-candidate the one it replaced. Object locations stay
in that ConfigMap and in the object store: status, Events and metrics carry only readable labels
and digests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelsmith.api.gate import PromotionGate
from modelsmith.serving import ServingRefusal, serving_refusal

CANDIDATE_ANNOTATION = "modelsmith.io/candidate"
PREVIOUS_CANDIDATE_ANNOTATION = "modelsmith.io/previous-candidate"
PREVIOUS_SUFFIX = ".previous"
DIGEST_SUFFIX = ".digest"


@dataclass(frozen=True)
class ServingPointer:
    namespace: str
    name: str
    key: str
    owner: str = ""
    """The gate's namespace: whose consent the pointer must carry."""

    @property
    def previous_key(self) -> str:
        return self.key + PREVIOUS_SUFFIX

    @property
    def digest_key(self) -> str:
        return self.key + DIGEST_SUFFIX

    @property
    def previous_digest_key(self) -> str:
        return self.previous_key + DIGEST_SUFFIX

    def wire(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name, "key": self.key}


def pointer_of(gate: PromotionGate) -> ServingPointer:
    serving = gate.spec.serving
    return ServingPointer(
        serving.namespace or gate.namespace, serving.config_map_name, serving.key, gate.namespace
    )


@dataclass(frozen=True)
class PointerState:
    """What the serving ConfigMap holds now (`exists` False when there is none)."""

    exists: bool
    value: str | None = None
    previous: str | None = None
    candidate: str | None = None
    previous_candidate: str | None = None
    digest: str | None = None
    previous_digest: str | None = None
    resource_version: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any] | None:
        """The ConfigMap as serving consent reads it (None: it does not exist)."""
        if not self.exists:
            return None
        return {"metadata": {"labels": self.labels, "annotations": self.annotations}}


def consent_refusal(pointer: ServingPointer, current: PointerState) -> ServingRefusal | None:
    """Serving consent (`modelsmith.serving`), checked before every pointer move."""
    return serving_refusal(pointer.owner, pointer.namespace, pointer.name, current.metadata())


PointerUpdate = tuple[dict[str, str], dict[str, str | None]]
"""(data, annotations) to merge into the serving ConfigMap."""


def promote_update(
    pointer: ServingPointer,
    current: PointerState,
    value: str,
    candidate: str,
    digest: str | None,
    keep: bool,
) -> PointerUpdate | None:
    """Points the ConfigMap at `value` (weights `digest`), keeping what it replaces when `keep`.
    None when it already points there, so a retried promotion never overwrites `.previous`
    with itself."""
    served = (current.value, current.candidate, current.digest or "")
    if current.exists and served == (value, candidate, digest or ""):
        return None
    annotations: dict[str, str | None] = {CANDIDATE_ANNOTATION: candidate}
    data = {pointer.key: value, pointer.digest_key: digest or ""}
    if current.value != value:
        data[pointer.previous_key] = (current.value or "") if keep else ""
        data[pointer.previous_digest_key] = (current.digest or "") if keep else ""
        annotations[PREVIOUS_CANDIDATE_ANNOTATION] = (current.candidate or "") if keep else ""
    return data, annotations


def restore_update(pointer: ServingPointer, after: dict[str, str]) -> PointerUpdate:
    """Serves the rollback record's `after` again and forgets the previous pointer."""
    return (
        {
            pointer.key: after["value"],
            pointer.digest_key: after.get("digest") or "",
            pointer.previous_key: "",
            pointer.previous_digest_key: "",
        },
        {
            CANDIDATE_ANNOTATION: after["candidate"] or None,
            PREVIOUS_CANDIDATE_ANNOTATION: None,
        },
    )
