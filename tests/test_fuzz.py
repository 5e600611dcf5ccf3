"""``rbmap fuzz`` without a kernel: the generator, impl's invariants on generated
programs, the shrinker, the whole pipeline against a fake kernel, the CLI.

The live comparison with Linux 6.12 is tests/test_fuzz_kernel.py (``-m kernel``).
"""

from __future__ import annotations

import contextlib
import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from rbmap import fuzz as fz
from rbmap.cli import main
from rbmap.impl import scenario as scn

# impl defects that another change of issue 10 is fixing, by the key of the first
# problem a program shows -> why; each entry goes when its fix lands.
KNOWN_IMPL: dict[str, str] = {}


def _unknown(problems):
    """The problems of a run, unless its first one is a known defect (the rest
    follow from it)."""
    if problems and problems[0][0] in KNOWN_IMPL:
        return []
    return problems


def test_generation_is_deterministic_for_a_seed():
    a = fz.generate(7, 0, 30)
    assert a == fz.generate(7, 0, 30)
    assert a != fz.generate(8, 0, 30)
    assert a != fz.generate(7, 1, 30)


def _load_module_with_literals(tmp_path, name: str, first: int):
    """Import a new local module full of integer literals (what Hypothesis 6.131+
    adds to its pool of numbers to draw, from every local module loaded; it
    skips -100..100)."""
    import importlib.util
    path = tmp_path / f"{name}.py"
    path.write_text("NUMBERS = (" + ", ".join(str(n) for n in range(first, 700, 7)) + ")\n")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    import sys
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_generation_does_not_depend_on_what_the_process_loaded(tmp_path, monkeypatch):
    """A batch is the same before and after new local modules are imported (the
    run imports impl, the comparison, the kernel runner between batches)."""
    import sys
    a = fz.generate(5, 0, 60)
    _load_module_with_literals(tmp_path, "rbmap_fuzz_literals_a", 101)
    try:
        assert fz.generate(5, 0, 60) == a
        # teeth: without the guard, the new literals change the programs
        monkeypatch.setattr(fz, "_no_local_constants", contextlib.nullcontext)
        before = fz.generate(5, 0, 60)
        _load_module_with_literals(tmp_path, "rbmap_fuzz_literals_b", 104)
        assert fz.generate(5, 0, 60) != before
    finally:
        sys.modules.pop("rbmap_fuzz_literals_a", None)
        sys.modules.pop("rbmap_fuzz_literals_b", None)


def test_generated_programs_are_valid_scenarios_within_the_runner_limits():
    for i, ops in enumerate(fz.generate(3, 0, 80)):
        [sc] = scn.parse(fz.program_text(f"p{i}", ops))
        maps = 0
        for op in sc.ops:
            if op.name == "map":
                maps += 1
            elif op.name == "unmap":
                maps = max(0, maps - 1)
            assert maps <= fz.MAX_MAPS
            if op.name == "markers" and len(op.values) == 2:
                assert op.values[1] <= 8192
            assert op.name not in ("dofork_fork",)


def test_generator_reaches_every_op_and_the_page_edges():
    """Over a few batches every generated op appears, and markers fill a page
    exactly or leave 4 bytes at least once (the edges the generator aims at)."""
    ops = [line for b in range(2) for p in fz.generate(11, b, 100) for line in p]
    names = {line.split()[0] for line in ops}
    for name in ("markers", "map", "unmap", "ioctl", "ioctl_raw", "meta", "page",
                 "read_raw", "trymap", "snapshot", "reset", "resize_kb",
                 "subbuf_resize_kb", "open", "close", "fork", "mremap_grow",
                 "read_pipe", "trymap_cpu1", "trymap_boot"):
        assert name in names, name
    sizes = {fz.marker_event_size(int(x.split()[2], 0)) for x in ops
             if x.startswith("markers ") and len(x.split()) == 3}
    assert 4080 in sizes or 4076 in sizes or any(4080 % s == 0 for s in sizes if s > 32)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(fz.programs(max_ops=20))
def test_impl_invariants_hold_on_generated_programs(ops):
    """No traceback, every INVARIANTS entry holds after every operation, every
    refused system call changes nothing (rbmap.impl.invariants)."""
    run = fz.run_impl("prop", ops)
    assert not _unknown(run.problems), "\n".join(d for _k, d in run.problems)


# ---------------------------------------------------------------- teeth

def _break(monkeypatch, target, attr, replacement):
    monkeypatch.setattr(target, attr, replacement)


