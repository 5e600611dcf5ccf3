"""The per-CPU trace ring buffer on real bytes, as kernel/trace/ring_buffer.c runs it.

Every kernel function here is a generator: shared accesses go through
:mod:`rbmap.impl.sched` cells and yield to the scheduler first, so the same code
runs sequentially (``run_plain``) or under DFS / random / replay schedules.

The page list (one CPU)::

              +--------+
              | reader |   reader_page: outside the ring, owned by the reader
              +--------+
                  |  (after a swap its next pointer carries the HEAD flag)
                  v
    +-----+ H  +-----+    +-----+    +-----+
    | p0  |--->| p1  |--->| p2  |--->| p3  |---+
    +-----+    +-----+    +-----+    +-----+   |
       ^       head_page  commit/tail          |
       +---------------------------------------+

The HEAD flag lives in the low bits of the *previous* page's ``next`` pointer
(here ``p0.next = (p1, RB_PAGE_HEAD)``).  A writer in overwrite mode that reaches
the head page turns HEAD into UPDATE (cmpxchg), which makes the reader's swap
cmpxchg fail until the writer has set HEAD on the following page and NORMAL on
the old pointer; the reader swaps the head page with its reader page by a
cmpxchg of (head, HEAD) -> (reader_page, NORMAL).  A next pointer is modelled as
the tuple ``(buffer_page, flag)``.

Writers reserve with ``add_return`` on ``tail_page->write`` (whose upper bits,
``RB_WRITE_INTCNT``, count tail-page moves so that an interrupted move does not
erase an interrupt's data); only the outermost writer (``committing == 1``)
moves ``commit_page`` forward in ``rb_set_commit_to_write``.

Simplifications (documented, not hidden): one CPU per buffer; no
``arch_spinlock_t cpu_buffer->lock`` (readers are serialised by ``reader_lock``);
no discard/``ring_buffer_nest_start``; no iterators; ``entries_bytes`` not kept;
resize keeps data when growing and drops the oldest pages when shrinking (as
``rb_insert_pages``/``rb_remove_pages`` do) but does so in one step under the locks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from . import event as ev
from .sched import LOCAL, SHARED, Cell, Mutex, SpinLock, locked, spin_until

RB_PAGE_NORMAL = 0
RB_PAGE_HEAD = 1
RB_PAGE_UPDATE = 2
RB_PAGE_MOVED = 4
RB_WRITE_MASK = 0xFFFFF
RB_WRITE_INTCNT = 1 << 20
RB_FL_OVERWRITE = 1
MAX_NEST = 5
RB_BUFFER_OFF = 1 << 20
RB_ADD_STAMP_EXTEND = 1 << 1
RB_ADD_STAMP_FORCE = 1 << 3
EAGAIN = -11
#: the byte a kernel booted with ``page_poison=1`` leaves in a free page
#: (include/linux/poison.h PAGE_POISON): what a fresh allocation that is not
#: zeroed shows until it is written
PAGE_POISON = 0xAA
EBUSY = -16
EINVAL = -22
ENOMEM = -12
UINT_MAX = 0xFFFFFFFF
U64 = (1 << 64) - 1

_U64 = struct.Struct("<Q")
_S64 = struct.Struct("<q")


class Clock:
    """Deterministic injectable clock: each reading advances by *step* ns."""

    def __init__(self, start: int = 1_000_000, step: int = 1000):
        self.now = start
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns


class BufferDataPage:
    """``struct buffer_data_page``: the sub-buffer bytes (header included).

    ``buf`` may be re-pointed (into a shared backing file while mapped); callers
    must fetch it afresh after every yield point.
    """

    __slots__ = ("buf", "size", "mapping")

    def __init__(self, size: int, poison: bool = False):
        self.size = size
        self.buf = memoryview(bytearray([PAGE_POISON]) * size if poison
                              else bytearray(size))
        if poison:
            self.set_commit(0)      # rb_init_page: only the commit word is set
        # struct page's ->mapping, set by the seed's fault handler (a page a
        # user mapping faulted in) and cleared by its unmap_page()
        self.mapping = None

    def commit(self) -> int:
        return _S64.unpack_from(self.buf, 8)[0]

    def set_commit(self, value: int) -> None:
        _S64.pack_into(self.buf, 8, ev.commit_to_long(value))

    def time_stamp(self) -> int:
        return _U64.unpack_from(self.buf, 0)[0]

    def set_time_stamp(self, ts: int) -> None:
        _U64.pack_into(self.buf, 0, ts & U64)

    def write_data(self, off: int, data: bytes) -> None:
        start = ev.BUF_PAGE_HDR_SIZE + off
        self.buf[start:start + len(data)] = data

    def data(self) -> memoryview:
        return self.buf[ev.BUF_PAGE_HDR_SIZE:]

    def relocate(self, new_buf: memoryview) -> None:
        """Move the bytes to *new_buf* (same size) and use it from now on."""
        new_buf[:] = self.buf
        self.buf = new_buf


class BufferPage:
    """``struct buffer_page``: list pointers with flags, write, read, entries, ..."""

    def __init__(self, name: str, subbuf_bytes: int, poison: bool = False):
        self.name = name
        self.list_next = Cell(name + ".next", None)
        self.list_prev = Cell(name + ".prev", None)
        self.write = Cell(name + ".write", 0)
        self.entries = Cell(name + ".entries", 0)
        self.real_end = Cell(name + ".real_end", 0)
        self.read = 0
        self.id = 0
        self.page = BufferDataPage(subbuf_bytes, poison)
        self._l_cl = name + ".commit load"
        self._l_cs = name + ".commit store"
        self._l_ca = name + ".commit add"
        self._l_data = name + ".data write"
        self._l_ts = name + ".time_stamp store"
        self._l_rd = name + ".data read"

    def __repr__(self) -> str:
        return f"<{self.name} id={self.id}>"

    # the commit word (in the page bytes) --------------------------------
    def commit_load(self):
        yield (self._l_cl, SHARED, None, (self.page, "commit"), False)
        return self.page.commit()

    def commit_set(self, value: int):
        yield (self._l_cs, SHARED, None, (self.page, "commit"), True)
        self.page.set_commit(value)

    def commit_add(self, delta: int):
        yield (self._l_ca, SHARED, None, (self.page, "commit"), True)
        self.page.set_commit(self.page.commit() + delta)

    def data_write(self, off: int, data: bytes):
        yield (self._l_data, SHARED, None, (self.page, "data"), True)
        self.page.write_data(off, data)

    def set_time_stamp(self, ts: int):
        yield (self._l_ts, SHARED, None, (self.page, "ts"), True)
        self.page.set_time_stamp(ts)

    def data_read(self, off: int, limit: int):
        yield (self._l_rd, SHARED, None, (self.page, "data"), False)
        return ev.decode_event(self.page.data(), off, limit)


def rb_page_size_of(raw_commit: int) -> int:
    """``rb_page_size``: the commit word as unsigned int, flags masked off."""
    return (raw_commit & 0xFFFFFFFF) & ~ev.RB_MISSED_MASK


@dataclass
class Reservation:
    bpage: BufferPage
    tail: int
    length: int
    delta: int
    add_timestamp: int
    ts: int


#: the kernel versions impl follows: Linux 6.12.117 (the default) and Linux 6.10
#: (``layout="6.10"``); where the code differs, each place says so
KERNELS = ("6.12.117", "6.10")


class KernelLog:
    """What impl's kernel side prints to the kernel log, record by record.

    A record is a dict ``{"kind", "function", "message"}``:

    * ``kind`` ``"WARNING"`` for ``WARN*()`` (the kernel prints
      ``WARNING: CPU: 0 PID: 1 at FILE:LINE FUNCTION+0x../0x..``, preceded by the
      message of ``WARN()``/``WARN_ONCE()``; ``WARN_ON()`` has none: ``""``),
      ``"info"`` for a ``pr_info()``/``pr_warn()`` line, ``"BUG"`` for an oops;
    * ``function``: the function the kernel names in its report (for a
      ``WARN*()`` in a function the compiler inlines, the caller it is inlined
      into, as the Debian 6.12.117 build reports it);
    * ``message``: the printed text, ``""`` when there is none.

    ``WARN_ONCE``/``WARN_ON_ONCE`` sites print only the first time per log (the
    kernel runner clears the kernel's once-flags at every scenario start, so one
    log per scenario matches it).  Iterating, ``in``, ``len`` and indexing see
    the records as one-line strings (:func:`kmsg_line`).
    """

    def __init__(self):
        self.records: list[dict] = []
        self._once: set = set()

    def add(self, kind: str, function: str, message: str = "",
            once: bool = False, site: str | None = None) -> None:
        """Log one record; with *once*, only the first time for its call site
        (*site*, default the message: pass the format string for a formatted
        ``WARN_ONCE``)."""
        if once:
            key = (kind, function, message if site is None else site)
            if key in self._once:
                return
            self._once.add(key)
        self.records.append({"kind": kind, "function": function, "message": message})

    def warn(self, function: str, message: str = "", once: bool = False,
             site: str | None = None) -> None:
        self.add("WARNING", function, message, once, site)

    def info(self, function: str, message: str) -> None:
        self.add("info", function, message)

    def lines(self) -> list[str]:
        return [kmsg_line(r) for r in self.records]

    def __iter__(self):
        return iter(self.lines())

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        return self.lines()[i]

    def __contains__(self, line) -> bool:
        return line in self.lines()

    def __eq__(self, other) -> bool:
        return self.lines() == list(other)

    def __repr__(self) -> str:
        return f"KernelLog({self.lines()!r})"


def kmsg_line(rec: dict) -> str:
    """One record as a line: ``WARNING: FUNCTION: MESSAGE`` (``WARNING: FUNCTION``
    without a message), ``FUNCTION: MESSAGE`` for info lines."""
    head = rec["function"]
    if rec["kind"] != "info":
        head = f"{rec['kind']}: {head}"
    return f"{head}: {rec['message']}" if rec["message"] else head


class TraceBuffer:
    """``struct trace_buffer`` reduced to one CPU (cpu 0)."""

    def __init__(self, nr_pages: int, *, page_size: int = 4096, subbuf_order: int = 0,
                 overwrite: bool = True, clock: Callable[[], int] | None = None,
                 name: str = "buffer", kmsg: KernelLog | None = None,
                 kernel: str = KERNELS[0], zero_pages: bool = True):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r} ({', '.join(KERNELS)})")
        self.kernel = kernel
        self.name = name
        # __GFP_ZERO on sub-buffer allocations ("ring-buffer: Zero ring-buffer
        # sub-buffers", merged with the mapping in 6.10); the seed's kernel did not
        # zero them: False fills fresh pages with PAGE_POISON
        self.zero_pages = zero_pages
        self.page_size = page_size
        self.subbuf_order = subbuf_order
        # kernel's buffer->subbuf_size: the data capacity of a sub-buffer
        self.subbuf_size = (page_size << subbuf_order) - ev.BUF_PAGE_HDR_SIZE
        self.max_data_size = self.subbuf_size - 8
        self.flags = RB_FL_OVERWRITE if overwrite else 0
        self.mutex = Mutex(name + ".mutex")
        self.clock = clock if clock is not None else Clock()
        self.record_disabled = 0
        self.kmsg = kmsg if kmsg is not None else KernelLog()
        self._page_seq = 0
        self.cpumask = {0}
        self.buffers = {0: RingBufferPerCpu(self, nr_pages, 0)}

    @property
    def subbuf_bytes(self) -> int:
        return self.subbuf_size + ev.BUF_PAGE_HDR_SIZE

    def new_bpage(self) -> BufferPage:
        self._page_seq += 1
        return BufferPage(f"{self.name}.bp{self._page_seq}", self.subbuf_bytes,
                          poison=not self.zero_pages)

    def free_bpage(self, bpage: BufferPage) -> None:
        """free_buffer_page: the page allocator's free-time check
        (free_page_is_bad) reports a page that still has a ->mapping."""
        if bpage.page.mapping is not None:
            self.kmsg.add("BUG", "bad_page", f"Bad page state: non-NULL mapping "
                          f"(freeing {bpage.name}, page ID {bpage.id})")

    def free(self) -> None:
        """ring_buffer_free: every page of every CPU buffer goes back."""
        for cb in self.buffers.values():
            for bp in cb.all_pages():
                self.free_bpage(bp)

    def warn(self, function: str, message: str = "", once: bool = False,
             site: str | None = None) -> None:
        self.kmsg.warn(function, message, once, site)

    def record_off(self) -> None:
        """``ring_buffer_record_off`` (tracing_on 0)."""
        self.record_disabled |= RB_BUFFER_OFF

    def record_on(self) -> None:
        self.record_disabled &= ~RB_BUFFER_OFF


class RingBufferPerCpu:
    """``struct ring_buffer_per_cpu`` with its kernel-named functions."""

    def __init__(self, buffer: TraceBuffer, nr_pages: int, cpu: int = 0):
        if nr_pages < 2:
            raise ValueError("a ring needs at least 2 pages")
        self.buffer = buffer
        self.cpu = cpu
        self.reader_lock = SpinLock("reader_lock")
        self.mapping_lock = Mutex("mapping_lock")
        self.record_disabled = 0
        self.resize_disabled = 0
        self.nest = 0
        # mapping state (kernel names); `mapping` holds the ABI's hooks
        self.mapped = Cell("mapped", 0)
        self.user_mapped = 0
        self.mapping = None
        self.meta_page = None
        self.subbuf_ids = None
        # counters
        self.entries = Cell("entries", 0)
        self.overrun = Cell("overrun", 0)
        self.committing = Cell("committing", 0, LOCAL)
        self.commits = Cell("commits", 0, LOCAL)
        self.pages_touched = Cell("pages_touched", 0, LOCAL)
        self.pages_lost = Cell("pages_lost", 0, LOCAL)
        self.commit_overrun = Cell("commit_overrun", 0, LOCAL)
        self.dropped_events = Cell("dropped_events", 0, LOCAL)
        self.before_stamp = Cell("before_stamp", 0, LOCAL)
        self.write_stamp = Cell("write_stamp", 0, LOCAL)
        self.read_stamp = 0
        self._zero_reader_counters()
        self.nr_pages = nr_pages
        self.reader_page = Cell("reader_page", None)
        self.tail_page = Cell("tail_page", None, LOCAL)
        self.commit_page = Cell("commit_page", None)
        self.replace_pages(nr_pages)

    # ------------------------------------------------------------------
    # plain helpers (no yield: setup, locked slow paths, introspection)
    # ------------------------------------------------------------------
    def _zero_reader_counters(self) -> None:
        self.pages_read = 0
        self.read = 0
        self.read_bytes = 0
        self.lost_events = 0
        self.last_overrun = 0

    def warn(self, function: str) -> None:
        """``RB_WARN_ON``: ``WARN_ON(1)`` in *function* and disable recording."""
        self.buffer.warn(function)
        self.buffer.record_disabled += 1

    def ring_pages(self) -> list[BufferPage]:
        """The ring in list order starting at ``pages`` (plain read)."""
        out, p = [], self.pages
        while True:
            out.append(p)
            p = p.list_next.value[0]
            if p is self.pages or len(out) > 4 * self.nr_pages + 16:
                return out

    def all_pages(self) -> list[BufferPage]:
        return [self.reader_page.value] + self.ring_pages()

    def rb_head_page_activate(self) -> None:
        head = self.head_page
        prev = head.list_prev.value
        prev.list_next.value = (prev.list_next.value[0], RB_PAGE_HEAD)

    def rb_head_page_deactivate(self) -> None:
        for p in self.ring_pages():
            p.list_next.value = (p.list_next.value[0], RB_PAGE_NORMAL)

    def head_flag_page(self) -> BufferPage | None:
        """The page whose predecessor's next pointer carries HEAD or UPDATE."""
        for p in self.ring_pages():
            nxt, flag = p.list_next.value
            if flag:
                return nxt
        return None

    def state(self) -> dict:
        """A kernel-named snapshot for observers and failure messages."""
        def pg(p):
            return {"name": p.name, "id": p.id, "write": p.write.value,
                    "entries": p.entries.value, "read": p.read,
                    "commit": p.page.commit(), "real_end": p.real_end.value,
                    "next_flag": p.list_next.value[1]}
        return {
            "reader_page": self.reader_page.value.name,
            "head_page": self.head_page.name,
            "tail_page": self.tail_page.value.name,
            "commit_page": self.commit_page.value.name,
            "entries": self.entries.value, "overrun": self.overrun.value,
            "read": self.read, "lost_events": self.lost_events,
            "last_overrun": self.last_overrun,
            "pages_touched": self.pages_touched.value,
            "pages_lost": self.pages_lost.value, "pages_read": self.pages_read,
            "committing": self.committing.value,
            "mapped": self.mapped.value, "user_mapped": self.user_mapped,
            "pages": [pg(p) for p in self.all_pages()],
        }

    # ------------------------------------------------------------------
    # list primitives
    # ------------------------------------------------------------------
    def rb_inc_page(self, page: BufferPage):
        nxt = yield from page.list_next.load()
        return nxt[0]

    def rb_is_head_page(self, page: BufferPage, prev: BufferPage):
        nxt, flag = yield from prev.list_next.load()
        if nxt is not page:
            return RB_PAGE_MOVED
        return flag

    def rb_is_reader_page(self, page: BufferPage):
        prev = yield from page.list_prev.load()
        nxt = yield from prev.list_next.load()
        return nxt[0] is not page

    def rb_head_page_set(self, head: BufferPage, prev: BufferPage, old_flag: int,
                         new_flag: int):
        ret = yield from prev.list_next.cmpxchg((head, old_flag), (head, new_flag))
        if ret[0] is not head:
            return RB_PAGE_MOVED
        return ret[1]

    # ------------------------------------------------------------------
    # writer: reserve
    # ------------------------------------------------------------------
    def rb_start_commit(self):
        yield from self.committing.add_return(1)
        yield from self.commits.add_return(1)

    def ring_buffer_lock_reserve(self, length: int):
        """Reserve room for *length* payload bytes; a :class:`Reservation` or None."""
        if self.buffer.record_disabled or self.record_disabled:
            return None
        if length > self.buffer.max_data_size:
            return None
        if self.nest >= MAX_NEST:          # trace_recursive_lock
            return None
        self.nest += 1
        res = yield from self.rb_reserve_next_event(length)
        if res is None:
            self.nest -= 1
        return res

    def rb_reserve_next_event(self, length: int):
        yield from self.rb_start_commit()
        base = ev.rb_calculate_event_length(length)
        nr_loops = 0
        while True:
            nr_loops += 1
            if nr_loops > 1000:
                self.warn("rb_reserve_next_event")
                break
            res = yield from self.__rb_reserve_next(base)
            if res is EAGAIN:
                continue
            if res is not None:
                return res
            break
        yield from self.rb_end_commit()
        return None

    def __rb_reserve_next(self, base_length: int):
        bsize = self.buffer.subbuf_size
        length = base_length
        add = 0
        delta = 0
        tail_page = yield from self.tail_page.load()
        w = (yield from tail_page.write.load()) & RB_WRITE_MASK          # A
        before = yield from self.before_stamp.load()
        after = yield from self.write_stamp.load()
        ts = self.buffer.clock()
        if not w:
            delta = 0                     # first on the page: use its time_stamp
        elif before != after:
            # interrupted another writer's time update: absolute stamp
            add = RB_ADD_STAMP_FORCE | RB_ADD_STAMP_EXTEND
            length += ev.RB_LEN_TIME_EXTEND
        else:
            delta = ts - after
            if ev.test_time_stamp(delta):
                add = RB_ADD_STAMP_EXTEND
                length += ev.RB_LEN_TIME_EXTEND
        yield from self.before_stamp.store(ts)                            # B
        write = (yield from tail_page.write.add_return(length)) & RB_WRITE_MASK  # C
        tail = write - length
        if write > bsize:
            return (yield from self.rb_move_tail(tail, tail_page, length))
        if tail == w:
            yield from self.write_stamp.store(ts)                         # D
            delta = ts if add & RB_ADD_STAMP_FORCE else ts - after
        else:
            # interrupted between A and C
            before2 = yield from self.before_stamp.load()
            ts2 = self.buffer.clock()
            cur = (yield from tail_page.write.load()) & RB_WRITE_MASK    # E
            if write == cur and after == before2 and after < ts2:
                delta = ts2 - after
            else:
                delta = 0
            ts = ts2
            add &= ~RB_ADD_STAMP_FORCE
        if not tail and not (add & RB_ADD_STAMP_FORCE):
            delta = 0
        yield from tail_page.entries.add_return(1)
        if not tail:
            yield from tail_page.set_time_stamp(ts)
        return Reservation(tail_page, tail, length, delta, add, ts)

    def rb_move_tail(self, tail: int, tail_page: BufferPage, length: int):
        commit_page = yield from self.commit_page.load()
        next_page = yield from self.rb_inc_page(tail_page)
        if next_page is commit_page:
            # an interrupt storm went all the way round the buffer
            yield from self.commit_overrun.add_return(1)
            yield from self.rb_reset_tail(tail_page, tail, length)
            return None
        flag = yield from self.rb_is_head_page(next_page, tail_page)
        if flag:
            commit_page = yield from self.commit_page.load()
            if not (yield from self.rb_is_reader_page(commit_page)):
                if not (self.buffer.flags & RB_FL_OVERWRITE):
                    yield from self.dropped_events.add_return(1)
                    yield from self.rb_reset_tail(tail_page, tail, length)
                    return None
                ret = yield from self.rb_handle_head_page(tail_page, next_page)
                if ret < 0:
                    yield from self.rb_reset_tail(tail_page, tail, length)
                    return None
                if ret:
                    return (yield from self._out_again(tail_page, tail, length))
            else:
                cur_tail = yield from self.tail_page.load()
                reader = yield from self.reader_page.load()
                if commit_page is not cur_tail and commit_page is reader:
                    yield from self.commit_overrun.add_return(1)
                    yield from self.rb_reset_tail(tail_page, tail, length)
                    return None
        yield from self.rb_tail_page_update(tail_page, next_page)
        return (yield from self._out_again(tail_page, tail, length))

    def _out_again(self, tail_page, tail, length):
        yield from self.rb_reset_tail(tail_page, tail, length)
        # commit what we have for now; rb_end_commit() decrements committing
        yield from self.rb_end_commit()
        yield from self.committing.add_return(1)
        return EAGAIN

    def rb_reset_tail(self, tail_page: BufferPage, tail: int, length: int):
        bsize = self.buffer.subbuf_size
        if tail >= bsize:
            if tail == bsize:
                yield from tail_page.real_end.store(0)
            yield from tail_page.write.add_return(-length)
            return
        yield from tail_page.real_end.store(tail)
        if tail > bsize - ev.RB_EVNT_MIN_SIZE:
            # no room for any event: a null padding marks the rest unused
            yield from tail_page.data_write(tail, ev.NULL_PADDING)
            yield from tail_page.write.add_return(-length)
            return
        yield from tail_page.data_write(tail, ev.encode_padding(bsize - tail))
        yield from tail_page.write.add_return(-((tail + length) - bsize))

    def rb_tail_page_update(self, tail_page: BufferPage, next_page: BufferPage):
        old_write = yield from next_page.write.add_return(RB_WRITE_INTCNT)
        old_entries = yield from next_page.entries.add_return(RB_WRITE_INTCNT)
        cur = yield from self.tail_page.load()
        if cur is tail_page:
            yield from next_page.write.cmpxchg(old_write, old_write & ~RB_WRITE_MASK)
            yield from next_page.entries.cmpxchg(old_entries,
                                                 old_entries & ~RB_WRITE_MASK)
            yield from next_page.commit_set(0)
            old = yield from self.tail_page.cmpxchg(tail_page, next_page)
            if old is tail_page:
                yield from self.pages_touched.add_return(1)
        if self.mapping is not None:
            yield from self.mapping.writer_tail_page_update(self)

    def rb_handle_head_page(self, tail_page: BufferPage, next_page: BufferPage):
        entries = (yield from next_page.entries.load()) & RB_WRITE_MASK
        typ = yield from self.rb_head_page_set(next_page, tail_page, RB_PAGE_HEAD,
                                               RB_PAGE_UPDATE)
        if typ == RB_PAGE_HEAD:
            # we turned HEAD into UPDATE: ours to count the lost page
            yield from self.overrun.add_return(entries)
            yield from self.pages_lost.add_return(1)
            if self.mapping is not None:
                yield from self.mapping.writer_head_page_push(self)
        elif typ == RB_PAGE_UPDATE:
            pass                          # we interrupted a move in progress
        elif typ in (RB_PAGE_NORMAL, RB_PAGE_MOVED):
            return 1                      # done for us / the reader swapped it
        else:
            self.warn("rb_handle_head_page")
            return -1
        new_head = yield from self.rb_inc_page(next_page)
        ret = yield from self.rb_head_page_set(new_head, next_page, RB_PAGE_NORMAL,
                                               RB_PAGE_HEAD)
        if ret not in (RB_PAGE_HEAD, RB_PAGE_NORMAL):
            self.warn("rb_handle_head_page")
            return -1
        if ret == RB_PAGE_NORMAL:
            cur_tail = yield from self.tail_page.load()
            if cur_tail is not tail_page and cur_tail is not next_page:
                yield from self.rb_head_page_set(new_head, next_page, RB_PAGE_HEAD,
                                                 RB_PAGE_NORMAL)
        if typ == RB_PAGE_HEAD:
            ret = yield from self.rb_head_page_set(next_page, tail_page,
                                                   RB_PAGE_UPDATE, RB_PAGE_NORMAL)
            if ret != RB_PAGE_UPDATE:
                self.warn("rb_handle_head_page")
                return -1
        return 0

    # ------------------------------------------------------------------
    # writer: commit
    # ------------------------------------------------------------------
    def rb_set_commit_to_write(self):
        max_count = self.nr_pages * 100
        while True:
            while True:
                commit_page = yield from self.commit_page.load()  # walk
                tail = yield from self.tail_page.load()
                if commit_page is tail:
                    break
                max_count -= 1
                if not max_count:
                    self.warn("rb_set_commit_to_write")
                    return
                if (yield from self.rb_is_reader_page(tail)):
                    self.warn("rb_set_commit_to_write")
                    return
                w = (yield from commit_page.write.load()) & RB_WRITE_MASK
                yield from commit_page.commit_set(w)
                nxt = yield from self.rb_inc_page(commit_page)
                yield from self.commit_page.store(nxt)  # next page
            while True:
                commit_page = yield from self.commit_page.load()  # last page
                c = rb_page_size_of((yield from commit_page.commit_load()))
                w = (yield from commit_page.write.load()) & RB_WRITE_MASK
                if c == w:
                    break
                yield from commit_page.commit_set(w)  # store
            # again, in case of an interrupt (the tail moved during the walk)
            commit_page = yield from self.commit_page.load()  # final check
            tail = yield from self.tail_page.load()
            if commit_page is tail:
                return

    def rb_end_commit(self):
        committing = yield from self.committing.load()
        if not committing:
            self.warn("rb_end_commit")
            return
        while True:
            commits = yield from self.commits.load()
            if (yield from self.committing.load()) == 1:
                yield from self.rb_set_commit_to_write()
            yield from self.committing.add_return(-1)
            if (yield from self.commits.load()) != commits and \
                    not (yield from self.committing.load()):
                yield from self.committing.add_return(1)
                continue
            return

    def rb_commit(self):
        yield from self.entries.add_return(1)
        if self.mapping is not None:
            yield from self.mapping.writer_commit(self)
        yield from self.rb_end_commit()

    def ring_buffer_unlock_commit(self):
        yield from self.rb_commit()
        self.nest -= 1

    def write_event(self, res: Reservation, payload: bytes):
        """Fill a reservation: optional time stamp event, then the data event."""
        if res.add_timestamp & RB_ADD_STAMP_EXTEND:
            absolute = bool(res.add_timestamp & RB_ADD_STAMP_FORCE)
            blob = ev.encode_time_stamp(res.delta, absolute) + ev.encode_data_event(
                res.length - ev.RB_LEN_TIME_EXTEND, 0, payload)
        else:
            blob = ev.encode_data_event(res.length, res.delta, payload)
        yield from res.bpage.data_write(res.tail, blob)

    def ring_buffer_write(self, payload: bytes):
        """``ring_buffer_write``: reserve, copy, commit; 0 or -EBUSY (dropped)."""
        res = yield from self.ring_buffer_lock_reserve(len(payload))
        if res is None:
            return EBUSY
        yield from self.write_event(res, payload)
        yield from self.ring_buffer_unlock_commit()
        return 0

    # ------------------------------------------------------------------
    # reader side (callers hold reader_lock)
    # ------------------------------------------------------------------
    def rb_set_head_page(self):
        page = head = self.head_page
        cnt = 0
        for _ in range(3):
            while True:
                prev = yield from page.list_prev.load()
                if (yield from self.rb_is_head_page(page, prev)):
                    self.head_page = page
                    if self.mapping is not None:
                        yield from self.mapping.reader_head_move(self, cnt)
                    return page
                page = yield from self.rb_inc_page(page)
                cnt += 1
                if page is head:
                    break
        self.warn("rb_set_head_page")
        return None

    def rb_page_size(self, bpage: BufferPage):
        raw = yield from bpage.commit_load()
        return rb_page_size_of(raw)

    def rb_num_of_entries(self):
        entries = yield from self.entries.load()
        overrun = yield from self.overrun.load()
        return entries - (overrun + self.read)

    def rb_per_cpu_empty(self):
        reader = self.reader_page.value
        head = yield from self.rb_set_head_page()
        commit = yield from self.commit_page.load()
        if head is None:
            return True
        if reader.read != (yield from self.rb_page_size(reader)):
            return False
        if commit is reader:
            return True
        if commit is not head:
            return False
        return rb_page_size_of((yield from commit.commit_load())) == 0

    def rb_head_page_replace(self, old: BufferPage, new: BufferPage):
        prev = yield from old.list_prev.load()
        cur = yield from prev.list_next.load()
        expect = (cur[0], RB_PAGE_HEAD)
        ret = yield from prev.list_next.cmpxchg(expect, (new, RB_PAGE_NORMAL))
        return ret == expect

    def rb_get_reader_page(self):
        bsize = self.buffer.subbuf_size
        nr_loops = 0
        reader = None
        while True:                                        # again:
            nr_loops += 1
            if nr_loops > 3:
                self.warn("rb_get_reader_page")
                reader = None
                break
            reader = self.reader_page.value
            size = yield from self.rb_page_size(reader)
            if reader.read < size:
                break
            if reader.read > size:
                self.warn("rb_get_reader_page")
                break
            reader = None
            commit_page = yield from self.commit_page.load()
            if commit_page is self.reader_page.value:
                break
            if (yield from self.rb_num_of_entries()) == 0:
                break
            old = self.reader_page.value
            yield from old.write.store(0)
            yield from old.entries.store(0)
            yield from old.commit_set(0)
            yield from old.real_end.store(0)
            while True:                                    # spin:
                head = yield from self.rb_set_head_page()
                if head is None:
                    break
                hn = yield from head.list_next.load()
                yield from old.list_next.store((hn[0], RB_PAGE_NORMAL))
                hp = yield from head.list_prev.load()
                yield from old.list_prev.store(hp)
                self.pages = hp
                yield from old.list_next.store((hn[0], RB_PAGE_HEAD))
                overwrite = yield from self.overrun.load()
                if (yield from self.rb_head_page_replace(head, old)):
                    break
                # a writer is moving the head (UPDATE): spin until it is done
                yield from spin_until(
                    "reader spins on the head page update",
                    lambda hp=hp: hp.list_next.value[1] != RB_PAGE_UPDATE, hp.list_next)
            if head is None:
                reader = None
                break
            hn = yield from head.list_next.load()
            yield from hn[0].list_prev.store(old)
            if self.mapping is not None:
                yield from self.mapping.reader_head_swap(self)
            self.head_page = yield from self.rb_inc_page(self.head_page)
            if self.mapping is not None:
                yield from self.mapping.reader_head_move(self, 1)
            self.pages_read += 1
            yield from self.reader_page.store(head)
            head.read = 0
            if overwrite != self.last_overrun:
                self.lost_events = overwrite - self.last_overrun
                self.last_overrun = overwrite
        if reader is not None and reader.read == 0:
            self.read_stamp = reader.page.time_stamp()
        if reader is not None:
            yield from spin_until(
                "reader waits for the writer to leave the page end",
                lambda r=reader: (r.write.value & RB_WRITE_MASK) <= bsize, reader.write)
        return reader

    def rb_advance_reader(self):
        reader = yield from self.rb_get_reader_page()
        if reader is None:
            self.warn("rb_advance_reader")
            return
        size = yield from self.rb_page_size(reader)
        event = yield from reader.data_read(reader.read, size)
        if event.kind == "data":
            self.read += 1
        reader.read += event.length
        self.read_bytes += event.length

    def rb_buffer_peek(self):
        """``rb_buffer_peek`` (reader_lock held): the next event and the
        per-CPU ``lost_events``, as ``(event, lost)``, or ``(None, 0)``.

        May swap in a new reader page (``rb_get_reader_page``, which sets
        ``lost_events`` when ``overrun`` moved); time extends and absolute
        stamps are consumed on the way; padding is returned for the caller to
        skip."""
        nr_loops = 0
        while True:
            nr_loops += 1
            if nr_loops > 2:
                self.warn("rb_buffer_peek")
                return None, 0
            reader = yield from self.rb_get_reader_page()
            if reader is None:
                return None, 0
            size = yield from self.rb_page_size(reader)
            event = yield from reader.data_read(reader.read, size)
            if event.kind == "padding":
                if event.time_delta == 0:
                    self.warn("rb_buffer_peek")
                return event, 0
            if event.kind in ("time_extend", "time_stamp"):
                yield from self.rb_advance_reader()
                continue
            return event, self.lost_events

    def ring_buffer_peek(self):
        """``ring_buffer_peek``: the next data event without consuming it (padding
        is consumed and skipped): ``(event, lost)`` or ``(None, 0)``."""
        while True:
            yield from self.reader_lock.acquire()
            event, lost = yield from self.rb_buffer_peek()
            if event is not None and event.kind == "padding":
                yield from self.rb_advance_reader()
            yield from self.reader_lock.release()
            if event is None or event.kind != "padding":
                return event, lost

    def ring_buffer_consume(self):
        """``ring_buffer_consume``: return the next data event and consume it;
        clears ``lost_events`` (``(event, lost)`` or ``(None, 0)``)."""
        while True:
            yield from self.reader_lock.acquire()
            event, lost = yield from self.rb_buffer_peek()
            if event is not None:
                self.lost_events = 0
                yield from self.rb_advance_reader()
            yield from self.reader_lock.release()
            if event is None or event.kind != "padding":
                return event, lost

    def ring_buffer_empty_cpu(self):
        yield from self.reader_lock.acquire()
        empty = yield from self.rb_per_cpu_empty()
        yield from self.reader_lock.release()
        return empty

    def ring_buffer_read_page(self, data_page: list, length: int, full: bool = False):
        """Fill ``data_page[0]`` (a :class:`BufferDataPage`); return the read offset.

        ``data_page`` is a one-element list so that the swap path can hand the
        reader page's bytes out and take the spare in (``data_page->data``).
        Returns -1 when nothing could be read.
        """
        if length <= ev.BUF_PAGE_HDR_SIZE:
            return -1
        length -= ev.BUF_PAGE_HDR_SIZE
        return (yield from locked(self.reader_lock,
                                  self._read_page_locked(data_page, length, full)))

    def _read_page_locked(self, data_page, length, full):
        bsize = self.buffer.subbuf_size
        ret = -1
        reader = yield from self.rb_get_reader_page()
        if reader is None:
            return ret
        read = reader.read
        commit = yield from self.rb_page_size(reader)
        missed_events = self.lost_events
        commit_page = yield from self.commit_page.load()
        mapped = yield from self.mapped.load()
        bpage = data_page[0]
        if (read or length < commit - read or reader is commit_page or mapped):
            if full and (not read or length < commit - read or
                         reader is commit_page):
                return ret
            if length > commit - read:
                length = commit - read
            first = yield from reader.data_read(read, commit)
            size = first.length
            if first.kind in ("time_extend", "time_stamp"):
                size += (yield from reader.data_read(read + first.length,
                                                     commit)).length
            if length < size:
                return ret
            save_timestamp = self.read_stamp
            pos = 0
            rpos = read
            while True:
                e = yield from reader.data_read(rpos, commit)
                bpage.write_data(pos, bytes(reader.page.data()[rpos:rpos + e.length]))
                length -= e.length
                yield from self.rb_advance_reader()
                rpos = reader.read
                pos += e.length
                if rpos >= commit:
                    break
                nxt = yield from reader.data_read(rpos, commit)
                size = nxt.length
                if nxt.kind in ("time_extend", "time_stamp"):
                    size += (yield from reader.data_read(rpos + nxt.length,
                                                         commit)).length
                if length < size:
                    break
            bpage.set_commit(pos)
            bpage.set_time_stamp(save_timestamp)
            read = 0
        else:
            self.read += (yield from reader.entries.load()) & RB_WRITE_MASK
            self.read_bytes += commit
            bpage.set_commit(0)
            out = reader.page
            reader.page = bpage
            data_page[0] = out
            yield from reader.write.store(0)
            yield from reader.entries.store(0)
            reader.read = 0
            bpage = out
            real_end = yield from reader.real_end.load()
            if real_end:
                bpage.set_commit(real_end)
        ret = read
        self.lost_events = 0
        c = bpage.commit()
        if missed_events:
            if bsize - c >= 8:
                bpage.write_data(c, _U64.pack(missed_events & U64))
                bpage.set_commit(bpage.commit() + ev.RB_MISSED_STORED)
                c += 8
            bpage.set_commit(bpage.commit() + ev.RB_MISSED_EVENTS)
        if c < bsize:
            bpage.write_data(c, bytes(bsize - c))
        return ret

    # ------------------------------------------------------------------
    # reset, resize
    # ------------------------------------------------------------------
    def _clear_page(self, p: BufferPage) -> None:
        p.write.value = 0
        p.entries.value = 0
        p.real_end.value = 0
        p.page.set_commit(0)
        p.read = 0

    def rb_reset_cpu(self):
        """Caller holds buffer->mutex and reader_lock, recording is disabled."""
        self.rb_head_page_deactivate()
        self.head_page = self.pages
        for p in self.ring_pages():
            self._clear_page(p)
        self.tail_page.value = self.head_page
        self.commit_page.value = self.head_page
        rp = self.reader_page.value
        rp.list_next.value = (rp, RB_PAGE_NORMAL)
        rp.list_prev.value = rp
        self._clear_page(rp)
        for c in (self.overrun, self.commit_overrun, self.dropped_events,
                  self.entries, self.committing, self.commits, self.pages_touched,
                  self.pages_lost, self.before_stamp, self.write_stamp):
            c.value = 0
        self._zero_reader_counters()
        self.rb_head_page_activate()
        if self.mapping is not None:
            yield from self.mapping.on_reset(self)

    def ring_buffer_reset_cpu(self):
        yield from self.buffer.mutex.acquire()
        self.resize_disabled += 1
        self.record_disabled += 1
        yield from self.reader_lock.acquire()
        if self.committing.value:
            self.warn("reset_disabled_cpu_buffer")
        else:
            yield from self.rb_reset_cpu()
        yield from self.reader_lock.release()
        self.record_disabled -= 1
        self.resize_disabled -= 1
        yield from self.buffer.mutex.release()

    def replace_pages(self, nr_pages: int) -> None:
        """Install *nr_pages* fresh pages and a fresh reader page (sub-buffer order
        change): the data is gone, the counters are kept (as the kernel does)."""
        buffer = self.buffer
        if hasattr(self, "pages"):          # not the first allocation
            for bp in self.all_pages():
                buffer.free_bpage(bp)
        pages = [buffer.new_bpage() for _ in range(nr_pages)]
        for a, b in zip(pages, pages[1:] + pages[:1]):
            a.list_next.value = (b, RB_PAGE_NORMAL)
            b.list_prev.value = a
        rp = buffer.new_bpage()
        rp.list_next.value = (rp, RB_PAGE_NORMAL)
        rp.list_prev.value = rp
        self.reader_page.value = rp
        self.pages = self.head_page = pages[0]
        self.tail_page.value = self.commit_page.value = pages[0]
        self.nr_pages = nr_pages
        self.rb_head_page_activate()

    def resize_pages(self, nr_pages: int) -> None:
        """``rb_update_pages``: grow with :meth:`rb_insert_pages`, shrink with
        :meth:`rb_remove_pages` (locks held by the caller, in one step)."""
        diff = nr_pages - self.nr_pages
        if diff > 0:
            self.rb_insert_pages(diff)
        elif diff < 0:
            self.rb_remove_pages(-diff)
        self.nr_pages = nr_pages

    def rb_insert_pages(self, count: int) -> None:
        """Splice *count* new pages in between the head page and the page before
        it (``rb_insert_pages``): they come last in ring order from the head."""
        head = self.head_flag_page() or self.head_page
        prev = head.list_prev.value
        new = [self.buffer.new_bpage() for _ in range(count)]
        for a, b in zip(new, new[1:]):
            a.list_next.value = (b, RB_PAGE_NORMAL)
            b.list_prev.value = a
        new[-1].list_next.value = (head, RB_PAGE_HEAD)
        new[0].list_prev.value = prev
        prev.list_next.value = (new[0], RB_PAGE_NORMAL)
        head.list_prev.value = new[-1]

    def rb_remove_pages(self, count: int) -> None:
        """Unlink the *count* pages after the tail page (after the page following
        the reader page when the tail is on it), counting their events as overrun
        and moving the HEAD flag past them (``rb_remove_pages``)."""
        tail = self.tail_page.value
        if tail is self.reader_page.value:
            tail = tail.list_next.value[0]
        head_bit = 0
        victims = []
        cur = tail
        for _ in range(count):
            nxt, flag = cur.list_next.value    # the pointer to the next victim
            head_bit |= flag & RB_PAGE_HEAD
            victims.append(nxt)
            cur = nxt
        next_page, next_flag = cur.list_next.value
        tail.list_next.value = (next_page, next_flag | head_bit)
        next_page.list_prev.value = tail
        self.pages = next_page
        if head_bit:
            self.head_page = next_page
        for v in victims:
            entries = v.entries.value & RB_WRITE_MASK
            if entries:
                self.overrun.value += entries
                self.pages_lost.value += 1
            self.buffer.free_bpage(v)


