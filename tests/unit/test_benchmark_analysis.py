"""Benchmark analysis: prompt rendering, digest, coverage, balance, challenges, the held-out
guard and scenario sources."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml

from modelsmith.api import samples
from modelsmith.api.benchmark import BalancePolicy
from modelsmith.benchmark import (
    BenchmarkSourceError,
    balance_report,
    content_digest,
    coverage,
    find_challenges,
    heldout_count,
    parse_scenarios,
    scenarios_from_configmap,
    scenarios_from_object,
)
from modelsmith.contract.heldout import (
    HeldoutFingerprint,
    check_overlap,
    fingerprint,
    normalise,
    overlap_between,
    shingles,
)
from modelsmith.contract.prompting import ANSWER_CUE, render_prompt
from modelsmith.contract.scenario import Scenario


def doc(index: int = 0, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"s-{index:02d}",
        "capability": "routing",
        "risk": "low",
        "operatorLens": "frontline-agent",
        "outcomeType": "route",
        "split": "train",
        "prompt": f"Customer {index} writes that the invoice total looks wrong this month.",
        "inputs": {"channel": "email", "plan": "business"},
        "reference": "queue: billing",
        "pass": [{"kind": "regex", "value": r"\bqueue:\s*billing\b"}],
        "fail": [{"kind": "contains", "value": "password"}],
    }
    base.update(overrides)
    return base


def make(index: int = 0, **overrides: Any) -> Scenario:
    return Scenario.model_validate(doc(index, **overrides))


def sample_scenarios(count: int = 24) -> list[Scenario]:
    spec = samples.benchmark(count=count)["spec"]
    return [Scenario.model_validate(s) for s in spec["scenarios"]]


# --- prompt rendering --------------------------------------------------------------------


def test_render_prompt_orders_inputs_and_ends_with_the_cue() -> None:
    s = make(prompt="  Route this ticket.\n", inputs={"subject": "Refund", "channel": "chat"})
    assert render_prompt(s) == "Route this ticket.\nchannel: chat\nsubject: Refund\nAnswer: "
    assert render_prompt(s).endswith(ANSWER_CUE)


def test_render_prompt_is_independent_of_input_order() -> None:
    one = make(inputs={"a": "1", "b": "2"})
    two = make(inputs={"b": "2", "a": "1"})
    assert render_prompt(one) == render_prompt(two)
    assert render_prompt(make(inputs={})) == make().prompt + ANSWER_CUE


# --- digest ------------------------------------------------------------------------------


def test_digest_is_stable_under_key_order_and_scenario_order() -> None:
    a, b = doc(1), doc(2)
    reordered_keys = {k: a[k] for k in reversed(list(a))}
    first = content_digest([Scenario.model_validate(a), Scenario.model_validate(b)], "1.0.0")
    second = content_digest(
        [Scenario.model_validate(b), Scenario.model_validate(reordered_keys)], "1.0.0"
    )
    assert first == second
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64


def test_digest_is_sha256_over_the_canonical_document() -> None:
    """The definition recorded digests were made with: SHA-256 over canonical JSON (sorted
    keys, no whitespace, UTF-8) of {"version", "scenarios" sorted by id then content}."""
    scenarios = [make(3, prompt="Ünïcode prompt — 3"), make(1), make(2)]
    documents = sorted(
        (s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in scenarios),
        key=lambda d: (d["id"], json.dumps(d, sort_keys=True, separators=(",", ":"))),
    )
    canonical = json.dumps(
        {"version": "2.0.1", "scenarios": documents},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    expected = "sha256:" + hashlib.sha256(canonical).hexdigest()
    assert content_digest(scenarios, "2.0.1") == expected


def test_digest_treats_spelled_out_defaults_as_the_same_content() -> None:
    implicit = make(1, fail=[])
    explicit = Scenario.model_validate(
        {**doc(1), "fail": [], "pass": [{**doc(1)["pass"][0], "caseSensitive": False}]}
    )
    assert content_digest([implicit], "1") == content_digest([explicit], "1")


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "Another prompt."},
        {"inputs": {"channel": "chat", "plan": "business"}},
        {"pass": [{"kind": "contains", "value": "billing"}]},
        {"split": "heldout"},
        {"reference": None},
    ],
)
def test_digest_changes_with_content(change: dict[str, Any]) -> None:
    assert content_digest([make(1)], "1.0.0") != content_digest([make(1, **change)], "1.0.0")


def test_digest_changes_with_version() -> None:
    assert content_digest([make(1)], "1.0.0") != content_digest([make(1)], "1.0.1")


# --- coverage ----------------------------------------------------------------------------


def test_coverage_counts_each_dimension() -> None:
    scenarios = [
        make(0),
        make(1, capability="refunds", risk="high", split="heldout"),
        make(2, capability="refunds", operatorLens="compliance", outcomeType="refuse"),
    ]
    wire = coverage(scenarios).wire()
    assert wire == {
        "capability": {"refunds": 2, "routing": 1},
        "risk": {"high": 1, "low": 2},
        "operatorLens": {"compliance": 1, "frontline-agent": 2},
        "outcomeType": {"refuse": 1, "route": 2},
    }
    assert heldout_count(scenarios) == 1


def test_coverage_of_the_sample_benchmark() -> None:
    scenarios = sample_scenarios()
    cov = coverage(scenarios)
    assert sum(cov.capability.values()) == 24
    assert heldout_count(scenarios) == 6


# --- balance -----------------------------------------------------------------------------


def test_balanced_sample_has_no_findings() -> None:
    report = balance_report(sample_scenarios())
    assert report.overweight == [] and report.singletons == []
    assert report.heldout_share == 0.25
    assert report.size_warning is None
    assert report.shares.capability == {
        "account-access": 0.25,
        "escalation": 0.25,
        "refunds": 0.25,
        "routing": 0.25,
    }


def test_over_share_is_reported_against_the_policy() -> None:
    scenarios = [make(i, capability="routing" if i < 5 else f"cap-{i % 2}") for i in range(10)]
    report = balance_report(scenarios)
    over = [(v.dimension, v.value, v.share) for v in report.overweight]
    assert ("capability", "routing", 0.5) in over
    assert all(v.value != "cap-0" for v in report.overweight)  # 0.3 is within 0.4
    relaxed = balance_report(scenarios, BalancePolicy(max_share=0.5))
    assert all(v.dimension != "capability" for v in relaxed.overweight)


def test_singletons_are_reported_per_dimension() -> None:
    scenarios = [make(i) for i in range(4)] + [make(9, capability="refunds", risk="critical")]
    report = balance_report(scenarios)
    found = {(v.dimension, v.value) for v in report.singletons}
    assert found == {("capability", "refunds"), ("risk", "critical")}
    assert all(v.share == 0.2 for v in report.singletons)


@pytest.mark.parametrize(
    ("heldout", "total", "fragment"),
    [
        (2, 20, "held-out share 0.10 is below 0.15"),
        (8, 20, "held-out share 0.40 is above 0.35"),
        (3, 20, None),
        (7, 20, None),
    ],
)
def test_heldout_share_bounds(heldout: int, total: int, fragment: str | None) -> None:
    scenarios = [make(i, split="heldout" if i < heldout else "train") for i in range(total)]
    warning = balance_report(scenarios).size_warning
    if fragment is None:
        assert warning is None
    else:
        assert warning is not None and fragment in warning


def test_heldout_bounds_come_from_the_policy() -> None:
    scenarios = [make(i, split="heldout" if i < 2 else "train") for i in range(20)]
    policy = BalancePolicy(heldout_share_min=0.05, heldout_share_max=0.2)
    assert balance_report(scenarios, policy).size_warning is None


@pytest.mark.parametrize(
    ("total", "fragment"), [(19, "19 scenarios, fewer than 20"), (41, "41 scenarios, more than 40")]
)
def test_size_warnings(total: int, fragment: str) -> None:
    scenarios = [make(i, split="heldout" if i % 4 == 0 else "train") for i in range(total)]
    warning = balance_report(scenarios).size_warning
    assert warning is not None and fragment in warning
    in_range = [make(i, split="heldout" if i % 4 == 0 else "train") for i in range(20)]
    assert balance_report(in_range).size_warning is None


def test_balance_of_nothing() -> None:
    report = balance_report([])
    assert report.heldout_share is None
    assert report.size_warning == "0 scenarios, fewer than 20"


def test_balance_dumps_camel_case_for_the_status() -> None:
    wire = balance_report([make(0), make(1, operatorLens="compliance")]).wire()
    assert set(wire) >= {"shares", "overweight", "singletons", "heldoutShare", "sizeWarning"}
    assert "operatorLens" in wire["shares"]


# --- challenges --------------------------------------------------------------------------


def reasons(scenarios: list[Scenario]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for challenge in find_challenges(scenarios):
        assert challenge.scenario_id is not None
        found.setdefault(challenge.scenario_id, []).append(challenge.reason)
    return found


def test_a_sound_scenario_has_no_challenges() -> None:
    assert reasons([make(0)]) == {}


def test_no_fail_criteria() -> None:
    assert reasons([make(0, fail=[])]) == {"s-00": ["NoFailCriteria"]}


@pytest.mark.parametrize(
    "criterion",
    [
        {"kind": "contains", "value": ""},
        {"kind": "regex", "value": ".*"},
        {"kind": "regex", "value": "x?"},
        {"kind": "regex", "value": "^"},
    ],
)
def test_trivially_satisfiable_pass_criterion(criterion: dict[str, Any]) -> None:
    found = find_challenges([make(0, **{"pass": [doc()["pass"][0], criterion]})])
    assert [(c.reason, c.detail) for c in found] == [
        ("TriviallySatisfiable", f"pass[1] ({criterion['kind']}) holds for any answer")
    ]


def test_not_contains_pass_criteria_are_not_trivial_alone_but_the_scenario_is() -> None:
    only_exclusions = make(0, **{"pass": [{"kind": "notContains", "value": "password"}]})
    assert reasons([only_exclusions]) == {"s-00": ["PassesAnyAnswer"]}
    guarded = make(1, **{"pass": [*doc()["pass"], {"kind": "notContains", "value": "password"}]})
    assert reasons([guarded]) == {}


def test_fail_criterion_that_always_holds_makes_the_scenario_unpassable() -> None:
    found = reasons([make(0, fail=[{"kind": "regex", "value": ""}])])
    assert found == {"s-00": ["Unpassable"]}
    # A notContains fail criterion holds on neutral text by design (it demands the text).
    assert reasons([make(1, fail=[{"kind": "notContains", "value": "billing"}])]) == {}


def test_criterion_copied_from_the_prompt() -> None:
    s = make(
        0,
        prompt="Send the customer to the Billing queue.",
        inputs={"account": "ACME-42"},
        **{
            "pass": [
                {"kind": "contains", "value": "billing"},
                {"kind": "equals", "value": "acme-42"},
                {"kind": "equals", "value": "acme-42", "caseSensitive": True},
                {"kind": "contains", "value": "refund"},
            ]
        },
    )
    copied = [c.detail for c in find_challenges([s]) if c.reason == "CopiedFromPrompt"]
    assert [d.split(" ")[0] for d in copied] == ["pass[0]", "pass[1]"]


def test_duplicate_scenarios_after_normalisation() -> None:
    first = make(0, prompt="Refund request: order late!", inputs={"Channel": "Email"})
    second = make(1, prompt="refund request   order LATE", inputs={"channel": "email."})
    other = make(2, prompt="Refund request: order early", inputs={"channel": "email"})
    found = find_challenges([first, second, other])
    assert [(c.scenario_id, c.reason, c.detail) for c in found] == [
        ("s-01", "DuplicateScenario", "same prompt and inputs as scenario s-00")
    ]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(unclosed", "a group is not closed"),
        (r"(x)\1", "backreferences are not supported (RE2 matches without backtracking)"),
        (r"x(?!y)", "lookahead is not supported (RE2 matches without backtracking)"),
    ],
)
def test_regex_re2_does_not_compile(pattern: str, reason: str) -> None:
    s = make(0, fail=[{"kind": "regex", "value": pattern}])
    found = find_challenges([s])
    assert [(c.reason, c.detail) for c in found] == [
        ("InvalidRegex", f"fail[0] regex: pattern does not compile: {reason}")
    ]


def test_regex_that_backtracks_in_python_is_usable() -> None:
    """RE2 matches in linear time, so a nested repeat is an ordinary criterion."""
    s = make(0, fail=[{"kind": "regex", "value": "(a+)+$"}])
    assert find_challenges([s]) == []


def test_malformed_criterion() -> None:
    s = make(0, **{"pass": [{"kind": "jsonSchema", "jsonSchema": {"type": "nonsense"}}]})
    assert reasons([s]) == {"s-00": ["InvalidCriterion"]}


def test_unusable_criteria_come_first() -> None:
    found = find_challenges([make(0, fail=[]), make(1, fail=[{"kind": "regex", "value": "("}])])
    assert [c.reason for c in found] == ["InvalidRegex", "NoFailCriteria"]


def test_challenge_details_never_carry_scenario_text() -> None:
    secret = "zqxv"
    s = make(
        0,
        prompt=f"Please route {secret} now.",
        inputs={"note": secret},
        reference=secret,
        **{
            "pass": [
                {"kind": "contains", "value": secret},
                {"kind": "contains", "value": ""},
                # RE2's error quotes the pattern from the unclosed group on
                {"kind": "regex", "value": f"(?:{secret}|{secret}s!"},
            ]
        },
        fail=[],
    )
    s2 = make(1, prompt=f"Please route {secret} now.", inputs={"note": secret})
    found = find_challenges([s, s2])
    assert {c.reason for c in found} >= {
        "CopiedFromPrompt",
        "TriviallySatisfiable",
        "InvalidRegex",
        "NoFailCriteria",
        "DuplicateScenario",
    }
    for challenge in found:
        assert secret not in challenge.model_dump_json()


def test_sample_benchmark_challenges_are_missing_fail_criteria_and_an_untrained_class() -> None:
    # The sample cycles four capabilities and holds out every fourth scenario, so one
    # capability is held out only: a real finding the sample keeps as an example.
    found = find_challenges(sample_scenarios())
    assert {c.reason for c in found} == {"NoFailCriteria", "NoTrainingScenario"}
    untrained = [c for c in found if c.reason == "NoTrainingScenario"]
    assert [c.detail.split(" appears")[0] for c in untrained] == ['capability "account-access"']


# --- held-out guard ----------------------------------------------------------------------

HELDOUT_PROMPT = (
    "A customer reports that the replacement router we shipped last week arrived with a cracked "
    "antenna and asks whether we will cover the return postage."
)
PARAPHRASE = (
    "Someone says the new modem sent to them seven days ago came damaged; they want to know if "
    "shipping it back is free."
)


def heldout(index: int = 0, prompt: str = HELDOUT_PROMPT, **overrides: Any) -> Scenario:
    return make(index, split="heldout", prompt=prompt, inputs={}, **overrides)


def test_normalise_and_shingles() -> None:
    assert normalise("  Hello,\tWORLD!!  it's\n$5 ") == "hello world it s 5"
    assert shingles("one two three four five six", 5) == {
        "one two three four five",
        "two three four five six",
    }
    assert shingles("Too short.", 5) == {"too short"}
    assert shingles("...", 5) == set()


def test_exact_copy_is_flagged() -> None:
    fp = fingerprint([heldout()])
    overlaps = check_overlap([render_prompt(heldout())], fp)
    assert [(o.scenario_id, o.fraction, o.part) for o in overlaps] == [("s-00", 1.0, "prompt")]


def test_copy_inside_other_material_with_different_formatting_is_flagged() -> None:
    fp = fingerprint([heldout()])
    material = "Intro text. " + HELDOUT_PROMPT.upper().replace(" ", "  ") + " Answer: yes"
    assert [o.scenario_id for o in check_overlap([material], fp)] == ["s-00"]


def test_paraphrase_with_little_overlap_is_not_flagged() -> None:
    fp = fingerprint([heldout()])
    assert check_overlap([PARAPHRASE + "\nAnswer: queue: billing"], fp) == []


def test_threshold_is_respected() -> None:
    words = HELDOUT_PROMPT.split()
    half = " ".join(words[: len(words) // 2])
    fp = fingerprint([heldout()])
    partial = check_overlap([half], fp, threshold=0.2)
    assert len(partial) == 1 and 0.2 <= partial[0].fraction < 0.6
    assert check_overlap([half], fp, threshold=0.6) == []
    assert check_overlap([half], fp, threshold=partial[0].fraction) == partial
    with pytest.raises(ValueError):
        check_overlap([half], fp, threshold=0)


def test_a_copied_reference_is_flagged() -> None:
    reference = "Yes we cover return postage for items damaged in transit within thirty days."
    fp = fingerprint([heldout(reference=reference)])
    overlaps = check_overlap(["Some other prompt\nAnswer: " + reference], fp)
    assert [(o.scenario_id, o.part) for o in overlaps] == [("s-00", "reference")]


def test_short_labels_are_not_fingerprinted_as_references() -> None:
    fp = fingerprint([heldout(reference="queue: billing")])
    assert fp.scenarios["s-00"].reference is None


def test_shared_template_does_not_flag_every_heldout_scenario() -> None:
    scenarios = sample_scenarios()
    train = [s for s in scenarios if s.split == "train"]
    held = [s for s in scenarios if s.split == "heldout"]
    assert overlap_between(train, held) == []
    leaked = overlap_between([*train, held[0]], held)
    assert [o.scenario_id for o in leaked] == [held[0].id]


def test_short_prompts_fall_back_to_shorter_shingles() -> None:
    short = make(0, split="heldout", prompt="Reset my password", inputs={})
    fp = fingerprint([short])
    assert fp.scenarios["s-00"].prompt.n == 4  # three words and the answer cue
    assert check_overlap(["reset my password answer"], fp)
    assert check_overlap(["reset my account password"], fp) == []


def test_fingerprint_holds_no_plaintext() -> None:
    s = heldout(reference="We will cover the return postage for the cracked antenna, of course.")
    for fp in (fingerprint([s]), fingerprint([s], salt="run-7")):
        dumped = fp.model_dump_json()
        for word in set(normalise(HELDOUT_PROMPT + " " + (s.reference or "")).split()):
            if len(word) > 3:
                assert word not in dumped
        assert HeldoutFingerprint.model_validate_json(dumped) == fp


def test_salt_changes_the_hashes_and_is_needed_to_check() -> None:
    plain = fingerprint([heldout()])
    salted = fingerprint([heldout()], salt="run-7")
    assert plain.scenarios["s-00"].prompt.hashes != salted.scenarios["s-00"].prompt.hashes
    assert check_overlap([render_prompt(heldout())], salted)[0].fraction == 1.0


def test_fingerprint_travels_as_json() -> None:
    fp = fingerprint([heldout()], n=4, salt="s")
    wire = json.loads(fp.model_dump_json(by_alias=True))
    assert wire["schemaVersion"] == "modelsmith.io/heldout-fingerprint/v1"
    assert wire["n"] == 4 and wire["salt"] == "s"
    restored = HeldoutFingerprint.model_validate(wire)
    assert check_overlap([HELDOUT_PROMPT], restored) == check_overlap([HELDOUT_PROMPT], fp)


# --- sources -----------------------------------------------------------------------------


def test_yaml_list_json_list_mapping_and_json_lines_parse_alike() -> None:
    docs = [doc(0), doc(1, split="heldout")]
    forms = [
        yaml.safe_dump(docs),
        json.dumps(docs),
        yaml.safe_dump({"scenarios": docs}),
        json.dumps({"scenarios": docs}),
        "\n".join(json.dumps(d) for d in docs) + "\n",
    ]
    parsed = [parse_scenarios(form, origin="test") for form in forms]
    assert all([s.id for s in p] == ["s-00", "s-01"] for p in parsed)
    assert all(p == parsed[0] for p in parsed)


def test_configmap_source() -> None:
    data = {"scenarios.yaml": yaml.safe_dump([doc(0)])}
    assert [s.id for s in scenarios_from_configmap(data, "scenarios.yaml", name="bench")] == [
        "s-00"
    ]
    with pytest.raises(BenchmarkSourceError, match=r"ConfigMap bench key other\.yaml: no such key"):
        scenarios_from_configmap(data, "other.yaml", name="bench")


def test_object_bytes_with_a_byte_order_mark() -> None:
    raw = b"\xef\xbb\xbf" + yaml.safe_dump([doc(0)]).encode()
    assert [s.id for s in scenarios_from_object(raw)] == ["s-00"]


def test_size_limit() -> None:
    with pytest.raises(BenchmarkSourceError, match="more than the limit of 100"):
        parse_scenarios(json.dumps([doc(0)]), origin="test", max_bytes=100)


def test_validation_errors_name_the_scenario_and_field_without_content() -> None:
    bad = [
        doc(0),
        doc(1, **{"pass": [{"kind": "sentiment", "value": "SECRET-VALUE"}]}),
        doc(2, risk="extreme"),
    ]
    with pytest.raises(BenchmarkSourceError) as err:
        parse_scenarios(yaml.safe_dump(bad), origin="ConfigMap b key k")
    message = str(err.value)
    assert message.startswith("ConfigMap b key k: scenario s-01 (item 2): pass[0].kind: ")
    assert "scenario s-02 (item 3): risk: " in message
    assert "SECRET" not in message and "extreme" not in message


def test_invalid_ids_are_not_echoed() -> None:
    with pytest.raises(BenchmarkSourceError) as err:
        parse_scenarios(json.dumps([doc(0, id="Leaky Text!")]), origin="o")
    assert "Leaky" not in str(err.value)
    assert str(err.value).startswith("o: scenario item 1: id: must be lowercase letters")


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("Ticket-01", '"Ticket-01"'),
        ("ticket-01 ", '"ticket-01 "'),
        ("\tticket-01", '"\\tticket-01"'),
    ],
)
def test_nearly_valid_ids_are_shown_quoted(written: str, shown: str) -> None:
    # The usual slips (capitals, surrounding whitespace) are shown, whitespace made visible.
    with pytest.raises(BenchmarkSourceError) as err:
        parse_scenarios(json.dumps([doc(0), doc(1, id=written)]), origin="o")
    assert str(err.value).startswith(f"o: scenario item 2 (id {shown}): id: must be lowercase")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty document"),
        ("[]", "the list of scenarios is empty"),
        ("{}", "a mapping needs a 'scenarios' list"),
        ("just text", "expected a list of scenarios, found a string"),
        ("[1, 2]", "scenario item 1 is a number, not a mapping"),
        ("- null\n", "scenario item 1 is empty, not a mapping"),
        ("- a: [unclosed\n", "not valid YAML or JSON"),
        ('{"a": 1}\n{"b": ', "line 2 is not JSON"),
        ("a: &x [1]\nb: *x\n", "YAML aliases"),
    ],
)
def test_malformed_documents(text: str, fragment: str) -> None:
    with pytest.raises(BenchmarkSourceError, match=r"^src: ") as err:
        parse_scenarios(text, origin="src")
    assert fragment in str(err.value)


def test_yaml_errors_do_not_quote_the_document() -> None:
    with pytest.raises(BenchmarkSourceError) as err:
        parse_scenarios("- id: ok\n  prompt: SECRET: [broken\n", origin="src")
    assert "SECRET" not in str(err.value) and "line" in str(err.value)


def test_not_utf8() -> None:
    with pytest.raises(BenchmarkSourceError, match="not UTF-8"):
        parse_scenarios(b"\xff\xfe[]", origin="src")


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(BenchmarkSourceError) as err:
        parse_scenarios(json.dumps([doc(0), doc(0), doc(1), doc(1), doc(0)]), origin="src")
    assert str(err.value) == (
        "src: scenario ids must be unique: the id s-00 is used by items 1, 2 and 5; "
        "the id s-01 is used by items 3 and 4"
    )
