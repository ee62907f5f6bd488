"""The held-out guard: does training material reproduce held-out scenarios?

Held-out text never reaches a training Job. What travels instead is a fingerprint: per held-out
scenario, the sha256 of each word n-gram ("shingle") of its rendered prompt and, when it is long
enough to be distinctive, of its reference answer. The trainer shingles its own material the same
way and reports every held-out scenario of which at least `threshold` of the shingles appear.

Text is normalised first (case folded, punctuation and symbols turned into spaces, whitespace
collapsed), so reformatting does not hide a copy; a paraphrase shares few 5-word runs and passes.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final, Literal

from pydantic import Field

from modelsmith.api.base import ApiModel
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario

DEFAULT_N = 5
DEFAULT_THRESHOLD = 0.5
FINGERPRINT_SCHEMA: Final = "modelsmith.io/heldout-fingerprint/v1"

Part = Literal["prompt", "reference"]


class ShingleSet(ApiModel):
    """Hashes of a text's word n-grams; `n` is smaller than the fingerprint's when the text is
    shorter than that (a short prompt is one shingle of all its words)."""

    n: int = Field(ge=1)
    hashes: list[str]


class HeldoutPrint(ApiModel):
    prompt: ShingleSet
    reference: ShingleSet | None = None


class HeldoutFingerprint(ApiModel):
    """What the trainer gets in place of the held-out scenarios: hashes only, never text.

    With a salt, the hashes cannot be matched against a precomputed table of common phrases;
    the salt travels with the fingerprint because the trainer must hash its material the same
    way."""

    schema_version: Literal["modelsmith.io/heldout-fingerprint/v1"] = FINGERPRINT_SCHEMA
    n: int = Field(default=DEFAULT_N, ge=1)
    salt: str | None = None
    scenarios: dict[str, HeldoutPrint] = Field(default_factory=dict)


class Overlap(ApiModel):
    """A held-out scenario that training material reproduces: `fraction` of its shingles (of
    its prompt or of its reference, whichever is higher) appear in the material."""

    scenario_id: str
    fraction: float
    part: Part


class _Spaced(dict[int, int | str]):
    """A `str.translate` table turning punctuation and symbols into spaces and keeping every
    other character, filled as characters are met: one category lookup per distinct character
    instead of one per character of every text (the operator normalises every scenario of every
    Benchmark it checks). At most KEPT characters are remembered, so text made of many distinct
    characters cannot grow it without bound; the others are looked up each time."""

    KEPT = 4096

    def __missing__(self, code: int) -> int | str:
        value: int | str = " " if unicodedata.category(chr(code))[0] in "PS" else code
        if len(self) < self.KEPT:
            self[code] = value
        return value


_SPACED = _Spaced()


def normalise(text: str) -> str:
    """Case folded, punctuation and symbols as spaces, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_SPACED).split())


def shingles(text: str, n: int = DEFAULT_N) -> set[str]:
    """The word n-grams of the normalised text; one shingle of all words when there are fewer
    than `n`; none for a text without words."""
    words = normalise(text).split()
    return _grams(words, min(n, len(words))) if words else set()


def fingerprint(
    heldout_scenarios: Iterable[Scenario], *, n: int = DEFAULT_N, salt: str | None = None
) -> HeldoutFingerprint:
    """Hashes of the shingles of each given scenario's rendered prompt, and of its reference
    when that has at least `n` words (a short label such as "approve" is shared with training
    scenarios by design and says nothing about copying).

    A shingle that several of the given scenarios share (a prompt template, input names, the
    answer cue) is dropped from each of them: training scenarios share that boilerplate too, and
    counting it would flag every held-out scenario of a templated benchmark. A scenario made only
    of shared shingles keeps them all."""
    if n < 1:
        raise ValueError("n must be at least 1")
    prompts: dict[str, tuple[int, set[str]]] = {}
    references: dict[str, set[str]] = {}
    for scenario in heldout_scenarios:
        words = normalise(render_prompt(scenario)).split()
        size = max(1, min(n, len(words)))
        prompts[scenario.id] = (size, _grams(words, size))
        reference_words = normalise(scenario.reference or "").split()
        if len(reference_words) >= n:
            references[scenario.id] = _grams(reference_words, n)
    prompt_grams = _distinctive({sid: grams for sid, (_size, grams) in prompts.items()})
    reference_grams = _distinctive(references)
    prints = {
        sid: HeldoutPrint(
            prompt=ShingleSet(n=size, hashes=_hashes(prompt_grams[sid], salt)),
            reference=(
                ShingleSet(n=n, hashes=_hashes(reference_grams[sid], salt))
                if sid in reference_grams
                else None
            ),
        )
        for sid, (size, _grams_) in prompts.items()
    }
    return HeldoutFingerprint(n=n, salt=salt, scenarios=prints)


