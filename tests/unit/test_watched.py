"""The watch-fed copies of ModelIntakes (no cluster needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelsmith import watched


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    watched.clear()
    yield
    watched.clear()


def _body(version: str) -> dict[str, object]:
    return {"metadata": {"name": "intake", "resourceVersion": version}, "spec": {}}


def test_the_last_event_wins_and_deletion_forgets() -> None:
    watched.seen("modelintakes", None, "ns", "intake", _body("1"))  # the listing
    watched.seen("modelintakes", "MODIFIED", "ns", "intake", _body("2"))
    assert watched.cached("modelintakes", "ns", "intake") == _body("2")
    assert watched.get("modelintakes", "ns", "intake") == _body("2")
    assert watched.cached("modelintakes", "other", "intake") is None
    watched.seen("modelintakes", "DELETED", "ns", "intake", _body("3"))
    assert watched.cached("modelintakes", "ns", "intake") is None


def test_only_the_read_mostly_kinds_are_kept() -> None:
    for plural in ("iterationruns", "benchmarks"):
        watched.seen(plural, "ADDED", "ns", "x", _body("1"))
        assert watched.cached(plural, "ns", "x") is None


def test_clear_drops_everything() -> None:
    watched.seen("modelintakes", "ADDED", "ns", "intake", _body("1"))
    watched.clear()
    assert watched.cached("modelintakes", "ns", "intake") is None
