"""Fixtures over the local test bed (hack/testbed): a real control plane and node, and an S3
server, started once per session or found running.

- `cluster` (session): `testbed.cluster.Cluster` — .kubeconfig, .server, .bin_dir, .log_dir,
  .run_dir, .users, .node, .kubectl(*args, as_user=None, check=True, input=None),
  .api_client(user="admin", impersonate=None, impersonate_group=None), .env(),
  .set_gpus(n), .set_heartbeats(on), .pod_log(namespace, pod, container=None).
- `object_store` (session): `testbed.objectstore.ObjectStore` — .endpoint, .access_key,
  .secret_key, .bucket ("modelsmith"), .region, .env() (the operator's credentials),
  .job_env() / .job_secret(namespace) (the Jobs' restricted ones), .client(principal="admin").
- `namespace` (function): a fresh namespace whose `default` ServiceAccount exists; deleted after.
- `node_control` (function): the cluster, with the node's GPU count and heartbeats restored
  after the test (use it in tests that change them).
- `kueue` (session): `testbed.kueue.Kueue` running against the cluster, started by the first
  test that asks; `gpu_queue` (function) makes a ClusterQueue with GPU quota and a LocalQueue in
  the test's namespace.
- `jobset` (session): `testbed.jobset.JobSet` running against the cluster, started by the first
  test that asks; its pods find each other by host name (`testbed.podnet`).
- `base_model` (session): the URI of the quickstart's tiny base model, published once.
- `real_model_dir` (session): the converted SmolLM2-135M-Instruct folder (hack/real_model.py),
  from the cache outside the checkout; the first session on a machine fetches and converts it.

The operator's fixtures (`crds`, `execution_target`, `operator_kubeconfig`, `operator`, and
`operator_env`, `own_runtime`, `as_operator` for operator code in the test process) are in
tests/operator_fixtures.py, registered here as a plugin.

With MODELSMITH_TESTBED_DIR set (as `eval "$(hack/cluster env)"` does), the fixtures use that
running test bed and leave it running; otherwise the session starts its own in pytest's temporary
folder and stops it at the end (a watchdog process stops it should the session die first).
Tests that use `cluster`, `namespace` or `node_control` are marked `cluster`. They are never
skipped silently: if the control plane cannot start, the fixture fails with the component logs.
Only `--skip-cluster` or MODELSMITH_SKIP_CLUSTER=1 skips them.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from testbed import kueue as kueue_testbed
from testbed import procs, watchdog
from testbed.cluster import Cluster
from testbed.jobset import JobSet
from testbed.kube import Json
from testbed.kueue import Kueue
from testbed.objectstore import ObjectStore
from testbed.operator import INPROCESS_PREFIX, bind_operator_workloads
from testbed.waiting import log_tails, tail, wait_for

# The operator's own fixtures (CRDs, its ServiceAccount, the operator process, operator code
# in the test process) live in tests/operator_fixtures.py.
pytest_plugins = ["operator_fixtures"]

CLUSTER_FIXTURES = ("cluster", "namespace", "node_control", "kueue", "gpu_queue", "jobset")
_startup = pytest.StashKey[dict[str, float]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-cluster",
        action="store_true",
        default=False,
        help="skip tests marked `cluster` instead of starting the local control plane",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_startup] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = config.getoption("--skip-cluster") or os.environ.get("MODELSMITH_SKIP_CLUSTER") == "1"
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in CLUSTER_FIXTURES):
            item.add_marker(pytest.mark.cluster)
        if skip and item.get_closest_marker("cluster"):
            item.add_marker(
                pytest.mark.skip(
                    reason="cluster tests skipped on request "
                    "(--skip-cluster / MODELSMITH_SKIP_CLUSTER)"
                )
            )


def _existing() -> Path | None:
    value = os.environ.get("MODELSMITH_TESTBED_DIR")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[Cluster]:
    existing = _existing()
    if existing is not None:
        yield Cluster.attach(existing)
        return
    started = Cluster.start(tmp_path_factory.mktemp("testbed-cluster", numbered=True))
    pytestconfig.stash[_startup]["control plane"] = started.start_seconds
    watchdog.watch(started.run_dir, os.getpid())
    try:
        yield started
    finally:
        started.stop()
        procs.stop(started.run_dir, "watchdog")


@pytest.fixture(scope="session")
def object_store(
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[ObjectStore]:
    existing = _existing()
    if existing is not None and (existing / "object-store.json").exists():
        yield ObjectStore.attach(existing)
        return
    began = time.monotonic()
    store = ObjectStore.start(tmp_path_factory.mktemp("testbed-objectstore", numbered=True))
    pytestconfig.stash[_startup]["object store"] = time.monotonic() - began
    watchdog.watch(store.run_dir, os.getpid())
    try:
        yield store
    finally:
        store.stop()
        procs.stop(store.run_dir, "watchdog")


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    # A test that reconciles in its own process gets a namespace the operator processes of the
    # test bed leave alone (testbed.operator), so it needs no ordering against them.
    prefix = INPROCESS_PREFIX if request.node.get_closest_marker("inprocess") else "t-"
    name = f"{prefix}{slug}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(cluster.api_client())
    manifest: Json = {"metadata": {"name": name, "labels": {"modelsmith.io/test": "true"}}}
    core.create_namespace(manifest)
    bind_operator_workloads(cluster, name)
    # Pod admission refuses pods until the service-account controller made `default`.
    wait_for(
        lambda: core.read_namespaced_service_account("default", name),
        30,
        f"ServiceAccount {name}/default",
    )
    yield name
    # Not awaited: the namespace controller and the node agent finish it in the background.
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def kueue(cluster: Cluster, pytestconfig: pytest.Config) -> Kueue:
    """Kueue's manager, its CRDs, webhooks and visibility API, started on the first test that
    asks (other sessions never pay for it) and left to the cluster's own stop."""
    found = Kueue.attach(cluster)
    if found is not None:
        return found
    began = time.monotonic()
    started = Kueue.start(cluster)
    pytestconfig.stash[_startup]["kueue"] = time.monotonic() - began
    return started


