"""Reading scenarios from a referenced document: a ConfigMap value or an object's bytes.

Accepted shapes: a YAML or JSON list of scenarios, a mapping with a `scenarios:` list, or JSON
Lines (one scenario per line, as the operator writes scenarios.jsonl). Errors name where the
document came from and what is wrong (the scenario by id, its place in the list counted from 1,
the field) without echoing its content, since they end up in the Benchmark's conditions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from modelsmith.benchmark.quoting import quoted
from modelsmith.contract.scenario import Scenario

MAX_SOURCE_BYTES = 1024 * 1024
# How many failing scenarios one error message describes before summarising the rest.
_SHOWN = 3
_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class BenchmarkSourceError(ValueError):
    """The scenario document cannot be used; the message says where and why."""


def scenarios_from_configmap(
    data: Mapping[str, str] | None,
    key: str,
    *,
    name: str | None = None,
    max_bytes: int = MAX_SOURCE_BYTES,
) -> list[Scenario]:
    """The scenarios under `key` of a ConfigMap's `data`."""
    origin = f"ConfigMap {name} key {key}" if name else f"ConfigMap key {key}"
    if not data or key not in data:
        raise BenchmarkSourceError(f"{origin}: no such key")
    return parse_scenarios(data[key], origin=origin, max_bytes=max_bytes)


def scenarios_from_object(
    raw: bytes, *, origin: str = "scenario object", max_bytes: int = MAX_SOURCE_BYTES
) -> list[Scenario]:
    """The scenarios in an object store object's bytes. `origin` should be a readable label,
    not the object key, when the message may reach a shared surface."""
    return parse_scenarios(raw, origin=origin, max_bytes=max_bytes)


def parse_scenarios(
    raw: str | bytes, *, origin: str, max_bytes: int = MAX_SOURCE_BYTES
) -> list[Scenario]:
    """Validated scenarios with unique ids, or BenchmarkSourceError."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise BenchmarkSourceError(
            f"{origin}: {len(data)} bytes, more than the limit of {max_bytes}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BenchmarkSourceError(
            f"{origin}: not UTF-8 text (bad byte at offset {err.start})"
        ) from None
    if not text.strip():
        raise BenchmarkSourceError(f"{origin}: empty document")
    items = _items(_load(text, origin), origin)
    return _validate(items, origin)


def _load(text: str, origin: str) -> Any:
    stripped = text.strip()
    if stripped[0] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as err:
            if stripped[0] == "{" and err.msg == "Extra data":
                return _json_lines(stripped, origin)
            # Not JSON after all: YAML's flow style also starts with [ or {.
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except _AliasRefusedError:
        raise BenchmarkSourceError(
            f"{origin}: YAML aliases (*name) are not allowed; write the values out"
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BenchmarkSourceError(
            f"{origin}: not valid YAML or JSON ({err.problem or 'syntax error'}{where})"
        ) from None
    except yaml.YAMLError:
        raise BenchmarkSourceError(f"{origin}: not valid YAML or JSON") from None


def _json_lines(text: str, origin: str) -> list[Any]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise BenchmarkSourceError(
                f"{origin}: line {number} is not JSON ({err.msg} at column {err.colno})"
            ) from None
    return items


def _items(document: Any, origin: str) -> list[Any]:
    if isinstance(document, dict):
        if "scenarios" not in document:
            raise BenchmarkSourceError(f"{origin}: a mapping needs a 'scenarios' list")
        document = document["scenarios"]
    if not isinstance(document, list):
        raise BenchmarkSourceError(
            f"{origin}: expected a list of scenarios, found {_type_name(document)}"
        )
    if not document:
        raise BenchmarkSourceError(f"{origin}: the list of scenarios is empty")
    return document


def _validate(items: list[Any], origin: str) -> list[Scenario]:
    scenarios: list[Scenario] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        label = _label(index, item)
        if not isinstance(item, dict):
            problems.append(f"{label} is {_type_name(item)}, not a mapping")
            continue
        try:
            scenarios.append(Scenario.model_validate(item))
        except ValidationError as err:
            problems.append(f"{label}: {_first_error(err)}")
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise BenchmarkSourceError(f"{origin}: " + "; ".join(problems[:_SHOWN]) + more)
    places: dict[str, list[int]] = {}
    for index, scenario in enumerate(scenarios, start=1):
        places.setdefault(scenario.id, []).append(index)
    repeated = [(sid, at) for sid, at in places.items() if len(at) > 1]
    if repeated:
        described = "; ".join(
            f"the id {sid} is used by items {', '.join(map(str, at[:-1]))} and {at[-1]}"
            for sid, at in repeated
        )
        raise BenchmarkSourceError(f"{origin}: scenario ids must be unique: {described}")
    return scenarios


def _label(index: int, item: Any) -> str:
    """The scenario by id where there is one, with its place in the list counted from 1."""
    scenario_id = item.get("id") if isinstance(item, dict) else None
    place = f"item {index + 1}"
    if not isinstance(scenario_id, str):
        return f"scenario {place}"
    if _ID.match(scenario_id) and len(scenario_id) <= 63:
        return f"scenario {scenario_id} ({place})"
    # A nearly valid id (the usual slips: capitals, surrounding whitespace) is shown quoted,
    # so that a trailing space can be seen; anything else may be arbitrary text and is not.
    near = scenario_id.strip().lower()
    if len(scenario_id) <= 63 and _ID.match(near):
        return f"scenario {place} (id {quoted(scenario_id)})"
    return f"scenario {place}"


_ID_RULE = (
    "must be lowercase letters, digits and dashes, starting and ending with a letter or digit "
    "(at most 63)"
)


def _first_error(err: ValidationError) -> str:
    errors = err.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    # pydantic words a pattern mismatch as the regex itself; the id rule reads better in words.
    message = _ID_RULE if where == "id" and first["type"] == "string_pattern_mismatch" else None
    extra = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'scenario'}: {message or first['msg']}{extra}"


def _type_name(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "empty",
    }
    return names.get(type(value), "a scalar")


class _AliasRefusedError(Exception):
    pass


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without aliases: a few nested aliases expand to millions of values (the
    "billion laughs"), which validation would then walk."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefusedError
        return super().compose_node(parent, index)
