"""The reconcile loop's handling of what a reconcile returns or raises (no cluster needed)."""

from __future__ import annotations

import threading
import time

from kubernetes.client.exceptions import ApiException

from modelsmith.runtime.core import Runtime
from modelsmith.runtime.settings import OperatorSettings


def _runtime() -> Runtime:
    return Runtime(OperatorSettings(workers=1))


def _errors(rt: Runtime, kind: str, error: str) -> float:
    value = rt.metrics.registry.get_sample_value(
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

    rt = _runtime()
    reconciler = rt.queue
    reconciler.register("conflicting", reconcile)
    reconciler.reconcile("conflicting", "ns", "gate")
    # Any other error waits 10 s before the retry; a conflict is retried well inside that.
    assert done.wait(5)
    reconciler.stop()
    assert len(calls) == 2
    assert _errors(rt, "conflicting", "Conflict") == 1


def test_a_conflict_sends_the_next_read_to_the_api_server() -> None:
    """The cached body the refused write was decided on is dropped, so the retry cannot decide
    on the same stale read again."""
    rt = _runtime()
    body = {"metadata": {"name": "run", "namespace": "ns", "resourceVersion": "5"}}
    rt.cache.seen("iterationruns", {"type": "MODIFIED", "object": body})
    seen_by_retry: list[object] = []
    done = threading.Event()

    def reconcile(namespace: str, name: str) -> float | None:
        if not seen_by_retry:
            seen_by_retry.append("first")
            raise ApiException(status=409, reason="Conflict")
        seen_by_retry.append(rt.cache.cached("iterationruns", namespace, name))
        done.set()
        return None

    reconciler = rt.queue
    reconciler.register("iterationruns", reconcile)
    try:
        reconciler.reconcile("iterationruns", "ns", "run")
        assert done.wait(5)
    finally:
        reconciler.stop()
    assert seen_by_retry == ["first", None]


def test_any_other_error_is_retried_later_not_at_once() -> None:
    calls: list[str] = []

    def reconcile(namespace: str, name: str) -> float | None:
        calls.append(name)
        raise ApiException(status=500, reason="Internal Server Error")

    rt = _runtime()
    reconciler = rt.queue
    reconciler.register("failing", reconcile)
    reconciler.reconcile("failing", "ns", "gate")
    time.sleep(1.0)
    reconciler.stop()
    assert calls == ["gate"]
    assert _errors(rt, "failing", "ApiException") == 1


def test_the_echo_of_its_own_status_write_starts_no_reconcile() -> None:
    ran: list[str] = []
    finished = threading.Event()

    def reconcile(namespace: str, name: str) -> float | None:
        ran.append(name)
        finished.set()
        return None

    rt = _runtime()
    reconciler = rt.queue
    reconciler.register("things", reconcile)
    for version in ("11", "12"):  # two writes in one reconcile: both echoes are its own
        reconciler.wrote(("things", "ns", "a"), version)
    reconciler.reconcile("things", "ns", "a", "11")
    reconciler.reconcile("things", "ns", "a", "12")
    assert not finished.wait(0.3)
    # Anyone else's change (a new version), or an event without one, is reconciled.
    reconciler.reconcile("things", "ns", "a", "13")
    assert finished.wait(5)
    reconciler.stop()
    assert ran == ["a"]


def test_a_forgotten_object_forgets_its_own_writes() -> None:
    finished = threading.Event()
    rt = _runtime()
    reconciler = rt.queue
    reconciler.register("things", lambda namespace, name: finished.set())
    reconciler.wrote(("things", "ns", "a"), "11")
    reconciler.forget(("things", "ns", "a"))
    # Recreated under the same name, the new object is seen even at a reused version string.
    reconciler.reconcile("things", "ns", "a", "11")
    assert finished.wait(5)
    reconciler.stop()


def test_the_echo_arriving_before_its_writes_response_starts_no_reconcile() -> None:
    """The watch can deliver a status write's event before the writer has its response: while
    the object is being reconciled, a trigger waits for the reconcile's end to be judged."""
    ran: list[int] = []
    inside = [threading.Event(), threading.Event()]
    proceed = [threading.Event(), threading.Event()]
    rt = _runtime()
    reconciler = rt.queue

    def reconcile(namespace: str, name: str) -> float | None:
        n = len(ran)
        ran.append(n)
        if n < 2:
            inside[n].set()
            assert proceed[n].wait(5)
        if n == 0:
            reconciler.wrote(("things", namespace, name), "21")  # the response, after the echo
        return None

    reconciler.register("things", reconcile)
    try:
        reconciler.reconcile("things", "ns", "a")
        assert inside[0].wait(5)
        reconciler.reconcile("things", "ns", "a", "21")
        proceed[0].set()
        time.sleep(0.5)
        assert ran == [0]
        # A change by anyone else during a reconcile is reconciled after it.
        reconciler.reconcile("things", "ns", "a")
        assert inside[1].wait(5)
        reconciler.reconcile("things", "ns", "a", "22")
        proceed[1].set()
        deadline = time.monotonic() + 5
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reconciler.stop()
    assert ran == [0, 1, 2]


def test_a_look_taken_meanwhile_answers_a_requested_later_look() -> None:
    """News left to settle (a pod's start) needs no look of its own once something else (the
    Job's verdict) brought the object's reconcile forward; news that arrives while that
    reconcile runs still gets its look."""
    calls: list[float] = []
    rt = _runtime()
    reconciler = rt.queue

    def reconcile(namespace: str, name: str) -> float | None:
        calls.append(time.monotonic())
        if name == "busy" and len(calls) == 1:
            reconciler.requeue(("settling", namespace, name), 0.1)  # news meanwhile
        return None

    reconciler.register("settling", reconcile)
    reconciler.requeue(("settling", "ns", "run"), 0.3)
    reconciler.reconcile("settling", "ns", "run")
    time.sleep(0.6)
    assert len(calls) == 1, "the settled news was looked at twice"

    calls.clear()
    reconciler.reconcile("settling", "ns", "busy")
    time.sleep(0.6)
    reconciler.stop()
    assert len(calls) == 2, "news that arrived during the reconcile was dropped"
