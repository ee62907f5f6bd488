"""What the fault tests share: the quickstart run in a test namespace, the peering objects and
the audit of what a run left behind (one Job per phase, iteration and attempt; a ledger without
gaps). The faults themselves are the test bed's public controls: `Cluster.restart_apiserver`,
`Cluster.set_heartbeats`, `ObjectStore.stop` / `ObjectStore.restart`, and Kueue's preemption.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e.quickstart import RUN, apply_quickstart
from modelsmith.controllers.run.jobset_manifest import JOBSET_NAME_LABEL as JOBSET_NAME
from modelsmith.controllers.run.jobset_manifest import jobset_name
from modelsmith.engines import JOBSET_API_VERSION
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
Json = dict[str, Any]
JOBSET_GROUP, JOBSET_VERSION = JOBSET_API_VERSION.split("/")
IMAGES = (
    REPO / "trainer-image" / "modelsmith_trainer" / "__main__.py",
    REPO / "evaluator-image" / "modelsmith_evaluator" / "__main__.py",
)
FAULT_MARKS = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.timeout(2700),
    pytest.mark.skipif(
        not all(p.exists() for p in IMAGES), reason="needs the trainer and evaluator images"
    ),
]
"""Every fault test module's `pytestmark`."""
# A run of the quickstart to Staged takes minutes; with a fault, a few more.
TO_STAGED = 1500.0
FAULTS: dict[str, bool] = {}
"""Each fault injected -> whether the run survived it, filled as the tests of every fault
module go; test_summary.py prints it last."""


def injected(*names: str) -> None:
    for name in names:
        FAULTS.setdefault(name, False)


def survived(*names: str) -> None:
    for name in names:
        FAULTS[name] = True


class RunWatch:
    """Fast reads of one run and its Jobs (the Python client: a kubectl call costs ~100 ms, too
    slow to catch a Job the moment it appears)."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.namespace = namespace
        api = cluster.api_client()
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def run(self) -> Json:
        body: Json = self.custom.get_namespaced_custom_object(
            "modelsmith.io", "v1alpha1", self.namespace, "iterationruns", RUN
        )
        return body

    def status(self) -> Json:
        status: Json = self.run().get("status") or {}
        return status

    def phase(self) -> str | None:
        phase = self.status().get("phase")
        return str(phase) if phase else None

    def jobs(self) -> list[Json]:
        response = self.batch.list_namespaced_job(self.namespace, _preload_content=False)
        items: list[Json] = json.loads(response.data)["items"]
        return items

    def job_names(self) -> list[str]:
        """The run's steps: its Jobs and the JobSets a training step over several nodes runs
        as (named after the step here), not the Jobs a JobSet makes of itself."""
        own = [j for j in self.jobs() if not (j["metadata"].get("labels") or {}).get(JOBSET_NAME)]
        return [j["metadata"]["name"] for j in own + self.jobsets()]

    def jobsets(self) -> list[Json]:
        """The namespace's JobSets; none where the cluster does not serve JobSets."""
        try:
            found = self.custom.list_namespaced_custom_object(
                JOBSET_GROUP, JOBSET_VERSION, self.namespace, "jobsets"
            )
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return []
            raise
        items: list[Json] = found["items"]
        return items

    def jobset(self, name: str) -> Json:
        return next(j for j in self.jobsets() if j["metadata"]["name"] == name)

    def job_name(self, suffix: str) -> str:
        """The run's Job name ending in `suffix` (e.g. "i1-train-a1"): Job names carry a key
        from the run's namespace and UID (run_key). "" while the run does not exist."""
        from modelsmith.contract.layout import run_key

        try:
            uid = self.run()["metadata"]["uid"]
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return ""
            raise
        return f"{RUN}-{run_key(self.namespace, uid)}-{suffix}"

    def has_job(self, name: str) -> bool:
        return name in self.job_names()

    def pods(self, selector: str) -> list[Json]:
        response = self.core.list_namespaced_pod(
            self.namespace, label_selector=selector, _preload_content=False
        )
        items: list[Json] = json.loads(response.data)["items"]
        return items

    def wait_phase(self, *phases: str, timeout: float = 900) -> Json:
        status: Json = wait_for(
            lambda: (s := self.status()).get("phase") in phases and s,
            timeout=timeout,
            interval=1.0,
            description=f"run {RUN} in {' or '.join(phases)}",
        )
        return status


def train_pods(watch: RunWatch, iteration: int = 1) -> list[Json]:
    """The pods of the iteration's first training step: its Job's, or its JobSet's."""
    step = watch.job_name(f"i{iteration}-train-a1")
    return watch.pods(f"job-name={step}") or watch.pods(f"{JOBSET_NAME}={jobset_name(step)}")


