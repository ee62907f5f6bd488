"""The sanitiser as the operator applies it to text it writes on shared surfaces (Events,
metric labels) where no benchmark text is at hand; the evidence bundle uses a sanitiser built
with the benchmark's own texts as well."""

from __future__ import annotations

import functools

from modelsmith.evidence.sanitiser import Sanitiser


@functools.cache
def _sanitiser() -> Sanitiser:
    return Sanitiser.for_texts(())


def clean_text(text: str) -> str:
    return _sanitiser().clean(text)


def clean_label(value: str) -> str:
    """Metric label values: sanitised and bounded, so a label can neither leak nor explode."""
    return _sanitiser().clean(value)[:63]
