"""rbmap check / replay / list / manifest: exit codes, JSON shape, bad input."""

import json
import subprocess
import sys

import pytest

from rbmap.cli.manifest import compare, load_manifest, run_entry

SMALL = ["--pages", "2", "--page-events", "1", "--events", "4", "--nesting", "1"]


def rbmap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", *args],
                          capture_output=True, text=True, cwd=cwd)


def test_check_upstream_exits_1_on_the_kernel_findings_only():
    """Upstream as merged violates the two meanings the kernel does not keep even
    with the mapping as its only consumer (README, Findings); nothing else."""
    r = rbmap("check", "upstream", *SMALL, "--json")
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    bad = sorted(p["name"] for p in d["properties"] if p["status"] == "violated")
    assert bad == ["meta_reader_lost_events", "no_silent_commit_overrun"]


def test_check_upstream_exits_0_with_every_property():
    # producer/consumer mode: nothing is ever lost, so no loss is misreported
    r = rbmap("check", "upstream", *SMALL, "--no-overwrite", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("variant", "config", "complete", "states", "transitions", "depth",
                "seconds", "states_per_second", "properties"):
        assert key in d
    assert d["complete"] is True
    statuses = {p["name"]: p["status"] for p in d["properties"]}
    assert statuses["no_duplicate_delivery"] == "holds"
    assert statuses["data_pages_in_ring_order"] == "n/a"
    assert all(p["trace"] is None for p in d["properties"] if p["status"] == "holds")


def test_check_v2_exits_1_and_prints_the_replay_command(tmp_path):
    trace = tmp_path / "t.json"
    r = rbmap("check", "v2", *SMALL, "--trace-out", str(trace))
    assert r.returncode == 1
    assert "no_duplicate_delivery VIOLATED in v2 (17 steps)" in r.stdout
    joined = r.stdout.replace(" \\\n    ", " ")  # undo the shell line folding
    assert f"rbmap replay {trace} --property no_duplicate_delivery" in joined
    assert max(len(line) for line in r.stdout.splitlines() if str(trace) not in line) <= 80
    assert ">> 17" in r.stdout
    # the saved trace replays and reproduces the violation
    r2 = rbmap("replay", str(trace), "--property", "no_duplicate_delivery", "--json")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    d = json.loads(r2.stdout)
    assert d["reproduced"] and d["paths"][0]["steps"] == 17


def test_replay_of_a_tampered_trace_fails_cleanly(tmp_path):
    trace = tmp_path / "t.json"
    rbmap("check", "v2", *SMALL, "--trace-out", str(trace))
    data = json.loads(trace.read_text())
    data["paths"][0]["actions"][0] = ["p0", "ioctl"]
    trace.write_text(json.dumps(data))
    r = rbmap("replay", str(trace))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "does not replay" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["check", "v9"], "unknown variant 'v9'"),
    (["check", "upstream", "--pages", "1"], "at least 2 ring pages"),
    (["check", "upstream", "--rule", "get_reader=magic"], "no value 'magic'"),
    (["check", "upstream", "--rule", "nosuch=1"], "unknown rule 'nosuch'"),
    (["check", "upstream", "--max-states", "0"], "--max-states must be positive"),
    (["check", "nofile.toml"], "no such variant file"),
])
def test_bad_input_exits_2_naming_the_problem(args, needle):
    r = rbmap(*args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_malformed_variant_file_names_file_and_line(tmp_path):
    src = open("specs/upstream.toml").read()
    bad = src.replace('get_reader = "consume_to_commit"', 'get_reader = "swap_twice"')
    f = tmp_path / "mine.toml"
    f.write_text(bad)
    r = rbmap("check", str(f))
    assert r.returncode == 2
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "swap_twice" in ln)
    assert f"{f}:{line}:" in r.stderr
    f.write_text("[variant\nname=1\n")
    r = rbmap("check", str(f))
    assert r.returncode == 2 and f"{f}:1:" in r.stderr


def test_edited_variant_file_checks_like_a_named_one(tmp_path):
    f = tmp_path / "edited.toml"
    f.write_text(open("specs/upstream.toml").read().replace(
        'reader_start = "reader_read"', 'reader_start = "page_start"'))
    r = rbmap("check", str(f), *SMALL, "--json")
    assert r.returncode == 1
    d = json.loads(r.stdout)
    st = {p["name"]: p["status"] for p in d["properties"]}
    assert st["no_duplicate_delivery"] == "violated"


def test_bound_gives_exit_3_and_unknown_never_holds():
    r = rbmap("check", "upstream", "--max-states", "500", "--json")
    assert r.returncode == 3
    d = json.loads(r.stdout)
    assert d["complete"] is False
    assert {p["status"] for p in d["properties"]} <= {"unknown", "reached", "n/a"}


def test_simulation_is_deterministic_for_a_seed():
    a = rbmap("check", "v2", "--simulate", "20", "--seed", "7", "--json")
    b = rbmap("check", "v2", "--simulate", "20", "--seed", "7", "--json")
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert da["properties"] == db["properties"] and da["states"] == db["states"]
    assert a.returncode in (1, 3)


def test_list_names_variants_properties_rules():
    r = rbmap("list", "--json")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    names = [v["name"] for v in d["variants"]]
    assert names[:5] == ["v2", "v2-data-index", "v3-read", "v3-read-param", "upstream"]
    assert {"no_duplicate_delivery", "every_event_delivered_or_counted"} <= {
        p["name"] for p in d["properties"]}
    assert "get_reader" in {r["name"] for r in d["rules"]}


#: the default test run checks the manifest's entries up to this many recorded
#: states (every variant with an entry not marked slow keeps one there); the
#: larger ones run with -m slow, like the entries marked slow (`rbmap manifest`
#: runs every entry not marked slow)
TEST_STATES = 100_000


def _in_default_run(e: dict) -> bool:
    return not e.get("slow") and e.get("states", 0) <= TEST_STATES


def _moved(default_run: bool) -> dict:
    """Entry name -> what moved, for the entries that differ from the recording."""
    out = {}
    for e in load_manifest():
        if _in_default_run(e) == default_run:
            diffs = compare(e, run_entry(e))
            if diffs:
                out[e["name"]] = diffs
    return out


def test_manifest_keeps_a_fast_entry_of_every_variant():
    entries = load_manifest()
    assert {e["variant"] for e in entries if _in_default_run(e)} == {
        e["variant"] for e in entries if not e.get("slow")}


def test_manifest_fast_entries_match():
    assert _moved(default_run=True) == {}


@pytest.mark.slow
def test_manifest_slow_entries_match():
    assert _moved(default_run=False) == {}
