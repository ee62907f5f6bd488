"""The Job and pod informer against the real API server: only what the selector names arrives,
changes and deletions are delivered, and the listing that replaces a watch which cannot resume
delivers its differences from the cache as events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from modelsmith.runtime.core import Runtime
from modelsmith.runtime.informer import PODS, Informer
from testbed.cluster import Cluster
from testbed.waiting import wait_for

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

# The informer sends through the operator's client: pointed at the test bed.
pytestmark = pytest.mark.usefixtures("operator_env")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str | None, str]] = []
        self._lock = threading.Lock()

    def __call__(
        self, type: str | None, before: dict[str, Any] | None, body: dict[str, Any]
    ) -> None:
        with self._lock:
            self.events.append((type, body["metadata"]["name"]))

    def seen(self, name: str) -> list[str | None]:
        with self._lock:
            return [t for t, n in self.events if n == name]


@pytest.fixture
def core(cluster: Cluster) -> Any:
    return client.CoreV1Api(cluster.api_client())


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    RT.cache.clear()
    yield
    RT.cache.clear()


def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    # Pending for good: no node carries the label, so nothing ever runs it.
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeSelector": {"modelsmith.io/test-informer": "nowhere"},
            "containers": [{"name": "main", "image": "noop"}],
        },
    }


def test_labelled_pods_are_delivered_and_others_never(
    cluster: Cluster, core: Any, namespace: str
) -> None:
    selector = {"modelsmith.io/test-informer": namespace}
    recorder = Recorder()
    informer = Informer(RT.cache, PODS, f"modelsmith.io/test-informer={namespace}", recorder)
    informer.start()
    try:
        wait_for(lambda: informer.version is not None, 30, "the informer's first listing")
        core.create_namespaced_pod(namespace, _pod("mine", selector))
        core.create_namespaced_pod(namespace, _pod("other", {"app": "unrelated"}))
        wait_for(lambda: "ADDED" in recorder.seen("mine"), 30, "the labelled pod's ADDED")
        assert RT.cache.cached("pods", namespace, "mine") is not None
        core.patch_namespaced_pod(
            "mine", namespace, {"metadata": {"annotations": {"touched": "yes"}}}
        )

        def annotated() -> bool:
            cached = RT.cache.cached("pods", namespace, "mine") or {"metadata": {}}
            return bool(cached["metadata"].get("annotations") == {"touched": "yes"})

        wait_for(annotated, 30, "the labelled pod's change in the cache")
        assert "MODIFIED" in recorder.seen("mine")
        core.delete_namespaced_pod("mine", namespace, grace_period_seconds=0)
        wait_for(lambda: "DELETED" in recorder.seen("mine"), 30, "the labelled pod's DELETED")
        assert RT.cache.cached("pods", namespace, "mine") is None
        assert recorder.seen("other") == []
        assert RT.cache.cached("pods", namespace, "other") is None
    finally:
        informer.stop()


def test_a_watch_that_cannot_resume_is_replaced_by_a_listing(
    cluster: Cluster, core: Any, namespace: str
) -> None:
    labels = {"modelsmith.io/test-informer": namespace}
    recorder = Recorder()
    informer = Informer(
        RT.cache,
        PODS, f"modelsmith.io/test-informer={namespace}", recorder, namespace=namespace
    )
    core.create_namespaced_pod(namespace, _pod("present", labels))
    # A pod the cache still holds though it is gone (deleted while no watch ran).
    ghost = _pod("ghost", labels)
    ghost["metadata"] |= {"namespace": namespace, "resourceVersion": "1"}
    RT.cache.seen("pods", {"type": "ADDED", "object": ghost})

    informer.relist()

    assert recorder.seen("ghost") == ["DELETED"]
    assert RT.cache.cached("pods", namespace, "ghost") is None
    assert recorder.seen("present") == [None]
    assert RT.cache.cached("pods", namespace, "present") is not None
    assert informer.version is not None and int(informer.version) > 1



def test_a_watch_cut_by_an_api_server_restart_resumes_and_says_so(
    cluster: Cluster, core: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    labels = {"modelsmith.io/test-informer": namespace}
    recorder = Recorder()
    informer = Informer(
        RT.cache,
        PODS, f"modelsmith.io/test-informer={namespace}", recorder, namespace=namespace
    )
    caplog.set_level(logging.INFO, logger="modelsmith.informer")
    informer.start()
    try:
        wait_for(lambda: informer.version is not None, 30, "the informer's first listing")
        cluster.restart_apiserver(down_seconds=2)
        core = client.CoreV1Api(cluster.api_client())
        core.create_namespaced_pod(namespace, _pod("after-restart", labels))
        wait_for(lambda: "ADDED" in recorder.seen("after-restart"), 60, "the pod's ADDED")
        # Said when the watch is back, not when that watch ends minutes later.
        messages = [r.getMessage() for r in caplog.records]
        assert "watching pods again" in messages, messages
    finally:
        informer.stop()
