"""Pod host names on the test bed's node, as far as distributed rendezvous needs them.

Every pod's IP is the node's loopback address. A cluster's DNS gives a pod with a `subdomain`
(and a headless Service of that name, which JobSet makes) the name
`<hostname>.<subdomain>.<namespace>.svc.cluster.local`, found from the pod's namespace as
`<hostname>.<subdomain>`. Here that is a hosts file of the node's: the agent appends a line for
each such pod it takes, and the pod's processes run in a private mount and UTS namespace where
that file is /etc/hosts and the host name is the pod's own, as a kubelet sets them. Lines are
only ever appended, so a lookup never reads a half-written file; a name stays resolvable (to
loopback) after its pod ends, until the agent restarts.

Pods share the node's ports (as with hostNetwork): two pods listening on one port collide, so
whoever makes a rendezvous on the test bed gives it a free port.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from testbed.kube import Json

CLUSTER_DOMAIN = "cluster.local"
LOOPBACK = "127.0.0.1"


def reset_hosts(hosts: Path) -> None:
    """The node's hosts file as the machine's, before any pod is added."""
    shutil.copyfile("/etc/hosts", hosts)


def host_name(pod: Json) -> str:
    return str(pod["spec"].get("hostname") or pod["metadata"]["name"])


def names(pod: Json) -> list[str]:
    """The names a cluster's DNS would give the pod (none without a subdomain), plus its bare
    host name, which the kubelet's /etc/hosts gives the pod itself."""
    subdomain = pod["spec"].get("subdomain")
    if not subdomain:
        return []
    name = f"{host_name(pod)}.{subdomain}"
    namespace = pod["metadata"]["namespace"]
    return [f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}", f"{name}.{namespace}.svc",
            f"{name}.{namespace}", name, host_name(pod)]


def add(hosts: Path, pod: Json) -> None:
    """Makes the pod's names resolve for every pod with a subdomain on this node."""
    pod_names = names(pod)
    if pod_names:
        with hosts.open("a") as out:  # one short append: readers see all of it or none
            out.write(f"{LOOPBACK} {' '.join(pod_names)}\n")


def wrap(argv: list[str], pod: Json, hosts: Path) -> list[str]:
    """The command line that runs `argv` with the node's hosts file as /etc/hosts and the pod's
    host name; unchanged for a pod without a subdomain. `unshare` and `sh` exec in turn, so the
    process is still the one the agent started (its pid and process group)."""
    if not names(pod):
        return argv
    script = 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script, "sh",
            str(hosts), host_name(pod), *argv]