def test_invariants_catch_a_refused_mmap_that_leaks_state(monkeypatch):
    from rbmap.impl import tracefs

    # a refused mmap forgets to drop tr->mapped (put_snapshot_map)
    monkeypatch.setattr(tracefs.Instance, "_put_snapshot_map", lambda self: None)
    run = fz.run_impl("leak", ["open nonblock", "trymap 4096 0 r private"])
    keys = [k for k, _ in run.problems]
    assert any("refused mmap changed tr.mapped" in k for k in keys), keys


def test_invariants_catch_a_refused_mmap_of_cpu1_that_leaks_state(monkeypatch):
    from rbmap.impl import tracefs

    # check 5 (no cpu_buffer for CPU 1) forgets put_snapshot_map
    monkeypatch.setattr(tracefs.Instance, "_put_snapshot_map", lambda self: None)
    run = fz.run_impl("leak1", ["trymap_cpu1 4096 0 r shared"])
    keys = [k for k, _ in run.problems]
    assert any("refused mmap changed tr.mapped" in k for k in keys), keys


def test_invariants_catch_resize_left_disabled(monkeypatch):
    from rbmap.impl import mapping

    orig = mapping._Hooks._free_last_mapping

    def keep_disabled(self, cb):
        orig(self, cb)
        cb.resize_disabled += 1

    monkeypatch.setattr(mapping._Hooks, "_free_last_mapping", keep_disabled)
    run = fz.run_impl("rd", ["open nonblock", "map", "unmap"])
    assert any(k == "unmap: resize_disabled" for k, _ in run.problems), run.problems


def _reads_not_counted(monkeypatch):
    """Break impl: the reader consumes events without counting them in read."""
    from rbmap.impl import ringbuf

    orig = ringbuf.RingBufferPerCpu.rb_advance_reader

    def no_count(self):
        read = self.read
        yield from orig(self)
        self.read = read        # consumed, not counted

    monkeypatch.setattr(ringbuf.RingBufferPerCpu, "rb_advance_reader", no_count)


def test_invariants_catch_unaccounted_events(monkeypatch):
    _reads_not_counted(monkeypatch)
    run = fz.run_impl("acct", ["open nonblock", "markers 3", "map", "ioctl"])
    assert any(k == "ioctl: unread_accounting" for k, _ in run.problems), run.problems


def test_the_order_change_exemption_follows_the_buffer_through_a_snapshot(monkeypatch):
    """An order change drops the snapshot buffer's unread events too (K1): the
    counters that come back with the next snapshot swap are exempt, but only on
    that buffer: the other one is still checked."""
    prog = ["markers 1 0", "snapshot", "subbuf_size_kb 8", "snapshot"]
    assert fz.run_impl("k1", prog).problems == []
    assert fz.run_impl("k1", prog + ["reset", "markers 2", "read_raw 8192"]).problems == []
    _reads_not_counted(monkeypatch)
    run = fz.run_impl("k1", ["markers 1 0", "snapshot", "subbuf_size_kb 8",
                             "markers 2", "open nonblock", "read_raw 8192"])
    assert any(k == "read_raw: unread_accounting" for k, _ in run.problems), run.problems


def test_page_decodes_checks_whole_sub_buffers_only(monkeypatch):
    """A read_raw shorter than the sub-buffer shows part of one: the kernel
    stores the lost count after the data it copied, past the bytes this read
    returns (seed 3; the next read returns it), so that is no problem; a whole
    sub-buffer that does not decode is one."""
    from rbmap.impl import ringbuf

    short = ["open nonblock", "subbuf_size_kb 5", "markers 8 4080", "read_raw 4096"]
    run = fz.run_impl("short", short)
    assert "error" in run.objs[-1]["page"] and run.problems == []
    orig = ringbuf.RingBufferPerCpu._read_page_locked

    def commit_too_big(self, data_page, length, full):
        ret = yield from orig(self, data_page, length, full)
        data_page[0].set_commit(data_page[0].commit() + 64)
        return ret

    monkeypatch.setattr(ringbuf.RingBufferPerCpu, "_read_page_locked", commit_too_big)
    run = fz.run_impl("bad", ["open nonblock", "subbuf_size_kb 8", "markers 3",
                              "read_raw 8192"])
    assert [k for k, _ in run.problems][:1] == ["read_raw: page_decodes"]


