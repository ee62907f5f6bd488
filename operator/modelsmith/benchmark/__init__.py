"""Pure analysis of a benchmark: content digest, coverage, balance, weak-rubric challenges and
parsing of referenced scenario documents. Prompt rendering and the held-out fingerprint are
shared with the images: modelsmith.contract.prompting and modelsmith.contract.heldout."""

from modelsmith.benchmark.balance import MAX_SCENARIOS, MIN_SCENARIOS, balance_report
from modelsmith.benchmark.challenges import PROBE_ANSWERS, find_challenges
from modelsmith.benchmark.coverage import counts, coverage, dimension_value, heldout_count
from modelsmith.benchmark.digest import canonical_json, content_digest, scenario_document
from modelsmith.benchmark.sources import (
    MAX_SOURCE_BYTES,
    BenchmarkSourceError,
    parse_scenarios,
    scenarios_from_configmap,
    scenarios_from_object,
)

__all__ = [
    "MAX_SCENARIOS",
    "MAX_SOURCE_BYTES",
    "MIN_SCENARIOS",
    "PROBE_ANSWERS",
    "BenchmarkSourceError",
    "balance_report",
    "canonical_json",
    "content_digest",
    "counts",
    "coverage",
    "dimension_value",
    "find_challenges",
    "heldout_count",
    "parse_scenarios",
    "scenario_document",
    "scenarios_from_configmap",
    "scenarios_from_object",
]