def _distinctive(grams_by_id: dict[str, set[str]]) -> dict[str, set[str]]:
    shared = Counter(g for grams in grams_by_id.values() for g in grams)
    return {
        sid: {g for g in grams if shared[g] == 1} or grams for sid, grams in grams_by_id.items()
    }


def check_overlap(
    training_texts: Iterable[str],
    fingerprint: HeldoutFingerprint,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Overlap]:
    """The held-out scenarios whose shingles appear in the training texts (any of them, taken
    together) at a fraction of at least `threshold`, highest first."""
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be above 0 and at most 1")
    sizes = {
        part.n
        for print_ in fingerprint.scenarios.values()
        for part in (print_.prompt, print_.reference)
        if part is not None
    }
    seen: dict[int, set[str]] = {size: set() for size in sizes}
    for text in training_texts:
        words = normalise(text).split()
        for size in sizes:
            seen[size].update(_hashes(_grams(words, size), fingerprint.salt))
    overlaps = []
    for scenario_id, print_ in fingerprint.scenarios.items():
        best: tuple[float, Part] = (0.0, "prompt")
        parts: list[tuple[Part, ShingleSet | None]] = [
            ("prompt", print_.prompt),
            ("reference", print_.reference),
        ]
        for name, part in parts:
            if part is None or not part.hashes:
                continue
            hashes = set(part.hashes)
            fraction = len(hashes & seen[part.n]) / len(hashes)
            if fraction > best[0]:
                best = (fraction, name)
        if best[0] >= threshold:
            overlaps.append(
                Overlap(scenario_id=scenario_id, fraction=round(best[0], 4), part=best[1])
            )
    return sorted(overlaps, key=lambda o: (-o.fraction, o.scenario_id))


def overlap_between(
    train_scenarios: Sequence[Scenario],
    heldout_scenarios: Sequence[Scenario],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    n: int = DEFAULT_N,
) -> list[Overlap]:
    """check_overlap with the training material the trainer would build from these scenarios
    (rendered prompt followed by the reference)."""
    texts = [training_text(s) for s in train_scenarios]
    return check_overlap(texts, fingerprint(heldout_scenarios, n=n), threshold)


def training_text(scenario: Scenario) -> str:
    """What the trainer reads of a train scenario, as the guard sees it."""
    return render_prompt(scenario) + (scenario.reference or "")


def overlap_sources(
    train_scenarios: Sequence[Scenario],
    heldout_scenarios: Sequence[Scenario],
    overlaps: Sequence[Overlap],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    n: int = DEFAULT_N,
    limit: int = 3,
) -> dict[str, list[str]]:
    """For each overlapping held-out scenario, the train scenarios that share most of its
    shingles (at most `limit`, most first): what the domain owner has to look at. Those that
    reach the threshold alone when any do; otherwise (the overlap is over all the material
    together) the largest sharers."""
    prints = fingerprint(heldout_scenarios, n=n)
    # Which flagged held-out part each shingle hash belongs to: one pass over each train text
    # then counts its shared shingles, instead of comparing every pair of scenarios.
    owners: dict[tuple[int, str], list[tuple[str, Part]]] = {}
    totals: dict[tuple[str, Part], int] = {}
    for sid in dict.fromkeys(o.scenario_id for o in overlaps):
        print_ = prints.scenarios[sid]
        parts: list[tuple[Part, ShingleSet | None]] = [
            ("prompt", print_.prompt),
            ("reference", print_.reference),
        ]
        for part_name, part in parts:
            if part is not None and part.hashes:
                totals[(sid, part_name)] = len(part.hashes)
                for digest in part.hashes:
                    owners.setdefault((part.n, digest), []).append((sid, part_name))
    sizes = {size for size, _digest in owners}
    shared: dict[str, list[tuple[float, str]]] = {sid: [] for sid, _part in totals}
    for scenario in train_scenarios:
        words = normalise(training_text(scenario)).split()
        hits: Counter[tuple[str, Part]] = Counter()
        for size in sizes:
            for digest in _hashes(_grams(words, size), prints.salt):
                hits.update(owners.get((size, digest), ()))
        best: dict[str, float] = {}
        for (sid, part_name), count in hits.items():
            best[sid] = max(best.get(sid, 0.0), count / totals[(sid, part_name)])
        for sid, fraction in best.items():
            shared[sid].append((fraction, scenario.id))
    named = {}
    for sid, pairs in shared.items():
        ranked = sorted(pairs, key=lambda p: (-p[0], p[1]))
        alone = [p for p in ranked if p[0] >= threshold]
        named[sid] = [tid for _f, tid in (alone or ranked)[:limit]]
    return named


def _grams(words: Sequence[str], n: int) -> set[str]:
    if n < 1 or len(words) < n:
        return set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _hashes(grams: Iterable[str], salt: str | None) -> list[str]:
    prefix = b"" if salt is None else salt.encode("utf-8") + b"\x00"
    return sorted(hashlib.sha256(prefix + g.encode("utf-8")).hexdigest() for g in grams)
