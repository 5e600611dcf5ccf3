"""rbmap bench's ring rows (--vs-spin, --threads) and rbmap export promela."""

import json
import subprocess
import sys

import pytest

from rbmap.checker import native, spin

needs_native = pytest.mark.skipif(native.engine_choice() != "native",
                                  reason="no C compiler: the compiled engine is not available")
needs_spin = pytest.mark.skipif(spin.available() is not None,
                                reason=f"SPIN cannot run here: {spin.available()}")


def rbmap(*args):
    return subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", *args],
                          capture_output=True, text=True)


@needs_native
def test_bench_ring_alone_json():
    r = rbmap("bench", "ring", "--ring", "2,2,2", "--threads", "2", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["engine"] for x in rows] == ["rbmap", "rbmap 2 threads"]
    assert all(x["states"] == 1500 and x["complete"] for x in rows)
    assert all(0 < x["bytes_per_state"] <= 100 for x in rows)


@needs_native
@needs_spin
def test_bench_vs_spin_prints_the_ratio_and_the_bug():
    r = rbmap("bench", "ring", "--ring", "2,2,2", "--vs-spin")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "rbmap / SPIN:" in out and "x states per CPU second" in out
    rows = {line.split()[0] + " " + line.split()[1]: line.split()
            for line in out.splitlines() if line.startswith(("rbmap ", "SPIN "))}
    assert rows["SPIN dfs"][2] == rows["SPIN bfs"][2] == "1500"
    assert "bug variant, rbmap: 13-step counterexample" in out
    assert "bug variant, SPIN bfs: 13-step counterexample" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_bench_ring_without_the_compiled_engine():
    import os
    env = dict(os.environ, RBMAP_ENGINE="interpreted")
    r = subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", "bench", "ring",
                        "--ring", "2,2,2", "--json"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "rbmap: RBMAP_ENGINE=interpreted: interpreted engine (slower)\n"
    rows = json.loads(r.stdout)
    assert [(x["engine"], x["states"]) for x in rows] == [("rbmap interpreted", 1500)]


def test_bench_bad_ring_size_is_bad_input():
    r = rbmap("bench", "ring", "--ring", "4,5")
    assert r.returncode == 2 and r.stderr.startswith("rbmap: ") and "N,V,D" in r.stderr


def test_export_promela_ring(tmp_path):
    r = rbmap("export", "promela", "ring", "--ring", "2,2,2")
    assert r.returncode == 0 and "active proctype machine()" in r.stdout
    out = tmp_path / "ring.pml"
    r = rbmap("export", "promela", "ring", "--ring", "2,2,2", "--bug", "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    assert "assert(" in out.read_text()


def test_export_unknown_model_is_bad_input():
    r = rbmap("export", "promela", "nosuchmodel")
    assert r.returncode == 2 and "unknown variant 'nosuchmodel'" in r.stderr


@needs_spin
def test_export_spin_counts_match():
    r = rbmap("export", "promela", "ring", "--ring", "2,2,2", "--bug", "--spin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SPIN (breadth-first): 2,161 states, " in r.stdout
    assert "rbmap: 2,161 states" in r.stdout and "DIFFERENT" not in r.stdout
    assert "fifo: rbmap violated in 13 steps; SPIN at depth 13" in r.stdout


@needs_spin
def test_export_spin_multi_core_and_swarm():
    r = rbmap("export", "promela", "ring", "--ring", "2,2,2", "--bug", "--spin",
              "--cores", "2", "--swarm", "2", "--width", "18")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SPIN (-DNCORE=2): 2,161 states, " in r.stdout
    assert "swarm found 1 of rbmap's 1 violated properties" in r.stdout
    assert max(len(x) for x in r.stdout.splitlines()) <= 80


def test_export_options_outside_spin_and_models_not_in_steps():
    r = rbmap("export", "promela", "ring", "--ring", "2,2,2", "--cores", "2")
    assert r.returncode == 2 and "--cores and --swarm go with --spin" in r.stderr
    r = rbmap("export", "promela", "upstream", "--bug")
    assert r.returncode == 2 and "--bug is the ring's" in r.stderr


def test_bench_protocol_rows_fit_80_columns_and_name_their_engine():
    r = rbmap("bench", "v3-read", "--time-limit", "0.5", "--vs-interpreted")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line.split() for line in lines if line.startswith("v3-read ")]
    assert rows and {row[1] for row in rows} <= {"compiled", "interpreted"}
    assert rows[-1][1] == "interpreted"
