"""The content digest that identifies a benchmark version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from modelsmith.contract.scenario import Scenario


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """A scenario as it appears on the wire (camelCase), without unset optional fields."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=True)


def content_digest(scenarios: Sequence[Scenario], version: str) -> str:
    """`sha256:<hex>` over the version and the scenarios in canonical JSON.

    Scenarios are ordered by id, so listing the same scenarios in another order is the same
    content; defaults are written out, so leaving a default field unset and spelling it out are
    the same content too."""
    # canonical_json({"version": version, "scenarios": documents}), each document serialised
    # once: sorted keys put "scenarios" first, and a list's items are written as they are alone.
    documents = sorted(
        (doc["id"], canonical_json(doc)) for doc in (scenario_document(s) for s in scenarios)
    )
    payload = b'{"scenarios":[%s],"version":%s}' % (
        b",".join(data for _, data in documents),
        canonical_json(version),
    )
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def changed_content(version_digest: str | None, digest: str, version: str) -> str | None:
    """Why content under `version` may not be used (a message), or None. `version_digest` is
    the digest this version was first Ready with: a version names one content whatever its
    source, so a ConfigMap or object edited in place under the same version is refused for
    good (until restored) instead of becoming the version's content."""
    if version_digest is None or version_digest == digest:
        return None
    return (
        f"the scenario content changed under version {version} after this version was "
        "published (status.digest keeps the published content's digest); restore the original "
        "content, or publish the change as a new Benchmark with a bumped spec.version and "
        "point the intake at it"
    )
