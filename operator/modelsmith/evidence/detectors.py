"""Detectors for locations and identifiers: URLs, filesystem paths, object keys, IP addresses,
opaque identifiers and workload (Job and pod) names. Each yields findings over normalised text
(see `normalise`); the sanitiser merges and maps them back."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Final

from modelsmith.evidence.findings import Finding, LeakKind, strip_trailing

_FILE_EXTENSIONS: Final = frozenset(
    (
        *("json", "jsonl", "yaml", "yml", "txt", "log", "html", "htm", "csv", "tsv", "xml"),
        *("safetensors", "bin", "pt", "pth", "ckpt", "onnx", "gguf", "model", "msgpack", "h5"),
        *("py", "sh", "gz", "tgz", "tar", "zip", "parquet", "arrow", "md", "cfg", "ini"),
        *("toml", "pem", "key", "crt", "npz", "npy", "pkl", "pickle", "sql", "db", "env"),
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
API_VERSION: Final = re.compile(r"^v\d+(?:(?:alpha|beta)\d+)?$")

# Kubernetes' generated-name alphabet (k8s.io/apimachinery/pkg/util/rand): no vowels, no 0/1/3,
# so ordinary words almost never look like a generated suffix.
_GEN: Final = "bcdfghjklmnpqrstvwxz2456789"
_GEN_WORDS: Final = frozenset({"https", "http2", "grpcs"})

_URL: Final = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s\"'<>\]\)}|]+")
DIGEST: Final = re.compile(
    r"(?<![A-Za-z0-9])sha256:[0-9a-f]{64}(?![0-9A-Za-z])|(?<![A-Za-z0-9])sha512:[0-9a-f]{128}"
    r"(?![0-9A-Za-z])"
)
"""A content digest in its one allowed form: algorithm, colon, the full lowercase hex."""
# A hash's name, then its value: six characters or more after any separator (short values
# after a hyphen are prose: `sha1-based`), or hex of any length after `:` or `=` (`sha256:9f86`
# is the head of a digest as much as `sha256:9f86…` is).
_HASHED: Final = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:sha(?:1|224|256|384|512)|md5|blake2[bs]?|xxh(?:64|3))"
    r"(?:[:=-][A-Za-z0-9+/=_.-]{6,}|[:=][0-9a-f]+(?![A-Za-z0-9]))"
)
_UUID: Final = re.compile(
    r"(?i)(?<![0-9a-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-z])"
)
_LONG_HEX: Final = re.compile(r"(?i)(?<![0-9a-z])[0-9a-f]{16,}(?![0-9a-z])")
_ARN: Final = re.compile(r"\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:[^\s,;\"']+")
_CLOUD_ID: Final = re.compile(
    r"\b(?:i|vol|sg|subnet|vpc|ami|eni|snap|igw|nat|rtb|acl)-[0-9a-f]{8,17}\b"
    r"|\b[0-9A-HJKMNP-TV-Z]{26}\b"  # ULIDs
)
_IPV4: Final = re.compile(
    r"(?<![0-9A-Za-z.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![0-9A-Za-z]|\.\d)"
)
_IPV6: Final = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?:%[A-Za-z0-9]+)?(?:/\d{1,3})?(?![0-9A-Za-z]|:[0-9A-Za-z:])"
)
# After an ellipsis (`…/tmp`, NFKC's `...`) a slash starts what is left of a path, where after
# one or two dots it starts a relative path's rest (`_REL_PATH`) or a name's (`a.b/c`); after
# an `=` it starts an assigned path (`dir=/home/alice`).
_ABS_PATH: Final = re.compile(
    r"(?:(?<![A-Za-z0-9_.~:/@+-])|(?<=\.\.\.))/(?:[A-Za-z0-9_.@+=-]+/)*[A-Za-z0-9_.@+=-]+/?"
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


def urls(text: str) -> Iterator[Finding]:
    for m in _URL.finditer(text):
        yield Finding(m.start(), strip_trailing(text, m.start(), m.end()), LeakKind.URL)


def opaque_ids(text: str) -> Iterator[Finding]:
    """Identifiers that name an artefact without saying anything readable. Well-formed content
    digests are reported too; the sanitiser drops them where digests are allowed."""
    for pattern in (_HASHED, _UUID, _ARN, _CLOUD_ID):
        for m in pattern.finditer(text):
            yield Finding(m.start(), strip_trailing(text, m.start(), m.end()), LeakKind.OPAQUE_ID)
    for m in _LONG_HEX.finditer(text):
        hexa = m.group()
        if len(hexa) >= 32 or (any(c.isdigit() for c in hexa) and not hexa.isdigit()):
            yield Finding(m.start(), m.end(), LeakKind.OPAQUE_ID)


def _is_ipv6(candidate: str) -> bool:
    address = candidate.split("/")[0].split("%")[0]
    if "::" not in address and address.count(":") < 7:
        return False  # times (20:14:03) and `a:b:c` values are not addresses
    if not any(c in "0123456789abcdefABCDEF" for c in address):
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def ips(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        address = m.group().split("/")[0]
        if all(int(octet) <= 255 for octet in address.split(".")):
            yield Finding(m.start(), m.end(), LeakKind.IP)
    for m in _IPV6.finditer(text):
        end = m.end()
        if text[end - 1] == ":" and not _is_ipv6(m.group()):
            end -= 1  # the colon is the message's (`dial fe80::1: refused`), not the address's
        if _is_ipv6(text[m.start() : end]):
            yield Finding(m.start(), end, LeakKind.IP)


def workloads(text: str) -> Iterator[Finding]:
    for m in _JOB.finditer(text):
        yield Finding(m.start(), m.end(), LeakKind.WORKLOAD)
    for m in _POD.finditer(text):
        suffix = m.group(1)
        if suffix in _GEN_WORDS or suffix.isdigit():
            continue
        yield Finding(m.start(), m.end(), LeakKind.WORKLOAD)


def paths(text: str) -> Iterator[Finding]:
    for m in _ABS_PATH.finditer(text):
        # Judged without the sentence's punctuation: `/tmp.` and `/tmp…` name the root `tmp`.
        end = strip_trailing(text, m.start(), m.end())
        segments = [s for s in text[m.start() : end].split("/") if s]
        if not segments or all(s.isdigit() for s in segments):
            continue
        end_tag = m.start() > 0 and text[m.start() - 1] == "<"  # `</var>`, `</data>` in HTML
        if len(segments) >= 2 or (segments[0].lower() in _PATH_ROOTS and not end_tag):
            yield Finding(m.start(), end, LeakKind.PATH)
    for pattern in (_REL_PATH, _WINDOWS_PATH):
        for m in pattern.finditer(text):
            yield Finding(m.start(), strip_trailing(text, m.start(), m.end()), LeakKind.PATH)


def has_extension(segment: str) -> bool:
    stem, dot, ext = segment.rpartition(".")
    return bool(dot and stem and ext.lower() in _FILE_EXTENSIONS)


def object_keys(text: str) -> Iterator[Finding]:
    for m in _SLASHED.finditer(text):
        end = strip_trailing(text, m.start(), m.end())
        token = text[m.start() : end]
        if token.startswith(("./", "../")):
            continue  # a relative path: the path detector reports it
        segments = token.split("/")
        named = [s for s in segments if s]
        if not named or all(s.replace(".", "").isdigit() for s in named):
            continue  # ratios and dates: 1/2, 11/27/2025
        slashes = len(segments) - 1
        if slashes <= 2 and API_VERSION.match(segments[-1]) and segments[0] != "runs":
            continue  # batch/v1, modelsmith.io/evidence/v1: API and schema versions
        layout = any(_LAYOUT_SEGMENT.match(s) for s in segments[:-1])
        key = (
            segments[0] == "runs"
            or (layout and slashes >= 2)
            or has_extension(segments[-1])
            or (slashes >= 3 and any(re.search(r"[\d._]", s) for s in named))
            or (slashes >= 2 and token.endswith("/"))
            or (slashes == 2 and "." in segments[0])  # bucket.host/prefix/name
        )
        if key:
            yield Finding(m.start(), end, LeakKind.OBJECT_KEY)
