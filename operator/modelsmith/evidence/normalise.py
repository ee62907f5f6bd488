"""Text as the sanitiser reads it: compatibility forms folded (NFKC), so full-width letters and
slashes read as ASCII ones, and invisible format characters (zero-width spaces and joiners, soft
hyphens, bidi controls) removed, so they cannot split a leak into harmless-looking pieces.

Each character is normalised on its own and remembered by where it came from, so a finding in
the normalised text maps back to a span of the original: cleaning replaces the original's leak
and leaves every other character as it was (clean text passes through unchanged)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

# Look-alikes NFKC leaves alone but a reader takes for the ASCII character.
_LOOKALIKES: Final = {
    "\u2215": "/",  # division slash
    "\u2044": "/",  # fraction slash
    "\u29f8": "/",  # big solidus
    "\u29f5": "\\",  # reverse solidus operator
    "\u3002": ".",  # ideographic full stop
    "\u2024": ".",  # one dot leader
    "\u2236": ":",  # ratio
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2212": "-",  # minus sign
}


@dataclass(frozen=True)
class Normalised:
    text: str
    origin: tuple[int, ...]
    """origin[i]: the index in the original text of normalised character i (one more entry,
    the original's length, for an empty span at the end)."""

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalised text[start:end] (whole original characters: one
        that NFKC expanded is replaced whole)."""
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def normalise(text: str) -> Normalised:
    if text.isascii():
        return Normalised(text, (*range(len(text)), len(text)))
    chars: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        if unicodedata.category(char) == "Cf":
            continue  # zero-width space/joiner, soft hyphen, bidi controls, BOM
        folded = _LOOKALIKES.get(char) or unicodedata.normalize("NFKC", char)
        for piece in folded:
            chars.append(piece)
            origin.append(i)
    origin.append(len(text))
    return Normalised("".join(chars), tuple(origin))
