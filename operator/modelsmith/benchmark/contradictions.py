"""Scenarios no answer can pass, proven from the criteria alone.

The probe challenges (challenges.py) try a handful of answers and can only suspect; this module
reasons about what each criterion requires and reports a scenario only when the requirements
cannot all hold at once, so a report is a defect, not a hunch: the Benchmark is Invalid. What it
proves (each argument is in the function that makes it):

- a pass criterion that holds on no answer (`notContains ""`) or a fail criterion that holds on
  every answer (`contains ""`);
- a fail criterion identical to a pass criterion;
- text one criterion requires that another forbids: `contains "refund"` with `notContains
  "fund"`, or with a fail `contains "refund"`; `notContains "x"` with a fail `notContains "x"`;
- numeric pass criteria whose ranges do not meet, or a fail range that covers them;
- a whole-answer label (`equals`, `oneOf`) every one of whose labels another criterion rules out,
  e.g. `oneOf [approve, deny]` with `contains "refund"`, or `equals "approve"` with `notContains
  "prov"`.

Anything it cannot decide (regexes, JSON schemas, case-sensitive checks against a label matched
case-insensitively) counts as satisfiable: a false report would block a sound benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelsmith.api.criteria import Criterion, CriterionKind
from modelsmith.contract.criteria import CriterionError, prepare, validate_criterion
from modelsmith.contract.scenario import Scenario

K = CriterionKind
_PINS = (K.EQUALS, K.ONE_OF)
# Numeric ranges are compared with this much room on each side, so that float rounding in the
# check (abs(number - target) <= slack) can never make a reported contradiction false.
_ROOM = 1e-6


@dataclass(frozen=True)
class Placed:
    """A criterion and where it sits: pass[1], fail[0]."""

    role: str
    index: int
    criterion: Criterion

    @property
    def label(self) -> str:
        return f"{self.role}[{self.index}] ({self.criterion.kind})"

    @property
    def cs(self) -> bool:
        return self.criterion.case_sensitive

    @property
    def text(self) -> str:
        return self.criterion.value or ""


def contradiction(scenario: Scenario) -> str | None:
    """Why no answer can pass the scenario, naming criteria by place and kind only; None when
    some answer may pass, and when a criterion is unusable (reported as InvalidCriteria)."""
    passes = [Placed("pass", i, c) for i, c in enumerate(scenario.pass_criteria)]
    fails = [Placed("fail", i, c) for i, c in enumerate(scenario.fail_criteria)]
    if any(validate_criterion(p.criterion) for p in (*passes, *fails)):
        return None
    rules: tuple[Callable[[list[Placed], list[Placed]], str | None], ...] = (
        _impossible_alone,
        _identical,
        _text_conflict,
        _numeric_conflict,
        _labels_ruled_out,
    )
    for rule in rules:
        why = rule(passes, fails)
        if why:
            return why
    return None


def _fold(text: str, fold: bool) -> str:
    return text.casefold() if fold else text


def _impossible_alone(passes: list[Placed], fails: list[Placed]) -> str | None:
    # "" is in every answer: notContains "" never holds, contains "" always does.
    for p in passes:
        if p.criterion.kind == K.NOT_CONTAINS and p.text == "":
            return f"{p.label} of empty text holds for no answer"
    for f in fails:
        if f.criterion.kind == K.CONTAINS and f.text == "":
            return f"{f.label} of empty text holds for every answer"
    return None


def _identical(passes: list[Placed], fails: list[Placed]) -> str | None:
    for f in fails:
        for p in passes:
            if f.criterion == p.criterion:
                return f"{f.label} is the same check as {p.label}: it holds whenever that does"
    return None


def _entails(present: Placed, implied: Placed) -> bool:
    """Every answer containing `present`'s text contains `implied`'s. Folding is per
    character, so a folded substring stays a substring of the folded answer; a case-sensitive
    text is not implied by a case-insensitive one (the answer's case is free)."""
    if implied.cs and not present.cs:
        return False
    fold = not implied.cs
    return _fold(implied.text, fold) in _fold(present.text, fold)


def _text_conflict(passes: list[Placed], fails: list[Placed]) -> str | None:
    wanted = [p for p in passes if p.criterion.kind == K.CONTAINS]
    banned = [p for p in passes if p.criterion.kind == K.NOT_CONTAINS]
    for need in wanted:
        for other in [*banned, *(f for f in fails if f.criterion.kind == K.CONTAINS)]:
            if _entails(need, other):
                return f"{need.label} requires text that {other.label} rules out"
    # An answer without `ban`'s text also lacks any text containing it, so a fail notContains
    # of such a text holds on every answer the pass notContains admits.
    for ban in banned:
        for f in fails:
            if f.criterion.kind == K.NOT_CONTAINS and _entails(f, ban):
                return f"{f.label} holds on every answer {ban.label} admits"
    return None


def _range(p: Placed) -> tuple[float, float]:
    target = p.criterion.target or 0.0
    slack = (p.criterion.tolerance or 0.0) + 1e-9 * max(1.0, abs(target))
    return target - slack, target + slack


def _numeric_conflict(passes: list[Placed], fails: list[Placed]) -> str | None:
    # Every numeric check reads the same number (the answer's first), so the pass ranges must
    # meet, and a fail range covering where they meet holds on every passing answer.
    numeric = [p for p in passes if p.criterion.kind == K.NUMERIC]
    if not numeric:
        return None
    low = max(numeric, key=lambda p: _range(p)[0])
    high = min(numeric, key=lambda p: _range(p)[1])
    lo, hi = _range(low)[0], _range(high)[1]
    room = _ROOM * max(1.0, abs(lo), abs(hi))
    if lo > hi + room:
        return f"{low.label} and {high.label} accept no common number"
    for f in fails:
        if f.criterion.kind == K.NUMERIC:
            f_lo, f_hi = _range(f)
            if f_lo < lo - room and f_hi > hi + room:
                return f"{f.label} covers every number the numeric pass criteria accept"
    return None


def _labels(pin: Placed) -> list[str]:
    c = pin.criterion
    values = [c.value or ""] if c.kind == K.EQUALS else list(c.values or [])
    return [v.strip() for v in values]


def _labels_ruled_out(passes: list[Placed], fails: list[Placed]) -> str | None:
    for pin in passes:
        if pin.criterion.kind not in _PINS:
            continue
        rulers: list[str] = []
        for label in _labels(pin):
            ruler = next(
                (c for c in (*passes, *fails) if c is not pin and _rules_out(pin, label, c)), None
            )
            if ruler is None:
                break
            rulers.append(ruler.label)
        else:
            return _ruled_out_message(pin, sorted(set(rulers)))
    return None


def _ruled_out_message(pin: Placed, rulers: list[str]) -> str:
    count = len(_labels(pin))
    what = "one whole answer" if count == 1 else f"{count} whole answers (its labels)"
    verb = "rules" if len(rulers) == 1 else "rule"
    which = "it" if count == 1 else "every one"
    return f"{pin.label} accepts only {what}, and {', '.join(rulers)} {verb} {which} out"


def _rules_out(pin: Placed, label: str, c: Placed) -> bool:
    """No answer the pin accepts through `label` satisfies `c` (as a pass criterion) or avoids
    it (as a fail criterion).

    Such an answer is the label's core wrapped in whitespace: the core equals the label when
    the pin is case-sensitive, and has the same casefold when it is not. So a text check
    decides on the label when the check folds case or the pin does not; a text that neither
    starts nor ends with whitespace can only be found inside the core."""
    kind = K(c.criterion.kind)
    fold = not (pin.cs and c.cs)
    decidable = not c.cs or pin.cs
    core = _fold(label, fold)
    if kind in (K.CONTAINS, K.NOT_CONTAINS):
        text = _fold(c.text, fold)
        absent = _bounded(c.text, fold) and text not in core
        present = decidable and text in core
        required = (kind == K.CONTAINS) == (c.role == "pass")
        return absent if required else present
    if kind in _PINS:
        listed = core in {_fold(v, fold) for v in _labels(c)}
        return (not listed) if c.role == "pass" else (decidable and listed)
    if kind == K.NUMERIC and (pin.cs or label.isascii()):
        # Whitespace and case never change which number an answer starts with: digits, signs
        # and points have no case, and a letter folds to letters only (checked for ASCII
        # labels, whose case variants are letters wherever the label has one).
        holds = _numeric_holds(c.criterion, label)
        return (not holds) if c.role == "pass" else holds
    return False


def _bounded(text: str, fold: bool) -> bool:
    folded = _fold(text, fold)
    return bool(text) and text == text.strip() and folded == folded.strip()


def _numeric_holds(criterion: Criterion, answer: str) -> bool:
    try:
        return prepare(criterion).evaluate(answer).holds
    except CriterionError:  # pragma: no cover - unusable criteria are skipped above
        return False


def contradictions(scenarios: Sequence[Scenario]) -> list[tuple[str, str]]:
    """(scenario id, why) for each scenario no answer can pass."""
    found = []
    for scenario in scenarios:
        why = contradiction(scenario)
        if why:
            found.append((scenario.id, why))
    return found
