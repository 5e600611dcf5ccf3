"""rbmap compare: the matrix's shape and the shipped designs' history in it."""

import json
import subprocess
import sys

SMALL = ["--pages", "2", "--page-events", "1", "--events", "4", "--nesting", "2"]


def rbmap(*args):
    return subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", *args],
                          capture_output=True, text=True)


def test_matrix_json_shape_and_history():
    r = rbmap("compare", "v2", "v3-read", "upstream", *SMALL, "--no-abi", "--json")
    assert r.returncode == 0, r.stderr
    mx = json.loads(r.stdout)
    assert mx["variants"] == ["v2", "v3-read", "upstream"]
    rows = {row["name"]: row["status"] for row in mx["rows"]}
    assert rows["no_duplicate_delivery"] == {"v2": "violated", "v3-read": "holds",
                                             "upstream": "holds"}
    assert rows["meta_counters_monotonic"]["v2"] == "violated"
    assert rows["data_pages_in_ring_order"]["upstream"] == "n/a"
    assert rows["non_consuming_read_detects_overwrite"]["v2"] == "violated"
    # every violated cell links to a replayable trace
    for row in mx["rows"]:
        for v, cell in row["cells"].items():
            if cell["status"] == "violated":
                t = mx["traces"][cell["trace"]]
                assert t["path"]["format"] == "rbmap-path/1"
                assert len(t["path"]["actions"]) == cell["steps"]


def test_text_fits_an_email_and_traces_replay(tmp_path):
    d = tmp_path / "traces"
    r = rbmap("compare", "v2", "v2-data-index", "v3-read", "v3-read-param", "upstream",
              *SMALL, "--no-abi", "--no-nc", "--trace-dir", str(d))
    assert r.returncode == 0, r.stderr
    table = r.stdout.split("\ncounterexamples")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    f = d / "v2.no_duplicate_delivery.json"
    assert f.exists()
    r2 = rbmap("replay", str(f))
    assert r2.returncode == 0, r2.stdout + r2.stderr


def test_markdown_links_cells_to_traces(tmp_path):
    d = tmp_path / "t"
    r = rbmap("compare", "v2", "upstream", *SMALL, "--no-abi", "--no-nc", "--markdown",
              "--trace-dir", str(d))
    assert r.returncode == 0
    assert f"[VIOLATED (17 steps)]({d}/v2.no_duplicate_delivery.json)" in r.stdout
    assert "| `no_duplicate_delivery` |" in r.stdout


def test_abi_rows_come_from_the_proofs():
    r = rbmap("compare", "v2", *SMALL, "--no-nc", "--json")
    mx = json.loads(r.stdout)
    rows = {row["name"]: row["status"]["v2"] for row in mx["rows"]}
    assert rows["abi:abi_same_layout"] == "violated"
    assert rows["abi:meta_area_sizing"] == "violated"
    assert rows["abi:head_index_compose"] == "holds"


def test_bad_variant_exits_2():
    r = rbmap("compare", "v2", "nope")
    assert r.returncode == 2 and "unknown variant 'nope'" in r.stderr
