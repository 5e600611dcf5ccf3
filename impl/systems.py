"""Small concurrent systems over the ring buffer, for the schedulers of sched.py.

A *factory* builds a fresh system and its tasks each time it is called (the
explorers re-execute from scratch).  :func:`writer_reader` is the standard one:
a mapped per-CPU buffer, a writer on CPU 0, optionally a nested writer (an
interrupt on top of it), and a reader on another CPU doing GET_READER (upstream
``ring_buffer_map_get_reader``, v2 ``ring_buffer_get_reader_page``).  Every event
carries a sequence number, so :func:`drain_check` can tell after a schedule
whether each event was read at most once and every event is either read or
counted as overrun.
"""

from __future__ import annotations

import re
import struct

from . import event as ev
from .mapping import (VM_MAYSHARE, VM_READ, VM_SHARED, UpstreamMapping, V2Mapping,
                      page_bytes)
from .ringbuf import TraceBuffer
from .sched import SHARED, Task, run_plain
from .tracepipe import TracePipe

__all__ = ["payload", "seq_of", "page_seqs", "writer_reader", "drain_check",
           "KNOWN_WARNINGS", "LibraryPort", "catching_up", "SwapWatch",
           "READER_OPS", "marker_payload"]

#: kernel log lines (prefixes) a schedule may legitimately reach (see the tests
#: that pin them): 6.12.117's commit overrun notice and its "Reader on commit"
#: warning, 6.10's WARN_ON_ONCE(missed_events)
KNOWN_WARNINGS = ("ring_buffer_map_get_reader: Ring buffer [0] commit overrun lost ",
                  "WARNING: ring_buffer_map_get_reader: Reader on commit with ",
                  "WARNING: ring_buffer_map_get_reader")


def payload(seq: int, size: int = 1000) -> bytes:
    return struct.pack("<I", seq) + bytes(size - 4)


#: a trace_marker event's payload: struct trace_entry (type TRACE_PRINT = 5,
#: flags, preempt count, pid), the ip, then the string
_PRINT_HDR = struct.Struct("<HBBiQ")
_MARKER_SEQ = re.compile(rb"#(\d{8})")


def marker_payload(seq: int, size: int = 1000) -> bytes:
    """A numbered trace_marker event of ``size`` payload bytes (``#%08d``): what
    the text reader (trace_pipe) prints as a line."""
    head = _PRINT_HDR.pack(5, 0, 0, 1, 0) + b"#%08d\n" % seq
    return head + bytes(size - len(head))


def seq_of(event: ev.Event) -> int:
    """The sequence number of a :func:`payload` or :func:`marker_payload` event."""
    p = bytes(event.payload)
    if p[:2] == b"\x05\x00":
        m = _MARKER_SEQ.match(p, _PRINT_HDR.size)
        if m:
            return int(m.group(1))
    return struct.unpack_from("<I", p)[0]


def page_seqs(bpage, lo: int, hi: int) -> list[int]:
    """Sequence numbers of the data events starting in [lo, hi) of a buffer_page."""
    d = ev.decode_page(bytes(bpage.page.buf))
    return [seq_of(e) for e in d.events if e.kind == "data" and lo <= e.offset < hi]


def _get_reader(m, cb):
    if isinstance(m, V2Mapping):
        return (yield from m.ring_buffer_get_reader_page(cb))
    return (yield from m.ring_buffer_map_get_reader(cb))


def writer_reader(*, prefill: int = 0, nested: bool = True, reader: bool = True,
                  abi: str = "upstream", nr_pages: int = 2, size: int = 1000,
                  overwrite: bool = True, page_size: int = 4096,
                  kernel: str = "6.12.117"):
    """A factory: mapped buffer, *prefill* events, writer (+ irq) (+ reader)."""

    def factory():
        b = TraceBuffer(nr_pages, page_size=page_size, overwrite=overwrite,
                        kernel=kernel)
        cb = b.buffers[0]
        m = V2Mapping() if abi == "v2" else UpstreamMapping()
        cb.mapping = m
        if abi == "v2":
            rc = run_plain(m.ring_buffer_map(cb))
        else:
            rc, _ = run_plain(m.ring_buffer_map(cb, 0, 1,
                                                VM_READ | VM_SHARED | VM_MAYSHARE))
        assert rc == 0
        for i in range(prefill):
            run_plain(cb.ring_buffer_write(payload(i, size)))
        system = {"buffer": b, "cb": cb, "mapping": m, "seen": [],
                  "written": prefill}

        def writer(s):
            rc = yield from s["cb"].ring_buffer_write(payload(1000, size))
            s["written"] += rc == 0
            return rc

        def irq(s):
            rc = yield from s["cb"].ring_buffer_write(payload(2000, size))
            s["written"] += rc == 0
            return rc

        tasks = [Task("writer", writer)]
        if nested:
            tasks.append(Task("irq", irq, interrupts="writer"))
        if reader:
            tasks.append(Task("reader", _get_reader_op))
        return system, tasks

    return factory


