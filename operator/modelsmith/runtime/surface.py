"""The sanitiser as the operator applies it to text it writes on shared surfaces (Events,
metric labels) where no benchmark text is at hand; the evidence bundle uses a sanitiser built
with the benchmark's own texts as well."""

from __future__ import annotations

import functools

from modelsmith.evidence.sanitiser import Sanitiser


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
