"""Benchmark registrations: watch events queue a reconcile (modelsmith.controllers.benchmark);
a deleted benchmark wakes the intakes that name it."""

from __future__ import annotations

from typing import Any

import kopf

from modelsmith.controllers.benchmark.act import PLURAL
from modelsmith.controllers.benchmark.reconcile import reconcile
from modelsmith.runtime.core import Runtime


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_benchmark_event(memo: Any, **kwargs: Any) -> None:
    rt: Runtime = memo.runtime
    type, namespace, name = kwargs["type"], kwargs["namespace"], kwargs["name"]
    rt.cache.seen(PLURAL, kwargs["event"])
    if type == "DELETED":
        rt.queue.forget((PLURAL, namespace, name))
        rt.queue.wake_referrers("modelintakes", namespace, "benchmarkRef", name)
    else:
        rt.queue.reconcile(PLURAL, namespace, name, kwargs["meta"].get("resourceVersion"))


def register(rt: Runtime) -> None:
    rt.register(PLURAL, reconcile)
