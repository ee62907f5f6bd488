"""Operator-wide settings, read once from the environment (the Helm chart sets them)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

EVENT_SENDERS = 4
"""Threads sending Events (`events`); one object's Events always go through the same one."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class OperatorSettings:
    bucket: str = field(default_factory=lambda: _env("MODELSMITH_BUCKET", "modelsmith"))
    trainer_image: str = field(
        default_factory=lambda: _env("MODELSMITH_TRAINER_IMAGE", "modelsmith/trainer:0.1.0")
    )
    evaluator_image: str = field(
        default_factory=lambda: _env("MODELSMITH_EVALUATOR_IMAGE", "modelsmith/evaluator:0.1.0")
    )
    # Endpoint the Jobs use; the operator itself reads AWS_ENDPOINT_URL_S3 like any boto3 client.
    job_s3_endpoint: str = field(
        default_factory=lambda: _env(
            "MODELSMITH_JOB_S3_ENDPOINT",
            os.environ.get("AWS_ENDPOINT_URL_S3", os.environ.get("AWS_ENDPOINT_URL", "")),
        )
    )
    default_object_store_secret: str = field(
        default_factory=lambda: _env("MODELSMITH_OBJECT_STORE_SECRET", "modelsmith-object-store")
    )
    # How often runs that wait on something outside a watch (training progress, a missing
    # ConfigMap, a recovering object store) are looked at again.
    requeue_seconds: float = field(
        default_factory=lambda: float(_env("MODELSMITH_REQUEUE_SECONDS", "5"))
    )
    max_inline_benchmark_bytes: int = field(
        default_factory=lambda: int(_env("MODELSMITH_MAX_BENCHMARK_BYTES", str(1024 * 1024)))
    )
    # How long a Job's container may fail to start (image pull, missing Secret) after its pod
    # was scheduled before the attempt counts as failed and the Job is deleted to free its GPUs.
    # Pulls and Secrets can recover by themselves; without a limit the pod would wait for the
    # Job's activeDeadlineSeconds (hours) holding its GPUs.
    container_start_grace_seconds: float = field(
        default_factory=lambda: float(_env("MODELSMITH_CONTAINER_START_GRACE_SECONDS", "180"))
    )
    # How long a started run blocked on a missing or changed intake (or a missing Benchmark)
    # lets its Job go on before stopping it: time to apply an intake deleted by mistake again.
    input_grace_seconds: float = field(
        default_factory=lambda: float(_env("MODELSMITH_INPUT_GRACE_SECONDS", "300"))
    )
    metrics_port: int = field(default_factory=lambda: int(_env("MODELSMITH_METRICS_PORT", "8080")))
    workers: int = field(default_factory=lambda: int(_env("MODELSMITH_WORKERS", "16")))
    # Namespaces (shell-style patterns, comma-separated) this operator leaves alone: another
    # reconciler owns the objects there, as a test that reconciles in its own process does.
    ignore_namespaces: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            p.strip() for p in _env("MODELSMITH_IGNORE_NAMESPACES", "").split(",") if p.strip()
        )
    )

    def ignores(self, namespace: str) -> bool:
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.ignore_namespaces)

    @property
    def ledger_writers(self) -> int:
        """Threads writing ledger entries: a decision's entries are written at once, while its
        Job is created, and a launch has two (its transition and its Job)."""
        return 2 * self.workers

    @property
    def pooled_connections(self) -> int:
        """Threads that may call the API server or the object store at once: the reconcile
        pool, the target readers (one per reconcile worker), the ledger writers, the Event
        senders, the peering check and a spare. With fewer pooled connections than that, urllib3
        discards the surplus after each burst and the next burst pays a new connection (and TLS
        handshake) per request."""
        return 2 * self.workers + self.ledger_writers + EVENT_SENDERS + 2
