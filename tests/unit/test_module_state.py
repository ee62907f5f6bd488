"""Import-time state: runtime state (locks, caches, queues, executors, collectors, counters,
context variables, settings a function rewrites with `global`) belongs to an object its owner
creates, the operator's `Runtime` above all, so that every test can build its own. Outside
operator/modelsmith/runtime/ only the entries of ALLOWED remain, each with its reason; a new one
fails here. Run as a script, it prints every entry found, runtime/ included.

What counts, by the AST: a module-level assignment whose value is a call to one of STATEFUL or
an empty list, dict or set (filled later); a module-level function decorated with
functools.cache or lru_cache; a `global` statement (a module variable rewritten at run time).
Literal tables and frozen values are not state.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WALKED = ("operator/modelsmith", "trainer-image", "evaluator-image")
RUNTIME = "operator/modelsmith/runtime/"
STATEFUL = {
    "Lock", "RLock", "Condition", "Event", "Semaphore", "BoundedSemaphore", "Queue",
    "SimpleQueue", "OrderedDict", "defaultdict", "deque", "dict", "list", "set", "Counter",
    "ThreadPoolExecutor", "ProcessPoolExecutor", "ContextVar", "Gauge", "Histogram", "Summary",
    "CollectorRegistry", "BodyCounter", "Runtime", "OperatorSettings",
}  # fmt: skip
CACHES = {"cache", "lru_cache", "cached_property"}

PURE_MEMO = "a bounded memo of a pure function of its arguments: the same answer in every process"
ALLOWED = {
    # Pure memos: what they keep is derived from their arguments alone, never per-runtime state.
    "operator/modelsmith/contract/criteria/checks.py:_schema_validator": PURE_MEMO,
    "operator/modelsmith/contract/criteria/regex.py:_compile_cached": PURE_MEMO,
    "operator/modelsmith/evidence/sanitiser.py:_names_pattern": PURE_MEMO,
}


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _stateful(value: ast.expr) -> bool:
    if isinstance(value, ast.List | ast.Set):
        return not value.elts
    if isinstance(value, ast.Dict):
        return not value.keys
    return isinstance(value, ast.Call) and _callee(value) in STATEFUL


def _top(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, those under a module-level `if` or `try` included."""
    for node in body:
        if isinstance(node, ast.If | ast.Try):
            yield from _top(node.body)
        else:
            yield node


def _module_state(tree: ast.Module) -> Iterator[str]:
    for node in _top(tree.body):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if _stateful(node.value):
                yield from (t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = getattr(called, "attr", getattr(called, "id", ""))
                if name in CACHES:
                    yield node.name
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(n, ast.Global) for n in ast.walk(node)
        ):
            yield node.name


def found(root: Path = ROOT) -> list[str]:
    """Every entry of import-time state, as `path:name`."""
    out = []
    for walked in WALKED:
        for path in sorted((root / walked).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            rel = path.relative_to(root).as_posix()
            out.extend(f"{rel}:{name}" for name in _module_state(tree))
    return out


def test_no_new_import_time_state_outside_the_runtime() -> None:
    outside = [f for f in found() if not f.startswith(RUNTIME)]
    assert sorted(set(outside) - set(ALLOWED)) == []


def test_the_scan_sees_each_kind_of_state() -> None:
    source = (
        "import threading, functools\n"
        "LOCK = threading.Lock()\nSEEN = {}\nTABLE = {'a': 1}\n"
        "@functools.lru_cache(maxsize=8)\ndef memo(x): return x\n"
        "def configure(x):\n    global SETTING\n    SETTING = x\n"
    )
    assert sorted(_module_state(ast.parse(source))) == ["LOCK", "SEEN", "configure", "memo"]


if __name__ == "__main__":
    entries = found()
    for entry in entries:
        print(entry)
    inside = sum(e.startswith(RUNTIME) for e in entries)
    print(f"{len(entries)} entries: {inside} in runtime/, {len(entries) - inside} outside")
    sys.exit(0)
