"""The sanitiser as the operator applies it to text it writes on shared surfaces (Events,
metric labels) where no benchmark text is at hand; the evidence bundle uses a sanitiser built
with the benchmark's own texts as well."""

from __future__ import annotations

import functools
import re
from typing import Final

from modelsmith.evidence.findings import LeakKind
from modelsmith.evidence.sanitiser import Sanitiser

_DNS_LABEL: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


class ObjectName(str):
    """The name of an object the cluster holds (a namespace, a run), as the API server returned
    it: a metric label carrying one is cleaned by `clean_name_label`, not as free text."""


def _sanitiser() -> Sanitiser:
    """Made for each text cleaned: it takes microseconds, against a millisecond for a cleaning."""
    return Sanitiser.for_texts(())


# The two memos below are process-wide rather than the Runtime's: they depend on their argument
# alone, so every runtime of a process (and every test) gets the same answers from them.
@functools.lru_cache(maxsize=1024)
def clean_text(text: str) -> str:
    """Cleaned once per distinct text, the most recent kept: the same texts come back on every
    reconcile (metric label values) or for every object of one shape (an Event's message), and
    each cleaning runs every detector (about a millisecond for a one-line message, measured on
    the test machine; a memo hit takes well under a microsecond)."""
    return _sanitiser().clean(text)


@functools.lru_cache(maxsize=1024)
def clean_label(value: str) -> str:
    """Metric label values: sanitised and bounded, so a label can neither leak nor explode. A
    label has no use for a content digest (and one per object would explode the series), so
    digests are refused here too."""
    return _sanitiser().without_digests().clean(value)[:63]


@functools.lru_cache(maxsize=1024)
def clean_name_label(name: str) -> str:
    """A metric label value that is the name of an object the cluster holds. A name shaped like
    a machine's (`team-node-a1`, a test's `…-node-3fa9c2`) is what the cluster calls that
    object, not where something ran, so it passes; a name with no dots cannot be a host name
    either. Anything else the sanitiser finds in it (a token, an address) is still redacted."""
    found = _sanitiser().without_digests().check(name)
    if _DNS_LABEL.fullmatch(name) and all(f.kind is LeakKind.NODE for f in found):
        return name
    return clean_label(name)
