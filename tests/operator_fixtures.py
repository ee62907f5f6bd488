"""The operator on the test bed, registered as a pytest plugin by tests/conftest.py: the CRDs
and the shared ExecutionTarget, the chart's ServiceAccount and RBAC, the operator as a real
process, and operator code run in the test process with a runtime of its own.

- `crds` (session): the cluster with the generated CRDs, admission policies and the shared
  test ExecutionTarget installed; `execution_target` (function) makes more for one test.
- `operator_kubeconfig` (session): a kubeconfig holding a token of the chart's operator
  ServiceAccount, bound by the chart's RBAC (testbed.operator.bind_operator_workloads binds its
  workloads ClusterRole in a namespace; the `namespace` fixture does it for every test
  namespace).
- `operator` (session): the operator as a real process over the whole test bed.
- `operator_env` (function): operator code in the test process talks to the test bed as admin
  and to the test S3 server; `as_operator` (function) does the same as the chart's
  ServiceAccount. Both go with a module-level runtime `RT` emptied around each test
  (`own_runtime`, `as_operator`).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testbed.admission import wait_for_intake_admission
from testbed.cluster import Cluster
from testbed.kube import Json
from testbed.objectstore import ObjectStore
from testbed.operator import OPERATOR_ACCOUNT, OPERATOR_NAMESPACE, OperatorProcess

if TYPE_CHECKING:
    # Operator code is imported inside the fixtures that use it.
    from modelsmith.runtime.core import Runtime

REPO = Path(__file__).resolve().parents[1]
@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The generated CRDs (and the admission policies beside them), installed (idempotently)
    and served, with the shared test ExecutionTarget (`samples.TARGET`: it admits every test
    namespace, labelled modelsmith.io/test=true, and runs their Jobs there as
    modelsmith-runner) that the sample intake and most test intakes name."""
    from modelsmith.api import samples
    from modelsmith.api.kinds import ALL_KINDS

    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for kind in ALL_KINDS:
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{kind.crd_name}"
        )
    apply_target(cluster, samples.execution_target())
    wait_for_intake_admission(cluster)
    return cluster


def apply_target(cluster: Cluster, body: Json) -> str:
    """Applies an ExecutionTarget as a platform admin would; returns its name."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(body)
    )
    return str(body["metadata"]["name"])


@pytest.fixture
def execution_target(crds: Cluster) -> Iterator[Callable[..., str]]:
    """Makes ExecutionTargets for one test (`samples.execution_target` arguments; a fresh name
    unless given) and deletes them afterwards: a test that needs Jobs to run elsewhere than the
    shared target says, or a target it then edits."""
    from modelsmith.api import samples

    made: list[str] = []

    def make(name: str | None = None, **kwargs: Any) -> str:
        body = samples.execution_target(name or f"t-{secrets.token_hex(4)}", **kwargs)
        made.append(apply_target(crds, body))
        return made[-1]

    yield make
    for name in made:
        crds.kubectl("delete", "executiontarget", name, "--wait=false", check=False)


@pytest.fixture
def operator_env(
    cluster: Cluster, object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Operator code run in the test process talks to the test bed as admin and to the test S3
    server."""
    from modelsmith.runtime import kube

    _operator_code_env(monkeypatch, cluster.kubeconfig, object_store.env())
    yield
    kube.api_client.cache_clear()


def _operator_code_env(
    monkeypatch: pytest.MonkeyPatch, kubeconfig: Path, store_env: dict[str, str]
) -> None:
    """Points operator code in the test process at `kubeconfig` and the store of `store_env`."""
    from modelsmith.runtime import kube

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # The client reads KUBECONFIG once, when it is imported.
    monkeypatch.setattr(
        "kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig)
    )
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    kube.api_client.cache_clear()


@pytest.fixture(scope="session")
def operator_kubeconfig(crds: Cluster) -> Path:
    """A kubeconfig holding a real token of the chart's operator ServiceAccount, bound by the
    chart's own RBAC: every test that runs the operator proves those permissions suffice."""
    import yaml

    crds.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    rendered = subprocess.run(
        [
            str(crds.bin_dir / "helm"),
            "template",
            "modelsmith",
            str(REPO / "charts/modelsmith"),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--kube-version",
            "1.34.4",
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    crds.kubectl("apply", "-f", "-", input=rendered)
    token = crds.kubectl(
        "create", "token", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration", "24h"
    ).stdout.strip()
    admin = yaml.safe_load(crds.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": OPERATOR_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster["name"], "user": OPERATOR_ACCOUNT}}
        ],
        "current-context": "operator",
    }
    path = crds.run_dir / "operator-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def runtime_emptied(rt: Runtime) -> Iterator[None]:
    """Around one test of a module that reconciles in the test process with its own runtime
    (`rt`): nothing cached from the last test (its objects are new), and the Events the test's
    reconciles queued are sent before the next."""
    caches = (rt.cache, rt.published_scenarios, rt.parsed_scenarios)
    for cache in caches:
        cache.clear()
    yield
    rt.events.flush(30)
    for cache in caches:
        cache.clear()


@pytest.fixture
def own_runtime(request: pytest.FixtureRequest) -> Iterator[None]:
    """`runtime_emptied` for the test module's runtime (its `RT`): modules that reconcile
    in-process with the admin's credentials (`operator_env`) name it in `usefixtures`."""
    yield from runtime_emptied(request.module.RT)


@pytest.fixture
def operator_store_env(object_store: ObjectStore) -> dict[str, str]:
    """The store credentials `as_operator` gives operator code in the test process; a module
    whose operator uses another store overrides this fixture."""
    return object_store.env()


@pytest.fixture
def as_operator(
    crds: Cluster,
    operator_kubeconfig: Path,
    operator_store_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """Operator code in the test process talks to the API server as the chart's ServiceAccount
    and to the store with `operator_store_env`; the test module's runtime (its `RT`) is emptied
    around the test (`runtime_emptied`)."""
    from modelsmith.runtime import kube

    _operator_code_env(monkeypatch, operator_kubeconfig, operator_store_env)
    yield from runtime_emptied(request.module.RT)
    kube.api_client.cache_clear()


@pytest.fixture(scope="session")
def operator(
    crds: Cluster,
    object_store: ObjectStore,
    operator_kubeconfig: Path,
) -> Iterator[OperatorProcess]:
    """The operator as a real process over the whole test bed, acting as the chart's
    ServiceAccount; stopped at the end."""
    env = {
        **crds.env(),
        **object_store.env(),
        "KUBECONFIG": str(operator_kubeconfig),
        "MODELSMITH_BUCKET": object_store.bucket,
    }
    proc = OperatorProcess(crds.log_dir, env).start()
    yield proc
    proc.stop()
