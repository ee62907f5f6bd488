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
import copy
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelsmith import GROUP, VERSION
from modelsmith.api.gate import (
    APPROVAL_ANNOTATION_PREFIX,
    ROLLBACK_ANNOTATION,
    ApprovalAnnotation,
    GateState,
    PromotionGate,
    evidence_prefix,
    parse_approval_annotation,
)
from modelsmith.api.run import IterationRun, Scores

NONE = "-"
RUNS = "iterationruns"
GATES = "promotiongates"
# Terminal-friendly widths for free-text cells; the full text stays in status.
REASON_WIDTH = 50
RECIPE_WIDTH = 52
MESSAGE_WIDTH = 72

M = TypeVar("M", bound=BaseModel)


class PluginError(Exception):
    """Ends the command with a message (no traceback) and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --- reading objects ----------------------------------------------------------------------------


def _drop(data: Any, loc: Sequence[int | str]) -> bool:
    parent = data
    for key in loc[:-1]:
        in_dict = isinstance(parent, dict) and isinstance(key, str) and key in parent
        in_list = isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent)
        if not (in_dict or in_list):
            return False
        parent = parent[key]
    last = loc[-1] if loc else None
    if isinstance(parent, dict) and isinstance(last, str) and last in parent:
        del parent[last]
        return True
    return False


def lenient(model: type[M], data: Any) -> M:
    """Validates `data` as `model`, ignoring fields this version of the plugin does not know (an
    operator newer than the plugin may write more); any other mismatch is an error."""
    data = copy.deepcopy(data)
    for _ in range(64):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]
            if len(unknown) != len(errors) or not all(_drop(data, loc) for loc in unknown):
                raise
    return model.model_validate(data)


def _load(model: type[M], obj: Any, what: str) -> M:
    try:
        return lenient(model, obj)
    except ValidationError as exc:
        raise PluginError(
            f"{what} does not match the modelsmith.io/{VERSION} API this plugin knows "
            f"(is the plugin older than the operator?):\n{exc}"
        ) from exc


# --- formatting ---------------------------------------------------------------------------------


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 3, 1)].rstrip() + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, kubectl style."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
        for line in [list(headers), *[list(r) for r in rows]]
    ]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`Label:  value` lines with aligned values; continuation lines are indented to match."""
    width = max(len(label) for label, _ in pairs) + 2
    out: list[str] = []
    for label, value in pairs:
        first, *rest = value.split("\n") if value else [NONE]
        out.append(f"{label + ':':<{width}}{first}")
        out.extend(" " * width + line for line in rest)
    return "\n".join(out)


