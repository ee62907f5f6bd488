"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and our node agent, each a detached process with one log file in the run folder.

Run folder layout (everything the test bed writes lives here):
  cluster.json              ports, server, bin folder, node: what `Cluster.attach` reads
  kubeconfig                contexts admin, alice, bob, carol, mallory (each its own client cert)
  kubeconfigs/              the controller manager's, scheduler's and node agent's kubeconfigs
  pki/                      CA, serving and client certificates, service-account key
  logs/<component>.log      one per component
  pids/                     "<pid> <start time>" per process; pids/pods/ for pod processes
  node/<node>/              the node agent's control files (gpus, heartbeats-paused)
  pods/<namespace>/<pod>/   per pod: working folder, volumes, <container>.log, termination files
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from testbed import certs, components, procs
from testbed.components import HACK_DIR, ComponentDiedError, Ports, http_ok
from testbed.kube import condition, new_api_client, read_json
from testbed.waiting import log_tails, register_log_dir, wait_for

REPO_DIR = HACK_DIR.parent
BUILD_SCRIPT = HACK_DIR / "controlplane" / "build.sh"

GPU_RESOURCE = "nvidia.com/gpu"
# The order `stop` ends them in: consumers of the API first, etcd last.
COMPONENTS = ("node-agent", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
# Started only by the tests that need them (testbed/kueue.py, testbed/jobset.py); stopped first.
ADDONS = ("kueue", "jobset")
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def controlplane_bin_dir() -> Path:
    """The folder with the pinned binaries: builds them the first time (minutes), then cached."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True, check=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class NodeSpec:
    name: str = "testbed-node"
    gpus: int = 2
    cpu: str = "8"
    memory: str = "32Gi"
    # Pods see the machine's real GPUs only when asked (MODELSMITH_TESTBED_EXPOSE_GPUS=1);
    # otherwise the node's GPUs are a number and pod code runs on the CPU.
    expose_host_gpus: bool = field(
        default_factory=lambda: os.environ.get("MODELSMITH_TESTBED_EXPOSE_GPUS") == "1")


class Cluster:
    """A running control plane; `start` makes one, `attach` finds one started elsewhere."""

    def __init__(self, run_dir: Path, bin_dir: Path, ports: Ports, node: NodeSpec) -> None:
        self.run_dir = run_dir
        self.bin_dir = bin_dir
        self.ports = ports
        self.node = node
        self.server = f"https://127.0.0.1:{ports.apiserver}"
        self.kubeconfig = run_dir / "kubeconfig"
        self.log_dir = run_dir / "logs"
        self.pki = certs.Pki(run_dir / "pki")
        self.users: dict[str, tuple[str, ...]] = {
            i.user: i.groups for i in certs.user_identities()
        }
        self.start_seconds = 0.0
        # What a restarted API server must also do before it counts as back, beyond /readyz
        # (e.g. admission policies resolving a CRD paramKind, which they do some seconds later).
        self.ready_checks: list[tuple[str, Callable[[], bool]]] = []
        register_log_dir(self.log_dir)

    # ----- lifecycle -------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        run_dir: Path,
        bin_dir: Path | None = None,
        node: NodeSpec | None = None,
        timeout: float = 180.0,
    ) -> Cluster:
        """Starts a fresh control plane and node in `run_dir`, waiting until pods can run."""
        bin_dir = bin_dir or controlplane_bin_dir()
        node = node or NodeSpec()
        attempts = 3
        for attempt in range(attempts):
            _reset_run_dir(run_dir)
            cluster = cls(run_dir, bin_dir, Ports.pick(), node)
            try:
                cluster._start(timeout)
                return cluster
            except ComponentDiedError as e:
                cluster.stop()
                # Free ports are picked before they are bound; another test bed starting at the
                # same moment may take one. Only that race is worth another try.
                if "address already in use" not in str(e) or attempt == attempts - 1:
                    raise
            except BaseException:
                cluster.stop()
                raise
        raise AssertionError("unreachable")

    @classmethod
    def load(cls, run_dir: Path) -> Cluster:
        """The cluster recorded in `run_dir`, running or not."""
        state = json.loads((run_dir / "cluster.json").read_text())
        return cls(
            run_dir, Path(state["bin_dir"]), Ports(**state["ports"]), NodeSpec(**state["node"])
        )

    @classmethod
    def attach(cls, run_dir: Path) -> Cluster:
        """The running cluster recorded in `run_dir`; fails with its logs if any part stopped."""
        cluster = cls.load(run_dir)
        dead = [c for c in COMPONENTS if not procs.alive(run_dir, c)]
        if dead:
            raise ComponentDiedError(
                f"test bed in {run_dir} is not running ({', '.join(dead)} stopped)\n"
                + log_tails([cluster.log_dir])
            )
        return cluster

    def _start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        certs.generate(self.pki.dir, self.node.name)
        certs.issue_serving_cert(
            self.pki, self.node.name, self.pki.dir / "node-serving.crt",
            self.pki.dir / "node-serving.key",
        )
        self._write_kubeconfigs()
        self._save_state()

        ports, wait = self.ports, components.wait_ready
        self._spawn("etcd", components.etcd_argv(self))
        wait(self, lambda: http_ok(f"http://127.0.0.1:{ports.etcd_client}/health"),
             deadline, "etcd healthy", ["etcd"])
        self._spawn("kube-apiserver", components.apiserver_argv(self))
        wait(self, self._apiserver_ready, deadline, "kube-apiserver /readyz",
             ["etcd", "kube-apiserver"])
        self._spawn("kube-controller-manager", components.controller_manager_argv(self))
        self._spawn("kube-scheduler", components.scheduler_argv(self))
        self._spawn("node-agent", components.node_agent_argv(self), env=procs.python_env())
        wait(
            self,
            lambda: http_ok(f"https://127.0.0.1:{ports.controller_manager}/healthz")
            and http_ok(f"https://127.0.0.1:{ports.scheduler}/healthz"),
            deadline, "kube-controller-manager and kube-scheduler /healthz", list(COMPONENTS),
        )
        core = client.CoreV1Api(self.api_client())
        wait(self, lambda: self._node_schedulable(core), deadline,
             f"node {self.node.name} Ready and untainted", list(COMPONENTS))
        # Pod admission refuses pods until the namespace's `default` ServiceAccount exists.
        wait(self, lambda: _exists(lambda: core.read_namespaced_service_account(
            "default", "default")), deadline, "ServiceAccount default/default", list(COMPONENTS))
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Ends every process of this test bed: add-ons, components, then any pod left
        running."""
        for component in (*ADDONS, *COMPONENTS):
            procs.stop(self.run_dir, component)
        pods_pids = self.run_dir / "pids" / "pods"
        for pid_file in sorted(pods_pids.glob("*.pid")) if pods_pids.exists() else []:
            procs.stop(self.run_dir, f"pods/{pid_file.stem}", grace=2)

    def healthy(self) -> bool:
        return all(procs.alive(self.run_dir, c) for c in COMPONENTS) and self._apiserver_ready()

    # ----- use ---------------------------------------------------------------------------------

    @property
    def bin(self) -> Path:
        """The pinned binaries' folder (kubectl, helm, the control plane's), as contracts.md
        names it."""
        return self.bin_dir

    def env(self) -> dict[str, str]:
        """Environment for tools pointed at this cluster: kubeconfig, and the pinned binaries
        (kubectl and helm of matching versions) first on PATH."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "MODELSMITH_TESTBED_DIR": str(self.run_dir),
        }

    def kubectl(
        self,
        *args: str,
        as_user: str | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Runs the pinned kubectl as `as_user` (default admin), authenticated by that user's own
        client certificate."""
        argv = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig),
                "--context", as_user or "admin", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def api_client(
        self,
        user: str = "admin",
        impersonate: str | None = None,
        impersonate_group: str | None = None,
    ) -> client.ApiClient:
        """An API client authenticated as `user`; with `impersonate`, that user (who must be
        allowed to impersonate, as admin is) acts as another through impersonation headers."""
        return new_api_client(self.kubeconfig, user, impersonate, impersonate_group)

    @property
    def node_control_dir(self) -> Path:
        return self.run_dir / "node" / self.node.name

    def set_gpus(self, count: int, wait: bool = True, timeout: float = 30.0) -> None:
        """Changes the node's `nvidia.com/gpu` capacity (the node agent re-reads its control
        file within a second and posts the new capacity)."""
        control = self.node_control_dir / "gpus"
        control.parent.mkdir(parents=True, exist_ok=True)
        tmp = control.with_suffix(".tmp")
        tmp.write_text(f"{count}\n")
        tmp.replace(control)
        if wait:
            core = client.CoreV1Api(self.api_client())

            def posted() -> bool:
                status = read_json(core.read_node, self.node.name)["status"]
                return bool(
                    status["capacity"].get(GPU_RESOURCE) == str(count)
                    and status["allocatable"].get(GPU_RESOURCE) == str(count)
                )

            wait_for(posted, timeout, f"node {self.node.name} to report {count} GPUs")

    def set_heartbeats(self, on: bool, wait: bool = False, timeout: float = 60.0) -> None:
        """Pauses or resumes the node agent's Lease renewals and status posts. Paused, the
        node-lifecycle controller marks the node Ready=Unknown after
        `components.NODE_MONITOR_GRACE_SECONDS` and taints it; `wait` waits for both (the taint
        lands a moment after the condition, and only the taint keeps the scheduler off the
        node), or, resuming, for Ready=True and the taint lifted."""
        flag = self.node_control_dir / "heartbeats-paused"
        flag.parent.mkdir(parents=True, exist_ok=True)
        if on:
            flag.unlink(missing_ok=True)
        else:
            flag.touch()
        if wait:
            core = client.CoreV1Api(self.api_client())
            expected = "True" if on else "Unknown"

            def settled() -> bool:
                node = read_json(core.read_node, self.node.name)
                ready = condition(node, "Ready")
                tainted = any(t.get("key") == UNREACHABLE_TAINT
                              for t in node["spec"].get("taints") or [])
                return bool(ready and ready["status"] == expected and tainted != on)

            wait_for(settled, timeout,
                     f"node {self.node.name} Ready={expected}, {'un' if on else ''}tainted")

    def stop_apiserver(self) -> None:
        """Stops kube-apiserver alone (etcd keeps the state; the other components retry), for
        fault tests; `start_apiserver` brings it back."""
        procs.stop(self.run_dir, "kube-apiserver")

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """Starts kube-apiserver again with the flags and port it had; returns once /readyz
        answers and every registered `ready_checks` holds."""
        self._spawn("kube-apiserver", components.apiserver_argv(self))
        wait_for(self._apiserver_ready, timeout, "kube-apiserver /readyz again")
        for description, check in self.ready_checks:
            wait_for(check, timeout, description)

    def restart_apiserver(self, down_seconds: float = 0.0, timeout: float = 120.0) -> None:
        """Stops kube-apiserver, leaves it down for `down_seconds`, starts it again (see
        `stop_apiserver` and `start_apiserver`)."""
        self.stop_apiserver()
        time.sleep(down_seconds)
        self.start_apiserver(timeout)

    def pod_log(self, namespace: str, pod: str, container: str | None = None) -> str:
        """A pod's container output as the node agent captured it."""
        pod_dir = self.run_dir / "pods" / namespace / pod
        logs = [pod_dir / f"{container}.log"] if container else sorted(pod_dir.glob("*.log"))
        return "".join(p.read_text(errors="replace") for p in logs if p.exists())

    # ----- internals ---------------------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        procs.spawn(self.run_dir, name, argv, self.log_dir / f"{name}.log", env=env,
                    cwd=self.run_dir)

    def _apiserver_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.client_cert("admin")),
                                str(self.pki.client_key("admin")))
        return http_ok(f"{self.server}/readyz", context)

    def _node_schedulable(self, core: client.CoreV1Api) -> bool:
        node = read_json(core.read_node, self.node.name)
        ready = condition(node, "Ready") or {}
        return ready.get("status") == "True" and not any(
            t["key"].startswith("node.kubernetes.io/") for t in node["spec"].get("taints") or []
        )

    def _save_state(self) -> None:
        state = {"bin_dir": str(self.bin_dir), "ports": asdict(self.ports),
                 "node": asdict(self.node), "server": self.server}
        (self.run_dir / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")

    def _write_kubeconfigs(self) -> None:
        identities = {
            "admin": "admin", "alice": "alice", "bob": "bob", "carol": "carol",
            "mallory": "mallory",
        }
        self.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig(identities, "admin")))
        directory = self.run_dir / "kubeconfigs"
        directory.mkdir(parents=True, exist_ok=True)
        for component, identity in (
            ("kube-controller-manager", "kube-controller-manager"),
            ("kube-scheduler", "kube-scheduler"),
            ("node-agent", "node"),
        ):
            (directory / f"{component}.kubeconfig").write_text(
                yaml.safe_dump(self._kubeconfig({component: identity}, component))
            )

    def _kubeconfig(self, contexts: dict[str, str], current: str) -> dict[str, Any]:
        """A kubeconfig with one context per entry of `contexts` (context name -> identity)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "testbed", "cluster": {
                "server": self.server, "certificate-authority": str(self.pki.ca_cert)}}],
            "users": [
                {"name": name, "user": {
                    "client-certificate": str(self.pki.client_cert(identity)),
                    "client-key": str(self.pki.client_key(identity))}}
                for name, identity in contexts.items()
            ],
            "contexts": [
                {"name": name, "context": {"cluster": "testbed", "user": name}}
                for name in contexts
            ],
            "current-context": current,
        }


def _reset_run_dir(run_dir: Path) -> None:
    """Empties the run folder's state from an earlier run (never the folder itself, which a user
    may have pointed somewhere on purpose)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for entry in run_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise
    return True
