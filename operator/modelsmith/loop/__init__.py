"""The loop: pure decisions from the run's memory and what the run controller observed.

Nothing here does I/O or knows kopf or Kubernetes. The run controller (modelsmith.controllers.run)
gathers an Observation, calls `decide(state, observation, config, now)`, performs
`decision.actions` in order (each idempotent by name), then persists `decision.state` into
status. If an action fails it persists nothing; deciding again from the old state yields the same
names.

Choices the design left open:
- A base model that already clears the threshold still trains one iteration: only trained
  candidates are staged, because the gate's evidence is lineage from base to candidate.
- Accept: score >= previous accepted + minImprovement (with a 1e-9 tolerance: scores are small
  fractions) and regressions <= maxRegressions, regressions counted over both splits. Stage: an
  accepted candidate whose held-out score reaches the threshold. A contamination report from
  any Job blocks (quality) before a verdict, so nothing contaminated is ever staged.
- Plateau: `plateauPatience` consecutive rejections. On the last chance before it, a LoRA rank
  doubles (alpha with it, up to 64) and that iteration trains from the base model, since the
  accepted adapter has the smaller rank.
- Each recipe's seed is the base seed + iteration, so retraining after a rejection differs.
- Limits (budget, deadline, max iterations) are checked before starting training or a retry; an
  assessment of a trained candidate always runs. A Job already running is never cut off, except
  a Job still unschedulable when the deadline passes (deleted, run Stopped).
- Blocked remembers the phase it returns to. Unschedulable and ObjectStoreUnavailable resume on
  their own; RetryBudgetExhausted resumes when the `modelsmith.io/retry` annotation takes a new
  value; GateRejected/GateBlocked resume when the gate leaves that state; Contamination stays.
  JobNameTaken (someone else's Job holds the run's Job name) resumes, launching the same attempt,
  once that Job is gone; OperatorNotPermitted (the operator may not create Jobs there) once the
  operator may; both are polled, as no watch reports their end.
- Exit codes 2, 3, 4, 5 and 7 fail the run at once (its own inputs are wrong); 6 blocks
  (quality); 9 (the Job's store credential is not the one the operator minted) blocks
  (governance, CredentialReplaced) until the retry annotation takes a new value; anything else
  is retried up to maxAttempts, each attempt a new Job name.
- Suspend stops new Jobs at once; a running Job finishes and its result is read on resume.
- A Job the state names but the cluster does not show for `jobLostAfterSeconds` counts as a
  failed attempt; its name is deleted before the successor launches.
- A started run never goes on with other inputs than it started with (loop/pinning.py): an
  intake deleted or re-created with another spec, or a Benchmark deleted, blocks it (governance,
  IntakeMissing/IntakeChanged/BenchmarkMissing); its Job is stopped after `inputGraceSeconds`;
  the same spec back resumes it, starting a stopped Job again as a new attempt.
- Every launch is checked against the ExecutionTarget as it is now (Observation.launch_refusal):
  refused, the run blocks (governance, ExecutionTargetNotAllowed/Missing) with the launch's
  phase to return to, and resumes, launching that Job, once the target admits it again.
"""

from modelsmith.loop.actions import Action, DeleteJob, LaunchJob, StageGate, WriteLedger
from modelsmith.loop.advice import AdviceContext, next_action, nodes_not_ready
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
from modelsmith.loop.failures import (
    CONTAINER_NEVER_RAN,
    contamination_ids,
    resumed_from_step,
    step_number,
)
from modelsmith.loop.ledger import LedgerEntry, LedgerKind
from modelsmith.loop.limits import budget_exhausted, deadline_passed, plateau_near, plateaued
from modelsmith.loop.naming import gate_name, job_name
from modelsmith.loop.observation import (
    RETRY_ANNOTATION,
    GateObservation,
    GateOutcome,
    InputProblem,
    IntakeReadiness,
    JobObservation,
    JobState,
    JobSummary,
    LaunchRefusal,
    Observation,
)
from modelsmith.loop.phases import TERMINAL, TRANSITIONS, Phase, can_transition, is_terminal
from modelsmith.loop.pinning import input_problem
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe, RecipePlan, next_recipe
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
from modelsmith.loop.step import accepted_scorecard_wanted

__all__ = [
    "CONTAINER_NEVER_RAN",
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
    "InputProblem",
    "IntakeReadiness",
    "JobObservation",
    "JobRef",
    "JobState",
    "JobSummary",
    "LaunchJob",
    "LaunchRefusal",
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
    "Scores",
    "StageGate",
    "Transition",
    "Verdict",
    "WriteLedger",
    "accept_candidate",
    "accepted_scorecard_wanted",
    "append_history",
    "blocked_by",
    "budget_exhausted",
    "can_transition",
    "clears_threshold",
    "contamination_ids",
    "deadline_passed",
    "decide",
    "gate_name",
    "input_problem",
    "is_terminal",
    "job_name",
    "next_action",
    "next_recipe",
    "nodes_not_ready",
    "plateau_near",
    "plateaued",
    "regressions",
    "resumed_from_step",
    "step_number",
    "strongest_failure_cluster",
]
