"""The question "may the operator create Jobs in this namespace" (job_guard.rbac_refusal): the
runs of a namespace reconciled at once share one question to the API server. The API call is
replaced at the guard's seam (`may_create_jobs`); no cluster."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from modelsmith.controllers.run import job_guard
from modelsmith.runtime import cache
from modelsmith.runtime.core import Runtime

ASKERS = 8


class _Waiters:
    """Counts the callers waiting on a shared call, so the fake answers only once all the other
    askers wait on it: then exactly one question is sent, however the threads are scheduled."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = threading.Semaphore(0)
        waiting = self.waiting

        class CountedFuture(Future[Any]):
            def result(self, timeout: float | None = None) -> Any:
                waiting.release()
                return super().result(timeout)

        monkeypatch.setattr(cache, "Future", CountedFuture)

    def all_waiting(self, others: int) -> None:
        for _ in range(others):
            assert self.waiting.acquire(timeout=30), "an asker never waited on the shared call"


def _fake_api(
    monkeypatch: pytest.MonkeyPatch, answer: Callable[[int], bool], waiters: _Waiters
) -> list[str]:
    """The namespaces asked about, in order; `answer(n)` answers the n-th question (0: the one
    the askers at once share, answered once they all wait on it)."""
    asked: list[str] = []

    def may_create_jobs(namespace: str) -> bool:
        asked.append(namespace)
        if len(asked) == 1:
            waiters.all_waiting(ASKERS - 1)
        return answer(len(asked) - 1)

    monkeypatch.setattr(job_guard, "may_create_jobs", may_create_jobs)
    return asked


def _ask_at_once(rt: Runtime, namespace: str) -> list[Any]:
    """What each of ASKERS threads asking at once got: rbac_refusal's answer or its exception."""
    got: list[Any] = [None] * ASKERS

    def ask(i: int) -> None:
        try:
            got[i] = job_guard.rbac_refusal(rt, namespace)
        except Exception as exc:
            got[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(ASKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return got


def test_askers_at_once_share_one_question_and_a_yes_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = Runtime()
    asked = _fake_api(monkeypatch, lambda _: True, _Waiters(monkeypatch))
    assert _ask_at_once(rt, "ns") == [None] * ASKERS
    assert asked == ["ns"]
    assert job_guard.rbac_refusal(rt, "ns") is None
    assert asked == ["ns"]
    # A refused Job create forgets the yes (controllers/run/act.py): the next asker asks.
    rt.jobs_permitted.drop("ns")
    assert job_guard.rbac_refusal(rt, "ns") is None
    assert asked == ["ns", "ns"]


def test_a_no_is_shared_but_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = Runtime()
    asked = _fake_api(monkeypatch, lambda _: False, _Waiters(monkeypatch))
    got = _ask_at_once(rt, "ns")
    assert asked == ["ns"]
    assert all(isinstance(why, str) and "namespace ns" in why for why in got)
    assert job_guard.rbac_refusal(rt, "ns") is not None
    assert asked == ["ns", "ns"]


def test_an_error_reaches_every_waiter_and_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = Runtime()

    def unreachable_once(n: int) -> bool:
        if n == 0:
            raise ConnectionError("API server unreachable")
        return True

    asked = _fake_api(monkeypatch, unreachable_once, _Waiters(monkeypatch))
    got = _ask_at_once(rt, "ns")
    assert asked == ["ns"]
    assert all(isinstance(error, ConnectionError) for error in got)
    assert job_guard.rbac_refusal(rt, "ns") is None
    assert asked == ["ns", "ns"]


def test_each_namespace_is_its_own_question(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = Runtime()
    release = threading.Event()
    asked: list[str] = []

    def may_create_jobs(namespace: str) -> bool:
        asked.append(namespace)
        if namespace == "a":
            # Still asking about "a" while "b" is asked: one does not wait for the other.
            assert release.wait(timeout=30)
        return namespace == "a"

    monkeypatch.setattr(job_guard, "may_create_jobs", may_create_jobs)
    first = threading.Thread(target=job_guard.rbac_refusal, args=(rt, "a"))
    first.start()
    assert job_guard.rbac_refusal(rt, "b") is not None
    release.set()
    first.join(timeout=30)
    assert sorted(asked) == ["a", "b"]
    assert rt.jobs_permitted.get("a") is True and rt.jobs_permitted.get("b") is None
