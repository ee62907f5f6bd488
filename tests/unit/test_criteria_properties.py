"""Properties of the criteria library that must hold for every answer, not just the examples."""

from __future__ import annotations

import re
import warnings
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsmith.api.criteria import Criterion
from modelsmith.contract.criteria import (
    CriterionError,
    evaluate_criterion,
    prepare,
    score_scenario,
    validate_criterion,
)
from modelsmith.contract.scenario import Scenario

texts = st.text(max_size=200)
nonempty = st.text(min_size=1, max_size=40)

# Pieces rubric authors write, glued at random: many combinations do not compile, the rest must
# run on any answer without raising.
REGEX_PIECES = [
    "a", "b", "x", " ", ".", r"\w", r"\d", r"\s", r"\b", "^", "$", "[ab]", "[^a]", "(", ")",
    "(?:", "|", "*", "+", "?", "*?", "{1,3}", "{2,}", "\\", "[", "]", "refund", "-",
]  # fmt: skip
patterns = st.lists(st.sampled_from(REGEX_PIECES), max_size=12).map("".join)
# Long repetitive answers: what makes a backtracking matcher run away.
LONG = 4096
hostile_answers = st.builds(
    lambda unit, count, tail: (unit * count)[:LONG] + tail,
    st.sampled_from(["a", "ab", "a ", "1", "refund ", "x-", "aab b1"]),
    st.integers(min_value=0, max_value=LONG),
    st.sampled_from(["", "!", "\n", "b"]),
)
# Answers over the characters the pieces name, where RE2 and `re` agree on what \w, \d, \s and
# \b mean (they differ on other characters, on "$" before a final newline, and on \B in an
# empty answer, which `re` never matches there).
ascii_answers = st.text(alphabet="abx1 -!AB", min_size=1, max_size=30)


def criterion(**fields: Any) -> Criterion:
    return Criterion.model_validate(fields)


def contains_scenario(value: str, case_sensitive: bool) -> Scenario:
    return Scenario.model_validate(
        {
            "id": "prop",
            "capability": "c",
            "risk": "low",
            "operatorLens": "l",
            "outcomeType": "o",
            "split": "train",
            "prompt": "p",
            "pass": [{"kind": "contains", "value": value, "caseSensitive": case_sensitive}],
        }
    )


@given(value=texts, answer=texts, case_sensitive=st.booleans())
def test_contains_and_not_contains_are_complementary(
    value: str, answer: str, case_sensitive: bool
) -> None:
    contains = criterion(kind="contains", value=value, caseSensitive=case_sensitive)
    excludes = criterion(kind="notContains", value=value, caseSensitive=case_sensitive)
    assert evaluate_criterion(contains, answer).holds != evaluate_criterion(excludes, answer).holds


@given(value=nonempty, before=texts, after=texts, case_sensitive=st.booleans())
def test_an_answer_containing_the_text_passes(
    value: str, before: str, after: str, case_sensitive: bool
) -> None:
    result = score_scenario(contains_scenario(value, case_sensitive), before + value + after)
    assert result.passed


@given(value=nonempty, before=texts, after=texts)
def test_case_insensitive_contains_ignores_the_answers_case(
    value: str, before: str, after: str
) -> None:
    answer = (before + value + after).upper()
    # str.upper may change length ("ß" -> "SS"); casefold treats both spellings alike.
    assert score_scenario(contains_scenario(value, False), answer).passed


def regex(pattern: str) -> Criterion:
    # model_construct: the regex check, not the API model, is under test.
    return Criterion.model_construct(kind="regex", value=pattern, case_sensitive=False)


criteria = st.one_of(
    st.builds(lambda v: criterion(kind="contains", value=v), texts),
    st.builds(lambda v: criterion(kind="notContains", value=v), texts),
    st.builds(lambda v: criterion(kind="equals", value=v), texts),
    st.builds(lambda v: criterion(kind="oneOf", values=v), st.lists(texts, min_size=1, max_size=4)),
    st.builds(regex, patterns),
    st.builds(
        lambda t, tol: criterion(kind="numeric", target=t, tolerance=tol),
        st.floats(min_value=-1e6, max_value=1e6),
        st.floats(min_value=0, max_value=100),
    ),
    st.just(criterion(kind="jsonSchema", jsonSchema={"type": "object", "required": ["a"]})),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(c=criteria, answer=texts)
def test_results_are_deterministic(c: Criterion, answer: str) -> None:
    try:
        first = evaluate_criterion(c, answer)
    except CriterionError as err:
        assert validate_criterion(c) == [str(err)]
        return
    assert evaluate_criterion(c, answer) == first
    assert prepare(c).evaluate(answer) == first


@given(c=criteria, answer=texts)
def test_reasons_never_quote_the_answer(c: Criterion, answer: str) -> None:
    marker = "Q7ZK9WXV"
    try:
        result = evaluate_criterion(c, answer + marker)
    except CriterionError:
        return
    assert marker not in result.reason


@given(pattern=st.text(max_size=80))
def test_validating_any_pattern_never_raises(pattern: str) -> None:
    problems = validate_criterion(Criterion.model_construct(kind="regex", value=pattern))
    assert all(p.startswith("regex: ") for p in problems)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=patterns, answer=hostile_answers, case_sensitive=st.booleans())
def test_accepted_patterns_run_on_long_answers_without_raising(
    pattern: str, answer: str, case_sensitive: bool
) -> None:
    c = Criterion.model_construct(kind="regex", value=pattern, case_sensitive=case_sensitive)
    if validate_criterion(c):
        return
    result = evaluate_criterion(c, answer)
    assert isinstance(result.holds, bool)


@settings(max_examples=300)
@given(pattern=patterns, answer=ascii_answers, case_sensitive=st.booleans())
def test_accepted_patterns_match_as_python_re_does(
    pattern: str, answer: str, case_sensitive: bool
) -> None:
    """Moving to RE2 kept what a pattern both engines compile finds, on the answers where their
    character classes agree."""
    c = Criterion.model_construct(kind="regex", value=pattern, case_sensitive=case_sensitive)
    if validate_criterion(c):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            python = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error:
        return
    assert evaluate_criterion(c, answer).holds == (python.search(answer) is not None)


@given(value=texts, answer=texts)
def test_equals_is_one_of_a_single_label(value: str, answer: str) -> None:
    equals = evaluate_criterion(criterion(kind="equals", value=value), answer).holds
    one_of = evaluate_criterion(criterion(kind="oneOf", values=[value]), answer).holds
    assert equals == one_of


@given(
    target=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    before=st.sampled_from(["", "The answer is ", "total: "]),
)
def test_a_number_written_out_meets_its_own_target(target: float, before: str) -> None:
    answer = f"{before}{target!r} units"
    assert evaluate_criterion(criterion(kind="numeric", target=target), answer).holds