# ---------------------------------------------------------------------------
# a reader catching up with the writer
# ---------------------------------------------------------------------------

def _read_page(s):
    """A trace_pipe_raw read of one page (ring_buffer_read_page, copying while
    mapped); the events copied out were consumed."""
    cb, b = s["cb"], s["buffer"]
    spare = [s["spare"]]
    ret = yield from cb.ring_buffer_read_page(spare, b.subbuf_bytes)
    if ret >= 0:
        out = spare[0]
        d = ev.decode_page(bytes(out.buf))
        s["seen"] += [seq_of(e) for e in d.events if e.kind == "data"]
        s["spare"] = b.new_bpage().page if out is not s["spare"] else out
    return ret


def _get_reader_op(s):
    """GET_READER (either ABI); the events it consumed."""
    cb = s["cb"]
    old = cb.reader_page.value
    old_read = old.read
    rc = yield from _get_reader(s["mapping"], cb)
    rp = cb.reader_page.value
    s["seen"] += page_seqs(rp, old_read if rp is old else 0, rp.read)
    return rc


def _read_pipe(s):
    """A read() of the per-CPU text trace_pipe (tracing_read_pipe: peek, format,
    consume, event by event, reader_lock taken per access); the events whose
    lines it returned were consumed."""
    rc, data = yield from s["pipe"].read_gen(8191)
    if rc > 0:
        s["seen"] += [int(m) for m in _MARKER_SEQ.findall(data)]
    return rc


#: the reader's operations (from another CPU): name -> generator function(system)
READER_OPS = {"get_reader": _get_reader_op, "read_page": _read_page,
              "read_pipe": _read_pipe}


def catching_up(*, ops=("read_page", "get_reader", "read_pipe", "get_reader",
                         "read_page"),
                prefill: int = 1, unread: int = 0, writes: int = 3,
                nested: bool = True, nr_pages: int = 2, size: int = 1800,
                overwrite: bool = True, page_size: int = 4096):
    """A factory: a mapped buffer whose reader page is the commit page (``prefill``
    events written, then one GET_READER took their page and consumed them, then
    ``unread`` more written on it), a
    writer (+ an interrupt write) reserving and committing on it, and a reader on
    another CPU running ``ops`` (:data:`READER_OPS`: GET_READER, trace_pipe_raw
    reads, text trace_pipe reads) one after another.  Events are numbered
    trace_marker events; ``size`` 1800: two of them a sub-buffer."""
    for op in ops:
        if op not in READER_OPS:
            raise ValueError(f"unknown reader operation {op!r} "
                             f"(one of {', '.join(READER_OPS)})")

    def factory():
        b = TraceBuffer(nr_pages, page_size=page_size, overwrite=overwrite)
        cb = b.buffers[0]
        m = UpstreamMapping()
        cb.mapping = m
        rc, _ = run_plain(m.ring_buffer_map(cb, 0, 1, VM_READ | VM_SHARED | VM_MAYSHARE))
        assert rc == 0
        system = {"buffer": b, "cb": cb, "mapping": m, "seen": [], "written": 0,
                  "spare": b.new_bpage().page,
                  "pipe": TracePipe(lambda: cb, nonblock=True)}
        for i in range(prefill):
            run_plain(cb.ring_buffer_write(marker_payload(i, size)))
            system["written"] += 1
        run_plain(_get_reader_op(system))
        for i in range(prefill, prefill + unread):
            run_plain(cb.ring_buffer_write(marker_payload(i, size)))
            system["written"] += 1

        def writes_of(first, n):
            def task(s):
                for k in range(n):
                    rc = yield from s["cb"].ring_buffer_write(
                        marker_payload(first + k, size))
                    s["written"] += rc == 0
            return task

        def reader(s):
            for op in ops:
                yield from READER_OPS[op](s)

        tasks = [Task("writer", writes_of(1000, writes))]
        if nested:
            tasks.append(Task("irq", writes_of(2000, 1), interrupts="writer"))
        tasks.append(Task("reader", reader))
        return system, tasks

    return factory