def train_pod_running(watch: RunWatch, iteration: int = 1) -> bool:
    return any(p["status"].get("phase") == "Running" for p in train_pods(watch, iteration))


def quickstart_training(
    cluster: Cluster,
    store: ObjectStore,
    namespace: str,
    model_uri: str,
    *,
    target: Json | None = None,
    run: Json | None = None,
    checkpoint: bool = False,
) -> RunWatch:
    """The quickstart applied in `namespace` (the target's and run's spec merged with `target`
    and `run`) and watched until its first training pod runs, having written a complete
    checkpoint too when `checkpoint`."""
    watch = RunWatch(cluster, namespace)
    apply_quickstart(cluster, store, namespace, model_uri, target=target, run=run)
    wait_for(
        lambda: train_pod_running(watch) and (not checkpoint or checkpointed(store, namespace)),
        timeout=TO_STAGED,
        interval=0.2,
        description="training running" + (" with a complete checkpoint" if checkpoint else ""),
    )
    return watch


# ----- what a run leaves behind ----------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    jobs: list[str]
    ledger: list[Json]
    status: Json


def ledger_entries(store: ObjectStore, namespace: str) -> dict[int, Json]:
    s3 = store.client()
    # The run's prefix is keyed by its UID (runs/<ns>/<run>-<key>/); one run of the name here.
    prefix = f"runs/{namespace}/{RUN}-"
    found: dict[int, Json] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if "/ledger/" not in key:
                continue
            sequence = int(key.rsplit("/", 1)[1].removesuffix(".json"))
            found[sequence] = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    return found


def assert_nothing_lost(watch: RunWatch, store: ObjectStore) -> Audit:
    """The run's record is whole: exactly one Job per phase, iteration and attempt, every
    iteration's Jobs present, and a ledger numbered 0..n-1 without gaps whose transitions chain
    and whose Job entries match the Jobs one to one."""
    status = watch.status()
    names = watch.job_names()
    assert len(names) == len(set(names)), f"duplicate Job names: {sorted(names)}"
    # The run's own names only: its name and the key from its namespace and UID, then the step.
    job_name = re.compile(re.escape(watch.job_name("")) + r"i(\d+)-(train|eval)-a(\d+)$")
    attempts: dict[tuple[int, str], set[int]] = defaultdict(set)
    for name in names:
        match = job_name.match(name)
        assert match, f"a Job the run did not name: {name}"
        attempts[(int(match.group(1)), match.group(2))].add(int(match.group(3)))
    for key, tried in attempts.items():
        assert tried == set(range(1, max(tried) + 1)), f"attempts of {key}: {sorted(tried)}"
    last = int(status.get("iteration") or 0)
    expected = {(0, "eval")} | {(i, k) for i in range(1, last + 1) for k in ("train", "eval")}
    assert set(attempts) == expected, f"Jobs per (iteration, kind): {sorted(attempts)}"

    entries = ledger_entries(store, watch.namespace)
    count = status["ledger"]["entries"]
    assert sorted(entries) == list(range(count)), (
        f"ledger sequence numbers {sorted(entries)} for {count} entries in status"
    )
    assert status["ledger"]["lastSequence"] == count - 1
    ordered = [entries[i] for i in range(count)]
    assert [e["sequence"] for e in ordered] == list(range(count))
    transitions = [e for e in ordered if e["kind"] == "transition"]
    for before, after in itertools.pairwise(transitions):
        assert before["to"] == after["from"], f"a transition is missing: {before} then {after}"
    if transitions:
        assert transitions[-1]["to"] == status["phase"]
    launches = sorted((e["iteration"], e["attempt"]) for e in ordered if e["kind"] == "job")
    jobs = sorted(
        (int(m.group(1)), int(m.group(3))) for m in (job_name.match(n) for n in names) if m
    )
    assert launches == jobs, f"ledger Job entries {launches} against Jobs {jobs}"
    return Audit(names, ordered, status)


# ----- the faults ------------------------------------------------------------------------


@contextmanager
def frozen(operator: OperatorProcess) -> Iterator[None]:
    """The operator stopped (SIGSTOP) for the duration: it can neither read nor write."""
    assert operator.proc is not None
    os.killpg(operator.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(operator.proc.pid, signal.SIGCONT)


def install_peering(cluster: Cluster) -> None:
    """kopf's peering CRD and the ClusterKopfPeering the chart creates, rendered from the chart
    (`helm template` renders both: its lookups see no cluster)."""
    import subprocess

    versions = (REPO / "hack" / "controlplane" / "versions.env").read_text()
    kube_version = re.search(r"^KUBE_VERSION=(\S+)$", versions, re.MULTILINE)
    assert kube_version
    out = subprocess.run(
        [
            str(cluster.bin_dir / "helm"),
            "template",
            "modelsmith",
            str(REPO / "charts" / "modelsmith"),
            "--namespace",
            "modelsmith-system",
            "--kube-version",
            kube_version.group(1),
            "--show-only",
            "templates/peering.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    crd = next(d for d in docs if d["kind"] == "CustomResourceDefinition")
    peering = next(d for d in docs if d["kind"] == "ClusterKopfPeering")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(crd))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}"
    )
    peering["metadata"].pop("annotations", None)  # helm hook annotations mean nothing here
    cluster.kubectl("apply", "-f", "-", input=json.dumps(peering))


