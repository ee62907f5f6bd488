"""Regular expressions a rubric may use: compiled once, refused when matching could run away.

Python's `re` backtracks, so some patterns take exponential or high-polynomial time on answers a
small model readily produces (long runs of one word, repeated phrases). There is no timeout in
`re`, and a wall-clock timeout would make scores depend on the machine, so the guard is static:
it reads the parsed pattern and refuses the shapes that backtrack badly, then bounds how much of
the answer an accepted pattern sees.

A repeat is *ambiguous* when the characters it consumes can also start what follows it: then
the engine may try every split between the two. Refused:
- nested quantifiers: an ambiguous repeat inside a repeat, e.g. `(a+)+`, `(a*)*`, `(\\w+\\s?)+`;
- alternatives that can start with the same character inside a repeat, e.g. `(a|a)*`, `(a|ab)*`;
- open-ended repeats over shared characters with only optional parts between, e.g. `\\d+\\d+`,
  `.*.*`, `\\s*\\w*\\s*`;
- a pattern that starts with an ambiguous open-ended repeat (`.*refund`): search already tries
  every position, so the leading part only multiplies the work;
- bounded choices whose combinations multiply past 2**10 (`a?a?a?...aaa`);
- backreferences;
- patterns whose worst case grows faster than the cube of the answer's length.
The worst case of a search is about n**degree for an answer of n characters: one n for the start
positions, one per ambiguous open-ended repeat (every stopping place may be tried), and one more
for an open-ended repeat scanned afresh for each of those. An accepted pattern of degree 2 or less
sees the first MAX_INPUT characters of the answer; one of degree 3 (`a.*b.*c`) the first
MAX_INPUT_CUBIC.
"""

from __future__ import annotations

import math
import re
import string
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from modelsmith.criteria.errors import CriterionError, Problem

with warnings.catch_warnings():
    # The parser `re` itself uses is the only reader of a pattern's structure; only its public
    # alias is deprecated.
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants as sc
    import sre_parse

MAX_PATTERN_LENGTH = 256
MAX_INPUT = 2048
MAX_INPUT_CUBIC = 512
MAX_DEGREE = 3
# A repeat allowing more than OPEN_ENDED iterations costs as much as an unbounded one.
OPEN_ENDED = 32
# Bounded choices (a?, a{1,3}, alternatives that start alike) multiply: at most 2**10 combinations.
MAX_BRANCHING_BITS = 10
# An enclosing repeat allowing more than LOOP iterations multiplies inner ambiguity beyond reach.
LOOP = 8

_Item = tuple[Any, Any]
_REPEATS = (sc.MAX_REPEAT, sc.MIN_REPEAT, sc.POSSESSIVE_REPEAT)
_ATOMS = (sc.LITERAL, sc.NOT_LITERAL, sc.ANY)
_ANCHORS = (sc.AT_BEGINNING, sc.AT_BEGINNING_STRING)
# Characters the analysis tries when it asks "can these two parts consume the same character?";
# the pattern's own characters are added per pattern.
_PROBE_CHARS = string.printable + "\u00e9\u00df\u0130\u00a0\u0663\u4e2d"
_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sc.CATEGORY_DIGIT: str.isdecimal,
    sc.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdecimal(),
    sc.CATEGORY_SPACE: str.isspace,
    sc.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
    sc.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
    sc.CATEGORY_NOT_WORD: lambda ch: not (ch.isalnum() or ch == "_"),
}
_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SafePattern:
    """A compiled pattern the guard accepted and how much of an answer it may see."""

    regex: re.Pattern[str]
    input_limit: int

    def search(self, text: str) -> bool:
        return self.regex.search(text[: self.input_limit]) is not None


def compile_pattern(pattern: str, case_sensitive: bool) -> SafePattern:
    """The accepted, compiled pattern; raises CriterionError (invalid-regex or runaway-regex)."""
    compiled = _compile_cached(pattern, case_sensitive)
    if isinstance(compiled, SafePattern):
        return compiled
    reason, problem = compiled
    raise CriterionError("regex", reason, problem)


@lru_cache(maxsize=1024)
def _compile_cached(pattern: str, case_sensitive: bool) -> SafePattern | tuple[str, Problem]:
    # Refusals are cached too (as plain values: a cached exception object would keep growing
    # its traceback each time it is raised again).
    try:
        return _compile(pattern, case_sensitive)
    except CriterionError as err:
        return err.reason, err.problem


