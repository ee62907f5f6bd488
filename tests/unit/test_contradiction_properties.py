"""Properties of the unpassable-criteria finder: it must never call a passable scenario
unpassable (a false report makes a sound Benchmark Invalid), whatever the criteria."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from modelsmith.benchmark.contradictions import contradiction
from modelsmith.contract.criteria import prepare, score_scenario
from modelsmith.contract.scenario import Scenario

# Texts that collide in the ways folding and substrings make them collide: "ß" folds to "ss",
# the Kelvin sign to "k", "prov" sits inside "approve", and some carry whitespace at an edge.
TEXTS = [
    "approve", "APPROVE", "prov", "deny", "refund", "fund", "", " a", "a ", "a b", "ss", "\u00df",
    "\u212a", "1", "3.5", "approve 2",
]  # fmt: skip
NUMBERS = [-1.0, 0.0, 1.0, 2.0, 3.5, 10.0]
TOLERANCES = [0.0, 0.5, 1.0, 5.0]
PATTERNS = [r"\d", "^a", "prov", "(?i)AP", "e$", "^$"]

case = st.booleans()


def criteria(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda k, v, c: {"kind": k, "value": v, "caseSensitive": c},
                  st.sampled_from(["contains", "notContains", "equals"]), text, case),
        st.builds(lambda vs, c: {"kind": "oneOf", "values": vs, "caseSensitive": c},
                  st.lists(text, min_size=1, max_size=3), case),
        st.builds(lambda t, tol: {"kind": "numeric", "target": t, "tolerance": tol},
                  st.sampled_from(NUMBERS), st.sampled_from(TOLERANCES)),
        st.builds(lambda p, c: {"kind": "regex", "value": p, "caseSensitive": c},
                  st.sampled_from(PATTERNS), case),
    )  # fmt: skip


def scenario_of(passes: list[dict[str, Any]], fails: list[dict[str, Any]]) -> Scenario:
    return Scenario.model_validate(
        {
            "id": "s-00",
            "capability": "routing",
            "risk": "low",
            "operatorLens": "agent",
            "outcomeType": "route",
            "split": "train",
            "prompt": "p",
            "pass": passes,
            "fail": fails,
        }
    )


def _forms(word: str) -> list[str]:
    """The word and texts that nest in it, contain it or differ only in case or whitespace."""
    return [word, word.upper(), word.title(), f" {word}", f"{word}\n", word[1:], word[:-1]]


def _over(vocabulary: list[str]) -> st.SearchStrategy[Scenario]:
    text = st.sampled_from(vocabulary).flatmap(lambda w: st.sampled_from(_forms(w)))
    each = criteria(text)
    # Half the scenarios lead with a whole-answer label, the check with the most cases.
    pin = st.builds(
        lambda k, vs, c: (
            {"kind": "equals", "value": vs[0], "caseSensitive": c}
            if k == "equals"
            else {"kind": "oneOf", "values": vs, "caseSensitive": c}
        ),
        st.sampled_from(["equals", "oneOf"]),
        st.lists(text, min_size=1, max_size=2),
        case,
    )
    pinned = st.builds(lambda p, rest: [p, *rest], pin, st.lists(each, max_size=3))
    return st.builds(
        scenario_of,
        st.one_of(st.lists(each, min_size=1, max_size=4), pinned),
        st.lists(each, max_size=3),
    )


# Each scenario draws its texts from a small vocabulary, so that its criteria share and nest
# texts often: the interesting cases are the collisions.
scenarios = st.lists(st.sampled_from(TEXTS), min_size=1, max_size=2, unique=True).flatmap(_over)


def _texts_of(scenario: Scenario) -> list[str]:
    found: list[str] = []
    for c in (*scenario.pass_criteria, *scenario.fail_criteria):
        found.extend([c.value] if c.value is not None else [])
        found.extend(c.values or [])
        if c.target is not None:
            tol = c.tolerance or 0.0
            found.extend(f"{n:g}" for n in (c.target, c.target - tol, c.target + tol))
    return found


def candidates(scenario: Scenario) -> list[str]:
    """Answers built from the scenario's own texts: each in several cases and with whitespace
    around it, and pairs of them side by side, plus the shared pool."""
    own = sorted(set(_texts_of(scenario)))
    base = sorted(set(own + TEXTS))
    cased = {form for t in base for form in (t, t.upper(), t.lower(), t.title(), t.swapcase())}
    spaced = {w for t in cased for w in (t, f" {t}", f"{t}\n", f"\t{t} ")}
    pairs = {f"{a}{gap}{b}" for a in own for b in base for gap in ("", " ")}
    return sorted(spaced | pairs)


def passes(scenario: Scenario, answers: list[str]) -> list[str]:
    # Prepared once: scoring each answer afresh would prepare every criterion every time.
    required = [prepare(c) for c in scenario.pass_criteria]
    refused = [prepare(c) for c in scenario.fail_criteria]
    return [
        a
        for a in answers
        if all(c.evaluate(a).holds for c in required)
        and not any(c.evaluate(a).holds for c in refused)
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_a_scenario_reported_unpassable_has_no_passing_answer(scenario: Scenario) -> None:
    if contradiction(scenario) is None:
        return
    passing = passes(scenario, candidates(scenario))
    assert passing == [], (contradiction(scenario), passing[:3])
    assert not any(score_scenario(scenario, a).passed for a in TEXTS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, st.data())
def test_a_reference_that_passes_means_never_reported(scenario: Scenario, data: Any) -> None:
    reference = data.draw(st.sampled_from(candidates(scenario)))
    if score_scenario(scenario, reference).passed:
        assert contradiction(scenario) is None


def test_the_generator_reaches_every_kind_of_report() -> None:
    # Without reports the properties above would hold vacuously.
    for fragment in ("accepts only", "requires text", "no common number", "same check", "empty"):
        found = find(scenarios, lambda s, f=fragment: f in (contradiction(s) or ""))
        assert fragment in (contradiction(found) or "")