def test_invariants_catch_a_stale_meta_geometry(monkeypatch):
    from rbmap.impl import mapping

    orig = mapping.write_meta

    def stale(buf, vals):       # a wrong struct length in the meta page
        orig(buf, dict(vals, meta_struct_len=96))

    monkeypatch.setattr(mapping, "write_meta", stale)
    run = fz.run_impl("geo", ["open nonblock", "map"])
    assert any(k == "map: meta_geometry" for k, _ in run.problems), run.problems


def test_invariants_catch_a_crash():
    run = fz.run_impl("crash", ["open nonblock", "map"], check=True)
    assert run.problems == []
    bad = fz.ImplRun([], [("crash: X in f", "impl raised X")])
    assert bad.problems[0][0].startswith("crash")


# ---------------------------------------------------------------- shrinking

def test_shrink_keeps_the_smallest_program_that_still_differs():
    ops = ["open nonblock", "markers 300 40", "map", "meta", "ioctl", "reset", "page",
           "unmap", "snapshot", "close"]
    calls = []

    def test(cands):
        calls.append(len(cands))
        return [any(x.startswith("markers") and int(x.split()[1]) >= 5 for x in c)
                and "reset" in c for c in cands]

    small, rounds = fz.shrink(ops, test, per_round=50)
    assert small == ["markers 8 0", "reset"] or small == ["markers 8", "reset"] or \
        small[-1] == "reset" and len(small) == 2, small
    assert rounds == len(calls) and rounds <= 40
    # deterministic
    assert fz.shrink(ops, test, per_round=50)[0] == small


def test_candidates_are_smaller_and_unique():
    ops = ["open nonblock", "markers 16 8", "map"]
    cands = fz.candidates(ops)
    assert len(cands) == len({tuple(c) for c in cands})
    assert ops not in cands
    assert ["open nonblock"] in cands and ["markers 16 8", "map"] in cands
    assert ["open nonblock", "markers 8 8", "map"] in cands
    assert ["subbuf_size_kb 5"] in fz.candidates(["subbuf_size_kb 0x5"])   # hex: decimal


def test_candidates_keeping_the_last_operation_never_drop_it():
    ops = ["open nonblock", "map", "markers 16 8", "reset", "ioctl"]
    cands = fz.candidates(ops, keep_last=True)
    assert cands and all(c[-1].split()[0] == "ioctl" for c in cands)
    assert ["ioctl"] in cands and ["markers 16 8", "reset", "ioctl"] in cands
    assert all(len(c) < len(ops) or c[2] != ops[2] for c in cands)
    assert fz.candidates(["ioctl"], keep_last=True) == []     # nothing smaller
    assert fz.candidates(["map", "ioctl"], keep_last=True) == [["ioctl"]]


def test_shrink_many_makes_one_call_per_round_for_all_programs():
    """Two programs shrink side by side: every call holds candidates of each
    program still shrinking; a verdict k cuts the candidate to its first k ops."""
    progs = [(["open nonblock", "markers 300", "map", "snapshot", "ioctl", "page"], False),
             (["map", "reset", "markers 5", "unmap", "meta"], True)]
    calls = []

    def test(chunk):
        calls.append(sorted({i for i, _c in chunk}))
        out = []
        for i, c in chunk:
            if i == 0:      # shows at its "snapshot": what follows can go
                out.append(c.index("snapshot") + 1 if "snapshot" in c else None)
            else:
                out.append("reset" in c and c[-1] == "meta")
        return out

    res = fz.shrink_many(progs, test, per_round=200)
    assert [r[0] for r in res] == [["snapshot"], ["reset", "meta"]]
    assert len(calls) == max(r[1] for r in res) < sum(r[1] for r in res)
    assert calls[0] == [0, 1]


def test_shrink_merges_the_reductions_one_round_found():
    """Removals that each keep the difference are tried all at once in the next
    round: four needless operations between needed ones go in two rounds, not
    four."""
    need = ["map", "reset", "snapshot", "ioctl", "meta"]
    ops = ["map", "unmap", "reset", "close", "snapshot", "fork", "ioctl", "page", "meta"]
    calls = []

    def test(cands):
        calls.append(len(cands))
        return [all(x in c for x in need) and c[-1] == "meta" for c in cands]

    small, rounds = fz.shrink(ops, test, per_round=500, keep_last=True)
    assert small == need
    assert rounds == 3                  # singles found, merged, nothing smaller
    assert fz._merged(ops, [(frozenset({1}), ()), (frozenset({3}), ()),
                            (frozenset(), ((7, "page 0"),))]) == \
        ["map", "reset", "snapshot", "fork", "ioctl", "page 0", "meta"]


