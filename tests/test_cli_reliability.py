"""Every failure is a clear exit code, nothing passes with nothing checked, and the
text reviewers paste says the right thing (README, "Exit status").

One test (or a parametrized family) per problem found trying rbmap as a new user
would; each failed before its fix. In-process through click's CliRunner where the
command allows it; Ctrl-C and closed pipes need a real process.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap.cli import main
from rbmap.impl import scenario as scn

SPECS = Path(__file__).resolve().parents[1] / "specs"
TINY = ["--pages", "2", "--page-events", "1", "--events", "3", "--processes", "1",
        "--nesting", "1"]


def invoke(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def one_line_error(r, code=2):
    """Exit ``code`` with one line ``rbmap: ...`` on stderr and no traceback."""
    assert r.exit_code == code, (r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rbmap: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def _sigint_default():
    # a child of a shell script's background job inherits SIGINT ignored; Ctrl-C
    # from a terminal reaches rbmap with the default disposition
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def proc(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "rbmap.cli.__main__", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_sigint_default, **kw)


@pytest.fixture
def v2_trace(tmp_path):
    """A saved trace of v2's duplicate read (rbmap check --trace-out)."""
    f = tmp_path / "t.json"
    r = invoke("check", "v2", *TINY, "--trace-out", f)
    assert r.exit_code == 1, r.output
    return f


# --------------------------------------------------------------------------
# tracebacks or lost results


@pytest.mark.parametrize("where", ["missing/dir/t.json", "/proc/x/t.json", "/proc/x"])
def test_trace_out_that_cannot_be_written_is_refused_before_exploring(
        tmp_path, monkeypatch, where):
    import rbmap.cli.check as check_mod

    def must_not_explore(*a, **k):
        raise AssertionError("explored before refusing --trace-out")
    monkeypatch.setattr(check_mod, "explore", must_not_explore)
    path = where if where.startswith("/") else tmp_path / where
    line = one_line_error(invoke("check", "upstream", *TINY, "--trace-out", path))
    assert str(path) in line


def test_trace_out_write_failure_prints_the_result_and_exits_2():
    r = invoke("check", "v2", *TINY, "--trace-out", "/dev/full")
    line = one_line_error(r)
    assert "/dev/full" in line
    assert "no_duplicate_delivery VIOLATED in v2" in r.stdout   # the result is not lost


def test_compare_trace_dir_that_cannot_be_made_is_refused():
    one_line_error(invoke("compare", "upstream", *TINY, "--no-abi", "--trace-dir",
                          "/proc/x/traces"))


def test_conform_trace_out_in_a_missing_directory_is_refused(tmp_path):
    one_line_error(invoke("conform", "upstream", "--trace-out",
                          tmp_path / "no" / "such" / "m.json"))


@pytest.mark.parametrize("cmd", [["check"], ["abi"], ["compare", "--no-abi"]])
def test_binary_variant_file_is_bad_input(tmp_path, cmd):
    f = tmp_path / "bin.toml"
    f.write_bytes(bytes(range(256)) * 4)
    line = one_line_error(invoke(cmd[0], f, *cmd[1:]))
    assert str(f) in line and "UTF-8" in line


@pytest.mark.parametrize("key,value", [("pages", "x"), ("overwrite", "yes"),
                                       ("events", 2.5), ("nesting", True),
                                       ("consumers", 3)])
def test_replay_of_a_trace_with_a_wrongly_typed_config_is_bad_input(v2_trace, key,
                                                                   value):
    data = json.loads(v2_trace.read_text())
    for model in [data["model"]] + [p["model"] for p in data["paths"]]:
        if "config" in model:    # the file's model (and a path's own, if any)
            model["config"][key] = value
    v2_trace.write_text(json.dumps(data))
    line = one_line_error(invoke("replay", v2_trace))
    assert key in line


@pytest.mark.parametrize("line", [
    "buffer_size_kb 100000000", "resize_kb 100000000", "subbuf_size_kb 100000000",
    "subbuf_resize_kb 100000000", "markers 100000000", "markers 1 100000000",
    "read_raw 100000000"])
