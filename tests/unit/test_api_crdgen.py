"""The CRD generator: structural output the API server accepts, and the `modelsmith crds` CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from modelsmith.api import crdgen, structural
from modelsmith.api.kinds import ALL_KINDS
from modelsmith.api.resource import ResourceKind
from modelsmith.cli import main


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}.*")


def _schemas() -> Iterator[tuple[ResourceKind, dict[str, Any]]]:
    for kind in ALL_KINDS:
        yield kind, crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_names_and_categories() -> None:
    assert {k.kind: k.short_name for k in ALL_KINDS} == {
        "Benchmark": "bench",
        "ModelIntake": "intake",
        "IterationRun": "irun",
        "PromotionGate": "gate",
        "ApproverPolicy": "approverpolicy",
        "ExecutionTarget": "xtarget",
    }
    for kind in ALL_KINDS:
        doc = crdgen.crd(kind)
        assert doc["metadata"]["name"] == f"{kind.plural}.modelsmith.io"
        # Admin-owned kinds are cluster-scoped: no namespace editor can write them.
        admin_owned = kind.kind in ("ApproverPolicy", "ExecutionTarget")
        assert doc["spec"]["scope"] == ("Cluster" if admin_owned else "Namespaced")
        assert doc["spec"]["names"]["categories"] == ["modelsmith"]
        version = doc["spec"]["versions"][0]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = {
        kind.kind: [c.name.upper() for c in kind.columns if c.priority == 0] for kind in ALL_KINDS
    }
    assert columns == {
        "Benchmark": ["VERSION", "SCENARIOS", "HELD-OUT", "READY", "AGE"],
        "ModelIntake": ["BENCHMARK", "BASE", "THRESHOLD", "OWNER", "READY", "AGE"],
        "IterationRun": ["PHASE", "ITERATION", "SCORE", "HELDOUT", "TARGET", "BLOCKED", "AGE"],
        "PromotionGate": ["STATUS", "APPROVALS", "DECISION", "CANDIDATE", "AGE"],
        "ApproverPolicy": ["ROLES", "TTL", "AGE"],
        "ExecutionTarget": ["JOB-NAMESPACE", "SERVICE-ACCOUNT", "MAX-GPUS", "AGE"],
    }
    run_wide = [c.name for c in ALL_KINDS[2].columns if c.priority == 1]
    assert "Next" in run_wide


def test_schemas_are_structural() -> None:
    for kind, schema in _schemas():
        for path, node in _nodes(schema):
            where = f"{kind.kind}{path}"
            assert not {"$ref", "anyOf", "oneOf", "allOf", "title", "const"} & set(node), where
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), where
            if node.get("type") == "object" and path not in ("", ".metadata"):
                assert (
                    "properties" in node
                    or "additionalProperties" in node
                    or node.get("x-kubernetes-preserve-unknown-fields")
                ), where
            assert not isinstance(node.get("exclusiveMinimum"), float | int) or isinstance(
                node.get("exclusiveMinimum"), bool
            ), where


def test_every_field_is_described() -> None:
    for kind, schema in _schemas():
        for path, node in _nodes(schema):
            is_property = path and not path.endswith(("[*]", ".*"))
            if is_property and path != ".metadata":
                assert node.get("description"), f"{kind.kind}{path}"


def test_every_string_list_and_map_is_bounded() -> None:
    """Unbounded values make the API server's CEL cost estimate explode; bound them all."""
    for kind, schema in _schemas():
        for path, node in _nodes(schema):
            where = f"{kind.kind}{path}"
            if path in ("", ".apiVersion", ".kind", ".metadata"):
                continue
            kind_of = node.get("type")
            if kind_of == "string" and "enum" not in node and node.get("format") != "date-time":
                assert "maxLength" in node, where
            if kind_of == "array":
                assert "maxItems" in node, where
            if kind_of == "object" and "additionalProperties" in node:
                assert "maxProperties" in node, where