def _seqs_between(bpage, lo: int, hi: int) -> list[int]:
    """Sequence numbers of the data events in bytes [lo, hi) of a page's data,
    whatever its commit word says now."""
    data = memoryview(bpage.page.buf)[ev.BUF_PAGE_HDR_SIZE:]
    out, off = [], lo
    while off < hi:
        e = ev.decode_event(data, off, hi)
        if e.length <= 0:
            break
        if e.kind == "data":
            out.append(seq_of(e))
        off += e.length
    return out


class SwapWatch:
    """An observer for the catching-up reader, run after every step.

    Invariant: no reader swap takes the page the writer is committing to (the
    page that leaves the reader slot is neither the commit page nor the tail
    page), and while the buffer is mapped no sub-buffer leaves it (a
    trace_pipe_raw read copies instead of handing the page out).  It also
    records, in ``system["discarded"]``, the committed events a
    swap threw away unread: those on the old reader page between its ``read``
    and the largest commit it showed while it was the reader page (the finding
    of README's list: rb_get_reader_page compares ``read`` with a commit size it
    loaded before a writer on another CPU filled the page and moved its commit
    page on).  Counts: ``swaps``, ``swaps_beside_writer`` (a write was in
    flight), ``schedules_discarding``.
    """

    def __init__(self):
        self.swaps = 0
        self.swaps_beside_writer = 0
        self.schedules_discarding = 0

    def __call__(self, ex, st) -> None:
        s = ex.system
        cb = s["cb"]
        rp = cb.reader_page.value
        w = s.get("_swapwatch")
        if w is None:
            bpages = cb.all_pages()
            w = s["_swapwatch"] = {"reader": rp, "commit": 0, "bpages": bpages,
                                   "pages": [bp.page for bp in bpages]}
            s.setdefault("discarded", [])
        pages = [bp.page for bp in w["bpages"]]
        if cb.mapped.value and any(a is not b for a, b in zip(pages, w["pages"])):
            raise AssertionError(
                f"step {st.index} ({st.task} {st.label}): a sub-buffer left the "
                "buffer while it is mapped")
        w["pages"] = pages
        if rp is w["reader"]:
            c = rp.page.commit() & ev.COMMIT_SIZE_MASK
            if c > w["commit"]:
                w["commit"] = c
            return
        old = w["reader"]
        self.swaps += 1
        for what, page in (("commit", cb.commit_page.value),
                           ("tail", cb.tail_page.value)):
            if page is old:
                raise AssertionError(
                    f"step {st.index} ({st.task} {st.label}): a reader swap took "
                    f"the {what} page {old.name} out of the reader slot while the "
                    "writer is on it")
        if cb.committing.value:
            self.swaps_beside_writer += 1
        gone = _seqs_between(old, old.read, w["commit"])
        if gone:
            if not s["discarded"]:
                self.schedules_discarding += 1
            s["discarded"] += gone
        w["reader"], w["commit"] = rp, rp.page.commit() & ev.COMMIT_SIZE_MASK


def drain(system) -> list[int]:
    """GET_READER until nothing changes; the sequence numbers consumed."""
    cb, m = system["cb"], system["mapping"]
    seen = []
    while True:
        old = cb.reader_page.value
        old_read = old.read
        run_plain(_get_reader(m, cb))
        rp = cb.reader_page.value
        if rp is old and rp.read == old_read:
            return seen
        seen += page_seqs(rp, old_read if rp is old else 0, rp.read)


