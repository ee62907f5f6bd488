"""Random walks through decide(): whatever the cluster does, the loop keeps its promises."""

from __future__ import annotations

import random
import re
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loop_sim import ALL_IDS, HELDOUT_IDS, T0, card, config

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop import (
    GateObservation,
    GateOutcome,
    IntakeReadiness,
    JobObservation,
    JobState,
    JobSummary,
    Observation,
    Phase,
    RunState,
    accepted_scorecard_wanted,
    can_transition,
    decide,
    is_terminal,
)
from modelsmith.loop.naming import DNS_LABEL

JOB_NAME = re.compile(r"-i\d+-(train|eval)-a\d+")
EVAL_PHASES = (Phase.EVALUATING_BASELINE, Phase.ASSESSING)
GATES = (None, *(GateObservation(name="demo", outcome=o) for o in GateOutcome))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_random_walk_keeps_the_invariants(data: st.DataObject, seed: int) -> None:
    # Hypothesis picks the limits; a seeded generator picks each step's observation, which
    # keeps a walk of 80 steps fast (a failure reports the seed, and replays exactly).
    rng = random.Random(seed)
    cfg = config(
        max_iterations=data.draw(st.integers(1, 6)),
        plateau_patience=data.draw(st.integers(1, 3)),
        max_attempts=data.draw(st.integers(1, 3)),
        gpu_hour_budget=data.draw(st.sampled_from([None, 0.5, 2.0])),
        deadline=data.draw(st.sampled_from([None, None, T0 + timedelta(hours=6)])),
    )
    state, now = RunState(), T0
    cards: dict[int, Scorecard] = {}
    launched: set[str] = set()
    sequence = 0
    used = 0.0

    for _ in range(rng.randint(5, 80)):
        accepted = state.accepted_iteration
        job = None
        scorecard = None
        if state.job is not None and rng.randint(0, 9) > 0:
            job_state = rng.choice([*[JobState.SUCCEEDED] * 4, *JobState])
            job = JobObservation(
                name=state.job.name,
                state=job_state,
                scheduler_message="0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
                exit_code=rng.choice([*[1] * 8, None, 2, 6, 8]),
                attempts_exhausted=rng.random() < 0.5,
                summary=JobSummary(
                    gpu_seconds=rng.choice([0.0, 60.0, 900.0]),
                    contaminated=rng.randint(0, 30) == 0,
                ),
            )
            if job_state is JobState.FOREIGN:
                # Someone else's Job held the name: the run's own launch never happened, and it
                # launches that name again once the name is free.
                launched.discard(state.job.name)
            in_eval = (state.resume_phase or state.phase) in EVAL_PHASES
            if job_state is JobState.SUCCEEDED and in_eval and rng.randint(0, 9) > 0:
                n = state.iteration
                if n not in cards:
                    # Mostly better than the accepted model, so walks reach staging too.
                    extra = {i for i in sorted(ALL_IDS) if rng.random() < 0.5}
                    base = cards[accepted].passing_ids() if accepted in cards else frozenset()
                    keep = rng.random() < 0.75
                    cards[n] = card(n, (base if keep else frozenset()) | extra)
                scorecard = cards[n]
        obs = Observation(
            intake=IntakeReadiness(ready=rng.randint(0, 5) > 0, reason="NotValidated"),
            job=job,
            scorecard=scorecard,
            accepted_scorecard=cards.get(accepted) if accepted is not None else None,
            object_store_reachable=rng.randint(0, 12) > 0,
            suspended=rng.randint(0, 12) == 0,
            gate=rng.choice(GATES),
            retry_request=rng.choice([None, "one", "two"]),
        )
        now += timedelta(minutes=rng.choice([0, 1, 5, 30]))

        d = decide(state, obs, cfg, now)

        if accepted_scorecard_wanted(state) is None:
            # The operator leaves out what this state's decision does not read.
            without = obs.model_copy(update={"accepted_scorecard": None})
            assert decide(state, without, cfg, now) == d

        assert can_transition(state.phase, d.phase)
        assert d.transitioned == (d.phase is not state.phase)
        for launch in d.launches:
            assert launch.name not in launched, "a Job name was launched twice"
            launched.add(launch.name)
            assert len(launch.name) <= 63 and DNS_LABEL.match(launch.name)
            assert not set(launch.weights or {}) & HELDOUT_IDS
            assert d.state.job is not None and d.state.job.name == launch.name
            assert d.phase is launch.phase
        if d.phase is Phase.SUSPENDED or is_terminal(d.phase) or is_terminal(state.phase):
            assert d.launches == ()
        if is_terminal(state.phase):
            assert d.actions == () and d.state == state
        assert (d.blocked_by is not None) == (d.phase is Phase.BLOCKED)
        assert d.blocked_by == d.state.blocked_by
        assert (d.state.resume_phase is not None) == (d.phase in (Phase.BLOCKED, Phase.SUSPENDED))
        entries = d.ledger_entries
        assert [e.sequence for e in entries] == list(range(sequence, sequence + len(entries)))
        sequence += len(entries)
        assert d.state.ledger_sequence == sequence
        assert len(d.state.history) <= 10
        assert d.state.iteration <= cfg.max_iterations
        assert d.state.gpu_seconds_used >= used
        used = d.state.gpu_seconds_used
        for text in (d.message, d.next_action, *(e.message for e in entries)):
            assert not JOB_NAME.search(text), text
        assert d.wire()["state"]["phase"] == d.phase.value
        state = d.state
