"""How the informer reads single watch events (no cluster needed)."""

from __future__ import annotations

from typing import Any

import pytest

from modelsmith.runtime.cache import Cache
from modelsmith.runtime.informer import PODS, Gone, Informer


def test_an_expired_version_is_gone_and_a_bookmark_only_moves_the_version() -> None:
    delivered: list[Any] = []
    informer = Informer(
        Cache(), PODS, "x=y", lambda *e: delivered.append(e)
    )
    informer.handle({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}})
    assert informer.version == "42"
    assert delivered == []
    with pytest.raises(Gone):
        informer.handle(
            {"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}
        )
    assert informer.version == "42"


def test_other_watch_errors_are_raised_for_a_retry() -> None:
    informer = Informer(Cache(), PODS, "x=y", lambda *e: None)
    with pytest.raises(RuntimeError, match="500"):
        informer.handle({"type": "ERROR", "object": {"code": 500, "reason": "InternalError"}})
