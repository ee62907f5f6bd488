"""Reading an intake's ExecutionTarget and its namespace's labels from the API server, and
applying `rules.refusal` to them: the one place both reconcilers get the verdict from. Always a
fresh read (never a cache): the check before a Job launch must see the target as it is now.
`TargetBuckets` (which buckets the operator may read at all) is the exception: a listing at
most every few seconds, asked only when a URI names a bucket other than the operator's."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from modelsmith.api.intake import ModelIntake
from modelsmith.api.target import ExecutionTarget, ExecutionTargetSpec
from modelsmith.runtime import kube
from modelsmith.targets.rules import Refusal, effective_gpus, effective_nodes, refusal

PLURAL = "executiontargets"
BUCKETS_FOR_SECONDS: Final = 5.0


@dataclass(frozen=True)
class Resolved:
    """The intake's target (None when missing), the GPUs its training pods get, the nodes a
    training step spans, and the verdict."""

    name: str
    spec: ExecutionTargetSpec | None
    gpu_count: int
    refusal: Refusal | None
    node_count: int = 1


def read_target(name: str) -> ExecutionTargetSpec | None:
    body = kube.find(kube.custom_path(PLURAL, name=name))
    return None if body is None else ExecutionTarget.model_validate(body).spec


def namespace_labels(namespace: str) -> dict[str, str]:
    """The namespace's labels ({} when it is gone: then no selector but `{}` matches)."""
    body = kube.find(kube.core_path("namespaces", name=namespace)) or {}
    return dict((body.get("metadata") or {}).get("labels") or {})


def resolve(intake: ModelIntake, namespace: str) -> Resolved:
    ref = intake.spec.execution_target_ref
    spec = read_target(ref.name)
    gpus = 0 if spec is None else effective_gpus(spec, ref)
    nodes = 1 if spec is None else effective_nodes(spec, ref)
    verdict = refusal(ref.name, spec, namespace, namespace_labels(namespace), ref)
    return Resolved(ref.name, spec, gpus, verdict, nodes)


class TargetBuckets:
    """The buckets ExecutionTargets name (spec.objectStore.bucket), listed again when the last
    listing is older than BUCKETS_FOR_SECONDS. A target without a bucket uses the operator's.
    The operator makes one at start and confines its store to them (`Store.confine`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listed: tuple[float, frozenset[str]] = (float("-inf"), frozenset())

    def __call__(self) -> frozenset[str]:
        with self._lock:
            listed_at, buckets = self._listed
            if time.monotonic() - listed_at < BUCKETS_FOR_SECONDS:
                return buckets
            body: dict[str, Any] = kube.rest("GET", kube.custom_path(PLURAL))
            targets = [ExecutionTarget.model_validate(item) for item in body.get("items") or []]
            buckets = frozenset(b for t in targets if (b := t.spec.object_store.bucket))
            self._listed = (time.monotonic(), buckets)
            return buckets
