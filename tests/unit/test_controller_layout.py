"""Each controller (controllers/<kind>/) imports no other controller: what two of them share
lives outside controllers/ (top-level modules such as chain.py, readback.py, scenarios.py and
uids.py, or a package such as evidence/), so a kind's package reads, changes and tests on its
own (issue 21)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

CONTROLLERS = Path(__file__).resolve().parents[2] / "operator" / "modelsmith" / "controllers"
PACKAGE = "modelsmith.controllers"


def _imported(path: Path, package: str) -> Iterator[str]:
    """Every module an import statement in `path` (a module of `package`) names, and each
    name it imports from one: `from modelsmith.controllers import gate` names
    `modelsmith.controllers.gate`; a relative import is resolved against `package`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def crossings(controllers: Path = CONTROLLERS) -> list[str]:
    """`<file> imports <name>` for each import of one controller's package by another's."""
    found = []
    for kind in sorted(p for p in controllers.iterdir() if (p / "__init__.py").exists()):
        for path in sorted(kind.rglob("*.py")):
            package = ".".join((PACKAGE, *path.relative_to(controllers).parent.parts))
            for name in _imported(path, package):
                other = name.removeprefix(PACKAGE + ".").split(".")[0]
                if name.startswith(PACKAGE + ".") and other != kind.name:
                    found.append(f"{path.relative_to(controllers)} imports {name}")
    return found


def test_controllers_import_no_other_controller() -> None:
    found = crossings()
    assert not found, (
        "a controller reaches into another; move what both need out of controllers/:\n"
        + "\n".join(f"  {f}" for f in found)
    )


def test_the_walk_finds_a_crossing(tmp_path: Path) -> None:
    """The check itself: an absolute, a package and a relative import of another kind are
    named; the kind's own modules are not."""
    for kind in ("run", "gate"):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "__init__.py").write_text("")
    (tmp_path / "gate" / "a.py").write_text(
        "from modelsmith.controllers.gate import status\n"
        "from modelsmith.controllers.run.trust import Anchors\n"
    )
    (tmp_path / "gate" / "b.py").write_text("from modelsmith.controllers import run\n")
    (tmp_path / "gate" / "c.py").write_text("from . import status\nfrom ..run import staging\n")
    assert crossings(tmp_path) == [
        "gate/a.py imports modelsmith.controllers.run.trust",
        "gate/a.py imports modelsmith.controllers.run.trust.Anchors",
        "gate/b.py imports modelsmith.controllers.run",
        "gate/c.py imports modelsmith.controllers.run",
        "gate/c.py imports modelsmith.controllers.run.staging",
    ]
