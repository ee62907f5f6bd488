"""The criteria library: every kind, its options and its refusals."""

from __future__ import annotations

from typing import Any

import pytest
from complexity import MAX_GROWTH, growth

from modelsmith.api.criteria import Criterion
from modelsmith.contract.criteria import (
    MAX_PATTERN_LENGTH,
    CriterionError,
    compile_pattern,
    evaluate_criterion,
    score_scenario,
    validate_criterion,
    validate_scenarios,
)
from modelsmith.contract.scenario import Scenario


def crit(**fields: Any) -> Criterion:
    return Criterion.model_validate(fields)


def holds(criterion: Criterion, answer: str) -> bool:
    return evaluate_criterion(criterion, answer).holds


def scenario(passes: list[dict[str, Any]], fails: list[dict[str, Any]] | None = None) -> Scenario:
    return Scenario.model_validate(
        {
            "id": "refund-window",
            "capability": "refunds",
            "risk": "high",
            "operatorLens": "frontline-agent",
            "outcomeType": "answer",
            "split": "train",
            "prompt": "Can the customer still get a refund?",
            "pass": passes,
            "fail": fails or [],
        }
    )


# --- contains / notContains ---------------------------------------------------------------


def test_contains_ignores_case_by_default() -> None:
    c = crit(kind="contains", value="Refund")
    assert holds(c, "a REFUND is possible")
    assert not holds(c, "no money back")


def test_contains_case_sensitive() -> None:
    c = crit(kind="contains", value="Refund", caseSensitive=True)
    assert holds(c, "Refund approved")
    assert not holds(c, "refund approved")


def test_contains_folds_beyond_ascii() -> None:
    assert holds(crit(kind="contains", value="STRASSE"), "die straße")


def test_not_contains() -> None:
    c = crit(kind="notContains", value="guaranteed")
    assert holds(c, "we will look into it")
    assert not holds(c, "Refund GUARANTEED")
    sensitive = crit(kind="notContains", value="guaranteed", caseSensitive=True)
    assert holds(sensitive, "Refund GUARANTEED")


# --- regex ---------------------------------------------------------------------------------


def test_regex_searches_anywhere_and_ignores_case() -> None:
    c = crit(kind="regex", value=r"\bqueue:\s*billing\b")
    assert holds(c, "Routing now. QUEUE:   Billing.")
    assert not holds(c, "queue: billingpriority")


def test_regex_case_sensitive() -> None:
    c = crit(kind="regex", value=r"^APPROVE$", caseSensitive=True)
    assert holds(c, "APPROVE")
    assert not holds(c, "approve")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(unclosed", "a group is not closed"),
        ("[abc", "a character class is not closed"),
        ("abc)", "a closing parenthesis has no group"),
        ("*a", "a repeat has nothing to repeat"),
        ("a**", "a repeat is repeated"),
        ("a{1001}", "a repeat count is out of order or over 1000 (nested ones multiply)"),
        ("(a{100}){11}", "a repeat count is out of order or over 1000 (nested ones multiply)"),
        (r"\p{L}{1000}", "the pattern is too large"),
        ("[z-a]", "a character range out of order or invalid"),
        ("trailing\\", "the pattern ends in a backslash"),
        (r"\N{DIGIT ONE}", "an escape sequence RE2 does not know"),
        (r"(?x) a", "a (?...) group RE2 does not know"),
        (r"end\Z", "RE2 writes \\Z (end of text) as \\z"),
    ],
)
def test_regex_that_does_not_compile_is_refused_with_a_reason(pattern: str, reason: str) -> None:
    with pytest.raises(CriterionError) as err:
        compile_pattern(pattern, case_sensitive=False)
    assert err.value.problem == "invalid-regex"
    assert err.value.reason == f"pattern does not compile: {reason}"
    assert validate_criterion(crit(kind="regex", value=pattern)) == [f"regex: {err.value.reason}"]


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"(\w+) \1", "backreferences are"),
        (r"(?P<word>\w+) (?P=word)", "backreferences are"),
        (r"refund(?= approved)", "lookahead is"),
        (r"^(?!.*password)", "lookahead is"),
        (r"(?<=queue: )billing", "lookbehind is"),
        (r"(?<!no )refund", "lookbehind is"),
        (r"(?>a+)b", "atomic groups are"),
        (r"a++b", "possessive repeats are"),
        (r"a(?#note)b", "comments are"),
    ],
)
def test_features_re2_leaves_out_are_refused_by_name(pattern: str, feature: str) -> None:
    with pytest.raises(CriterionError) as err:
        compile_pattern(pattern, case_sensitive=False)
    assert err.value.problem == "invalid-regex"
    assert err.value.reason == (
        f"pattern does not compile: {feature} not supported (RE2 matches without backtracking)"
    )


