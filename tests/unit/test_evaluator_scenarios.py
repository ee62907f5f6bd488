"""Scenarios the evaluator cannot score are refused before any model is loaded."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from modelsmith.contract.exitcodes import ExitCode
from modelsmith_evaluator.scenarios import check_pinned, parse_scenarios
from modelsmith_trainer.runtime import JobFailure


def doc(id_: str = "s1", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": id_,
        "capability": "routing",
        "risk": "low",
        "operatorLens": "agent",
        "outcomeType": "route",
        "split": "train",
        "prompt": "Triage this ticket.",
        "inputs": {"ticket": "invoice"},
        "pass": [{"kind": "contains", "value": "queue: billing"}],
        "fail": [{"kind": "regex", "value": "queue: (technical|none)"}],
    }
    return base | changes


def lines(*docs: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(d) for d in docs).encode()


def code_for(raw: bytes) -> ExitCode:
    with pytest.raises(JobFailure) as caught:
        parse_scenarios(raw)
    return caught.value.code


def test_reads_wire_form_scenarios() -> None:
    scenarios = parse_scenarios(lines(doc("a"), doc("b", split="heldout")) + b"\n\n")
    assert [(s.id, s.split) for s in scenarios] == [("a", "train"), ("b", "heldout")]


@pytest.mark.parametrize(
    "bad",
    [
        {"fail": [{"kind": "sentiment", "value": "negative"}]},  # unknown kind
        {"pass": [{"kind": "oneOf"}]},  # missing its values
        {"pass": [{"kind": "regex", "value": "(unclosed"}]},  # does not compile
        {"pass": [{"kind": "regex", "value": "(a)\\1"}]},  # a backreference: not RE2
        {"pass": [{"kind": "contains", "value": "x", "values": ["y"]}]},  # misplaced field
    ],
)
def test_unknown_or_malformed_criteria_exit_7(bad: dict[str, Any]) -> None:
    assert code_for(lines(doc("ok"), doc("bad", **bad))) == ExitCode.BAD_CRITERION


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", ExitCode.EMPTY_SPLIT),
        (b"{oops", ExitCode.BAD_SPEC),
        (lines(doc(risk="apocalyptic")), ExitCode.BAD_SPEC),
        (lines(doc("a"), doc("a")), ExitCode.BAD_SPEC),
    ],
)
def test_other_problems(raw: bytes, code: ExitCode) -> None:
    assert code_for(raw) == code


def test_scenarios_other_than_the_pinned_ones_are_refused() -> None:
    raw = json.dumps(doc()).encode()
    pinned = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert check_pinned(raw, pinned) == raw
    assert check_pinned(raw + b"\n", None) == raw + b"\n"  # not pinned: an older operator
    with pytest.raises(JobFailure) as caught:
        check_pinned(raw + b"\n", pinned)
    assert caught.value.code == ExitCode.BAD_SPEC
    assert "pinned" in str(caught.value)
