"""Every status write passes the shared-surface sanitiser (status is read by anyone who may
list the object, and copied into dashboards and tickets).

`merge_patch` cleans the desired status before diffing it against the stored one, so a status
whose text had to be redacted compares equal to what was stored and costs no write on the next
reconcile; `StatusWriter.write`, which every status write goes through, cleans any patch
that did not come from there. A leak is replaced by its placeholder (`[redacted:<kind>]`), which
names the kind of what was removed; nothing is dropped silently.

What is not cleaned, on purpose:
- strings the kind's schema constrains (a pattern, an enum or a format: names, ids, digests,
  reasons, phases, timestamps): the API server already holds them to a shape no leak fits,
  and a placeholder would fail that shape and the whole write with it;
- approver identities (`user`, `by`, `role`): approver chains must name people;
- `memory`: the bookkeeping a run resumes from (enums, counters, and the retry token, which
  already sits in the same object's annotations); redacting it would change what it means.
The object's own name and namespace, and the constrained and identity values of the same status,
are allowed wherever the status mentions them (a run created with generateName ends like a pod).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Final

from modelsmith.api.kinds import ALL_KINDS
from modelsmith.evidence.sanitiser import Sanitiser
from modelsmith.runtime.surface import clean_text

IDENTITY_KEYS: Final = frozenset({"user", "by", "role"})
MACHINE_KEYS: Final = frozenset({"memory"})


class CleanStatus(dict[str, Any]):
    """A status (or patch) that has passed `clean_status`."""


def _constrained(schema: dict[str, Any], defs: dict[str, Any], path: str, out: set[str]) -> None:
    if "$ref" in schema:
        _constrained(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path, out)
        return
    for alternative in (*schema.get("anyOf", ()), *schema.get("allOf", ())):
        _constrained(alternative, defs, path, out)
    if schema.get("type") == "string" and ({"pattern", "enum", "format", "const"} & set(schema)):
        out.add(path)
    for key, child in (schema.get("properties") or {}).items():
        _constrained(child, defs, f"{path}.{key}", out)
    if isinstance(schema.get("items"), dict):
        _constrained(schema["items"], defs, f"{path}[]", out)


# Process-wide rather than the Runtime's: the kinds' schemas are fixed for the life of the
# process, and deriving the paths from one costs about 0.1 s (measured on the test machine).
@functools.cache
def constrained_paths(plural: str | None) -> frozenset[str]:
    """Paths (`$.a.b[]`) of the status strings the kind's schema constrains; for an unknown
    kind, those of every kind. Map values are never constrained, so always cleaned."""
    out: set[str] = set()
    for kind in ALL_KINDS:
        if plural is None or kind.plural == plural:
            schema = kind.status.model_json_schema(by_alias=True)
            _constrained(schema, schema.get("$defs", {}), "$", out)
    return frozenset(out)


def _walk(value: Any, path: str, key: str | None) -> Iterator[tuple[str, str | None, str]]:
    """(path, key, string) for every string in a JSON-like value."""
    if isinstance(value, str):
        yield path, key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in MACHINE_KEYS:
                yield from _walk(v, f"{path}.{k}", k)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, f"{path}[]", key)


def _kept(path: str, key: str | None, fixed: frozenset[str]) -> bool:
    return path in fixed or key in IDENTITY_KEYS


def clean_status(status: dict[str, Any], key: tuple[str, str, str] | None = None) -> CleanStatus:
    """A copy of `status` with every free-text string sanitised (see the module's notes)."""
    if isinstance(status, CleanStatus):
        return status
    plural, namespace, name = key or (None, "", "")
    fixed = constrained_paths(plural)
    sanitiser: Sanitiser | None = None

    def allowing() -> Sanitiser:
        # What the sanitiser may leave is gathered only for a status with a string to clean:
        # most have none, and the walk over every string would be spent for nothing.
        kept = {s for p, k, s in _walk(status, "$", None) if _kept(p, k, fixed)}
        return Sanitiser().allowing(namespace, name, *kept)

    def clean(value: Any, path: str, key: str | None) -> Any:
        nonlocal sanitiser
        if isinstance(value, str):
            # The cached check without allowances first: most texts are clean, and an
            # allowance can only take findings away.
            if _kept(path, key, fixed) or clean_text(value) == value:
                return value
            sanitiser = sanitiser or allowing()
            return sanitiser.clean(value)
        if isinstance(value, dict):
            return {
                k: v if k in MACHINE_KEYS else clean(v, f"{path}.{k}", k) for k, v in value.items()
            }
        if isinstance(value, list):
            return [clean(item, f"{path}[]", key) for item in value]
        return value

    return CleanStatus(clean(status, "$", None))
