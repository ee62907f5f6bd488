"""docs/reference.md is generated from the API models; stale means a field changed without its
documentation."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelsmith.api import reference

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / reference.PATH


def test_reference_is_current() -> None:
    assert REFERENCE.read_text() == reference.render(), (
        "run `modelsmith reference` to regenerate docs/reference.md"
    )


def test_reference_documents_every_spec_field() -> None:
    text = REFERENCE.read_text()
    for path in ("spec.executionTargetRef.gpuCount", "status.promotionRecord.digest",
                 "spec.scenarios[].pass[].kind", "status.blockedBy.kind"):
        assert f"`{path}`" in text


def test_the_command_writes_the_file_and_check_finds_it_stale(tmp_path: Path) -> None:
    args = argparse.Namespace(root=tmp_path, check=True)
    assert reference.run(args) == 1  # no file yet
    args.check = False
    assert reference.run(args) == 0
    assert (tmp_path / reference.PATH).read_text() == reference.render()
    args.check = True
    assert reference.run(args) == 0
    (tmp_path / reference.PATH).write_text("edited by hand\n")
    assert reference.run(args) == 1


def test_the_readme_links_the_reference() -> None:
    assert "docs/reference.md" in (REPO / "README.md").read_text()
