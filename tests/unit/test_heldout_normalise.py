"""`heldout.normalise` against the rule it implements, character by character: case folded,
punctuation and symbols (Unicode categories P* and S*) as spaces, whitespace collapsed."""

from __future__ import annotations

import random
import unicodedata

from modelsmith.contract import heldout
from modelsmith.contract.heldout import normalise


def by_character(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in folded)
    return " ".join(spaced.split())


def test_every_character_below_u3000_is_treated_as_the_rule_says() -> None:
    text = "".join(chr(code) for code in range(0x3000) if not 0xD800 <= code <= 0xDFFF)
    for start in range(0, len(text), 97):
        chunk = text[start : start + 97]
        assert normalise(chunk) == by_character(chunk)


def test_random_text_from_the_whole_range_matches_the_rule() -> None:
    draw = random.Random(21)
    for _ in range(300):
        text = "".join(chr(draw.randint(0, 0x10FFFF)) for _ in range(40))
        assert normalise(text) == by_character(text)


def test_the_table_stays_bounded_however_many_distinct_characters() -> None:
    normalise("".join(chr(code) for code in range(0x4E00, 0x9FFF)))  # CJK ideographs
    assert len(heldout._SPACED) <= heldout._Spaced.KEPT
    assert normalise("Ünïcode, “quoted” — text!") == "ünïcode quoted text"
