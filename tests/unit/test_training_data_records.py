"""An intake's training data: records parsed, rendered as scenarios are, up-weighted with the
failure cluster they say they belong to, and caught by the held-out guard when they copy."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from modelsmith.api.intake import TrainingDataSource
from modelsmith.benchmark.sources import BenchmarkSourceError
from modelsmith.benchmark.trainingdata import digest, parse_records, training_lines
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.heldout import fingerprint
from modelsmith.contract.jobspec import TrainExample
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario
from modelsmith_trainer.data import describe, guard_heldout
from modelsmith_trainer.runtime import JobFailure

TICKET = "My invoice for March was charged twice and the refund never arrived at all"


def scenario(id_: str, split: str, capability: str = "billing", ticket: str = TICKET) -> Scenario:
    return Scenario.model_validate(
        {
            "id": id_,
            "capability": capability,
            "risk": "high",
            "operatorLens": "agent",
            "outcomeType": "route",
            "split": split,
            "prompt": "Triage this support ticket.",
            "inputs": {"ticket": ticket},
            "reference": "queue: billing.",
            "pass": [{"kind": "contains", "value": "queue: billing"}],
        }
    )


def jsonl(*records: dict[str, object]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def test_records_need_an_answer_and_a_question_and_errors_name_the_line() -> None:
    raw = jsonl({"prompt": "Where?", "answer": "here"}, {"answer": "no question"})
    with pytest.raises(BenchmarkSourceError, match="training data: line 2 has bad fields"):
        parse_records(raw, origin="training data")
    with pytest.raises(BenchmarkSourceError, match="line 1 is not JSON"):
        parse_records(b"{nope", origin="training data")
    with pytest.raises(BenchmarkSourceError, match="no records"):
        parse_records(b"\n\n", origin="training data")


def test_inputs_take_the_benchmarks_prompt_and_render_like_a_scenario() -> None:
    train = scenario("t-1", "train")
    records = parse_records(jsonl({"inputs": {"ticket": TICKET}, "answer": "x"}), origin="d")
    [line] = training_lines(records, [train], {}, ("capability", "risk"))
    assert line["text_prompt"] == render_prompt(train)
    assert line["id"] == "data-1" and line["supplied"] is True
    TrainExample.model_validate(line)


def test_records_carrying_the_up_weighted_clusters_values_are_up_weighted() -> None:
    scenarios = [scenario("t-1", "train"), scenario("t-2", "train", capability="refunds")]
    records = parse_records(
        jsonl(
            {"prompt": "a", "answer": "1", "capability": "billing", "risk": "high"},
            {"prompt": "b", "answer": "2", "capability": "refunds", "risk": "high"},
            {"prompt": "c", "answer": "3", "capability": "billing"},
        ),
        origin="d",
    )
    lines = training_lines(records, scenarios, {"t-1": 3.0, "t-2": 1.0}, ("capability", "risk"))
    # The third record does not say its risk: it cannot be placed in the cluster.
    assert [line["weight"] for line in lines] == [3.0, 1.0, 1.0]


def test_a_record_copying_a_heldout_scenario_is_refused_naming_it() -> None:
    heldout = scenario("h-7", "heldout", ticket="The app crashes every time I open settings now")
    raw = jsonl(
        {
            "prompt": "Triage this support ticket.",
            "inputs": {"ticket": heldout.inputs["ticket"]},
            "answer": "queue: tech.",
        },
    )
    lines = training_lines(parse_records(raw, origin="d"), [scenario("t-1", "train")], {}, ())
    examples = [TrainExample.model_validate(line) for line in lines]
    with pytest.raises(JobFailure) as caught:
        guard_heldout(examples, fingerprint([heldout, scenario("h-8", "heldout")]), 0.5)
    assert caught.value.code == ExitCode.CONTAMINATION
    assert [o["scenario_id"] for o in caught.value.details["overlaps"]] == ["h-7"]


def test_lineage_counts_supplied_examples_and_names_their_digest() -> None:
    raw = jsonl({"prompt": "p", "answer": "a"})
    lines = training_lines(parse_records(raw, origin="d"), [scenario("t-1", "train")], {}, ())
    examples = [
        TrainExample(id="t-1", text_prompt="q\nAnswer: ", reference="r"),
        *(TrainExample.model_validate(line) for line in lines),
    ]
    described = describe(b"whatever", examples, digest(raw))
    assert (described.examples, described.supplied) == (2, 1)
    assert described.scenario_ids == ("t-1",)
    assert described.supplied_digest == digest(raw)
    assert describe(b"whatever", examples[:1], digest(raw)).supplied_digest is None


def test_the_source_names_exactly_one_kind() -> None:
    with pytest.raises(ValidationError, match="exactly one of configMapRef or s3"):
        TrainingDataSource.model_validate({})
    TrainingDataSource.model_validate({"configMapRef": {"name": "data", "key": "train.jsonl"}})