def _compile(pattern: str, case_sensitive: bool) -> SafePattern:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise CriterionError(
            "regex", f"pattern is longer than {MAX_PATTERN_LENGTH} characters", "invalid-regex"
        )
    flags = 0 if case_sensitive else re.IGNORECASE
    try:
        with warnings.catch_warnings():
            # FutureWarnings about syntax `re` may read differently one day ("[[") would reach
            # the operator's log on every benchmark check; the pattern works as written today.
            warnings.simplefilter("ignore", FutureWarning)
            regex = re.compile(pattern, flags)
            parsed = sre_parse.parse(pattern, flags)
    except re.error as err:
        where = f" at position {err.pos}" if err.pos is not None else ""
        raise CriterionError(
            "regex", f"pattern does not compile ({_plain_words(err.msg)}{where})", "invalid-regex"
        ) from None
    except (OverflowError, RecursionError, ValueError):
        raise CriterionError("regex", "pattern does not compile", "invalid-regex") from None
    degree = _Analysis(pattern, parsed).run()
    limit = MAX_INPUT if degree <= 2 else MAX_INPUT_CUBIC
    return SafePattern(regex=regex, input_limit=limit)


def _plain_words(message: str) -> str:
    """`re` error messages sometimes echo a fragment of the pattern; keep only plain words."""
    words = [w for w in message.split() if re.fullmatch(r"[a-z]+,?", w)]
    return " ".join(words).rstrip(",") or "syntax error"


def _runaway(reason: str) -> CriterionError:
    return CriterionError("regex", reason, "runaway-regex")


@dataclass(frozen=True)
class _Shape:
    first: frozenset[str]  # characters that can start a non-empty match
    chars: frozenset[str]  # characters it can consume anywhere
    nullable: bool  # whether it can match the empty string
    open_ended: bool  # whether it contains an open-ended repeat


_ZERO = _Shape(_EMPTY, _EMPTY, True, False)


def _flatten(sub: Any) -> list[_Item]:
    """Groups that are not repeated behave as their contents in sequence."""
    items: list[_Item] = []
    for op, av in sub.data:
        if op is sc.SUBPATTERN:
            items.extend(_flatten(av[-1]))
        elif op is sc.ATOMIC_GROUP:
            items.extend(_flatten(av))
        else:
            items.append((op, av))
    return items


def _subpatterns(op: Any, av: Any) -> list[Any]:
    if op is sc.SUBPATTERN:
        return [av[-1]]
    if op is sc.ATOMIC_GROUP:
        return [av]
    if op in _REPEATS:
        return [av[2]]
    if op is sc.BRANCH:
        return list(av[1])
    if op in (sc.ASSERT, sc.ASSERT_NOT):
        return [av[1]]
    if op is sc.GROUPREF_EXISTS:
        return [p for p in av[1:] if p is not None]
    return []


def _walk(sub: Any) -> list[_Item]:
    found: list[_Item] = []
    for op, av in sub.data:
        found.append((op, av))
        for child in _subpatterns(op, av):
            found.extend(_walk(child))
    return found


