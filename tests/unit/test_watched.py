"""The watch-fed copies of intakes, runs, Jobs and pods (no cluster needed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelsmith.runtime.cache import KOPF_FED, Cache

CACHE = Cache()


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def _body(version: str, name: str = "x", namespace: str = "ns", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": version,
            "labels": labels,
        },
        "spec": {},
    }


def _event(plural: str, type: str | None, body: dict[str, Any]) -> None:
    CACHE.seen(plural, {"type": type, "object": body})


def test_the_last_event_wins_and_deletion_forgets() -> None:
    _event("modelintakes", None, _body("1"))  # the listing
    _event("modelintakes", "MODIFIED", _body("2"))
    assert CACHE.cached("modelintakes", "ns", "x") == _body("2")
    assert CACHE.get("modelintakes", "ns", "x") == _body("2")
    assert CACHE.cached("modelintakes", "other", "x") is None
    _event("modelintakes", "DELETED", _body("3"))
    assert CACHE.cached("modelintakes", "ns", "x") is None


def test_benchmarks_and_other_kinds_are_not_kept_whole() -> None:
    for plural in ("benchmarks", "promotiongates", "configmaps"):
        _event(plural, "ADDED", _body("1"))
        assert CACHE.cached(plural, "ns", "x") is None


def test_a_benchmark_is_kept_as_its_version_only() -> None:
    assert CACHE.version("benchmarks", "ns", "x") is None
    _event("benchmarks", "ADDED", _body("7"))
    assert CACHE.version("benchmarks", "ns", "x") == 7
    _event("benchmarks", "DELETED", _body("8"))
    assert CACHE.version("benchmarks", "ns", "x") is None


def test_a_benchmark_change_is_handed_to_one_reconcile() -> None:
    _event("benchmarks", "ADDED", _body("7"))
    assert CACHE.take("benchmarks", "ns", "x") == _body("7")
    assert CACHE.take("benchmarks", "ns", "x") is None  # once: later reads go to the API
    # The echo of this replica's own status write is nothing to hand on.
    CACHE.wrote("benchmarks", _body("9"))
    _event("benchmarks", "MODIFIED", _body("9"))
    assert CACHE.take("benchmarks", "ns", "x") is None
    assert CACHE.version("benchmarks", "ns", "x") == 9
    # Someone else's change is; a write after it makes it stale.
    _event("benchmarks", "MODIFIED", _body("10"))
    CACHE.wrote("benchmarks", _body("11"))
    assert CACHE.take("benchmarks", "ns", "x") is None
    _event("benchmarks", "MODIFIED", _body("12"))
    _event("benchmarks", "DELETED", _body("13"))
    assert CACHE.take("benchmarks", "ns", "x") is None
    _event("benchmarks", "ADDED", _body("14"))
    CACHE.clear(KOPF_FED)
    assert CACHE.take("benchmarks", "ns", "x") is None


def test_an_own_write_is_served_until_a_newer_event() -> None:
    _event("iterationruns", "ADDED", _body("5"))
    CACHE.wrote("iterationruns", _body("9"))
    assert CACHE.cached("iterationruns", "ns", "x") == _body("9")
    # The echo of an earlier write arrives late: it is older than what this replica wrote.
    _event("iterationruns", "MODIFIED", _body("7"))
    assert CACHE.cached("iterationruns", "ns", "x") == _body("9")
    _event("iterationruns", "MODIFIED", _body("12"))
    assert CACHE.cached("iterationruns", "ns", "x") == _body("12")
    CACHE.wrote("iterationruns", _body("10"))
    assert CACHE.cached("iterationruns", "ns", "x") == _body("12")


def test_a_write_landing_after_the_deletion_event_does_not_bring_the_object_back() -> None:
    _event("iterationruns", "ADDED", _body("5"))
    _event("iterationruns", "DELETED", _body("6"))
    CACHE.wrote("iterationruns", _body("6"))
    assert CACHE.cached("iterationruns", "ns", "x") is None


def test_forget_sends_the_next_read_to_the_api() -> None:
    _event("iterationruns", "ADDED", _body("5"))
    CACHE.forget("iterationruns", "ns", "x")
    assert CACHE.cached("iterationruns", "ns", "x") is None


def test_pods_are_listed_by_namespace_and_labels() -> None:
    _event("pods", "ADDED", _body("1", "a-1", **{"job-name": "a"}))
    _event("pods", "ADDED", _body("2", "a-2", **{"job-name": "a"}))
    _event("pods", "ADDED", _body("3", "b-1", **{"job-name": "b"}))
    _event("pods", "ADDED", _body("4", "a-9", "other", **{"job-name": "a"}))
    names = {p["metadata"]["name"] for p in CACHE.listed("pods", "ns", {"job-name": "a"})}
    assert names == {"a-1", "a-2"}
    assert len(CACHE.listed("pods", "ns")) == 3
    _event("pods", "DELETED", _body("5", "a-1", **{"job-name": "a"}))
    names = {p["metadata"]["name"] for p in CACHE.listed("pods", "ns", {"job-name": "a"})}
    assert names == {"a-2"}


def test_clear_drops_everything() -> None:
    _event("modelintakes", "ADDED", _body("1"))
    _event("benchmarks", "ADDED", _body("1"))
    CACHE.clear()
    assert CACHE.cached("modelintakes", "ns", "x") is None
    assert CACHE.version("benchmarks", "ns", "x") is None
