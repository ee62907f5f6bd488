"""`modelsmith operator`: runs the kopf operator (all four kinds, plus their Jobs and pods)."""

from __future__ import annotations

import argparse
import functools
import logging
import random
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from modelsmith.runtime.core import Runtime

HELP = "Run the Modelsmith operator (kopf) against the current cluster."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="Watch only this namespace (repeatable); default: the whole cluster.",
    )
    parser.add_argument(
        "--peering",
        default="",
        help="kopf peering name: replicas sharing it elect one to act. Empty: standalone.",
    )
    parser.add_argument(
        "--priority", type=int, default=0, help="Peering priority (the highest acts)."
    )
    parser.add_argument(
        "--liveness", default="", help="kopf liveness endpoint, e.g. http://0.0.0.0:8081/healthz"
    )
    parser.add_argument("--verbose", action="store_true", help="Debug logging.")


def run(args: argparse.Namespace) -> int:
    import kopf

    from modelsmith.runtime.core import Runtime
    from modelsmith.runtime.peering import own_identity

    if args.peering and not args.priority:
        # kopf pauses every replica that sees a peer of equal priority; distinct random
        # priorities let exactly one act, and a survivor takes over when it goes away.
        args.priority = random.randint(1, 2**31 - 1)
    _logging(args.verbose)
    # The one runtime of this process: kopf hands it to every handler as `memo.runtime`.
    rt = Runtime()
    _register(rt, args)
    identity = own_identity()
    _start_beside_kopf(rt, args, identity)
    kopf.run(
        identity=cast(Any, identity),
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=not args.peering,
        peering_name=args.peering or None,
        priority=args.priority,
        liveness_endpoint=args.liveness or None,
        memo=kopf.Memo(runtime=rt),
    )
    return 0


def _register(rt: Runtime, args: argparse.Namespace) -> None:
    """The controllers' reconciles with the runtime; kopf's settings and shutdown with kopf
    (importing the handlers registers their watch events with kopf)."""
    import kopf

    from modelsmith.handlers import benchmark, gate, intake, run
    from modelsmith.runtime.kopfstate import NoDiffBase
    from modelsmith.targets.resolve import TargetBuckets

    for kind in (benchmark, gate, intake, run):
        kind.register(rt)

    @kopf.on.startup()
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Events are written by the handlers, sanitised; kopf's own log-to-Event posting would
        # carry framework messages to a shared surface.
        settings.posting.enabled = False
        settings.execution.max_workers = rt.settings.workers
        # URIs in specs are read with the operator's credentials: only in its own bucket and
        # those the (admin-owned) ExecutionTargets name.
        rt.store.confine(rt.settings.bucket, TargetBuckets())
        settings.watching.server_timeout = 300
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.networking.request_timeout = 60
        if args.peering:
            settings.peering.name = args.peering
            settings.peering.mandatory = True
            settings.peering.priority = args.priority

    @kopf.on.cleanup()
    def _send_last_events(**_: Any) -> None:
        # Events are sent in the background; the last transitions' go out before exit.
        rt.events.flush(5)


def _start_beside_kopf(rt: Runtime, args: argparse.Namespace, identity: str) -> None:
    """What runs beside kopf's watches: peering for the runtime's own threads, the metrics
    endpoint, and the informers of the operator's Jobs, pods and JobSets."""
    from modelsmith.controllers.run.job_manifest import MANAGED_SELECTOR
    from modelsmith.handlers import run
    from modelsmith.runtime import informer
    from modelsmith.runtime.peering import PeeringWatch

    settings = rt.settings
    if args.peering:
        # kopf pauses only its own watch streams; the runtime's requeue follows the same rule.
        PeeringWatch(
            rt.queue, rt.cache, args.peering, identity, args.priority, args.namespace
        ).start()
    rt.metrics.serve(settings.metrics_port)
    # The first thing an operator on duty looks for when status stays empty: is it watching the
    # namespace, and where are its metrics.
    logging.getLogger("modelsmith").info(
        "serving metrics on port %d at /metrics; watching %s; %s%s",
        settings.metrics_port,
        "namespaces " + ", ".join(args.namespace) if args.namespace else "the whole cluster",
        f"peering {args.peering!r} at priority {args.priority}" if args.peering else "standalone",
        f"; leaving namespaces {', '.join(settings.ignore_namespaces)} alone"
        if settings.ignore_namespaces
        else "",
    )
    # Jobs, pods and JobSets are watched outside kopf, filtered by the API server (see informer).
    informer.start(
        rt.cache,
        args.namespace,
        MANAGED_SELECTOR,
        {
            "jobs": functools.partial(run.on_job_event, rt),
            "pods": functools.partial(run.on_pod_event, rt),
            "jobsets": functools.partial(run.on_jobset_event, rt),
        },
    )


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # kopf logs every event handler call that succeeded ("Handler ... succeeded."): a line
        # per watch event, a tenth of the event loop's time. Failures still log as errors.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
