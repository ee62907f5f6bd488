"""What every Job entry point shares: spec loading, exit codes, the termination message, CPU
threads, and the multi-GPU launcher."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from modelsmith.contract import s3, storecredential
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.jobspec import ModelRef, Termination, TrainSpec
from modelsmith.contract.objectstore import Store
from modelsmith.loop import contamination_ids
from modelsmith_trainer import launch
from modelsmith_trainer.runtime import (
    JobFailure,
    cgroup_cpu_quota,
    cpu_threads,
    encode_termination,
    load_spec,
    parse_args,
    run_job,
)


@pytest.fixture
def termination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "termination-log"
    monkeypatch.setenv("MODELSMITH_TERMINATION_LOG", str(path))
    monkeypatch.delenv("RANK", raising=False)
    return path


def test_success_writes_the_summary(termination: Path) -> None:
    assert run_job("test", lambda: {"score": 0.75}) == 0
    message = json.loads(termination.read_text())
    assert message["status"] == "succeeded" and message["exit_code"] == 0
    assert message["details"]["score"] == 0.75


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (JobFailure(ExitCode.EMPTY_SPLIT, "nothing to train on"), ExitCode.EMPTY_SPLIT),
        (s3.ObjectStoreUnavailable("get: unreachable"), ExitCode.OBJECT_STORE_UNAVAILABLE),
        (RuntimeError("secret detail /home/x"), ExitCode.UNEXPECTED),
    ],
)
def test_failures_map_to_exit_codes(termination: Path, error: Exception, code: ExitCode) -> None:
    def body() -> dict[str, object]:
        raise error

    assert run_job("test", body) == code
    message = json.loads(termination.read_text())
    assert (message["status"], message["exit_code"], message["reason"]) == (
        "failed",
        int(code),
        code.reason,
    )
    assert "/home/x" not in message["message"]  # only the exception type leaves the pod log


def test_a_job_refuses_to_run_with_keys_the_operator_did_not_mint(
    termination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    minted = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "T"}
    for name, value in minted.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(storecredential.ENV, storecredential.digest(minted))
    ran: list[bool] = []
    assert run_job("test", lambda: ran.append(True) or {}) == 0 and ran == [True]

    # Its Secret made again under the same name with someone else's keys: nothing runs.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "theirs")
    assert run_job("test", lambda: ran.append(True) or {}) == ExitCode.FOREIGN_CREDENTIAL
    assert ran == [True]
    message = json.loads(termination.read_text())
    assert message["reason"] == "ForeignCredential"
    assert "theirs" not in termination.read_text()


def test_a_second_process_never_writes(termination: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    assert run_job("test", lambda: {}) == 0
    assert not termination.exists()


def test_the_message_always_fits_4kb_and_parses() -> None:
    huge = Termination(
        status="failed",
        exit_code=6,
        reason="HeldoutContamination",
        message="m" * 5000,
        contaminated=True,
        details={"overlaps": ["x" * 100] * 100, "threshold": 0.5},
    )
    data = encode_termination(huge)
    assert len(data) <= 4096
    decoded = json.loads(data)
    assert decoded["contaminated"] is True and decoded["exit_code"] == 6
    assert decoded["details_truncated"] is True and "overlaps" not in decoded["details"]


def test_the_operator_reads_the_overlapping_ids_from_the_message() -> None:
    # The contract between the trainer's guard and the run's Contamination block.
    overlaps = [
        {"scenario_id": f"held-{i:02d}", "fraction": 1.0, "part": "prompt"} for i in range(40)
    ]
    data = encode_termination(
        Termination(
            status="failed",
            exit_code=6,
            reason="HeldoutContamination",
            message="the training material reproduces 40 held-out scenario(s)",
            contaminated=True,
            details={"overlaps": overlaps, "threshold": 0.5},
        )
    )
    ids = contamination_ids({"message": data.decode()})
    assert ids == tuple(f"held-{i:02d}" for i in range(40))


def test_spec_from_a_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text("{}")
    args = parse_args(["--spec-file", str(spec_file)], "t", "test")
    with pytest.raises(JobFailure) as caught:
        load_spec(Store(), args, TrainSpec)
    assert caught.value.code == ExitCode.BAD_SPEC
    assert "base_model: Field required" in caught.value.message
    missing = argparse.Namespace(spec_json=None, spec=None, spec_file=tmp_path / "absent.json")
    with pytest.raises(JobFailure):
        load_spec(Store(), missing, TrainSpec)


def test_spec_in_the_arguments_as_the_operator_passes_it() -> None:
    spec = TrainSpec(
        iteration=2,
        seed=7,
        base_model=ModelRef(uri="s3://modelsmith/models/base/", label="base"),
        train_data="s3://modelsmith/runs/ns/r/iter-2/train.jsonl",
        heldout_fingerprint="s3://modelsmith/runs/ns/r/iter-2/heldout-fingerprint.json",
        output="s3://modelsmith/runs/ns/r/iter-2/candidate/",
        label="r-i2",
    )
    args = parse_args(["--spec-json", spec.model_dump_json()], "t", "test")
    assert load_spec(Store(), args, TrainSpec) == spec
    # A malformed document is a bad spec, named by field and never quoted.
    broken = parse_args(["--spec-json", '{"iteration": "secret-value"}'], "t", "test")
    with pytest.raises(JobFailure) as caught:
        load_spec(Store(), broken, TrainSpec)
    assert caught.value.code == ExitCode.BAD_SPEC
    assert "iteration" in caught.value.message and "secret-value" not in caught.value.message
    with pytest.raises(JobFailure) as caught:
        load_spec(Store(), parse_args(["--spec-json", "{not json"], "t", "test"), TrainSpec)
    assert caught.value.code == ExitCode.BAD_SPEC


def test_spec_uri_must_be_s3() -> None:
    args = argparse.Namespace(spec_json=None, spec="/etc/spec.json", spec_file=None)
    with pytest.raises(JobFailure) as caught:
        load_spec(Store(), args, TrainSpec)
    assert caught.value.code == ExitCode.BAD_SPEC


def test_cpu_threads_follow_override_request_and_quota() -> None:
    assert cpu_threads({"MODELSMITH_TORCH_THREADS": "3"}) == 3
    assert cpu_threads({"MODELSMITH_CPU_REQUEST": "1"}, quota=8) == 1
    assert cpu_threads({}, quota=1) == 1
    assert cpu_threads({"MODELSMITH_CPU_REQUEST": "junk"}, quota=1) == 1
    # Processes torchrun starts on one node share its CPUs.
    assert cpu_threads({"LOCAL_WORLD_SIZE": "2"}, quota=64) == max(1, cpu_threads({}, 64) // 2)
    assert cpu_threads({"LOCAL_WORLD_SIZE": "4", "MODELSMITH_CPU_REQUEST": "2"}, quota=8) == 1


def test_cgroup_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2


def test_one_process_unless_several_gpus() -> None:
    assert launch.launch_command(["--spec", "s3://b/k"], {}) is None
    assert launch.launch_command(["--spec", "s3://b/k"], {"MODELSMITH_GPU_COUNT": "1"}) is None
    command = launch.launch_command(["--spec", "s3://b/k"], {"MODELSMITH_GPU_COUNT": "4"})
    assert command is not None
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[-3:] == ["modelsmith_trainer", "--spec", "s3://b/k"]
    child = {"MODELSMITH_GPU_COUNT": "4", "LOCAL_RANK": "0"}
    assert launch.launch_command(["--spec", "s3://b/k"], child) is None


def test_the_launcher_passes_the_childs_exit_code_on(termination: Path) -> None:
    termination.write_text(json.dumps({"exit_code": 4}))
    assert launch.recorded_exit_code() == 4
    termination.write_text("garbage")
    assert launch.recorded_exit_code() is None