def test_generator_keeps_private_writable_mappings_within_the_machine():
    """A rw private mapping larger than the guest's memory fails in VM accounting
    (-ENOMEM) before the file sees it: the generator does not draw one."""
    lines = [line.split() for b in range(3) for p in fz.generate(1, b, 150) for line in p
             if line.startswith("trymap")]
    assert any(w[1] == str(1 << 30) for w in lines)
    assert any(w[3:] == ["rw", "private"] for w in lines)
    assert not any(w[3:] == ["rw", "private"] and int(w[1]) >= 1 << 28 for w in lines)


# ---------------------------------------------------------------- the pipeline

def _fake_kernel(mutate):
    """A kernel back end that is impl with one behaviour changed."""
    def run(named, timeout=None):
        outs = []
        for name, ops in named:
            objs = fz.run_impl(name, ops, check=False).objs
            outs.append([mutate(dict(o)) for o in objs])
        return fz.KernelBatch(outs, 0.1, "fake-6.12")
    return run


def _snapshot_refused(o):
    if o.get("op") == "snapshot":
        o["rc"] = -16
    return o


def test_fuzzer_finds_shrinks_and_prints_a_difference():
    logs = []
    fuzzer = fz.Fuzzer(5, ["impl", "kernel"], budget=60, batch=30, max_programs=30,
                       kernel_runner=_fake_kernel(_snapshot_refused), log=logs.append)
    rep = fuzzer.run()
    assert rep.programs == 30 and rep.boots >= 2
    kinds = [d for d in rep.differences if d.kind == "kernel"]
    assert [d.signature for d in kinds] == ["snapshot: rc"]
    d = kinds[0]
    assert d.minimal == ["snapshot"]
    text = d.scenario_text("fuzz_5_1")
    assert scn.parse(text)[0].ops[0].name == "snapshot"
    assert "rc: kernel=-16 impl=0" in text
    assert any("shrink round" in m for m in logs)


def _reset_and_snapshot_refused(o):
    if o.get("op") in ("snapshot", "reset"):
        o["rc"] = -16
    return o


def test_fuzzer_cuts_at_the_difference_and_shrinks_all_in_the_same_boots():
    """Every differing program is first cut after the step that differs; the
    differences then shrink together, one boot per round."""
    boots = []
    fake = _fake_kernel(_reset_and_snapshot_refused)

    def runner(named, timeout=None):
        boots.append(len(named))
        return fake(named, timeout)

    logs = []
    rep = fz.Fuzzer(5, ["impl", "kernel"], budget=60, batch=30, max_programs=30,
                    kernel_runner=runner, log=logs.append).run()
    kinds = {d.signature: d for d in rep.differences if d.kind == "kernel"}
    assert set(kinds) == {"snapshot: rc", "reset: rc"}
    for sig, d in kinds.items():
        assert d.minimal == [sig.split(":")[0]]
        assert d.keep is not None and d.keep <= len(d.original)
        assert d.original[d.keep - 1].split()[0] == d.minimal[0]
    rounds = [m for m in logs if m.startswith("shrink round")]
    assert len(rounds) == max(d.shrink_rounds for d in kinds.values())
    assert len(rounds) < sum(d.shrink_rounds for d in kinds.values())
    assert rep.shrink_seconds > 0


def test_fuzzer_agrees_with_itself():
    rep = fz.Fuzzer(2, ["impl", "kernel"], budget=60, batch=20, max_programs=20,
                    kernel_runner=_fake_kernel(lambda o: o)).run()
    assert [d for d in rep.differences if d.kind == "kernel"] == []
    assert rep.kernel_programs == 20


def test_fuzz_cli_impl_only():
    res = CliRunner().invoke(main, ["fuzz", "--on", "impl", "--programs", "15",
                                    "--budget", "60", "--seed", "4", "--json"])
    assert res.exit_code in (0, 1), res.output
    out = json.loads(res.stdout)
    assert out["programs"] == 15 and out["seed"] == 4 and out["on"] == ["impl"]
    assert all(d["kind"] == "impl" for d in out["differences"])
    assert (res.exit_code == 1) == bool(out["differences"])


@pytest.mark.parametrize("args,msg", [
    (["--on", "model"], "unknown back end"),
    (["--on", "kernel"], "must include impl"),
    (["--budget", "0"], "--budget must be positive"),
])
def test_fuzz_cli_bad_input(args, msg):
    res = CliRunner().invoke(main, ["fuzz", *args])
    assert res.exit_code == 2
    assert msg in res.output and "Traceback" not in res.output
