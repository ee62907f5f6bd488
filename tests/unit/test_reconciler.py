"""The reconcile loop's handling of what a reconcile returns or raises (no cluster needed)."""

from __future__ import annotations

import threading
import time

from kubernetes.client.exceptions import ApiException
from prometheus_client import REGISTRY

from modelsmith.reconciler import Reconciler


def _errors(kind: str, error: str) -> float:
    value = REGISTRY.get_sample_value(
        "modelsmith_reconcile_errors_total", {"kind": kind, "error": error}
    )
    return value or 0.0


def test_a_conflict_reads_the_object_again_at_once() -> None:
    calls: list[float] = []
    done = threading.Event()

    def reconcile(namespace: str, name: str) -> float | None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ApiException(status=409, reason="Conflict")
        done.set()
        return None

    before = _errors("conflicting", "Conflict")
    reconciler = Reconciler(workers=1)
    reconciler.register("conflicting", reconcile)
    reconciler.reconcile("conflicting", "ns", "gate")
    # Any other error waits 10 s before the retry; a conflict is retried well inside that.
    assert done.wait(5)
    reconciler.stop()
    assert len(calls) == 2
    assert _errors("conflicting", "Conflict") == before + 1


def test_any_other_error_is_retried_later_not_at_once() -> None:
    calls: list[str] = []

    def reconcile(namespace: str, name: str) -> float | None:
        calls.append(name)
        raise ApiException(status=500, reason="Internal Server Error")

    before = _errors("failing", "ApiException")
    reconciler = Reconciler(workers=1)
    reconciler.register("failing", reconcile)
    reconciler.reconcile("failing", "ns", "gate")
    time.sleep(1.0)
    reconciler.stop()
    assert calls == ["gate"]
    assert _errors("failing", "ApiException") == before + 1
