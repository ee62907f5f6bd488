"""What Kueue's and JobSet's managers share beside the test bed's control plane (testbed/kueue.py,
testbed/jobset.py): each is a local process with its own client certificate, its configuration
and CRDs from the bin folder's `<name>-config/` (hack/controlplane/build.sh), and webhooks served
on loopback, registered by `url: https://127.0.0.1:<port>/...` with the test bed CA as caBundle
(a Service cannot have loopback endpoints)."""

from __future__ import annotations

import base64
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml
from kubernetes import client

from testbed import certs, procs
from testbed.cluster import Cluster
from testbed.kube import Json, read_json
from testbed.waiting import log_tails, wait_for


class Addon:
    """One manager's files, certificate and process; subclasses start and configure it."""

    NAME = ""

    def __init__(self, cluster: Cluster, webhook_port: int, health_port: int) -> None:
        self.cluster = cluster
        self.webhook_port = webhook_port
        self.health_port = health_port
        self.dir = cluster.run_dir / self.NAME
        self.config_dir = cluster.bin_dir / f"{self.NAME}-config"
        self.cert_dir = self.dir / "certs"

    def stop(self) -> None:
        procs.stop(self.cluster.run_dir, self.NAME)

    def alive(self) -> bool:
        return procs.alive(self.cluster.run_dir, self.NAME)

    def issue_cert(self, host: str) -> None:
        # Webhooks are dialled by IP, which every serving cert names; `host` is for servers
        # reached by a Service's name (Kueue's visibility API).
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        certs.issue_serving_cert(self.cluster.pki, host, self.cert_dir / "tls.crt",
                                 self.cert_dir / "tls.key")

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.cluster.pki.ca_cert.read_bytes()).decode()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.webhook_port}{path}"

    def apply(self, documents: list[Json]) -> None:
        self.cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                             input=yaml.safe_dump_all(documents))

    def install_crds(self, adjust: Callable[[Json], None] = lambda crd: None) -> None:
        """Applies the module's CRDs (each passed to `adjust` first) and waits until served."""
        documents = []
        for path in sorted((self.config_dir / "crds").glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            adjust(crd)
            documents.append(crd)
        self.apply(documents)
        # Polled rather than `kubectl wait`, which fails on a CRD the API server has not given
        # conditions yet.
        api = client.ApiextensionsV1Api(self.cluster.api_client())

        def established() -> bool:
            return all(
                any(c["type"] == "Established" and c["status"] == "True"
                    for c in (read_json(api.read_custom_resource_definition,
                                        crd["metadata"]["name"]).get("status") or {})
                    .get("conditions") or [])
                for crd in documents)

        wait_for(established, 60, f"{self.NAME}'s CRDs established")

    def kubeconfig(self) -> Path:
        path = self.cluster.run_dir / "kubeconfigs" / f"{self.NAME}.kubeconfig"
        path.write_text(yaml.safe_dump(self.cluster._kubeconfig({self.NAME: self.NAME},
                                                                self.NAME)))
        return path

    def spawn(self, argv: list[str]) -> None:
        procs.spawn(self.cluster.run_dir, self.NAME, argv,
                    self.cluster.log_dir / f"{self.NAME}.log", cwd=self.dir)

    def wait(self, predicate: Callable[[], bool], deadline: float, description: str) -> None:
        """Waits for `predicate`; fails at once, with the logs, if the manager exits."""
        while not _holds(predicate):
            if not self.alive():
                raise RuntimeError(f"{self.NAME} exited while waiting for {description}\n"
                                   + log_tails([self.cluster.log_dir], lines=40))
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {description}\n"
                                   + log_tails([self.cluster.log_dir], lines=40))
            time.sleep(0.3)

    def ready(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)

    def webhook_configurations(self, keep: Callable[[Json], bool]) -> list[Json]:
        """The module's webhook registrations, only the webhooks `keep` accepts, pointed at this
        manager on loopback and renamed `<name>-<original>`."""
        documents = []
        for configuration in yaml.safe_load_all((self.config_dir / "webhooks.yaml").read_text()):
            kept = [w for w in configuration["webhooks"] if keep(w)]
            for webhook in kept:
                path = webhook["clientConfig"]["service"]["path"]
                webhook["clientConfig"] = {"url": self.url(path), "caBundle": self.ca_bundle}
            configuration["metadata"]["name"] = f"{self.NAME}-{configuration['metadata']['name']}"
            configuration["webhooks"] = kept
            documents.append(configuration)
        return documents


def webhook_resources(webhook: Json) -> set[str]:
    return {r for rule in webhook.get("rules") or [] for r in rule.get("resources") or []}


def _holds(predicate: Callable[[], bool]) -> bool:
    try:
        return bool(predicate())
    except Exception:  # not up yet; the caller's deadline reports it
        return False