def test_list_maps_have_required_keys() -> None:
    for kind, schema in _schemas():
        for path, node in _nodes(schema):
            for key in node.get("x-kubernetes-list-map-keys", []):
                item = node["items"]
                assert key in item.get("required", []) or "default" in item["properties"][key], (
                    f"{kind.kind}{path}: list-map key {key}"
                )


def test_cel_rules_render_with_messages() -> None:
    rules = [
        rule
        for _, schema in _schemas()
        for _, node in _nodes(schema)
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 20
    assert all(rule["message"] and next(iter(rule)) == "rule" for rule in rules)


def test_immutability_rules_present() -> None:
    by_kind = {kind.kind: schema for kind, schema in _schemas()}

    def rules_at(kind: str, *path: str) -> list[str]:
        node = by_kind[kind]
        for name in path:
            node = node["properties"][name]
        return [r["rule"] for r in node.get("x-kubernetes-validations", [])]

    assert "self == oldSelf" in rules_at("Benchmark", "spec", "version")
    assert "self == oldSelf" in rules_at("Benchmark", "spec", "scenarios")
    assert "self == oldSelf" in rules_at("ModelIntake", "spec", "baseModel")
    assert "self == oldSelf" in rules_at("ModelIntake", "spec", "benchmarkRef")
    assert "self == oldSelf" in rules_at("PromotionGate", "spec", "candidate")
    assert "self == oldSelf" in rules_at("PromotionGate", "spec", "evidence", "digest")
    status_rules = rules_at("PromotionGate", "status")
    assert any("promotionRecord == oldSelf.promotionRecord" in r for r in status_rules)


def test_status_has_no_defaults() -> None:
    for kind, schema in _schemas():
        for path, node in _nodes(schema["properties"]["status"]):
            assert "default" not in node, f"{kind.kind}.status{path}"


def test_spec_defaults_match_python_defaults() -> None:
    run_spec = next(s for k, s in _schemas() if k.kind == "IterationRun")["properties"]["spec"]
    recipe = run_spec["properties"]["recipe"]
    assert recipe["default"] == {}
    assert recipe["properties"]["rank"]["default"] == 8
    assert run_spec["properties"]["clusterDimensions"]["default"] == ["capability", "risk"]
    assert run_spec["properties"]["recipe"]["properties"]["learningRate"] == {
        "description": "Peak learning rate.",
        "type": "number",
        "default": 0.0002,
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1,
    }


def test_untranslatable_construct_is_refused() -> None:
    class Ambiguous(BaseModel):
        value: int | str = Field(description="either")

    with pytest.raises(structural.SchemaError, match="anyOf of 2"):
        structural.model_schema(Ambiguous)

    class WithSet(BaseModel):
        tags: set[str] = Field(description="a set")

    with pytest.raises(structural.SchemaError, match="uniqueItems"):
        structural.model_schema(WithSet)


def test_rendered_yaml_has_header_and_no_aliases() -> None:
    for kind in ALL_KINDS:
        text = crdgen.render(kind)
        assert text.startswith("# Generated by `modelsmith crds`")
        assert "&id" not in text and "*id" not in text
        assert yaml.safe_load(text) == crdgen.crd(kind)


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale: crds/benchmarks.yaml" in err
    assert "stale: charts/modelsmith/crds/promotiongates.yaml" in err

    assert main(["crds", "--root", str(tmp_path)]) == 0
    assert main(["crds", "--check", "--root", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml"))
    assert written == sorted(crdgen.render_all())

    (tmp_path / "crds" / "iterationruns.yaml").write_text("# edited by hand\n")
    (tmp_path / "crds" / "leftover.yaml").write_text("{}\n")
    capsys.readouterr()
    assert main(["crds", "--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale: crds/iterationruns.yaml" in err and "stale: crds/leftover.yaml" in err

    assert main(["crds", "--root", str(tmp_path)]) == 0
    assert not (tmp_path / "crds" / "leftover.yaml").exists()
    assert main(["crds", "--check", "--root", str(tmp_path)]) == 0


def test_cli_requires_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "crds" in capsys.readouterr().err
