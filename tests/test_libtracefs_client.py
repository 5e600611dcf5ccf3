"""libtracefs as a client: the model's ``--client libtracefs`` rule, its
conformance with the real library (recorded guest runs), and the host-side
judgement of the guest's free-running runs.  No boot: the live runs are in
tests/test_libtracefs_live.py (``pytest -m kernel``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap import kernel_client as kc
from rbmap import libtracefs_conform as lc
from rbmap.checker import check_bfs
from rbmap.cli import main
from rbmap.model import SpecError, build

SCRIPTS = sorted(lc.SCRIPT_DIR.glob("*.lts"))
SMALL = dict(pages=2, page_events=2, events=4, nesting=1, client="libtracefs")


def _status(result, name):
    return next(p for p in result.properties if p.name == name)


# ---------------------------------------------------------------- the rule
def test_libtracefs_rule_needs_the_upstream_abi():
    with pytest.raises(SpecError, match="upstream ABI"):
        build("v2", **SMALL)
    res = CliRunner().invoke(main, ["check", "v2", "--client", "libtracefs"])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and "libtracefs" in res.output


def test_libtracefs_duplicates_a_remapping_reader():
    """One application, closing and reopening: the first load of a sub-buffer
    hands out events beyond reader.read without GET_READER (21 steps)."""
    r = check_bfs(build("upstream", processes=1, **SMALL))
    dup = _status(r, "no_duplicate_delivery")
    assert r.complete and dup.status == "violated" and len(dup.path.actions) == 21
    acts = [a[1] for a in dup.path.actions]
    assert acts[-5:] == ["unmap", "map", "mmap_setup", "read_buf", "read_event"]
    assert _status(r, "no_unaccounted_loss").status == "holds"
    assert _status(r, "every_event_delivered_or_counted").status == "violated"


def test_documented_client_holds_where_libtracefs_does_not():
    """The same small config with the documented client: nothing violated (so the
    violations above belong to the library's algorithm, not to the config)."""
    cfg = dict(SMALL, client="documented")
    r = check_bfs(build("upstream", processes=1, **cfg))
    assert all(p.status == "holds" for p in r.properties if p.kind != "sometimes")


def test_off_by_header_check_calls_get_reader_at_the_last_event():
    """tfs_mmap_load_subbuf compares the event's end plus the 16-byte header with
    reader.read: with an event ending exactly at reader.read it still calls
    GET_READER (L_IOCTL_MORE), which a byte-exact check would not."""
    from rbmap.model import protocol as P

    m = build("upstream", processes=1, **SMALL)
    s = list(m.init_states()[0])
    b, lb = m.PROC, m.LTF
    page = 1
    s[m.PCOMMIT + page] = 2
    s[m.IDS + page] = 1
    s[P.M_RID] = 1
    s[P.M_RREAD] = 2
    s[b + P.PH] = P.P_READING
    s[b + P.PG], s[b + P.POS], s[b + P.LIM] = page, 1, 1
    s[lb + P.LPH] = P.L_CALL
    t = m._ltf_read_buf(tuple(s), b, lb, P.L_CALL)
    assert t[lb + P.LPH] == P.L_IOCTL_MORE
    s[P.M_RREAD] = 3          # reader.read beyond the event's end: no ioctl
    t = m._ltf_read_buf(tuple(s), b, lb, P.L_CALL)
    assert t[lb + P.LPH] == P.L_ITER


# ---------------------------------------------------------------- conformance
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_model_rule_agrees_with_the_recorded_library(script):
    """The model with --client libtracefs delivers exactly what libtracefs 1.8.3
    delivered on Linux 6.12.117, operation by operation."""
    header, objs = lc.read_recording(lc.recording_path(script))
    assert header["libtracefs"].startswith(kc.WANT)
    model = lc.run_model(script.read_text())
    assert lc.compare(model, lc.kernel_objects(objs)) == []


def test_takeover_duplicate_is_in_the_recording():
    script = lc.SCRIPT_DIR / "takeover-duplicate.lts"
    _, objs = lc.read_recording(lc.recording_path(script))
    seqs = [x for o in objs if o["op"] == "read" for x in o["seqs"]]
    assert seqs.count(1) == 2 and seqs.count(0) == 1


def test_compare_reports_a_difference():
    model = [{"op": "read", "step": 1, "who": "A", "seqs": [1], "nodata": 0}]
    kernel = [{"op": "read", "step": 1, "who": "A", "seqs": [1, 2], "nodata": 0}]
    assert lc.compare(model, kernel) == ["step 1 read A: seqs model [1] kernel [1, 2]"]


def test_script_errors():
    with pytest.raises(lc.ScriptError):
        lc.parse("write 1\n")
    with pytest.raises(lc.ScriptError, match="unknown operation"):
        lc.parse("script x kb=4 len=1974\nfly A\n")
    with pytest.raises(lc.ScriptError, match="bounds"):
        lc.run_model("script x kb=4 len=9\nwrite 1\nopen A\nread A\n")


def test_event_sizes_match_the_kernel():
    """UPSTREAM §2: short markers are 32 bytes, 22 characters 44, 23-26 48."""
    assert lc.event_size(9) == 32 and lc.event_size(22) == 44
    assert lc.event_size(26) == 48 and 4080 // lc.event_size(26) == 85
    assert lc.event_size(1974) == 2000 and lc.event_size(2014) == 2040


# ---------------------------------------------------------------- judging a run
def _run(counts_a, counts_b=None, failed=None, overrun=0, dropped=0, missed=0):
    n = len(counts_a)
    rle = lambda v: [[x, 1] for x in v]  # noqa: E731
    cons = [{"role": "reader", "kind": "libtracefs", "calls": 1, "data_calls": 1,
             "errors": 0, "opens": 1, "missed_reports": 0, "missed_sum": missed,
             "missed_unknown": 0, "foreign": 0, "counts": rle(counts_a)}]
    if counts_b:
        cons.append(dict(cons[0], role="second", missed_sum=0, counts=rle(counts_b)))
    return {"op": "run", "name": "t", "conf": {}, "written": n,
            "failed_rle": rle(failed or [0] * n), "consumers": cons,
            "stats": {"entries": 0, "overrun": overrun, "commit_overrun": 0,
                      "dropped_events": dropped, "read_events": 0}}


def test_analyse_exactly_once_with_counted_loss():
    r = kc.analyse(_run([0, 0, 1, 1], overrun=2, missed=2))
    assert r["exactly_once"] and r["loss_reported"] and r["missing"] == 2


def test_analyse_catches_duplicates_and_uncounted_loss():
    r = kc.analyse(_run([1, 0, 1, 1], [0, 0, 1, 0]))
    assert not r["exactly_once"]
    assert r["duplicates"] == 1 and r["duplicate_examples"] == [2]
    assert r["uncounted"] == 1 and r["missing_examples"] == [1]


def test_analyse_refused_writes_are_dropped_not_lost():
    r = kc.analyse(_run([1, 0, 0], failed=[0, 1, 1], dropped=2))
    assert r["exactly_once"] and r["missing"] == 0 and r["failed"] == 2
    r = kc.analyse(_run([1, 0, 0], failed=[0, 1, 1], dropped=1))
    assert not r["exactly_once"]


def test_analyse_unreported_loss():
    r = kc.analyse(_run([0, 1], overrun=1, missed=0))
    assert r["exactly_once"] and not r["loss_reported"]


def test_parse_console_and_table():
    obj = _run([1, 1])
    text = ("noise\nRBMAPC-UNAME 6.12.117+deb12-cloud-amd64\nRBMAPC-NCPU 2\n"
            f"[  1.0] RBMAPC {json.dumps(obj)}\nRBMAPC-END\n")
    uname, ncpu, objs = kc.parse_console(text)
    assert (uname, ncpu, objs) == ("6.12.117+deb12-cloud-amd64", 2, [obj])
    lines = kc.table([kc.analyse(obj)])
    assert all(len(x) <= 80 for x in lines) and lines[-1].endswith("once")
    from rbmap.kernel import KernelError

    with pytest.raises(KernelError, match="did not finish"):
        kc.parse_console("RBMAPC-UNAME x\n")


def test_client_command_without_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("RBMAP_KERNEL_CACHE", str(tmp_path))
    res = CliRunner().invoke(main, ["kernel", "client", "--seconds", "0.5"])
    assert res.exit_code == 2 and "rbmap kernel setup" in res.output
    res = CliRunner().invoke(main, ["kernel", "client", "--seconds", "nan"])
    assert res.exit_code == 2
    res = CliRunner().invoke(main, ["kernel", "client", "--only", "nothing-like-it"])
    assert res.exit_code == 2 and "no configuration" in res.output


def test_initramfs_carries_the_program_and_configuration(tmp_path):
    binary = tmp_path / "client"
    binary.write_bytes(b"\x7fELF-not-really")
    cpio = kc.build_initramfs(binary, "run x ms=50\n")
    assert b"client.conf" in cpio and b"run x ms=50" in cpio and b"TRAILER!!!" in cpio
    assert kc.conf_text(0.01, [("a", "kb=4")]) == "run a kb=4 ms=50\n"


def test_recordings_exist_for_every_script():
    assert SCRIPTS, "no client scripts in specs/libtracefs"
    for s in SCRIPTS:
        assert lc.recording_path(s).is_file(), s
        head, _ = lc.parse(s.read_text())
        assert head["name"] == s.stem
    assert Path(kc.CLIENT_SOURCE).is_file()


def _recorded(stem):
    _, objs = lc.read_recording(lc.recording_path(lc.SCRIPT_DIR / f"{stem}.lts"))
    delivered = [x for o in objs if o["op"] in ("read", "drain") for x in o["seqs"]]
    end = next(o for o in objs if o["op"] == "script_end")
    return delivered, end["stats"]


@pytest.mark.parametrize("stem,lost", [("nodata-swallow", 1), ("stale-skip", 2)])
def test_recorded_losses_nobody_was_told_of(stem, lost):
    """L2 and L4 on the real kernel: the kernel counts the event read (read
    events), no reader delivered it, and it is not in overrun."""
    delivered, stats = _recorded(stem)
    assert lost not in delivered
    assert stats["read_events"] == max(delivered + [lost]) + 1
    assert stats["overrun"] == 0 and stats["dropped_events"] == 0


def _stale_skip_reachable(padding: bool):
    """Is there a read_buf that loads a new reader sub-buffer in tfs_mmap_load_
    subbuf's first branch (not after its own GET_READER) with a setup skip > 0?"""
    from collections import deque

    from rbmap.model import protocol as P

    m = build("upstream", pages=2, page_events=2, events=6, nesting=1, processes=1,
              client="libtracefs", padding=padding)
    b, lb = m.PROC, m.LTF
    seen = set(m.init_states())
    todo = deque(seen)
    while todo:
        s = todo.popleft()
        for a, t in m.successors(s):
            if (a[1] == "read_buf" and s[lb + P.LPH] == P.L_CALL and s[lb + P.SKIP]
                    and m._meta_reader_page(s) != s[b + P.PG]):
                return True
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return False


def test_stale_skip_needs_sub_buffers_filled_exactly():
    """L4's load exists only where a page has no padding (the header-inclusive
    check then calls GET_READER at the page's last event and the kernel swaps)."""
    assert _stale_skip_reachable(padding=False)
    assert not _stale_skip_reachable(padding=True)


def test_analyse_counts_loss_the_kernel_only_logged():
    obj = _run([0, 0, 1], overrun=2, missed=1)
    obj["warnings"] = ["Ring buffer [0] commit overrun lost 1 events at timestamp:5"]
    r = kc.analyse(obj)
    assert r["logged_lost"] == 1 and r["loss_reported"] and r["exactly_once"]
