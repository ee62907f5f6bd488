"""`kubectl modelsmith status RUN`: the run at a glance, then its conditions and the bounded
history table."""

from __future__ import annotations

from datetime import datetime

from modelsmith.api.run import IterationRun
from modelsmith.api.run_status import IterationRunStatus, Scores
from modelsmith.cli.format import (
    MESSAGE_WIDTH,
    NONE,
    REASON_WIDTH,
    RECIPE_WIDTH,
    ago,
    duration,
    fields,
    progress_bar,
    score,
    shorten,
    signed,
    table,
    yes_no,
)

Pairs = list[tuple[str, str]]

HISTORY_HEADERS = [
    "ITER",
    "SCORE",
    "HELDOUT",
    "DECISION",
    "ACCEPTED",
    "REGRESSIONS",
    "FINISHED",
    "REASON",
    "RECIPE",
]


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


def _phase(status: IterationRunStatus, now: datetime) -> str:
    """The phase, with the last transition (when, from what, why) under it."""
    transition = status.last_transition
    phase = str(status.phase)
    if transition is not None:
        came_from = f"{transition.from_phase} -> " if transition.from_phase else ""
        phase += f"  ({ago(transition.time, now)}: {came_from}{transition.to}, {transition.reason})"
        if transition.message:
            phase += "\n" + shorten(transition.message, MESSAGE_WIDTH)
    return phase


def _progress_pairs(run: IterationRun, status: IterationRunStatus, now: datetime) -> Pairs:
    """Phase, iteration, scores, regressions and the strongest failure cluster."""
    pairs: Pairs = [
        ("Phase", _phase(status, now)),
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
    return pairs


def _capacity_pairs(status: IterationRunStatus, now: datetime) -> Pairs:
    """Where the run's Jobs stand for capacity, and the training progress they report."""
    pairs: Pairs = []
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
    return pairs


def _outlook_pairs(run: IterationRun, status: IterationRunStatus, now: datetime) -> Pairs:
    """What blocks the run, what it does next, its candidate, gate, ledger and GPU time."""
    blocked = status.blocked_by
    pairs: Pairs = [
        (
            "Blocked by",
            NONE
            if blocked is None
            else f"{blocked.kind}: {blocked.reason}"
            + (f"\n{shorten(blocked.message, MESSAGE_WIDTH)}" if blocked.message else ""),
        ),
        ("Next action", status.next_action or NONE),
    ]
    if status.candidate is not None:
        candidate = f"{status.candidate.label} (iteration {status.candidate.iteration})"
        pairs.append(("Best candidate", candidate))
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
    return pairs


def _conditions(status: IterationRunStatus, now: datetime) -> list[str]:
    if not status.conditions:
        return []
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
    return ["", "Conditions", table(["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], rows)]


def _history(status: IterationRunStatus, now: datetime) -> list[str]:
    heading = f"History (latest {len(status.history)}; the run's ledger holds every entry)"
    if not status.history:
        return ["", heading, "(no finished iteration yet)"]
    rows = [
        [
            str(h.iteration),
            score(h.score),
            score(h.heldout_score),
            h.decision or NONE,
            yes_no(h.accepted),
            str(h.regression_count),
            ago(h.finished_at, now),
            shorten(h.reason, REASON_WIDTH) or NONE,
            shorten(h.recipe, RECIPE_WIDTH) or NONE,
        ]
        for h in sorted(status.history, key=lambda r: r.iteration)
    ]
    return ["", heading, table(HISTORY_HEADERS, rows)]


def render_status(run: IterationRun, now: datetime) -> str:
    """The run at a glance, then its conditions and the bounded history table."""
    status = run.status
    header = (
        f"IterationRun {run.name}  (namespace {run.namespace}, intake {run.spec.intake_ref.name})"
    )
    if status is None or status.phase is None:
        return f"{header}\n\nNot picked up by the operator yet (no status). Is it running?"
    pairs = [
        *_progress_pairs(run, status, now),
        *_capacity_pairs(status, now),
        *_outlook_pairs(run, status, now),
    ]
    sections = [header, "", fields(pairs), *_conditions(status, now), *_history(status, now)]
    return "\n".join(sections)
