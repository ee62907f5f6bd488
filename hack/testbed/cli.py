"""`hack/cluster`: the local test bed from a shell.

  hack/cluster start [--gpus N]   build if needed, start control plane, node and object store
  hack/cluster stop               stop everything this test bed started
  hack/cluster env                shell exports: eval "$(hack/cluster env)"
  hack/cluster status             each component, the node and its GPUs
  hack/cluster gpus N             change the node's GPU capacity
  hack/cluster heartbeats on|off  resume / pause the node's heartbeats (off: node goes NotReady)
  hack/cluster logs [COMPONENT]   tail of each component's log

State lives in $MODELSMITH_TESTBED_DIR, default .testbed/ in the repository; the processes are
detached and outlive the shell that started them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from kubernetes import client

from testbed import procs
from testbed.cluster import (
    COMPONENTS,
    GPU_RESOURCE,
    REPO_DIR,
    Cluster,
    NodeSpec,
)
from testbed.components import ComponentDiedError
from testbed.kube import condition, read_json
from testbed.objectstore import NAME as OBJECT_STORE
from testbed.objectstore import ObjectStore
from testbed.waiting import log_tails, tail


def run_dir() -> Path:
    return Path(os.environ.get("MODELSMITH_TESTBED_DIR") or REPO_DIR / ".testbed").resolve()


def _running(directory: Path) -> bool:
    return any(procs.alive(directory, name) for name in (*COMPONENTS, OBJECT_STORE))


def start(args: argparse.Namespace) -> int:
    directory = run_dir()
    if _running(directory):
        try:
            Cluster.attach(directory)
            ObjectStore.attach(directory)
        except Exception as e:  # reported to the user with the way out
            print(f"test bed in {directory} is partly running: {e}\n"
                  "run `hack/cluster stop` first", file=sys.stderr)
            return 1
        print(f"test bed already running in {directory}", file=sys.stderr)
        return 0
    began = time.monotonic()
    cluster = Cluster.start(directory, node=NodeSpec(gpus=args.gpus))
    store = ObjectStore.start(directory)
    print(f"test bed up in {time.monotonic() - began:.1f}s (control plane "
          f"{cluster.start_seconds:.1f}s): {cluster.server}, node {cluster.node.name} with "
          f"{args.gpus} GPUs, object store {store.endpoint} bucket {store.bucket}\n"
          f'next: eval "$(hack/cluster env)"; kubectl get nodes', file=sys.stderr)
    return 0


def stop(args: argparse.Namespace) -> int:
    directory = run_dir()
    if (directory / "cluster.json").exists():
        Cluster.load(directory).stop()
    procs.stop(directory, OBJECT_STORE)
    print(f"test bed in {directory} stopped", file=sys.stderr)
    return 0


def env(args: argparse.Namespace) -> int:
    directory = run_dir()
    if not _running(directory):
        print(f"no test bed running in {directory}: run `hack/cluster start`", file=sys.stderr)
        return 1
    store = ObjectStore.attach(directory)
    # The operator's credential as the standard variables; the Jobs' (restricted) for their
    # Secret under names no S3 client reads.
    variables = {
        **Cluster.attach(directory).env(),
        **store.env(),
        "MODELSMITH_TESTBED_JOB_ACCESS_KEY_ID": store.job_access_key,
        "MODELSMITH_TESTBED_JOB_SECRET_ACCESS_KEY": store.job_secret_key,
    }
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def status(args: argparse.Namespace) -> int:
    directory = run_dir()
    print(f"run dir: {directory}")
    for name in (*reversed(COMPONENTS), OBJECT_STORE):
        pid = procs.recorded_pid(directory, name)
        print(f"  {name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")
    if not (directory / "cluster.json").exists() or not procs.alive(directory, "kube-apiserver"):
        return 1
    cluster = Cluster.load(directory)
    node = read_json(client.CoreV1Api(cluster.api_client()).read_node, cluster.node.name)
    ready = (condition(node, "Ready") or {}).get("status", "?")
    taints = ", ".join(f"{t['key']}:{t['effect']}" for t in node["spec"].get("taints") or [])
    print(f"server: {cluster.server}\nnode {cluster.node.name}: Ready={ready}, "
          f"{GPU_RESOURCE}={node['status']['capacity'].get(GPU_RESOURCE)}, "
          f"taints: {taints or 'none'}")
    return 0 if cluster.healthy() else 1


def gpus(args: argparse.Namespace) -> int:
    Cluster.attach(run_dir()).set_gpus(args.count)
    return 0


def heartbeats(args: argparse.Namespace) -> int:
    Cluster.attach(run_dir()).set_heartbeats(args.state == "on")
    return 0


def logs(args: argparse.Namespace) -> int:
    log_dir = run_dir() / "logs"
    if args.component:
        print(tail(log_dir / f"{args.component}.log", args.lines))
    else:
        print(log_tails([log_dir], args.lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("start")
    p.add_argument("--gpus", type=int, default=2)
    p.set_defaults(func=start)
    commands.add_parser("stop").set_defaults(func=stop)
    commands.add_parser("env").set_defaults(func=env)
    commands.add_parser("status").set_defaults(func=status)
    p = commands.add_parser("gpus")
    p.add_argument("count", type=int)
    p.set_defaults(func=gpus)
    p = commands.add_parser("heartbeats")
    p.add_argument("state", choices=["on", "off"])
    p.set_defaults(func=heartbeats)
    p = commands.add_parser("logs")
    p.add_argument("component", nargs="?")
    p.add_argument("-n", "--lines", type=int, default=30)
    p.set_defaults(func=logs)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except BrokenPipeError:
        return 1
    except (ComponentDiedError, FileNotFoundError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"{first_line}\n(logs: hack/cluster logs; start afresh: hack/cluster stop && "
              "hack/cluster start)", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
