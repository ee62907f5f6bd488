"""What `make demo` (hack/demo.sh) shows while it waits, and the summary it ends with.

    python hack/demo_watch.py run RUN -n NS [--benchmark B] [--intake I] [--operator-pid PID]
    python hack/demo_watch.py gate GATE -n NS (--approvals N | --state STATE)
    python hack/demo_watch.py summary RUN -n NS --bucket B --elapsed SECONDS

`run` polls once a second and prints a line only when something changed: the benchmark's and the
intake's Ready condition, each phase transition of the run (from status.lastTransition, with the
run's Events filling in transitions that happened between two polls), each training progress
report and each finished iteration. It exits 0 when the run is Staged and 1 when it stops
anywhere else (Plateaued, Stopped, Failed, Blocked), when the operator process dies, or on
timeout. Everything shown comes from status and Events, which the operator fills with sanitised
values only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from demo_cluster import (
    Api,
    Obj,
    WatchError,
    clock,
    condition,
    num,
    say,
    seconds,
    status_of,
)
from demo_summary import cmd_summary

SUCCESS = "Staged"
STOPS = frozenset({"Plateaued", "Stopped", "Failed", "Blocked"})
GATE_ENDS = frozenset({"Rejected", "Blocked", "RolledBack"})
POLL_SECONDS = 1.0



def ready_line(kind: str, obj: Obj) -> str | None:
    cond = condition(obj, "Ready")
    if cond is None:
        return None
    name = obj["metadata"]["name"]
    line = (
        f"{clock(cond.get('lastTransitionTime'))}  {kind} {name} Ready={cond.get('status')} "
        f"({cond.get('reason')})"
    )
    status = status_of(obj)
    if kind == "benchmark" and cond.get("status") == "True":
        line += (
            f": {status.get('scenarioCount', '?')} scenarios, {status.get('heldoutCount', '?')} "
            f"held out, digest {str(status.get('digest', '?'))[:19]}"
        )
    elif cond.get("message"):
        line += f": {cond['message']}"
    return line


def transition_line(transition: Obj) -> str:
    came_from = transition.get("from") or "(new)"
    line = (
        f"{clock(transition.get('time'))}  phase {came_from} -> {transition.get('to')}  "
        f"[{transition.get('reason')}]"
    )
    if transition.get("message"):
        line += f" {transition['message']}"
    return line


def training_line(iteration: int, training: Obj) -> str:
    return (
        f"{clock(training.get('updatedAt'))}  training iteration {iteration}: "
        f"step {training.get('step', 0)}/{training.get('totalSteps', 0)} "
        f"({float(training.get('percent', 0)):.0f}%)  loss {num(training.get('loss'), 4)}  "
        f"ETA {seconds(training.get('etaSeconds'))}"
    )


def iteration_line(record: Obj) -> str:
    iteration = record.get("iteration")
    label = "baseline" if iteration == 0 else f"iteration {iteration}"
    line = (
        f"{clock(record.get('finishedAt'))}  {label} done: score {num(record.get('score'))}, "
        f"held-out {num(record.get('heldoutScore'))}, decision {record.get('decision') or '-'}"
    )
    if record.get("regressionCount"):
        line += f", {record['regressionCount']} regressions"
    return line


# --- `run` --------------------------------------------------------------------------------------


@dataclass
class RunWatch:
    """What has been printed so far, so only changes are printed."""

    seen_ready: dict[str, str] = field(default_factory=dict)
    last_transition: Obj | None = None
    printed_phase: str | None = None
    last_training: tuple[int, Any] | None = None
    seen_iterations: set[int] = field(default_factory=set)


def _when(stamp: Any) -> datetime | None:
    if not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _missed_transitions(
    api: Api, namespace: str, run: str, since: datetime, upto: Obj, known: set[str]
) -> list[Obj]:
    """Transitions made before `upto` that no poll saw (the run moved more than once between two
    polls, or before the first), rebuilt from the run's Events: the operator posts one per
    transition, with its reason and message. Event times have whole-second precision, hence the
    rounding down; `known` holds the reasons already printed for this window."""
    end = _when(upto.get("time"))
    if end is None:
        return []
    start = since.replace(microsecond=0)
    missed: list[tuple[datetime, Obj]] = []
    for event in api.events(namespace, run):
        when = _when(event.get("lastTimestamp") or event.get("eventTime"))
        involved = event.get("involvedObject") or {}
        if when is None or involved.get("kind") != "IterationRun" or not start <= when <= end:
            continue
        if event.get("reason") in known or event.get("reason") == upto.get("reason"):
            continue
        missed.append((when, event))
    missed.sort(key=lambda pair: pair[0])
    return [
        {"reason": e.get("reason"), "message": e.get("message", ""), "time": w.isoformat()}
        for w, e in missed
    ]


def _poll_run(api: Api, args: argparse.Namespace, seen: RunWatch) -> str | None:
    """One look at everything; returns the run's phase."""
    for plural, kind, name in (
        ("benchmarks", "benchmark", args.benchmark),
        ("modelintakes", "intake", args.intake),
    ):
        if not name:
            continue
        obj = api.get(plural, args.namespace, name)
        line = ready_line(kind, obj) if obj else None
        if line is not None and seen.seen_ready.get(kind) != line:
            seen.seen_ready[kind] = line
            say(line)

    run = api.get("iterationruns", args.namespace, args.run)
    status = status_of(run)
    transition = status.get("lastTransition")
    if transition and transition != seen.last_transition:
        last = seen.last_transition
        expected = seen.printed_phase if last else "Pending"
        since = _when((last or {}).get("time")) or _when(
            ((run or {}).get("metadata") or {}).get("creationTimestamp")
        )
        if transition.get("from") != expected and since is not None:
            known = {str(last.get("reason"))} if last else set()
            missed = _missed_transitions(api, args.namespace, args.run, since, transition, known)
            for i, event in enumerate(missed):
                # Only the ends of the chain are known: where it was, and where the seen one left.
                left = expected if i == 0 else "?"
                entered = transition.get("from") if i == len(missed) - 1 else "?"
                say(
                    f"{clock(event['time'])}  phase {left} -> {entered}  [{event['reason']}] "
                    f"{event['message']}"
                )
        seen.last_transition = transition
        seen.printed_phase = transition.get("to")
        say(transition_line(transition))

    training = status.get("training")
    if training and training.get("totalSteps"):
        # Keyed on the report itself: the last report of an iteration stays in status while the
        # next one starts, and must not be shown again under the new iteration number.
        key = (int(training.get("step", 0)), training.get("updatedAt"))
        if key != seen.last_training:
            seen.last_training = key
            say(training_line(int(status.get("iteration", 0)), training))

    for record in sorted(status.get("history") or [], key=lambda r: int(r.get("iteration", 0))):
        iteration = int(record.get("iteration", 0))
        if iteration not in seen.seen_iterations:
            seen.seen_iterations.add(iteration)
            say(iteration_line(record))

    phase = status.get("phase")
    return str(phase) if phase else None


