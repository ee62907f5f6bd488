"""The loop: pure decisions from the run's memory and what the handler observed.

Nothing here does I/O or knows kopf or Kubernetes. The IterationRun handler gathers an
Observation, calls `decide`, performs `decision.actions` and persists `decision.state`.
"""

from modelsmith.loop.actions import Action, DeleteJob, LaunchJob, StageGate, WriteLedger
from modelsmith.loop.advice import AdviceContext, next_action
from modelsmith.loop.assessment import (
    AcceptanceVerdict,
    Measurement,
    Verdict,
    accept_candidate,
    clears_threshold,
    regressions,
)
from modelsmith.loop.clusters import Cluster, strongest_failure_cluster
from modelsmith.loop.config import RunConfig
from modelsmith.loop.decide import Decision, decide
from modelsmith.loop.ledger import LedgerEntry, LedgerKind
from modelsmith.loop.limits import budget_exhausted, deadline_passed, plateau_near, plateaued
from modelsmith.loop.naming import gate_name, job_name
from modelsmith.loop.observation import (
    RETRY_ANNOTATION,
    GateObservation,
    GateOutcome,
    IntakeReadiness,
    JobObservation,
    JobState,
    JobSummary,
    Observation,
)
from modelsmith.loop.phases import TERMINAL, TRANSITIONS, Phase, can_transition, is_terminal
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe, RecipePlan, next_recipe
from modelsmith.loop.scorecard import Scorecard
from modelsmith.loop.state import (
    HISTORY_LIMIT,
    BlockedBy,
    BlockKind,
    HistoryEntry,
    JobRef,
    RunState,
    Scores,
    Transition,
    append_history,
    blocked_by,
)

__all__ = [
    "HISTORY_LIMIT",
    "RETRY_ANNOTATION",
    "TERMINAL",
    "TRANSITIONS",
    "AcceptanceVerdict",
    "Action",
    "AdviceContext",
    "BlockKind",
    "BlockedBy",
    "Cluster",
    "Decision",
    "DeleteJob",
    "GateObservation",
    "GateOutcome",
    "HistoryEntry",
    "IntakeReadiness",
    "JobObservation",
    "JobRef",
    "JobState",
    "JobSummary",
    "LaunchJob",
    "LedgerEntry",
    "LedgerKind",
    "Measurement",
    "Observation",
    "Phase",
    "Reason",
    "Recipe",
    "RecipePlan",
    "RunConfig",
    "RunState",
    "Scorecard",
    "Scores",
    "StageGate",
    "Transition",
    "Verdict",
    "WriteLedger",
    "accept_candidate",
    "append_history",
    "blocked_by",
    "budget_exhausted",
    "can_transition",
    "clears_threshold",
    "deadline_passed",
    "decide",
    "gate_name",
    "is_terminal",
    "job_name",
    "next_action",
    "next_recipe",
    "plateau_near",
    "plateaued",
    "regressions",
    "strongest_failure_cluster",
]
