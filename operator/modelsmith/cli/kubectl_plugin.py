"""`kubectl modelsmith`: a run and its gate at a glance, and sign-offs from the command line.

    kubectl modelsmith status RUN [-n NS]         phase, scores against target, blockers, history
    kubectl modelsmith evidence GATE [-n NS]      what the candidate is judged on, who signed
    kubectl modelsmith approve GATE --role ROLE   sign off one role of the approver chain
    kubectl modelsmith reject GATE --role ROLE    refuse the candidate for that role
    kubectl modelsmith rollback GATE              restore the previous serving pointer

It talks to the API server with the current kubeconfig context (or --kubeconfig / --context),
as the user that context authenticates, or as --as USER through impersonation. A sign-off is the
annotation documented in modelsmith.api.gate, naming the user the API server authenticated (asked
with a SelfSubjectReview, so it is the name the admission policy compares) and the gate's
evidence digest. The API server and its admission policy decide whether the sign-off stands;
when they refuse, their message is printed as it is.

Everything shown comes from status and spec, which the operator fills only with sanitised,
readable values: no prompts, completions or object keys reach the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelsmith.api.gate import GateState, PromotionGate
from modelsmith.api.gate_annotations import ROLLBACK_ANNOTATION, ApprovalAnnotation, evidence_prefix
from modelsmith.api.run import IterationRun
from modelsmith.cli.render_evidence import gate_annotations, render_evidence
from modelsmith.cli.render_status import render_status
from modelsmith.cli.session import PluginError, Session, load

RUNS = "iterationruns"
GATES = "promotiongates"


def approval_patch(gate: PromotionGate, role: str, decision: str, user: str) -> dict[str, Any]:
    """The merge patch that signs `role` off on the gate's current evidence."""
    roles = [a.role for a in gate.spec.approvers]
    if role not in roles:
        raise PluginError(
            f"role {role!r} is not in the approver chain of {gate.name} "
            f"(roles, in order: {', '.join(roles)})",
            code=2,
        )
    if decision not in ("approved", "rejected"):
        raise ValueError(decision)
    annotation = ApprovalAnnotation(
        role=role,
        decision="approved" if decision == "approved" else "rejected",
        user=user,
        evidence_prefix=evidence_prefix(gate.spec.evidence.digest),
    )
    return {"metadata": {"annotations": {annotation.key(): annotation.value()}}}


def rollback_patch(user: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {ROLLBACK_ANNOTATION: user}}}


# --- commands -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_status(args: argparse.Namespace, session: Session) -> int:
    run = load(IterationRun, session.get(RUNS, args.run), f"IterationRun {args.run}")
    print(render_status(run, _now()))
    return 0


def cmd_evidence(args: argparse.Namespace, session: Session) -> int:
    gate = load(PromotionGate, session.get(GATES, args.gate), f"PromotionGate {args.gate}")
    print(render_evidence(gate, _now()))
    return 0


_FINAL = (GateState.PROMOTED.value, GateState.ROLLED_BACK.value)


def cmd_sign(args: argparse.Namespace, session: Session) -> int:
    decision = "approved" if args.command == "approve" else "rejected"
    gate = load(PromotionGate, session.get(GATES, args.gate), f"PromotionGate {args.gate}")
    state = gate.status.state if gate.status else None
    if state in _FINAL:
        raise PluginError(f"{gate.name} is {state}: there is nothing left to sign off")
    identity = session.whoami()
    patch = approval_patch(gate, args.role, decision, identity.username)
    key, value = next(iter(patch["metadata"]["annotations"].items()))
    earlier = gate_annotations(gate).get(key)
    session.patch(GATES, gate.name, patch)
    print(
        f"{gate.name}: {args.role} {decision} by {identity.username} on evidence "
        f"{evidence_prefix(gate.spec.evidence.digest)}"
    )
    print(f"  annotation {key}={value}")
    if earlier is not None and earlier != value:
        print(f"  (replaces the earlier sign-off {earlier})")
    print(
        f"  the operator checks order and freshness and records it in status.approvals: "
        f"kubectl modelsmith evidence {gate.name} -n {session.namespace}"
    )
    return 0


def cmd_rollback(args: argparse.Namespace, session: Session) -> int:
    gate = load(PromotionGate, session.get(GATES, args.gate), f"PromotionGate {args.gate}")
    state = gate.status.state if gate.status else None
    if state != GateState.PROMOTED.value:
        raise PluginError(
            f"{gate.name} is {state or 'not yet reconciled'}: only a Promoted gate can be "
            "rolled back"
        )
    identity = session.whoami()
    session.patch(GATES, gate.name, rollback_patch(identity.username))
    print(
        f"{gate.name}: rollback requested by {identity.username} "
        f"(annotation {ROLLBACK_ANNOTATION}={identity.username})"
    )
    print(
        f"  the operator restores the previous serving pointer and records it in "
        f"status.rollback: kubectl modelsmith evidence {gate.name} -n {session.namespace}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    common.add_argument("--as", dest="as_user", metavar="USER", help="impersonate this user")
    common.add_argument(
        "--as-group", dest="as_group", metavar="GROUP", help="impersonate this group (with --as)"
    )

    parser = argparse.ArgumentParser(
        prog="kubectl modelsmith",
        description="Modelsmith runs and promotion gates from the command line.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    status = commands.add_parser(
        "status", parents=[common], help="an IterationRun at a glance, with its history"
    )
    status.add_argument("run", help="IterationRun name")
    status.set_defaults(handler=cmd_status)

    evidence = commands.add_parser(
        "evidence", parents=[common], help="a PromotionGate's evidence and sign-offs"
    )
    evidence.add_argument("gate", help="PromotionGate name")
    evidence.set_defaults(handler=cmd_evidence)

    for name, verb in (("approve", "approve"), ("reject", "reject")):
        sign = commands.add_parser(
            name, parents=[common], help=f"{verb} a PromotionGate's candidate for one role"
        )
        sign.add_argument("gate", help="PromotionGate name")
        sign.add_argument("--role", required=True, help="your role in the approver chain")
        sign.set_defaults(handler=cmd_sign)

    rollback = commands.add_parser(
        "rollback", parents=[common], help="roll a promoted gate back to the previous model"
    )
    rollback.add_argument("gate", help="PromotionGate name")
    rollback.set_defaults(handler=cmd_rollback)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        session = Session(args)
        code: int = args.handler(args, session)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        # `kubectl modelsmith status | head`: the reader left, which is not an error to report.
        # Python would still fail flushing stdout at exit, so it is pointed at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
