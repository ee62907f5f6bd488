"""Pure analysis of a benchmark: prompt rendering, content digest, coverage, balance,
weak-rubric challenges, the held-out guard and parsing of referenced scenario documents."""

from modelsmith.benchmark.balance import MAX_SCENARIOS, MIN_SCENARIOS, balance_report
from modelsmith.benchmark.challenges import PROBE_ANSWERS, find_challenges
from modelsmith.benchmark.coverage import counts, coverage, dimension_value, heldout_count
from modelsmith.benchmark.digest import canonical_json, content_digest, scenario_document
from modelsmith.benchmark.heldout import (
    DEFAULT_N,
    DEFAULT_THRESHOLD,
    HeldoutFingerprint,
    HeldoutPrint,
    Overlap,
    ShingleSet,
    check_overlap,
    fingerprint,
    normalise,
    overlap_between,
    shingles,
)
from modelsmith.benchmark.prompting import ANSWER_CUE, render_prompt
from modelsmith.benchmark.sources import (
    MAX_SOURCE_BYTES,
    BenchmarkSourceError,
    parse_scenarios,
    scenarios_from_configmap,
    scenarios_from_object,
)

__all__ = [
    "ANSWER_CUE",
    "DEFAULT_N",
    "DEFAULT_THRESHOLD",
    "MAX_SCENARIOS",
    "MAX_SOURCE_BYTES",
    "MIN_SCENARIOS",
    "PROBE_ANSWERS",
    "BenchmarkSourceError",
    "HeldoutFingerprint",
    "HeldoutPrint",
    "Overlap",
    "ShingleSet",
    "balance_report",
    "canonical_json",
    "check_overlap",
    "content_digest",
    "counts",
    "coverage",
    "dimension_value",
    "find_challenges",
    "fingerprint",
    "heldout_count",
    "normalise",
    "overlap_between",
    "parse_scenarios",
    "render_prompt",
    "scenario_document",
    "scenarios_from_configmap",
    "scenarios_from_object",
    "shingles",
]
