"""Semantic mutants of impl and how many the conformance suite kills.

Each mutant is a small, realistic protocol bug written as a source edit of one impl
function (``old`` -> ``new``, exactly one occurrence), applied at run time: the
function's source is edited in memory, compiled in a copy of its module's globals
(inside a class body of the same name, so private names mangle as in the original)
and set on the class or module; :func:`applied` puts the original back.  No impl file
is touched.  A mutant whose ``old`` text is no longer in impl is reported ``stale``.

The suite (:func:`suite`) is the conformance checks of :mod:`rbmap.conform` on small
configurations chosen so that every part of the protocol the harness drives runs:
model paths replayed on impl (upstream and v2, page_events 1 and 2, so pages are
overwritten; two processes that map concurrently), impl's interleavings (upstream
and v2, preemption bound 1), the catching-up reader (GET_READER, trace_pipe_raw
and text trace_pipe reads from another CPU while the writer commits on the reader
page: the swap invariant at every step, nothing read twice or lost uncounted), the
reader library under a concurrent writer (documented and greedy, seeded
schedules; its promises at every return) and in its own OS process (overwrite:
losses reported), and impl's refusal tests (failure atomicity, mapped at
UINT_MAX).  The targeted checks run first.  Optionally impl's own scenario tests
run too (pytest, in-process, with the mutant applied).
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Mutant", "MUTANTS", "applied", "suite", "run_mutants", "StaleMutant"]


class StaleMutant(RuntimeError):
    """The text a mutant edits is not (exactly once) in impl any more."""


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str           # rbmap.impl.<module>
    target: str           # "Class.method" or "function"
    old: str
    new: str
    doc: str
    equivalent: str = ""  # why it cannot be told apart (an equivalent mutant)


def _m(name, module, target, old, new, doc, equivalent=""):
    return Mutant(name, "rbmap.impl." + module, target, old, new, doc, equivalent)


MUTANTS: list[Mutant] = [
    _m("meta_reader_read_unpublished", "mapping", "UpstreamMapping.rb_update_meta_page",
       'vals["reader.read"] = rp.read', 'vals["reader.read"] = vals["reader.read"]',
       "rb_update_meta_page does not publish reader_page->read (the reader offset)"),
    _m("meta_reader_id_stale", "mapping", "UpstreamMapping.rb_update_meta_page",
       'vals["reader.id"] = rp.id', 'vals["reader.id"] = vals["reader.id"]',
       "rb_update_meta_page keeps the old reader.id after a swap"),
    _m("map_vma_length_off_by_one", "mapping", "UpstreamMapping.__rb_map_vma",
       "npages > total - pgoff:", "npages > total - pgoff + 1:",
       "__rb_map_vma accepts a mapping one page longer than the buffer"),
    _m("v2_fault_bound_off_by_one", "mapping", "V2Mapping.map_fault",
       "if pgoff > cb.nr_pages:", "if pgoff > cb.nr_pages + 1:",
       "ring_buffer_map_fault lets index nr_pages + 1 through"),
    _m("unmap_keeps_mapped", "mapping", "UpstreamMapping._unmap_locked",
       "yield from cb.mapped.store(m - 1)", "yield from cb.mapped.store(m)",
       "the last unmap does not decrement mapped"),
    _m("mapped_taken_twice", "mapping", "UpstreamMapping.__rb_inc_dec_mapped",
       "d = 1 if inc else -1", "d = 2 if inc else -1",
       "a second mapping takes the mapped/user_mapped reference twice"),
    _m("get_reader_consumes_one_event", "mapping",
       "UpstreamMapping._get_reader_locked",
       "while cb.reader_page.value.read < reader_size:",
       "for _ in range(1):",
       "GET_READER consumes one event instead of everything committed"),
    _m("get_reader_lost_events_kept", "mapping",
       "UpstreamMapping._get_reader_locked",
       "cb.lost_events = 0\n", "pass\n",
       "GET_READER does not clear cpu_buffer->lost_events after the swap"),
    _m("first_map_no_meta_update", "mapping", "UpstreamMapping.rb_setup_ids_meta_page",
       "write_meta(cb.meta_page.buf, vals)\n        yield from self.rb_update_meta_page(cb)",
       "write_meta(cb.meta_page.buf, vals)",
       "the first map leaves the meta snapshot zeroed (no rb_update_meta_page)"),
    _m("ids_skip_reader", "mapping", "UpstreamMapping.rb_setup_ids_meta_page",
       "ident = 1\n", "ident = 0\n",
       "the ring's IDs start at 0: the head page shares the reader page's ID"),
    _m("old_reader_commit_kept", "ringbuf", "RingBufferPerCpu.rb_get_reader_page",
       "yield from old.commit_set(0)", "yield from old.commit_load()",
       "the old reader page enters the ring with its commit not reset"),
    _m("new_reader_read_kept", "ringbuf", "RingBufferPerCpu.rb_get_reader_page",
       "head.read = 0", "head.read = head.read",
       "the page swapped in as reader page keeps a stale read offset"),
    _m("last_overrun_not_updated", "ringbuf", "RingBufferPerCpu.rb_get_reader_page",
       "self.last_overrun = overwrite", "pass",
       "lost_events computed but last_overrun not updated"),
    _m("swap_commit_page", "ringbuf", "RingBufferPerCpu.rb_get_reader_page",
       "if commit_page is self.reader_page.value:", "if False:",
       "the reader swaps even when the reader page is the commit page (a page the "
       "writer still owns; reached by a trace_pipe_raw read while a write has "
       "counted its entry and not published it)"),
    _m("read_page_swaps_while_mapped", "ringbuf", "RingBufferPerCpu._read_page_locked",
       "if (read or length < commit - read or reader is commit_page or mapped):",
       "if (read or length < commit - read or reader is commit_page):",
       "a trace_pipe_raw read of a whole page swaps it out while mapped instead of "
       "copying (the mapped page leaves the ring)"),
    _m("reader_ignores_writer_past_end", "ringbuf", "RingBufferPerCpu.rb_get_reader_page",
       "        if reader is not None:\n            yield from spin_until(",
       "        if False:\n            yield from spin_until(",
       "rb_get_reader_page does not wait for a writer whose reservation ran past the "
       "reader page's end to pad it (rb_reset_tail)"),
    _m("pipe_peeks_without_empty_check", "tracepipe", "TracePipe._find_next_entry_inc",
       "if (yield from cb.ring_buffer_empty_cpu()):", "if False:",
       "trace_pipe peeks without ring_buffer_empty_cpu first (rb_get_reader_page "
       "then swaps on a stale commit size and discards committed events)"),
    _m("advance_reader_no_count", "ringbuf", "RingBufferPerCpu.rb_advance_reader",
       "self.read += 1", "self.read += 0",
       "rb_advance_reader does not count consumed events in cpu_buffer->read"),
    _m("tail_update_commit_kept", "ringbuf", "RingBufferPerCpu.rb_tail_page_update",
       "yield from next_page.commit_set(0)", "yield from next_page.commit_load()",
       "rb_tail_page_update does not zero the next page's commit"),
    _m("pages_touched_not_counted", "ringbuf", "RingBufferPerCpu.rb_tail_page_update",
       "yield from self.pages_touched.add_return(1)",
       "yield from self.pages_touched.add_return(0)",
       "a tail move is not counted in pages_touched"),
    _m("overrun_not_counted", "ringbuf", "RingBufferPerCpu.rb_handle_head_page",
       "yield from self.overrun.add_return(entries)",
       "yield from self.overrun.add_return(0)",
       "pushing the head page does not count its entries as overrun"),
    _m("overwrite_flag_ignored", "ringbuf", "RingBufferPerCpu.rb_move_tail",
       "if not (self.buffer.flags & RB_FL_OVERWRITE):", "if True:",
       "RB_FL_OVERWRITE ignored: a full buffer drops events instead of overwriting"),
    _m("commit_not_outermost", "ringbuf", "RingBufferPerCpu.rb_end_commit",
       "if (yield from self.committing.load()) == 1:",
       "if (yield from self.committing.load()) == 0:",
       "rb_end_commit never moves the commit page (tests the wrong nesting level)"),
    _m("empty_check_inverted", "ringbuf", "RingBufferPerCpu.rb_per_cpu_empty",
       "if commit is not head:", "if commit is head:",
       "rb_per_cpu_empty inverts the commit-page-is-head test"),
    _m("resize_while_mapped", "ringbuf", "_resize_locked",
       "if cb.resize_disabled:", "if False:",
       "ring_buffer_resize ignores resize_disabled"),
    _m("swap_cpu_while_mapped", "ringbuf", "ring_buffer_swap_cpu",
       "if ma or mb:", "if False:",
       "ring_buffer_swap_cpu swaps a mapped buffer"),
    _m("v2_reader_page_id_stale", "mapping", "V2Mapping.reader_head_swap",
       'self.set_field(cb, "reader_page", cb.head_page.id)',
       'self.set_field(cb, "reader_page", cb.reader_page.value.id)',
       "rb_meta_page_head_swap publishes the old reader page's ID"),
    _m("v2_get_reader_no_read", "mapping", "V2Mapping.ring_buffer_get_reader_page",
       "reader.read = yield from cb.rb_page_size(reader)",
       "_ = yield from cb.rb_page_size(reader)",
       "the seed's get-reader ioctl does not mark the reader page read"),
    _m("v2_meta_entries_stale", "mapping", "V2Mapping.writer_commit",
       "v = yield from cb.entries.load()", "v = (yield from cb.entries.load()) - 1",
       "the writer copies the entries count before its own increment"),
    _m("v2_unmap_keeps_mapped", "mapping", "V2Mapping._unmap_locked",
       "yield from cb.mapped.store(m - 1)\n        if m - 1 == 0:",
       "yield from cb.mapped.store(m)\n        if m - 1 == 0:",
       "the seed's unmap does not decrement mapped"),
    _m("mapped_check_after_access", "mapping", "UpstreamMapping._get_reader_locked",
       "if not cb.user_mapped:\n            return ENODEV\n        yield from cb.reader_lock.acquire()",
       "yield from cb.reader_lock.acquire()\n        if not cb.user_mapped:\n"
       "            return ENODEV",
       "GET_READER takes reader_lock before checking user_mapped (and returns "
       "holding it)"),
    # failure atomicity: a refused call that leaves a trace
    _m("first_map_error_keeps_resize_disabled", "mapping", "UpstreamMapping._first_map",
       "                cb.resize_disabled -= 1\n            return refs, None",
       "                pass\n            return refs, None",
       "a first mmap refused after the IDs were assigned (its bounds) leaves resize "
       "disabled (the 6.10 behaviour on 6.12)"),
    _m("first_map_error_keeps_ids", "mapping", "UpstreamMapping._first_map",
       "            cb.subbuf_ids = None\n            cb.meta_page.freed = True",
       "            cb.meta_page.freed = True",
       "a refused first mmap keeps the sub-buffer ID table it assigned"),
    _m("mmap_error_keeps_tr_mapped", "tracefs", "Instance.mmap",
       "                self._put_snapshot_map()\n                return rc, None",
       "                return rc, None",
       "a refused mmap keeps the instance's tr->mapped reference (snapshots are "
       "refused for good)"),
    _m("trigger_arms_before_refusal", "tracefs", "Instance._write_trigger",
       "                if self.snapshot == UINT_MAX or self.mapped:\n"
       "                    return EBUSY\n                self.snapshot += 1",
       "                self.snapshot += 1\n"
       "                if self.snapshot - 1 == UINT_MAX or self.mapped:\n"
       "                    return EBUSY",
       "the snapshot trigger counts a snapshot user before it is refused while "
       "mapped (mmap is then refused after the unmap)"),
    _m("resize_refused_after_resizing", "ringbuf", "_resize_locked",
       "    for cb in cpus:\n        if cb.resize_disabled:\n            return EBUSY\n"
       "    for cb in cpus:\n        if nr_pages != cb.nr_pages:\n"
       "            yield from cb.reader_lock.acquire()\n"
       "            cb.resize_pages(nr_pages)\n"
       "            yield from cb.reader_lock.release()\n",
       "    for cb in cpus:\n        if nr_pages != cb.nr_pages:\n"
       "            yield from cb.reader_lock.acquire()\n"
       "            cb.resize_pages(nr_pages)\n"
       "            yield from cb.reader_lock.release()\n"
       "    for cb in cpus:\n        if cb.resize_disabled:\n            return EBUSY\n",
       "ring_buffer_resize resizes, then refuses (-EBUSY) because a mapping "
       "disabled it"),
    _m("order_refused_after_setting", "ringbuf", "_subbuf_order_locked",
       "            return EBUSY\n    old_size = buffer.subbuf_size\n"
       "    buffer.subbuf_order = order\n",
       "            buffer.subbuf_order = order\n            return EBUSY\n"
       "    old_size = buffer.subbuf_size\n    buffer.subbuf_order = order\n",
       "a refused sub-buffer order change has already set the new order"),
    # the reader library (impl/userlib.py)
    _m("lib_setup_from_page_start", "userlib", "TraceReader.look_gen",
       "self.id, self.pos = rid, (0 if self.from_page_start else rread)",
       "self.id, self.pos = rid, 0",
       "the library starts at offset 0 of the reader page, not at reader.read "
       "(re-reads what an earlier reader consumed)"),
    _m("lib_new_page_keeps_pos", "userlib", "TraceReader.look_gen",
       "self.id, self.pos = rid, 0\n            self.log.pages += 1",
       "self.id = rid\n            self.log.pages += 1",
       "a new reader page is read from the old page's position, not from 0"),
    _m("lib_no_more_on_same_page", "userlib", "TraceReader.step_gen",
       "return got, (self.id, self.limit) != before",
       "return got, self.id != before[0]",
       "the library says no more data whenever reader.id did not change (what "
       "GET_READER consumed on the same page is left unread)"),
    _m("lib_old_no_more_rule", "userlib", "TraceReader.step_gen",
       "return got, (self.id, self.limit) != before",
       "return got, self.id != before[0] or self.limit > self.pos",
       "no more data when reader.read equals what was read (the library's rule "
       "before: a GET_READER that consumed the rest of the page stops without "
       "swapping, so the next page's events wait; only a greedy reader reads past "
       "reader.read and tells the difference)"),
    _m("lib_leaves_without_finish", "userlib", "TraceReader.unmap_gen",
       'yield from self.finish_gen()\n            yield from self.port.mark("unmap_data")',
       'yield from self.port.mark("unmap_data")',
       "the library unmaps without reading what GET_READER already consumed for "
       "it (those events are lost, uncounted)"),
    _m("lib_limit_is_commit", "userlib", "TraceReader.look_gen",
       "self.limit = rread",
       "self.limit = (yield from self._commit_word()) & decode.RB_COMMIT_MASK",
       "the documented library reads up to the live commit instead of reader.read "
       "(a reader taking over reads those events again)"),
    _m("lib_missed_flags_ignored", "userlib", "TraceReader._note_flags",
       "if not word & decode.RB_MISSED_EVENTS:",
       "if True:",
       "the library ignores the missed-events flags of a new reader page (losses "
       "are not reported)"),
    _m("inc_mapped_error_path", "mapping", "UpstreamMapping.__rb_inc_dec_mapped",
       "if inc and cb.mapped.value == UINT_MAX:\n            return EBUSY",
       "if inc and cb.mapped.value == UINT_MAX:\n            cb.user_mapped += 1\n"
       "            return EBUSY",
       "the mapped-overflow error path leaves user_mapped incremented (conformance "
       "cannot reach it: mapped never approaches UINT_MAX in a bounded model; "
       "the refusal tests do)"),
]


def _split(target: str):
    if "." in target:
        cls, name = target.split(".", 1)
        return cls, name
    return None, target


def _attr_name(cls: str | None, name: str) -> str:
    if cls and name.startswith("__") and not name.endswith("__"):
        return f"_{cls.lstrip('_')}{name}"
    return name


@contextmanager
def applied(m: Mutant):
    """Apply mutant ``m`` for the duration of the ``with`` block."""
    mod = importlib.import_module(m.module)
    cls_name, name = _split(m.target)
    owner = getattr(mod, cls_name) if cls_name else mod
    attr = _attr_name(cls_name, name)
    orig = owner.__dict__[attr] if cls_name else getattr(mod, attr)
    raw = inspect.getsource(orig)
    if raw.count(m.old) != 1:
        raise StaleMutant(f"{m.name}: {m.target} does not contain the edited text "
                          "exactly once (impl changed?)")
    src = textwrap.dedent(raw.replace(m.old, m.new))
    glb = dict(mod.__dict__)
    if cls_name:
        code = f"class {cls_name}:\n" + textwrap.indent(src, "    ")
        exec(compile(code, f"<mutant {m.name}>", "exec"), glb)
        new = glb[cls_name].__dict__[attr]
    else:
        exec(compile(src, f"<mutant {m.name}>", "exec"), glb)
        new = glb[attr]
    setattr(owner, attr, new)
    try:
        yield
    finally:
        setattr(owner, attr, orig)


# ---------------------------------------------------------------------------
# the suite
# ---------------------------------------------------------------------------

class Check:
    """One conformance check; ``baseline()`` on impl as it is, then ``run()`` per
    mutant (paths that already mismatch on impl are left out, so a kill is a new
    mismatch)."""

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn
        self.known: set = set()
        self.broken = None

    def baseline(self):
        self.broken = self.fn(self.known, True)
        return self.broken

    def run(self):
        return self.fn(self.known, False)


def suite(quick: bool = False) -> list[Check]:
    from rbmap.conform import explore_interleavings, model_for, replay_tree

    def replay(variant, depth, **cfg):
        base = dict(pages=2, page_events=2, events=4, processes=1, nesting=2)
        base.update(cfg)

        def run(known, collect):
            m = model_for(variant, base)
            if collect:
                bad: set = set()
                _, _, mm = replay_tree(m, depth, failing=bad)
                known.update(bad)
                return None       # known mismatches are skipped, not fatal
            _, _, mm = replay_tree(m, depth, skip=frozenset(known))
            if mm is not None:
                return f"step {mm.step} {mm.action}: {mm.kind}: {mm.message}"
            return None
        desc = ",".join(f"{k}={v}" for k, v in cfg.items())
        return Check(f"replay {variant} depth {depth}" + (f" ({desc})" if desc else ""),
                     run)

    def interleave(variant, pb, n):
        def run(known, collect):
            m = model_for(variant)
            out = explore_interleavings(m, pb, n)
            return out.mismatch.message if out.mismatch else None
        return Check(f"interleavings {variant} preemptions {pb}", run)

    def library(client, n, **kw):
        from rbmap.conform import explore_library

        def run(known, collect):
            cfg = dict(pages=2, page_events=2, events=4, processes=1, nesting=2,
                       client=client)
            out = explore_library(model_for("upstream", cfg), client, 2,
                                  schedules=n, seed=1, **kw)
            return out.mismatch.message if out.mismatch else None
        return Check(f"library {client} ({n} schedules)", run)

    def own_process():
        from rbmap.impl.userlib import run_pair

        def run(known, collect):
            res = run_pair(3000, overwrite=True, batch=600, buffer_size_kb=8)
            log = res.log
            if len(set(log.seqs)) != len(log.seqs) or log.seqs != sorted(log.seqs):
                return "the library delivered events twice or out of order"
            if len(log.seqs) + log.lost_reported != res.events or \
                    res.final_meta["overrun"] != log.lost_reported:
                return (f"delivered {len(log.seqs)} + reported lost "
                        f"{log.lost_reported} != written {res.events} (overrun "
                        f"{res.final_meta['overrun']})")
            return None
        return Check("library in its own process (overwrite)", run)

    def catching_up(pb, discarded_ok=True, **kw):
        from functools import partial

        from rbmap.impl import sched
        from rbmap.impl.systems import SwapWatch, catching_up as factory, drain_check

        def run(known, collect):
            res = sched.explore_dfs(factory(**kw), preemption_bound=pb,
                                    observer=SwapWatch(),
                                    check=partial(drain_check,
                                                  discarded_ok=discarded_ok))
            return res.failure
        desc = ",".join(f"{k}={v}" for k, v in kw.items())
        return Check(f"catching-up reader preemptions {pb}"
                     + (f" ({desc})" if desc else ""), run)

    if quick:
        return [replay("upstream", 10), replay("v2", 10), catching_up(1),
                library("documented", 40)]
    # the targeted checks first (seconds each), then the replays and the
    # interleavings (minutes): a mutant is run until the first check kills it
    checks = [
        catching_up(1),
        catching_up(1, False, ops=("read_pipe", "get_reader", "read_pipe"),
                    size=1200, unread=1),
        library("documented", 80),
        library("greedy", 60, takeover=False, last_reader=False),
        own_process(),
        Check("failure atomicity (impl's refusal tests)",
              lambda known, collect: _impl_tests(ATOMICITY_TESTS)),
        replay("upstream", None),
        replay("upstream", 22, page_events=1),
        # no interrupts: the whole tree is small and wraps the ring (an old
        # reader page comes round to be swapped in again)
        replay("upstream", None, page_events=1, nesting=1),
        replay("upstream", 12, page_events=1, processes=2, nesting=1, events=3,
               consumers="concurrent"),
        replay("upstream", 14, pipe_reads=1),
        replay("v2", 16),
        replay("v2", 16, page_events=1, events=3),
        replay("v2", 10, page_events=1, processes=2, nesting=1, events=2,
               consumers="concurrent"),
        interleave("upstream", 1, 400),
        interleave("v2", 1, 400),
    ]
    return checks


#: failure atomicity: every refusal path, mapped at UINT_MAX too
ATOMICITY_TESTS = ["tests/test_impl_atomicity.py", "tests/test_impl_mapping_limits.py"]
IMPL_TESTS = ["tests/test_impl_mapping_limits.py", "tests/test_scenario_acceptance.py",
              "tests/test_scenario_runner.py"]


def in_process() -> list[str]:
    """pytest options that keep a run in this process. A mutant is applied
    here, in memory; the worker processes of pytest-xdist (``-n auto`` in
    pyproject.toml's addopts) would import the code afresh, without it, and
    every mutant would pass their tests."""
    import importlib.util
    return ["-n", "0"] if importlib.util.find_spec("xdist") else []


def _impl_tests(paths) -> str | None:
    import contextlib
    import io
    from pathlib import Path

    import pytest
    root = Path(__file__).resolve().parent.parent
    paths = [str(root / p) for p in paths]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        return f"impl's tests are not here: {', '.join(missing)}"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = pytest.main(["-q", "-x", "-p", "no:cacheprovider", *in_process(),
                          *paths])
    return None if rc == 0 else f"impl's tests failed (pytest exit {int(rc)})"


def run_mutants(names=None, quick: bool = False, impl_tests: bool = False,
                progress=None) -> dict:
    """Run the suite on impl, then on each mutant; a JSON-able summary."""
    t0 = time.perf_counter()
    checks = suite(quick)
    baseline = {c.name: c.baseline() for c in checks}
    chosen = [m for m in MUTANTS if names is None or m.name in names]
    rows = []
    for m in chosen:
        row = {"name": m.name, "target": f"{m.module.rsplit('.', 1)[1]}.{m.target}",
               "doc": m.doc, "status": "survived", "killed_by": [], "detail": ""}
        try:
            with applied(m):
                for c in checks:
                    cname = c.name
                    if baseline[cname] is not None:
                        continue          # already failing on impl itself
                    try:
                        msg = c.run()
                    except Exception as exc:  # the mutant crashed the harness
                        msg = f"{type(exc).__name__}: {exc}"
                    if msg:
                        row["killed_by"].append(cname)
                        row["detail"] = row["detail"] or msg
                        break
                if not row["killed_by"] and impl_tests:
                    msg = _impl_tests(IMPL_TESTS)
                    if msg:
                        row["killed_by"].append("impl tests")
                        row["detail"] = msg
        except StaleMutant as exc:
            row["status"] = "stale"
            row["detail"] = str(exc)
        if row["killed_by"]:
            row["status"] = "killed"
        elif row["status"] == "survived":
            row["detail"] = m.equivalent or "not caught: a hole in the suite"
            if m.equivalent:
                row["status"] = "survived (not exercised)"
        rows.append(row)
        if progress:
            progress(row)
    killed = sum(r["status"] == "killed" for r in rows)
    considered = [r for r in rows if r["status"] in ("killed", "survived")]
    return {
        "mutants": len(rows),
        "killed": killed,
        "survived": [r["name"] for r in rows if r["status"] != "killed"],
        "kill_rate": round(killed / len(considered), 3) if considered else None,
        "kill_rate_all": round(killed / len(rows), 3) if rows else None,
        "baseline_failures": {k: v for k, v in baseline.items() if v},
        "baseline_known_mismatching_paths": {c.name: len(c.known) for c in checks
                                             if c.known},
        "seconds": round(time.perf_counter() - t0, 2),
        "rows": rows,
    }
