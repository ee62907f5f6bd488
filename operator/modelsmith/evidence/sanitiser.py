"""The one sanitiser guarding every shared surface: status fields, Event messages, metric label
values, the evidence bundle and its report.

Shared surfaces are read by people and systems outside the customer's data boundary, so they
never carry raw benchmark text (prompts, inputs, references, or completions echoing them),
filesystem paths, hosts, addresses, URLs, secrets or opaque artefact identifiers (object keys,
Job and pod names, UIDs). What they do carry is allowed on purpose and kept readable: scenario
ids and readable labels, `sha256:<hex>` content digests, ratios like `1/2`, failure-cluster
cells (`capability=routing` crossed with `risk=high`), Kubernetes qualified names (`nvidia.com/gpu`,
`approval.modelsmith.io/domain-owner`), schema ids (`modelsmith.io/evidence/v1`), timestamps,
percentages and user names (approver chains must name people).

A `Finding` names the kind of leak and where it is, never the leaked text itself, so a finding
can be logged or raised without becoming a leak of its own.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from modelsmith.api.benchmark import Scenario


class LeakKind(StrEnum):
    """What a finding is. The value names the placeholder: `[redacted:<value>]`."""

    TEXT = "text"
    """Raw benchmark text: a prompt, input, reference or criterion, or a long fragment of one."""
    PATH = "path"
    OBJECT_KEY = "object-key"
    URL = "url"
    HOST = "host"
    IP = "ip"
    SECRET = "secret"
    OPAQUE_ID = "opaque-id"
    """UIDs and other long hex identifiers that are not `sha256:` content digests."""
    WORKLOAD = "workload"
    """Job and pod names: generated pod suffixes and our own deterministic Job names."""


# When findings overlap, the longest wins; on a tie, the kind earlier here.
_PRIORITY: Final = (
    LeakKind.SECRET,
    LeakKind.TEXT,
    LeakKind.URL,
    LeakKind.OPAQUE_ID,
    LeakKind.IP,
    LeakKind.HOST,
    LeakKind.OBJECT_KEY,
    LeakKind.PATH,
    LeakKind.WORKLOAD,
)


@dataclass(frozen=True, order=True)
class Finding:
    """A leak at text[start:end]. Its string form is safe to log: kind and span only."""

    start: int
    end: int
    kind: LeakKind

    @property
    def placeholder(self) -> str:
        return placeholder(self.kind)

    def __str__(self) -> str:
        return f"{self.kind.value}[{self.start}:{self.end}]"


def placeholder(kind: LeakKind) -> str:
    return f"[redacted:{kind.value}]"


class LeakError(ValueError):
    """Something bound for a shared surface carries a leak. The message names each leak's kind
    and location (a JSON path and a character span), never the leaked text."""

    def __init__(self, leaks: Sequence[tuple[str, Finding]], surface: str = "shared surface"):
        self.leaks = tuple(leaks)
        self.surface = surface
        shown = ", ".join(f"{f.kind.value} at {where}[{f.start}:{f.end}]" for where, f in leaks[:8])
        more = f" and {len(leaks) - 8} more" if len(leaks) > 8 else ""
        super().__init__(f"{len(leaks)} leak(s) on the {surface}: {shown}{more}")


# --- vocabulary -----------------------------------------------------------------------------

_PLACEHOLDER: Final = re.compile(r"\[redacted:[a-z-]+\]")

# Top-level domains that make a dotted name a host. Curated rather than complete: many
# two-letter country codes are also file extensions (.py, .sh, .md) or field names, and a field
# path like `metadata.name` must not read as a host. Internal suffixes are hosts whatever else.
_TLDS: Final = frozenset(
    (
        *("com", "net", "org", "io", "ai", "dev", "app", "cloud", "co", "me", "info", "biz"),
        *("us", "uk", "eu", "de", "fr", "nl", "jp", "cn", "in", "au", "ca", "ch", "se", "it"),
        *("es", "pl", "br", "ru", "kr", "gov", "edu", "mil", "int", "tech", "xyz", "site"),
        *("online", "example", "test", "invalid", "arpa", "local", "localhost", "localdomain"),
        *("internal", "intranet", "lan", "corp", "home", "svc", "private"),
    )
)
_INTERNAL_SUFFIXES: Final = (
    ".local",
    ".internal",
    ".intranet",
    ".lan",
    ".corp",
    ".home",
    ".localdomain",
    ".svc",
    ".localhost",
    ".private",
)
# Object storage and model hubs: a name under these is a location even in `domain/name` form.
_STORAGE_HOSTS: Final = (
    "amazonaws.com",
    "googleapis.com",
    "windows.net",
    "cloudflarestorage.com",
    "digitaloceanspaces.com",
    "backblazeb2.com",
    "wasabisys.com",
    "huggingface.co",
    "github.com",
    "githubusercontent.com",
    "gitlab.com",
    "r2.dev",
)
DEFAULT_ALLOWED_DOMAINS: Final = frozenset(
    {
        "modelsmith.io",
        "k8s.io",
        "kubernetes.io",
        "x-k8s.io",
        "nvidia.com",
        "amd.com",
        "intel.com",
        "habana.ai",
    }
)
"""API-group and device-plugin domains our own status vocabulary names on its own."""

_FILE_EXTENSIONS: Final = frozenset(
    (
        *("json", "jsonl", "yaml", "yml", "txt", "log", "html", "htm", "csv", "tsv", "xml"),
        *("safetensors", "bin", "pt", "pth", "ckpt", "onnx", "gguf", "model", "msgpack", "h5"),
        *("py", "sh", "gz", "tgz", "tar", "zip", "parquet", "arrow", "md", "cfg", "ini"),
        *("toml", "pem", "key", "crt", "npz", "npy", "pkl", "pickle"),
    )
)
_PATH_ROOTS: Final = frozenset(
    (
        *("tmp", "home", "var", "etc", "root", "opt", "usr", "mnt", "data", "workspace"),
        *("work", "dev", "proc", "srv", "run", "models", "users", "private", "volumes"),
        *("media", "sys", "bin", "lib"),
    )
)
# The run's object-store layout: any of these as a path segment makes a slashed token a key.
_LAYOUT_SEGMENT: Final = re.compile(
    r"^(?:runs|iter-\d+|ledger|evidence|candidate|adapter|eval|benchmark|checkpoints?)$"
)
_API_VERSION: Final = re.compile(r"^v\d+(?:(?:alpha|beta)\d+)?$")
_QUALIFIED_NAME: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")

# Kubernetes' generated-name alphabet (k8s.io/apimachinery/pkg/util/rand): no vowels, no 0/1/3,
# so ordinary words almost never look like a generated suffix.
_GEN: Final = "bcdfghjklmnpqrstvwxz2456789"
_GEN_WORDS: Final = frozenset({"https", "http2", "grpcs"})

# --- detectors ------------------------------------------------------------------------------

_URL: Final = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s\"'<>\]\)}|]+")
_PEM: Final = re.compile(
    r"-----BEGIN [A-Z0-9 ]{3,40}-----.*?(?:-----END [A-Z0-9 ]{3,40}-----|\Z)", re.DOTALL
)
_JWT: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AWS_KEY_ID: Final = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")
_AWS_SECRET: Final = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_KNOWN_TOKEN: Final = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}"
    r"|AIza[0-9A-Za-z_-]{35})"
)
_AUTH_HEADER: Final = re.compile(
    r"(?i)\bauthorization\s*[:=]\s*(?:(?:basic|bearer|token)\s+)?"
    r"(?!(?:basic|bearer|token)\b)([A-Za-z0-9._~+/-]{6,}=*)"
)
# A bare "bearer <x>" is a token only when <x> reads like one, not in prose ("bearer tokens").
_BEARER: Final = re.compile(
    r"(?i)\bbearer\s+((?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{8,}=*|[A-Za-z0-9._~+/-]{20,}=*)"
)
_ASSIGNED: Final = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{0,40}?(?:passw(?:or)?d|pwd|secret|token|api[_-]?key"
    r"|access[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]{0,40})\s*[:=]\s*"
    r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;\"']+)"
)
_HARMLESS_VALUE: Final = re.compile(
    r"(?i)^(?:[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?|true|false|null|none|\*+|x+|)$"
)
_UUID: Final = re.compile(
    r"(?i)(?<![0-9a-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-z])"
)
_LONG_HEX: Final = re.compile(r"(?i)(?<![0-9a-z])[0-9a-f]{32,}(?![0-9a-z])")
_DIGEST_PREFIX: Final = re.compile(r"(?i)sha(?:256|384|512):$")
_TOKENISH: Final = re.compile(
    r"(?<![A-Za-z0-9+/=_.-])[A-Za-z0-9+/_.-]{20,}={0,2}(?![A-Za-z0-9+/=_.-])"
)
_CAMEL_WORDS: Final = re.compile(r"^[A-Za-z][a-z]*(?:[A-Z][a-z]+|[A-Z]{2,}(?![a-z])|\d+)*$")
_IPV4: Final = re.compile(
    r"(?<![0-9A-Za-z.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![0-9A-Za-z]|\.\d)"
)
_IPV6: Final = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?:%[A-Za-z0-9]+)?(?:/\d{1,3})?(?![0-9A-Za-z:])"
)
_HOSTNAME: Final = re.compile(
    r"(?<![A-Za-z0-9_.@-])((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(:\d{2,5})?(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)
_BARE_HOST: Final = re.compile(
    r"(?<![A-Za-z0-9_.@-])(?:localhost|ip-\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3})(?::\d{2,5})?"
    r"(?![A-Za-z0-9_-])",
    re.IGNORECASE,
)
_HOST_PORT: Final = re.compile(
    r"(?<![A-Za-z0-9_.@:/-])[A-Za-z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)+:\d{2,5}(?![0-9A-Za-z:])"
)
_ABS_PATH: Final = re.compile(
    r"(?<![A-Za-z0-9_.~:/@+=<-])/(?:[A-Za-z0-9_.@+=-]+/)*[A-Za-z0-9_.@+=-]+/?"
)
_REL_PATH: Final = re.compile(r"(?<![A-Za-z0-9_.~/-])(?:\.\.?|~)/[A-Za-z0-9_.@+-][^\s\"'<>|]*")
_WINDOWS_PATH: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z]:[\\/]|\\\\[A-Za-z0-9._-]+\\)[^\s\"'<>|]*"
)
_SLASHED: Final = re.compile(r"(?<![A-Za-z0-9_.~/@:+=-])[A-Za-z0-9_.@+=-]+(?:/[A-Za-z0-9_.@+=-]*)+")
_POD: Final = re.compile(
    rf"(?<![A-Za-z0-9_.-])[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?-(?:[{_GEN}]{{6,10}}-)?([{_GEN}]{{5}})"
    r"(?![A-Za-z0-9_-])"
)
_JOB: Final = re.compile(
    r"(?<![A-Za-z0-9_.-])[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?-i\d+-(?:train|eval)-a\d+"
    r"(?:-[a-z0-9]{5})?(?![A-Za-z0-9_-])"
)
_SLASH_TAIL: Final = re.compile(r"(?:/[A-Za-z0-9_.@+=%~-]*)+")
_WORD: Final = re.compile(r"\[redacted:[a-z-]+\]|\w+")
_TRAILING: Final = ".,;:!?"


Detector = Callable[[str], Iterator[Finding]]


def _strip_trailing(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    return end


def _urls(text: str) -> Iterator[Finding]:
    for m in _URL.finditer(text):
        yield Finding(m.start(), _strip_trailing(text, m.start(), m.end()), LeakKind.URL)


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


def _looks_random(segment: str) -> bool:
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


def _secrets(text: str) -> Iterator[Finding]:
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
    for m in _ASSIGNED.finditer(text):
        key, value = m.group(1).lower(), m.group(2)
        start, end = m.start(2), m.end(2)
        if value[:1] in "\"'":
            value, start, end = value[1:-1], start + 1, end - 1
        end = _strip_trailing(text, start, end)
        value = text[start:end]
        if key.endswith(("ref", "name", "names", "count", "path", "file", "tokens")):
            continue  # names a Secret, a field or a count, not a secret's content
        if "retry" in key:
            continue  # the run's retry token is a user's chosen nonce, shown on purpose
        if _HARMLESS_VALUE.match(value) or value.startswith("[redacted:"):
            continue
        yield Finding(start, end, LeakKind.SECRET)
    for m in _TOKENISH.finditer(text):
        token = m.group()
        if _is_digest(text, m.start()):
            continue
        if any(_looks_random(seg) for seg in re.split(r"[-_./]", token)):
            yield Finding(m.start(), _strip_trailing(text, m.start(), m.end()), LeakKind.SECRET)


def _is_digest(text: str, start: int) -> bool:
    return _DIGEST_PREFIX.search(text[max(0, start - 7) : start]) is not None


def _opaque_ids(text: str) -> Iterator[Finding]:
    for m in _UUID.finditer(text):
        yield Finding(m.start(), m.end(), LeakKind.OPAQUE_ID)
    for m in _LONG_HEX.finditer(text):
        if not _is_digest(text, m.start()):
            yield Finding(m.start(), m.end(), LeakKind.OPAQUE_ID)


def _ips(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        address = m.group().split("/")[0]
        if all(int(octet) <= 255 for octet in address.split(".")):
            yield Finding(m.start(), m.end(), LeakKind.IP)
    for m in _IPV6.finditer(text):
        candidate = m.group()
        address = candidate.split("/")[0].split("%")[0]
        if "::" not in address and address.count(":") < 7:
            continue  # times (20:14:03) and `a:b:c` values are not addresses
        if not any(c in "0123456789abcdefABCDEF" for c in address):
            continue
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            continue
        yield Finding(m.start(), m.end(), LeakKind.IP)


def _workloads(text: str) -> Iterator[Finding]:
    for m in _JOB.finditer(text):
        yield Finding(m.start(), m.end(), LeakKind.WORKLOAD)
    for m in _POD.finditer(text):
        suffix = m.group(1)
        if suffix in _GEN_WORDS or suffix.isdigit():
            continue
        yield Finding(m.start(), m.end(), LeakKind.WORKLOAD)


def _paths(text: str) -> Iterator[Finding]:
    for m in _ABS_PATH.finditer(text):
        segments = [s for s in m.group().split("/") if s]
        if not segments or all(s.isdigit() for s in segments):
            continue
        if len(segments) >= 2 or segments[0].lower() in _PATH_ROOTS:
            yield Finding(m.start(), _strip_trailing(text, m.start(), m.end()), LeakKind.PATH)
    for pattern in (_REL_PATH, _WINDOWS_PATH):
        for m in pattern.finditer(text):
            yield Finding(m.start(), _strip_trailing(text, m.start(), m.end()), LeakKind.PATH)


def _has_extension(segment: str) -> bool:
    stem, dot, ext = segment.rpartition(".")
    return bool(dot and stem and ext.lower() in _FILE_EXTENSIONS)


def _object_keys(text: str) -> Iterator[Finding]:
    for m in _SLASHED.finditer(text):
        end = _strip_trailing(text, m.start(), m.end())
        token = text[m.start() : end]
        if token.startswith(("./", "../")):
            continue  # a relative path: the path detector reports it
        segments = token.split("/")
        named = [s for s in segments if s]
        if not named or all(s.replace(".", "").isdigit() for s in named):
            continue  # ratios and dates: 1/2, 11/27/2025
        slashes = len(segments) - 1
        if slashes <= 2 and _API_VERSION.match(segments[-1]) and segments[0] != "runs":
            continue  # batch/v1, modelsmith.io/evidence/v1: API and schema versions
        layout = any(_LAYOUT_SEGMENT.match(s) for s in segments[:-1])
        key = (
            segments[0] == "runs"
            or (layout and slashes >= 2)
            or _has_extension(segments[-1])
            or (slashes >= 3 and any(re.search(r"[\d._]", s) for s in named))
            or (slashes >= 2 and token.endswith("/"))
            or (slashes == 2 and "." in segments[0])  # bucket.host/prefix/name
        )
        if key:
            yield Finding(m.start(), end, LeakKind.OBJECT_KEY)


@dataclass(frozen=True)
class _HostRules:
    allowed_domains: frozenset[str]

    def allowed(self, name: str) -> bool:
        lower = name.lower()
        return any(lower == d or lower.endswith("." + d) for d in self.allowed_domains)

    def located(self, name: str) -> bool:
        """Names that say where something runs or is stored, whatever follows them."""
        lower = name.lower()
        return (
            lower.endswith(_INTERNAL_SUFFIXES)
            or any(lower == d or lower.endswith("." + d) for d in _STORAGE_HOSTS)
            or re.match(r"ip-\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}(\.|$)", lower) is not None
        )

    def qualified_name_follows(self, text: str, end: int) -> bool:
        """`<domain>/<name>` (a resource, label or annotation name) or `<domain>/<name>/vN`
        (a schema or API version), as opposed to a host followed by a path."""
        if not text.startswith("/", end):
            return False
        rest = re.match(r"/[^\s\"'<>()\[\]{},;]*", text[end:])
        parts = (rest.group() if rest else "/").rstrip(_TRAILING)[1:].split("/")
        if not all(_QUALIFIED_NAME.match(p) for p in parts):
            return False
        return len(parts) == 1 or (len(parts) == 2 and _API_VERSION.match(parts[1]) is not None)

    def hosts(self, text: str) -> Iterator[Finding]:
        for m in _HOSTNAME.finditer(text):
            name, port = m.group(1), m.group(2)
            tld = name.rsplit(".", 1)[-1].lower()
            located = self.located(name)
            if tld not in _TLDS and not located:
                continue  # field paths, file names, versions: spec.suspend, report.html
            qualified = self.allowed(name) or self.qualified_name_follows(text, m.end())
            if qualified and not port and not located:
                continue
            end = m.end()
            if text.startswith("/", end):  # a host with a path: the location as a whole
                rest = _SLASH_TAIL.match(text, end)
                end = _strip_trailing(text, end, rest.end() if rest else end)
            yield Finding(m.start(), end, LeakKind.HOST)
        for pattern in (_BARE_HOST, _HOST_PORT):
            for m in pattern.finditer(text):
                yield Finding(m.start(), m.end(), LeakKind.HOST)


# --- benchmark text -------------------------------------------------------------------------


def _words(text: str) -> list[tuple[str, int, int]]:
    """Casefolded words with their spans. A placeholder is one word no text contains, so text
    on either side of it never joins into a match."""
    out = []
    for m in _WORD.finditer(text):
        word = "\0" if m.group().startswith("[redacted:") else m.group().casefold()
        out.append((word, m.start(), m.end()))
    return out


@dataclass(frozen=True)
class _TextIndex:
    """Benchmark texts as word n-grams: every `shingle`-word window of every text, and each
    shorter text (>= min_words) whole."""

    shingle: int
    min_words: int
    shingles: frozenset[str]
    phrases: Mapping[int, frozenset[str]]

    @classmethod
    def build(cls, texts: Iterable[str], *, shingle: int, min_words: int) -> _TextIndex:
        shingles: set[str] = set()
        phrases: dict[int, set[str]] = {}
        for text in texts:
            words = [w for w, _, _ in _words(text)]
            if len(words) >= shingle:
                shingles.update(
                    " ".join(words[i : i + shingle]) for i in range(len(words) - shingle + 1)
                )
            elif len(words) >= min_words:
                phrases.setdefault(len(words), set()).add(" ".join(words))
        return cls(
            shingle=shingle,
            min_words=min_words,
            shingles=frozenset(shingles),
            phrases={n: frozenset(p) for n, p in phrases.items()},
        )

    def find(self, text: str) -> Iterator[Finding]:
        if not self.shingles and not self.phrases:
            return
        words = _words(text)
        windows = [(self.shingle, self.shingles), *self.phrases.items()]
        for size, known in windows:
            for i in range(len(words) - size + 1):
                if " ".join(w for w, _, _ in words[i : i + size]) in known:
                    yield Finding(words[i][1], words[i + size - 1][2], LeakKind.TEXT)


# --- the sanitiser --------------------------------------------------------------------------


def _merge(findings: Iterable[Finding]) -> list[Finding]:
    """Overlapping findings become one, spanning them all, of the kind of the longest."""
    rank = {kind: i for i, kind in enumerate(_PRIORITY)}
    groups: list[list[Finding]] = []
    for f in sorted(findings):
        if f.end <= f.start:
            continue
        if groups and f.start < max(g.end for g in groups[-1]):
            groups[-1].append(f)
        else:
            groups.append([f])
    return [
        Finding(
            group[0].start,
            max(f.end for f in group),
            max(group, key=lambda f: (f.end - f.start, -rank[f.kind])).kind,
        )
        for group in groups
    ]


@dataclass(frozen=True)
class Sanitiser:
    """Detects and redacts leaks. Build one per benchmark with `for_texts` (or
    `for_scenarios`) so it also knows that benchmark's own raw text; `Sanitiser()` alone
    checks everything but benchmark text."""

    texts: _TextIndex = field(default_factory=lambda: _TextIndex.build((), shingle=6, min_words=4))
    allowed_domains: frozenset[str] = DEFAULT_ALLOWED_DOMAINS
    allowed_names: frozenset[str] = frozenset()
    """Names of our own resources and readable labels (a run created with generateName ends
    like a pod does); an exact, whole occurrence of one is never a leak."""

    def allowing(self, *names: str) -> Sanitiser:
        """This sanitiser, also passing these resource names and readable labels."""
        return replace(self, allowed_names=self.allowed_names | {n for n in names if n})

    @classmethod
    def for_texts(
        cls,
        texts: Iterable[str],
        *,
        shingle: int = 6,
        min_words: int = 4,
        allowed_domains: Iterable[str] = DEFAULT_ALLOWED_DOMAINS,
    ) -> Sanitiser:
        """A sanitiser that also refuses these texts: any of >= `min_words` words appearing
        whole, and any `shingle`-word run of any of them (case, whitespace and punctuation
        ignored)."""
        if shingle < 2 or not 1 <= min_words <= shingle:
            raise ValueError("need shingle >= 2 and 1 <= min_words <= shingle")
        return cls(
            texts=_TextIndex.build(texts, shingle=shingle, min_words=min_words),
            allowed_domains=frozenset(d.lower() for d in allowed_domains),
        )

    @classmethod
    def for_scenarios(cls, scenarios: Iterable[Scenario], **options: Any) -> Sanitiser:
        """A sanitiser knowing every raw text of these scenarios."""
        return cls.for_texts(scenario_texts(scenarios), **options)

    def check(self, text: str) -> list[Finding]:
        """Every leak in `text`, merged where they overlap, in order."""
        detectors: tuple[Detector, ...] = (
            self.texts.find,
            _secrets,
            _urls,
            _opaque_ids,
            _ips,
            _HostRules(self.allowed_domains).hosts,
            _object_keys,
            _paths,
            _workloads,
        )
        redacted = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]
        redacted += [
            (m.start(), m.end())
            for name in self.allowed_names
            for m in re.finditer(
                rf"(?<![A-Za-z0-9_./-]){re.escape(name)}(?![A-Za-z0-9_/-]|\.[A-Za-z0-9])", text
            )
        ]
        found = [
            f
            for detect in detectors
            for f in detect(text)
            if not any(s <= f.start and f.end <= e for s, e in redacted)
        ]
        return _merge(found)

    def clean(self, text: str) -> str:
        """`text` with each leak replaced by its placeholder, e.g. `[redacted:path]`."""
        out, cursor = [], 0
        for f in self.check(text):
            out.append(text[cursor : f.start])
            out.append(f.placeholder)
            cursor = f.end
        out.append(text[cursor:])
        return "".join(out)

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
        leaks are reported at `<path>.<key index>#key`)."""
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
