"""What the trainer and evaluator images may import of this project: `modelsmith.contract` only,
and the contract imports nothing of the operator's runtime, so the images install and run
without kopf, kubernetes or prometheus-client."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PACKAGES = (
    ROOT / "trainer-image" / "modelsmith_trainer",
    ROOT / "evaluator-image" / "modelsmith_evaluator",
)
CONTRACT = ROOT / "operator" / "modelsmith" / "contract"
PURE = ("modelsmith.api",)
"""Outside the contract, the contract may import only these: the pydantic models the CRDs are
generated from (a scenario's criteria, the wire base model), which import pydantic and each
other only."""
RUNTIME = ("kopf", "kubernetes", "prometheus_client")
"""The operator's runtime, which the images do not install."""


def _modules(package: Path, root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _image_modules() -> list[tuple[str, Path]]:
    return [m for package in IMAGE_PACKAGES for m in _modules(package, package.parent)]


def _contract_modules() -> list[tuple[str, Path]]:
    return list(_modules(CONTRACT, ROOT / "operator"))


def _imported(path: Path) -> Iterator[str]:
    """Every module an import statement in `path` names (`from a import b` names `a.b`, which
    may be a module or a name in `a`; both start with `a`)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _ours(name: str) -> bool:
    return _within(name, ("modelsmith",))


def test_images_import_only_the_contract() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for _, path in _image_modules()
        for name in _imported(path)
        if _ours(name) and not _within(name, ("modelsmith.contract",))
    ]
    assert found == []


def test_the_contract_imports_nothing_of_the_operator() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for _, path in _contract_modules()
        for name in _imported(path)
        if _ours(name) and not _within(name, ("modelsmith.contract", *PURE))
    ]
    assert found == []


def test_images_and_contract_import_without_the_operator_runtime() -> None:
    """In a fresh interpreter where kopf, kubernetes and prometheus-client cannot be imported,
    every image module and every contract module imports, and of this project only the contract
    and the pure API models are loaded."""
    names = [name for name, _ in _image_modules() + _contract_modules()]
    script = f"""
import importlib, json, sys
for blocked in {RUNTIME!r}:
    sys.modules[blocked] = None  # an import of it raises ImportError
for name in {names!r}:
    importlib.import_module(name)
ours = [m for m in sys.modules if m == "modelsmith" or m.startswith("modelsmith.")]
print(json.dumps(sorted(ours)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    outside = [
        m for m in loaded if m != "modelsmith" and not _within(m, ("modelsmith.contract", *PURE))
    ]
    assert outside == []
    assert {name for name in names if name.startswith("modelsmith.")} <= set(loaded)


def _image_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["trainer"])


def _names(requirements: list[str]) -> set[str]:
    return {
        req.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
        for req in requirements
    }


def test_the_images_install_without_the_operator_runtime() -> None:
    """The Dockerfiles install this checkout with --no-deps, then pyproject's `trainer` extra
    under the images' constraints; none of these names the operator's runtime."""
    runtime = {"kopf", "kubernetes", "prometheus-client", "prometheus_client"}
    assert not _names(_image_requirements()) & runtime
    pins = (ROOT / "trainer-image" / "constraints.txt").read_text().splitlines()
    assert not _names([p for p in pins if p and not p.startswith("#")]) & runtime
    for dockerfile in (
        ROOT / "trainer-image" / "Dockerfile",
        ROOT / "evaluator-image" / "Dockerfile",
    ):
        text = dockerfile.read_text()
        assert "pip install --no-compile --no-deps ." in text, dockerfile
        assert "['optional-dependencies']['trainer']" in text, dockerfile
        assert "'.[" not in text, dockerfile  # no install of the distribution with its deps


def test_the_image_requirements_cover_what_the_contract_imports() -> None:
    """Every third-party package the contract imports is in the images' list (a missing one
    would be found only when an image starts)."""
    wanted = {
        "pydantic": "pydantic",
        "boto3": "boto3",
        "botocore": "boto3",
        "jsonschema": "jsonschema",
        "referencing": "jsonschema",
        "re2": "google-re2",
    }
    stdlib = set(sys.stdlib_module_names) | {"modelsmith", "mypy_boto3_s3"}
    imported = {
        name.split(".")[0] for _, path in _contract_modules() for name in _imported(path)
    } - stdlib
    assert imported <= set(wanted), imported - set(wanted)
    assert {wanted[name] for name in imported} <= _names(_image_requirements())
