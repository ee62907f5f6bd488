"""The replica's own reconcile loop yields to peers by kopf's rule (no cluster needed)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelsmith.runtime.cache import Cache
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.peering import PeeringWatch, outranked
from modelsmith.runtime.settings import OperatorSettings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _peer(priority: int, seconds_ago: float, lifetime: int = 60) -> dict[str, Any]:
    return {
        "priority": priority,
        "lifetime": lifetime,
        "lastseen": (NOW - timedelta(seconds=seconds_ago)).isoformat(),
    }


def test_a_live_higher_or_equal_priority_peer_outranks() -> None:
    peers = {"me": _peer(100, 0), "high": _peer(200, 5), "same": _peer(100, 5)}
    assert outranked(peers, "me", 100, NOW) == ["high", "same"]


def test_lower_priority_dead_and_malformed_peers_do_not() -> None:
    peers = {
        "me": _peer(100, 0),
        "low": _peer(50, 1),
        "lapsed": _peer(500, 61),
        "short-lived": _peer(500, 11, lifetime=10),
        "goodbye": None,  # kopf writes null for a replica that left cleanly
        "garbled": {"priority": "high", "lastseen": "yesterday"},
    }
    assert outranked(peers, "me", 100, NOW) == []


def test_naive_timestamps_count_as_utc() -> None:
    peers = {"other": {"priority": 1, "lastseen": NOW.replace(tzinfo=None).isoformat()}}
    assert outranked(peers, "me", 1, NOW) == ["other"]


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def hold(self) -> None:
        self.calls.append("hold")

    def release(self) -> None:
        self.calls.append("release")


class _Watch(PeeringWatch):
    """Reads peers from a list instead of the API (the reader itself is plain client calls)."""

    def __init__(self, target: _Recorder, reads: list[Any]) -> None:
        super().__init__(target, Cache(), "modelsmith", "me", 100)
        self.reads = reads

    def _peers(self) -> dict[str, Any]:
        read = self.reads.pop(0)
        if isinstance(read, Exception):
            raise read
        return read


def test_watch_starts_holding_and_acts_only_on_a_changed_verdict() -> None:
    live = datetime.now(UTC).isoformat()
    higher = {"other": {"priority": 200, "lastseen": live}}
    target = _Recorder()
    watch = _Watch(target, [{}, {}, higher, higher, {}])
    assert target.calls == ["hold"]
    for _ in range(5):
        watch.check()
    assert target.calls == ["hold", "release", "hold", "release"]


def test_held_reconciler_runs_nothing_then_each_held_object_once() -> None:
    ran: list[str] = []
    done = threading.Event()

    def reconcile(namespace: str, name: str) -> float | None:
        ran.append(name)
        if len(ran) == 2:
            done.set()
        return None

    reconciler = Runtime(OperatorSettings(workers=2)).queue
    reconciler.register("things", reconcile)
    reconciler.hold()
    for name in ("a", "b", "a", "a"):
        reconciler.reconcile("things", "ns", name)
    reconciler.requeue(("things", "ns", "b"), 0)
    assert not done.wait(0.3)
    assert ran == []
    reconciler.release()
    assert done.wait(5)
    reconciler.stop()
    assert sorted(ran) == ["a", "b"]


@pytest.mark.parametrize("forgotten", [True, False])
def test_a_forgotten_object_is_not_reconciled_on_release(forgotten: bool) -> None:
    ran: list[str] = []
    finished = threading.Event()

    def reconcile(namespace: str, name: str) -> float | None:
        ran.append(name)
        finished.set()
        return None

    reconciler = Runtime(OperatorSettings(workers=1)).queue
    reconciler.register("things", reconcile)
    reconciler.hold()
    reconciler.reconcile("things", "ns", "gone")
    if forgotten:
        reconciler.forget(("things", "ns", "gone"))
    reconciler.release()
    assert finished.wait(0.5) is not forgotten
    assert ran == ([] if forgotten else ["gone"])


def test_an_unreadable_peering_object_keeps_the_last_verdict() -> None:
    higher = {"other": {"priority": 200, "lastseen": datetime.now(UTC).isoformat()}}
    target = _Recorder()
    watch = _Watch(target, [ConnectionRefusedError(), {}, OSError("gone"), higher])
    for _ in range(4):
        watch.check()
    # Held from the start through the failed read, released once readable, still released
    # while unreadable again, held once a higher peer shows.
    assert target.calls == ["hold", "release", "hold"]
