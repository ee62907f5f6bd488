"""Detectors for where things run: host names (under public, internal or unlisted domains),
e-mail addresses and machine names such as `gpu-node-17`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from modelsmith.evidence.detectors import API_VERSION, has_extension
from modelsmith.evidence.findings import TRAILING, Finding, LeakKind, strip_trailing

# Top-level domains that make any dotted name a host. Curated rather than complete: many
# two-letter country codes are also file extensions (.py, .sh, .md) or field names.
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
    *(".local", ".internal", ".intranet", ".lan", ".corp", ".home", ".localdomain", ".svc"),
    *(".localhost", ".private"),
)
# Object storage and model hubs: a name under these is a location even in `domain/name` form.
_STORAGE_HOSTS: Final = (
    *("amazonaws.com", "googleapis.com", "windows.net", "cloudflarestorage.com"),
    *("digitaloceanspaces.com", "backblazeb2.com", "wasabisys.com", "huggingface.co"),
    *("github.com", "githubusercontent.com", "gitlab.com", "r2.dev"),
)
DEFAULT_ALLOWED_DOMAINS: Final = frozenset(
    {"modelsmith.io", "k8s.io", "kubernetes.io", "x-k8s.io", "nvidia.com", "amd.com"}
    | {"intel.com", "habana.ai"}
)
"""API-group and device-plugin domains our own status vocabulary names on its own."""

# First segments of field paths (`spec.rollback.expectation`), never of host names.
_FIELD_ROOTS: Final = frozenset({"spec", "status", "metadata", "data", "self", "oldself"})
_QUALIFIED_NAME: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
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
    r"(?<![A-Za-z0-9_.@:/-])[A-Za-z][A-Za-z0-9]*(?:[.-][A-Za-z0-9]+)+:\d{2,5}"
    r"(?![0-9A-Za-z]|:[0-9A-Za-z])"  # a colon then a space ends a message's part: `x:9000: …`
)
# `Server=db01;` and `host=…` in connection strings and DSNs.
_SERVER_KEY: Final = re.compile(
    r"(?i)\b(?:server|host|hostname|data source|addr|address|endpoint)\s*=\s*"
    r"([A-Za-z0-9][A-Za-z0-9_.-]*(?:[:,]\d{2,5})?)"
)
_SLASH_TAIL: Final = re.compile(r"(?:/[A-Za-z0-9_.@+=%~-]*)+")
_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_NODE_WORDS: Final = (
    r"(?:node|nodes|worker|gpu|host|compute|dgx|vmss|nodepool|pool|rack|server|srv|minion"
    r"|agent|kube|k8s|hpc|slurm|ip)\d*"
)
_NODE: Final = re.compile(
    rf"(?<![A-Za-z0-9_./-])(?:[a-z0-9]+-)*{_NODE_WORDS}(?:-[a-z0-9]+)*-[a-z]*\d+[a-z0-9]*"
    rf"(?![A-Za-z0-9_/-]|\.[A-Za-z0-9])|(?<![A-Za-z0-9_./-]){_NODE_WORDS}\d{{1,4}}"
    r"(?![A-Za-z0-9_/-]|\.[A-Za-z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HostRules:
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
        parts = (rest.group() if rest else "/").rstrip(TRAILING)[1:].split("/")
        if not all(_QUALIFIED_NAME.match(p) for p in parts):
            return False
        return len(parts) == 1 or (len(parts) == 2 and API_VERSION.match(parts[1]) is not None)

    def hosts(self, text: str) -> Iterator[Finding]:
        for m in _HOSTNAME.finditer(text):
            name, port = m.group(1), m.group(2)
            located = self.located(name)
            if not located and not _host_like(name):
                continue  # field paths, file names, versions: spec.suspend, report.html
            qualified = self.allowed(name) or self.qualified_name_follows(text, m.end())
            if qualified and not port and not located:
                continue
            end = m.end()
            if text.startswith("/", end):  # a host with a path: the location as a whole
                rest = _SLASH_TAIL.match(text, end)
                end = strip_trailing(text, end, rest.end() if rest else end)
            yield Finding(m.start(), end, LeakKind.HOST)
        for pattern in (_BARE_HOST, _HOST_PORT):
            for m in pattern.finditer(text):
                yield Finding(m.start(), m.end(), LeakKind.HOST)
        for m in _SERVER_KEY.finditer(text):
            end = strip_trailing(text, m.start(1), m.end(1))
            yield Finding(m.start(1), end, LeakKind.HOST)


def _host_like(name: str) -> bool:
    """A dotted name under a known top-level domain, or under an unlisted one when it reads
    like a host rather than a field path or file name: all lowercase, the last label a word,
    and a label with a digit or hyphen (`db01.acme`, `pg-main.prod.acme`) or three labels or
    more that do not start like a field path."""
    labels = name.split(".")
    tld = labels[-1].lower()
    if tld in _TLDS:
        return True
    if name != name.lower() or has_extension(name) or labels[0] in _FIELD_ROOTS:
        return False
    if len(tld) < 2 or not tld[0].isalpha() or not tld.isalnum():
        return False
    if any(len(label) < 2 for label in labels):
        return False
    marked = any(re.search(r"\d|-", label) for label in labels[:-1])
    return marked or len(labels) >= 3


def emails(text: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding(m.start(), strip_trailing(text, m.start(), m.end()), LeakKind.EMAIL)


def nodes(text: str) -> Iterator[Finding]:
    for m in _NODE.finditer(text):
        yield Finding(m.start(), m.end(), LeakKind.NODE)
