"""Reading the benchmark's scenarios.jsonl and refusing criteria that cannot be scored (exit 7)
before any model is loaded."""

from __future__ import annotations

import hashlib
import json

from pydantic import ValidationError

from modelsmith.contract.criteria import validate_scenarios
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.scenario import Scenario
from modelsmith_trainer.runtime import JobFailure

CRITERIA_FIELDS = frozenset({"pass", "fail", "pass_criteria", "fail_criteria"})


def check_pinned(raw: bytes, digest: str | None) -> bytes:
    """The scenarios' bytes, if they are the ones the run pinned (`digest`; None: not pinned,
    as from an operator that did not pin): an evaluation is never run on other scenarios than
    the evidence will name."""
    if digest is not None and "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
        raise JobFailure(
            ExitCode.BAD_SPEC, "the scenarios are not the ones the run pinned (digest mismatch)"
        )
    return raw


def parse_scenarios(raw: bytes) -> list[Scenario]:
    """One scenario (wire form) per non-blank line. A criterion of unknown kind or missing its
    fields exits 7; anything else malformed exits 2; no scenario at all exits 5."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JobFailure(ExitCode.BAD_SPEC, "the scenarios are not UTF-8") from None
    scenarios: list[Scenario] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            raise JobFailure(ExitCode.BAD_SPEC, f"scenario line {number} is not JSON") from None
        try:
            scenarios.append(Scenario.model_validate(document))
        except ValidationError as err:
            if any(e["loc"] and e["loc"][0] in CRITERIA_FIELDS for e in err.errors()):
                raise JobFailure(
                    ExitCode.BAD_CRITERION,
                    f"scenario line {number} has an unknown or malformed criterion",
                ) from None
            raise JobFailure(ExitCode.BAD_SPEC, f"scenario line {number} is malformed") from None
    if not scenarios:
        raise JobFailure(ExitCode.EMPTY_SPLIT, "there are no scenarios to evaluate")
    ids = [s.id for s in scenarios]
    if len(set(ids)) != len(ids):
        raise JobFailure(ExitCode.BAD_SPEC, "scenario ids repeat")
    problems = validate_scenarios(scenarios)
    if problems:
        raise JobFailure(
            ExitCode.BAD_CRITERION,
            f"{len(problems)} criterion problem(s): " + "; ".join(problems[:3]),
            details={"problems": problems[:20]},
        )
    return scenarios