def score(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def signed(value: float) -> str:
    return f"{value:+.2f}"


def duration(seconds: float) -> str:
    """A short human duration: 45s, 3m 05s, 2h 10m, 3d 4h."""
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return NONE
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"{duration((now - when).total_seconds())} ago"


def progress_bar(percent: float, width: int = 20) -> str:
    filled = min(max(round(percent / 100 * width), 0), width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


# --- `status RUN` -------------------------------------------------------------------------------


def _scores_line(scores: Scores) -> str:
    parts = [
        f"current {score(scores.current)}",
        f"previous accepted {score(scores.previous_accepted)}",
        f"baseline {score(scores.baseline)}",
        f"held-out {score(scores.heldout)}",
        f"target {score(scores.target)}",
    ]
    line = " | ".join(parts)
    if scores.current is not None and scores.target is not None:
        gap = scores.current - scores.target
        verdict = f"clears the target by {gap:.2f}" if gap >= 0 else f"{-gap:.2f} below the target"
        line += f"\n{verdict}"
        if scores.baseline is not None:
            line += f" ({signed(scores.current - scores.baseline)} on the baseline)"
    return line


def render_status(run: IterationRun, now: datetime) -> str:
    """The run at a glance, then its conditions and the bounded history table."""
    status = run.status
    header = (
        f"IterationRun {run.name}  (namespace {run.namespace}, intake {run.spec.intake_ref.name})"
    )
    if status is None or status.phase is None:
        return f"{header}\n\nNot picked up by the operator yet (no status). Is it running?"

    transition = status.last_transition
    phase = str(status.phase)
    if transition is not None:
        came_from = f"{transition.from_phase} -> " if transition.from_phase else ""
        phase += f"  ({ago(transition.time, now)}: {came_from}{transition.to}, {transition.reason})"
        if transition.message:
            phase += "\n" + shorten(transition.message, MESSAGE_WIDTH)

    pairs: list[tuple[str, str]] = [
        ("Phase", phase),
        (
            "Iteration",
            f"{status.iteration} of at most {run.spec.max_iterations}"
            + (f" (attempt {status.attempt})" if status.attempt else "")
            + ("  [iteration 0 is the baseline]" if status.iteration == 0 else ""),
        ),
        ("Scores", _scores_line(status.scores)),
    ]
    regressions = str(status.regression_count)
    if status.regressions:
        regressions += f" ({shorten(', '.join(status.regressions), MESSAGE_WIDTH)})"
    pairs.append(("Regressions", regressions))

    cluster = status.strongest_failure_cluster
    if cluster is not None and cluster.failures:
        name = cluster.label or ", ".join(f"{k}={v}" for k, v in sorted(cluster.dimensions.items()))
        text = f"{name}: {cluster.failures} failing"
        if cluster.scenario_ids:
            text += f" ({shorten(', '.join(cluster.scenario_ids), MESSAGE_WIDTH)})"
        pairs.append(("Failure cluster", text))
    else:
        pairs.append(("Failure cluster", NONE))

    if status.capacity is not None:
        capacity = str(status.capacity.state)
        if status.capacity.gpus_requested:
            capacity += (
                f" ({status.capacity.gpus_requested} {status.capacity.resource_name or 'GPU'})"
            )
        if status.capacity.reason:
            capacity += f": {shorten(status.capacity.reason, MESSAGE_WIDTH)}"
        pairs.append(("Capacity", capacity))

    training = status.training
    if training is not None and (training.total_steps or str(status.phase) == "Training"):
        text = (
            f"{progress_bar(training.percent)} {training.percent:.0f}%  "
            f"step {training.step}/{training.total_steps}"
        )
        if training.loss is not None:
            text += f", loss {training.loss:.4f}"
        if training.eta_seconds is not None:
            text += f", about {duration(training.eta_seconds)} left"
        if training.updated_at is not None:
            text += f" (reported {ago(training.updated_at, now)})"
        pairs.append(("Training", text))

    blocked = status.blocked_by
    pairs.append(
        (
            "Blocked by",
            NONE
            if blocked is None
            else f"{blocked.kind}: {blocked.reason}"
            + (f"\n{shorten(blocked.message, MESSAGE_WIDTH)}" if blocked.message else ""),
        )
    )
    pairs.append(("Next action", status.next_action or NONE))
    if status.candidate is not None:
        pairs.append(
            (
                "Best candidate",
                f"{status.candidate.label} (iteration {status.candidate.iteration})",
            )
        )
    if status.gate_name:
        pairs.append(
            (
                "Gate",
                f"{status.gate_name}  (kubectl modelsmith evidence {status.gate_name} "
                f"-n {run.namespace})",
            )
        )
    if status.ledger is not None:
        location = f", {status.ledger.location}" if status.ledger.location else ""
        pairs.append(("Ledger", f"{status.ledger.entries} entries{location}"))
    pairs.append(("GPU time", f"{status.gpu_seconds_used / 3600:.2f} GPU-hours"))
    if status.started_at is not None:
        pairs.append(("Started", ago(status.started_at, now)))

    sections = [header, "", fields(pairs)]
    if status.conditions:
        rows = [
            [
                c.type,
                str(c.status),
                c.reason,
                ago(c.last_transition_time, now),
                shorten(c.message, MESSAGE_WIDTH) or NONE,
            ]
            for c in status.conditions
        ]
        sections += [
            "",
            "Conditions",
            table(["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], rows),
        ]

    sections += ["", f"History (latest {len(status.history)}; the run's ledger holds every entry)"]
    if status.history:
        rows = [
            [
                str(h.iteration),
                score(h.score),
                score(h.heldout_score),
                h.decision or NONE,
                _yes_no(h.accepted),
                str(h.regression_count),
                ago(h.finished_at, now),
                shorten(h.reason, REASON_WIDTH) or NONE,
                shorten(h.recipe, RECIPE_WIDTH) or NONE,
            ]
            for h in sorted(status.history, key=lambda r: r.iteration)
        ]
        sections.append(
            table(
                [
                    "ITER",
                    "SCORE",
                    "HELDOUT",
                    "DECISION",
                    "ACCEPTED",
                    "REGRESSIONS",
                    "FINISHED",
                    "REASON",
                    "RECIPE",
                ],
                rows,
            )
        )
    else:
        sections.append("(no finished iteration yet)")
    return "\n".join(sections)


# --- `evidence GATE` ----------------------------------------------------------------------------


def gate_annotations(gate: PromotionGate) -> dict[str, str]:
    raw = gate.metadata.get("annotations") or {}
    return {str(k): str(v) for k, v in raw.items()}


def render_evidence(gate: PromotionGate, now: datetime) -> str:
    """The evidence summary: scores, regressions, latency, cost, approvals, blockers, record."""
    spec, status = gate.spec, gate.status
    evidence = spec.evidence
    header = (
        f"PromotionGate {gate.name}  (namespace {gate.namespace}, run {spec.run_ref.name}, "
        f"intake {spec.intake_ref.name})"
    )
    state = NONE if status is None or status.state is None else str(status.state)
    decision = NONE if status is None or not status.decision else str(status.decision)
    summary = NONE if status is None or not status.approvals_summary else status.approvals_summary

    improvement = ""
    if evidence.baseline_score is not None:
        improvement = f" ({signed(evidence.score - evidence.baseline_score)} on the baseline)"
    pairs: list[tuple[str, str]] = [
        ("Candidate", f"{spec.candidate.label} (iteration {spec.candidate.iteration})"),
        ("State", f"{state}   decision {decision}   approvals {summary}"),
        (
            "Evidence",
            f"{evidence.digest}\napprovals name {evidence_prefix(evidence.digest)} "
            f"(schema {evidence.schema_version})",
        ),
        ("Score", f"{score(evidence.score)}{improvement}"),
        ("Held-out score", score(evidence.heldout_score)),
        ("Baseline score", score(evidence.baseline_score)),
        ("Regressions", str(evidence.regression_count)),
        (
            "Latency p95",
            NONE if evidence.latency_p95_ms is None else f"{evidence.latency_p95_ms:.0f} ms",
        ),
        (
            "Cost/decision",
            NONE if evidence.cost_per_decision is None else f"{evidence.cost_per_decision:.6g}",
        ),
        (
            "Serving",
            f"ConfigMap {spec.serving.namespace or gate.namespace}/"
            f"{spec.serving.config_map_name} key {spec.serving.key}",
        ),
        (
            "Rollback",
            spec.rollback.expectation
            + f"\nprevious pointer retained: {_yes_no(spec.rollback.retain_previous)}",
        ),
    ]
    sections = [header, "", fields(pairs), "", "Approver chain (sign-off order)"]

    recorded = {a.role: a for a in (status.approvals if status else [])}
    annotations = gate_annotations(gate)
    rows: list[list[str]] = []
    for order, approver in enumerate(spec.approvers, start=1):
        allowed = ", ".join([*approver.users, *(f"group:{g}" for g in approver.groups)])
        seen = recorded.get(approver.role)
        raw = annotations.get(f"{APPROVAL_ANNOTATION_PREFIX}{approver.role}")
        parsed = parse_approval_annotation(
            f"{APPROVAL_ANNOTATION_PREFIX}{approver.role}", raw or ""
        )
        if seen is not None and str(seen.decision) != "pending":
            row = [
                str(seen.decision),
                seen.user or NONE,
                ago(seen.at, now),
                _yes_no(seen.valid),
                shorten(seen.reason, REASON_WIDTH) or NONE,
            ]
        elif parsed is not None:
            note = "annotation set; the operator has not recorded it yet"
            if not parsed.matches(evidence.digest):
                note = "names other evidence than this gate's"
            row = [parsed.decision, parsed.user, NONE, NONE, note]
        elif raw is not None:
            row = ["invalid", NONE, NONE, "no", "annotation is not <decision>:<user>:<evidence>"]
        else:
            row = ["pending", NONE, NONE, NONE, NONE]
        rows.append([str(order), approver.role, shorten(allowed, 40), *row])
    sections.append(
        table(["#", "ROLE", "ALLOWED", "DECISION", "BY", "WHEN", "COUNTS", "NOTE"], rows)
    )

    if status is not None and status.blockers:
        sections += [
            "",
            "Blockers",
            table(
                ["KIND", "REASON", "MESSAGE"],
                [
                    [str(b.kind), b.reason, shorten(b.message, MESSAGE_WIDTH) or NONE]
                    for b in status.blockers
                ],
            ),
        ]
    else:
        sections += ["", "Blockers: none"]

    record = status.promotion_record if status else None
    if record is not None:
        approvals = ", ".join(f"{a.role} {a.user}" for a in record.approvals) or NONE
        sections += [
            "",
            "Promotion record (write-once)",
            fields(
                [
                    ("Digest", record.digest),
                    ("Promoted", f"{record.candidate_label} {ago(record.time, now)}"),
                    ("Evidence", record.evidence_digest),
                    ("Approved by", approvals),
                ]
            ),
        ]
    rollback = status.rollback if status else None
    if rollback is not None:
        text = str(rollback.state)
        if rollback.by:
            text += f" by {rollback.by} {ago(rollback.at, now)}"
        if rollback.record_digest:
            text += f"\nrecord {rollback.record_digest}"
        sections += ["", fields([("Rollback posture", text)])]
    return "\n".join(sections)


# --- sign-offs ------------------------------------------------------------------------------------


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


def api_error_message(exc: Exception) -> str:
    """The API server's own message from a client error (admission and RBAC refusals say who
    was refused and why), or the error itself."""
    body = getattr(exc, "body", None)
    if body:
        try:
            decoded = json.loads(body)
        except (TypeError, ValueError):
            return str(body).strip()
        if isinstance(decoded, dict) and decoded.get("message"):
            return str(decoded["message"])
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if status is not None:
        return f"{status} {reason or ''}".strip()
    return str(exc)


# --- the API --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...]


class Session:
    """An API client for the chosen kubeconfig context, impersonating when asked."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import client, config

        try:
            self.api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=args.kubeconfig, context=args.context
            )
            contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=args.kubeconfig
            )
        except (config.ConfigException, OSError) as exc:
            raise PluginError(f"cannot load the kubeconfig: {exc}") from exc
        chosen = next((c for c in contexts if c["name"] == args.context), current)
        self.namespace: str = args.namespace or (chosen or {}).get("context", {}).get(
            "namespace", "default"
        )
        if args.as_user:
            self.api.set_default_header("Impersonate-User", args.as_user)
        if args.as_group:
            if not args.as_user:
                raise PluginError("--as-group needs --as", code=2)
            self.api.set_default_header("Impersonate-Group", args.as_group)
        self.custom = client.CustomObjectsApi(self.api)
        self.authentication = client.AuthenticationV1Api(self.api)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call()
        except ApiException as exc:
            if exc.status == 404:
                raise PluginError(f"{what}: not found in namespace {self.namespace}") from exc
            raise PluginError(f"{what}: the API server refused: {api_error_message(exc)}") from exc

    def get(self, plural: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self._call(
            f"{plural.removesuffix('s')} {name}",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            ),
        )
        return obj

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = self._call(
            f"{plural.removesuffix('s')} {name}",
            lambda: self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                plural,
                name,
                body,
                _content_type="application/merge-patch+json",
            ),
        )
        return obj

    def whoami(self) -> Identity:
        """The user the API server authenticates this session as (after impersonation)."""
        from kubernetes import client

        review: Any = self._call(
            "SelfSubjectReview",
            lambda: self.authentication.create_self_subject_review(
                client.V1SelfSubjectReview(), _preload_content=False
            ),
        )
        info = json.loads(review.data).get("status", {}).get("userInfo", {})
        username = info.get("username")
        if not username:
            raise PluginError("the API server did not say who you are (SelfSubjectReview)")
        return Identity(str(username), tuple(str(g) for g in info.get("groups") or ()))


# --- commands -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_status(args: argparse.Namespace, session: Session) -> int:
    run = _load(IterationRun, session.get(RUNS, args.run), f"IterationRun {args.run}")
    print(render_status(run, _now()))
    return 0


def cmd_evidence(args: argparse.Namespace, session: Session) -> int:
    gate = _load(PromotionGate, session.get(GATES, args.gate), f"PromotionGate {args.gate}")
    print(render_evidence(gate, _now()))
    return 0


_FINAL = (GateState.PROMOTED.value, GateState.ROLLED_BACK.value)


def cmd_sign(args: argparse.Namespace, session: Session) -> int:
    decision = "approved" if args.command == "approve" else "rejected"
    gate = _load(PromotionGate, session.get(GATES, args.gate), f"PromotionGate {args.gate}")
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
    gate = _load(PromotionGate, session.get(GATES, args.gate), f"PromotionGate {args.gate}")
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