@pytest.fixture(scope="session")
def jobset(cluster: Cluster, pytestconfig: pytest.Config) -> JobSet:
    """JobSet's manager, its CRD and webhooks, started on the first test that asks and left to
    the cluster's own stop."""
    found = JobSet.attach(cluster)
    if found is not None:
        return found
    began = time.monotonic()
    started = JobSet.start(cluster)
    pytestconfig.stash[_startup]["jobset"] = time.monotonic() - began
    return started


@pytest.fixture
def gpu_queue(kueue: Kueue, namespace: str) -> Iterator[Callable[..., str]]:
    """Makes a ClusterQueue with `gpus` nvidia.com/gpu of quota (GPU ResourceFlavor
    `testbed.kueue.RESOURCE_FLAVOR`) and a LocalQueue `name` in the test's namespace pointing at
    it; returns the ClusterQueue's name. The ClusterQueues are deleted after the test; the
    LocalQueues go with the namespace."""
    made: list[str] = []

    def make(gpus: int = 1, name: str = "gpu") -> str:
        cluster_queue = f"{namespace}-{name}"[:63]
        kueue_testbed.gpu_queue(kueue.cluster, namespace, cluster_queue, name, gpus)
        made.append(cluster_queue)
        return cluster_queue

    yield make
    for name in made:
        kueue.cluster.kubectl("delete", "clusterqueue", name, "--wait=false", check=False)


@pytest.fixture
def node_control(cluster: Cluster) -> Iterator[Cluster]:
    yield cluster
    cluster.set_heartbeats(True)
    cluster.set_gpus(cluster.node.gpus)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report carries the test bed's component logs and its pods' output."""
    report = yield
    if not report.failed or not any(
        f in getattr(item, "fixturenames", ()) for f in (*CLUSTER_FIXTURES, "object_store")
    ):
        return report
    sections = []
    # A wait_for timeout already carries the component logs in its message.
    if not (call.excinfo is not None and isinstance(call.excinfo.value, TimeoutError)):
        sections.append(log_tails(lines=25))
    funcargs = getattr(item, "funcargs", {})
    cluster_ = funcargs.get("cluster") or funcargs.get("node_control")
    namespace_ = funcargs.get("namespace")
    if isinstance(cluster_, Cluster) and isinstance(namespace_, str):
        for log in sorted((cluster_.run_dir / "pods" / namespace_).glob("*/*.log")):
            sections.append(
                f"----- pod {log.parent.name} container {log.stem} -----\n" + tail(log, 25)
            )
    report.sections.append(("test bed logs", "\n".join(sections)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    started = terminalreporter.config.stash.get(_startup, {})
    if started:
        terminalreporter.write_line(
            "test bed started: " + ", ".join(f"{k} in {v:.1f}s" for k, v in started.items())
        )


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """The real model's folder. Converting takes about 1.7 GB of memory, so it runs in a child
    process that gives it back, and only when the cache does not hold the folder yet."""
    import real_model

    found = real_model.cached()
    if found:
        return found
    done = subprocess.run(
        [sys.executable, str(REPO / "hack" / "real_model.py")],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=900,
    )
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def base_model(object_store: ObjectStore) -> str:
    """The quickstart's tiny base model (hack/quickstart_model.py), published once for the fault
    and end-to-end tests that run the quickstart on it; they only read it."""
    from e2e.quickstart import build_base_model

    uri = f"s3://{object_store.bucket}/models/quickstart/tiny-support-base/"
    build_base_model(object_store, uri)
    return uri
