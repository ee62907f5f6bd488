"""The run's phases and the transitions between them."""

from __future__ import annotations

from collections.abc import Mapping

# The API's enum is the one vocabulary: status, the CRD schema and the loop cannot drift apart.
from modelsmith.api.run_status import Phase as Phase

P = Phase

TERMINAL: frozenset[Phase] = frozenset({P.PLATEAUED, P.STOPPED, P.FAILED})
"""Nothing leaves these. Staged is not among them: it launches nothing more, but a rejected or
blocked PromotionGate moves it to Blocked (governance) and an approval brings it back."""

JOB_PHASES: frozenset[Phase] = frozenset({P.EVALUATING_BASELINE, P.TRAINING, P.ASSESSING})
"""Phases that own a Job: the run waits on it and reads its outcome."""

SUSPENDABLE: frozenset[Phase] = frozenset(
    {P.PENDING, P.EVALUATING_BASELINE, P.TRAINING, P.ASSESSING, P.PROMOTION_STAGING}
)
"""Phases that would start something next; Staged has nothing left to pause."""

NEEDS_OBJECT_STORE: frozenset[Phase] = SUSPENDABLE
"""Phases whose next step reads or writes the object store (specs, scorecards, evidence)."""

RESUMABLE: frozenset[Phase] = SUSPENDABLE | {P.STAGED}
"""Phases that Blocked or Suspended may return to."""

_STOPS = frozenset({P.BLOCKED, P.SUSPENDED, P.STOPPED, P.FAILED})

TRANSITIONS: Mapping[Phase, frozenset[Phase]] = {
    P.PENDING: frozenset({P.EVALUATING_BASELINE}) | _STOPS,
    P.EVALUATING_BASELINE: frozenset({P.TRAINING}) | _STOPS,
    P.TRAINING: frozenset({P.ASSESSING}) | _STOPS,
    P.ASSESSING: frozenset({P.TRAINING, P.PROMOTION_STAGING, P.PLATEAUED}) | _STOPS,
    P.PROMOTION_STAGING: frozenset({P.STAGED, P.BLOCKED, P.SUSPENDED}),
    P.STAGED: frozenset({P.BLOCKED}),
    # A retry on request relaunches straight away, so Blocked may also stop on a limit.
    P.BLOCKED: RESUMABLE | {P.SUSPENDED, P.STOPPED, P.FAILED},
    P.SUSPENDED: SUSPENDABLE,
    P.PLATEAUED: frozenset(),
    P.STOPPED: frozenset(),
    P.FAILED: frozenset(),
}


def is_terminal(phase: Phase) -> bool:
    return phase in TERMINAL


def can_transition(source: Phase, target: Phase) -> bool:
    """Staying in a phase is always allowed (a reconcile that only waits)."""
    return source == target or target in TRANSITIONS[source]
