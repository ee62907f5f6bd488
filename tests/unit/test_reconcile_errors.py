"""Each failure class a reconcile can raise, through the one rule (modelsmith.runtime.errors):
a specific reason, a message naming the cause (never the offending value), a next action, and
a retry delay that grows."""

from __future__ import annotations

import itertools

import botocore.exceptions
import pydantic
import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from modelsmith.api.intake import ModelIntake
from modelsmith.api.samples import intake
from modelsmith.contract.readlimits import ObjectKind, ObjectTooLarge
from modelsmith.contract.s3 import ObjectNotFound, ObjectStoreUnavailable
from modelsmith.evidence.bundle import EvidenceError
from modelsmith.evidence.sanitiser import Sanitiser
from modelsmith.loop import Reason
from modelsmith.loop.state import BLOCK_KINDS, RECONCILE_ERRORS, BlockKind
from modelsmith.runtime.errors import (
    FIRST_RETRY_SECONDS,
    LONGEST_RETRY_SECONDS,
    classify,
    retry_delay,
)

SUBJECT = "IterationRun triage"
TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def _stored_intake_error() -> pydantic.ValidationError:
    body = intake("triage", "team")
    body["spec"]["baseModel"]["uri"] = "hf://x"
    with pytest.raises(pydantic.ValidationError) as caught:
        ModelIntake.model_validate(body)
    return caught.value


def _leak() -> Exception:
    try:
        Sanitiser().assert_clean({"rollback": f"see https://wiki.corp.example/runbook {TOKEN}"})
    except ValueError as exc:
        return exc
    raise AssertionError("the sanitiser found nothing")


CASES = [
    (_stored_intake_error(), Reason.STORED_OBJECT_INVALID, "stored ModelIntake", "re-apply"),
    (_leak(), Reason.EVIDENCE_REFUSED, "sanitiser refused", "remove the flagged text"),
    (
        EvidenceError("the scorecard of the baseline (iteration 0) is missing"),
        Reason.EVIDENCE_INCOMPLETE,
        "scorecard of the baseline",
        "scorecards",
    ),
    (
        ObjectStoreUnavailable("connection refused"),
        Reason.OBJECT_STORE_ERROR,
        "cannot be used now",
        "credentials",
    ),
    (
        ObjectTooLarge(ObjectKind.BUNDLE, 10, 20),
        Reason.OBJECT_STORE_ERROR,
        "evidence bundle is 20 bytes",
        "object store",
    ),
    (ObjectNotFound("no such key"), Reason.OBJECT_STORE_ERROR, "ObjectNotFound", "bucket"),
    (
        botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied"}}, "PutObject"),
        Reason.OBJECT_STORE_ERROR,
        "AccessDenied",
        "bucket",
    ),
    (
        ApiException(status=403, reason="Forbidden"),
        Reason.API_REFUSED,
        "refused a request for IterationRun triage (403 Forbidden)",
        "RBAC",
    ),
    (
        ApiException(status=422, reason="Unprocessable Entity"),
        Reason.API_REFUSED,
        "422",
        "admission policy",
    ),
    (
        ApiException(status=503, reason="Service Unavailable"),
        Reason.API_UNAVAILABLE,
        "503 Service Unavailable",
        "health",
    ),
    (
        urllib3.exceptions.ReadTimeoutError(None, "/apis", "read timed out"),  # type: ignore[arg-type]
        Reason.API_UNAVAILABLE,
        "did not answer (ReadTimeoutError)",
        "network",
    ),
    (TimeoutError("timed out"), Reason.API_UNAVAILABLE, "did not answer", "network"),
    (KeyError("phase"), Reason.INTERNAL_ERROR, "failed unexpectedly on IterationRun triage", "log"),
]


@pytest.mark.parametrize(("exc", "reason", "cause", "action"), CASES)
def test_each_failure_class_gets_its_reason_cause_and_next_action(
    exc: BaseException, reason: Reason, cause: str, action: str
) -> None:
    failure = classify(exc, SUBJECT)
    assert failure.reason is reason
    assert cause in failure.message
    assert action in failure.next_action
    assert "retries on its own" in failure.next_action
    assert failure.text.startswith(failure.message) and "Next: " in failure.text
    assert failure.kind is BLOCK_KINDS[reason]


def test_a_stored_object_that_no_longer_validates_names_the_field_not_the_value() -> None:
    failure = classify(_stored_intake_error(), SUBJECT)
    assert "spec.baseModel.uri" in failure.message
    assert "hf://x" not in failure.text


def test_a_sanitiser_refusal_names_the_kinds_and_places_never_the_text() -> None:
    failure = classify(_leak(), SUBJECT)
    assert "$.rollback" in failure.message
    assert TOKEN not in failure.text and "wiki.corp.example" not in failure.text
    assert failure.kind is BlockKind.QUALITY


def test_internal_error_is_the_last_resort_only() -> None:
    reasons = {classify(exc, SUBJECT).reason for exc, *_ in CASES[:-1]}
    assert Reason.INTERNAL_ERROR not in reasons


def test_every_reason_it_gives_is_one_the_loop_unwraps() -> None:
    """A block recorded for a raised error is no loop transition: the next look decides again
    from where the run was (never the loop's own ObjectStoreUnavailable, which it resumes from
    with a transition of its own)."""
    for exc, *_ in CASES:
        reason = classify(exc, SUBJECT).reason
        assert reason in RECONCILE_ERRORS
        assert reason in BLOCK_KINDS


def test_the_retry_delay_grows_to_a_bound() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[0] == FIRST_RETRY_SECONDS
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[1] == 2 * delays[0] and delays[2] == 2 * delays[1]
    assert delays[-1] == LONGEST_RETRY_SECONDS
    assert retry_delay(10_000) == LONGEST_RETRY_SECONDS