def test_refusals_never_quote_the_pattern() -> None:
    for pattern in ("(zqxv", "zqxv)", "[zqxv", "zqxv{2,1}", "[z-a]zqxv", r"(zqxv)\1"):
        (problem,) = validate_criterion(crit(kind="regex", value=pattern))
        assert "zqxv" not in problem


def test_refusals_are_not_logged(capfd: pytest.CaptureFixture[str]) -> None:
    """RE2 would log each refused pattern, quoting it, to stderr (the operator's log)."""
    with pytest.raises(CriterionError):
        compile_pattern("(zqxv-not-logged", case_sensitive=True)
    assert "zqxv" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bapprove(d)?\b",
        r"^(yes|no)$",
        r"refund.*approved",
        r"total:\s*\$?\d+(\.\d+)?",
        r"(\d{1,3}\.){3}\d{1,3}",
        r"\d+(?:,\d{3})*",
        r"[^x]*x",
        r"(?:-\d+)+",
        r"(?P<queue>billing|technical)",
        r"(?i)refund",
        r"\p{L}+\z",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert validate_criterion(crit(kind="regex", value=pattern)) == []


@pytest.mark.parametrize(
    ("pattern", "unit"),
    [
        (r"(a+)+$", "a"),
        (r"(a|aa)*c", "a"),
        (r"(\w+\s?)+$", "word "),
        (r"x.*.*.*y", "x"),
        (r"a.*b.*c.*d", "abc"),
        (r".*refund", "refund "),
    ],
)
def test_patterns_that_backtrack_in_re_run_in_linear_time(pattern: str, unit: str) -> None:
    """`re` takes exponential or high-polynomial time on these; RE2 searches a long answer
    whole, almost at once."""
    criterion = crit(kind="regex", value=pattern)
    result = evaluate_criterion(criterion, unit * 1024 + "!")
    assert result.reason in ("pattern found", "pattern not found")
    assert growth(lambda a: evaluate_criterion(criterion, a + "!"), unit, 1024) < MAX_GROWTH


def test_regex_searches_the_whole_answer() -> None:
    c = crit(kind="regex", value="needle")
    assert holds(c, "x" * 10_000 + "needle")
    far = evaluate_criterion(c, "x" * 10_000)
    assert (far.holds, far.reason) == (False, "pattern not found")


def test_pattern_length_is_bounded() -> None:
    with pytest.raises(CriterionError) as err:
        compile_pattern("a" * (MAX_PATTERN_LENGTH + 1), case_sensitive=False)
    assert err.value.problem == "invalid-regex"
    assert err.value.reason == f"pattern is longer than {MAX_PATTERN_LENGTH} characters"
    compile_pattern("a" * MAX_PATTERN_LENGTH, case_sensitive=False)


def test_regex_ignoring_case_folds_beyond_ascii() -> None:
    assert holds(crit(kind="regex", value="ÉTÉ"), "un été chaud")
    assert holds(crit(kind="regex", value="straße"), "STRAẞE")
    assert not holds(crit(kind="regex", value="ÉTÉ", caseSensitive=True), "un été chaud")


def test_re2_classes_are_ascii() -> None:
    """Where RE2 differs from `re` (see contract.criteria.regex): \\w and \\b are ASCII."""
    assert not holds(crit(kind="regex", value=r"^\w+$"), "café")
    assert not holds(crit(kind="regex", value=r"\bcafé\b"), "un café.")
    assert holds(crit(kind="regex", value=r"^\p{L}+$"), "café")
    assert not holds(crit(kind="regex", value=r"^\d$"), "\u0663")  # ARABIC-INDIC DIGIT THREE


def test_answers_that_are_not_valid_utf8_are_searched() -> None:
    assert holds(crit(kind="regex", value="a.b"), "a\ud800b")
    # The API refuses such a pattern; the regex check itself takes it all the same.
    assert compile_pattern("a\ud800", case_sensitive=True).search("xa\ud800")


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern(r"cached\d", False) is compile_pattern(r"cached\d", False)
    assert compile_pattern(r"cached\d", False) is not compile_pattern(r"cached\d", True)


