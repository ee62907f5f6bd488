"""Whether a ModelIntake may use an ExecutionTarget: pure, so the intake reconciler (at
validation) and the run reconciler (before every Job launch) apply one rule, and the unit tests
pin it. The admission policy (`modelsmith.targets.admission`) checks the same at apply time;
the operator checks again because a target can change after an intake was admitted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from modelsmith.api.intake import ExecutionTargetReference
from modelsmith.api.selector import LabelSelector, selector_matches
from modelsmith.api.target import ExecutionTargetSpec

NOT_ALLOWED: Final = "ExecutionTargetNotAllowed"
MISSING: Final = "ExecutionTargetMissing"


@dataclass(frozen=True)
class Refusal:
    """Why the intake may not use the target: a CamelCase reason and a message naming the
    target and the rule (shown in status and Events; no object keys)."""

    reason: str
    message: str


def describe_selector(selector: LabelSelector) -> str:
    """The selector in kubectl's `-l` syntax, for messages ("every namespace" when empty)."""
    parts = [f"{k}={v}" for k, v in sorted(selector.match_labels.items())]
    for r in selector.match_expressions:
        if r.operator in ("In", "NotIn"):
            parts.append(f"{r.key} {str(r.operator).lower()} ({','.join(r.values)})")
        else:
            parts.append(r.key if r.operator == "Exists" else f"!{r.key}")
    return ",".join(parts) or "every namespace"


def effective_gpus(target: ExecutionTargetSpec, ref: ExecutionTargetReference) -> int:
    """GPUs per training Job: the intake's narrower count, else the target's maximum."""
    return target.max_gpus if ref.gpu_count is None else ref.gpu_count


def effective_nodes(target: ExecutionTargetSpec, ref: ExecutionTargetReference) -> int:
    """Nodes a training step spans: the intake's narrower count, else the target's maximum."""
    return target.max_training_nodes if ref.node_count is None else ref.node_count


def refusal(
    name: str,
    target: ExecutionTargetSpec | None,
    namespace: str,
    namespace_labels: Mapping[str, str],
    ref: ExecutionTargetReference,
) -> Refusal | None:
    """None when an intake in `namespace` (carrying `namespace_labels`) may use the target
    `name` asking for `ref`'s GPUs and nodes (None: the target's maximum); else why not."""
    if target is None:
        return Refusal(
            MISSING,
            f"ExecutionTarget {name} does not exist: a platform admin creates it, or the intake "
            "names another in spec.executionTargetRef.name",
        )
    if not selector_matches(target.namespace_selector, namespace_labels):
        return Refusal(
            NOT_ALLOWED,
            f"ExecutionTarget {name} does not admit namespace {namespace}: its "
            f"spec.namespaceSelector ({describe_selector(target.namespace_selector)}) does not "
            "match the namespace's labels",
        )
    for field, asked, most, limit in (
        ("gpuCount", ref.gpu_count, target.max_gpus, "maxGpus"),
        ("nodeCount", ref.node_count, target.max_training_nodes, "maxTrainingNodes"),
    ):
        if asked is not None and asked > most:
            return Refusal(
                NOT_ALLOWED,
                f"spec.executionTargetRef.{field} {asked} exceeds ExecutionTarget {name}'s "
                f"spec.{limit} {most}: an intake may narrow a target, never widen it",
            )
    return None


def bucket_refusal(name: str, bucket: str, sources: Mapping[str, str]) -> Refusal | None:
    """None when every s3:// URI in `sources` (what it is -> URI) is in `bucket`, the store
    the run pinned from ExecutionTarget `name`; else why not. A run's Jobs hold that store's
    credentials: a base model or scenarios object in another bucket would be read with them."""
    for what, uri in sources.items():
        if not uri.startswith("s3://"):
            continue
        named = uri.removeprefix("s3://").split("/", 1)[0]
        if named != bucket:
            return Refusal(
                NOT_ALLOWED,
                f"{what} is in the bucket {named}, but ExecutionTarget {name} keeps its runs "
                f"in the bucket {bucket}, the only one they may read: copy it there, or a "
                "platform admin names that bucket in the target's spec.objectStore",
            )
    return None
