"""The one sanitiser guarding every shared surface: status fields, Event messages, metric label
values, the evidence bundle and its report.

Shared surfaces are read by people and systems outside the customer's data boundary, so they
never carry raw benchmark text (prompts, inputs, references, or completions echoing them, whole,
in fragments or reordered), filesystem paths, hosts, machine names, addresses, e-mail addresses,
URLs, secrets (plain, assigned or encoded), record identifiers or opaque artefact identifiers
(object keys, Job and pod names, UIDs, malformed digests). What they do carry is allowed on
purpose and kept readable: scenario ids and readable labels, ratios like `1/2`, failure-cluster
cells (`capability=routing` crossed with `risk=high`), Kubernetes qualified names
(`nvidia.com/gpu`, `approval.modelsmith.io/domain-owner`), schema ids, timestamps, percentages,
the names of our own resources and the approvers' identities (`allowing`).

Content digests are the one narrow allowance for an opaque value: exactly `sha256:` and 64
lowercase hex characters (or `sha512:` and 128), which the evidence and the gates carry for
integrity checks. Anything else after `sha256:` is an opaque identifier, and a surface that has
no use for digests (metric labels) refuses them too (`allow_digests=False`).

Text is normalised first (`normalise`: NFKC, format characters removed), so zero-width
characters and full-width slashes cannot hide a leak; cleaning still replaces only the leaking
span of the original and leaves the rest exactly as it was. The detectors live by concern in
`detectors` (locations and identifiers), `hosts`, `secrets` and `textmatch`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from modelsmith.evidence import detectors, secrets
from modelsmith.evidence.findings import Detector, Finding, LeakKind, merge, placeholder
from modelsmith.evidence.hosts import DEFAULT_ALLOWED_DOMAINS, HostRules, emails, nodes
from modelsmith.evidence.normalise import normalise
from modelsmith.evidence.textmatch import MASK, TextIndex

if TYPE_CHECKING:
    from modelsmith.contract.scenario import Scenario

__all__ = [
    "DEFAULT",
    "DEFAULT_ALLOWED_DOMAINS",
    "Finding",
    "LeakError",
    "LeakKind",
    "Sanitiser",
    "placeholder",
    "scenario_texts",
]

_PLACEHOLDER: Final = re.compile(r"\[redacted:[a-z-]+\]")


class LeakError(ValueError):
    """Something bound for a shared surface carries a leak. The message names each leak's kind
    and location (a JSON path and a character span), never the leaked text."""

    def __init__(self, leaks: Sequence[tuple[str, Finding]], surface: str = "shared surface"):
        self.leaks = tuple(leaks)
        self.surface = surface
        shown = ", ".join(f"{f.kind.value} at {where}[{f.start}:{f.end}]" for where, f in leaks[:8])
        more = f" and {len(leaks) - 8} more" if len(leaks) > 8 else ""
        super().__init__(f"{len(leaks)} leak(s) on the {surface}: {shown}{more}")


@functools.lru_cache(maxsize=256)
def _names_pattern(names: frozenset[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_./@-])(?:{alternatives})(?![A-Za-z0-9_/@-]|\.[A-Za-z0-9])")


def _outside(finding: Finding, spared: Sequence[tuple[int, int]]) -> Finding | None:
    """`finding` less the spared spans it only reaches into: a detector's match can run into
    a digest from its left (`sha256:9f86…sha256:<full digest>`: the value class reads on through
    the next `sha256`), and redacting that overlap would cut the digest in two and leave its bare
    hex, itself a leak, behind. None when the finding lies wholly inside a spared span; one that
    covers a spared span whole (a URL carrying a digest) is kept whole."""
    start, end = finding.start, finding.end
    for s, e in sorted(spared):
        if s <= start and end <= e:
            return None
        if s <= start < e:
            start = e
        elif s < end <= e:
            end = s
    return replace(finding, start=start, end=end) if start < end else None


@dataclass(frozen=True)
class Sanitiser:
    """Detects and redacts leaks. Build one per benchmark with `for_texts` (or
    `for_scenarios`) so it also knows that benchmark's own raw text; `Sanitiser()` alone
    checks everything but benchmark text."""

    texts: TextIndex = field(default_factory=lambda: TextIndex.build((), shingle=6, min_words=4))
    allowed_domains: frozenset[str] = DEFAULT_ALLOWED_DOMAINS
    allowed_names: frozenset[str] = frozenset()
    """Names of our own resources, readable labels and approver identities; an exact, whole
    occurrence of one is never a leak."""
    allow_digests: bool = True

    def allowing(self, *names: str) -> Sanitiser:
        """This sanitiser, also passing these resource names, labels and identities."""
        return replace(self, allowed_names=self.allowed_names | {n for n in names if n})

    def without_digests(self) -> Sanitiser:
        """This sanitiser, refusing content digests as opaque identifiers too."""
        return replace(self, allow_digests=False)

    @classmethod
    def for_texts(
        cls,
        texts: Iterable[str],
        *,
        shingle: int = 6,
        min_words: int = 4,
        allowed_domains: Iterable[str] = DEFAULT_ALLOWED_DOMAINS,
        vocabulary: Iterable[str] = (),
    ) -> Sanitiser:
        """A sanitiser that also refuses these texts: any of >= `min_words` words appearing
        whole, any `shingle`-word run of any of them, any shorter run of their distinctive
        words and their distinctive words reordered (case, whitespace and punctuation ignored).
        `vocabulary`: words the shared surfaces use on purpose (ids, dimension values)."""
        if shingle < 2 or not 1 <= min_words <= shingle:
            raise ValueError("need shingle >= 2 and 1 <= min_words <= shingle")
        index = TextIndex.build(texts, shingle=shingle, min_words=min_words, vocabulary=vocabulary)
        return cls(texts=index, allowed_domains=frozenset(d.lower() for d in allowed_domains))

    @classmethod
    def for_scenarios(cls, scenarios: Iterable[Scenario], **options: Any) -> Sanitiser:
        """A sanitiser knowing every raw text of these scenarios; their ids and dimension
        values are the shared vocabulary."""
        listed = list(scenarios)
        vocabulary = [
            v
            for s in listed
            for v in (s.id, s.capability, s.risk, s.operator_lens, s.outcome_type, s.split)
        ]
        options.setdefault("vocabulary", vocabulary)
        return cls.for_texts(scenario_texts(listed), **options)

    def _detectors(self) -> tuple[Detector, ...]:
        return (
            secrets.secrets,
            detectors.urls,
            emails,
            detectors.opaque_ids,
            detectors.ips,
            HostRules(self.allowed_domains).hosts,
            nodes,
            detectors.object_keys,
            detectors.paths,
            detectors.workloads,
        )

    def _find(self, text: str) -> list[Finding]:
        """Findings in already normalised text, before merging."""
        found = [f for detect in self._detectors() for f in detect(text)]
        # An allowed name's words are the object's own (a run named after its domain shares
        # words with the prompts): masked, they neither match nor complete a match.
        names = _names_pattern(self.allowed_names)
        masked = text if names is None else names.sub(lambda m: MASK * len(m.group()), text)
        found += self.texts.find(masked)
        found += secrets.encoded(text, lambda decoded: bool(self._kept(decoded, found=None)))
        return self._kept(text, found)

    def _kept(self, text: str, found: list[Finding] | None) -> list[Finding]:
        """`found` (or, for decoded text, the structural detectors' findings) less those
        inside a placeholder, an allowed name or, where allowed, a content digest."""
        if found is None:
            found = [f for detect in self._detectors() for f in detect(text)]
        spared = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]
        names = _names_pattern(self.allowed_names)
        if names is not None:
            spared += [(m.start(), m.end()) for m in names.finditer(text)]
        if self.allow_digests:
            spared += [(m.start(), m.end()) for m in detectors.DIGEST.finditer(text)]
        kept = (_outside(f, spared) for f in found)
        return [f for f in kept if f is not None]

    def check(self, text: str) -> list[Finding]:
        """Every leak in `text`, merged where they overlap, in order, with spans of `text`
        itself (not of its normalised form)."""
        norm = normalise(text)
        out = []
        for f in merge(self._find(norm.text)):
            start, end = norm.span(f.start, f.end)
            out.append(Finding(start, end, f.kind))
        return merge(out)

    def clean(self, text: str) -> str:
        """`text` with each leak replaced by its placeholder, e.g. `[redacted:path]`.

        A placeholder ends the token it replaced, so what read as part of a longer token
        (`/tmp` in `/tmp…<long hex>`) can read as a leak of its own once its neighbour is
        redacted: cleaning repeats until nothing is found, so what it returns passes `check`.
        Each pass replaces text outside placeholders (findings never lie inside one), so the
        repetition ends."""
        findings = self.check(text)
        while findings:
            out, cursor = [], 0
            for f in findings:
                out.append(text[cursor : f.start])
                out.append(f.placeholder)
                cursor = f.end
            out.append(text[cursor:])
            text = "".join(out)
            findings = self.check(text)
        return text

    def clean_obj(self, obj: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, tuples, strings, scalars) with every
        string, keys included, cleaned."""
        if isinstance(obj, str):
            return self.clean(obj)
        if isinstance(obj, Mapping):
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                cleaned = self.clean(key) if isinstance(key, str) else key
                n = 2
                while cleaned in out:  # two keys redacted to the same placeholder
                    cleaned, n = f"{self.clean(key)}#{n}", n + 1
                out[cleaned] = self.clean_obj(value)
            return out
        if isinstance(obj, list | tuple):
            return [self.clean_obj(item) for item in obj]
        return obj

    def check_obj(self, obj: Any, where: str = "$") -> list[tuple[str, Finding]]:
        """Every leak in a JSON-like value, each with its JSON path (`$.a.b[2]`; a key's own
        leaks are reported at `<path>.<key index>`)."""
        if isinstance(obj, str):
            return [(where, f) for f in self.check(obj)]
        found: list[tuple[str, Finding]] = []
        if isinstance(obj, Mapping):
            for i, (key, value) in enumerate(obj.items()):
                if isinstance(key, str):
                    key_leaks = self.check(key)
                    found += [(f"{where}.<key {i}>", f) for f in key_leaks]
                    child = f"{where}.<key {i}>" if key_leaks else f"{where}.{key}"
                else:
                    child = f"{where}.{key}"
                found += self.check_obj(value, child)
        elif isinstance(obj, list | tuple):
            for i, item in enumerate(obj):
                found += self.check_obj(item, f"{where}[{i}]")
        return found

    def assert_clean(self, obj: Any, surface: str = "shared surface") -> None:
        """Raise LeakError if any string in `obj` (a string or JSON-like value) leaks."""
        leaks = self.check_obj(obj)
        if leaks:
            raise LeakError(leaks, surface)

    def is_clean(self, obj: Any) -> bool:
        return not self.check_obj(obj)


def scenario_texts(scenarios: Iterable[Scenario]) -> list[str]:
    """The raw texts of scenarios: prompts, input values, references and criterion texts.
    Ids, capabilities and other dimension values are the shared vocabulary and stay out."""
    texts: list[str] = []
    for s in scenarios:
        texts.append(s.prompt)
        texts.extend(s.inputs.values())
        if s.reference:
            texts.append(s.reference)
        for criterion in (*s.pass_criteria, *s.fail_criteria):
            if criterion.value:
                texts.append(criterion.value)
            texts.extend(criterion.values or ())
    return texts


DEFAULT: Final = Sanitiser()
"""A sanitiser for surfaces that never see a benchmark's text (metric labels, for example)."""
