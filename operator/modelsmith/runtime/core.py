"""The controller runtime: one object owning the queue, the cache, the Event recorder, the
status writer, failure handling, metrics and the thread pools, constructed once per operator
process (and once per test that reconciles in its own process) and handed to every controller.

kopf delivers the watch events of the custom resources; the informers (`informer`) those of the
Jobs and pods the operator launched. Either way an event ends in `queue.reconcile`, the one way
a reconcile starts; the controller's reconcile reads what it needs through `cache`, and writes
status only through `status` (see docs/architecture.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from modelsmith.runtime.cache import Cache
from modelsmith.runtime.events import Recorder
from modelsmith.runtime.failures import Failures
from modelsmith.runtime.metrics import Metrics
from modelsmith.runtime.queue import Queue
from modelsmith.runtime.settings import OperatorSettings
from modelsmith.runtime.status import StatusWriter


class Runtime:
    def __init__(self, settings: OperatorSettings | None = None) -> None:
        self.settings = settings or OperatorSettings()
        self.cache = Cache()
        self.events = Recorder()
        self.metrics = Metrics()
        self.failures = Failures(self.events)
        self.queue = Queue(
            self.settings.workers,
            self.cache,
            self.metrics,
            self.failures,
            lambda *args: self.status.write(*args),
            self.settings.ignores,
        )
        self.status = StatusWriter(self.cache, self.queue.wrote)
        # A run's ledger entries are written while its Jobs are created (settings.ledger_writers).
        self.ledger_writes = ThreadPoolExecutor(
            self.settings.ledger_writers, thread_name_prefix="ledger"
        )

    def register(self, plural: str, reconcile: Callable[[Runtime, str, str], float | None]) -> None:
        """`reconcile(runtime, namespace, name)` runs for every queued object of `plural`."""
        self.queue.register(plural, functools.partial(reconcile, self))

    def stop(self) -> None:
        self.queue.stop()
        self.ledger_writes.shutdown(wait=False)
