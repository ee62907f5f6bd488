"""Serving consent: which ConfigMaps promotion may move. Pure: the caller reads the ConfigMap.

A serving pointer is a ConfigMap the owning team created and opted in with the label
`modelsmith.io/serving-pointer: "true"`. One in another namespace than the intake's must also
list the intake's namespace in its `modelsmith.io/serving-allowed-namespaces` annotation
(comma-separated). The kube-* system namespaces are never serving namespaces. Promotion only
patches an opted-in ConfigMap; it never creates one. The same rules guard intake validation,
promotion and rollback, and the admission policy `modelsmith-intake-serving-target` refuses
what it can decide at apply time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POINTER_LABEL = "modelsmith.io/serving-pointer"
ALLOWED_NAMESPACES_ANNOTATION = "modelsmith.io/serving-allowed-namespaces"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

SERVING_TARGET_NOT_ALLOWED = "ServingTargetNotAllowed"
SERVING_TARGET_MISSING = "ServingTargetMissing"


@dataclass(frozen=True)
class ServingRefusal:
    reason: str
    message: str


def allowed_namespaces(annotations: Mapping[str, str]) -> list[str]:
    raw = annotations.get(ALLOWED_NAMESPACES_ANNOTATION, "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def serving_refusal(
    intake_namespace: str,
    pointer_namespace: str,
    name: str,
    configmap: Mapping[str, Any] | None,
) -> ServingRefusal | None:
    """Why promotion may not move ConfigMap `pointer_namespace/name` for an intake in
    `intake_namespace` (None: it may). `configmap` is the object (its `metadata` is read) or None
    when it does not exist."""
    where = f"ConfigMap {pointer_namespace}/{name}"
    if pointer_namespace in SYSTEM_NAMESPACES:
        return ServingRefusal(
            SERVING_TARGET_NOT_ALLOWED,
            f"{where} is in a Kubernetes system namespace; serving pointers never live in "
            f"{', '.join(SYSTEM_NAMESPACES)}",
        )
    if configmap is None:
        return ServingRefusal(
            SERVING_TARGET_MISSING,
            f"{where} does not exist; promotion never creates a serving pointer: the owning team "
            f'creates it with the label {POINTER_LABEL}: "true"',
        )
    metadata = configmap.get("metadata") or {}
    labels: Mapping[str, str] = metadata.get("labels") or {}
    if labels.get(POINTER_LABEL) != "true":
        return ServingRefusal(
            SERVING_TARGET_NOT_ALLOWED,
            f"{where} is not opted in as a serving pointer: it needs the label "
            f'{POINTER_LABEL}: "true"',
        )
    if pointer_namespace != intake_namespace and intake_namespace not in allowed_namespaces(
        metadata.get("annotations") or {}
    ):
        return ServingRefusal(
            SERVING_TARGET_NOT_ALLOWED,
            f"{where} is in another namespace and does not consent to {intake_namespace}: its "
            f"annotation {ALLOWED_NAMESPACES_ANNOTATION} must list {intake_namespace}",
        )
    return None
