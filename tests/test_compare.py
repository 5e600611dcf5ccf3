"""rbmap compare: the matrix's shape and the shipped designs' history in it."""

import json

from click.testing import CliRunner

from rbmap.cli import main

# small enough to run in-process in well under a second a column; nesting 2 so the
# seed's meta counters can go backwards
SMALL = ["--pages", "2", "--page-events", "1", "--events", "3", "--processes", "1",
         "--nesting", "2", "--no-extra"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_matrix_json_shape_and_history():
    r = invoke("compare", "v2", "v3-read", "upstream", *SMALL, "--no-abi", "--json")
    assert r.exit_code == 1, r.output  # v2 violates
    mx = json.loads(r.stdout)
    assert mx["variants"] == ["v2", "v3-read", "upstream"]
    rows = {row["name"]: row["status"] for row in mx["rows"]}
    assert rows["no_duplicate_delivery"] == {"v2": "violated", "v3-read": "holds",
                                             "upstream": "holds"}
    assert rows["meta_counters_monotonic"]["v2"] == "violated"
    assert rows["data_pages_in_ring_order"]["upstream"] == "n/a"
    assert rows["non_consuming_read_detects_overwrite"]["v2"] == "violated"
    assert rows["non_consuming_read_detects_overwrite"]["upstream"] == "n/a"
    # every violated cell links to a replayable trace (weak-memory cells to the
    # litmus program that shows the witness)
    for row in mx["rows"]:
        for v, cell in row["cells"].items():
            if cell["status"] == "violated" and row["name"].startswith("wm:"):
                assert cell["program"].startswith("specs/litmus/")
                assert cell["verdict"] in ("Sometimes", "Always")
            elif cell["status"] == "violated":
                t = mx["traces"][cell["trace"]]
                assert t["path"]["format"] == "rbmap-path/1"
                assert len(t["path"]["actions"]) == cell["steps"]


def test_text_fits_an_email_and_traces_replay(tmp_path):
    d = tmp_path / "traces"
    r = invoke("compare", "v2", "v2-data-index", "v3-read", "v3-read-param", "upstream",
               *SMALL, "--no-abi", "--no-nc", "--trace-dir", d)
    assert r.exit_code == 1, r.output
    table = r.stdout.split("\ncounterexamples")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    f = d / "v2.no_duplicate_delivery.json"
    assert f.exists()
    r2 = invoke("replay", f)
    assert r2.exit_code == 0, r2.output


def test_markdown_links_cells_to_traces(tmp_path):
    d = tmp_path / "t"
    r = invoke("compare", "v2", "upstream", *SMALL, "--no-abi", "--no-nc", "--markdown",
               "--trace-dir", d)
    assert r.exit_code == 1
    assert f"[VIOLATED (17 steps)]({d}/v2.no_duplicate_delivery.json)" in r.stdout
    assert "| `no_duplicate_delivery` |" in r.stdout


def test_extra_rows_other_consumers_and_refusals(tmp_path):
    """The text: and refusals: rows come from their own small runs (footer), with
    replayable traces: the kernel findings K6 and K8 of README."""
    d = tmp_path / "t"
    r = invoke("compare", "upstream", "--pages", "2", "--page-events", "1",
               "--events", "3", "--processes", "1", "--nesting", "1", "--no-abi",
               "--no-nc", "--no-weak-memory", "--json", "--trace-dir", d)
    mx = json.loads(r.output)
    rows = {row["name"]: row["status"]["upstream"] for row in mx["rows"]}
    assert rows["text:lost_events_reported_once"] == "violated"
    assert rows["text:no_kernel_warning"] == "violated"
    assert rows["text:text_read_leaves_loss_pending"] == "reached"
    assert rows["refusals:refused_call_changes_nothing"] == "holds"
    assert rows["refusals:refusal_lifted_after_unmap"] == "holds"
    assert rows["refusals:snapshot_excludes_mapping"] == "violated"
    assert rows["lost_events_reported_once"] == "holds"   # the mapping alone
    assert mx["extra_configs"]["text"]["text_reads"] == 1
    r2 = invoke("replay", d / "upstream.text.no_kernel_warning.json")
    assert r2.exit_code == 0, r2.output


def test_abi_rows_come_from_the_proofs():
    r = invoke("compare", "v2", *SMALL, "--no-nc", "--json")
    mx = json.loads(r.stdout)
    rows = {row["name"]: row["status"]["v2"] for row in mx["rows"]}
    assert rows["abi:abi_same_layout"] == "violated"
    assert rows["abi:meta_area_sizing"] == "violated"
    assert rows["abi:head_index_compose"] == "holds"


def test_bad_variant_exits_2():
    r = invoke("compare", "v2", "nope")
    assert r.exit_code == 2 and "unknown variant 'nope'" in r.stderr


# ---------------------------------------------------------------------------
# the same options as check, exit codes, a closed pipe

TINY = ["--pages", "2", "--page-events", "1", "--events", "3", "--processes", "1",
        "--nesting", "1", "--no-abi", "--no-nc", "--no-weak-memory", "--no-extra"]
CHECK_ONLY = {"variant", "sim_runs", "seed", "walk_depth", "as_json", "trace_out",
              "report_dir",   # output options: each names its own files
              "stop_on_violation"}  # a matrix of verdicts does not stop at the first


def test_compare_takes_every_workload_and_bound_option_of_check():
    """compare and check share one definition of the options: same names, same
    help, same defaults where the config does not differ on purpose."""
    import click
    ctx = click.Context(main)
    check, compare = main.get_command(ctx, "check"), main.get_command(ctx, "compare")
    cmp = {p.name: p for p in compare.params}
    for p in check.params:
        if p.name in CHECK_ONLY:
            continue
        assert p.name in cmp, f"compare lacks --{p.name.replace('_', '-')}"
        assert p.opts == cmp[p.name].opts
        # the same text; only the default named in it may differ
        assert (p.help.split(" [default")[0].rstrip(".")
                == cmp[p.name].help.split(" [default")[0].rstrip("."))


def test_compare_resets_reach_the_model():
    base = json.loads(invoke("compare", "v2", *TINY, "--json").output)
    r = invoke("compare", "v2", *TINY, "--resets", "1", "--json")
    mx = json.loads(r.output)
    assert mx["config"]["resets"] == 1
    assert mx["stats"]["v2"]["main"]["states"] > base["stats"]["v2"]["main"]["states"]


def test_compare_exits_1_when_a_property_is_violated_0_when_all_hold():
    assert invoke("compare", "v2", "upstream", *TINY).exit_code == 1
    # upstream as merged: two loss findings (README, Findings K5, K7)
    assert invoke("compare", "upstream", *TINY).exit_code == 1
    # nothing is lost without overwrite, nothing is violated
    r = invoke("compare", "upstream", *TINY, "--no-overwrite")
    assert r.exit_code == 0, r.output
    # the weak-memory rows: upstream's writer (W1) and the libtracefs client (W2)
    r = invoke("compare", "upstream", *TINY, "--weak-memory", "--json")
    assert r.exit_code == 1
    rows = {row["name"]: row["status"]["upstream"]
            for row in json.loads(r.output)["rows"]}
    assert rows["wm:publish"] == "holds" and rows["wm:get_reader"] == "holds"
    assert rows["wm:publish_left_behind"] == "violated"
    assert rows["wm:libtracefs"] == "violated"
    assert rows["wm:fastpath_meta"] == "n/a"


def test_compare_bounded_is_incomplete_exit_3_and_never_holds():
    r = invoke("compare", "upstream", *TINY, "--max-states", "50", "--json")
    assert r.exit_code == 3, r.output
    mx = json.loads(r.output)
    assert mx["stats"]["upstream"]["main"]["complete"] is False
    assert "holds" not in {row["status"]["upstream"] for row in mx["rows"]}
    r = invoke("compare", "upstream", *TINY, "--time-limit", "nan")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_compare_expect_exits_0_on_the_expected_matrix_1_on_a_difference(tmp_path):
    exp = tmp_path / "expected.json"
    r = invoke("compare", "v2", "upstream", *TINY, "--json")
    assert r.exit_code == 1
    exp.write_text(r.output)
    r = invoke("compare", "v2", "upstream", *TINY, "--expect", str(exp))
    assert r.exit_code == 0, r.output
    assert "as expected" in r.output
    # the same expectation against another design differs: exit 1, the cell named
    r = invoke("compare", "v2", "upstream", *TINY, "--rule", "reader_start=page_start",
               "--expect", str(exp))
    assert r.exit_code == 1
    assert "no_duplicate_delivery" in r.output and "upstream" in r.output


def test_compare_into_a_closed_pipe_keeps_the_verdict():
    """`rbmap compare | head`: the reader goes away; no traceback, no exit 1 from
    the broken pipe (the exit status is still the verdict's)."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "rbmap.cli.__main__", "compare",
                          "upstream", *TINY, "--no-overwrite"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()          # the reader is gone before the first write
    err = p.stderr.read().decode()
    assert p.wait() == 0, err
    assert err == ""


def test_readme_set_up_line_reproduces_the_recorded_upstream_matrix():
    """README's first command: the merged design's matrix as recorded (its findings
    included) exits 0; the recording is the model's current result."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    first = block.splitlines()[0]
    assert first == ("pip install -e . && rbmap compare upstream --expect "
                     "specs/expected/compare-upstream.json")
    exp = root / "specs" / "expected" / "compare-upstream.json"
    r = invoke("compare", "upstream", "--expect", str(exp))
    assert r.exit_code == 0, r.output
    # what the line shows a newcomer: the kernel's findings K5 and K7 are in it
    rows = {row["name"]: row["status"]["upstream"]
            for row in json.loads(exp.read_text())["rows"]}
    assert rows["meta_reader_lost_events"] == "violated"
    assert rows["no_silent_commit_overrun"] == "violated"