def ring_buffer_resize(buffer: TraceBuffer, size: int, cpu_id: int | None):
    """``ring_buffer_resize``: *size* in bytes; cpu_id None = all CPUs."""
    nr_pages = max(2, -(-size // buffer.subbuf_size))
    return (yield from locked(buffer.mutex, _resize_locked(buffer, nr_pages, cpu_id)))


def _resize_locked(buffer, nr_pages, cpu_id):
    cpus = buffer.buffers.values() if cpu_id is None else [buffer.buffers[cpu_id]]
    if cpu_id is not None:
        cb = buffer.buffers[cpu_id]
        if nr_pages == cb.nr_pages:
            return 0
    for cb in cpus:
        if cb.resize_disabled:
            return EBUSY
    for cb in cpus:
        if nr_pages != cb.nr_pages:
            yield from cb.reader_lock.acquire()
            cb.resize_pages(nr_pages)
            yield from cb.reader_lock.release()
    return 0


def ring_buffer_subbuf_order_set(buffer: TraceBuffer, order: int):
    """Change the sub-buffer order; the contents are dropped (pages reallocated)."""
    if order < 0 or order > 7:
        return EINVAL
    if buffer.subbuf_order == order:
        return 0
    return (yield from locked(buffer.mutex, _subbuf_order_locked(buffer, order)))


def _subbuf_order_locked(buffer, order):
    # 6.12.117 refuses while resizing is disabled (a mapping, a reset in
    # progress); 6.10 checked only ``cpu_buffer->mapped``
    for cb in buffer.buffers.values():
        busy = cb.mapped.value if buffer.kernel == "6.10" else cb.resize_disabled
        if busy:
            return EBUSY
    old_size = buffer.subbuf_size
    buffer.subbuf_order = order
    buffer.subbuf_size = (buffer.page_size << order) - ev.BUF_PAGE_HDR_SIZE
    # buffer->max_data_size stays what __ring_buffer_alloc set: 6.12.117 does
    # not update it here, so a larger sub-buffer takes no larger event
    for cb in buffer.buffers.values():
        nr = max(2, -(-(old_size * cb.nr_pages) // buffer.subbuf_size))
        yield from cb.reader_lock.acquire()
        cb.replace_pages(nr)
        yield from cb.reader_lock.release()
    return 0


def ring_buffer_swap_cpu(buffer_a: TraceBuffer, buffer_b: TraceBuffer, cpu: int = 0,
                         *, warn_mapped: bool = True):
    """Swap one CPU's buffers between two trace buffers (the per-CPU snapshot)."""
    if cpu not in buffer_a.cpumask or cpu not in buffer_b.cpumask:
        return EINVAL
    a, b = buffer_a.buffers[cpu], buffer_b.buffers[cpu]
    ma = yield from a.mapped.load()
    mb = yield from b.mapped.load()
    if ma or mb:
        if warn_mapped:
            buffer_a.warn("ring_buffer_swap_cpu", once=True)
        return EBUSY
    if a.nr_pages != b.nr_pages or buffer_a.subbuf_order != buffer_b.subbuf_order:
        return EINVAL
    if buffer_a.record_disabled or buffer_b.record_disabled or \
            a.committing.value or b.committing.value:
        return EAGAIN
    buffer_a.buffers[cpu], buffer_b.buffers[cpu] = b, a
    a.buffer, b.buffer = buffer_b, buffer_a
    return 0