def test_scenario_sizes_and_counts_are_bounded(tmp_path, line):
    text = f"scenario s\nopen\n{line}\n"
    with pytest.raises(scn.ScenarioError, match="at most"):
        scn.parse(text, "s.scn")
    f = tmp_path / "s.scn"
    f.write_text(text)
    msg = one_line_error(invoke("scenario", f))
    assert f"{f}:3:" in msg and "at most" in msg


def test_every_numeric_scenario_argument_has_a_documented_limit():
    text = (SPECS / "scenarios" / "FORMAT.md").read_text()
    table = text.split("### Limits")[1].split("###")[0]
    rows = {line.split("|")[1]: line for line in table.splitlines()
            if line.startswith("| `")}
    for op, (required, optional) in scn.OPS.items():
        n_int = sum(kind == "int" for kind in required + optional)
        if not n_int:
            continue
        assert len(scn.LIMITS.get(op, ())) == n_int, op
        row = next(line for names, line in rows.items() if f"`{op}`" in names)
        for limit in scn.LIMITS[op]:
            assert str(limit) in row, (op, limit)


def test_directory_given_as_a_variant_says_it_is_a_directory(tmp_path):
    d = tmp_path / "mine.toml"
    d.mkdir()
    for cmd in (["check"], ["abi"], ["compare", "--no-abi"]):
        line = one_line_error(invoke(cmd[0], d, *cmd[1:]))
        assert "is a directory" in line and "no such" not in line


