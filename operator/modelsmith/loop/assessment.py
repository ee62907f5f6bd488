"""Assessment verdicts, shaped like an Argo Rollouts AnalysisRun: each measurement carries its
value, its success condition and whether it held; the verdict follows from them alone."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop.model import LoopModel
from modelsmith.loop.reasons import Reason

SCORE_TOLERANCE: Final = 1e-9
"""Scores are ratios of small integers; 0.7 >= 0.6 + 0.1 must hold despite binary floats."""


class Verdict(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class Measurement(LoopModel):
    name: str
    value: float
    condition: str
    """The success condition with its numbers filled in, e.g. 'score >= 0.625 (0.600 + 0.025)'."""
    passed: bool


class AcceptanceVerdict(LoopModel):
    verdict: Verdict
    reason: Reason
    message: str
    measurements: tuple[Measurement, ...]
    regressions: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED


def regressions(previous_scorecard: Scorecard, candidate_scorecard: Scorecard) -> list[str]:
    """Ids of scenarios that pass in the previous accepted scorecard and do not pass now, in
    both splits, sorted. A scenario missing from the candidate's scorecard counts: the benchmark
    is pinned by digest, so a vanished result is a failure to show, not a pass."""
    now_passing = candidate_scorecard.passing_ids()
    return sorted(i for i in previous_scorecard.passing_ids() if i not in now_passing)


def _verdict(
    measurements: tuple[Measurement, ...],
    *,
    on_pass: tuple[Reason, str],
    on_fail: tuple[Reason, str],
    regressed: tuple[str, ...] = (),
) -> AcceptanceVerdict:
    ok = all(m.passed for m in measurements)
    reason, message = on_pass if ok else on_fail
    return AcceptanceVerdict(
        verdict=Verdict.ACCEPTED if ok else Verdict.REJECTED,
        reason=reason,
        message=message,
        measurements=measurements,
        regressions=regressed,
    )


def accept_candidate(
    previous: Scorecard,
    candidate: Scorecard,
    *,
    min_improvement: float,
    max_regressions: int,
) -> AcceptanceVerdict:
    """Accept when the candidate beats the previous accepted score by at least
    `min_improvement` and breaks at most `max_regressions` scenarios that passed before
    (`max_regressions` is the failure limit)."""
    needed = previous.score + min_improvement
    regressed = tuple(regressions(previous, candidate))
    score = Measurement(
        name="score",
        value=candidate.score,
        condition=(
            f"score >= {needed:.3f} (previous accepted {previous.score:.3f} + "
            f"minImprovement {min_improvement:.3f})"
        ),
        passed=candidate.score >= needed - SCORE_TOLERANCE,
    )
    regression = Measurement(
        name="regressions",
        value=float(len(regressed)),
        condition=f"regressions <= {max_regressions} (maxRegressions)",
        passed=len(regressed) <= max_regressions,
    )
    delta = candidate.score - previous.score
    summary = (
        f"score {candidate.score:.3f} ({delta:+.3f} against {previous.score:.3f}), "
        f"{len(regressed)} regression(s)"
    )
    failed = [m.condition for m in (score, regression) if not m.passed]
    return _verdict(
        (score, regression),
        on_pass=(Reason.CANDIDATE_ACCEPTED, f"Accepted: {summary}."),
        on_fail=(Reason.CANDIDATE_REJECTED, f"Rejected: {summary}; it needed {'; '.join(failed)}."),
        regressed=regressed,
    )


def clears_threshold(candidate: Scorecard, *, threshold: float) -> AcceptanceVerdict:
    """Whether an accepted candidate may be staged: its held-out score reaches the intake's
    threshold. Contamination never reaches here: a Job reporting it blocks the run first."""
    heldout = candidate.heldout_score
    value = heldout if heldout is not None else 0.0
    measurement = Measurement(
        name="heldoutScore",
        value=value,
        condition=f"held-out score >= {threshold:.3f} (threshold)",
        passed=heldout is not None and heldout >= threshold - SCORE_TOLERANCE,
    )
    shown = "absent" if heldout is None else f"{heldout:.3f}"
    return _verdict(
        (measurement,),
        on_pass=(
            Reason.THRESHOLD_CLEARED,
            f"Its held-out score {shown} clears the threshold {threshold:.3f}.",
        ),
        on_fail=(
            Reason.THRESHOLD_NOT_MET,
            f"Its held-out score {shown} is below the threshold {threshold:.3f}.",
        ),
    )
