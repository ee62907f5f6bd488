"""The Modelsmith operator as a real process against the test bed, so tests see what a cluster
sees: its own watch connections, its restarts, and its /metrics endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from kubernetes import client

from testbed import procs
from testbed.cluster import Cluster
from testbed.kube import Json
from testbed.waiting import wait_for

INPROCESS_PREFIX = "own-"
"""Namespaces a test reconciles in its own process (with its own runtime): an operator process
of the test bed leaves them alone, so the test's runtime is the only one acting there."""
OPERATOR_NAMESPACE = "modelsmith-system"
OPERATOR_ACCOUNT = "modelsmith-operator"
"""The chart's namespace and ServiceAccount, as the test bed installs them."""
WORKLOADS_ROLE = "modelsmith-operator-workloads"


def bind_operator_workloads(cluster: Cluster, namespace: str) -> None:
    """What a platform admin does for an execution namespace (the chart does it for those in
    operator.workloadNamespaces): lets the operator's ServiceAccount create and delete Jobs and
    patch ConfigMaps there. The ClusterRole itself comes with the chart's RBAC
    (tests/operator_fixtures.py, `operator_kubeconfig`)."""
    binding: Json = {
        "metadata": {"name": WORKLOADS_ROLE},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": WORKLOADS_ROLE,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": OPERATOR_ACCOUNT, "namespace": OPERATOR_NAMESPACE}
        ],
    }
    client.RbacAuthorizationV1Api(cluster.api_client()).create_namespaced_role_binding(
        namespace, binding
    )


class OperatorProcess:
    def __init__(
        self,
        log_dir: Path,
        env: Mapping[str, str],
        name: str = "operator",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.log_path = log_dir / f"{name}.log"
        self.metrics_port = procs.free_port()
        self.env = {
            **os.environ,
            **env,
            "MODELSMITH_METRICS_PORT": str(self.metrics_port),
            "MODELSMITH_REQUEUE_SECONDS": env.get("MODELSMITH_REQUEUE_SECONDS", "1"),
            # The default (minutes) would let one case of a missing image outlast its test.
            "MODELSMITH_CONTAINER_START_GRACE_SECONDS": env.get(
                "MODELSMITH_CONTAINER_START_GRACE_SECONDS", "15"
            ),
            "MODELSMITH_INPUT_GRACE_SECONDS": env.get("MODELSMITH_INPUT_GRACE_SECONDS", "5"),
            "MODELSMITH_IGNORE_NAMESPACES": env.get(
                "MODELSMITH_IGNORE_NAMESPACES", f"{INPROCESS_PREFIX}*"
            ),
            "PYTHONUNBUFFERED": "1",
        }
        self.args = [sys.executable, "-m", "modelsmith.cli", "operator", *extra_args]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> OperatorProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(self._serving, timeout=60, description="operator serving /metrics")
        return self

    def _serving(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def restart(self) -> OperatorProcess:
        self.kill()
        time.sleep(0.1)
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
