"""Store locations without a store: the ExecutionTarget's objectStore shape, the location a run
pins and a gate carries, the bucket rule for the URIs a run's Jobs read, and the operator's
read confinement to its own and its targets' buckets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelsmith.api import samples
from modelsmith.api.gate import PromotionGate
from modelsmith.api.store import ObjectStoreLocation
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.contract import readlimits
from modelsmith.contract.layout import StoreLocation, for_gate, for_run, run_key
from modelsmith.targets.rules import NOT_ALLOWED, bucket_refusal


def _target(**store: Any) -> ExecutionTargetSpec:
    return ExecutionTargetSpec.model_validate(
        {
            "namespaceSelector": {},
            "serviceAccountName": "trainer",
            "trainerImage": "t:1",
            "evaluatorImage": "e:1",
            **({"objectStore": store} if store else {}),
        }
    )


@pytest.mark.parametrize("prefix", ["", "teams/", "teams/support/", "a.b/c_d-e/"])
def test_a_prefix_is_empty_or_segments_ending_in_a_slash(prefix: str) -> None:
    assert ObjectStoreLocation(prefix=prefix).prefix == prefix


@pytest.mark.parametrize("prefix", ["teams", "/teams/", "teams//", "a/../b/", "a..b/", "../"])
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError):
        ObjectStoreLocation(prefix=prefix)


def test_the_target_location_defaults_to_the_operators_bucket() -> None:
    assert StoreLocation.of_target(_target(), "ops") == StoreLocation("ops", "")
    assert StoreLocation.of_target(_target(prefix="t/"), "ops") == StoreLocation("ops", "t/")
    assert StoreLocation.of_target(_target(bucket="team-b", prefix="t/"), "ops") == (
        StoreLocation("team-b", "t/")
    )
    assert StoreLocation.of_target(None, "ops") == StoreLocation("ops")


def test_a_run_keeps_the_location_its_status_pinned() -> None:
    pinned = StoreLocation.pinned({"store": {"bucket": "team-b", "prefix": "t/"}})
    assert pinned == StoreLocation("team-b", "t/")
    assert StoreLocation.pinned({}) is None and StoreLocation.pinned(None) is None


def test_a_gate_finds_its_runs_prefix_from_its_own_spec() -> None:
    run = for_run(StoreLocation("team-b", "t/"), "ns", "support-triage-run-1", "uid-1")
    body = samples.gate(namespace="ns")
    body["spec"]["store"] = {"bucket": "team-b", "prefix": "t/", "runKey": run.key}
    assert for_gate(PromotionGate.model_validate(body), "ops") == run
    assert run.key == run_key("ns", "uid-1")


def test_a_gate_staged_before_store_locations_reads_the_old_name_keyed_prefix() -> None:
    legacy = for_gate(PromotionGate.model_validate(samples.gate(namespace="ns")), "ops")
    assert legacy.evidence("bundle.json") == (
        "s3://ops/runs/ns/support-triage-run-1/evidence/bundle.json"
    )


def test_uris_outside_the_pinned_bucket_are_refused_naming_what_and_which_rule() -> None:
    ok = {"the intake's base model": "s3://team-b/models/base/", "hub": "hf://org/model"}
    assert bucket_refusal("gpu-a", "team-b", ok) is None
    refused = bucket_refusal("gpu-a", "team-b", {"the intake's base model": "s3://other/m/"})
    assert refused is not None and refused.reason == NOT_ALLOWED
    assert refused.message.startswith("the intake's base model is in the bucket other")
    assert "ExecutionTarget gpu-a" in refused.message and "bucket team-b" in refused.message


def test_reads_are_confined_to_the_operators_and_the_targets_buckets() -> None:
    asked: list[str] = []

    def targets() -> frozenset[str]:
        asked.append("listed")
        return frozenset({"team-b"})

    confined = readlimits.Confinement("ops", targets)
    assert confined.readable("s3://ops/x.json").bucket == "ops"
    assert asked == []  # the operator's own bucket needs no listing
    assert confined.readable("s3://team-b/x.json").bucket == "team-b"
    with pytest.raises(readlimits.ForeignBucket, match="bucket customer-data"):
        confined.readable("s3://customer-data/x.json")
