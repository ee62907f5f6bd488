"""The fault tests' tally, printed after every fault module has run (pytest collects this
file after them)."""

from __future__ import annotations

from .harness import FAULT_MARKS, FAULTS

pytestmark = FAULT_MARKS


def test_summary() -> None:
    """Prints the figure for the reliability table in docs/benchmarks.md (run with -s)."""
    for name, survived in FAULTS.items():
        print(f"  {'survived' if survived else 'NOT survived'}: {name}")
    print(f"faults survived {sum(FAULTS.values())}/{len(FAULTS)} tried")
