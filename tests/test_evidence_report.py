"""rbmap report: the text for a mail (ASCII, 80 columns), the sequence diagram
(SVG), the self-contained HTML page, and --report DIR of check and compare."""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from rbmap.checker import Path, replay
from rbmap.cli import main
from rbmap.evidence import describe, evidence
from rbmap.model import build
from rbmap.report import page_list, text_report
from rbmap.report_html import html_report
from rbmap.svg import sequence_svg

V2_SMALL = ["--pages", "2", "--page-events", "1", "--events", "3", "--nesting", "1"]
SVG = "{http://www.w3.org/2000/svg}"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """check --report DIR on the seed's duplicate read and on a --crash run."""
    d = tmp_path_factory.mktemp("reports")
    r = invoke("check", "v2", *V2_SMALL, "--report", d / "v2")
    assert r.exit_code == 1, r.output
    r = invoke("check", "upstream", "--pages", "2", "--page-events", "1", "--events",
               "3", "--nesting", "1", "--crash", "--report", d / "crash")
    assert r.exit_code == 1, r.output
    return d


def test_check_report_writes_four_files_per_counterexample(reports):
    names = sorted(p.name for p in (reports / "v2").iterdir())
    assert names == sorted(f"{p}.{s}" for p in ("no_duplicate_delivery",
                                                   "data_pages_in_ring_order")
                           for s in ("json", "txt", "svg", "html"))
    # the trace next to them replays from that directory
    r = invoke("replay", reports / "v2" / "no_duplicate_delivery.json")
    assert r.exit_code == 0, r.output


def test_text_report_is_ascii_80_columns_and_says_everything(reports):
    text = (reports / "v2" / "no_duplicate_delivery.txt").read_text()
    assert text.isascii()
    assert max(map(len, text.splitlines())) <= 80
    flat = " ".join(text.split())
    assert flat.startswith("no_duplicate_delivery VIOLATED in v2 (17 steps)")
    assert "in v2 (shipped, sha256:" in flat
    assert "Config: pages=2, page_events=1, events=3, processes=2, nesting=1" in flat
    assert "Assumptions in force: one consumer at a time" in flat
    assert "Dropped: none." in flat
    assert ">> 17  p0      read_event" in text
    assert "The state after step 17 (the violation):" in text
    assert "meta page: entries=1" in text
    assert text.rstrip().endswith("Replay: rbmap replay no_duplicate_delivery.json")
    # the page list, as ring_buffer.c draws it
    assert "|page1 #0 |      |page2 #1 |-->|page0 #2 |--+" in text


def test_text_report_marks_the_steps_of_a_dropped_assumption(reports):
    text = (reports / "crash" / "every_event_delivered_or_counted.txt").read_text()
    flat = " ".join(text.split())
    assert "Dropped: --crash (drops: no process exits or unmaps" in flat
    assert "[--option]: a step that exists only because that option dropped" in flat
    marked = [ln for ln in text.splitlines() if "[--crash]" in ln]
    assert marked
    assert max(map(len, text.splitlines())) <= 80


def test_reports_are_byte_identical_across_runs(reports, tmp_path):
    r = invoke("report", reports / "v2" / "no_duplicate_delivery.json", "--format",
               "svg", "-o", tmp_path / "again.svg")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again.svg").read_bytes() == (
        reports / "v2" / "no_duplicate_delivery.svg").read_bytes()
    r = invoke("report", reports / "v2" / "no_duplicate_delivery.json")
    assert r.output == (reports / "v2" / "no_duplicate_delivery.txt").read_text()


def _steps(root):
    return [g for g in root.iter(f"{SVG}g") if "step" in g.get("class", "")]


def test_svg_has_a_lane_per_actor_and_a_row_per_step(reports):
    root = ET.fromstring((reports / "v2" / "no_duplicate_delivery.svg").read_bytes())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for lane in ("writer", "p0", "cpu_buffer", "meta page", "page0", "page1",
                 "page2", "history"):
        assert lane in texts
    rows = _steps(root)
    assert [int(g.get("data-step")) for g in rows] == list(range(18))
    assert [g.get("data-step") for g in rows if "violating" in g.get("class")] == ["17"]
    last = rows[-1]
    assert "delivered_twice [] → [0]" in [t.text for t in last.iter(f"{SVG}text")]


def _long_evidence():
    m = build("upstream", pages=3, page_events=2, events=8, processes=2, nesting=2,
              pipe_reads=1, crash=True)
    rng = random.Random(3)
    s, acts = m.init_states()[0], []
    for _ in range(50):
        a, s = rng.choice(m.successors(s))
        acts.append(a)
    return m, evidence(m, Path(0, acts, "event_delivered"), describe("upstream", {}, m))


def test_a_50_step_diagram_stays_legible():
    """Rows do not overlap, every text fits its lane, no text smaller than 10px,
    and the drawing stays within a screen's width or two."""
    m, ev = _long_evidence()
    root = ET.fromstring(sequence_svg(ev).encode())
    assert int(root.get("width")) <= 2400
    style = root.find(f"{SVG}style").text
    sizes = [int(x) for x in re.findall(r"font-size:(\d+)px", style)]
    assert min(sizes) >= 10
    rows = _steps(root)
    assert len(rows) == 51
    bottom = 0.0
    for g in rows:
        band = g.find(f"{SVG}rect")
        y, h = float(band.get("y")), float(band.get("height"))
        assert y >= bottom - 0.01 and h >= 13
        bottom = y + h
    # each lane's text fits it (monospace: characters times the advance)
    lanes = {}
    for t in root.iter(f"{SVG}text"):
        if t.get("class") in ("lane",):
            lanes[t.text] = float(t.get("x"))
    for g in rows:
        for t in g.iter(f"{SVG}text"):
            if t.get("class") in ("val", "small", "act", "needs"):
                assert len(t.text) * 6.7 <= 26 * 6.7 + 12, t.text