class _Analysis:
    def __init__(self, pattern: str, parsed: Any) -> None:
        self.parsed = parsed
        all_items = _walk(parsed)
        local_ignorecase = any(
            op is sc.SUBPATTERN and av[1] & re.IGNORECASE for op, av in all_items
        )
        self.ignorecase = bool(parsed.state.flags & re.IGNORECASE) or local_ignorecase
        self.universe = frozenset(_PROBE_CHARS) | frozenset(pattern)
        self.open_ambiguous = 0
        self.open_ended = 0
        self.branching = 0.0  # log2 of the combinations of bounded choices
        self._shapes: dict[tuple[Any, Any], _Shape] = {}
        if any(op in (sc.GROUPREF, sc.GROUPREF_EXISTS) for op, _ in all_items):
            raise _runaway("backreferences are not allowed (they make matching unbounded)")

    def run(self) -> int:
        items = _flatten(self.parsed)
        self._scan(items, _EMPTY, _Context())
        self._leading(items, _EMPTY)
        if self.branching > MAX_BRANCHING_BITS:
            raise _runaway(
                "too many optional parts that can match the same text (like a?a?a?aaa); "
                "the matcher would try every combination"
            )
        degree = 1 + min(self.open_ended, self.open_ambiguous + 1)
        if degree > MAX_DEGREE:
            raise _runaway(
                "too many open-ended repeats whose work multiplies (like a.*b.*c.*d); "
                "at most two may overlap what follows them"
            )
        return degree

    # -- character sets -------------------------------------------------------------------------

    def _matching(self, test: Callable[[str], bool], negate: bool = False) -> frozenset[str]:
        """The probe characters `test` accepts, each under every case it may take when the
        pattern ignores case; `negate` applies after case folding, as `re` does for [^x]."""
        if self.ignorecase:
            return frozenset(
                ch
                for ch in self.universe
                if any(test(v) for v in {ch, ch.lower(), ch.upper()} if len(v) == 1) != negate
            )
        return frozenset(ch for ch in self.universe if test(ch) != negate)

    def _atom(self, op: Any, av: Any) -> frozenset[str] | None:
        if op is sc.LITERAL:
            return self._matching(lambda ch: ch == chr(av))
        if op is sc.NOT_LITERAL:
            return self._matching(lambda ch: ch == chr(av), negate=True)
        if op is sc.ANY:
            return self.universe
        if op is sc.IN:
            negate = any(item_op is sc.NEGATE for item_op, _ in av)
            return self._matching(lambda ch: _in_set(av, ch), negate=negate)
        return None

    # -- shapes ---------------------------------------------------------------------------------

    def _item_shape(self, op: Any, av: Any) -> _Shape:
        # Atoms are keyed by value; compound items by identity (the parsed tree outlives the
        # analysis, so identities are stable).
        key = (op, tuple(av) if op is sc.IN else av if op in _ATOMS else id(av))
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self._compute_shape(op, av)
        return shape

    def _compute_shape(self, op: Any, av: Any) -> _Shape:
        atom = self._atom(op, av)
        if atom is not None:
            return _Shape(atom, atom, False, False)
        if op in _REPEATS:
            lo, hi, body = av
            inner = self._seq_shape(_flatten(body))
            if hi == 0:
                return _ZERO
            return _Shape(
                inner.first,
                inner.chars,
                lo == 0 or inner.nullable,
                hi > OPEN_ENDED or inner.open_ended,
            )
        if op is sc.BRANCH:
            shapes = [self._seq_shape(_flatten(alt)) for alt in av[1]]
            return _Shape(
                frozenset().union(*(s.first for s in shapes)),
                frozenset().union(*(s.chars for s in shapes)),
                any(s.nullable for s in shapes),
                any(s.open_ended for s in shapes),
            )
        # Anchors and lookarounds consume nothing.
        return _ZERO

    def _seq_shape(self, items: Sequence[_Item]) -> _Shape:
        return self._suffixes(items)[0]

    def _suffixes(self, items: Sequence[_Item]) -> list[_Shape]:
        """suffixes[i] is the shape of items[i:] (the last one, of nothing)."""
        shapes = [_ZERO] * (len(items) + 1)
        for index in range(len(items) - 1, -1, -1):
            head = self._item_shape(*items[index])
            tail = shapes[index + 1]
            shapes[index] = _Shape(
                head.first | tail.first if head.nullable else head.first,
                head.chars | tail.chars,
                head.nullable and tail.nullable,
                head.open_ended or tail.open_ended,
            )
        return shapes

    # -- checks ---------------------------------------------------------------------------------

    def _leading(self, items: Sequence[_Item], follow: frozenset[str]) -> bool:
        """Refuses an ambiguous open-ended repeat that can begin the match: search already
        tries every start position, so it only multiplies the work. Returns whether all of
        `items` may match empty text (so what follows may begin the match too)."""
        suffixes = self._suffixes(items)
        for index, (op, av) in enumerate(items):
            if op is sc.AT and av in _ANCHORS and not self.parsed.state.flags & re.MULTILINE:
                return False
            rest = suffixes[index + 1]
            after = rest.first | (follow if rest.nullable else _EMPTY)
            if op is sc.BRANCH:
                for alternative in av[1]:
                    self._leading(_flatten(alternative), after)
            elif op in _REPEATS:
                lo, hi, sub = av
                body = self._seq_shape(_flatten(sub))
                if hi > OPEN_ENDED and lo != hi and body.chars & after:
                    raise _runaway(
                        "starts with an open-ended repeat (like .*); matching already looks "
                        "anywhere in the answer, so drop the leading part"
                    )
                self._leading(_flatten(sub), (body.first if hi > 1 else _EMPTY) | after)
            if not self._item_shape(op, av).nullable:
                return False
        return True

    def _scan(self, items: Sequence[_Item], follow: frozenset[str], ctx: _Context) -> None:
        """`follow`: the characters that can come right after `items`."""
        suffixes = self._suffixes(items)
        for index, (op, av) in enumerate(items):
            rest = suffixes[index + 1]
            after = rest.first | (follow if rest.nullable else _EMPTY)
            if op in _REPEATS:
                self._repeat(items, index, av, after, ctx)
            elif op is sc.BRANCH:
                alternatives = [_flatten(alt) for alt in av[1]]
                if self._overlapping(alternatives):
                    if ctx.loop:
                        raise _runaway(
                            "alternatives inside a repeat can match the same text (like (a|a)* "
                            "or (a|ab)*), so the same answer splits in many ways"
                        )
                    self.branching += ctx.multiplier * math.log2(len(alternatives))
                for alternative in alternatives:
                    self._scan(alternative, after, ctx)
            elif op in (sc.ASSERT, sc.ASSERT_NOT):
                self._scan(_flatten(av[1]), _EMPTY, ctx)

    def _repeat(
        self, items: Sequence[_Item], index: int, av: Any, after: frozenset[str], ctx: _Context
    ) -> None:
        lo, hi, sub = av
        body = _flatten(sub)
        shape = self._seq_shape(body)
        open_ended = hi > OPEN_ENDED
        # Ambiguous: where this repeat stops is not decided by what follows it.
        ambiguous = lo != hi and bool(shape.chars & after)
        if ambiguous and (ctx.loop or (ctx.many and open_ended)):
            raise _runaway(
                "a repeat inside a repeat can split the same text in many ways "
                "(nested quantifier, like (a+)+); use one repeat or a possessive one"
            )
        if ambiguous and open_ended:
            self.open_ambiguous += 1
        elif ambiguous:
            self.branching += ctx.multiplier * math.log2(hi - lo + 1)
        if open_ended:
            self.open_ended += 1
            self._adjacent(items, index, shape)
        body_follow = (shape.first if hi > 1 else _EMPTY) | after
        inner = _Context(
            many=ctx.many or hi > 1,
            loop=ctx.loop or hi > LOOP,
            multiplier=ctx.multiplier * hi if hi <= LOOP else ctx.multiplier,
        )
        self._scan(body, body_follow, inner)

    def _adjacent(self, items: Sequence[_Item], index: int, shape: _Shape) -> None:
        for op, av in items[index + 1 :]:
            following = self._item_shape(op, av)
            if following.open_ended and following.first & shape.chars:
                raise _runaway(
                    "two open-ended repeats over the same characters follow each other "
                    "(like \\d+\\d+ or .*.*); merge them into one"
                )
            if not following.nullable:
                return

    def _overlapping(self, alternatives: Sequence[Sequence[_Item]]) -> bool:
        """Whether more than one alternative may match at the same place. `re` factors a
        shared prefix out of alternatives ((a|ab) becomes a(?:|b)), so an empty alternative is
        as telling as two that start alike."""
        shapes = [self._seq_shape(alt) for alt in alternatives]
        return any(s.nullable for s in shapes) or any(
            left.first & right.first for i, left in enumerate(shapes) for right in shapes[i + 1 :]
        )


@dataclass(frozen=True)
class _Context:
    """Where a part of the pattern sits. many: inside a repeat that may iterate more than once;
    loop: inside one that may iterate more than LOOP times; multiplier: how many times the
    enclosing bounded repeats may run it."""

    many: bool = False
    loop: bool = False
    multiplier: int = 1


def _any_char(_ch: str) -> bool:
    return True


def _in_set(items: Any, ch: str) -> bool:
    """Whether `ch` is one of a character class's members, before any negation."""
    hit = False
    for op, av in items:
        if op is sc.LITERAL:
            hit = hit or ch == chr(av)
        elif op is sc.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op is sc.CATEGORY:
            # A category this guard does not know is assumed to match, which only makes the
            # guard stricter.
            hit = hit or _CATEGORIES.get(av, _any_char)(ch)
    return hit