def _operator_alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _explain_stop(run: Obj | None) -> str:
    status = status_of(run)
    lines = [f"run ended in phase {status.get('phase')}"]
    blocked = status.get("blockedBy")
    if blocked:
        lines.append(
            f"  blocked by {blocked.get('kind')}: {blocked.get('reason')} "
            f"{blocked.get('message', '')}"
        )
    if status.get("nextAction"):
        lines.append(f"  next action: {status['nextAction']}")
    for cond in status.get("conditions") or []:
        text = f"  condition {cond.get('type')}={cond.get('status')} ({cond.get('reason')})"
        lines.append(text + (f": {cond['message']}" if cond.get("message") else ""))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    api = Api.connect()
    seen = RunWatch()
    deadline = time.monotonic() + args.timeout
    while True:
        phase = _poll_run(api, args, seen)
        if phase == SUCCESS:
            return 0
        if phase in STOPS:
            say(_explain_stop(api.get("iterationruns", args.namespace, args.run)))
            return 1
        if not _operator_alive(args.operator_pid):
            say(f"the operator (pid {args.operator_pid}) exited; the run is in phase {phase}")
            return 1
        if time.monotonic() > deadline:
            say(f"timed out after {seconds(args.timeout)} with the run in phase {phase}")
            return 1
        time.sleep(POLL_SECONDS)


# --- `gate` -------------------------------------------------------------------------------------


def _approvals_line(status: Obj) -> str:
    parts = []
    for approval in status.get("approvals") or []:
        text = f"{approval.get('role')}={approval.get('decision', 'pending')}"
        if approval.get("user"):
            text += f" by {approval['user']}"
        if approval.get("decision") not in (None, "pending"):
            valid = approval.get("valid")
            text += " (valid)" if valid else f" (not valid: {approval.get('reason')})"
        parts.append(text)
    return ", ".join(parts) or "none"


def _valid_approvals(status: Obj) -> int:
    return sum(
        1
        for a in status.get("approvals") or []
        if a.get("decision") == "approved" and a.get("valid")
    )


def cmd_gate(args: argparse.Namespace) -> int:
    api = Api.connect()
    deadline = time.monotonic() + args.timeout
    last: str | None = None
    while True:
        gate = api.get("promotiongates", args.namespace, args.gate)
        status = status_of(gate)
        state = status.get("state")
        line = (
            f"gate {args.gate}: state {state or '-'}, approvals "
            f"{status.get('approvalsSummary') or '-'} [{_approvals_line(status)}]"
        )
        if line != last:
            last = line
            say(f"{clock(None)}  {line}")
        if args.state and state == args.state:
            return 0
        if args.approvals is not None and _valid_approvals(status) >= args.approvals:
            return 0
        if state in GATE_ENDS and state != args.state:
            for blocker in status.get("blockers") or []:
                say(
                    f"  blocker {blocker.get('kind')}: {blocker.get('reason')} "
                    f"{blocker.get('message', '')}"
                )
            return 1
        if time.monotonic() > deadline:
            say(f"timed out after {seconds(args.timeout)} waiting for the gate")
            return 1
        time.sleep(POLL_SECONDS)


# --- `summary` ----------------------------------------------------------------------------------


# --- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo_watch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("run", help="follow a run until Staged or stopped")
    p.add_argument("run")
    p.add_argument("-n", "--namespace", required=True)
    p.add_argument("--benchmark", default="")
    p.add_argument("--intake", default="")
    p.add_argument("--operator-pid", type=int, default=None)
    p.add_argument("--timeout", type=float, default=2700.0)
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("gate", help="follow a gate until it has N approvals or a state")
    p.add_argument("gate")
    p.add_argument("-n", "--namespace", required=True)
    until = p.add_mutually_exclusive_group(required=True)
    until.add_argument("--approvals", type=int, default=None)
    until.add_argument("--state", default="")
    p.add_argument("--timeout", type=float, default=120.0)
    p.set_defaults(func=cmd_gate)

    p = commands.add_parser("summary", help="the promotion, scores, serving pointer and report")
    p.add_argument("run")
    p.add_argument("-n", "--namespace", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--have-aws", action="store_true", help="also show the aws CLI command")
    p.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except WatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`)
        return 1


if __name__ == "__main__":
    sys.exit(main())
