"""rbmap conform / rbmap mutants: exit codes and JSON."""

import json

from click.testing import CliRunner

from rbmap.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_conform_json_keys_and_exit_0():
    res = run("conform", "upstream", "--depth", "8", "--preemptions", "0", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for k in ("variant", "traces_replayed", "interleavings", "steps_checked",
              "seconds", "mismatches"):
        assert k in out
    assert out["variant"] == "upstream" and out["mismatches"] == []
    assert out["traces_replayed"] > 10 and out["interleavings"] == 3
    # the reader library as the process: every order of the three tasks
    assert out["library_interleavings"] == 3 and out["library_returns_checked"] > 10
    # the ring config: its whole tree overruns and brings a page back
    ring = out["ring"]
    assert ring["paths_overrun"] > 0 and ring["paths_reader_back"] > 0
    assert ring["interleavings"] == 2 and ring["mismatches"] == []


def test_conform_text():
    res = run("conform", "v2", "--depth", "8", "--preemptions", "0", "--no-ring")
    assert res.exit_code == 0, res.output
    assert "verdict: conforms" in res.output
    assert "model paths replayed on impl" in res.output


def test_mismatch_exit_1_with_replay_command(tmp_path):
    from rbmap.mutants import MUTANTS, applied
    bug = next(x for x in MUTANTS if x.name == "advance_reader_no_count")
    trace = tmp_path / "m.json"
    with applied(bug):
        res = run("conform", "upstream", "--depth", "8", "--preemptions", "0",
                  "--no-ring", "--trace-out", str(trace))
        assert res.exit_code == 1, res.output
        assert "MISMATCH (state)" in res.output and "p0      ioctl" in res.output
        assert f"replay: rbmap conform upstream --replay {trace}" in res.output
        again = run("conform", "upstream", "--replay", str(trace))
        assert again.exit_code == 1 and "MISMATCH" in again.output
    # impl without the bug replays the saved path cleanly
    assert run("conform", "upstream", "--replay", str(trace)).exit_code == 0


def test_bad_input_exit_2(tmp_path):
    for args in (["conform", "nosuch"], ["conform", "v3-read"],
                 ["conform", "upstream", "--pages", "1"],
                 ["conform", "upstream", "--depth", "-1"],
                 ["conform", "upstream", "--replay", str(tmp_path / "missing.json")],
                 ["mutants", "--only", "bogus"]):
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = run("conform", "upstream", "--replay", str(bad))
    assert res.exit_code == 2 and "not JSON" in res.output
    res = run("conform", "--schedule", str(bad))
    assert res.exit_code == 2


def test_mutants_only_one():
    res = run("mutants", "--quick", "--only", "advance_reader_no_count", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["mutants"] == 1 and out["killed"] == 1 and out["kill_rate"] == 1.0
