"""One rule for whatever a reconcile raises: a pure classification of the exception into what
the object shows (reason, message, next action), who has to act (the blocker kind), and when
the operator looks again (a backoff that grows with each failed attempt).

`failures` puts the verdict on the object (condition, Warning Event); the reconciler
asks for the retry delay. Nothing here talks to the cluster, so each failure class is a plain
unit test (tests/unit/test_reconcile_errors.py).

Messages never quote a value the object holds (it may be the very leak the sanitiser refused):
they name the field, the kind of problem, and the status code of an answer; writers still pass
them through the sanitiser like every other status text.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

import botocore.exceptions
import pydantic
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from modelsmith.contract.s3 import InvalidUri, ObjectStoreError, ObjectStoreUnavailable
from modelsmith.evidence.bundle import EvidenceError
from modelsmith.evidence.sanitiser import LeakError
from modelsmith.loop.reasons import Reason
from modelsmith.loop.state import BLOCK_KINDS, BlockKind

FIRST_RETRY_SECONDS: Final = 5.0
LONGEST_RETRY_SECONDS: Final = 300.0
SHOWN_ERRORS: Final = 3
"""Schema errors named in one message; the count says how many more there are."""
RETRIES: Final = "the operator retries on its own, waiting longer after each failure"


@dataclass(frozen=True)
class Failure:
    """What a failed reconcile means for the object it was about."""

    reason: Reason
    message: str
    next_action: str

    @property
    def kind(self) -> BlockKind:
        return BLOCK_KINDS[self.reason]

    @property
    def text(self) -> str:
        """Condition and Event text: the cause, then what to do."""
        return f"{self.message}. Next: {self.next_action}."


def retry_delay(attempt: int) -> float:
    """Seconds before the next try after `attempt` failures in a row (1 is the first): doubles
    from FIRST_RETRY_SECONDS up to LONGEST_RETRY_SECONDS."""
    exponent = min(max(attempt, 1) - 1, 16)
    return min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0**exponent)


def classify(exc: BaseException, subject: str) -> Failure:
    """The verdict on `exc`, raised while reconciling `subject` (e.g. "ModelIntake triage")."""
    if isinstance(exc, pydantic.ValidationError):
        return _invalid(exc)
    if isinstance(exc, LeakError):
        return Failure(
            Reason.EVIDENCE_REFUSED,
            f"the sanitiser refused what the operator would write on the {exc.surface} "
            f"({_leak_summary(exc)})",
            "remove the flagged text (a URL, token, path, host name or secret) from the "
            f"intake or Benchmark it comes from; {RETRIES}",
        )
    if isinstance(exc, EvidenceError):
        return Failure(
            Reason.EVIDENCE_INCOMPLETE,
            f"the evidence for {subject} cannot be assembled: {exc}",
            f"check that the run's Jobs wrote their scorecards to the object store; {RETRIES}",
        )
    if isinstance(exc, ObjectStoreError | InvalidUri | botocore.exceptions.BotoCoreError):
        return _object_store(exc)
    if isinstance(exc, botocore.exceptions.ClientError):
        return _object_store(exc)
    if isinstance(exc, ApiException):
        return _api(exc, subject)
    if isinstance(exc, urllib3.exceptions.HTTPError | socket.timeout | ConnectionError):
        return Failure(
            Reason.API_UNAVAILABLE,
            f"the Kubernetes API server did not answer ({type(exc).__name__})",
            f"check the API server and the operator's network path to it; {RETRIES}",
        )
    return Failure(
        Reason.INTERNAL_ERROR,
        f"the operator failed unexpectedly on {subject} ({type(exc).__name__})",
        f"report it with the operator's log (kubectl logs of the operator Pod); {RETRIES}",
    )


def _invalid(exc: pydantic.ValidationError) -> Failure:
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(the object)'}: {e['msg']}"
        for e in errors[:SHOWN_ERRORS]
    )
    more = f" and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
    return Failure(
        Reason.STORED_OBJECT_INVALID,
        f"the stored {exc.title} no longer passes the operator's schema ({shown}{more}); it "
        "was stored before a rule that now refuses it, or by another operator version",
        f"re-apply the {exc.title} with the fields named corrected; {RETRIES}",
    )


def _leak_summary(exc: LeakError) -> str:
    kinds = sorted({finding.kind.value for _, finding in exc.leaks})
    where = sorted({path for path, _ in exc.leaks})[:SHOWN_ERRORS]
    return f"{len(exc.leaks)} leak(s): {', '.join(kinds)} at {', '.join(where)}"


def _object_store(exc: BaseException) -> Failure:
    if isinstance(exc, ObjectStoreUnavailable | botocore.exceptions.EndpointConnectionError):
        # ObjectStoreError, not the loop's own ObjectStoreUnavailable: a block recorded for a
        # raised error is unwrapped on the next look (loop.decide), the loop's is not.
        return Failure(
            Reason.OBJECT_STORE_ERROR,
            f"the object store cannot be used now: {_first_line(exc)}",
            "check the object store, its endpoint and the credentials in the intake's Secret; "
            + RETRIES,
        )
    return Failure(
        Reason.OBJECT_STORE_ERROR,
        f"the object store answered unexpectedly ({type(exc).__name__}: {_first_line(exc)})",
        f"check the bucket and the objects under the run's prefix; {RETRIES}",
    )


def _api(exc: ApiException, subject: str) -> Failure:
    code = f"{exc.status} {exc.reason or ''}".strip()
    if exc.status is not None and (exc.status >= 500 or exc.status == 429):
        return Failure(
            Reason.API_UNAVAILABLE,
            f"the Kubernetes API server failed a request for {subject} ({code})",
            f"check the API server's health and load; {RETRIES}",
        )
    return Failure(
        Reason.API_REFUSED,
        f"the Kubernetes API server refused a request for {subject} ({code})",
        "check the operator's RBAC (403), objects deleted meanwhile (404) or an admission "
        f"policy that refuses the operator's write (400/422); {RETRIES}",
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