# --- equals / oneOf ------------------------------------------------------------------------


def test_equals_trims_and_folds_case() -> None:
    c = crit(kind="equals", value="Approve")
    assert holds(c, "  approve\n")
    assert not holds(c, "approve it")
    assert not holds(crit(kind="equals", value="Approve", caseSensitive=True), "approve")


def test_one_of() -> None:
    c = crit(kind="oneOf", values=["billing", "technical"])
    assert holds(c, " Technical ")
    assert not holds(c, "billing or technical")
    result = evaluate_criterion(c, "accounts")
    assert result.reason == "answer is none of the 2 labels"
    assert not holds(crit(kind="oneOf", values=["billing"], caseSensitive=True), "Billing")


# --- jsonSchema ----------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["queue", "priority"],
    "properties": {"queue": {"enum": ["billing", "technical"]}, "priority": {"type": "integer"}},
}


def test_json_schema_on_a_whole_json_answer() -> None:
    c = crit(kind="jsonSchema", jsonSchema=SCHEMA)
    assert holds(c, '{"queue": "billing", "priority": 2}')
    missing = evaluate_criterion(c, '{"queue": "billing"}')
    assert not missing.holds and "required" in missing.reason


def test_json_schema_on_the_first_object_in_prose() -> None:
    c = crit(kind="jsonSchema", jsonSchema=SCHEMA)
    answer = 'Sure {not json} here: ```json\n{"queue": "technical", "priority": 1}\n``` {"x": 1}'
    assert holds(c, answer)


def test_json_schema_reasons_do_not_quote_the_answer() -> None:
    c = crit(kind="jsonSchema", jsonSchema=SCHEMA)
    result = evaluate_criterion(c, '{"queue": "secret-queue-name", "priority": 1}')
    assert not result.holds
    assert "secret" not in result.reason
    assert evaluate_criterion(c, "no json at all").reason == "no JSON in the answer"


def test_json_schema_validates_non_objects_when_the_answer_is_json() -> None:
    c = crit(kind="jsonSchema", jsonSchema={"type": "array", "minItems": 2})
    assert holds(c, "[1, 2]")
    assert not holds(c, "[1]")


def test_invalid_json_schema_is_refused() -> None:
    problems = validate_criterion(crit(kind="jsonSchema", jsonSchema={"type": 5}))
    assert len(problems) == 1 and "not a valid JSON Schema" in problems[0]


def test_remote_references_are_never_fetched() -> None:
    schema = {"$ref": "https://schemas.example.invalid/ticket.json"}
    problems = validate_criterion(crit(kind="jsonSchema", jsonSchema=schema))
    assert problems == ["jsonSchema: schema has a reference that cannot be resolved"]


def test_local_references_resolve() -> None:
    schema = {"$ref": "#/$defs/q", "$defs": {"q": {"type": "object", "required": ["queue"]}}}
    c = crit(kind="jsonSchema", jsonSchema=schema)
    assert holds(c, '{"queue": "billing"}')
    assert not holds(c, "{}")


# --- numeric -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The refund is 42 dollars.", True),
        ("Refund: 41.5", True),
        ("about 43.6, maybe", False),
        ("1,234 is not it", False),
        ("COVID-19 rules: 42", False),
        ("no number here", False),
        ("-42", False),
    ],
)
def test_numeric_first_number_within_tolerance(answer: str, expected: bool) -> None:
    assert holds(crit(kind="numeric", target=42, tolerance=0.5), answer) is expected


def test_numeric_reads_signs_thousands_and_decimals() -> None:
    assert holds(crit(kind="numeric", target=-3.5), "x = -3.5")
    assert holds(crit(kind="numeric", target=1234.5), "total 1,234.5 EUR")
    assert holds(crit(kind="numeric", target=0.3), "0.3")
    assert holds(crit(kind="numeric", target=0.1 + 0.2), "0.3")
    assert holds(crit(kind="numeric", target=1000), "1e3 items")


def test_numeric_reasons() -> None:
    c = crit(kind="numeric", target=10, tolerance=1)
    assert evaluate_criterion(c, "none").reason == "no number in the answer"
    assert evaluate_criterion(c, "12").reason == "first number outside tolerance"


