"""JSON Schema (what pydantic writes, draft 2020-12) to the OpenAPI v3 *structural* schema the
API server wants: every node typed, no `$ref`, no `anyOf` carrying types, `exclusiveMinimum` as
a flag, free-form maps marked `x-kubernetes-preserve-unknown-fields`. Anything without a known
translation is refused, so a new pydantic construct fails generation instead of producing a
CRD the API server rejects or, worse, accepts differently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

VALIDATIONS = "x-kubernetes-validations"

# Output order of schema keys: what a reader of the YAML looks for first comes first.
_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "nullable",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "items",
    "properties",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    VALIDATIONS,
)
_PASSED_THROUGH = frozenset(
    {
        "format",
        "enum",
        "nullable",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        VALIDATIONS,
    }
)
# JSON Schema annotations with no meaning for the API server.
_DROPPED = frozenset({"title", "examples", "deprecated", "readOnly", "writeOnly", "$defs"})
_RULE_KEY_ORDER = ("rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf")


class SchemaError(ValueError):
    """The models use a construct that has no faithful structural-schema translation."""


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Field-level keys (overlay) win over the referenced type's, except CEL rules, which add
    up (the type's own rules and the field's rules all apply), and descriptions, which join:
    the field says what it is for, the type's docstring how it behaves, and `kubectl explain`
    should show both."""
    out = dict(base)
    for key, value in overlay.items():
        if key == VALIDATIONS:
            out[key] = [*base.get(key, []), *value]
        elif key == "description" and base.get("description"):
            general = " ".join(str(base["description"]).split())
            specific = " ".join(str(value).split())
            if general in specific:
                out[key] = specific
            elif specific in general:
                out[key] = general
            else:
                out[key] = f"{specific} {general}"
        else:
            out[key] = value
    return out


def _flatten(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """Inline `$ref` / single `allOf`, and turn `anyOf [X, null]` into X (nullable only where
    a field asks for it: a null in a non-nullable field is pruned by the API server, which is
    how Optional fields behave on the wire)."""
    node = dict(node)
    if "$ref" in node:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        node = _merge(_flatten(defs[name], defs, path), node)
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{path}: allOf with {len(parts)} parts")
        node = _merge(_flatten(parts[0], defs, path), node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node.pop(key) if o.get("type") != "null"]
            if len(options) != 1:
                raise SchemaError(f"{path}: {key} of {len(options)} non-null types")
            node = _merge(_flatten(options[0], defs, path), node)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    return node


def _exclusive_bounds(node: dict[str, Any], out: dict[str, Any]) -> None:
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, bool):
            out[bound] = value
        elif value is not None:
            out[flag] = value
            out[bound] = True


def _ordered(out: dict[str, Any]) -> dict[str, Any]:
    known = [k for k in _KEY_ORDER if k in out]
    return {k: out[k] for k in known}


def ordered_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: rule[k] for k in _RULE_KEY_ORDER if k in rule} for rule in rules]


# Keys `structural` translates itself rather than passing through.
_TRANSLATED = frozenset(
    {
        "description",
        "type",
        "default",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)


def _refuse_unknown(node: dict[str, Any], path: str) -> None:
    unknown = set(node) - _PASSED_THROUGH - _DROPPED - _TRANSLATED
    if unknown:
        raise SchemaError(f"{path or '<root>'}: no structural translation for {sorted(unknown)}")


def _annotations(node: dict[str, Any], keep_defaults: bool) -> dict[str, Any]:
    """The keys that describe and bound a node whatever its type."""
    out: dict[str, Any] = {k: v for k, v in node.items() if k in _PASSED_THROUGH}
    if VALIDATIONS in out:
        out[VALIDATIONS] = ordered_rules(out[VALIDATIONS])
    if node.get("description"):
        # Docstrings wrap at the source's line length; explain output wraps on its own.
        out["description"] = " ".join(str(node["description"]).split())
    if keep_defaults and node.get("default") is not None:
        out["default"] = node["default"]
    _exclusive_bounds(node, out)
    return out


def _object(
    node: dict[str, Any], defs: dict[str, Any], path: str, keep_defaults: bool
) -> dict[str, Any]:
    """An object's properties, or the schema of a map's values, or any keys at all."""
    out: dict[str, Any] = {"type": "object"}
    properties = node.get("properties")
    extra = node.get("additionalProperties")
    if properties:
        out["properties"] = {
            name: structural(sub, defs, path=f"{path}.{name}", keep_defaults=keep_defaults)
            for name, sub in properties.items()
        }
        if node.get("required"):
            out["required"] = list(node["required"])
    elif isinstance(extra, dict):
        out["additionalProperties"] = structural(
            extra, defs, path=f"{path}.*", keep_defaults=keep_defaults
        )
    else:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _typed(
    node: dict[str, Any], defs: dict[str, Any], path: str, keep_defaults: bool
) -> dict[str, Any]:
    """The type-specific keys of a node."""
    kind = node.get("type")
    if kind is None:
        # `Any`: whatever the client sends is kept as it is.
        return {"x-kubernetes-preserve-unknown-fields": True}
    if kind == "object":
        return _object(node, defs, path, keep_defaults)
    if kind == "array":
        items = structural(node["items"], defs, path=f"{path}[*]", keep_defaults=keep_defaults)
        return {"type": "array", "items": items}
    if kind in ("string", "integer", "number", "boolean"):
        return {"type": kind}
    raise SchemaError(f"{path}: unsupported type {kind!r}")


def structural(
    node: dict[str, Any],
    defs: dict[str, Any],
    *,
    path: str = "",
    keep_defaults: bool = True,
) -> dict[str, Any]:
    """The structural schema for one JSON Schema node (recursively)."""
    node = _flatten(node, defs, path)
    _refuse_unknown(node, path)
    out = _annotations(node, keep_defaults)
    out.update(_typed(node, defs, path, keep_defaults))
    return _ordered(out)


def model_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> dict[str, Any]:
    """The structural schema of a pydantic model, with wire (camelCase) names."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return structural(raw, defs, path=model.__name__, keep_defaults=keep_defaults)


def missing_descriptions(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of properties without a description (`kubectl explain` would show nothing)."""
    missing: list[str] = []
    for name, sub in schema.get("properties", {}).items():
        here = f"{path}.{name}"
        if not sub.get("description"):
            missing.append(here)
        missing.extend(missing_descriptions(sub, here))
    if "items" in schema:
        missing.extend(missing_descriptions(schema["items"], f"{path}[*]"))
    if isinstance(schema.get("additionalProperties"), dict):
        missing.extend(missing_descriptions(schema["additionalProperties"], f"{path}.*"))
    return missing