_RECONCILES = re.compile(r"^modelsmith_reconciles_total\{[^}]*\} (\S+)$", re.MULTILINE)


def reconciles(operator: OperatorProcess) -> float:
    """Reconciles this operator process has run (the only path by which it acts)."""
    return sum(float(v) for v in _RECONCILES.findall(operator.metrics()))


OPERATOR_ROLE = "modelsmith-operator"
OPERATOR_USER = "system:serviceaccount:modelsmith-system:modelsmith-operator"


@contextmanager
def status_writes_refused(cluster: Cluster, namespace: str) -> Iterator[None]:
    """The operator's ClusterRole without `iterationruns/status` for the duration: it can still
    write the ledger and create Jobs, but every attempt to record them in status is refused.
    Killing it then kills it between launching a Job and claiming it, the window a crash can
    fall into but a poll can never hit."""
    original = json.loads(cluster.kubectl("get", "clusterrole", OPERATOR_ROLE, "-o", "json").stdout)
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        original["metadata"].pop(key, None)
    narrowed = json.loads(json.dumps(original))
    rules = []
    for rule in narrowed["rules"]:
        rule["resources"] = [r for r in rule["resources"] if r != "iterationruns/status"]
        if rule["resources"]:
            rules.append(rule)
    narrowed["rules"] = rules
    cluster.kubectl("replace", "-f", "-", input=json.dumps(narrowed))
    try:
        wait_for(
            lambda: not _operator_can_write_run_status(cluster, namespace),
            timeout=30,
            description="the operator's status permission withdrawn",
        )
        yield
    finally:
        cluster.kubectl("replace", "-f", "-", input=json.dumps(original))
        wait_for(
            lambda: _operator_can_write_run_status(cluster, namespace),
            timeout=30,
            description="the operator's status permission restored",
        )


def _operator_can_write_run_status(cluster: Cluster, namespace: str) -> bool:
    out = cluster.kubectl(
        "auth",
        "can-i",
        "patch",
        "iterationruns.modelsmith.io",
        "--subresource=status",
        "--as",
        OPERATOR_USER,
        "-n",
        namespace,
        check=False,
    )
    return out.stdout.strip() == "yes"


# ----- checkpoints and resume ------------------------------------------------------------


def store_objects(store: ObjectStore, namespace: str, under: str) -> dict[str, bytes]:
    """The run's objects whose key contains `under`, by key."""
    s3 = store.client()
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=f"runs/{namespace}/{RUN}-"
    ):
        for item in page.get("Contents", []):
            if under in item["Key"]:
                body = s3.get_object(Bucket=store.bucket, Key=item["Key"])["Body"].read()
                found[item["Key"]] = body
    return found


def checkpointed(store: ObjectStore, namespace: str) -> bool:
    """Whether iteration 1's training has written a complete checkpoint (its manifest last)."""
    keys = store_objects(store, namespace, "/iter-1/candidate/checkpoint/")
    return any(k.endswith("/manifest.json") for k in keys)


def assert_resumed_from_checkpoint(
    watch: RunWatch, store: ObjectStore, status: Json, steps: int, every: int
) -> Audit:
    """Iteration 1's training was interrupted and its Job's next pod continued from a
    checkpoint: the result, status and ledger say so, the steps trained are the recipe's, and
    the run spent none of its attempts (no second training Job)."""
    (result,) = store_objects(store, watch.namespace, "/iter-1/candidate/result.json").values()
    report = json.loads(result)
    resumed = report["resumed_from_step"]
    assert resumed in range(every, steps, every), report
    assert report["steps"] == steps
    assert status["training"]["resumedFromStep"] == resumed
    audit = assert_nothing_lost(watch, store)
    (entry,) = [e for e in audit.ledger if e["reason"] == "TrainingResumed"]
    assert (entry["iteration"], entry["attempt"]) == (1, 1)
    assert f"at step {resumed} of {steps}" in entry["message"]
    assert watch.job_name("i1-train-a2") not in audit.jobs
    # A complete candidate leaves no checkpoints behind.
    assert not store_objects(store, watch.namespace, "/iter-1/candidate/checkpoint/")
    return audit
