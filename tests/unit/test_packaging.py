"""The distribution ships every package of the source tree.

pyproject.toml lists the packages by hand (the import packages live under folders named after
the images, mapped with package-dir), so a package added to the tree and not to the list is
missing from a wheel and from the images, while an editable install hides the gap."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _discovered(package_dir: dict[str, str]) -> set[str]:
    found: set[str] = set()
    for top, folder in package_dir.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(base).parts
            found.add(".".join((top, *relative)))
    return found


def test_every_package_in_the_tree_is_listed_and_nothing_else() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    discovered = _discovered(setuptools["package-dir"])
    assert discovered - listed == set(), "packages missing from pyproject.toml"
    assert listed - discovered == set(), "pyproject.toml lists packages that do not exist"
