"""Every status write passes the sanitiser: free text is redacted with a placeholder naming the
kind removed; names, digests, enums, timestamps, identities and the run's memory stay as they
are; a status that needed redacting costs no write on the next reconcile."""

from __future__ import annotations

from typing import Any

from modelsmith.runtime.status import merge_patch
from modelsmith.runtime.statusguard import CleanStatus, clean_status

DIGEST = "sha256:" + "9f" * 32
KEY = ("modelintakes", "team-a", "support-x7k2p")


def _intake_status() -> dict[str, Any]:
    return {
        "owner": "ghp_0123456789abcdefghijABCDEFGHIJklmnop",
        "rollbackExpectation": "connect to postgres://admin:hunter2@db01.acme:5432/serving",
        "benchmark": {"name": "support-bench-x7k2p", "version": "v3", "digest": DIGEST},
        "baseModelLabel": "qwen2.5-0.5b-instruct",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Validated",
                "message": "Benchmark support-bench-x7k2p checked from gpu-node-17",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }


def test_free_text_is_redacted_by_kind_and_the_rest_kept() -> None:
    cleaned = clean_status(_intake_status(), KEY)
    assert cleaned["owner"] == "[redacted:secret]"
    assert cleaned["rollbackExpectation"] == "connect to [redacted:url]"
    assert cleaned["benchmark"] == _intake_status()["benchmark"]
    assert cleaned["baseModelLabel"] == "qwen2.5-0.5b-instruct"
    # The benchmark's own name is allowed where status mentions it; the node is not.
    message = cleaned["conditions"][0]["message"]
    assert message == "Benchmark support-bench-x7k2p checked from [redacted:node]"
    assert cleaned["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_the_objects_own_name_identities_and_memory_are_kept() -> None:
    status = {
        "nextAction": "Review and approve the PromotionGate support-x7k2p",
        "memory": {"retryToken": "AKIAIOSFODNN7EXAMPLE", "ledgerSequence": 4},
        "capacity": {"reason": "0/3 nodes are available: worker-3 Insufficient nvidia.com/gpu."},
    }
    cleaned = clean_status(status, ("iterationruns", "team-a", "support-x7k2p"))
    assert cleaned["nextAction"] == status["nextAction"]
    assert cleaned["memory"] == status["memory"]
    assert cleaned["capacity"]["reason"] == (
        "0/3 nodes are available: [redacted:node] Insufficient nvidia.com/gpu."
    )
    gate = {"approvals": [{"role": "domain-owner", "user": "alice@example.com", "reason": ""}]}
    gate["approvalsSummary"] = "1/2 (alice@example.com)"  # type: ignore[assignment]
    assert clean_status(gate, ("promotiongates", "team-a", "g")) == gate


def test_a_redacted_status_costs_no_second_write() -> None:
    patch = merge_patch({}, _intake_status(), KEY)
    assert isinstance(patch, CleanStatus)
    assert "hunter2" not in str(patch) and "ghp_" not in str(patch)
    stored = patch  # what the API server now holds
    assert merge_patch(stored, _intake_status(), KEY) == {}
    # Cleaning is idempotent and a cleaned patch is passed through as it is.
    assert clean_status(patch, KEY) is patch


def test_the_bundle_and_gate_carry_the_intakes_free_text_cleaned() -> None:
    from modelsmith.api import samples
    from modelsmith.controllers.run.staging import shared_intake
    from modelsmith.evidence.sanitiser import Sanitiser

    _, intake, _, _ = samples.parsed()
    spec = intake.spec
    leaky = intake.model_copy(
        update={
            "spec": spec.model_copy(
                update={
                    "owner": "ops via https://wiki.acme.internal/ml",
                    "rollback": spec.rollback.model_copy(
                        update={"expectation": "Restore it; DB_PASSWORD Winter2025! on db01.acme"}
                    ),
                }
            )
        }
    )
    shared = shared_intake(leaky, Sanitiser())
    assert shared.spec.owner == "ops via [redacted:url]"
    assert shared.spec.rollback.expectation == (
        "Restore it; DB_PASSWORD [redacted:secret] on [redacted:host]"
    )
    assert shared_intake(intake, Sanitiser()).spec == intake.spec  # clean text is kept
