"""Code shape: no function over 60 lines, no module over 400, in the operator, the images and
hack/ (the test bed, the benchmarks, the demo's helpers).

A long function hides its steps and a long module its concerns (issue 21). Lengths are counted
from the `def` line to the function's last line (decorators and the docstring included) and
over a module's whole file. Generated code and tests are not walked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WALKED = ("operator/modelsmith", "trainer-image", "evaluator-image", "hack")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400

def _functions(
    node: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method under `node` with its qualified name, nested ones included
    (also those under an `if`, a `try` or any other statement)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def offenders(root: Path = ROOT, walked_trees: tuple[str, ...] = WALKED) -> dict[str, int]:
    """Each module over MAX_MODULE_LINES and each function over MAX_FUNCTION_LINES, with its
    length in lines."""
    found: dict[str, int] = {}
    for walked in walked_trees:
        for path in sorted((root / walked).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            source = path.read_text(encoding="utf-8")
            lines = len(source.splitlines())
            if lines > MAX_MODULE_LINES:
                found[name] = lines
            for qualname, node in _functions(ast.parse(source, filename=name)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"{name}:{qualname}"] = length
    return found


def test_walked_trees_exist() -> None:
    for walked in WALKED:
        assert any((ROOT / walked).rglob("*.py")), f"{walked} holds no Python module"


def test_no_long_function_or_module() -> None:
    found = offenders()
    assert not found, (
        f"over {MAX_FUNCTION_LINES} lines (function) or {MAX_MODULE_LINES} lines (module); "
        "split it into named steps or modules by concern:\n"
        + "\n".join(f"  {k}: {v} lines" for k, v in sorted(found.items()))
    )


def test_the_walk_finds_a_long_function(tmp_path: Path) -> None:
    """The check itself: a 61-line function and a 401-line module in a walked tree are named."""
    body = [f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES)]
    tail = [f"y{i} = {i}" for i in range(MAX_MODULE_LINES - MAX_FUNCTION_LINES)]
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text("\n".join(["def long():", *body, *tail]) + "\n")
    found = offenders(tmp_path, ("pkg",))
    assert found == {"pkg/long.py": MAX_MODULE_LINES + 1, "pkg/long.py:long": 61}
