"""``rbmap scenario``: back-end registry, normalisation, per-step diff, exit codes."""

import json

import pytest
from click.testing import CliRunner

from rbmap.cli import main
from rbmap.cli import scenario as cli

FILE = "scenario s\nopen\nmarkers 2\nmap\npage\n"


def page_obj(events, commit):
    return {"step": 5, "scenario": "s", "op": "page", "args": [], "rc": 0,
            "page": {"id": 1, "commit": commit, "missed_events": False,
                     "missed_stored": False, "lost": None, "events": events}}


def base_run(rc_map=0, events=None, commit=64, extra=()):
    ev = events or [{"offset": 0, "type": "data", "length": 32},
                    {"offset": 32, "type": "data", "length": 32}]
    return [
        {"step": 1, "scenario": "s", "op": "scenario", "args": ["s"], "rc": 0},
        {"step": 2, "scenario": "s", "op": "open", "args": [], "rc": 0},
        {"step": 3, "scenario": "s", "op": "markers", "args": ["2"], "rc": 0},
        {"step": 4, "scenario": "s", "op": "map", "args": [], "rc": rc_map},
        page_obj(ev, commit), *extra]


@pytest.fixture
def scn(tmp_path):
    p = tmp_path / "s.scn"
    p.write_text(FILE)
    return p


@pytest.fixture
def backends(monkeypatch):
    reg = dict(cli.BACKENDS)
    monkeypatch.setattr(cli, "BACKENDS", reg)
    return reg


def invoke(*args):
    return CliRunner().invoke(main, ["scenario", *map(str, args)])


def test_normalise_drops_time_events_and_shifts():
    with_ext = [{"offset": 0, "type": "data", "length": 32},
                {"offset": 32, "type": "time_extend", "length": 8},
                {"offset": 40, "type": "data", "length": 32}]
    (n,) = cli.normalise([page_obj(with_ext, 72)])
    assert n["page"]["events"] == [{"offset": 0, "type": "data", "length": 32},
                                   {"offset": 32, "type": "data", "length": 32}]
    assert n["page"]["commit"] == 64
    note = "Ring buffer [0] commit overrun lost 5 events at timestamp:"
    k = cli.normalise([{"scenario": "s", "op": "kmsg", "warn": [
        {"kind": "info", "message": note + "123456789"}]}])[0]
    assert k["warn"] == [{"kind": "info", "message": note}]


def test_diff_compares_common_keys_and_reports_missing_steps():
    a = base_run()
    b = base_run(rc_map=-16)
    recs = cli.diff_results(cli.normalise(a), cli.normalise(b))
    bad = [r for r in recs if r["differences"]]
    assert [(r["step"], r["differences"]) for r in bad] == [(4, [("rc", 0, -16)])]
    # a key only one side prints is not compared
    c = base_run()
    c[3] = dict(c[3], meta={"entries": 2})
    assert not any(r["differences"] for r in cli.diff_results(a, c))
    # a step only one side has is a difference; kmsg too unless unobserved
    d = base_run(extra=[{"scenario": "s", "op": "kmsg", "warn": []}])
    recs = cli.diff_results(a, d)
    assert [r["differences"] for r in recs if r["differences"]] == [
        [("step", "absent", "present")]]
    assert not any(r["differences"] for r in cli.diff_results(a, d, {"kmsg"}))
    # list lengths are compared
    e = base_run(events=[{"offset": 0, "type": "data", "length": 32}], commit=32)
    paths = [p for r in cli.diff_results(a, e) for p, _, _ in r["differences"]]
    assert "page.events[len]" in paths and "page.commit" in paths


def test_single_backend_table_and_json(scn, backends):
    backends["fa"] = lambda path, **o: base_run()
    r = invoke(scn, "--on", "fa")
    assert r.exit_code == 0
    assert "scenario s" in r.output and "page 1: commit=64 data=2/2 events" in r.output
    r = invoke(scn, "--on", "fa", "--json")
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert lines == base_run()


def test_two_backends_agree_exit_0_differ_exit_1(scn, backends):
    ext = [{"offset": 0, "type": "time_extend", "length": 8},
           {"offset": 8, "type": "data", "length": 32},
           {"offset": 40, "type": "data", "length": 32}]
    backends["fa"] = lambda path, **o: base_run()
    backends["fb"] = lambda path, **o: base_run(events=ext, commit=72)   # only a time extend
    backends["fc"] = lambda path, **o: base_run(rc_map=-1)
    r = invoke(scn, "--on", "fa,fb")
    assert r.exit_code == 0, r.output
    assert "0 differing" in r.output
    r = invoke(scn, "--on", "fa,fc")
    assert r.exit_code == 1
    assert "! s   4 map" in r.output and "rc: fa=0  fc=-1" in r.output
    r = invoke(scn, "--on", "fa,fc", "--json")
    recs = [json.loads(x) for x in r.output.splitlines()]
    assert [x["step"] for x in recs if not x["agree"]] == [4]


