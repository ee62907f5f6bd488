"""The training data's place in a run's pin: its digest goes to status.pinned beside the
benchmark's and the intake spec's, comes back from status as it went, and a run whose pinned
intake spec names training data that its pin does not is refused before any byte is read; an
object outside the run's bucket is never read at the start (its launches are refused)."""

from __future__ import annotations

from typing import Any

import pytest

from modelsmith.api import samples
from modelsmith.api.intake import ModelIntake, TrainingDataSource
from modelsmith.api.run_status import PinnedInputs
from modelsmith.contract.layout import StoreLocation, for_run
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.run import pinning
from modelsmith.controllers.run.trainingdata import read_for_pin

DIGEST = "sha256:" + "ab" * 32


def _pin(training_data_digest: str | None) -> pinning.Pin:
    return pinning.Pin(
        intake_spec_digest="sha256:" + "01" * 32,
        benchmark_digest="sha256:" + "02" * 32,
        scenarios_digest="sha256:" + "03" * 32,
        pinned_at="2026-01-01T00:00:00Z",
        training_data_digest=training_data_digest,
    )


def _body(pin: pinning.Pin) -> dict[str, Any]:
    return {"status": {"pinned": pin.wire()}}


def test_the_training_data_digest_is_pinned_beside_the_others_and_read_back() -> None:
    pin = _pin(DIGEST)
    assert pin.wire()["trainingDataDigest"] == DIGEST
    assert pinning.pinned(_body(pin)) == pin
    assert PinnedInputs.model_validate(pin.wire()).training_data_digest == DIGEST


def test_a_run_without_training_data_pins_no_digest() -> None:
    pin = _pin(None)
    assert "trainingDataDigest" not in pin.wire()
    assert pinning.pinned(_body(pin)) == pin
    assert PinnedInputs.model_validate(pin.wire()).training_data_digest is None


def test_pinned_training_data_the_pin_does_not_name_is_refused() -> None:
    body = samples.intake("intake", "ns")
    layout = for_run(StoreLocation("bucket"), "ns", "run", "uid")
    assert (
        pinning.training_data(Store(), _pin(None), layout, ModelIntake.model_validate(body)) is None
    )
    body["spec"]["trainingData"] = {"configMapRef": {"name": "data", "key": "train.jsonl"}}
    with pytest.raises(pinning.PinMismatchError, match="trainingDataDigest"):
        pinning.training_data(Store(), _pin(None), layout, ModelIntake.model_validate(body))


def test_training_data_outside_the_runs_bucket_is_not_read_at_the_start() -> None:
    # The run's launches are refused (ExecutionTargetNotAllowed) before anything reads it.
    source = TrainingDataSource.model_validate({"s3": {"uri": "s3://another-team/data.jsonl"}})
    assert read_for_pin(Store(), source, "ns", "bucket") is None
    assert read_for_pin(Store(), None, "ns", "bucket") is None
