"""Self-contained traces: a trace file replays anywhere rbmap is installed, says
when the shipped variant has changed, prints the config and the assumptions, and
older trace files replay or are refused with the reason."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap.cli import main
from rbmap.model.variants import SPECS_DIR, variant_digest

SMALL = ["--pages", "2", "--page-events", "1", "--events", "3", "--processes", "1"]
V2_SMALL = ["--pages", "2", "--page-events", "1", "--events", "3", "--nesting", "1"]


def rbmap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", *args],
                          capture_output=True, text=True, cwd=cwd)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def flat(text: str) -> str:
    """Output with its line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def v2_trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("v2trace")
    r = invoke("check", "v2", *V2_SMALL, "--trace-out", d / "t.json")
    assert r.exit_code == 1, r.output
    return d / "t.json"


def test_a_trace_replays_in_another_directory_with_its_variant_file_deleted(tmp_path):
    """The acceptance test: made from ./a/mine.toml, replayed in ./b after the
    file is gone."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    text = (SPECS_DIR / "upstream.toml").read_text().replace(
        'writer_meta = "none"', 'writer_meta = "v2_fastpath"')
    (a / "mine.toml").write_text(text)
    r = rbmap("check", "mine.toml", *SMALL, "--trace-out", "../b/mine.json", cwd=a)
    assert r.returncode == 1, r.stderr
    (a / "mine.toml").unlink()
    r = rbmap("replay", "mine.json", cwd=b)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "meta_counters_monotonic: reproduced in 14 steps on mine.toml" in out
    assert "config: pages=2, page_events=1, events=3, processes=1" in out
    assert "assumptions in force: one consumer at a time" in out
    assert "assumptions dropped: none" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    # and the report, too
    r = rbmap("report", "mine.json", "--property", "meta_counters_monotonic", cwd=b)
    assert r.returncode == 0, r.stderr
    assert "meta.entries: 2 -> 1" in r.stdout


def test_the_trace_carries_the_variant_rules_config_and_version(v2_trace):
    data = json.loads(v2_trace.read_text())
    assert data["format"] == "rbmap-traces/2"
    m = data["model"]
    assert m["variant"] == "v2" and m["shipped"] is True
    assert m["variant_text"] == (SPECS_DIR / "v2.toml").read_text()
    assert m["variant_sha256"] == variant_digest(m["variant_text"])
    from rbmap.model import RULES, Config
    assert set(m["rules"]) == set(RULES)
    assert m["rules"]["get_reader"] == "v2_swap"
    assert set(m["config"]) == set(Config().to_dict())
    assert m["rbmap"]
    assert [a["key"] for a in m["assumptions"]][:3] == ["consumers", "client", "crash"]
    path = next(p for p in data["paths"] if p["property"] == "no_duplicate_delivery")
    assert len(path["steps"]) == len(path["actions"]) == 17
    assert path["steps"][-1]["changes"] == [
        ["p0", "reading page1 pos=0", "reading page1 pos=1"],
        ["delivered_twice", [], [0]]]


def _edited(trace: Path, tmp_path: Path, edit) -> Path:
    data = json.loads(trace.read_text())
    edit(data)
    out = tmp_path / "edited.json"
    out.write_text(json.dumps(data))
    return out


def test_a_changed_shipped_variant_is_said_and_the_trace_copy_replayed(v2_trace,
                                                                         tmp_path):
    def edit(d):  # as if specs/v2.toml had changed since: the copies differ
        d["model"]["variant_text"] = "# an older copy\n" + d["model"]["variant_text"]
        d["model"]["variant_sha256"] = variant_digest(d["model"]["variant_text"])
    t = _edited(v2_trace, tmp_path, edit)
    r = invoke("replay", t, "--property", "no_duplicate_delivery")
    assert r.exit_code == 0, r.output
    assert "the shipped variant v2 has changed since this trace was made" in flat(
        r.output)
    assert "replayed on the trace's copy" in flat(r.output)
    r = invoke("replay", t, "--property", "no_duplicate_delivery", "--current")
    assert r.exit_code == 0, r.output
    assert "as asked (--current), on the file as it is now" in flat(r.output)
    r = invoke("replay", v2_trace, "--property", "no_duplicate_delivery")
    assert "has changed" not in r.output


def test_the_recorded_rules_are_what_replays(v2_trace, tmp_path):
    """A rule value recorded in the trace wins over the copy's (a default that
    changed since): here reader_start as 6.10 has it, and the seed's reader no
    longer takes the path's steps."""
    def edit(d):
        d["model"]["rules"]["reader_start"] = "reader_read"
    t = _edited(v2_trace, tmp_path, edit)
    r = invoke("replay", t, "--property", "no_duplicate_delivery")
    assert r.exit_code == 2
    assert "does not replay on the current model: step 9" in r.stderr


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["model"].__setitem__("variant_text", "[variant]\nname = 'x'\n"),
     "does not match its variant_sha256"),
    (lambda d: d["model"]["config"].__setitem__("pages", "x"), "trace"),
    (lambda d: d["model"]["config"].__setitem__("no_such_key", 1),
     "unknown config keys"),
    (lambda d: d["model"]["rules"].__setitem__("no_such_rule", "x"), "no_such_rule"),
    (lambda d: d.__setitem__("format", "rbmap-traces/9"), "not an rbmap trace"),
    (lambda d: d.__setitem__("paths", []), "no path to replay"),
    (lambda d: [p.__setitem__("property", "nope") for p in d["paths"]],
     "which rbmap does not have"),
])
def test_a_broken_trace_is_refused_in_one_line(v2_trace, tmp_path, edit, message):
    t = _edited(v2_trace, tmp_path, edit)
    r = invoke("replay", t)
    assert r.exit_code == 2
    assert r.stderr.startswith("rbmap: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def _old_format(trace: Path, tmp_path: Path, variant: str) -> Path:
    """The rbmap-traces/1 form of a trace (what rbmap wrote before)."""
    data = json.loads(trace.read_text())
    info = {"variant": variant, "rules": {}, "config": data["model"]["config"]}
    paths = [{"format": "rbmap-path/1", "model": info, "init": p["init"],
              "actions": p["actions"], "property": p["property"]}
             for p in data["paths"]]
    out = tmp_path / "old.json"
    out.write_text(json.dumps({"format": "rbmap-traces/1", "model": info,
                               "paths": paths}))
    return out


def test_an_old_trace_of_a_shipped_variant_replays_with_a_note(v2_trace, tmp_path):
    t = _old_format(v2_trace, tmp_path, "v2")
    r = invoke("replay", t, "--property", "no_duplicate_delivery")
    assert r.exit_code == 0, r.output
    assert "does not carry its variant: replayed on the shipped v2" in flat(r.output)


def test_an_old_trace_of_a_variant_file_needs_the_file(v2_trace, tmp_path,
                                                      monkeypatch):
    t = _old_format(v2_trace, tmp_path, "rp.toml")
    monkeypatch.chdir(tmp_path)
    r = invoke("replay", t, "--property", "no_duplicate_delivery")
    assert r.exit_code == 2
    assert "names the variant file 'rp.toml' but does not carry its text" in r.stderr
    assert r.stderr.count("\n") == 1
    # next to the trace it is found, from any directory
    shutil.copy(SPECS_DIR / "v2.toml", tmp_path / "rp.toml")
    monkeypatch.chdir("/")
    r = invoke("replay", t, "--property", "no_duplicate_delivery")
    assert r.exit_code == 0, r.output
    assert "replayed on the file" in flat(r.stdout)


def test_check_json_paths_are_self_contained():
    r = invoke("check", "v2", "--pages", "2", "--page-events", "1", "--events", "1",
               "--processes", "1", "--nesting", "1", "--json")
    d = json.loads(r.output)
    paths = [p["path"] for p in d["properties"] if p["path"]]
    assert paths and all(p["model"]["variant_text"] == (SPECS_DIR / "v2.toml")
                         .read_text() for p in paths)


def test_replay_marks_the_steps_of_a_dropped_assumption(tmp_path):
    t = tmp_path / "crash.json"
    r = invoke("check", "upstream", "--pages", "2", "--page-events", "1", "--events",
               "3", "--nesting", "1", "--crash", "--trace-out", t)
    assert r.exit_code == 1
    r = invoke("replay", t, "--property", "every_event_delivered_or_counted", "--json")
    d = json.loads(r.output)
    needs = d["paths"][0]["needs"]
    assert needs and all(v == ["crash"] for v in needs.values())
    r = invoke("replay", t, "--property", "every_event_delivered_or_counted")
    assert "assumptions dropped: --crash (drops: no process exits or unmaps" in flat(
        r.output)
    assert "[--crash]" in r.output
