r"""Regular expressions a rubric may use, compiled and matched with RE2 (google-re2).

RE2 matches in time linear in the answer's length whatever the pattern, so no pattern can make
scoring run away, and a pattern is searched for in the whole answer. The price is that RE2 has
no backtracking features: backreferences, lookahead and lookbehind, atomic groups, possessive
repeats. A pattern using one is refused like one that does not compile at all, with the reason
in plain words: the Benchmark is not Ready (InvalidCriteria, and an InvalidRegex challenge), and
the evaluator exits with its bad-criterion code. It cannot be refused at admission: the CRD's
CEL rules have no test for whether a string compiles as a pattern.

Where RE2 reads a pattern differently from Python's `re`, in ways a rubric author may notice
(the syntax is RE2's: https://github.com/google/re2/wiki/Syntax):
- `\w`, `\d`, `\s` and `\b` are ASCII only: `\w+` stops at "é", and `\bcafé\b` does not match
  "un café." (é is not a word character, so there is no boundary after it). `\p{L}` is a letter
  and `\p{Nd}` a digit in any script. `\s` is `[\t\n\f\r ]`: no vertical tab, no-break space or
  other Unicode space.
- `$` (without `(?m)`) matches only at the very end, not also before a final newline. The
  evaluator strips answers, so this shows only in answers scored elsewhere.
- `\Z` is written `\z` and `\uXXXX` is written `\x{XXXX}`; `(?x)`, `(?a)`, `(?#...)` and `[\b]`
  are refused; `a{,3}` is the literal text "a{,3}", not up to three a's; a repeat count is at
  most 1000.
Case-insensitive matching folds case one character at a time in both ("STRASSE" does not match
"straße"), and on the characters they agree on, the two find the same matches
(tests/unit/test_criteria_properties.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2

from modelsmith.contract.criteria.errors import CriterionError

MAX_PATTERN_LENGTH = 256

# RE2's errors read "<what is wrong>: <the part of the pattern at fault>". Only the first half is
# reported, in these words: the second is the criterion's own text, which stays off shared
# surfaces.
_ERRORS = {
    "invalid escape sequence": "an escape sequence RE2 does not know",
    "invalid character class": "an invalid character class",
    "invalid character class range": "a character range out of order or invalid",
    "missing ]": "a character class is not closed",
    "missing )": "a group is not closed",
    "unexpected )": "a closing parenthesis has no group",
    "trailing \\": "the pattern ends in a backslash",
    "no argument for repetition operator": "a repeat has nothing to repeat",
    "invalid repetition size": "a repeat count is out of order or over 1000 (nested ones multiply)",
    "bad repetition operator": "a repeat is repeated",
    "invalid perl operator": "a (?...) group RE2 does not know",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "an invalid group name",
    "pattern too large - compile failed": "the pattern is too large",
    "pattern too large - reverse compile failed": "the pattern is too large",
}
# Features of Python's `re` that RE2 leaves out, told apart by the operator RE2 names.
_UNSUPPORTED_GROUPS = {
    "(?=": "lookahead is",
    "(?!": "lookahead is",
    "(?<=": "lookbehind is",
    "(?<!": "lookbehind is",
    "(?>": "atomic groups are",
    "(?P": "backreferences are",  # (?P<name>...) compiles; (?P=name) is what fails
    "(?#": "comments are",
}


@dataclass(frozen=True)
class RegexPattern:
    """A pattern RE2 compiled, searched for anywhere in an answer."""

    regex: Any  # re2._Regexp; google-re2 ships no type information

    def search(self, text: str) -> bool:
        # As bytes, RE2 searches the UTF-8 directly (no offsets to map back: only whether it
        # matched counts); "surrogatepass" lets an answer holding a lone surrogate be searched
        # rather than raise.
        return self.regex.search(text.encode("utf-8", "surrogatepass")) is not None


def compile_pattern(pattern: str, case_sensitive: bool) -> RegexPattern:
    """The compiled pattern; raises CriterionError (invalid-regex) with the reason."""
    compiled = _compile_cached(pattern, case_sensitive)
    if isinstance(compiled, RegexPattern):
        return compiled
    raise CriterionError("regex", compiled, "invalid-regex")


@lru_cache(maxsize=1024)
def _compile_cached(pattern: str, case_sensitive: bool) -> RegexPattern | str:
    # Refusals are cached too, as their reason: a cached exception object would keep growing
    # its traceback each time it is raised again.
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern is longer than {MAX_PATTERN_LENGTH} characters"
    options = re2.Options()
    options.case_sensitive = case_sensitive
    # RE2 would otherwise log every refused pattern, quoting it, to the operator's stderr.
    options.log_errors = False
    try:
        # Encoded here, like the answers: str.encode would refuse a lone surrogate.
        return RegexPattern(re2.compile(pattern.encode("utf-8", "surrogatepass"), options))
    except re2.error as err:
        return f"pattern does not compile: {_reason(err)}"


def _reason(err: Exception) -> str:
    raw = err.args[0] if err.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    what, _, where = message.partition(": ")
    if what == "invalid escape sequence" and where == "\\Z":
        return "RE2 writes \\Z (end of text) as \\z"
    unsupported = _unsupported(what, where)
    if unsupported:
        return f"{unsupported} not supported (RE2 matches without backtracking)"
    return _ERRORS.get(what, "a syntax error")


def _unsupported(what: str, where: str) -> str | None:
    """Which feature of Python's `re` that RE2 leaves out the pattern uses, if that is why it
    does not compile."""
    if what == "invalid escape sequence" and len(where) > 1 and where[1] in "123456789":
        return "backreferences are"
    if what == "invalid perl operator":
        found = [says for op, says in _UNSUPPORTED_GROUPS.items() if where.startswith(op)]
        return found[0] if found else None
    if what == "bad repetition operator" and where.endswith("+"):
        return "possessive repeats are"
    return None
