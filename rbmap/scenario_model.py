"""``rbmap scenario FILE --on model``: a scenario file run step by step on the model.

The model counts in events of one size: a scenario runs on it when its
``trace_marker`` events all have one length (the marker size rule of
:func:`rbmap.impl.tracefs.marker_event_size` gives the bytes, the sub-buffer size
how many fit a page: the model's ``page_events``; the rest of a page, when 8 bytes
or more, is the writer's padding). Each operation calls the kernel functions the
model has on the model's state, with one writer (nesting 1) and one user-space
process per live mapping, and prints what the model can observe, in the format of
specs/scenarios/FORMAT.md: return codes, the meta page (bytes where the uapi
counts bytes), the decoded sub-buffers and the copies ``read()`` returns, the
values tracefs files read back, and what the kernel logs (``warn`` on every
step and the ``kmsg`` object of the clean-up, from the model's kernel-log flags).

What the model cannot express is refused before anything runs, naming every
operation and its line (:class:`ModelUnsupported`, exit 2): mmap offset and length
validation and VMA surgery (``trymap``, ``partial_munmap``, ``mprotect_write``,
``mremap_grow``: proved for all sizes by ``rbmap abi`` instead), markers of
different lengths in one scenario, ``read_raw`` of less than a sub-buffer, the v2
ABI. Some operations are refused only when they are reached in a state the model
cannot follow (a resize that would change the page count of a buffer that holds
events, a second snapshot): the run stops there with the same error.

This module sits on top of both layers (the scenario parser lives with impl; no
impl state is used). Imports of model internals are deliberate: a scenario drives
the kernel functions directly, without the processes' reader algorithm.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass

from rbmap.impl import scenario as _scn
from rbmap.impl.tracefs import marker_event_size
from rbmap.impl.tracepipe import MARKER_IP_SYMBOL, TRACE_SEQ_BUFFER_SIZE, TraceSeq
from rbmap.model import Config, RingBufferModel, load_variant
from rbmap.model import protocol as P
from rbmap.model.arith import map_vma_pages

__all__ = ["ModelUnsupported", "run_on_model", "UNSUPPORTED"]

PAGE_SIZE = 4096
BUF_PAGE_HDR_SIZE = 16
META_STRUCT_LEN = 80
GET_READER = 0x5220
#: operations the model cannot express, and why
UNSUPPORTED = {
    "partial_munmap": "VMA splitting is not in the model",
    "mprotect_write": "VMA protection changes are not in the model",
    "mremap_grow": "mremap is not in the model",
}


class ModelUnsupported(ValueError):
    """A scenario uses what the model cannot express; the message names it."""


@dataclass
class _Geometry:
    kb: int = 16                  # buffer_size_kb as written
    subbuf_kb: int = 4

    @property
    def subbuf_size(self) -> int:
        pages = -(-self.subbuf_kb * 1024 // PAGE_SIZE)
        order = max(0, (pages - 1).bit_length())
        return PAGE_SIZE << order

    @property
    def capacity(self) -> int:
        return self.subbuf_size - BUF_PAGE_HDR_SIZE

    @property
    def nr_pages(self) -> int:
        return max(2, -(-self.kb * 1024 // self.capacity))


def _order_ok(kb: int) -> bool:
    pages = -(-kb * 1024 // PAGE_SIZE)
    return kb > 0 and pages <= 128


@dataclass
class _Fd:
    nonblock: bool
    rdwr: bool = False
    closed: bool = False    # iter->closed: a forked child's exit flushed the file


def _static_check(sc: _scn.Scenario, source: str) -> tuple[int, int | None, int]:
    """(markers written, their length, most live mappings) of a scenario, or
    :class:`ModelUnsupported` naming every operation the model refuses."""
    problems = []
    total, length, live, most = 0, None, 0, 0
    for op in sc.ops:
        where = f"{source}:{op.line}"
        if op.name in UNSUPPORTED:
            problems.append(f"{where}: '{op.name}': {UNSUPPORTED[op.name]}")
        elif op.name not in _OPS:
            problems.append(f"{where}: '{op.name}': not in the model")
        elif op.name == "markers":
            n = op.values[1] if len(op.values) > 1 else 8
            if length is not None and n != length:
                problems.append(f"{where}: 'markers' of {n} characters after markers of "
                                f"{length}: the model's events have one size")
            length = n
            total += op.values[0]
        elif op.name == "map":
            live += 1
            most = max(most, live)
        elif op.name == "unmap":
            live = max(0, live - 1)
    if problems:
        raise ModelUnsupported(f"the model cannot run scenario {sc.name}: "
                               + "; ".join(problems))
    return total, length, most


class _ModelRunner:
    """One scenario on a fresh model state."""

    def __init__(self, sc: _scn.Scenario, source: str, layout: str):
        self.sc = sc
        self.source = source
        self.layout = layout
        self.total, length, most = _static_check(sc, source)
        self.marker_len = 8 if length is None else length
        self.procs = max(1, most)
        self.geo = _Geometry()
        self.fd: _Fd | None = None
        self.maps: list[int] = []          # process index of each live mapping
        self.written = 0
        self.snapshots = 0
        self.pages_read = 0                # cpu_buffer->pages_read (reader swaps)
        self.pages_lost = 0                # cpu_buffer->pages_lost (head pushes)
        self.pipe: TraceSeq | None = None  # trace_pipe's trace_seq, once opened
        self.swapped_at: int | None = None
        self._build()

    # ---- the model and its geometry ------------------------------------
    def _build(self, created: bool = True) -> None:
        g = self.geo
        size = marker_event_size(self.marker_len)
        k = g.capacity // size
        if k < 1:
            raise ModelUnsupported(f"{self.source}: markers of {self.marker_len} "
                                   f"characters do not fit a {g.subbuf_size}-byte "
                                   "sub-buffer")
        rest = g.capacity - k * size
        variant = load_variant("upstream")
        if self.layout == "6.10":
            variant = variant.with_rules(commit_page_loss="warns")
        self.event_size, self.k, self.pad = size, k, rest if rest >= 8 else 0
        self.m = RingBufferModel(variant, Config.unbounded(
            pages=g.nr_pages, page_events=k, events=max(1, self.total),
            processes=self.procs, nesting=1, padding=rest >= 8))
        s = list(self.m.init_states()[0])
        s[P.SNAPB] = 1
        if created:
            # mkdir allocates the instance at trace_buf_size and the runner shrinks
            # it (rb_remove_pages after the tail page): cpu_buffer->pages is left
            # on the page after the head, where a reset puts the head
            s[P.PAGESP] = s[self.m.NXT + s[P.HEAD]]
        self.s = tuple(s)

    def _fail(self, op: _scn.Op, why: str) -> None:
        raise ModelUnsupported(f"{self.source}:{op.line}: '{op.name}': {why}")

    # ---- conversions -----------------------------------------------------
    def _bytes(self, units: int) -> int:
        """Bytes of ``units`` of a page (events, then the padding unit)."""
        return min(units, self.k) * self.event_size + (self.pad if units > self.k else 0)

    def _meta(self) -> dict:
        s, g = self.s, self.geo
        return {"meta_page_size": g.subbuf_size if self.layout == "6.12" else PAGE_SIZE,
                "meta_struct_len": META_STRUCT_LEN, "subbuf_size": g.subbuf_size,
                "nr_subbufs": g.nr_pages + 1,
                "reader": {"lost_events": s[P.M_LOST], "id": s[P.M_RID],
                           "read": self._bytes(s[P.M_RREAD])},
                "flags": 0, "entries": s[P.M_ENTRIES], "overrun": s[P.M_OVERRUN],
                "read": s[P.M_READ]}

    def _events(self, first: int, n: int, pad: bool) -> list[dict]:
        size = self.event_size
        out = [{"offset": i * size, "type": "data", "length": size}
               for i in range(n)]
        if pad:
            out.append({"offset": n * size, "type": "padding", "length": self.pad})
        return out

    def _page(self, sub_id: int) -> dict:
        m, s = self.m, self.s
        p = next(q for q in range(m.N + 1) if s[m.IDS + q] == sub_id)
        commit = s[m.PCOMMIT + p]
        n = min(commit, m.K)
        flag = s[P.RFLAG] if p == s[P.READER] else 0
        return {"id": sub_id, "commit": self._bytes(commit),
                "missed_events": bool(flag), "missed_stored": bool(flag >> 1),
                "lost": (flag >> 1) or None,
                "events": self._events(0, n, commit > m.K)}

    # ---- stepping the model ------------------------------------------------
    def _writer_step(self, name: str | None = None) -> None:
        for a, t in self.m.successors(self.s):
            if a[0] == "writer" and (name is None or a[1] == name):
                if a[1] == "move_tail" and t[P.HEAD] != self.s[P.HEAD]:
                    self.pages_lost += 1
                self.s = t
                return
        raise AssertionError(f"the writer has no step in {self.m.view(self.s)}")

    def _marker(self) -> None:
        self._writer_step("write_begin")
        while self.s[P.WDEPTH]:
            self._writer_step()
        self.written += 1

    def _apply(self, l: list) -> None:
        if l[P.READER] != self.s[P.READER]:
            self.pages_read += 1
        self.s = tuple(l)

    def _empty(self) -> bool:
        return self.m._empty(list(self.s))

    def _watermark(self) -> bool:
        """ring_buffer_wait's condition for GET_READER on a blocking fd
        (buffer_percent 50): rb_watermark_hit / full_hit."""
        s = self.s
        if self._empty():
            return False
        if s[P.READER] == s[P.COMMITP]:
            return False
        cnt, lost, read = s[P.TOUCHED], self.pages_lost, self.pages_read
        dirty = 0 if cnt < lost else max(0, cnt - lost - read)
        return (dirty + 1) * 100 >= 50 * self.m.N

    # ---- operations: each returns (rc, extra fields) -------------------------
    def op_open(self, op, flags):
        self.fd = _Fd(nonblock="nonblock" in flags, rdwr="rdwr" in flags)
        return 0, {}

    def op_trymap(self, op, length, offset, prot, share):
        """One mmap attempt, unmapped again when it succeeds: the VFS checks
        (a shared writable mapping of a read-only fd: -EACCES; offset and length),
        then tracing_buffers_mmap as :meth:`RingBufferModel._map` /
        ``_map_refused`` with __rb_map_vma's verdict (model.arith.map_vma_pages:
        -EPERM for a writable, executable or private mapping, -EINVAL for a range
        outside the layout)."""
        if self.fd is None:
            return -_errno.EBADF, {}
        if prot == "rw" and share == "shared" and not self.fd.rdwr:
            return -_errno.EACCES, {}
        if offset % PAGE_SIZE or length <= 0:
            return -_errno.EINVAL, {}
        l = list(self.s)
        if prot != "r" or share != "shared":
            rc = -_errno.EPERM
        else:
            order = (self.geo.subbuf_size // PAGE_SIZE).bit_length() - 1
            pages = map_vma_pages(self.layout, self.m.N, order, offset // PAGE_SIZE,
                                  -(-length // PAGE_SIZE), limit=1)
            rc = pages if isinstance(pages, int) else 0
        if rc:
            rc = self.m._map_refused(l, rc)
        else:
            rc = self.m._map(l)
            if rc == 0:
                self.m._unmap(l, 0)
        self._apply(l)
        return rc, {}

    def op_close(self, op):
        if self.fd is None:
            return -_errno.EBADF, {}
        self.fd = None
        return 0, {}

    def op_markers(self, op, n, length=8):
        for _ in range(n):
            self._marker()
        return 0, {}

    def op_map(self, op):
        """Two mmaps, as the runner makes them (the meta area, then the
        sub-buffers): two VMAs, each counted in user_mapped and tr->mapped."""
        if self.fd is None:
            return -_errno.EBADF, {}
        l = list(self.s)
        rc = self.m._map(l)
        if rc:
            return rc, {}
        self.m._map(l)
        busy = set(self.maps)
        i = next(i for i in range(self.m.P) if i not in busy)
        l[self.m.PROC + P.NPF * i + P.PH] = P.P_MAPPED
        self.maps.append(i)
        self._apply(l)
        return 0, {"meta": self._meta()}

    def op_unmap(self, op):
        if not self.maps:
            return -_errno.EINVAL, {}
        i = self.maps.pop()
        l = list(self.s)
        l[self.m.PROC + P.NPF * i + P.PH] = P.P_IDLE
        self.m._unmap(l, i)         # the sub-buffers' VMA
        self.m._unmap(l, i)         # the meta area's
        self._apply(l)
        return 0, {}

    def _get_reader(self) -> int:
        if not self.fd.nonblock and not self._watermark():
            return -_errno.EINTR           # nobody wakes it: the runner's alarm
        l = list(self.s)
        rc = self.m._ioctl(l, 0)
        self._apply(l)
        return rc

    def op_ioctl(self, op):
        if self.fd is None:
            return -_errno.EBADF, {}
        rc = self._get_reader()
        if rc == 0 and self.maps:
            return 0, {"meta": self._meta()}
        return rc, {}

    def op_ioctl_raw(self, op, cmd):
        if self.fd is None:
            return -_errno.EBADF, {}
        if cmd == GET_READER:
            return self._get_reader(), {}
        return (-_errno.ENOTTY if cmd else 0), {}

    def op_meta(self, op):
        if not self.maps:
            return -_errno.EFAULT, {}
        return 0, {"meta": self._meta()}

    def op_page(self, op, sub_id=None):
        if not self.maps:
            return -_errno.EFAULT, {}
        if sub_id is None:
            sub_id = self.s[P.M_RID]
        if sub_id >= self.m.N + 1:
            return -_errno.EINVAL, {}
        return 0, {"page": self._page(sub_id)}

    def op_read_raw(self, op, nbytes):
        if self.fd is None:
            return -_errno.EBADF, {}
        g = self.geo
        if nbytes < g.subbuf_size:
            self._fail(op, f"a read of {nbytes} bytes takes part of a "
                           f"{g.subbuf_size}-byte page; the model reads whole pages")
        l = list(self.s)
        out = self.m._read_page(l)
        if out is None:
            # nothing to hand out; a swap rb_get_reader_page made stays. A file a
            # forked child's exit flushed (iter->closed) reads as its end.
            self._apply(l)
            if self.fd.closed:
                return 0, {}
            return (-_errno.EAGAIN if self.fd.nonblock else -_errno.EINTR), {}
        first, n, pad, missed, carried = out
        size = n * self.event_size + (self.pad if pad else 0)
        stored = bool(missed) and g.capacity - size >= 8
        self._apply(l)
        return g.subbuf_size, {"page": {
            "id": None, "commit": size, "missed_events": bool(missed or carried),
            "missed_stored": stored, "lost": missed if stored else None,
            "events": self._events(first, n, pad)}}

    def op_read_pipe(self, op, nbytes):
        """One read() of per_cpu/cpu0/trace_pipe (opened by the first one,
        O_NONBLOCK), as tracing_read_pipe runs it: what the last read formatted
        beyond its count is all a read returns; else lines are formatted into
        the trace_seq one event at a time: the model's ring_buffer_peek (which may
        swap in a page and set lost_events), the line ("CPU:0 [LOST n EVENTS]"
        first when the peek returned a loss, then the marker's 72 + n bytes,
        piece by piece as print_trace_line writes them: impl.tracepipe.TraceSeq
        keeps a printf piece only with a byte to spare), and, when it fits,
        ring_buffer_consume; a line that does not fit is left unconsumed (alone
        in the trace_seq: consumed as [LINE TOO BIG]); the read stops once its
        count (capped at the trace_seq's size - 1) is formatted."""
        if self.pipe is None:
            self.pipe = TraceSeq()
        seq = self.pipe
        rc, data = seq.to_user(nbytes)
        if rc != -_errno.EBUSY:
            return rc, {"pipe": _scn.pipe_summary(data)}
        seq.init()
        while True:                                 # waitagain
            if self._empty():
                return -_errno.EAGAIN, {}
            cnt = min(nbytes, TRACE_SEQ_BUFFER_SIZE - 1)
            seq.init()
            while True:
                l = list(self.s)
                R = self.m._text_peek(l)
                if R < 0:
                    self._apply(l)
                    break
                save = seq.len
                if not self._print_line(seq, l[P.LOSTEV]):
                    if save == 0:
                        seq.full = False
                        seq.puts("[LINE TOO BIG]\n")
                        self.m._text_consume(l, R)
                    else:
                        seq.truncate(save)
                    self._apply(l)
                    break
                self.m._text_consume(l, R)
                self._apply(l)
                if seq.used() >= cnt:
                    break
            rc, data = seq.to_user(cnt)
            if seq.readpos >= seq.used():
                seq.init()
            if rc != -_errno.EBUSY:
                return rc, {"pipe": _scn.pipe_summary(data)}

    def _print_line(self, seq: TraceSeq, lost: int) -> bool:
        """print_trace_line of a trace_marker event (the pieces and their lengths;
        the characters do not matter): False for TRACE_TYPE_PARTIAL_LINE."""
        if lost:
            seq.printf(f"CPU:0 [LOST {lost} EVENTS]\n")
            if seq.full:
                return False
        seq.printf(" " * 25)            # comm-pid
        seq.printf("[000] ")
        seq.printf("...")
        seq.putc(".")
        seq.putc(".")
        seq.printf(" " * 13)            # " %5lu.%06lu"
        seq.puts(": ")
        if seq.full:
            return False
        seq.puts(MARKER_IP_SYMBOL)
        seq.printf(": " + "x" * self.marker_len + "\n")
        return not seq.full

    def op_snapshot_trigger(self, op, how):
        """A snapshot trigger on sched_switch: installing it arms a snapshot user
        (tracing_arm_snapshot: -EBUSY while tr->mapped; the same trigger twice:
        -EEXIST); removing it disarms. The swaps it would make at each context
        switch are not modelled."""
        l = list(self.s)
        rc = self.m._trigger(l, "trigger_on" if how == "on" else "trigger_off")
        if rc == 1:
            rc = -_errno.EEXIST
        self.s = tuple(l)
        return rc, {}

    def op_reset(self, op):
        l = list(self.s)
        self.m._clear_buffer(l)
        self.pages_read = self.pages_lost = 0
        self.s = tuple(l)
        return 0, {}

    def op_snapshot(self, op):
        l = list(self.s)
        if self.snapshots and not (l[P.TRMAP] > 0):
            self._fail(op, "a second snapshot brings the first buffer back; the "
                           "model keeps one buffer")
        rc = self.m._snapshot(l, "snapshot")
        if rc == 0:
            self.snapshots += 1
            self.pages_read = self.pages_lost = 0
            if l[P.FLAGS] & ~self.s[P.FLAGS] & P.F_SWAPPED:
                self.swapped_at = op.line
        self.s = tuple(l)
        return rc, {}

    def _child_exits(self) -> None:
        """The child's exit closes its copies of the fds: tracing_buffers_flush
        sets iter->closed on the file both share (until a new open)."""
        if self.fd is not None:
            self.fd.closed = True

    def op_fork(self, op):
        # VM_DONTCOPY: the child never inherits the mapping
        self._child_exits()
        return 0, {"child_mapped": False}

    def op_dofork_fork(self, op):
        if not self.maps:
            return -_errno.EFAULT, {}
        l = list(self.s)
        self.m._vma_open(l)                  # the child's copy of the meta VMA
        self.m._unmap(l, self.maps[-1])      # the child exits: its copy closes
        self.s = tuple(l)
        self._child_exits()
        return 0, {}

    def _resize(self, op, kb, subbuf: bool):
        g = self.geo
        if not subbuf and kb == 0:
            return -_errno.EINVAL, self._size_value(subbuf)   # tracing_entries_write
        new = _Geometry(g.kb if subbuf else kb, kb if subbuf else g.subbuf_kb)
        if subbuf and not _order_ok(kb):
            return -_errno.EINVAL, self._size_value(subbuf)
        same = (new.subbuf_size == g.subbuf_size if subbuf
                else new.nr_pages == g.nr_pages)
        if same:
            g.kb, g.subbuf_kb = new.kb, new.subbuf_kb
            return 0, self._size_value(subbuf)
        l = list(self.s)
        rc = self.m._resize(l, "resize")
        if rc:
            return rc, self._size_value(subbuf)
        if self.s[P.MAPPED] > 0 or self._live():
            self._fail(op, "a resize with a VMA the kernel does not count")
        self.geo = new
        if subbuf and not self.written and not self.snapshots:
            # ring_buffer_subbuf_order_set: all new pages, head = tail = commit =
            # cpu_buffer->pages (nothing in it yet, so nothing else to carry)
            self._build(created=False)
            return 0, self._size_value(subbuf)
        size = marker_event_size(self.marker_len)
        k = new.capacity // size if subbuf else None
        if k is not None:
            if k < 1:
                self._fail(op, "the markers do not fit the new sub-buffer")
            rest = new.capacity - k * size
            if (rest >= 8) != self.m.padding:
                self._fail(op, "the new sub-buffer size changes whether pages end "
                               "in padding; the model's padding is a constant")
            self.k, self.pad = k, rest if rest >= 8 else 0
        if subbuf:
            # ring_buffer_subbuf_order_set keeps the buffer's capacity
            nr = max(2, -(-(g.capacity * self.m.N) // new.capacity))
            self.geo.kb = nr * new.capacity // 1024
        self.m, self.s = self.m.resized(self.s, pages=new.nr_pages if not subbuf
                                        else nr, page_events=k)
        self.pages_read = self.pages_lost = 0 if subbuf else self.pages_read
        return 0, self._size_value(subbuf)

    def _live(self) -> int:
        return self.m._live_vmas(list(self.s))

    def _size_value(self, subbuf: bool) -> dict:
        g = self.geo
        if subbuf:
            return {"value": g.subbuf_size // 1024}
        return {"value": g.nr_pages * g.capacity // 1024}

    def op_buffer_size_kb(self, op, kb):
        return self._resize(op, kb, False)

    op_resize_kb = op_buffer_size_kb

    def op_subbuf_size_kb(self, op, kb):
        return self._resize(op, kb, True)

    op_subbuf_resize_kb = op_subbuf_size_kb

    # ---- running -------------------------------------------------------------
    def warnings(self, before: tuple) -> list[dict]:
        """The kernel-log lines a step added: its newly set kernel-log flags, in
        FORMAT.md's ``warn`` shape. The count of a loss is the one the step's
        swap found: the loss at the swap, or what lost_events held before it."""
        new = self.s[P.FLAGS] & ~before[P.FLAGS]
        missed = self.s[P.GAP] >> 1 or before[P.LOSTEV]
        out = []
        for bit, kind, fn, msg, _ in P.KERNEL_LOG:
            if new & bit:
                if bit == P.K_READER_ON_COMMIT and self.m.commit_page_warns:
                    msg = ""            # 6.10: WARN_ON_ONCE(missed_events)
                out.append({"kind": kind, "function": fn,
                            "message": msg.format(missed=missed)})
        return out

    def dispatch(self, op: _scn.Op) -> tuple[int, dict]:
        if self.swapped_at is not None:
            self._fail(op, f"the snapshot at line {self.swapped_at} swapped the "
                           "buffer a process maps out of the instance; the model "
                           "follows one buffer")
        handler = getattr(self, f"op_{op.name}")
        if op.name == "open":
            return handler(op, op.values)
        return handler(op, *op.values)

    def cleanup(self) -> None:
        if self.swapped_at is not None:
            return
        while self.maps:
            self.op_unmap(None)
        self.fd = None


_OPS = {name[3:] for name in vars(_ModelRunner) if name.startswith("op_")}


def run_on_model(text_or_path, layout: str = "6.12", abi: str = "upstream",
                 **opts) -> list[dict]:
    """Run a scenario file (path or text) on the model: one dict per operation."""
    if opts:
        raise ModelUnsupported(f"model: unknown option(s) {', '.join(sorted(opts))}")
    if abi != "upstream":
        raise ModelUnsupported("model: the scenario back end runs the upstream ABI "
                               "only (the seed's header is not in its output)")
    if layout not in ("6.12", "6.10"):
        raise ModelUnsupported(f"model: --layout must be 6.12 or 6.10, not {layout!r}")
    scenarios = _scn.load(text_or_path)
    source = str(text_or_path) if _scn._looks_like_path(text_or_path) else "<scenario>"
    problems = []
    for sc in scenarios:            # refuse the file before anything runs
        try:
            _static_check(sc, source)
        except ModelUnsupported as exc:
            problems.append(str(exc))
    if problems:
        raise ModelUnsupported("; ".join(problems))
    out: list[dict] = []
    for sc in scenarios:
        out += _run_one(sc, source, layout)
    return out


def _run_one(sc: _scn.Scenario, source: str, layout: str) -> list[dict]:
    r = _ModelRunner(sc, source, layout)
    out = [{"step": 1, "scenario": sc.name, "op": "scenario", "args": [sc.name],
            "rc": 0, "warn": []}]
    for step, op in enumerate(sc.ops, 2):
        before = r.s
        rc, extra = r.dispatch(op)
        obj = {"step": step, "scenario": sc.name, "op": op.name,
               "args": list(op.args), "rc": rc}
        obj.update(extra)
        obj["warn"] = r.warnings(before)
        out.append(obj)
    before = r.s
    r.cleanup()
    late = r.warnings(before)
    if late:
        out.append({"scenario": sc.name, "op": "kmsg", "warn": late})
    return out
