"""The shared-surface sanitiser against its seeded corpus: every seeded leak is found with its
kind and cleaned away; every ordinary status string passes unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from complexity import MAX_GROWTH, growth
from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelsmith.contract.scenario import Scenario
from modelsmith.evidence.detectors import DIGEST
from modelsmith.evidence.sanitiser import (
    DEFAULT,
    Finding,
    LeakError,
    LeakKind,
    Sanitiser,
    scenario_texts,
)

CORPUS = Path(__file__).resolve().parents[1] / "sanitiser_corpus"
LEAK_CORPUS: dict[str, Any] = yaml.safe_load((CORPUS / "leaks.yaml").read_text())
CLEAN_FILE: dict[str, Any] = yaml.safe_load((CORPUS / "clean.yaml").read_text())
CLEAN_CORPUS: list[str] = CLEAN_FILE["clean"]
LEAKS: list[dict[str, str]] = LEAK_CORPUS["leaks"]
# Approver identities are allowed by name, as the bundle, report and status surfaces allow them.
SANITISER = Sanitiser.for_texts(LEAK_CORPUS["benchmark_texts"]).allowing(
    *CLEAN_FILE["allowed_names"]
)


def _category(entry: dict[str, str]) -> str:
    """The corpus reports by category: the leak's kind, or a finer one (how it was hidden or
    phrased: zero-width, full-width, assignment, reordered-prompt...)."""
    return entry.get("category", entry["kind"])


def _covering(findings: list[Finding], start: int, end: int) -> list[Finding]:
    return [f for f in findings if f.start < end and start < f.end]


def test_corpus_sizes() -> None:
    assert len(LEAKS) >= 150
    assert len(CLEAN_CORPUS) >= 100
    assert {entry["kind"] for entry in LEAKS} == {kind.value for kind in LeakKind}
    assert len({_category(entry) for entry in LEAKS}) >= 12
    assert len(LeakKind) >= 12


def test_corpus_figures_per_category() -> None:
    """Prints the table docs/security.md quotes; every seeded leak of every category caught."""
    seeded: dict[str, int] = {}
    caught: dict[str, int] = {}
    for entry in LEAKS:
        category = _category(entry)
        seeded[category] = seeded.get(category, 0) + 1
        cleaned = SANITISER.clean(entry["text"])
        if entry["leak"] not in cleaned and f"[redacted:{entry['kind']}]" in cleaned:
            caught[category] = caught.get(category, 0) + 1
    passed = sum(SANITISER.clean(text) == text for text in CLEAN_CORPUS)
    rows = [f"| {c} | {seeded[c]} | {caught.get(c, 0)} |" for c in sorted(seeded)]
    print("\n| category | seeded | caught |\n|---|---|---|")
    print("\n".join(rows))
    kinds = {kind.value: sum(e["kind"] == kind.value for e in LEAKS) for kind in LeakKind}
    print(" ".join(f"{kind}={n}" for kind, n in kinds.items()), f"({len(kinds)} kinds)")
    print(f"| **all leaks** | {len(LEAKS)} | {sum(caught.values())} |")
    print(f"| clean strings unchanged | {len(CLEAN_CORPUS)} | {passed} |")
    assert caught == seeded
    assert passed == len(CLEAN_CORPUS)


def test_every_seeded_leak_is_found_and_cleaned() -> None:
    missed, wrong_kind, survived = [], [], []
    for entry in LEAKS:
        text, leak, kind = entry["text"], entry["leak"], LeakKind(entry["kind"])
        start = text.index(leak)
        found = _covering(SANITISER.check(text), start, start + len(leak))
        if not found:
            missed.append(leak)
        elif kind not in {f.kind for f in found}:
            wrong_kind.append((leak, kind.value, [f.kind.value for f in found]))
        cleaned = SANITISER.clean(text)
        if leak in cleaned or leak.lower() in cleaned.lower():
            survived.append(leak)
        assert SANITISER.check(cleaned) == [], cleaned
        assert SANITISER.clean(cleaned) == cleaned
    detected = len(LEAKS) - len(missed)
    print(f"\nsanitiser corpus: leaks found {detected}/{len(LEAKS)} seeded")
    assert not missed, missed
    assert not wrong_kind, wrong_kind
    assert not survived, survived


@pytest.mark.parametrize("entry", LEAKS, ids=lambda e: f"{e['kind']}:{e['leak'][:24]}")
def test_seeded_leak(entry: dict[str, str]) -> None:
    text, leak = entry["text"], entry["leak"]
    cleaned = SANITISER.clean(text)
    assert f"[redacted:{entry['kind']}]" in cleaned
    assert leak not in cleaned


def test_every_clean_string_passes_unchanged() -> None:
    flagged = {text: [str(f) for f in SANITISER.check(text)] for text in CLEAN_CORPUS}
    flagged = {text: found for text, found in flagged.items() if found}
    print(
        f"\nsanitiser corpus: clean strings passed {len(CLEAN_CORPUS) - len(flagged)}/"
        f"{len(CLEAN_CORPUS)}"
    )
    assert not flagged, flagged
    for text in CLEAN_CORPUS:
        assert SANITISER.clean(text) == text
        assert DEFAULT.allowing(*CLEAN_FILE["allowed_names"]).clean(text) == text


def test_finding_and_error_never_echo_the_secret() -> None:
    text = "Connecting with password=hunter2 to s3://customer-models/keys"
    findings = SANITISER.check(text)
    assert [f.kind for f in findings] == [LeakKind.SECRET, LeakKind.URL]
    assert all("hunter2" not in str(f) and "customer" not in repr(f) for f in findings)
    with pytest.raises(LeakError) as raised:
        SANITISER.assert_clean({"status": {"message": text}})
    message = str(raised.value)
    assert "hunter2" not in message and "customer-models" not in message
    assert "$.status.message" in message and "secret" in message


def test_nested_objects_are_cleaned_keys_and_values() -> None:
    obj = {
        "message": "Pod eval-9x8wd on 10.0.0.7",
        "history": [
            {"reason": "Accepted", "note": "read /tmp/x/y.json"},
            ("tuple", "minio.storage.svc.cluster.local"),
        ],
        "/home/alice/secret.txt": 1,
        "score": 0.75,
        "ok": True,
        "none": None,
    }
    cleaned = SANITISER.clean_obj(obj)
    assert cleaned == {
        "message": "Pod [redacted:workload] on [redacted:ip]",
        "history": [
            {"reason": "Accepted", "note": "read [redacted:path]"},
            ["tuple", "[redacted:host]"],
        ],
        "[redacted:path]": 1,
        "score": 0.75,
        "ok": True,
        "none": None,
    }
    assert SANITISER.is_clean(cleaned)
    locations = [where for where, _ in SANITISER.check_obj(obj)]
    assert locations == [
        "$.message",
        "$.message",
        "$.history[0].note",
        "$.history[1][1]",
        "$.<key 2>",
    ]


def test_colliding_keys_stay_distinct() -> None:
    cleaned = SANITISER.clean_obj({"/tmp/a": 1, "/tmp/b": 2})
    assert cleaned == {"[redacted:path]": 1, "[redacted:path]#2": 2}


def test_benchmark_text_matching_ignores_case_whitespace_and_punctuation() -> None:
    sanitiser = Sanitiser.for_texts(["Please summarise the incident for the on-call engineer."])
    assert sanitiser.check("PLEASE  summarise\tthe incident -- for the on call engineer")
    # Short texts (below min_words) never match on their own: they are everyday words.
    short = Sanitiser.for_texts(["high", "refund"])
    assert short.check("risk=high refund scenarios") == []
    # A shorter run matches when two of its four words are distinctive; common words do not.
    assert sanitiser.check("for the on-call engineer")
    assert sanitiser.check("the incident for") == []


def test_without_texts_only_structural_leaks_are_found() -> None:
    assert DEFAULT.check("Route to billing disputes") == []
    assert [f.kind for f in DEFAULT.check("at /tmp/x/y")] == [LeakKind.PATH]


def test_for_scenarios_collects_prompts_inputs_references_and_criteria() -> None:
    scenario = Scenario.model_validate(
        {
            "id": "refund-01",
            "capability": "refunds",
            "risk": "high",
            "operatorLens": "frontline-agent",
            "outcomeType": "answer",
            "split": "heldout",
            "prompt": "How do I get my money back for a broken kettle",
            "inputs": {"order": "order 55 placed on the third of May"},
            "reference": "Offer a full refund and a prepaid return label",
            "pass": [{"kind": "contains", "value": "prepaid return label please"}],
            "fail": [{"kind": "oneOf", "values": ["we cannot help you today"]}],
        }
    )
    texts = scenario_texts([scenario])
    assert len(texts) == 5
    sanitiser = Sanitiser.for_scenarios([scenario])
    for text in texts:
        assert [f.kind for f in sanitiser.check(f"Answer: {text}.")] == [LeakKind.TEXT]
    assert sanitiser.check("refund-01 failed (capability=refunds \u00d7 risk=high)") == []


def test_overlapping_findings_merge_into_one() -> None:
    text = "fetch https://minio.storage.svc.cluster.local:9000/runs/a/b/iter-1/x.json now"
    assert [f.kind for f in SANITISER.check(text)] == [LeakKind.URL]
    assert SANITISER.clean(text) == "fetch [redacted:url] now"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        Sanitiser.for_texts([], shingle=1)
    with pytest.raises(ValueError):
        Sanitiser.for_texts([], shingle=6, min_words=7)


PIECES = [entry["text"] for entry in LEAKS] + CLEAN_CORPUS


def _outside_digests(text: str) -> str:
    """`text` with its allowed content digests blanked: a leak may be a digest's prefix (a
    truncated one), and the full digest beside it is kept on purpose."""
    return DIGEST.sub(lambda m: "#" * len(m.group()), text)


@settings(max_examples=150, deadline=None)
# A truncated digest (a leak) beside the full, allowed digest it is the prefix of.
@example(
    [
        "Adapter sha256:9f86d081884c7d65 (truncated) was reused.",
        "Evidence sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        " attached to the gate.",
    ],
    " ",
)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=4), st.sampled_from([" ", "\n", "; "])
)
def test_cleaning_is_complete_and_idempotent(pieces: list[str], glue: str) -> None:
    text = glue.join(pieces)
    cleaned = SANITISER.clean(text)
    assert SANITISER.check(cleaned) == []
    assert SANITISER.clean(cleaned) == cleaned
    for entry in LEAKS:
        if entry["text"] in pieces:
            assert entry["leak"] not in _outside_digests(cleaned)


FULL_DIGEST = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
# Every leak that reads as one on its own (an assigned secret's value needs its `password=`),
# and digests in each form: full (allowed), truncated, ellipsised, upper-case, sha512.
BARE_LEAKS = [
    *sorted({entry["leak"] for entry in LEAKS if SANITISER.check(entry["leak"])}),
    FULL_DIGEST,
    "sha512:" + "9f86d081884c7d65" * 8,
    "sha256:9f86d081884c7d65",
    "sha256:9f86d0\u2026",
    "sha256:9f86\u20260a08",
    "sha256:9f86d081...",
    "SHA256:9F86D081884C",
]


@settings(max_examples=150, deadline=None)
# A truncated digest's value runs on into the `sha256` label of the full digest after it;
# the full digest stays whole, with no bare hex left behind.
@example(["sha256:9f86d0", FULL_DIGEST], "\u2026", ("", ""))
@example(["sha256:9f86d081", FULL_DIGEST], "\u2026", ("x ", " y"))
# A path root before a full stop or an ellipsis (`/tmp.`, `/tmp…<hex>`) or after an ellipsis.
@example(["/tmp", "00f067aa0ba902b7"], "\u2026", ("", ""))
@example(["/home", "/tmp"], ". ", ("Wrote to ", "."))
@example(["00f067aa0ba902b7", "/tmp"], "\u2026", ("", ""))
# A path in angle brackets, not an HTML end tag (`</var>`), and one assigned (`x=/dev/…`).
@example(["/dev/termination-log", "../shared/scenarios/support.yaml"], " ", ("<", ">"))
@example(["/dev/termination-log", "../shared/scenarios/support.yaml"], " ", ("x=", ";"))
# An address or host:port before a message's colon (`dial fe80::1: refused`).
@example(["fe80::1ff:fe23:4567:890a", "../shared/scenarios/support.yaml"], ": ", ("", ""))
@example(["my-minio:9000", "../shared/scenarios/support.yaml"], ": ", ("", ""))
# A random-looking value assigned to a key no secret word names.
@example(["00f067aa0ba902b7", "q7Zt9LmX2pR4vW8nK3sB6yH1cF5gJ0dQ"], "=", ("", ""))
@given(
    st.lists(st.sampled_from(BARE_LEAKS), min_size=2, max_size=4),
    st.sampled_from([" ", ", ", ";", "; ", ": ", "\n", "\t", "|", " / ", " - ", " and ", ". "]),
    st.sampled_from(
        [("", ""), ("(", ")"), ('"', '".'), ("'", "'"), ("[", "]"), ("Saw ", "."), ("x=", ";")]
    ),
)
def test_adjacent_identifiers_are_each_cleaned(
    leaks: list[str], separator: str, wrapper: tuple[str, str]
) -> None:
    """Identifiers of every kind side by side, at the start or end of the text or wrapped in
    brackets and quotes: none survives, and cleaning leaves nothing for a second pass."""
    text = wrapper[0] + separator.join(leaks) + wrapper[1]
    cleaned = SANITISER.clean(text)
    assert SANITISER.check(cleaned) == []
    assert SANITISER.clean(cleaned) == cleaned
    for leak in set(leaks) - {FULL_DIGEST}:
        assert leak not in _outside_digests(cleaned)


@pytest.mark.parametrize(
    ("unit", "copies"),
    [
        ("a-", 1000),
        ("a.", 1000),
        ("1.", 1000),
        ("bcdfg-", 600),
        ("a-b.", 600),
        ("password=", 400),
        ("A1b2", 1000),
        ("x/", 600),
        (":", 1000),
        ("word ", 1000),
    ],
)
def test_adversarial_input_grows_linearly(unit: str, copies: int) -> None:
    """No pattern backtracks quadratically: shared surfaces are checked on every write."""
    assert growth(SANITISER.check, unit, copies) < MAX_GROWTH


def test_a_path_in_angle_brackets_is_one_and_an_html_end_tag_is_not() -> None:
    assert SANITISER.clean("</dev/termination-log> and </tmp/x>") == (
        "<[redacted:path]> and <[redacted:path]>"
    )
    assert SANITISER.clean("/tmp <") == "[redacted:path] <"
    html = "<var>x</var> <data>1</data>"
    assert SANITISER.clean(html) == html


def test_cleaning_in_two_passes_grows_linearly() -> None:
    """Each `/tmp` reads as a path only once the hex after it is redacted: a second pass, once
    for the whole text, not once per leak."""
    assert growth(SANITISER.clean, "/tmp\u2026" + "00f067aa0ba902b7 ", 200) < MAX_GROWTH


def test_allowed_names_pass_only_whole() -> None:
    sanitiser = SANITISER.allowing("support-run-x7k2p")
    assert SANITISER.check("Run support-run-x7k2p is Ready")
    assert sanitiser.check("Run support-run-x7k2p is Ready") == []
    assert sanitiser.check("Job support-run-x7k2p-i1-train-a1 failed")
    assert sanitiser.check("Pod support-run-x7k2p-bzt7q failed")
    assert sanitiser.check("Read /tmp/support-run-x7k2p") != []


def test_normalisation_maps_findings_back_to_the_original_text() -> None:
    text = "ok \uff0ftmp\uff0fx\u200b/y.json done \u2026"
    cleaned = SANITISER.clean(text)
    assert cleaned == "ok [redacted:path] done \u2026"  # the ellipsis outside stays as it was
    plain = "Latency p95 180 ms \u2026 \u00d7 2"
    assert SANITISER.clean(plain) == plain


def test_digest_allowance_is_exact_and_can_be_withdrawn() -> None:
    digest = "sha256:" + "ab" * 32
    assert SANITISER.check(f"evidence {digest}") == []
    short = ("sha256:9f86d", "sha256:9f\u2026", "sha512=ab", "md5:0")
    for bad in (digest[:-2], digest + "ff", digest.upper(), "sha256:" + "zz" * 32, *short):
        assert [f.kind for f in SANITISER.check(f"evidence {bad} ok")] == [LeakKind.OPAQUE_ID], bad
    assert SANITISER.check("sha1-based checks, sha256=off, md5:none") == []
    strict = SANITISER.without_digests()
    assert strict.clean(f"evidence {digest}") == "evidence [redacted:opaque-id]"


def test_encoded_text_is_judged_by_what_it_decodes_to() -> None:
    assert SANITISER.check("support-triage-run-1-iter-3") == []
    assert SANITISER.check("dGVhbS1h") == []  # base64 of a harmless word, unpadded
    assert [f.kind for f in SANITISER.check("x=dXNlcjpwYXNzd29yZA")] == [LeakKind.ENCODED]


def test_an_allowed_names_words_never_complete_a_benchmark_text_match() -> None:
    # The quickstart's bundle names its Benchmark `support-triage`, whose prompts say "name
    # the support triage queue": the name's words beside a JSON key read as a reordered prompt.
    sanitiser = Sanitiser.for_texts(["Name the support triage queue for this ticket."]).allowing(
        "support-triage"
    )
    assert sanitiser.is_clean('{"name":"support-triage","version":"1.0.0"}')
    # The prompt itself, and its words reordered, are still refused.
    assert not sanitiser.is_clean("name the support triage queue for this ticket")
    assert not sanitiser.is_clean("triage: support queue name")
