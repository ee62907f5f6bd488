"""The controller runtime: one object owning the queue, the cache, the Event recorder, the
status writer, failure handling, metrics, the object store and the thread pools, constructed
once per operator process (and once per test that reconciles in its own process) and handed to
every controller.

kopf delivers the watch events of the custom resources; the informers (`informer`) those of the
Jobs and pods the operator launched. Either way an event ends in `queue.reconcile`, the one way
a reconcile starts; the controller's reconcile reads what it needs through `cache`, and writes
status only through `status` (see docs/architecture.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelsmith.contract.objectstore import Store
from modelsmith.runtime.cache import Cache, Memo, SharedCalls
from modelsmith.runtime.events import Recorder
from modelsmith.runtime.failures import Failures
from modelsmith.runtime.metrics import Metrics
from modelsmith.runtime.queue import Queue
from modelsmith.runtime.settings import OperatorSettings
from modelsmith.runtime.status import StatusWriter

TARGET_SECONDS = 5.0
"""How long an ExecutionTarget read is used again by the reconciles that only observe (a launch,
and a run blocked by its target, read it afresh). The operator may not watch targets (its role
grants get and list), so this bounds how long an edit goes unseen between launches."""
PERMITTED_SECONDS = 60.0
"""How long the API server's yes to "may the operator create Jobs in this namespace" is used
again. Only a yes is kept: a namespace refused is asked again by every reconcile of the runs it
blocks, and a Job create refused there drops the yes (controllers/run/act.py)."""


class Runtime:
    def __init__(self, settings: OperatorSettings | None = None) -> None:
        self.settings = settings or OperatorSettings()
        self.cache = Cache()
        self.events = Recorder()
        self.metrics = Metrics()
        # Pooled connections for as many threads as may reach the store at once.
        self.store = Store(self.settings.pooled_connections)
        self.failures = Failures()
        self.queue = Queue(
            self.settings.workers,
            self.cache,
            self.metrics,
            self.failures,
            lambda *args, **kwargs: self.status.patch(*args, **kwargs),
            self.settings.ignores,
        )
        self.status: StatusWriter = StatusWriter(self.cache, self.queue.wrote, self.events)
        # A run's ledger entries are written while its Jobs are created (settings.ledger_writers).
        self.ledger_writes = ThreadPoolExecutor(
            self.settings.ledger_writers, thread_name_prefix="ledger"
        )
        # A launch reads its target afresh while it reads the namespace's labels for the same
        # check: one thread per reconcile worker (controllers/run/target.py).
        self.target_reads = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="target")
        # What the run controller derived and uses again (see controllers/run: job_guard,
        # pinning, target; and scenarios.py).
        self.created_jobs: Memo[str, tuple[str, str]] = Memo(4096)
        """Job name -> (namespace, UID) of the Jobs this process created or adopted, until status
        records their UIDs."""
        self.parsed_scenarios: Memo[str, list[Any]] = Memo(64)
        """Pinned scenario snapshots by digest, parsed (content-addressed: they never change)."""
        self.published_scenarios: Memo[str, bool] = Memo(1024)
        """Scenario snapshot URIs known to be in the store."""
        self.targets: Memo[str, tuple[Any]] = Memo(256, TARGET_SECONDS)
        """ExecutionTarget name -> (its spec, None when missing,)."""
        self.jobs_permitted: Memo[str, bool] = Memo(1024, PERMITTED_SECONDS)
        """Namespaces where the API server said the operator may create Jobs."""
        self.permission_asks: SharedCalls[str, bool] = SharedCalls()
        """The question behind `jobs_permitted` while it is being asked, by namespace: the runs
        of a namespace reconciled at once wait for one answer instead of each asking."""
        self.benchmarks: Memo[tuple[str, str], tuple[int, Any]] = Memo(64)
        """(namespace, Benchmark) -> (resourceVersion, what a run read of it at that version):
        only the Benchmarks runs name, a few."""

    def register(self, plural: str, reconcile: Callable[[Runtime, str, str], float | None]) -> None:
        """`reconcile(runtime, namespace, name)` runs for every queued object of `plural`."""
        self.queue.register(plural, functools.partial(reconcile, self))

    def stop(self) -> None:
        self.queue.stop()
        self.ledger_writes.shutdown(wait=False)
        self.target_reads.shutdown(wait=False)
