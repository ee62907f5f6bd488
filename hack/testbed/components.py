"""The test bed's control-plane processes as `testbed.cluster.Cluster` starts them: the ports
they listen on, each one's command line (etcd, kube-apiserver with its audit policy,
kube-controller-manager, kube-scheduler, the node agent and its environment) and the wait for
each to answer, which fails at once with the logs when one of them exits.
"""

from __future__ import annotations

import ssl
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from testbed import certs, procs
from testbed.waiting import log_tails

if TYPE_CHECKING:
    from testbed.cluster import Cluster

HACK_DIR = Path(__file__).resolve().parent.parent
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# How long the node-lifecycle controller waits for a missed heartbeat before marking the node
# NotReady: short so fault tests finish quickly, yet eight lease renewals long so a busy machine
# does not flap the node.
NODE_MONITOR_GRACE_SECONDS = 16
LEASE_RENEW_SECONDS = 2


class ComponentDiedError(RuntimeError):
    """A control-plane process exited while the test bed waited for it, or is not running."""


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    node_agent: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(*(procs.free_port() for _ in range(6)))


def etcd_argv(cluster: Cluster) -> list[str]:
    client_url = f"http://127.0.0.1:{cluster.ports.etcd_client}"
    peer_url = f"http://127.0.0.1:{cluster.ports.etcd_peer}"
    return [
        str(cluster.bin_dir / "etcd"),
        "--name=testbed",
        f"--data-dir={cluster.run_dir / 'etcd-data'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=testbed={peer_url}",
        # A throwaway store: durability buys nothing and fsync costs every write.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_argv(cluster: Cluster) -> list[str]:
    pki = cluster.pki
    return [
        str(cluster.bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{cluster.ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={cluster.ports.apiserver}",
        f"--cert-dir={cluster.run_dir / 'apiserver'}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
        f"--service-cluster-ip-range={certs.SERVICE_CLUSTER_IP_RANGE}",
        "--authorization-mode=Node,RBAC",
        # Added to the defaults, which already include ValidatingAdmissionPolicy,
        # ServiceAccount, NamespaceLifecycle, DefaultTolerationSeconds and friends.
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        f"--kubelet-client-certificate={pki.client_cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.client_key('apiserver-kubelet-client')}",
        "--kubelet-preferred-address-types=InternalIP",
        # Request-header authentication, as kubeadm configures it: without it every
        # delegating component logs a missing requestheader CA; with it, aggregated APIs work.
        f"--requestheader-client-ca-file={pki.ca_cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.client_cert('front-proxy-client')}",
        f"--proxy-client-key-file={pki.client_key('front-proxy-client')}",
        # The `kubernetes` Service's Endpoints may not hold a loopback address, and no pod
        # here dials a Service IP: pods get a kubeconfig naming the server directly.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        # Who changed what: every write, at Metadata level, one JSON line each.
        f"--audit-policy-file={_audit_policy(cluster)}",
        f"--audit-log-path={cluster.log_dir / 'audit.jsonl'}",
        "--audit-log-maxsize=100",
    ]


def _audit_policy(cluster: Cluster) -> Path:
    path = cluster.run_dir / "audit-policy.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "resources": [{"group": "coordination.k8s.io",
                                             "resources": ["leases"]}]},
            {"level": "Metadata",
             "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        ],
    }))
    return path


def _component_common(cluster: Cluster, name: str, port: int) -> list[str]:
    kubeconfig = cluster.run_dir / "kubeconfigs" / f"{name}.kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cluster.run_dir / name}",
        "--leader-elect=false",
    ]


def controller_manager_argv(cluster: Cluster) -> list[str]:
    pki = cluster.pki
    return [
        str(cluster.bin_dir / "kube-controller-manager"),
        *_component_common(cluster, "kube-controller-manager", cluster.ports.controller_manager),
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_cert}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        # Every controller that is on by default in a real cluster (job, garbage collector,
        # namespace, service accounts and tokens, node lifecycle, ttl-after-finished,
        # deployments, replica sets, ...); cloud-only ones switch themselves off.
        "--controllers=*",
        "--node-monitor-period=2s",
        f"--node-monitor-grace-period={NODE_MONITOR_GRACE_SECONDS}s",
    ]


def scheduler_argv(cluster: Cluster) -> list[str]:
    return [
        str(cluster.bin_dir / "kube-scheduler"),
        *_component_common(cluster, "kube-scheduler", cluster.ports.scheduler),
    ]


def node_agent_argv(cluster: Cluster) -> list[str]:
    node = cluster.node
    return [
        sys.executable, "-m", "testbed.nodeagent",
        f"--kubeconfig={cluster.run_dir / 'kubeconfigs' / 'node-agent.kubeconfig'}",
        f"--node-name={node.name}",
        f"--gpus={node.gpus}",
        f"--cpu={node.cpu}",
        f"--memory={node.memory}",
        f"--run-dir={cluster.run_dir}",
        f"--port={cluster.ports.node_agent}",
        f"--lease-seconds={LEASE_RENEW_SECONDS}",
        f"--serving-cert={cluster.pki.dir / 'node-serving.crt'}",
        f"--serving-key={cluster.pki.dir / 'node-serving.key'}",
        f"--client-ca={cluster.pki.ca_cert}",
        *(["--expose-host-gpus"] if node.expose_host_gpus else []),
    ]


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    if context is None and url.startswith("https:"):
        # The controller manager and scheduler serve health on self-signed certificates.
        context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_ready(cluster: Cluster, predicate: Callable[[], object], deadline: float,
               description: str, components: list[str]) -> None:
    """Polls until `predicate` holds; fails at once, with its log, if a component dies."""
    while True:
        for component in components:
            if not procs.alive(cluster.run_dir, component):
                raise ComponentDiedError(
                    f"{component} exited while waiting for {description}\n"
                    + log_tails([cluster.log_dir], lines=40)
                )
        try:
            if predicate():
                return
        except Exception:  # not up yet; the deadline reports it
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"control plane: timed out waiting for {description}\n"
                + log_tails([cluster.log_dir], lines=40)
            )
        time.sleep(0.2)
