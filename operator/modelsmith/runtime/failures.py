"""What a failed reconcile leaves on its object, whatever the kind and whatever it raised: the
verdict of `errors.classify` as a condition (a run: Blocked, with blockedBy, the phase
to resume and the next action; a Benchmark or intake: Ready=False; a gate: Blocked), one Warning
Event per distinct cause, chosen by the status writer as every kind's transitions are (not one
per retry: the stored condition already showing the cause is the memory, so a restart sends none
again), and the delay before the next try, which grows with
each failure in a row. The queue calls `failed` from its one failure path, so every kind it
drives gets the rule without a line in its handler.

A run blocked this way decides again from where it was on its next look (loop.decide): the
step that raised is tried again, and either succeeds (the run moves on, the block is gone) or
raises again (the same block stays, the Event is not repeated, the next try waits longer). The
block is not a transition of the loop: it has no ledger entry and leaves lastTransition alone."""

from __future__ import annotations

import logging
import threading
from typing import Any, Final, Protocol

from modelsmith import loop
from modelsmith.loop.state import RECONCILE_ERRORS
from modelsmith.runtime import kube
from modelsmith.runtime.conditions import condition, set_condition
from modelsmith.runtime.errors import Failure, classify, retry_delay
from modelsmith.runtime.transitions import Transitions

log = logging.getLogger("modelsmith.reconciler")

Key = tuple[str, str, str]


class Patch(Protocol):
    """StatusWriter.patch: writes what `desired` changes in `body`'s status, guarded by its
    resourceVersion, and records the Event a move of what `transitions` names deserves."""

    def __call__(
        self,
        plural: str,
        body: dict[str, Any],
        desired: dict[str, Any],
        *,
        transitions: Transitions | None = None,
    ) -> Any: ...


KINDS: Final = {
    "iterationruns": "IterationRun",
    "modelintakes": "ModelIntake",
    "benchmarks": "Benchmark",
    "promotiongates": "PromotionGate",
}
MESSAGE_LIMIT: Final = 1024
"""The status schema's bound on a message."""
RUN_AT_REST: Final = frozenset({*(p.value for p in loop.TERMINAL), loop.Phase.SUSPENDED.value})
"""Run phases a failure does not move: a final verdict stands, a suspension is a person's."""


def _always(_: dict[str, Any], __: dict[str, Any]) -> bool:
    return True


SHOWN_AS: Final = {
    shown_as: Transitions(headline=shown_as, conditions=(shown_as,), warning=_always, messages=True)
    for shown_as in ("Blocked", "Ready")
}
"""The condition a failure is shown as, with what makes it worth a Warning: its status, reason
or message moving, which is a new cause (the same cause again writes nothing)."""


class Failures:
    """Failures in a row per object, so the next try waits longer; forgotten on success."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[Key, tuple[int, str]] = {}

    def failed(self, key: Key, exc: BaseException, patch: Patch) -> float | None:
        """Surfaces the failure on the object; returns when to try again (None: it is gone)."""
        plural, namespace, name = key
        failure = classify(exc, f"{KINDS.get(plural, plural)} {name}")
        with self._lock:
            attempt, cause = self._attempts.get(key, (0, ""))
            attempt = attempt + 1 if cause == failure.text else 1
            self._attempts[key] = (attempt, failure.text)
        delay = retry_delay(attempt)
        log.error(
            "reconcile of %s %s/%s failed (%s, attempt %d); next try in %gs",
            *key,
            failure.reason.value,
            attempt,
            delay,
            # The traceback once per cause: the retries add nothing to it.
            exc_info=exc if attempt == 1 else None,
        )
        try:
            body = kube.get_custom(plural, namespace, name)
            if body is None:
                return None
            _surface(plural, body, failure, patch)
        except Exception as surfacing:  # the failure stays in the log and the metric
            log.warning("could not record the failure on %s %s/%s: %s", *key, surfacing)
        return delay

    def succeeded(self, key: Key, patch: Patch) -> None:
        with self._lock:
            failing = self._attempts.pop(key, None)
        if failing is not None and key[0] == "promotiongates":
            # The gate's own reconcile does not manage this condition: clear it here.
            _clear_gate(key, patch)

    def attempts(self, key: Key) -> int:
        with self._lock:
            return self._attempts.get(key, (0, ""))[0]


def _surface(plural: str, body: dict[str, Any], failure: Failure, patch: Patch) -> None:
    old: dict[str, Any] = body.get("status") or {}
    generation = body["metadata"].get("generation")
    text = failure.text[:MESSAGE_LIMIT]
    if plural == "iterationruns":
        desired, shown_as = _run_status(old, failure, text, generation), "Blocked"
    else:
        shown_as = "Blocked" if plural == "promotiongates" else "Ready"
        desired = {
            "conditions": set_condition(
                old.get("conditions"),
                shown_as,
                shown_as == "Blocked",
                failure.reason.value,
                text,
                generation,
            )
        }
    patch(plural, body, desired, transitions=SHOWN_AS[shown_as])


def _run_status(
    old: dict[str, Any], failure: Failure, text: str, generation: int | None
) -> dict[str, Any]:
    reason = failure.reason.value
    conditions = set_condition(old.get("conditions"), "Blocked", True, reason, text, generation)
    status: dict[str, Any] = {"nextAction": failure.next_action[:MESSAGE_LIMIT]}
    phase = old.get("phase") or loop.Phase.PENDING.value
    blocker = (old.get("blockedBy") or {}).get("reason")
    if phase in RUN_AT_REST or (phase == loop.Phase.BLOCKED.value and not _ours(blocker)):
        # A block the loop decided stays its own (it has its ledger entry and resumes by its
        # own rule); the error shows beside it.
        return status | {"conditions": conditions}
    conditions = set_condition(conditions, "Progressing", False, reason, text, generation)
    memory = old.get("memory") or {}
    resume = memory.get("resumePhase") if phase == loop.Phase.BLOCKED.value else phase
    blocked = {"kind": failure.kind.value, "reason": reason, "message": text}
    status |= {
        "phase": loop.Phase.BLOCKED.value,
        "blockedBy": blocked,
        "memory": {"resumePhase": resume or loop.Phase.PENDING.value},
        "conditions": conditions,
    }
    # No lastTransition: the loop's transitions are its ledger's, and this block is none of
    # them (the next look decides again from `resume`, loop.decide's `_unwrapped`).
    return status


def _ours(reason: str | None) -> bool:
    return reason in {r.value for r in RECONCILE_ERRORS}


def _clear_gate(key: Key, patch: Patch) -> None:
    plural, namespace, name = key
    try:
        body = kube.get_custom(plural, namespace, name)
        old: dict[str, Any] = (body or {}).get("status") or {}
        if body is None or (condition(old, "Blocked") or {}).get("status") != "True":
            return
        conditions = set_condition(
            old.get("conditions"),
            "Blocked",
            False,
            "Recovered",
            "the last reconcile succeeded",
            body["metadata"].get("generation"),
        )
        patch(plural, body, {"conditions": conditions})
    except Exception as clearing:
        log.warning("could not clear the failure on %s %s/%s: %s", *key, clearing)
