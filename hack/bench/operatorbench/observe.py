"""What the benchmark observes: watch events with their arrival times, the operator process's
memory and CPU, the API server's per-identity request counters, the audit log's writes and the
operator's own reconcile counter."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import urllib3
from kubernetes import client, watch

from operatorbench.identity import flow_schema_name
from testbed.cluster import Cluster

GROUP, VERSION = "modelsmith.io", "v1alpha1"
MANAGED = "app.kubernetes.io/managed-by=modelsmith"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
PEERING_RESOURCES = frozenset({"kopfpeerings", "clusterkopfpeerings"})


# --- watch events --------------------------------------------------------------------------------


@dataclass
class RunTrace:
    """One IterationRun as the benchmark's watch saw it: when it appeared and each distinct
    status with the time it arrived."""

    added: float | None = None
    statuses: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def last_status(self) -> dict[str, Any]:
        return self.statuses[-1][1] if self.statuses else {}


@dataclass
class JobTrace:
    run: str
    attempt: str
    added: float
    complete: float | None = None


class Recorder:
    """Watches IterationRuns and the operator-managed Jobs cluster-wide from background threads,
    stamping each event with its arrival time (time.monotonic). Both operators are observed by
    the same watches, so watch delivery costs the same on each side of every interval."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._lock = threading.Lock()
        self.runs: dict[tuple[str, str], RunTrace] = {}
        self.jobs: dict[tuple[str, str], JobTrace] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch_runs, daemon=True, name="watch-runs"),
            threading.Thread(target=self._watch_jobs, daemon=True, name="watch-jobs"),
        ]
        self._synced = [threading.Event(), threading.Event()]

    def start(self) -> Recorder:
        for thread in self._threads:
            thread.start()
        for synced in self._synced:
            if not synced.wait(30):
                raise TimeoutError("benchmark watches did not start")
        return self

    def stop(self) -> None:
        self._stop.set()

    def reset(self) -> None:
        with self._lock:
            self.runs.clear()
            self.jobs.clear()

    def snapshot(self) -> tuple[dict[tuple[str, str], RunTrace], dict[tuple[str, str], JobTrace]]:
        with self._lock:
            return dict(self.runs), dict(self.jobs)

    def _loop(
        self,
        list_call: Callable[..., Any],
        handle: Callable[[str, dict[str, Any], float], None],
        synced: threading.Event,
        **kwargs: Any,
    ) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = json.loads(list_call(_preload_content=False, **kwargs).data)
                    version = listed["metadata"]["resourceVersion"]
                    synced.set()
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    list_call,
                    resource_version=version,
                    timeout_seconds=120,
                    allow_watch_bookmarks=True,
                    **kwargs,
                )
                for event in stream:
                    now = time.monotonic()
                    obj = event["raw_object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        handle(event["type"], obj, now)
                    if self._stop.is_set():
                        return
            except client.ApiException as exc:
                if exc.status == 410:
                    version = ""  # expired: list again
                    continue
                raise
            except (urllib3.exceptions.HTTPError, OSError):
                # A dropped connection (the test bed stopping after stop(), or a hiccup while
                # measuring): done, or watch again from the last version seen.
                if self._stop.wait(0.5):
                    return

    def _watch_runs(self) -> None:
        api = client.CustomObjectsApi(self._cluster.api_client())
        self._loop(
            api.list_cluster_custom_object,
            self._on_run,
            self._synced[0],
            group=GROUP,
            version=VERSION,
            plural="iterationruns",
        )

    def _watch_jobs(self) -> None:
        api = client.BatchV1Api(self._cluster.api_client())
        self._loop(
            api.list_job_for_all_namespaces, self._on_job, self._synced[1], label_selector=MANAGED
        )

    def _on_run(self, kind: str, obj: dict[str, Any], now: float) -> None:
        if kind == "DELETED":
            return
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        status = obj.get("status") or {}
        with self._lock:
            trace = self.runs.setdefault(key, RunTrace())
            if trace.added is None:
                trace.added = now
            if status and status != trace.last_status():
                trace.statuses.append((now, status))

    def _on_job(self, kind: str, obj: dict[str, Any], now: float) -> None:
        if kind == "DELETED":
            return
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        key = (meta["namespace"], meta["name"])
        complete = any(
            c.get("type") == "Complete" and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions") or []
        )
        with self._lock:
            trace = self.jobs.get(key)
            if trace is None:
                trace = self.jobs[key] = JobTrace(
                    run=labels.get("modelsmith.io/run", ""),
                    attempt=labels.get("modelsmith.io/attempt", ""),
                    added=now,
                )
            if complete and trace.complete is None:
                trace.complete = now


# --- the operator process ---------------------------------------------------------------------


class ProcessSampler:
    """Peak resident memory (sampled every `interval` seconds) and CPU seconds of one process."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")

    def start(self) -> ProcessSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        try:
            rss = int(self._proc.memory_info().rss)
        except psutil.Error:
            return
        with self._lock:
            self._peak = max(self._peak, rss)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = 0
        self._sample()

    @property
    def peak_rss(self) -> int:
        with self._lock:
            return self._peak

    def rss(self) -> int:
        return int(self._proc.memory_info().rss)

    def cpu_seconds(self) -> float:
        times = self._proc.cpu_times()
        return float(times.user + times.system)


# --- counters ---------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group("labels") or ""))
        samples.append((match.group("name"), labels, float(match.group("value"))))
    return samples


def apiserver_requests(cluster: Cluster, user: str) -> float:
    """Requests the API server dispatched for `user` (reads, writes and watches), from the
    identity's own FlowSchema series."""
    api = cluster.api_client()
    response: Any = api.call_api("GET", f"{api.configuration.host}/metrics")
    text = str(response.read().decode())
    series = "apiserver_flowcontrol_dispatched_requests_total{"
    flow = flow_schema_name(user)
    wanted = "\n".join(line for line in text.splitlines() if line.startswith(series))
    return sum(
        value
        for _, labels, value in parse_metrics(wanted)
        if labels.get("flow_schema") == flow
    )


def reconciles(metrics_url: str) -> dict[str, float]:
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    return {
        labels.get("kind", ""): value
        for name, labels, value in parse_metrics(text)
        if name == "modelsmith_reconciles_total"
    }


# --- the audit log ----------------------------------------------------------------------------


@dataclass
class AuditWrites:
    total: int = 0
    peering: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    last_at: float = 0.0
    """time.time() of the last write seen"""


class AuditLog:
    """Follows the API server's audit log (every write, at Metadata level), keeping what `user`
    wrote since the last mark. The server rotates the file at 100 MB (renaming it
    audit-<time>.jsonl); the rest of the renamed file is read before the new one."""

    def __init__(self, path: Path, user: str) -> None:
        self.path = path
        self.user = user
        self._needle = f'"username":"{user}"'.encode()
        self._inode = 0
        self._offset = 0
        self._partial = b""
        self._found = AuditWrites()
        self.mark()

    def mark(self) -> None:
        stat = self.path.stat() if self.path.exists() else None
        self._inode = stat.st_ino if stat else 0
        self._offset = stat.st_size if stat else 0
        self._partial = b""
        self._found = AuditWrites()

    def writes_since_mark(self) -> AuditWrites:
        self._poll()
        found = self._found
        return AuditWrites(found.total, found.peering, Counter(found.by_kind), found.last_at)

    def _poll(self) -> None:
        if not self.path.exists():
            return
        current = self.path.stat().st_ino
        if current != self._inode:
            rotated = next(
                (
                    p
                    for p in self.path.parent.glob("audit-*.jsonl")
                    if p.stat().st_ino == self._inode
                ),
                None,
            )
            if rotated is not None:
                self._read(rotated)
            self._partial = b""
            self._inode, self._offset = current, 0
        self._read(self.path)

    def _read(self, path: Path) -> None:
        with path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        for line in complete.split(b"\n"):
            if self._needle in line:
                self._count(line)

    def _count(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if event.get("stage") != "ResponseComplete":
            return
        if (event.get("user") or {}).get("username") != self.user:
            return
        verb = event.get("verb", "")
        if verb not in WRITE_VERBS:
            return
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "")
        sub = ref.get("subresource")
        found = self._found
        found.total += 1
        if resource in PEERING_RESOURCES:
            found.peering += 1
        found.by_kind[f"{verb} {resource}{'/' + sub if sub else ''}"] += 1
        found.last_at = max(found.last_at, _timestamp(event.get("stageTimestamp", "")))


def _timestamp(value: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def testbed_cpu(run_dir: Path) -> dict[str, float]:
    """CPU seconds so far of each test-bed process (pods the node agent ran and reaped count to
    it): the operator shares the machine's cores with them, and what it asks of them (API
    requests, S3 requests, Jobs) costs there too."""
    from testbed import procs
    from testbed.cluster import COMPONENTS
    from testbed.objectstore import NAME as OBJECT_STORE

    seconds: dict[str, float] = {}
    for name in (*COMPONENTS, OBJECT_STORE):
        pid = procs.recorded_pid(run_dir, name)
        if pid is None:
            continue
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        seconds[name] = times.user + times.system + times.children_user + times.children_system
    return seconds
