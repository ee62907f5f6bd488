"""The runtime's Memo: what a controller derived, kept bounded and (optionally) for a while."""

from __future__ import annotations

import pytest

from modelsmith.runtime import cache
from modelsmith.runtime.cache import Memo
from modelsmith.runtime.core import Runtime


def test_keeps_the_most_recently_used_entries() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # "a" used: "b" is now the oldest
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, None, 3)
    memo.drop("a")
    assert memo.get("a") is None
    memo.clear()
    assert memo.get("c") is None


def test_an_entry_older_than_max_age_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    memo: Memo[str, bool] = Memo(8, max_age=5.0)
    memo.put("ns", True)
    now[0] += 5.0
    assert memo.get("ns") is True
    now[0] += 0.1
    assert memo.get("ns") is None


def test_each_runtime_remembers_only_its_own() -> None:
    one, other = Runtime(), Runtime()
    one.created_jobs.put("job", ("ns", "uid"))
    one.published_scenarios.put("s3://b/k", True)
    assert other.created_jobs.get("job") is None
    assert other.published_scenarios.get("s3://b/k") is None