# --- malformed criteria ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"kind": "contains"}, "needs 'value'"),
        ({"kind": "oneOf", "values": []}, "non-empty 'values'"),
        ({"kind": "jsonSchema"}, "needs 'jsonSchema'"),
        ({"kind": "numeric"}, "needs 'target'"),
        ({"kind": "numeric", "target": float("nan")}, "finite"),
        ({"kind": "contains", "value": "x", "values": ["y"]}, "'values' does not apply"),
        ({"kind": "numeric", "target": 1, "value": "1"}, "'value' does not apply"),
    ],
)
def test_malformed_criteria(fields: dict[str, Any], fragment: str) -> None:
    # model_construct: the API model refuses some of these itself; the library must not rely on
    # that (the evaluator reads criteria from a file).
    criterion = Criterion.model_construct(**fields)
    problems = validate_criterion(criterion)
    assert len(problems) == 1 and fragment in problems[0]
    with pytest.raises(CriterionError):
        evaluate_criterion(criterion, "anything")


def test_unknown_kind() -> None:
    criterion = Criterion.model_construct(kind="sentiment", value="positive")
    with pytest.raises(CriterionError) as err:
        evaluate_criterion(criterion, "great")
    assert err.value.problem == "unknown-kind"
    assert "positive" not in str(err.value)


def test_valid_criteria_have_no_problems() -> None:
    for fields in (
        {"kind": "contains", "value": "x"},
        {"kind": "notContains", "value": "x"},
        {"kind": "regex", "value": "x+"},
        {"kind": "equals", "value": "x"},
        {"kind": "oneOf", "values": ["x"]},
        {"kind": "jsonSchema", "jsonSchema": {"type": "object"}},
        {"kind": "numeric", "target": 1},
    ):
        assert validate_criterion(crit(**fields)) == []


# --- scenarios -----------------------------------------------------------------------------


def test_scenario_passes_when_all_pass_hold_and_no_fail_holds() -> None:
    s = scenario(
        [{"kind": "contains", "value": "refund"}, {"kind": "regex", "value": r"\b30 days\b"}],
        [{"kind": "contains", "value": "guaranteed"}],
    )
    result = score_scenario(s, "A refund is possible within 30 days.")
    assert result.passed
    assert result.scenario_id == "refund-window"
    assert [r.holds for r in result.pass_results] == [True, True]
    assert [r.holds for r in result.fail_results] == [False]
    assert result.reason == "all 2 pass criteria hold and no fail criterion holds"


def test_scenario_fails_on_a_missing_pass_or_a_matching_fail() -> None:
    s = scenario(
        [{"kind": "contains", "value": "refund"}, {"kind": "regex", "value": r"\b30 days\b"}],
        [{"kind": "contains", "value": "guaranteed"}],
    )
    missing = score_scenario(s, "A refund is possible.")
    assert not missing.passed
    assert missing.reason == "pass[1] (regex) does not hold"
    both = score_scenario(s, "Guaranteed!")
    assert not both.passed
    assert (
        both.reason == "pass[0] (contains), pass[1] (regex) do not hold; fail[0] (contains) holds"
    )


def test_scenario_reason_never_quotes_the_answer() -> None:
    s = scenario([{"kind": "contains", "value": "refund"}])
    result = score_scenario(s, "CONFIDENTIAL-ANSWER")
    assert "CONFIDENTIAL" not in result.model_dump_json()


def test_malformed_criterion_raises_whatever_the_answer() -> None:
    s = scenario([{"kind": "contains", "value": "refund"}])
    broken = Criterion.model_construct(kind="regex", value="(a+)\\1", case_sensitive=False)
    s.fail_criteria.append(broken)
    with pytest.raises(CriterionError) as err:
        score_scenario(s, "no refund here")  # the pass criterion fails first; still raises
    assert str(err.value).startswith("fail[0] regex: ")
    assert err.value.problem == "invalid-regex"


def test_results_dump_camel_case() -> None:
    s = scenario([{"kind": "contains", "value": "refund"}])
    wire = score_scenario(s, "refund").wire()
    assert set(wire) == {"scenarioId", "passed", "passResults", "failResults", "reason"}
    assert wire["passResults"][0] == {
        "kind": "contains",
        "holds": True,
        "reason": "expected text found",
    }


def test_validate_scenarios_names_the_scenario_and_place() -> None:
    good = scenario([{"kind": "contains", "value": "refund"}])
    bad = scenario(
        [{"kind": "contains", "value": "refund"}], [{"kind": "regex", "value": "(a|b)\\1"}]
    )
    assert validate_scenarios([good]) == []
    problems = validate_scenarios([good, bad])
    assert len(problems) == 1
    assert problems[0].startswith("scenario refund-window fail[0] regex: ")
