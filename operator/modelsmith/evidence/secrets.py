"""Detectors for credentials and record identifiers: known token shapes, high-entropy strings,
assignments (`password=…`, `password is …`, `DB_PASSWORD …`), `KEY=VALUE` identifiers of
people's records, and text that leaks once URL- or base64-decoded."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Final
from urllib.parse import unquote

from modelsmith.evidence.findings import Finding, LeakKind, strip_trailing

_PEM: Final = re.compile(
    r"-----BEGIN [A-Z0-9 ]{3,40}-----.*?(?:-----END [A-Z0-9 ]{3,40}-----|\Z)", re.DOTALL
)
_JWT: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AWS_KEY_ID: Final = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")
# A value may follow an `=` (`sig=…`): only padding ends a token with one, none starts one.
_AWS_SECRET: Final = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_KNOWN_TOKEN: Final = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}"
    r"|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})"
)
_AUTH_HEADER: Final = re.compile(
    r"(?i)\bauthorization\s*[:=]\s*(?:(?:basic|bearer|token)\s+)?"
    r"(?!(?:basic|bearer|token)\b)([A-Za-z0-9._~+/-]{6,}=*)"
)
# A bare "bearer <x>" is a token only when <x> reads like one, not in prose ("bearer tokens").
_BEARER: Final = re.compile(
    r"(?i)\bbearer\s+((?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{8,}=*|[A-Za-z0-9._~+/-]{20,}=*)"
)
_SECRET_WORD: Final = (
    r"(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_ -]?key|access[_ -]?key|private[_ -]?key"
    r"|credentials?|client[_-]?secret|dsn|conn(?:ection)?[_-]?str(?:ing)?|pin[_-]?code)"
)
_ASSIGNED: Final = re.compile(
    rf"(?i)(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{{0,40}}?{_SECRET_WORD}[A-Za-z0-9_.-]{{0,40}})"
    r"\s*[:=]\s*(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;\"']+)"
)
# Prose ("the password is hunter2") and environment-variable forms ("DB_PASSWORD hunter2").
_SAID: Final = re.compile(
    rf"(?i)\b{_SECRET_WORD}s?\s+(?:is|was|were|are|set\s+to|to|reads|equals)\s*:?\s+"
    r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;\"']+)"
)
_ENV_NAME: Final = re.compile(
    r"\b[A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY"
    r"|CREDENTIALS?|DSN|CONN_STR(?:ING)?)[A-Z0-9_]*\s+(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;\"']+)"
)
_HARMLESS_VALUE: Final = re.compile(
    r"(?i)^(?:[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?|true|false|null|none|\*+|x+|)$"
)
# Words that follow "the password is" in sentences about a secret rather than its value.
_PROSE_WORDS: Final = frozenset(
    (
        *("required", "missing", "set", "unset", "empty", "invalid", "wrong", "expired", "not"),
        *("too", "incorrect", "rotated", "stored", "correct", "the", "a", "an", "in", "from"),
        *("kept", "read", "taken", "needed", "optional", "given", "valid", "present", "absent"),
        *("mounted", "named", "referenced", "held", "used", "only", "still", "now", "being"),
        *("never", "always", "redacted", "hidden", "masked", "shown", "new", "old", "of", "to"),
        *("at", "on", "under", "for", "and", "or", "as", "by", "with", "no", "configured"),
    )
)
_RECORD: Final = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:patient|customer|client|member|account|acct|mrn|ssn|nhs|record"
    r"|policy|claim|subscriber|employee|person|citizen|passport|licen[cs]e|iban|card|insuree"
    r"|beneficiary|student|tax|national|social|medicare|medicaid|health)"
    r"[ _.-]?(?:id|no|nr|num|number|ref|key|code|#)?)\s*[:=#]\s*"
    r"([A-Za-z0-9][A-Za-z0-9/_.-]{1,40})"
)
_TOKENISH: Final = re.compile(
    r"(?<![A-Za-z0-9+/_.-])[A-Za-z0-9+/_.-]{20,}={0,2}(?![A-Za-z0-9+/=_.-])"
)
_CAMEL_WORDS: Final = re.compile(r"^[A-Za-z][a-z]*(?:[A-Z][a-z]+|[A-Z]{2,}(?![a-z])|\d+)*$")
# Anchored at a token's start: unanchored, every position of a long token would be a start.
_PERCENT_RUN: Final = re.compile(
    r"(?<![A-Za-z0-9._~+%-])[A-Za-z0-9._~+%-]*%[0-9A-Fa-f]{2}[A-Za-z0-9._~+%/=:@-]*"
)
_BASE64_RUN: Final = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{8,}={0,2}(?![A-Za-z0-9+/=])")


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _classes(value: str) -> int:
    return sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )


def looks_random(segment: str) -> bool:
    """A long run of characters that no word, label or camelCase name explains."""
    core = segment.strip("/+=")
    if len(core) < 16 or _CAMEL_WORDS.match(core):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", core):
        return False  # hex is judged by the opaque-id detector, which knows about digests
    digits = sum(c.isdigit() for c in core)
    if _classes(core) < 2 or (digits == 0 and not any(c.isupper() for c in core[1:])):
        return False
    return _entropy(core) >= 3.3


def _value_span(text: str, m: re.Match[str], group: int) -> tuple[int, int, str]:
    start, end = m.start(group), m.end(group)
    if text[start : start + 1] in "\"'":
        start, end = start + 1, end - 1
    # A password may well end in ! or ?; a full stop or comma after it ends the sentence.
    while end > start and text[end - 1] in ".,;:":
        end -= 1
    return start, end, text[start:end]


def _shaped(text: str) -> Iterator[Finding]:
    for m in _PEM.finditer(text):
        yield Finding(m.start(), m.end(), LeakKind.SECRET)
    for pattern in (_JWT, _AWS_KEY_ID, _KNOWN_TOKEN):
        for m in pattern.finditer(text):
            yield Finding(m.start(), m.end(), LeakKind.SECRET)
    for pattern in (_AUTH_HEADER, _BEARER):
        for m in pattern.finditer(text):
            yield Finding(m.start(1), m.end(1), LeakKind.SECRET)
    for m in _AWS_SECRET.finditer(text):
        value = m.group()
        if _classes(value) == 3 and not re.fullmatch(r"[0-9a-fA-F]+", value):
            yield Finding(m.start(), m.end(), LeakKind.SECRET)
    for m in _TOKENISH.finditer(text):
        if any(looks_random(seg) for seg in re.split(r"[-_./]", m.group())):
            yield Finding(m.start(), strip_trailing(text, m.start(), m.end()), LeakKind.SECRET)


def _assigned(text: str) -> Iterator[Finding]:
    for m in _ASSIGNED.finditer(text):
        key = m.group(1).lower()
        start, end, value = _value_span(text, m, 2)
        if key.endswith(("ref", "name", "names", "count", "path", "file", "tokens")):
            continue  # names a Secret, a field or a count, not a secret's content
        if "retry" in key:
            continue  # the run's retry token is a user's chosen nonce, shown on purpose
        if _HARMLESS_VALUE.match(value) or value.startswith("[redacted:"):
            continue
        yield Finding(start, end, LeakKind.SECRET)
    for pattern in (_SAID, _ENV_NAME):
        for m in pattern.finditer(text):
            start, end, value = _value_span(text, m, 1)
            quoted = text[m.start(1)] in "\"'"
            if not quoted and (value.lower() in _PROSE_WORDS or _HARMLESS_VALUE.match(value)):
                continue
            if value.startswith("[redacted:") or "retry" in m.group().lower():
                continue
            yield Finding(start, end, LeakKind.SECRET)


def _records(text: str) -> Iterator[Finding]:
    for m in _RECORD.finditer(text):
        value = m.group(2)
        if sum(c.isdigit() for c in value) >= 3 or (
            any(c.isdigit() for c in value) and len(value) >= 6
        ):
            end = strip_trailing(text, m.start(), m.end())
            yield Finding(m.start(), end, LeakKind.RECORD_ID)


def secrets(text: str) -> Iterator[Finding]:
    yield from _shaped(text)
    yield from _assigned(text)
    yield from _records(text)


def _decoded_base64(token: str) -> str | None:
    """The token as text if it is base64 (standard or URL-safe) of printable UTF-8."""
    core = token.rstrip("=")
    if len(core) % 4 == 1:
        return None
    padded = core + "=" * (-len(core) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if len(decoded) < 5 or not all(c.isprintable() or c in "\n\t" for c in decoded):
        return None
    return decoded


def encoded(text: str, leaks: Callable[[str], bool]) -> Iterator[Finding]:
    """URL-encoded runs and base64 tokens whose decoded text `leaks`; base64 of `user:pass`
    (HTTP basic credentials) or ending in padding and decoding to a word counts on its own:
    plain prose never comes padded."""
    for m in _PERCENT_RUN.finditer(text):
        decoded = unquote(m.group())
        if decoded != m.group() and leaks(decoded):
            yield Finding(m.start(), strip_trailing(text, m.start(), m.end()), LeakKind.ENCODED)
    for m in _BASE64_RUN.finditer(text):
        token = m.group()
        if token.isalpha() and not token.endswith("="):
            continue  # words and CamelCase names decode too; they are words
        text_of = _decoded_base64(token)
        if text_of is None:
            continue
        credential = re.fullmatch(r"[^\s:]{1,64}:[^\s]{3,}", text_of) is not None
        padded_word = token.endswith("=") and text_of.isprintable()
        if credential or padded_word or leaks(text_of):
            yield Finding(m.start(), m.end(), LeakKind.ENCODED)
