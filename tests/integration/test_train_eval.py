"""The trainer and evaluator images for real, on the tiny model, against the test bed's object
store: the images' entry points run as subprocesses with the standard AWS environment, exactly
as the node agent runs a Job's container.

The quickstart benchmark, the tiny model built from it, one LoRA training iteration on the train
split: the base scores near zero, the candidate clears the quickstart's 0.6 threshold on the
held-out scenarios, and every input failure exits with its contract code leaving nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tiny_model
from modelsmith.contract import integrity, objectstore
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.heldout import fingerprint
from modelsmith.contract.jobspec import EvalSpec, ModelRef, TrainSpec
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.recipe import Recipe
from modelsmith.contract.scenario import Scenario, Split
from testbed.objectstore import ObjectStore

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = objectstore.Store()

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BENCHMARK = REPO / "examples/quickstart/benchmark.yaml"
THRESHOLD = 0.6  # the quickstart intake's promotion threshold
RECIPE = Recipe(
    method="lora",
    rank=8,
    alpha=16,
    dropout=0.1,
    steps=100,
    learning_rate=1e-3,
    batch_size=8,
    max_seq_length=256,
    seed=0,
)


@dataclass
class Quickstart:
    store: ObjectStore
    scenarios: list[Scenario]
    run_prefix: str
    base: ModelRef
    model_dir: Path
    work: Path

    def uri(self, key: str) -> str:
        return f"{self.run_prefix}{key}"

    def env(self) -> dict[str, str]:
        # One math thread: the test shares two cores with the object store (and, in `make
        # test`, the control plane), and oversubscribed threads are several times slower.
        return {
            **os.environ,
            **self.store.env(),
            "PYTHONUNBUFFERED": "1",
            "MODELSMITH_TORCH_THREADS": "1",
        }

    def train_split(self) -> list[Scenario]:
        return [s for s in self.scenarios if s.split == Split.TRAIN]

    def heldout_split(self) -> list[Scenario]:
        return [s for s in self.scenarios if s.split == Split.HELDOUT]


@dataclass
class JobRun:
    code: int
    termination: dict[str, Any]
    log: str


def train_lines(scenarios: list[Scenario], weights: dict[str, float] | None = None) -> bytes:
    """train.jsonl as the operator writes it."""
    rows = [
        {
            "id": s.id,
            "text_prompt": render_prompt(s),
            "reference": s.reference,
            "weight": (weights or {}).get(s.id, 1.0),
        }
        for s in scenarios
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


def scenario_lines(scenarios: list[Scenario]) -> bytes:
    return "\n".join(s.model_dump_json(by_alias=True) for s in scenarios).encode()


@pytest.fixture(scope="module")
def quickstart(
    object_store: ObjectStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Quickstart]:
    saved = {k: os.environ.get(k) for k in object_store.env()}
    os.environ.update(object_store.env())  # for the objectstore helpers in this process
    work = tmp_path_factory.mktemp("train-eval")
    scenarios = tiny_model.load_scenarios(BENCHMARK)
    model_dir = tiny_model.build(scenarios, work / "tiny-support-base")
    token = secrets.token_hex(4)
    bucket = object_store.bucket
    base_uri = f"s3://{bucket}/models/tiny-support-base-{token}/"
    STORE.publish_dir(model_dir, base_uri)
    run_prefix = f"s3://{bucket}/runs/test-{token}/quickstart/"
    qs = Quickstart(
        store=object_store,
        scenarios=scenarios,
        run_prefix=run_prefix,
        base=ModelRef(uri=base_uri, label="tiny-support-base"),
        model_dir=model_dir,
        work=work,
    )
    STORE.put_bytes(qs.uri("benchmark/scenarios.jsonl"), scenario_lines(scenarios))
    STORE.put_bytes(qs.uri("iter-1/train.jsonl"), train_lines(qs.train_split()))
    STORE.put_json(
        qs.uri("iter-1/heldout-fingerprint.json"),
        fingerprint(qs.heldout_split()).model_dump(mode="json"),
    )
    yield qs
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run_job(qs: Quickstart, module: str, spec: TrainSpec | EvalSpec, name: str) -> JobRun:
    spec_uri = qs.uri(f"specs/{name}.json")
    STORE.put_json(spec_uri, spec.model_dump(mode="json"))
    return run_module(qs, module, ["--spec", spec_uri], name)


def run_module(
    qs: Quickstart, module: str, args: list[str], name: str, env: dict[str, str] | None = None
) -> JobRun:
    termination = qs.work / f"{name}.termination"
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**(env or qs.env()), "MODELSMITH_TERMINATION_LOG": str(termination)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if os.environ.get("MODELSMITH_TEST_SHOW_JOB_LOGS"):
        print(f"----- {name} (exit {completed.returncode}) -----\n{completed.stderr}")
    message = json.loads(termination.read_text()) if termination.exists() else {}
    if termination.exists():
        assert len(termination.read_bytes()) <= 4096
    return JobRun(completed.returncode, message, completed.stderr)


def eval_spec(qs: Quickstart, iteration: int, adapter: str | None, output: str) -> EvalSpec:
    return EvalSpec(
        iteration=iteration,
        base_model=qs.base,
        adapter=adapter,
        scenarios=qs.uri("benchmark/scenarios.jsonl"),
        output=output,
        batch_size=8,
        max_new_tokens=24,
        gpu_hourly_price=2.5,
        cluster_dimensions=("capability", "risk"),
    )


def train_spec(qs: Quickstart, output: str, **changes: Any) -> TrainSpec:
    fields: dict[str, Any] = {
        "iteration": 1,
        "seed": 0,
        "base_model": qs.base,
        "train_data": qs.uri("iter-1/train.jsonl"),
        "heldout_fingerprint": qs.uri("iter-1/heldout-fingerprint.json"),
        "recipe": RECIPE,
        "output": output,
        "progress_every": 10,
    }
    return TrainSpec(**(fields | changes))


def keys_under(prefix: str) -> list[str]:
    return [info.relative_to(prefix) for info in STORE.list_objects(prefix)]


def assert_no_text(document: Any, scenarios: list[Scenario]) -> None:
    flat = json.dumps(document)
    for s in scenarios:
        assert s.prompt not in flat
        for value in s.inputs.values():
            # Short inputs are labels ("chat") that ids may contain; tickets are what matters.
            assert len(value) < 16 or value not in flat
        if s.reference:
            assert s.reference not in flat


@pytest.fixture(scope="module")
def baseline(quickstart: Quickstart) -> tuple[JobRun, dict[str, Any], list[dict[str, Any]]]:
    output = quickstart.uri("iter-0/eval/")
    job = run_job(
        quickstart, "modelsmith_evaluator", eval_spec(quickstart, 0, None, output), "eval-0"
    )
    assert job.code == 0, job.log
    scorecard = STORE.get_json(output + "scorecard.json")
    results = [
        json.loads(line) for line in STORE.get_bytes(output + "results.jsonl").decode().splitlines()
    ]
    return job, scorecard, results


@pytest.fixture(scope="module")
def trained(quickstart: Quickstart) -> tuple[JobRun, str]:
    output = quickstart.uri("iter-1/candidate/")
    job = run_job(quickstart, "modelsmith_trainer", train_spec(quickstart, output), "train-1")
    assert job.code == 0, job.log
    return job, output


@pytest.fixture(scope="module")
def candidate(quickstart: Quickstart, trained: tuple[JobRun, str]) -> tuple[JobRun, dict[str, Any]]:
    _, output = trained
    eval_output = quickstart.uri("iter-1/eval/")
    spec = eval_spec(quickstart, 1, output + "adapter/", eval_output)
    job = run_job(quickstart, "modelsmith_evaluator", spec, "eval-1")
    assert job.code == 0, job.log
    return job, STORE.get_json(eval_output + "scorecard.json")


def test_baseline_scores_low_and_scorecard_is_sanitised(
    quickstart: Quickstart, baseline: tuple[JobRun, dict[str, Any], list[dict[str, Any]]]
) -> None:
    job, scorecard, results = baseline
    assert scorecard["schema"] == "modelsmith.io/scorecard/v1"
    assert scorecard["iteration"] == 0
    assert scorecard["model_label"] == "tiny-support-base"
    assert scorecard["overall"]["total"] == 24
    assert scorecard["overall"]["score"] <= 0.1  # random weights: nothing passes by luck
    assert scorecard["splits"]["heldout"]["total"] == 6
    assert set(scorecard["by_dimension"]) == {"capability", "risk", "operatorLens", "outcomeType"}
    clusters = scorecard["failure_clusters"]
    assert clusters and set(clusters[0]["dimensions"]) == {"capability", "risk"}
    failures = [c["failures"] for c in clusters]
    assert failures == sorted(failures, reverse=True)
    assert scorecard["latency_ms"]["p50"] > 0
    assert scorecard["latency_ms"]["p95"] >= scorecard["latency_ms"]["p50"]
    assert scorecard["tokens"]["prompt"] > 0 and scorecard["tokens"]["generated"] > 0
    cost = scorecard["cost"]
    assert (cost["device"], cost["per_decision"]) == ("cpu", 0.0)
    assert "CPU" in cost["note"] and cost["device_seconds"] > 0
    assert_no_text(scorecard, quickstart.scenarios)
    # The answers themselves stay in results.jsonl, inside the boundary.
    assert len(results) == 24 and all("completion" in r for r in results)
    assert job.termination["status"] == "succeeded"
    assert job.termination["details"]["total"] == 24
    # The trusted channel: the digest of the scorecard as written (modelsmith.contract.integrity).
    stored = STORE.get_bytes(quickstart.uri("iter-0/eval/") + "scorecard.json")
    assert job.termination["digests"] == {"scorecard": integrity.sha256(stored)}


def test_training_writes_a_small_adapter_with_lineage_and_progress(
    quickstart: Quickstart, trained: tuple[JobRun, str]
) -> None:
    job, output = trained
    keys = keys_under(output)
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"} <= set(keys)
    assert {"lineage.json", "progress.json", "result.json"} <= set(keys)
    assert not any(k.startswith("adapter/README") for k in keys)
    adapter_bytes = next(
        i.size for i in STORE.list_objects(output) if i.key.endswith(".safetensors")
    )
    base_bytes = (quickstart.model_dir / "model.safetensors").stat().st_size
    assert adapter_bytes < base_bytes / 5, (adapter_bytes, base_bytes)

    progress = STORE.get_json(output + "progress.json")
    assert (progress["step"], progress["total"], progress["percent"]) == (100, 100, 100.0)
    assert progress["eta_seconds"] == 0.0 and progress["loss"] is not None

    result = STORE.get_json(output + "result.json")
    assert result["steps"] == 100 and result["examples"] == 18
    assert result["final_loss"] < result["first_loss"]
    assert result["artefact_bytes"] == adapter_bytes and result["heldout_checked"] == 6

    lineage = STORE.get_json(output + "lineage.json")
    assert lineage["base_model"]["label"] == "tiny-support-base"
    assert lineage["base_model"]["digest"].startswith("sha256:")
    assert lineage["recipe"]["rank"] == 8 and lineage["training_data"]["examples"] == 18
    assert lineage["init_adapter"] is None
    assert "s3://" not in json.dumps(lineage) and str(quickstart.work) not in json.dumps(lineage)
    adapter_config = json.loads(STORE.get_bytes(output + "adapter/adapter_config.json"))
    assert adapter_config["base_model_name_or_path"] == "tiny-support-base"

    assert job.termination["status"] == "succeeded"
    assert job.termination["details"]["contaminated"] is False
    assert job.termination["digests"] == {
        "lineage": integrity.sha256(STORE.get_bytes(output + "lineage.json")),
        "result": integrity.sha256(STORE.get_bytes(output + "result.json")),
    }
    # Staged uploads are cleaned up.
    assert keys_under(f"s3://{quickstart.store.bucket}/{objectstore.STAGING_PREFIX}") == []


def test_candidate_clears_the_threshold_on_heldout_scenarios(
    baseline: tuple[JobRun, dict[str, Any], list[dict[str, Any]]],
    candidate: tuple[JobRun, dict[str, Any]],
) -> None:
    _, base_card, _ = baseline
    _, card = candidate
    assert card["model_label"] == "tiny-support-base-iter-1"
    assert card["splits"]["heldout"]["score"] >= THRESHOLD, card["scenarios"]
    assert card["overall"]["score"] > base_card["overall"]["score"] + 0.5


def test_training_continues_from_an_accepted_adapter(
    quickstart: Quickstart, trained: tuple[JobRun, str]
) -> None:
    _, first = trained
    output = quickstart.uri("iter-2/candidate/")
    spec = train_spec(
        quickstart,
        output,
        iteration=2,
        seed=2,
        init_adapter=first + "adapter/",
        recipe=RECIPE.model_copy(update={"steps": 4, "seed": 2}),
        progress_every=2,
    )
    job = run_job(quickstart, "modelsmith_trainer", spec, "train-2")
    assert job.code == 0, job.log
    before = STORE.get_json(first + "lineage.json")
    lineage = STORE.get_json(output + "lineage.json")
    assert lineage["label"] == "tiny-support-base-iter-2"
    # An adapter has no hub revision; only a base model on a hub resolves one.
    assert lineage["init_adapter"] == {
        "label": "tiny-support-base-iter-1",
        "digest": before["artefact_digest"],
        "revision": None,
    }
    assert lineage["artefact_digest"] != before["artefact_digest"]
    assert lineage["base_model"] == before["base_model"]


def test_contaminated_training_data_is_refused(quickstart: Quickstart) -> None:
    leaked = quickstart.train_split() + quickstart.heldout_split()[:1]
    STORE.put_bytes(quickstart.uri("leak/train.jsonl"), train_lines(leaked))
    output = quickstart.uri("leak/candidate/")
    spec = train_spec(quickstart, output, train_data=quickstart.uri("leak/train.jsonl"))
    job = run_job(quickstart, "modelsmith_trainer", spec, "train-leak")
    assert job.code == ExitCode.CONTAMINATION, job.log
    assert job.termination["contaminated"] is True
    assert job.termination["reason"] == "HeldoutContamination"
    flagged = [o["scenario_id"] for o in job.termination["details"]["overlaps"]]
    assert flagged == [quickstart.heldout_split()[0].id]
    assert keys_under(output) == []


def test_missing_model_exits_3(quickstart: Quickstart) -> None:
    missing = ModelRef(uri=quickstart.uri("no-such-model/"), label="missing")
    output = quickstart.uri("missing/candidate/")
    job = run_job(
        quickstart, "modelsmith_trainer", train_spec(quickstart, output, base_model=missing), "m"
    )
    assert job.code == ExitCode.MODEL_MISSING, job.log
    assert job.termination["reason"] == "ModelMissing"
    assert "s3://" not in job.termination["message"]
    assert keys_under(output) == []


def test_corrupt_weights_exit_4(quickstart: Quickstart) -> None:
    corrupt = quickstart.uri("corrupt-model/")
    STORE.publish_dir(quickstart.model_dir, corrupt)
    good = (quickstart.model_dir / "model.safetensors").read_bytes()
    STORE.put_bytes(corrupt + "model.safetensors", b"\x00" * 8 + good[8:4096])
    output = quickstart.uri("corrupt/eval/")
    spec = eval_spec(quickstart, 0, None, output).model_copy(
        update={"base_model": ModelRef(uri=corrupt, label="corrupt")}
    )
    job = run_job(quickstart, "modelsmith_evaluator", spec, "eval-corrupt")
    assert job.code == ExitCode.MODEL_CORRUPT, job.log
    assert job.termination["reason"] == "ModelCorrupt"
    assert keys_under(output) == []


def test_empty_split_exits_5(quickstart: Quickstart) -> None:
    STORE.put_bytes(quickstart.uri("empty/train.jsonl"), b"\n")
    output = quickstart.uri("empty/candidate/")
    spec = train_spec(quickstart, output, train_data=quickstart.uri("empty/train.jsonl"))
    job = run_job(quickstart, "modelsmith_trainer", spec, "train-empty")
    assert job.code == ExitCode.EMPTY_SPLIT, job.log
    assert keys_under(output) == []


def test_unknown_criterion_exits_7(quickstart: Quickstart) -> None:
    docs = [json.loads(s.model_dump_json(by_alias=True)) for s in quickstart.scenarios]
    docs[3]["fail"] = [{"kind": "sentiment", "value": "negative"}]
    STORE.put_bytes(
        quickstart.uri("bad-criterion/scenarios.jsonl"),
        "\n".join(json.dumps(d) for d in docs).encode(),
    )
    output = quickstart.uri("bad-criterion/eval/")
    spec = eval_spec(quickstart, 0, None, output).model_copy(
        update={"scenarios": quickstart.uri("bad-criterion/scenarios.jsonl")}
    )
    job = run_job(quickstart, "modelsmith_evaluator", spec, "eval-criterion")
    assert job.code == ExitCode.BAD_CRITERION, job.log
    assert job.termination["reason"] == "MalformedCriterion"
    assert keys_under(output) == []


def test_bad_spec_exits_2(quickstart: Quickstart) -> None:
    spec_uri = quickstart.uri("specs/bad.json")
    STORE.put_json(spec_uri, {"iteration": 1, "recipe": {"method": "magic"}})
    job = run_module(quickstart, "modelsmith_trainer", ["--spec", spec_uri], "bad-spec")
    assert job.code == ExitCode.BAD_SPEC, job.log
    assert "recipe.method" in job.termination["message"]
    missing = run_module(
        quickstart, "modelsmith_evaluator", ["--spec", quickstart.uri("specs/none.json")], "none"
    )
    assert missing.code == ExitCode.BAD_SPEC, missing.log


def test_unreachable_object_store_exits_8(quickstart: Quickstart) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **quickstart.env(),
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    job = run_module(
        quickstart,
        "modelsmith_evaluator",
        ["--spec", quickstart.uri("specs/eval-0.json")],
        "unreachable",
        env=env,
    )
    assert job.code == ExitCode.OBJECT_STORE_UNAVAILABLE, job.log
    assert job.termination["reason"] == "ObjectStoreUnavailable"
    assert "127.0.0.1" not in job.termination["message"]