def test_kernel_bug_note_explains_only_kernel_differences(tmp_path, backends):
    p = tmp_path / "k.scn"
    p.write_text("scenario s\nopen\nmarkers 2\n# kernel-bug: 6.12.x returns EPERM here\n"
                 "map\npage\n")
    backends["kernel"] = lambda path, **o: base_run(rc_map=-1)
    backends["fa"] = lambda path, **o: base_run()
    backends["fc"] = lambda path, **o: base_run(rc_map=-1)
    r = invoke(p, "--on", "fa,kernel")
    assert r.exit_code == 0, r.output
    assert "explained by kernel-bug: 6.12.x returns EPERM here" in r.output
    assert invoke(p, "--on", "fa,fc").exit_code == 1


def test_options_reach_the_backend(scn, backends):
    seen = []
    backends["fa"] = lambda path, **o: seen.append(o) or base_run()
    invoke(scn, "--on", "fa:x=1:abi=v2", "--layout", "6.10")
    assert seen == [{"layout": "6.10", "x": "1", "abi": "v2"}]


@pytest.mark.parametrize("args, fragment", [
    (["--on", "nosuch"], "unknown back end 'nosuch'"),
    (["--on", "impl:bogus"], "is not KEY=VALUE"),
    (["--on", "impl:colour=red"], "impl: unknown option(s) colour"),
    (["--on", ","], "--on names no back end"),
])
def test_bad_input_exit_2(scn, args, fragment):
    r = invoke(scn, *args)
    assert r.exit_code == 2
    assert fragment in r.output
    assert "Traceback" not in r.output


def test_parse_error_exit_2(tmp_path):
    p = tmp_path / "bad.scn"
    p.write_text("scenario s\nmarkers x\n")
    r = invoke(p)
    assert r.exit_code == 2 and f"{p}:2: 'markers': bad number 'x'" in r.output


def test_rc_name():
    assert cli.rc_name(-16) == "-EBUSY" and cli.rc_name(0) == "0"
    assert cli.rc_name(4096) == "4096" and cli.rc_name(-9999) == "-9999"


def test_two_impl_configurations_that_differ(tmp_path):
    """6.10 and 6.12 lay the meta area out differently once sub-buffers exceed a
    page (UPSTREAM.md §1.2): meta_page_size 4096 vs 8192; with 4 KiB they agree."""
    p8 = tmp_path / "s8.scn"
    p8.write_text("scenario s8\nsubbuf_size_kb 8\nopen nonblock\nmarkers 3\nmap\nioctl\n"
                  "page\nunmap\nclose\n")
    r = invoke(p8, "--on", "impl:layout=6.10,impl:layout=6.12")
    assert r.exit_code == 1, r.output
    assert "meta.meta_page_size: impl:layout=6.10=4096  impl:layout=6.12=8192" in r.output
    # the events themselves agree: only the meta area differs
    assert "page." not in r.output
    p4 = tmp_path / "s4.scn"
    p4.write_text(p8.read_text().replace("subbuf_size_kb 8", "subbuf_size_kb 4"))
    r = invoke(p4, "--on", "impl:layout=6.10,impl:layout=6.12")
    assert r.exit_code == 0, r.output


def test_v2_and_upstream_agree_on_what_both_show():
    """The duplicate read is not visible as a difference: both ABIs expose the same
    pages and counters; what v2 lacks is reader.read, a key the diff cannot compare
    (it is the reader that would tell them apart, see test_scenario_acceptance)."""
    from pathlib import Path
    f = Path(__file__).parents[1] / "specs" / "scenarios" / "v2_duplicate_read.scn"
    r = invoke(f, "--on", "impl,impl:abi=v2")
    assert r.exit_code == 0, r.output
    assert "16 steps, 0 differing" in r.output


def _meta_obj(step, op, rid, rread):
    return {"step": step, "scenario": "s", "op": op, "args": [], "rc": 0,
            "meta": {"reader": {"lost_events": 0, "id": rid, "read": rread}, "entries": 0}}


def test_reader_read_loses_time_events_seen_on_the_same_reader_page():
    ext = [{"offset": 0, "type": "data", "length": 32},
           {"offset": 32, "type": "time_extend", "length": 8},
           {"offset": 40, "type": "data", "length": 32}]
    pg = dict(page_obj(ext, 72), step=6)
    objs = [_meta_obj(4, "map", 0, 0), _meta_obj(5, "ioctl", 1, 72), pg,
            _meta_obj(7, "meta", 1, 72),
            {"step": 8, "scenario": "s", "op": "unmap", "args": [], "rc": 0},
            _meta_obj(9, "map", 1, 72)]           # after a remap: another run
    n = cli.normalise(objs)
    assert [o["meta"]["reader"]["read"] for o in n if "meta" in o] == [0, 64, 64, 72]
    assert n[2]["page"]["commit"] == 64
    # a page of another ID, or an extend above reader.read, changes nothing
    other = dict(pg, page=dict(pg["page"], id=3))
    assert cli.normalise([objs[1], other])[0]["meta"]["reader"]["read"] == 72
    assert cli.normalise([_meta_obj(5, "ioctl", 1, 32), pg])[0]["meta"]["reader"]["read"] == 32
    assert objs[1]["meta"]["reader"]["read"] == 72     # the input is not modified
