"""The evidence committed in specs/evidence (and shown in README.md) is what this
rbmap writes: each trace still replays and shows its property, and its text report
and sequence diagram render byte for byte as committed.

Run as a script (``python tests/test_evidence_committed.py``) it copies the text
report of the seed's duplicate read into README.md (see specs/evidence/README.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "specs" / "evidence"
README = ROOT / "README.md"
REGENERATE = ("rbmap compare v2 --no-abi --no-weak-memory --no-extra --report specs/evidence; "
              "python tests/test_evidence_committed.py")
DUPLICATE = "v2.no_duplicate_delivery"
BLOCK = re.compile(r"(<!-- evidence: v2.no_duplicate_delivery.txt -->\n```text\n)"
                   r"(.*?)(```\n)", re.S)

TRACES = sorted(EVIDENCE.glob("*.json"))


def test_the_readme_counterexamples_are_all_here():
    names = {p.stem for p in TRACES}
    assert {DUPLICATE, "v2.meta_counters_monotonic", "v2.data_pages_in_ring_order",
            "v2.every_event_delivered_or_counted"} <= names
    for stem in names:
        for suffix in (".txt", ".svg"):
            assert (EVIDENCE / f"{stem}{suffix}").is_file(), stem + suffix


@pytest.mark.parametrize("trace", TRACES, ids=[p.stem for p in TRACES])
def test_committed_evidence_is_what_rbmap_writes(trace):
    from rbmap.cli.report import render
    from rbmap.evidence import read_trace, replay_entry
    entries, _ = read_trace(str(trace))
    assert len(entries) == 1
    ev = replay_entry(entries[0], str(trace))
    assert ev.reproduced, f"{trace.name} no longer shows {ev.property}"
    assert not ev.notes, ev.notes   # its shipped variant is unchanged
    for fmt, suffix in (("text", ".txt"), ("svg", ".svg")):
        got = render(ev, fmt)
        want = trace.with_suffix(suffix).read_text()
        assert got == want, (f"{trace.with_suffix(suffix).name} is stale: "
                             f"regenerate with: {REGENERATE}")
    text = trace.with_suffix(".txt").read_text()
    assert text.isascii() and max(map(len, text.splitlines())) <= 80


def test_readme_shows_the_duplicate_read_as_text_and_the_diagrams():
    readme = README.read_text()
    m = BLOCK.search(readme)
    assert m, "README.md lacks the duplicate read's text report block"
    assert m.group(2) == (EVIDENCE / f"{DUPLICATE}.txt").read_text(), (
        f"README.md's copy of {DUPLICATE}.txt is stale: run "
        "python tests/test_evidence_committed.py")
    for stem in (DUPLICATE, "v2.meta_counters_monotonic"):
        assert f"](specs/evidence/{stem}.svg)" in readme


def refresh_readme() -> None:
    """Copy the duplicate read's text report into README.md's block."""
    readme = README.read_text()
    text = (EVIDENCE / f"{DUPLICATE}.txt").read_text()
    new, n = BLOCK.subn(lambda m: m.group(1) + text + m.group(3), readme)
    if n != 1:
        sys.exit("README.md has no evidence block to refresh")
    README.write_text(new)


if __name__ == "__main__":
    refresh_readme()
