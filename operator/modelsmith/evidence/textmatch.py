"""A benchmark's own texts (prompts, inputs, references, criteria) as the sanitiser looks for
them: whole, as any run of `shingle` words, as a shorter run of distinctive words, and as the
distinctive words of one text reordered inside a short window. Case, whitespace and punctuation
never matter."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from modelsmith.evidence.findings import Finding, LeakKind

_WORD: Final = re.compile(r"\[redacted:[a-z-]+\]|\x00+|\w+")
MASK: Final = "\x00"
"""Text masked with this keeps its length, so spans still hold, and reads as one word that no
text contains, as a placeholder does: no match joins the words on either side of it."""
# Words too common to tell one text from another (and the operator's own status vocabulary).
_COMMON: Final = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto over under as
    is are was were be been being am do does did done have has had having it its this that these
    those there here their them they he she his her we our you your i me my not no nor so than
    too very can could should would will shall may might must which who whom whose what when
    where why how all any each every some such only own same other more most less few both just
    also again about after before between through during up down out off once please yes
    run runs iteration iterations score scenario scenarios model candidate training evaluation
    benchmark gate approval approvals phase ready failed new start""".split()  # noqa: SIM905
)
SHORT: Final = 4
"""The shortest run of words matched, when at least two of them are distinctive."""
REORDER_WINDOW: Final = 8
REORDER_MIN: Final = 4
"""Distinct distinctive words of one text, in any order, inside a window this long..."""
DENSE_WINDOW: Final = 4
DENSE_MIN: Final = 3
"""...or this many inside a window this short."""


def words(text: str) -> list[tuple[str, int, int]]:
    """Casefolded words with their spans. A placeholder or masked span is one word no text
    contains, so text on either side of it never joins into a match."""
    out = []
    for m in _WORD.finditer(text):
        found = m.group()
        word = "\0" if found.startswith(("[redacted:", MASK)) else found.casefold()
        out.append((word, m.start(), m.end()))
    return out


def _distinctive(word: str, vocabulary: frozenset[str]) -> bool:
    return len(word) >= 3 and word not in _COMMON and word not in vocabulary


@dataclass(frozen=True)
class TextIndex:
    shingle: int
    min_words: int
    shingles: frozenset[str] = frozenset()
    phrases: Mapping[int, frozenset[str]] = field(default_factory=dict)
    short: frozenset[str] = frozenset()
    owners: Mapping[str, frozenset[int]] = field(default_factory=dict)
    """Distinctive word -> the texts (by number) it occurs in."""
    needed: Mapping[int, int] = field(default_factory=dict)
    """Text number -> distinct distinctive words a reordered match needs."""

    @functools.cached_property
    def starts(self) -> frozenset[str]:
        """The first words of every known window."""
        known = (self.shingles, self.short, *self.phrases.values())
        return frozenset(window.split(" ", 1)[0] for windows in known for window in windows)

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        *,
        shingle: int,
        min_words: int,
        vocabulary: Iterable[str] = (),
    ) -> TextIndex:
        """`vocabulary`: words shared surfaces use on purpose (scenario ids, dimension values),
        never distinctive."""
        known = frozenset(w.casefold() for v in vocabulary for w, _, _ in words(v))
        shingles: set[str] = set()
        phrases: dict[int, set[str]] = {}
        short: set[str] = set()
        owners: dict[str, set[int]] = defaultdict(set)
        needed: dict[int, int] = {}
        for number, text in enumerate(texts):
            ws = [w for w, _, _ in words(text)]
            if len(ws) >= shingle:
                shingles.update(" ".join(ws[i : i + shingle]) for i in range(len(ws) - shingle + 1))
            elif len(ws) >= min_words:
                phrases.setdefault(len(ws), set()).add(" ".join(ws))
            for i in range(len(ws) - SHORT + 1):
                window = ws[i : i + SHORT]
                if sum(_distinctive(w, known) for w in window) >= 2:
                    short.add(" ".join(window))
            distinct = {w for w in ws if _distinctive(w, known)}
            if len(distinct) >= 3:
                needed[number] = min(REORDER_MIN, len(distinct))
                for w in distinct:
                    owners[w].add(number)
        return cls(
            shingle=shingle,
            min_words=min_words,
            shingles=frozenset(shingles),
            phrases={n: frozenset(p) for n, p in phrases.items()},
            short=frozenset(short),
            owners={w: frozenset(n) for w, n in owners.items()},
            needed=needed,
        )

    def find(self, text: str) -> Iterator[Finding]:
        if not self.shingles and not self.phrases and not self.owners:
            return
        ws = words(text)
        windows = [(self.shingle, self.shingles), (SHORT, self.short), *self.phrases.items()]
        starts = self.starts
        for size, known in windows:
            for i in range(len(ws) - size + 1):
                # Most windows start with a word no text's window starts with: no join needed.
                if ws[i][0] in starts and " ".join(w for w, _, _ in ws[i : i + size]) in known:
                    yield Finding(ws[i][1], ws[i + size - 1][2], LeakKind.TEXT)
        yield from self._reordered(ws)

    def _reordered(self, ws: list[tuple[str, int, int]]) -> Iterator[Finding]:
        for i, (word, _, _) in enumerate(ws):
            for number in self.owners.get(word, ()):
                for width, enough in (
                    (REORDER_WINDOW, self.needed[number]),
                    (DENSE_WINDOW, min(DENSE_MIN, self.needed[number])),
                ):
                    last = self._last_of_enough(ws, i, number, width, enough)
                    if last is not None:
                        yield Finding(ws[i][1], ws[last][2], LeakKind.TEXT)
                        break

    def _last_of_enough(
        self, ws: list[tuple[str, int, int]], i: int, number: int, width: int, enough: int
    ) -> int | None:
        """The last word of text `number` in ws[i:i+width] when `enough` distinct ones are."""
        seen: set[str] = set()
        last = i
        for j in range(i, min(len(ws), i + width)):
            if number in self.owners.get(ws[j][0], ()):
                seen.add(ws[j][0])
                last = j
        return last if len(seen) >= enough else None