def test_html_is_self_contained_and_holds_every_state(reports):
    html = (reports / "v2" / "no_duplicate_delivery.html").read_text()
    assert "<script src" not in html and "<link" not in html
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]
    data = json.loads(re.search(r'<script type="application/json" id="rbmap-data">'
                                r"(.*?)</script>", html, re.S).group(1))
    m = build("v2", pages=2, page_events=1, events=3, nesting=1)
    trace = json.loads((reports / "v2" / "no_duplicate_delivery.json").read_text())
    path = Path.from_json(trace["paths"][0])
    states = replay(m, path)
    assert len(data["steps"]) == len(states) == 18
    for step, s in zip(data["steps"], states):
        assert step["view"] == json.loads(json.dumps(m.view(s)))
    assert data["steps"][17]["violating"] and data["start"] == 17
    assert "<svg" in html and "The text report" in html


def test_report_cli_choices_and_bad_input(reports, tmp_path):
    both = tmp_path / "both.json"
    r = invoke("check", "v2", *V2_SMALL, "--trace-out", both)
    r = CliRunner().invoke(main, ["report", str(both)])
    assert r.exit_code == 2
    assert "choose one with --property" in r.stderr
    r = invoke("report", both, "--property", "data_pages_in_ring_order", "--format",
               "html", "-o", tmp_path / "x.html")
    assert r.exit_code == 0 and (tmp_path / "x.html").read_text().startswith(
        "<!DOCTYPE html>")
    r = invoke("report", both, "--property", "no_such")
    assert r.exit_code == 2
    (tmp_path / "junk.json").write_text("{")
    r = invoke("report", tmp_path / "junk.json")
    assert r.exit_code == 2
    r = invoke("report", both, "--property", "data_pages_in_ring_order", "-o",
               tmp_path / "no" / "dir.txt")
    assert r.exit_code == 2


def test_report_reads_the_recorded_steps_when_the_model_no_longer_replays(reports,
                                                                           tmp_path):
    data = json.loads((reports / "v2" / "no_duplicate_delivery.json").read_text())
    data["paths"][0]["actions"][2] = ["writer", "no_such_step"]
    t = tmp_path / "stale.json"
    t.write_text(json.dumps(data))
    r = CliRunner().invoke(main, ["report", str(t)])
    assert r.exit_code == 1
    flat = " ".join(r.stdout.split())
    assert "read from the steps the trace recorded" in flat
    assert "delivered_twice: [] -> [0]" in r.stdout


def test_page_list_wraps_a_long_ring_within_80_columns():
    m = build("upstream", pages=8, page_events=1, events=4, processes=1, nesting=1)
    view = m.view(m.init_states()[0])
    lines = page_list(view)
    assert max(map(len, lines)) <= 80
    assert any("-->|page5" in ln for ln in lines) and "back to page1" in lines[-1]
    # the pointers sit under the page they name
    row = next(i for i, ln in enumerate(lines) if "|page1" in ln)
    col = lines[row].index("|page1")
    assert lines[row + 4][col:col + 6].strip() == "head"


def test_compare_markdown_links_each_violated_cell(tmp_path):
    r = invoke("compare", "v2", "upstream", "--pages", "2", "--page-events", "1",
               "--events", "3", "--processes", "1", "--nesting", "1", "--no-abi",
               "--no-nc", "--no-weak-memory", "--markdown", "--report",
               tmp_path / "r")
    assert r.exit_code == 1, r.output
    rows = [ln for ln in r.output.splitlines() if ln.startswith("| `")]
    violated = [ln for ln in rows if "VIOLATED" in ln]
    assert violated
    for ln in violated:
        for link in re.findall(r"\]\(([^)]+)\)", ln):
            assert (tmp_path.parent / link).exists() or (
                tmp_path / "r" / link.split("/")[-1]).exists(), link
    assert "([report](" in violated[0]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WALK_CONFIGS = [
    ("upstream", dict(client="libtracefs")),
    ("upstream", dict(granularity="fine", nesting=3)),
    ("upstream", dict(pipe_reads=1, resets=1, crash=True, fork=True, pages=4)),
    ("v2", dict(nc_readers=1, consumers="concurrent", pipe_reads=1)),
    ("v2-data-index", dict(nc_readers=1, granularity="fine")),
    ("v3-read-param", dict(crash=True, reader_stays=False)),
]


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(WALK_CONFIGS), st.integers(0, 2**32 - 1),
       st.integers(1, 45))
def test_any_path_renders_as_text_and_svg(config, seed, steps):
    """Random walks of every kind of actor and step: the text report stays ASCII in
    80 columns and the diagram is well-formed with a row per step."""
    variant, kw = config
    m = build(variant, **kw)
    rng = random.Random(seed)
    s, acts = m.init_states()[0], []
    for _ in range(steps):
        succ = m.successors(s)
        if not succ:
            break
        a, s = rng.choice(succ)
        acts.append(a)
    ev = evidence(m, Path(0, acts, "no_duplicate_delivery"),
                  describe(variant, {}, m))
    text = text_report(ev)
    assert text.isascii() and max(map(len, text.splitlines())) <= 80
    root = ET.fromstring(sequence_svg(ev).encode())
    assert len(_steps(root)) == len(acts) + 1
    assert html_report(ev).count('<g class="step') == len(acts) + 1