def _wait_for(stream_proc, needle: bytes, which="stderr", timeout=120):
    """Read a process's stream until ``needle`` shows (the run is under way)."""
    import selectors
    stream = getattr(stream_proc, which)
    os.set_blocking(stream.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    seen = b""
    end = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < end:
        if sel.select(timeout=1):
            chunk = stream.read() or b""
            if not chunk and stream_proc.poll() is not None:
                break
            seen += chunk
    sel.close()
    os.set_blocking(stream.fileno(), True)
    assert needle in seen, seen[-500:]
    return seen


def _interrupt(p, seen_err=b""):
    """Send one SIGINT; return (exit code, stdout, stderr, seconds to exit)."""
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, out.decode(), (seen_err + err).decode(), time.monotonic() - t


def test_ctrl_c_during_check_prints_the_incomplete_verdict_and_exits_130():
    # v2's default config: 10.4M states, long enough on the compiled engine too
    p = proc("check", "v2", "--progress")
    seen = _wait_for(p, b"states/s")
    rc, out, err, _ = _interrupt(p, seen)
    assert rc == 130, (out, err)
    assert "INCOMPLETE (interrupted)" in out
    statuses = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert "holds" not in statuses and "unknown" in statuses
    assert "rbmap: interrupted" in err and "Traceback" not in err


def test_ctrl_c_during_compare_prints_the_matrix_so_far_and_exits_130():
    # 28M states (upstream --events 12): long enough on the compiled engine too
    p = proc("compare", "upstream", "--pages", "3", "--events", "12", "--no-abi",
             "--no-nc", "--progress")
    seen = _wait_for(p, b"states/s")
    rc, out, err, _ = _interrupt(p, seen)
    assert rc == 130, (out, err)
    rows = [line.split() for line in out.splitlines()]
    cells = {r[0]: r[1] for r in rows if len(r) == 2}
    assert cells["no_duplicate_delivery"] == "unknown"
    assert "holds" not in cells.values()
    assert "rbmap: interrupted" in err and "Traceback" not in err


def test_ctrl_c_during_abi_stops_at_once_with_the_checks_done():
    """z3 takes the first Ctrl-C itself (the check returns unknown); rbmap must
    treat that as the interrupt, not as a check z3 gave up on."""
    p = proc("abi")
    _wait_for(p, b"v2: ", which="stdout")        # the first variant's block
    rc, out, err, secs = _interrupt(p)
    assert rc == 130, (out, err)
    assert "rbmap: interrupted" in err and "Traceback" not in err
    assert secs < 15
    assert "UNKNOWN" not in out


def test_ctrl_c_during_conform_reports_what_was_checked_and_exits_130():
    p = proc("conform", "upstream", "--depth", "0", "--progress")
    seen = _wait_for(p, b"replaying")
    rc, out, err, _ = _interrupt(p, seen)
    assert rc == 130, (out, err)
    assert "verdict: incomplete (interrupted)" in out
    assert "rbmap: interrupted" in err and "Traceback" not in err


def test_ctrl_c_during_manifest_keeps_the_rows_done_and_exits_130():
    p = proc("manifest")
    seen = _wait_for(p, b"  ok ", which="stdout")
    rc, out, err, _ = _interrupt(p)
    assert rc == 130, (out, err)
    assert "rbmap: interrupted" in err and "Traceback" not in err
    assert "DIFFERS" not in out


def test_ctrl_c_during_bench_prints_the_rows_so_far_and_exits_130():
    p = proc("bench", "upstream", "v2", "--progress")
    seen = _wait_for(p, b"states/s")
    rc, out, err, _ = _interrupt(p, seen)
    assert rc == 130, (out, err)
    assert "interrupted" in out and "rbmap: interrupted" in err


# --------------------------------------------------------------------------
# passes with nothing checked


def test_replay_of_a_file_without_paths_is_bad_input(tmp_path):
    f = tmp_path / "empty.json"
    f.write_text(json.dumps({"format": "rbmap-traces/1", "model": {}, "paths": []}))
    assert "no path" in one_line_error(invoke("replay", f))


def test_replay_of_a_path_for_no_known_property_is_bad_input(v2_trace):
    data = json.loads(v2_trace.read_text())
    for p in data["paths"]:
        p["property"] = "no_such_property"
    v2_trace.write_text(json.dumps(data))
    assert "no_such_property" in one_line_error(invoke("replay", v2_trace))


def test_abi_only_matching_no_check_is_bad_input():
    assert "nothing_like_this" in one_line_error(
        invoke("abi", "upstream", "--only", "nothing_like_this"))


@pytest.mark.parametrize("cmd", [["check", "upstream"], ["check", "v3-read"],
                                 ["compare", "v2", "upstream", "--no-abi"]])
def test_nc_readers_on_a_variant_without_data_pages_is_refused(cmd):
    line = one_line_error(invoke(*cmd, *TINY, "--nc-readers", "1"))
    assert "data_pages[]" in line


@pytest.mark.parametrize("args", [
    ["check", "upstream", "--time-limit", "nan"],
    ["check", "upstream", "--time-limit", "inf"],
    ["check", "upstream", "--time-limit", "-1"],
    ["check", "upstream", "--simulate", "3", "--walk-depth", "0"],
    ["conform", "upstream", "--schedules", "0"],
    ["bench", "upstream", "--repeat", "0"],
    ["bench", "upstream", "--time-limit", "nan"],
])
def test_numbers_that_would_check_nothing_are_bad_input(args):
    one_line_error(invoke(*args))


def test_conform_stopped_by_its_schedule_bound_is_incomplete():
    r = invoke("conform", "upstream", "--depth", "2", "--schedules", "3")
    assert r.exit_code == 3, r.output
    assert "verdict: conforms" not in r.output


@pytest.mark.parametrize("edit,key", [
    (lambda t: t.replace('[variant]\n', '[variant]\nnmae = "typo"\n'), "nmae"),
    (lambda t: t + '\n[modle]\nget_reader = "consume_to_commit"\n', "modle"),
])
def test_unknown_variant_keys_and_tables_are_errors(tmp_path, edit, key):
    f = tmp_path / "mine.toml"
    f.write_text(edit((SPECS / "upstream.toml").read_text()))
    for cmd in (["check"], ["abi"]):
        line = one_line_error(invoke(cmd[0], f, *TINY if cmd == ["check"] else []))
        assert key in line and f"{f}:" in line


# --------------------------------------------------------------------------
# words reviewers paste


def test_abi_names_each_value_with_its_abi():
    out = " ".join(invoke("abi", "v2", "--only", "abi_same").stdout.split())
    # the seed's header: 40 bytes in the x86_64 kernel, 32 for an i386 process,
    # whose entries is a __u32 and whose reader_page is at 16, not 24
    assert ("ILP32 (i386) user space, against the kernel (x86_64): "
            "entries size 4 (kernel 8);") in out
    assert "reader_page offset 16 (kernel 24)" in out
    assert "sizeof 32 (kernel 40)" in out


def test_abi_text_fits_80_columns():
    # the shipped variants' texts; the slowest proofs are left out (their lines
    # are wrapped by the same code)
    # the longest details: the seed's layout, sizing and unmap checks
    for args in (["v2", "--only", "abi_", "--only", "meta_area", "--only",
                  "translation_target", "--only", "unmap_touches"],
                 ["v3-read"], ["v3-read-param"],
                 ["upstream", "--only", "abi_", "--only", "meta_area"]):
        out = invoke("abi", *args).stdout
        assert max(len(line) for line in out.splitlines()) <= 80, args


def test_list_keeps_words_whole_within_80_columns():
    r = invoke("list")
    assert r.exit_code == 0
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    text = " ".join(r.stdout.split())
    d = json.loads(invoke("list", "--json").stdout)
    for v in d["variants"]:
        assert " ".join(v["history"].split()) in text, v["name"]


def _all_commands(group, prefix=()):
    """(path, command) of every command, sub-commands of groups included."""
    import click
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


def test_help_lists_every_command_with_a_whole_sentence():
    import click
    groups = [((), main)] + [(p, c) for p, c in _all_commands(main)
                             if isinstance(c, click.Group)]
    assert len(groups) > 1            # rbmap, and its groups (kernel, export)
    for path, group in groups:
        out = invoke(*path, "--help").stdout
        assert "..." not in out.split("Commands:")[1], path
        for name in group.list_commands(click.Context(group)):
            assert f"\n  {name} " in out, (path, name)
        assert max(len(line) for line in out.splitlines()) <= 80, path


def test_every_option_of_every_command_has_help():
    import click
    missing = [f"{' '.join(path)} {p.opts[0]}" for path, cmd in _all_commands(main)
               for p in cmd.params if isinstance(p, click.Option) and not p.help
               and p.name != "help"]
    assert missing == []


def test_check_and_abi_name_a_variant_file_alike(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text((SPECS / "v3-read.toml").read_text())   # still says name = "v3-read"
    check_out = invoke("check", f, *TINY).stdout
    abi_out = invoke("abi", f).stdout
    label = f"{f} ([variant] name v3-read)"
    assert check_out.splitlines()[0] == f"variant {label}"
    assert " ".join(abi_out.split()).startswith(f"{label}: ")      # the header
    assert abi_out.splitlines()[-2].startswith(f"{label}: ")       # the summary
    g = tmp_path / "v3-read.toml"        # a file named as it says: just the path
    g.write_text(f.read_text())
    assert invoke("check", g, *TINY).stdout.splitlines()[0] == f"variant {g}"


def test_readme_walk_through_renames_the_copied_variant():
    readme = (SPECS.parent / "README.md").read_text()
    walk = readme.split("## A reviewer's walk-through")[1].split("```")[1]
    assert "cp specs/upstream.toml mine.toml" in walk and 'name = "mine"' in walk


def test_kernel_setup_help_says_it_installs_host_packages():
    out = " ".join(invoke("kernel", "setup", "--help").stdout.split())
    assert "apt-get install" in out and "root" in out


def test_exit_status_is_documented_once_for_every_command():
    """README has the one table; rbmap --help says the same codes; the robustness
    suite (test_cli_robustness.py) holds every command to them."""
    readme = (SPECS.parent / "README.md").read_text()
    assert readme.count("### Exit status") == 1
    table = readme.split("### Exit status")[1].split("###")[0]
    codes = [line.split("|")[1].strip() for line in table.splitlines()
             if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert codes == ["0", "1", "2", "3", "130"]
    helptext = " ".join(invoke("--help").stdout.split())
    for words in ("0 holds / conforms", "1 violated / differs",
                  "2 bad input or a failed write", "3 incomplete", "130 interrupted"):
        assert words in helptext
