"""What a pod's containers get from the test bed's node before they start: the node agent's
context, the base environment, the service-account kubeconfig, and the Secret and ConfigMap
reads that volumes and environment variables refer to (`testbed.podenv` turns those into files
and variables).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from testbed import images, podenv
from testbed.kube import Json, read_json


@dataclass
class NodeContext:
    """What every pod worker needs from the node agent."""

    core: client.CoreV1Api
    node_name: str
    run_dir: Path
    server: str
    ca_cert: Path
    gpus_visible: bool = False

    @property
    def hosts(self) -> Path:
        """The node's hosts file (`testbed.podnet`)."""
        return self.run_dir / "node" / self.node_name / "hosts"

    def read(self, kind: str, namespace: str, name: str) -> Json | None:
        """A Secret or ConfigMap, or None when it is missing or the pod may not read it."""
        reader: Callable[..., Any] = {"Secret": self.core.read_namespaced_secret,
                                      "ConfigMap": self.core.read_namespaced_config_map}[kind]
        try:
            obj = read_json(reader, name, namespace)
        except client.ApiException as e:
            if e.status in (403, 404):
                return None
            raise
        obj["kind"] = kind
        return obj


def node_env(node: NodeContext, pod: Json, pod_dir: Path) -> dict[str, str]:
    """The environment every container of the pod starts from, before its own variables."""
    env = {
        "PATH": f"{images.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(pod_dir / "home"),
        "TMPDIR": str(pod_dir / "tmp"),
        "HOSTNAME": pod["metadata"]["name"],
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "MODELSMITH_POD_DIR": str(pod_dir),
    }
    if os.environ.get("PYTHONPATH"):
        # The images are the code of the checkout that started the test bed: a worktree's
        # (wt-env.sh puts it first) rather than whatever the shared venv installed.
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if not node.gpus_visible:
        # The node's GPUs are a number in its status; hide any real device from pod code so
        # results do not depend on the machine the tests ran on.
        env["CUDA_VISIBLE_DEVICES"] = ""
    if podenv.wants_token(pod):
        env["KUBECONFIG"] = str(service_account_kubeconfig(node, pod, pod_dir))
    return env


def service_account_kubeconfig(node: NodeContext, pod: Json, pod_dir: Path) -> Path:
    """A kubeconfig holding a token bound to the pod, for its service account."""
    meta = pod["metadata"]
    account = pod["spec"].get("serviceAccountName") or "default"
    request: Json = {"spec": {
        "expirationSeconds": 3607,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                           "uid": meta["uid"]},
    }}
    try:
        response = read_json(node.core.create_namespaced_service_account_token,
                             account, meta["namespace"], request)
    except client.ApiException as e:
        if e.status in (403, 404):
            raise podenv.ConfigError(
                f'cannot get a token for serviceaccount "{account}": {e.reason}') from e
        raise
    return podenv.write_service_account(
        pod_dir / "serviceaccount", node.server, node.ca_cert, meta["namespace"],
        response["status"]["token"])