def drain_check(ex, allow=KNOWN_WARNINGS, discarded_ok: bool = False) -> str | None:
    """After a schedule: no duplicate read, read + overrun == entries == written.

    ``discarded_ok``: events a reader swap threw away unread (:class:`SwapWatch`,
    the finding) count with the overrun; any other loss still fails."""
    s = ex.system
    cb = s["cb"]
    warnings = [w for w in s["buffer"].kmsg
                if not any(w == a or w.startswith(a) and a.endswith(" ") for a in allow)]
    if warnings:
        return f"kernel warnings: {warnings}"
    if cb.committing.value or cb.nest:
        return "a writer is still committing"
    seen = list(s["seen"]) + drain(s)
    if len(set(seen)) != len(seen):
        return f"an event was read twice: {seen}"
    if cb.entries.value != s["written"]:
        return f"entries {cb.entries.value} != events written {s['written']}"
    gone = list(s.get("discarded", ())) if discarded_ok else []
    if set(gone) & set(seen):
        return f"events {sorted(set(gone) & set(seen))} were discarded and read"
    if len(seen) + cb.overrun.value + len(gone) != cb.entries.value:
        return (f"read {len(seen)} + overrun {cb.overrun.value}"
                + (f" + discarded {len(gone)}" if gone else "")
                + f" != entries {cb.entries.value}"
                + (f" (events lost by a reader swap: {s['discarded']})"
                   if s.get("discarded") and not discarded_ok else ""))
    return None


# ---------------------------------------------------------------------------
# the reader library as a scheduled task
# ---------------------------------------------------------------------------

class LibraryPort:
    """The port of an in-process :class:`rbmap.impl.userlib.TraceReader` (upstream
    ABI): its system calls are impl's kernel functions on ``cb`` (run yield by
    yield), its loads read the pages its VMAs map, and every load and every step
    mark is a yield point of its own.  Works under the scheduler and in plain mode.

    Labels: a step mark is ``"<name> <step>"`` (:data:`rbmap.impl.userlib.STEPS`),
    a load ``"load (<name>)"``; the kernel functions keep theirs.  ``vmas`` maps a
    VMA handle to its page refs; ``last_rc`` is the last system call's return code;
    ``on_mark(step)`` (if set) runs as each step begins.
    """

    def __init__(self, cb, mapping, name: str = "p0"):
        self.cb = cb
        self.mapping = mapping
        self.name = name
        self.page_size = cb.buffer.page_size
        self.vmas: dict[int, list] = {}
        self._next = 1
        self.last_rc = 0
        self.step = None
        self.on_mark = None
        self._l_load = f"load ({name})"

    def mark(self, step: str):
        yield (f"{self.name} {step}", SHARED, None, None, False)
        self.step = step
        if self.on_mark is not None:
            self.on_mark(step)

    def call(self, name: str, **a):
        cb, m = self.cb, self.mapping
        if name == "open":
            rc = 3
        elif name == "close":
            rc = 0
        elif name == "mmap":
            ps = self.page_size
            if a["offset"] % ps:
                rc = -22
            else:
                rc, refs = yield from m.ring_buffer_map(
                    cb, a["offset"] // ps, -(-a["length"] // ps),
                    VM_READ | VM_SHARED | VM_MAYSHARE)
                if rc == 0:
                    handle = self._next
                    self._next += 1
                    self.vmas[handle] = refs
                    self.last_rc = 0
                    return {"rc": 0, "vma": handle}
        elif name == "munmap":
            if self.vmas.pop(a["vma"], None) is None:
                rc = -22
            else:
                rc = yield from m.ring_buffer_unmap(cb)
        elif name == "ioctl":
            rc = yield from m.ring_buffer_map_get_reader(cb)
        else:
            rc = -38
        self.last_rc = rc
        return {"rc": rc}

    def load(self, vma, off: int, n: int):
        yield (self._l_load, SHARED, None, None, False)
        return self.peek(vma, off, n)

    def peek(self, vma, off: int, n: int) -> bytes:
        """The bytes a load would return now (no yield point)."""
        refs = self.vmas[vma]
        ps = self.page_size
        out = bytearray()
        while n > 0:
            i, o = divmod(off, ps)
            chunk = page_bytes(refs[i], ps)[o:o + n]
            out += chunk
            off += len(chunk)
            n -= len(chunk)
        return bytes(out)

    def data_page(self, vma, sub_id: int, subbuf_size: int):
        """The BufferDataPage mapped at sub-buffer ``sub_id`` of a data VMA."""
        ref = self.vmas[vma][sub_id * subbuf_size // self.page_size]
        return ref[1]
