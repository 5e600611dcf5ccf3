"""rbmap litmus: output, exit codes, JSON, bad input."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from rbmap.cli import main

DIR = Path(__file__).with_name("litmus")


def rbmap(*args):
    """rbmap litmus ARGS in this process (stdout and stderr apart)."""
    r = CliRunner().invoke(main, ["litmus", *args])
    return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=r.stderr)


def test_the_installed_entry_point_runs_it():
    r = subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", "litmus",
                        str(DIR / "mb-sb.litmus")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith("Never")


def test_one_file_prints_verdict_and_witness_within_80_columns():
    r = rbmap(str(DIR / "once-mp.litmus"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == r"once-mp: exists (1:r0=1 /\ 1:r1=0)"
    assert lines[1].startswith("Sometimes (expected Sometimes: agrees)")
    assert "witness: an allowed execution that reaches the condition" in r.stdout
    assert "payload=0 (init)" in r.stdout
    assert max(map(len, lines)) <= 80
    assert rbmap(str(DIR / "once-mp.litmus")).stdout.splitlines()[:-1] == lines[:-1]


def test_disagreement_is_exit_1_and_no_result_uses_the_quantifier(tmp_path):
    text = (DIR / "once-mp.litmus").read_text()
    wrong = tmp_path / "wrong.litmus"
    wrong.write_text(text.replace("Result: Sometimes", "Result: Never"))
    r = rbmap(str(wrong))
    assert r.returncode == 1 and "DISAGREES" in r.stdout
    free = tmp_path / "free.litmus"
    free.write_text(text.replace(" * Result: Sometimes\n", ""))
    assert rbmap(str(free)).returncode == 0                 # exists: reachable
    free.write_text(text.replace(" * Result: Sometimes\n", "").replace("exists", "~exists"))
    r = rbmap(str(free))
    assert r.returncode == 1 and "[herd: No]" in r.stdout   # ~exists: violated


def test_json_shape():
    r = rbmap(str(DIR / "wmb-rmb-mp.litmus"), "--json")
    d = json.loads(r.stdout)
    assert d["verdict"] == "Never" and d["agrees"] is True and d["witness"] is None
    for key in ("name", "expected", "condition", "validated", "flags", "events",
                "seconds", "options"):
        assert key in d


def test_a_directory_gives_a_table_and_a_summary():
    r = rbmap(str(DIR))
    assert r.returncode == 0, r.stdout[-500:]
    n = len(list(DIR.glob("*.litmus")))
    assert f"{n} programs: {n} agree with their Result, 0 differ" in r.stdout
    assert max(map(len, r.stdout.splitlines())) <= 80


def test_options_change_the_verdict():
    f = str(DIR / "syscall-sb.litmus")
    assert rbmap(f).returncode == 0
    r = rbmap(f, "--no-syscall-barrier")
    assert r.returncode == 1 and r.stdout.splitlines()[1].startswith("Sometimes")
    f = str(DIR / "local-return-sb.litmus")
    assert rbmap(f, "--local-t", "generic").stdout.splitlines()[1].startswith("Never")


@pytest.mark.parametrize("content,needle", [
    ("C x\n{}\nP0(int *a) { while (1) {} }\nexists (a=1)\n", "loops are not supported"),
    ("C x\n{}\nP0(int *a) { srcu_read_lock(a); }\nexists (a=1)\n", "SRCU is not modelled"),
    ("C x\n{}\nP0(int *a) { int r = atomic_load(a); }\nexists (a=1)\n",
     "seq_cst accesses are outside"),
    ("C x\n{}\nP0(int *a) { frob(a); }\nexists (a=1)\n", "frob() is not a primitive"),
    ("PPC x\n", "first line must be `C NAME`"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, needle):
    f = tmp_path / "bad.litmus"
    f.write_text(content)
    r = rbmap(str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("rbmap: ") and needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_binary_and_directory_arguments(tmp_path):
    assert rbmap(str(tmp_path / "none.litmus")).returncode == 2
    b = tmp_path / "b.litmus"
    b.write_bytes(b"\xff\xfe\x00")
    r = rbmap(str(b))
    assert r.returncode == 2 and "not a text file" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = rbmap(str(empty))
    assert r.returncode == 2 and "no *.litmus file" in r.stderr
    assert rbmap().returncode == 2


def test_several_files_with_one_unparsable_is_incomplete(tmp_path):
    (tmp_path / "a.litmus").write_text((DIR / "mb-sb.litmus").read_text())
    (tmp_path / "b.litmus").write_text("C b\n{}\nP0(int *a) { for (;;) ; }\nexists (a=1)\n")
    r = rbmap(str(tmp_path), "--json")
    assert r.returncode == 3
    d = json.loads(r.stdout)
    assert len(d["results"]) == 1 and "loops" in d["not_checked"][0]["reason"]


def test_primitives_lists_the_vocabulary():
    r = rbmap("--primitives")
    assert r.returncode == 0
    names = r.stdout.split()
    for n in ("READ_ONCE", "smp_store_release", "cmpxchg_acquire", "local_cmpxchg",
              "spin_trylock", "syscall", "atomic_thread_fence"):
        assert n in names


def test_a_time_limit_z3_cannot_meet_is_incomplete_not_a_verdict(tmp_path):
    # four critical sections on one lock: far more than a millisecond of search
    body = "\tspin_lock(s);\n\tint r0 = READ_ONCE(*v);\n\tWRITE_ONCE(*v, r0 + 1);\n" \
           "\tspin_unlock(s);\n"
    text = "C four\n\n{}\n\n" + "".join(
        f"P{i}(int *v, spinlock_t *s)\n{{\n{body}}}\n\n" for i in range(4)) + \
        "exists (v!=4)\n"
    f = tmp_path / "four.litmus"
    f.write_text(text)
    r = rbmap(str(f), "--time-limit", "0.001")
    assert r.returncode == 3 and "no verdict" in r.stderr
    assert r.stdout == ""
    assert rbmap(str(DIR / "mb-sb.litmus"), "--time-limit", "nan").returncode == 2
    assert rbmap(str(DIR / "mb-sb.litmus"), "--time-limit", "60").returncode == 0


def test_states_lists_the_final_states():
    r = rbmap(str(DIR / "once-mp.litmus"), "--states")
    assert r.returncode == 0
    assert "States 4" in r.stdout
    assert "1:r0=1; 1:r1=0; payload=7; ready=1" in r.stdout
    d = json.loads(rbmap(str(DIR / "wmb-rmb-mp.litmus"), "--states", "--json").stdout)
    assert len(d["states"]) == 3
    assert {"1:r0": 1, "1:r1": 0, "payload": 7, "ready": 1} not in d["states"]


def test_kernel_tests_say_why_when_the_package_cannot_be_had(tmp_path, monkeypatch):
    import rbmap.kernel_litmus as kl
    monkeypatch.setenv("RBMAP_LINUX_SOURCE_CACHE", str(tmp_path))
    monkeypatch.setattr(kl.shutil, "which", lambda tool: None)
    r = rbmap("--kernel-tests")
    assert r.returncode == 2
    assert "apt-get not found" in r.stderr and "linux-source-6.12" in r.stderr
