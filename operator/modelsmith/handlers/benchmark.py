"""Benchmark registrations: watch events queue a reconcile (modelsmith.controllers.benchmark);
a deleted benchmark wakes the intakes that name it."""

from __future__ import annotations

from typing import Any

import kopf

from modelsmith import watched
from modelsmith.controllers.benchmark.act import PLURAL
from modelsmith.controllers.benchmark.reconcile import reconcile
from modelsmith.reconciler import RECONCILER


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_benchmark_event(**kwargs: Any) -> None:
    type, namespace, name = kwargs["type"], kwargs["namespace"], kwargs["name"]
    watched.seen(PLURAL, kwargs["event"])
    if type == "DELETED":
        RECONCILER.forget((PLURAL, namespace, name))
        RECONCILER.wake_referrers("modelintakes", namespace, "benchmarkRef", name)
    else:
        RECONCILER.reconcile(PLURAL, namespace, name, kwargs["meta"].get("resourceVersion"))


RECONCILER.register(PLURAL, reconcile)
