"""`modelsmith operator`: runs the kopf operator (all four kinds, plus their Jobs and pods)."""

from __future__ import annotations

import argparse
import logging
import random
from typing import Any, cast

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

    from modelsmith import events, informer, metrics
    from modelsmith.contract import readlimits, s3
    from modelsmith.controllers.run.job_manifest import MANAGED_SELECTOR
    from modelsmith.handlers import benchmark, gate, intake, run  # noqa: F401  (registers them)
    from modelsmith.kopfstate import NoDiffBase
    from modelsmith.peering import PeeringWatch, own_identity
    from modelsmith.reconciler import RECONCILER
    from modelsmith.settings import OperatorSettings
    from modelsmith.targets.resolve import target_buckets

    settings = OperatorSettings()
    s3.size_pool(settings.pooled_connections)
    if args.peering and not args.priority:
        # kopf pauses every replica that sees a peer of equal priority; distinct random
        # priorities let exactly one act, and a survivor takes over when it goes away.
        args.priority = random.randint(1, 2**31 - 1)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kopf logs every event handler call that succeeded ("Handler ... succeeded."): a line
        # per watch event, a tenth of the event loop's time. Failures still log as errors.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    @kopf.on.startup()
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Events are written by the handlers, sanitised; kopf's own log-to-Event posting would
        # carry framework messages to a shared surface.
        settings.posting.enabled = False
        settings.execution.max_workers = OperatorSettings().workers
        # URIs in specs are read with the operator's credentials: only in its own bucket and
        # those the (admin-owned) ExecutionTargets name.
        readlimits.confine_reads(OperatorSettings().bucket, target_buckets)
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
        events.flush(5)

    identity = own_identity()
    if args.peering:
        # kopf pauses only its own watch streams; the reconciler's requeue follows the same rule.
        PeeringWatch(RECONCILER, args.peering, identity, args.priority, args.namespace).start()
    metrics.serve(settings.metrics_port)
    # The first thing an operator on duty looks for when status stays empty: is it watching the
    # namespace, and where are its metrics.
    logging.getLogger("modelsmith").info(
        "serving metrics on port %d at /metrics; watching %s; %s",
        settings.metrics_port,
        "namespaces " + ", ".join(args.namespace) if args.namespace else "the whole cluster",
        f"peering {args.peering!r} at priority {args.priority}" if args.peering else "standalone",
    )
    # Jobs and pods are watched outside kopf, filtered by the API server (see informer).
    informer.start(
        args.namespace, MANAGED_SELECTOR, {"jobs": run.on_job_event, "pods": run.on_pod_event}
    )
    kopf.run(
        identity=cast(Any, identity),
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=not args.peering,
        peering_name=args.peering or None,
        priority=args.priority,
        liveness_endpoint=args.liveness or None,
    )
    return 0
