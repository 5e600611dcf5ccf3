"""The refinement map: impl's byte-level ring buffer seen as a model state.

This is the one module that knows both sides (``rbmap.model`` and ``rbmap.impl``).
It builds an impl system that matches a model configuration, drives impl's kernel
functions one yield point at a time, keeps the *ghost* record of what the harness
observed, and maps an impl state to the model's flat state tuple
(:func:`abstract`).

Matching configuration
----------------------
The model counts in events of one size (``page_events`` = K per page); impl counts in
bytes.  :func:`choose_geometry` picks the smallest sub-buffer (a power of two, at
least 256 bytes: impl refuses smaller pages) and a payload size such that exactly K
events fit a sub-buffer even when each of them carries the 8-byte absolute time
stamp a nested write adds (``K * (len + 8) <= capacity < (K + 1) * len``).  Every
payload starts with the magic ``SEQ!`` and the event's sequence number (u32), so the
map reads the model's per-page ``base``/``filled`` straight from the page bytes.

What the map reads from impl (per model slot)
---------------------------------------------
- page pointers: ``head_page`` is the page the RB_PAGE_HEAD flag points at,
  ``head_page`` the cached hint (model ``HCACHE``), ``pages``, ``tail_page``,
  ``commit_page``, ``reader_page``; ``next`` of each ring page;
- counters: ``entries``, ``overrun``, ``pages_touched``, ``read``,
  ``last_overrun``, ``lost_events``, ``dropped_events + commit_overrun``, ``mapped``;
- per page, in events: ``write`` (data events in the first ``write`` bytes),
  ``commit`` (in the committed bytes), ``read`` (reader page only), ``base`` and
  ``filled`` (the run of consecutive sequence numbers from the start of the page),
  ``id`` while mapped;
- the meta page decoded from its bytes (upstream ``struct trace_buffer_meta``: the
  byte offset ``reader.read`` is converted to events on the page it names,
  ``reader.lost_events`` as it is; v2: the header fields and ``data_pages[]``);
- the reader page's commit word flags (RB_MISSED_EVENTS, and the count stored
  after the data when RB_MISSED_STORED is set), the model's ``RFLAG``;
- writer phases from where each write's generator is suspended (its call stack and
  next operation), user processes from the harness's own record of what each did.

What it abstracts away (documented, not hidden)
-----------------------------------------------
- bytes: time stamps, time extends, padding, ``real_end``, the INTCNT bits of
  ``write``, ``entries`` per page, ``pages_read``/``pages_lost``; the RB_MISSED
  flags of pages other than the reader page (the model keeps none: a page
  leaving the reader slot gets commit 0);
- the history of lost-event reports (the model's ``GAP`` slot and the sticky
  bits of :data:`UNMAPPED_FLAGS`: meta ``reader.lost_events`` or a report that
  disagreed with the loss at the swap, a page flagged, a trace_pipe read left a
  loss pending) and the kernel-log bits (``K_*``): the harness does not follow
  them, so :func:`state_diff` leaves them out;
- the ``next`` pointer of the reader page (meaningless outside the ring) and ``read``
  of pages that are not the reader page (only the reader page's is ever used); a
  page's ``base`` while it holds no event;
- impl's intermediate states: the map is compared only where every task is at an
  operation boundary (:func:`boundary`); in between it is a stutter by definition
  and the check is the linearizability one in :mod:`rbmap.conform`;
- v2 only: a write at its ``meta_store_tail`` step has not run rb_reset_tail yet;
  the old tail page's padding (one unit of ``write`` in the model) is counted
  already (only the writer itself uses that page's write before then);
- v2 only: the seed stores ``meta->overrun`` inside rb_handle_head_page, before the
  tail page moves; the model stores it at ``meta_store_tail``.  While a write sits
  between its tail move and its ``meta_store_tail`` step, the map reports the meta
  overrun value from before that write's head push (the store is moved to the later
  step; nothing else reads it in between).

History slots (``delivered``, ``delivered_twice``, ``lost_counted``,
``lost_uncounted`` and the sticky flags) are the ghost: computed from what the
harness saw happen (the sequence numbers each user process decoded from its mapping,
the events on a page the writer pushed or started to overwrite, return codes).
"""

from __future__ import annotations

import linecache
import struct
from dataclasses import dataclass, field

from rbmap.impl import event as ev
from rbmap.impl.mapping import (ENODEV, VM_MAYSHARE, VM_READ, VM_SHARED,
                                UpstreamMapping, V2Mapping, page_bytes, read_meta)
from rbmap.impl import ringbuf
from rbmap.impl.ringbuf import (RB_PAGE_HEAD, RB_PAGE_UPDATE, RB_WRITE_MASK, BufferDataPage,
                                TraceBuffer)
from rbmap.model import protocol as P

__all__ = ["UNMAPPED_FLAGS", "Geometry", "choose_geometry", "ImplSystem", "abstract", "boundary",
           "dont_care", "state_diff", "impl_abi", "SUPPORTED", "MAGIC", "Unsupported",
           "writer_phase", "stack", "Blocked", "REPEATS", "units", "data_seqs",
           "LibrarySlot", "lib_seq", "committed_unread"]

MAGIC = b"SEQ!"
#: sticky bits of the model's FLAGS slot the ghost does not compute (see the
#: module docstring); :func:`state_diff` compares FLAGS without them
UNMAPPED_FLAGS = (P.F_META_LOST | P.F_LOSS_MISREPORT | P.G_LOSS_FLAGGED
                  | P.G_TEXT_LEFT_LOSS)
for _entry in P.KERNEL_LOG:
    UNMAPPED_FLAGS |= _entry[0]
#: model variants impl implements (impl has the v2 seed and the 6.10-6.12 ABI)
SUPPORTED = {"v2": "v2", "upstream": "upstream"}


class Unsupported(ValueError):
    """The model variant or configuration has no impl counterpart."""


def impl_abi(model) -> str:
    """impl's ABI for a model, or raise :class:`Unsupported` naming why."""
    r = model.rules
    if r["meta_fields"] == "upstream" and r["get_reader"] == "consume_to_commit" \
            and r["writer_meta"] == "none" and r["reader_start"] == "reader_read":
        return "upstream"
    if r["meta_fields"] == "v2" and r["get_reader"] == "v2_swap" \
            and r["writer_meta"] == "v2_fastpath" and r["data_index"] == "none":
        return "v2"
    raise Unsupported(
        f"variant {model.variant.name!r}: impl implements only the v2 seed and the "
        "upstream (6.10-6.12) ABI; a v3-read impl would need the v3 meta page "
        "(entries, overrun, reader_page, read) and its ioctl in impl/mapping.py")


# ---------------------------------------------------------------------------
# geometry and event payloads
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Geometry:
    page_size: int      # bytes of a sub-buffer (order 0), header included
    payload_len: int    # bytes of each event's payload
    event_len: int      # bytes it takes on the page (rb_calculate_event_length)
    per_page: int       # events per sub-buffer (the model's page_events)

    @property
    def capacity(self) -> int:
        return self.page_size - ev.BUF_PAGE_HDR_SIZE


def choose_geometry(per_page: int) -> Geometry:
    """The smallest sub-buffer and payload where exactly ``per_page`` events fit,
    with or without an 8-byte time stamp in front of each."""
    ps = 256
    while ps <= 1 << 16:
        cap = ps - ev.BUF_PAGE_HDR_SIZE
        for n in range(8, cap):
            length = ev.rb_calculate_event_length(n)
            if per_page * (length + ev.RB_LEN_TIME_EXTEND) <= cap < (per_page + 1) * length:
                return Geometry(ps, n, length, per_page)
        ps *= 2
    raise Unsupported(f"no sub-buffer size fits {per_page} events exactly")


def payload(seq: int, n: int) -> bytes:
    return MAGIC + struct.pack("<I", seq) + bytes(n - 8)


def _events(buf, nbytes: int, limit_cap: int):
    """(offset, length, seq or None, kind) of the events in the first nbytes of data;
    stops at the first thing that is not a well-formed event."""
    data = memoryview(buf)[ev.BUF_PAGE_HDR_SIZE:]
    nbytes = min(nbytes, limit_cap)
    off = 0
    out = []
    while off < nbytes:
        try:
            e = ev.decode_event(data, off, nbytes)
        except (ValueError, struct.error):
            break
        if e.length <= 0:
            break
        if e.kind == "data":
            p = e.payload
            if len(p) < 8 or p[:4] != MAGIC:
                break
            out.append((off, e.length, struct.unpack_from("<I", p, 4)[0], "data"))
        else:
            out.append((off, e.length, None, e.kind))
        off += e.length
    return out


def data_seqs(buf, nbytes: int, cap: int) -> list[int]:
    """Sequence numbers of the data events in the first ``nbytes`` of a page."""
    return [s for _, _, s, _ in _events(buf, nbytes, cap) if s is not None]


def committed_unread(sysm) -> set[int]:
    """Sequence numbers of the events committed and not consumed now: below the
    commit of every ring page (a page enters the ring, or is moved onto by the
    writer, with its commit zeroed) and between ``read`` and the commit of the
    reader page."""
    rp = sysm.cb.reader_page.value
    cap = sysm.geo.capacity
    out = set()
    for bp in sysm.pages:
        c = bp.page.commit() & ev.COMMIT_SIZE_MASK
        for off, _, q, _ in _events(bp.page.buf, c, cap):
            if q is not None and (bp is not rp or off >= rp.read):
                out.add(q)
    return out


def generation(buf, cap: int) -> tuple[int, int]:
    """(base, filled): the run of consecutive sequence numbers from the page start."""
    seqs = data_seqs(buf, cap, cap)
    if not seqs:
        return 0, 0
    n = 1
    while n < len(seqs) and seqs[n] == seqs[0] + n:
        n += 1
    return seqs[0], n


def _mask(lo: int, n: int) -> int:
    return ((1 << n) - 1) << lo if n > 0 else 0


# ---------------------------------------------------------------------------
# generator stacks: where a task is suspended
# ---------------------------------------------------------------------------

_PRIMITIVES = {"load", "store", "cmpxchg", "add_return", "commit_load", "commit_set",
               "commit_add", "data_write", "set_time_stamp", "data_read", "acquire",
               "release", "spin_until", "meta_store", "meta_cmpxchg", "_starter"}


def stack(gen) -> list:
    out = []
    while gen is not None:
        out.append(gen)
        gen = gen.gi_yieldfrom
    return out


def _deep_stack(gen) -> list:
    """:func:`stack`, also into the generators driven by :func:`_run_until` and
    :func:`_resume` (a system call a user step runs part of)."""
    out = []
    while gen is not None:
        out.append(gen)
        nxt = gen.gi_yieldfrom
        if nxt is None and gen.gi_code.co_name in ("_run_until", "_resume") and \
                gen.gi_frame is not None:
            nxt = gen.gi_frame.f_locals.get("gen")
        gen = nxt
    return out


def _names(gen) -> list[str]:
    return [g.gi_code.co_name for g in stack(gen)]


def _at_line(gen, text: str) -> bool:
    """Whether generator ``gen`` is suspended on a source line containing ``text``."""
    frame = gen.gi_frame
    return frame is not None and text in linecache.getline(gen.gi_code.co_filename,
                                                            frame.f_lineno)


def _innermost_fn(gens) -> object | None:
    """The innermost generator that is a kernel function (not a Cell primitive)."""
    for g in reversed(gens):
        if g.gi_code.co_name not in _PRIMITIVES:
            return g
    return None




# writer phases at a boundary, from the names on the stack and the next op label
#: boundaries a write passes more than once inside one model step (the reserve
#: attempt before its add_return; rb_end_commit's re-check loop)
REPEATS = (P.W_BEGUN, P.W_RECHECK, P.W_RELEASED)


def _committer(names) -> bool:
    """Whether rb_end_commit runs for rb_commit or for rb_move_tail (not for a
    dropped reserve, which the model keeps as one step)."""
    return "rb_commit" in names or "_out_again" in names


def writer_phase(gen, label: str | None, v2: bool, steps: bool = True) -> int | None:
    """The model phase of a write whose generator is suspended at ``label``, or None
    when it is between two model steps (not at a boundary). ``steps``: the model's
    granularity is "fine" (with "coarse", rb_set_commit_to_write, rb_move_tail's
    rb_end_commit and the seed's mapped loads hold no boundary)."""
    if gen is None or label in ("write begins", "start"):
        return 0
    names = _names(gen)
    if not steps and ("rb_set_commit_to_write" in names or (
            "_out_again" in names and "rb_end_commit" in names and not (
                label == "committing load" and "committing" not in
                _innermost_fn(stack(gen)).gi_frame.f_locals))):
        return None
    inner = _innermost_fn(stack(gen))
    fn = inner.gi_code.co_name if inner is not None else ""
    if fn == "__rb_reserve_next" and (label == "tail_page load" or (
            "write" not in inner.gi_frame.f_locals and "tail_page" in inner.gi_frame.f_locals)):
        # before the reservation's add_return (its linearization point): the write
        # may have loaded tail_page already (a stale one if an interrupt moves it)
        return P.W_BEGUN
    if fn == "rb_commit" and label == "entries add_return":
        return P.W_RESERVED
    if fn == "_out_again" and label == "committing add_return":
        # rb_move_tail's rb_end_commit has given the committing count back; its
        # local_inc(&committing) is next: an interrupt now is the outermost writer
        return P.W_WINDOW
    if fn == "rb_set_commit_to_write" and label == "commit_page load" and \
            _committer(names) and _at_line(inner, "# walk"):
        # the outermost commit (it loaded cpu_buffer->commits and found
        # committing == 1) is at the head of its walk up to the tail page
        return P.W_COMMITTING
    if fn == "rb_set_commit_to_write" and label == "commit_page store" and \
            _committer(names) and _at_line(inner, "# next page"):
        # the walk stored the page's commit; rb_inc_page(&commit_page) next
        return P.W_PAGE_SET
    if fn == "rb_set_commit_to_write" and label == "commit_page load" and \
            _committer(names) and _at_line(inner, "# last page"):
        # the walk found the commit page at the tail page; this loop publishes the
        # commit page's write index until it finds them equal (the model's
        # publish, then published)
        return P.W_WALKED
    if fn == "rb_set_commit_to_write" and label.endswith("commit store") and \
            _committer(names) and _at_line(inner, "# store"):
        # that loop loaded a write index different from the commit; its store next
        return P.W_STORING
    if fn == "rb_set_commit_to_write" and label == "commit_page load" and \
            _committer(names) and _at_line(inner, "# final check"):
        # the walk is done; its final check (did an interrupt move the tail?) is
        # next: the model's publish (again) or publish_end
        return P.W_PUBLISHING
    if fn == "rb_end_commit" and label == "committing add_return" and \
            _committer(names) and _at_line(inner, "add_return(-1)") and \
            inner.gi_frame.f_locals.get("committing") == 1:
        # the outermost commit (committing == 1) has published
        # (rb_set_commit_to_write) and owes the re-check of cpu_buffer->commits
        return P.W_RECHECK
    if fn == "rb_end_commit" and label == "commits load" and \
            _committer(names) and _at_line(inner, "!= commits") and \
            inner.gi_frame.f_locals.get("committing") == 1:
        # the outermost commit has run local_dec(&committing) and re-checks
        # cpu_buffer->commits next: an interrupt now is the outermost writer
        return P.W_RELEASED
    if fn == "rb_end_commit" and label == "committing load" and \
            "committing" not in inner.gi_frame.f_locals and "_out_again" in names:
        return P.W_MOVED     # the tail move is done; it owes end_commit_move
    if v2:
        if steps and label == "mapped load" and fn == "writer_commit":
            return P.W_COUNTED
        if steps and label == "mapped load" and fn == "writer_tail_page_update":
            return P.W_TMOVED
        if label == "meta_page->hdr.entries store" and "writer_commit" in names:
            return P.W_INC
        if label == "meta_page->hdr.pages_touched store" and \
                "writer_tail_page_update" in names:
            return P.W_MTSTORE
        if fn == "rb_end_commit" and label == "committing load" and \
                "committing" not in inner.gi_frame.f_locals and "rb_commit" in names and \
                "_out_again" not in names and "rb_reserve_next_event" not in names:
            return P.W_STORED
    if label == "write begins":
        return 0
    return None


# ---------------------------------------------------------------------------
# the impl system
# ---------------------------------------------------------------------------

class Runner:
    """One generator stepped by hand (replay mode): ``op`` is its next operation."""

    def __init__(self, name: str, gen):
        self.name = name
        self.gen = gen
        self.done = False
        self.result = None
        self.op = None
        self._advance(None, first=True)

    def _advance(self, value, first=False):
        try:
            self.op = next(self.gen) if first else self.gen.send(value)
        except StopIteration as stop:
            self.done = True
            self.result = stop.value
            self.op = None

    @property
    def label(self):
        return None if self.op is None else self.op[0]

    def runnable(self) -> bool:
        if self.done:
            return False
        guard = self.op[2]
        return guard is None or bool(guard())


@dataclass
class UserProc:
    """What the harness knows about one user process (``pN``)."""

    name: str
    phase: int = P.P_IDLE
    page: int = 0          # model page index of the page it reads
    dpage: object = None   # that page's BufferDataPage, resolved through the mapping
    pos: int = 0           # events read on it (model POS)
    pos_bytes: int = 0
    lim: int = 0           # model LIM (events), lim_bytes the byte offset
    lim_bytes: int = 0
    pb: int = 0            # the page's base sequence number when it took the page
    refs: object = None    # upstream: page refs of its VMA; v2: faulted pages
    delivered: list = field(default_factory=list)
    # GET_READER stopped before its rb_update_meta_page: (generator, next op)
    ioctl_rest: object = None
    # the seed's last unmap stopped at synchronize_rcu: (generator, next op)
    unmap_rest: object = None
    has_mapped: bool = False   # the harness: its first map has returned


@dataclass
class Ghost:
    """What the harness saw happen (the history the model keeps in its state)."""

    seq: int = 0
    seq_of: dict = field(default_factory=dict)   # (id(bpage), tail) -> seq
    deliv: int = 0
    dups: int = 0
    acct: int = 0
    lostu: int = 0
    flags: int = 0
    pipe_left: int = 0
    resets_left: int = 0
    # v2: meta overrun deferred while a write is between head push and meta store
    deferred_overrun: dict = field(default_factory=dict)  # level -> value before
    pushed: dict = field(default_factory=dict)            # level -> overrun pushed
    push_loads: dict = field(default_factory=dict)        # level -> the push's
    #                                      mapped load is next (the seed's writer)
    rcs: list = field(default_factory=list)
    stale: dict = field(default_factory=dict)       # level -> page index of the
    #                                                 tail_page it may have loaded
    last_phase: dict = field(default_factory=dict)  # level -> model phase
    headswap: dict = field(default_factory=dict)    # level -> True: a reader swapped
    #             out the page after its full tail page (the model's WR3 in W_BEGUN)


class ImplSystem:
    """impl's CPU-0 ring buffer and mapping set up to match ``model``'s config.

    Writes are generators on a stack (level 0 = ``writer``, 1 = ``irq1`` ...);
    kernel and user operations run their impl generators to completion.  Every
    step goes through :meth:`step`, which keeps the ghost (:meth:`observe`).
    """

    def __init__(self, model, geometry: Geometry | None = None):
        self.model = model
        self.abi = impl_abi(model)
        self.v2 = self.abi == "v2"
        self.fine_commit = model.fine
        c = model.config
        if c.fork or c.nc_readers:
            raise Unsupported("fork/dofork and the non-consuming reader are not driven "
                              "on impl by the conformance harness")
        self.geo = geometry or choose_geometry(c.page_events)
        self.buffer = TraceBuffer(c.pages, page_size=self.geo.page_size,
                                  overwrite=c.overwrite, name="buffer")
        self.cb = self.buffer.buffers[0]
        self.mapping = V2Mapping() if self.v2 else UpstreamMapping("6.12")
        self.cb.mapping = self.mapping
        self.other = TraceBuffer(c.pages, page_size=self.geo.page_size,
                                 overwrite=c.overwrite, name="other")
        # model page numbering: the reader page 0, the ring 1..N from the head
        self.pages = [self.cb.reader_page.value] + self.cb.ring_pages()
        self.idx = {id(p): i for i, p in enumerate(self.pages)}
        self.didx = {id(p.page): i for i, p in enumerate(self.pages)}
        self.ghost = Ghost(pipe_left=c.pipe_reads, resets_left=c.resets)
        self.procs = [UserProc(n) for n in model.proc_names]
        self.writes: list[Runner | None] = [None] * model.D
        self.steps = 0
        self.last_meta = None
        self.spare = [BufferDataPage(self.buffer.subbuf_bytes)]
        #: processes run by the reader library (task name -> LibrarySlot)
        self.libs: dict[str, LibrarySlot] = {}

    # ------------------------------------------------------------------ stepping
    def step(self, r: Runner, level: int | None = None) -> str:
        """Execute ``r``'s next operation (raise Blocked if it cannot run)."""
        if not r.runnable():
            raise Blocked(f"{r.name} is blocked at '{r.label}'")
        label = r.label
        r._advance(None)
        self.steps += 1
        self.observe(r.gen if not r.done else None, label, level)
        return label

    def observe(self, gen, label: str, level: int | None) -> None:
        """Keep the ghost after a step that executed ``label`` (gen: where the task
        is now suspended, None if it finished)."""
        g = self.ghost
        cb = self.cb
        cap = self.geo.capacity
        if label.endswith(".write add_return") and gen is not None:
            inner = _innermost_fn(stack(gen))
            if inner is not None and inner.gi_code.co_name == "__rb_reserve_next":
                loc = inner.gi_frame.f_locals
                tail, tp = loc.get("tail"), loc.get("tail_page")
                if tail is not None and tp is not None and \
                        loc.get("write", 0) <= self.buffer.subbuf_size:
                    if tail == 0:
                        base, n = generation(tp.page.buf, cap)
                        missing = _mask(base, n) & ~(g.deliv | g.acct)
                        g.lostu |= missing
                    g.seq_of[(id(tp), tail)] = g.seq
                    g.seq += 1
        elif label in ("commit_overrun add_return", "dropped_events add_return"):
            g.acct |= 1 << g.seq
            g.seq += 1
        elif label == "overrun add_return" and gen is not None:
            inner = _innermost_fn(stack(gen))
            if inner is not None and inner.gi_code.co_name == "rb_handle_head_page":
                nxt = inner.gi_frame.f_locals.get("next_page")
                if nxt is not None:
                    w = nxt.write.value & RB_WRITE_MASK
                    for s in data_seqs(nxt.page.buf, w, cap):
                        g.acct |= 1 << s
                if cb.mapped.value > 0:
                    g.flags |= P.G_OVERRUN_MAPPED
                if level is not None:
                    g.pushed[level] = cb.overrun.value
                    if self.v2:
                        g.push_loads[level] = True
                    if self.v2 and cb.meta_page is not None:
                        # the seed stores meta->overrun now; the model at
                        # meta_store_tail (see the module docstring)
                        g.deferred_overrun[level] = self.mapping.field(cb, "overrun")
        elif label == "mapped load" and level is not None and \
                g.push_loads.pop(level, False):
            # writer_head_page_push's READ_ONCE(mapped) (the load after the
            # push): unmapped, the seed stores no overrun (the model's WR1 -1)
            if not cb.mapped.value:
                g.pushed[level] = -1
                g.deferred_overrun.pop(level, None)
        elif label == "pages_touched add_return" and level is not None:
            # a tail move by this write: writes below it that are before their
            # reservation now hold a stale tail_page
            # (a write below is in flight; before its first model step boundary
            # the model already has it in W_BEGUN)
            mv = [f for f in stack(gen) if f.gi_code.co_name == "rb_move_tail"] \
                if gen is not None else []
            old = mv[-1].gi_frame.f_locals.get("tail_page") if mv else None
            for lvl, ph in g.last_phase.items():
                if lvl < level and ph in (0, P.W_BEGUN) and lvl not in g.stale:
                    # the page it may have loaded: the tail before this move
                    g.stale[lvl] = self.idx.get(id(old), -1)
        elif label == "reader_page store" and gen is not None and any(
                f.gi_code.co_name == "rb_get_reader_page" for f in _deep_stack(gen)):
            # a reader swap took the page after the tail page: a write before its
            # reservation on a full tail page may have seen it flagged HEAD
            swap = [f for f in _deep_stack(gen)
                    if f.gi_code.co_name == "rb_get_reader_page"]
            hp = swap[-1].gi_frame.f_locals.get("hp")
            if hp is not None and cb.tail_page.value is hp and \
                    _page_counts(self, hp)[0] >= self.model.K:
                for lvl, ph in g.last_phase.items():
                    if ph == P.W_BEGUN:
                        g.headswap[lvl] = True
        elif label == "meta_page->hdr.pages_touched store" and level is not None:
            g.deferred_overrun.pop(level, None)
            g.pushed.pop(level, None)
        if self.v2 and cb.meta_page is not None and label.startswith("meta_page->hdr."):
            self._check_backwards()

    def _check_backwards(self) -> None:
        cur = self._meta_counters()
        if self.last_meta is not None and cur is not None:
            if any(a < b for a, b in zip(cur, self.last_meta)):
                self.ghost.flags |= P.F_BACKWARDS
        self.last_meta = cur

    def _meta_counters(self):
        cb = self.cb
        if cb.meta_page is None:
            return None
        if self.v2:
            f = self.mapping.field
            return (f(cb, "entries"), f(cb, "overrun"), f(cb, "pages_touched"))
        m = read_meta(cb.meta_page.buf)
        return (m["entries"], m["overrun"], m["read"])

    #: impl operations one model step may take before it counts as a livelock
    MAX_OPS = 20000

    def run_to_end(self, r: Runner, level=None) -> object:
        n = 0
        while not r.done:
            self.step(r, level)
            n += 1
            if n > self.MAX_OPS:
                raise Blocked(f"{r.name} did not finish in {self.MAX_OPS} operations "
                              f"(livelock at '{r.label}')")
        return r.result

    # ------------------------------------------------------------------ writes
    def write_gen(self):
        """One write: reserve, fill the payload with its sequence number, commit."""
        cb = self.cb
        geo = self.geo
        yield ("write begins", "shared", None)
        res = yield from cb.ring_buffer_lock_reserve(geo.payload_len)
        if res is None:
            return -16
        seq = self.ghost.seq_of.get((id(res.bpage), res.tail))
        if seq is None:
            raise Blocked("harness: a reservation was not observed (no sequence number)")
        yield from cb.write_event(res, payload(seq, geo.payload_len))
        yield from cb.ring_buffer_unlock_commit()
        return 0

    def set_phase(self, level: int, ph: int) -> None:
        """Record the model phase a write reached (for the stale-tail ghost)."""
        self.ghost.last_phase[level] = ph
        if ph != P.W_BEGUN:
            self.ghost.stale.pop(level, None)
            self.ghost.headswap.pop(level, None)
        if ph == P.W_MOVED:
            # the seed's stores after the tail move are done (the model's
            # tail_meta_load or meta_store_tail made the head push's)
            self.ghost.deferred_overrun.pop(level, None)
            self.ghost.pushed.pop(level, None)

    def prefetch_tail(self, level: int) -> None:
        """Let the write at ``level`` (at the start of its reservation) load
        tail_page now, so that an interrupt that moves the tail leaves it stale."""
        r = self.writes[level]
        if r is not None and r.label == "tail_page load":
            self.step(r, level)

    def writer_step(self, level: int, action: str) -> None:
        """Run the write at ``level`` through one model step (``action``)."""
        r = self.writes[level]
        if action == "write_begin":
            if r is not None:
                raise Blocked(f"level {level} already writes")
            r = self.writes[level] = Runner(self.model.actor_names[level], self.write_gen())
        if r is None:
            raise Blocked(f"no write in flight at level {level}")
        start = writer_phase(r.gen, r.label, self.v2, self.fine_commit) \
            if action != "write_begin" else 0
        n = 0
        while True:
            n += 1
            if n > self.MAX_OPS:
                raise Blocked(f"{r.name} did not reach its next model step in "
                              f"{self.MAX_OPS} operations (livelock at '{r.label}')")
            self.step(r, level)
            if r.done:
                self.writes[level] = None
                self.ghost.pushed.pop(level, None)
                self.ghost.deferred_overrun.pop(level, None)
                self.set_phase(level, 0)
                break
            ph = writer_phase(r.gen, r.label, self.v2, self.fine_commit)
            if ph is not None and ph != 0 and not (ph == start and ph in REPEATS):
                self.set_phase(level, ph)
                break

    # ------------------------------------------------------------------ kernel ops
    def kernel_op(self, action: str) -> int:
        cb = self.cb
        g = self.ghost
        if action == "resize":
            size = (cb.nr_pages + 1) * self.buffer.subbuf_size
            rc = self.run_to_end(Runner("kernel", ringbuf.ring_buffer_resize(self.buffer, size, 0)))
            if rc == 0:
                g.flags |= P.F_RESIZED
            return rc
        if action == "swap_cpu":
            rc = self.run_to_end(Runner("kernel", ringbuf.ring_buffer_swap_cpu(
                self.buffer, self.other, 0, warn_mapped=False)))
            if rc == 0:
                g.flags |= P.F_SWAPPED
            return rc
        if action == "reset":
            g.acct |= _mask(0, g.seq) & ~g.deliv
            g.resets_left -= 1
            rc = self.run_to_end(Runner("kernel", cb.ring_buffer_reset_cpu()))
            self.last_meta = self._meta_counters()
            return rc or 0
        if action == "read_page":
            return self.pipe_read()
        raise Blocked(f"unknown kernel action {action}")

    def get_reader_unmapped(self) -> int:
        """TRACE_MMAP_IOCTL_GET_READER on a trace_pipe_raw file nobody has mapped
        (the model has no step for it: -ENODEV, nothing changes)."""
        cb = self.cb
        gen = (self.mapping.ring_buffer_get_reader_page(cb) if self.v2
               else self.mapping.ring_buffer_map_get_reader(cb))
        return self.run_to_end(Runner("probe", gen))

    def pipe_read(self) -> int:
        """A trace_pipe_raw read of one page (ring_buffer_read_page)."""
        cb = self.cb
        g = self.ghost
        before = {id(bp.page) for bp in self.pages}
        ret = self.run_to_end(Runner("pipe", cb.ring_buffer_read_page(
            self.spare, self.buffer.subbuf_bytes)))
        if ret < 0:
            return ret
        g.pipe_left -= 1
        out = self.spare[0]
        commit = out.commit() & ev.COMMIT_SIZE_MASK
        for s in data_seqs(out.buf, commit, self.geo.capacity):
            self._deliver(s)
        if id(out) in before:
            # the reader page's bytes left the ring (the caller's page took its place)
            if cb.mapped.value > 0:
                g.flags |= P.F_PAGE_LEFT
            self.spare = [BufferDataPage(self.buffer.subbuf_bytes)]
        self.didx = {id(bp.page): i for i, bp in enumerate(self.pages)}
        return ret

    def _deliver(self, seq: int) -> None:
        g = self.ghost
        bit = 1 << seq
        if g.deliv & bit:
            g.dups |= bit
        g.deliv |= bit

    # ------------------------------------------------------------------ user ops
    def _meta_buf(self, p: UserProc):
        if self.v2:
            return page_bytes(self._v2_ref(p, 0), self.geo.page_size)
        return page_bytes(p.refs[0], self.geo.page_size)

    def _v2_ref(self, p: UserProc, pgoff: int):
        ref = p.refs.get(pgoff)
        if ref is None:
            ref = self.mapping.ring_buffer_map_fault(self.cb, pgoff)
            if ref is None or ref == "oops":
                raise Blocked(f"{p.name}: the fault handler refused page {pgoff}")
            p.refs[pgoff] = ref
        return ref

    def _data_page(self, p: UserProc, sub_id: int):
        """The BufferDataPage the process sees at sub-buffer ``sub_id``."""
        if self.v2:
            ref = self._v2_ref(p, (1 << self.cb.meta_order) + sub_id)
        else:
            ref = p.refs[1 + sub_id]
        return ref[1]

    def _ioctl_end(self, p: UserProc, rc):
        """After GET_READER returned: the meta page must name the reader page."""
        cb = self.cb
        if rc == 0 and cb.meta_page is not None:
            if self.v2:
                mid = self.mapping.field(cb, "reader_page")
            else:
                mid = read_meta(cb.meta_page.buf)["reader.id"]
            if mid != cb.reader_page.value.id:
                self.ghost.flags |= P.F_IOCTL_META
        p.phase = P.P_IOCTLED
        self._check_backwards()
        return rc
        yield  # (a generator, for ``yield from``)

    def user_op(self, i: int, action: str) -> int:
        """Run one user-process step to completion (replay mode)."""
        return self.run_to_end(Runner(self.procs[i].name, self.user_gen(i, action)))

    def user_gen(self, i: int, action: str):
        """One user-process step as a generator: a marker yield, then the system call
        (impl's kernel function, yield by yield) or the loads from the mapping."""
        p = self.procs[i]
        yield (f"{p.name} {action}", "shared", None)
        cb = self.cb
        g = self.ghost
        m = self.model
        if action == "map":
            if self.v2:
                first = cb.mapped.value == 0
                rc = yield from self.mapping.ring_buffer_map(cb)
                if rc == 0:
                    p.refs = {}
                    if first:
                        beyond = (1 << cb.meta_order) + cb.nr_pages + 1
                        if self.mapping.ring_buffer_map_fault(cb, beyond) is not None:
                            g.flags |= P.F_FAULT
            else:
                total = self.mapping.total_pages(cb)
                flags = VM_READ | VM_SHARED | VM_MAYSHARE
                rc, refs = yield from self.mapping.ring_buffer_map(cb, 0, total, flags)
                if rc == 0:
                    p.refs = refs
                    # every offset of a full mapping and one beyond (the model's
                    # map_fault check): one page past the end must be refused
                    # (refused by the bounds check itself: __rb_map_vma's later
                    # WARN_ON_ONCE(s >= nr_subbufs) firing counts as a fault too)
                    vma = self.mapping._UpstreamMapping__rb_map_vma
                    warned = len(self.buffer.kmsg)
                    if not isinstance(vma(cb, total, 1, flags), int) or \
                            not isinstance(vma(cb, 0, total + 1, flags), int) or \
                            len(self.buffer.kmsg) != warned:
                        g.flags |= P.F_FAULT
            if rc == 0:
                p.phase = P.P_MAPPED
                self.last_meta = self._meta_counters()
            return rc
        pad = getattr(m, "padding", False)
        if action == "read_meta":
            buf = self._meta_buf(p)
            if self.v2:
                rid = struct.unpack_from("<I", buf, 24)[0]
                rread = 0
            else:
                mv = read_meta(buf)
                rid, rread = mv["reader.id"], mv["reader.read"]
            dpage = self._data_page(p, rid)
            page = self.didx.get(id(dpage), -1)
            lim_events = units(dpage.buf, rread, self.geo.capacity, pad)
            if p.phase == P.P_MAPPED or page != p.page:
                start = m.start_at_read and p.phase == P.P_MAPPED
                p.page, p.dpage = page, dpage
                p.pos_bytes = rread if start else 0
                p.pos = lim_events if start else 0
                p.pb = generation(dpage.buf, self.geo.capacity)[0]
            p.lim, p.lim_bytes = lim_events, rread
            p.phase = P.P_READING
            return 0
        if action == "read_event":
            evs = _events(p.dpage.buf, self.geo.capacity, self.geo.capacity)
            base, filled = generation(p.dpage.buf, self.geo.capacity)
            seq = kind = None
            nxt = p.pos_bytes
            for off, ln, q, k in evs:
                if off >= p.pos_bytes:
                    nxt = off + ln
                    if k in ("data", "padding"):
                        seq, kind = q, k
                        break
            if base != p.pb:
                g.flags |= P.F_TORN
            elif kind == "padding" and pad:
                pass            # the writer's padding: one unit, no event
            elif p.pos >= filled or seq is None:
                g.flags |= P.F_TORN
            else:
                self._deliver(seq)
                p.delivered.append(seq)
            p.pos += 1
            p.pos_bytes = nxt
            return 0
        if action == "page_done":
            p.phase = P.P_PAGE_DONE
            return 0
        if action == "ioctl":
            before = cb.reader_page.value
            gen = (self.mapping.ring_buffer_get_reader_page(cb) if self.v2
                   else self.mapping.ring_buffer_map_get_reader(cb))
            if m.ioctl_refresh:
                # the model's ioctl ends before rb_update_meta_page: stop there
                done, rc = yield from _run_until(gen, "rb_update_meta_page")
                if cb.reader_page.value is not before:
                    g.flags |= P.G_IOCTL_SWAP
                p.phase = P.P_IOCTLED
                if not done:
                    p.ioctl_rest = rc
                    return 0
                return rc
            rc = yield from gen
            if cb.reader_page.value is not before:
                g.flags |= P.G_IOCTL_SWAP
            return (yield from self._ioctl_end(p, rc))
        if action == "ioctl_meta":
            rc = yield from self._resume_rest(p, "ioctl_rest", "inside GET_READER")
            return (yield from self._ioctl_end(p, rc))
        if action == "update_meta":
            return (yield from self.mapping.ring_buffer_update_meta_page(cb))
        if action in ("unmap", "exit"):
            phase = P.P_IDLE if action == "unmap" else P.P_EXITED
            held = p.phase != P.P_IDLE
            p.phase, p.page, p.dpage, p.pos, p.pos_bytes = phase, 0, None, 0, 0
            p.lim = p.lim_bytes = p.pb = 0
            p.refs = None
            if not held:
                return 0
            gen = self.mapping.ring_buffer_unmap(cb)
            if self.v2 and self.fine_commit:
                # the model's unmap ends at synchronize_rcu while writes are in
                # flight (then unmap_sync)
                done, rc = yield from _run_until(gen, "synchronize_rcu")
                if not done:
                    if cb.nest:
                        p.unmap_rest = rc
                        return 0
                    rc = yield from _resume(*rc)
            else:
                rc = yield from gen
            return self._unmap_end(rc)
        if action == "unmap_sync":
            rc = yield from self._resume_rest(p, "unmap_rest",
                                              "waiting in synchronize_rcu")
            return self._unmap_end(rc)
        raise Blocked(f"unknown process action {action}")

    def _resume_rest(self, p: UserProc, attr: str, where: str):
        """Finish the system call that ``p`` stopped in (``p.<attr>``)."""
        rest = getattr(p, attr)
        if rest is None:
            raise Blocked(f"{p.name} is not {where}")
        rc = yield from _resume(*rest)
        setattr(p, attr, None)
        return rc

    def _unmap_end(self, rc):
        if rc == ENODEV:
            self.ghost.flags |= P.F_ENODEV
        if self.cb.meta_page is None:
            self.last_meta = None
        return rc

    # ------------------------------------------------------------------ the library
    def library_step(self, slot: "LibrarySlot", step: str, before,
                     split: bool = False) -> str | None:
        """Library step ``step`` of the process in ``slot`` has ended: bring the
        harness's record of that process (UserProc, ghost) to what the library did,
        and return the model step it was (None: a stutter).

        The map (:data:`rbmap.impl.userlib.STEPS`): ``map`` (the first mmap, of the
        meta page) is the model's map; the second mmap (the sub-buffers) and the
        first munmap are stutters (the model counts one mapping per process: see
        ``abstract``); ``look`` is read_meta (the page the process reads is the one
        its data VMA maps at ``reader.id``; positions are converted to the model's
        units on that page); ``read_event`` delivers what the library decoded (or
        is a torn read when the page's generation moved since the process took
        it); greedy's ``next_event`` is read_event when it read and page_done at
        the commit; ``get_reader`` is the ioctl up to its rb_update_meta_page
        (``ioctl_meta`` the rest, at granularity fine).  ``before``: (library
        position in bytes, events it had logged, the reader page) when the step
        began; ``split``: the get_reader step stopped at rb_update_meta_page."""
        p = self.procs[slot.index]
        lib = slot.reader
        port = slot.port
        cap = self.geo.capacity
        pad = getattr(self.model, "padding", False)
        if step == "map":
            if port.last_rc != 0:
                return None
            p.phase = P.P_MAPPED
            self.last_meta = self._meta_counters()
            return "map"
        if step in ("map_data", "unmap_data"):
            return None
        if step == "look":
            dpage = port.data_page(lib._data_vma, lib.id, lib.subbuf_size)
            page = self.didx.get(id(dpage), -1)
            if p.phase == P.P_MAPPED or page != p.page:
                p.page, p.dpage = page, dpage
                p.pb = generation(dpage.buf, cap)[0]
            p.pos_bytes = lib.pos
            p.pos = units(dpage.buf, lib.pos, cap, pad)
            p.lim, p.lim_bytes = units(dpage.buf, lib.limit, cap, pad), lib.limit
            p.phase = P.P_READING
            return "read_meta"
        if step in ("read_event", "next_event"):
            pos0, n0, _ = before
            if step == "next_event" and lib.pos == pos0:
                p.phase = P.P_PAGE_DONE
                return "page_done"
            base, filled = generation(p.dpage.buf, cap)
            got = lib.log.seqs[n0:]
            if base != p.pb or (got and p.pos >= filled):
                self.ghost.flags |= P.F_TORN
            else:
                for q in got:
                    self._deliver(q)
                    p.delivered.append(q)
            p.pos += 1
            p.pos_bytes = lib.pos
            return "read_event"
        if step == "get_reader":
            if self.cb.reader_page.value is not before[2]:
                self.ghost.flags |= P.G_IOCTL_SWAP
            p.phase = P.P_IOCTLED
            if split:
                p.ioctl_rest = True      # stopped before rb_update_meta_page
                return "ioctl"
            run_plain_end(self._ioctl_end(p, port.last_rc))
            return "ioctl"
        if step == "ioctl_meta":
            p.ioctl_rest = None
            run_plain_end(self._ioctl_end(p, port.last_rc))
            return "ioctl_meta"
        if step == "unmap":
            p.phase, p.page, p.dpage, p.pos, p.pos_bytes = P.P_IDLE, 0, None, 0, 0
            p.lim = p.lim_bytes = p.pb = 0
            self._unmap_end(port.last_rc)
            return "unmap"
        raise Blocked(f"unknown library step {step!r}")

    # ------------------------------------------------------------------ model steps
    def do(self, action) -> int:
        """Perform one model action on impl; returns the impl return code."""
        actor, name = action[0], action[1]
        m = self.model
        if actor in m.actor_names:
            self.writer_step(m.actor_names.index(actor), name)
            rc = 0
        elif actor in ("kernel", "pipe"):
            rc = self.kernel_op(name)
        elif actor in m.proc_names:
            rc = self.user_op(m.proc_names.index(actor), name)
        else:
            raise Blocked(f"no impl counterpart for actor {actor!r}")
        return rc


def _run_until(gen, label: str):
    """Run ``gen`` (yield by yield, as part of the caller's generator) until its
    next operation is ``label``, without running that one. Returns (True, result)
    if ``gen`` finished first, else (False, (gen, the pending operation))."""
    try:
        op = next(gen)
        while op[0] != label:
            value = yield op
            op = gen.send(value)
    except StopIteration as stop:
        return True, stop.value
    return False, (gen, op)


def _resume(gen, op):
    """Continue a generator stopped by :func:`_run_until` to its end."""
    try:
        while True:
            value = yield op
            op = gen.send(value)
    except StopIteration as stop:
        return stop.value


class Blocked(RuntimeError):
    """impl cannot take the step the model takes (blocked, or not enabled)."""


def run_plain_end(gen):
    """Run a generator that has no yield point to its return value."""
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    raise Blocked("harness: a step meant to be atomic yielded")


@dataclass
class LibrarySlot:
    """A model process run by the reader library: its index, its port
    (``rbmap.impl.systems.LibraryPort``) and the TraceReader it runs now (a
    process may run one reader after another)."""

    index: int
    port: object
    reader: object = None


def lib_seq(payload: bytes) -> int | None:
    """The sequence number of a conformance payload (``SEQ!`` + u32)."""
    if len(payload) >= 8 and bytes(payload[:4]) == MAGIC:
        return struct.unpack_from("<I", payload, 4)[0]
    return None


# ---------------------------------------------------------------------------
# the map
# ---------------------------------------------------------------------------

def units(buf, nbytes: int, cap: int, padding: bool) -> int:
    """The model's units in the first ``nbytes`` of a page: data events, plus one
    for a padding event after them when the model counts padding."""
    evs = _events(buf, nbytes, cap)
    n = sum(1 for e in evs if e[2] is not None)
    if padding and evs and evs[-1][3] == "padding" and n and \
            evs[-1][0] + evs[-1][1] <= nbytes:
        n += 1
    return n


def _page_counts(sysm: ImplSystem, bp) -> tuple[int, int]:
    """The model's write and commit of one page."""
    cap = sysm.geo.capacity
    pad = getattr(sysm.model, "padding", False)
    c = bp.page.commit() & ev.COMMIT_SIZE_MASK
    return _write_units(sysm, bp, bp.write.value & RB_WRITE_MASK), units(
        bp.page.buf, c, cap, pad)


def _write_units(sysm: ImplSystem, bp, w: int) -> int:
    """The model's units of a write index ``w`` (bytes) of one page."""
    cap = sysm.geo.capacity
    pad = getattr(sysm.model, "padding", False)
    seqs = [e for e in _events(bp.page.buf, w, cap) if e[2] is not None]
    nw = len(seqs)
    if pad and nw and w > seqs[-1][0] + seqs[-1][1]:
        # write reaches past the last event: the padding rb_reset_tail wrote (or,
        # for a reservation that ran past the end before rb_reset_tail ran, is
        # about to write; the seed's writer sits at its pages_touched meta store
        # then).  Its bytes may since hold a lost-events count (GET_READER).
        nw += 1
    return nw


def _real_end_zero(sysm: ImplSystem, bp, gens) -> bool:
    """Whether page ``bp``'s real_end is 0, or will be once the rb_reset_tail of
    the writes that crossed it and are still in rb_tail_page_update has run (the
    model resets the tail with the tail move; the seed's writer has a model step
    boundary in between). The one with the smallest ``tail`` runs it last."""
    tails = []
    for gl in gens:
        if gl is None:
            continue
        frames = stack(gl[0])
        if not any(f.gi_code.co_name == "rb_tail_page_update" for f in frames):
            continue
        for f in frames:
            loc = f.gi_frame.f_locals
            if f.gi_code.co_name == "rb_move_tail" and loc.get("tail_page") is bp:
                tails.append(loc["tail"])
    if not tails:
        return not bp.real_end.value
    bsize = sysm.buffer.subbuf_size
    t = min(tails)
    if t < bsize:
        return False                       # it pads the page: real_end = t
    return t == bsize or not bp.real_end.value


def boundary(sysm: ImplSystem) -> bool:
    """True when every write in flight is at a model step boundary."""
    for r in sysm.writes:
        if r is not None and writer_phase(r.gen, r.label, sysm.v2, sysm.fine_commit) is None:
            return False
    return True


def abstract(sysm: ImplSystem, writer_gens=None) -> tuple:
    """The model state impl is in (see the module docstring for what is read).

    ``writer_gens``: (generator, next label) per nesting level for writes in
    flight, when the caller drives them (the interleaving explorer); by default the
    system's own write stack."""
    m = sysm.model
    cb = sysm.cb
    g = sysm.ghost
    idx = sysm.idx
    N1 = m.N + 1
    s = [0] * m.SIZE
    s[P.SEQ] = g.seq
    gens = writer_gens
    if gens is None:
        gens = [(r.gen, r.label) if r is not None and not r.done else None
                for r in sysm.writes]
    hp = None
    for p in cb.ring_pages():
        nxt, flag = p.list_next.value
        if flag & (RB_PAGE_HEAD | RB_PAGE_UPDATE):
            hp = nxt
    s[P.HEAD] = idx.get(id(hp), -1)
    s[P.TAIL] = idx.get(id(cb.tail_page.value), -1)
    s[P.COMMITP] = idx.get(id(cb.commit_page.value), -1)
    reader = cb.reader_page.value
    s[P.READER] = idx.get(id(reader), -1)
    s[P.HCACHE] = idx.get(id(cb.head_page), -1)
    s[P.PAGESP] = idx.get(id(cb.pages), -1)
    s[P.ENTRIES] = cb.entries.value
    s[P.OVERRUN] = cb.overrun.value
    s[P.TOUCHED] = cb.pages_touched.value
    s[P.READCNT] = cb.read
    s[P.LASTOV] = cb.last_overrun
    s[P.LOSTEV] = cb.lost_events
    s[P.DROPPED] = cb.dropped_events.value + cb.commit_overrun.value
    # a process run by the reader library holds two VMAs (meta page, sub-buffers):
    # one mapping for the model, whose map is the first mmap (see library_step)
    s[P.MAPPED] = cb.mapped.value - sum(max(0, len(sl.port.vmas) - 1)
                                        for sl in sysm.libs.values())
    s[P.RESDIS] = cb.resize_disabled
    if m.snapshot_excl:
        # the harness maps through ring_buffer_map (no tracefs, no fork): tr->mapped
        # counts the model's mappings, as cpu_buffer->mapped does
        s[P.TRMAP] = max(s[P.MAPPED], 0)
    s[P.DELIV], s[P.DUPS], s[P.ACCT], s[P.LOSTU] = g.deliv, g.dups, g.acct, g.lostu
    s[P.FLAGS] = g.flags
    s[P.PIPEB] = g.pipe_left
    s[P.RESETB] = g.resets_left
    cap = sysm.geo.capacity
    mapped = cb.meta_page is not None
    for i, bp in enumerate(sysm.pages):
        if bp is not reader:
            s[m.NXT + i] = idx.get(id(bp.list_next.value[0]), -1)
        base, filled = generation(bp.page.buf, cap)
        s[m.PBASE + i], s[m.PFILL + i] = base, filled
        s[m.PWRITE + i], s[m.PCOMMIT + i] = _page_counts(sysm, bp)
        if s[m.PWRITE + i] > m.K and _real_end_zero(sysm, bp, gens):
            s[P.REAL0] |= 1 << i      # padded, real_end 0 (see the model's REAL0)
        if bp is reader:
            s[m.PREAD + i] = units(bp.page.buf, bp.read, cap,
                                   getattr(m, "padding", False))
            s[P.RFLAG] = _missed_flags(bp.page.buf, cap)
        if mapped:
            s[m.IDS + i] = bp.id
    if mapped:
        if sysm.v2:
            f = sysm.mapping.field
            s[P.M_ENTRIES] = f(cb, "entries")
            s[P.M_OVERRUN] = f(cb, "overrun")
            s[P.M_TOUCHED] = f(cb, "pages_touched")
            s[P.M_RID] = f(cb, "reader_page")
            s[P.M_DPH] = f(cb, "data_page_head")
            for k in range(m.N):
                s[m.DPAGES + k] = sysm.mapping.data_pages_get(cb, k)
            for lvl, old in g.deferred_overrun.items():
                s[P.M_OVERRUN] = old
        else:
            mv = read_meta(cb.meta_page.buf)
            s[P.M_ENTRIES] = mv["entries"]
            s[P.M_OVERRUN] = mv["overrun"]
            s[P.M_READ] = mv["read"]
            s[P.M_RID] = mv["reader.id"]
            s[P.M_LOST] = mv["reader.lost_events"]
            rid = mv["reader.id"]
            ids = cb.subbuf_ids
            if ids is not None and 0 <= rid < len(ids) and ids[rid] is not None:
                s[P.M_RREAD] = units(ids[rid].page.buf, mv["reader.read"], cap,
                                     getattr(m, "padding", False))
            else:
                s[P.M_RREAD] = -1
    # writes in flight
    depth = 0
    for lvl, gl in enumerate(gens):
        if gl is None:
            continue
        gen, label = gl
        ph = writer_phase(gen, label, sysm.v2, sysm.fine_commit)
        if ph is None:
            ph = -1  # not at a boundary: never equal to a model phase
        if ph == 0:
            continue
        s[m.WPH + depth] = ph
        if ph == P.W_BEGUN and lvl in g.stale:
            s[m.WR2 + depth] = 1
            s[m.WR1 + depth] = g.stale[lvl] + 1
        if ph == P.W_BEGUN and g.headswap.get(lvl) and sysm.fine_commit:
            s[m.WR3 + depth] = 1
        if ph in P.END_COMMIT_PHASES:
            # rb_end_commit's re-check will loop: cpu_buffer->commits moved since
            # its frame loaded ``commits``; WR1: it returns into rb_move_tail
            frames = stack(gen)
            if any(x.gi_code.co_name == "_out_again" for x in frames):
                s[m.WR1 + depth] = 1
            inner = [x for x in frames if x.gi_code.co_name == "rb_end_commit"]
            if inner:
                seen = inner[-1].gi_frame.f_locals.get("commits")
                if seen is not None and sysm.cb.commits.value != seen:
                    s[m.WR2 + depth] = 1
        if ph == P.W_STORING:
            inner = [x for x in stack(gen)
                     if x.gi_code.co_name == "rb_set_commit_to_write"]
            loc = inner[-1].gi_frame.f_locals
            s[m.WR3 + depth] = _write_units(sysm, loc["commit_page"], loc["w"])
        if ph == P.W_INC:
            inner = [x for x in stack(gen) if x.gi_code.co_name == "writer_commit"]
            if inner:
                s[m.WR1 + depth] = inner[-1].gi_frame.f_locals.get("v", 0)
        if ph == P.W_MTSTORE:
            inner = [x for x in stack(gen)
                     if x.gi_code.co_name == "writer_tail_page_update"]
            if inner:
                s[m.WR2 + depth] = inner[-1].gi_frame.f_locals.get("v", 0)
            s[m.WR1 + depth] = g.pushed.get(lvl, -1)
        if ph == P.W_TMOVED:
            s[m.WR1 + depth] = g.pushed.get(lvl, -1)
        depth += 1
    s[P.WDEPTH] = depth
    for i, p in enumerate(sysm.procs):
        if p.ioctl_rest is not None:
            s[P.IOCTLP] = i + 1
        if p.unmap_rest is not None:
            s[P.UNMAPW] = i + 1
    for i, p in enumerate(sysm.procs):
        b = m.PROC + P.NPF * i
        s[b + P.PH] = p.phase
        if P.P_MAPPED <= p.phase <= P.P_IOCTLED:
            s[b + P.PG] = p.page
            s[b + P.POS] = p.pos
            s[b + P.LIM] = p.lim
            s[b + P.PB] = p.pb
    return tuple(s)


def _missed_flags(buf, capacity: int) -> int:
    """The model's RFLAG of a page: 0, or (stored count << 1) | 1."""
    raw = struct.unpack_from("<q", buf, 8)[0]
    if not raw & ev.RB_MISSED_EVENTS_BIT:
        return 0
    size = raw & ev.COMMIT_SIZE_MASK
    lost = 0
    if raw & ev.RB_MISSED_STORED and size + 8 <= capacity:
        lost = struct.unpack_from("<Q", buf, ev.BUF_PAGE_HDR_SIZE + size)[0]
    return (lost << 1) | 1


def dont_care(model, s) -> set[int]:
    """Slots of model state ``s`` the map does not reproduce (see the docstring)."""
    out = {model.NXT + s[P.READER], P.GAP}
    for p in range(model.N + 1):
        if p != s[P.READER]:
            out.add(model.PREAD + p)
        if s[model.PFILL + p] == 0:
            out.add(model.PBASE + p)
    if s[P.MAPPED] <= 0:
        # nothing refers to the IDs while unmapped (the next first map renumbers)
        out.update(range(model.IDS, model.IDS + model.N + 1))
    return out


def _slot_names(model) -> dict[int, str]:
    names = {}
    for k, v in vars(P).items():
        if k.isupper() and isinstance(v, int) and 0 <= v < P.NGLOBAL and \
                k not in ("NGLOBAL", "NPF", "NNF") and not k.startswith(("F_", "G_", "W_",
                                                                          "P_", "NC_")):
            names.setdefault(v, k)
    for base, what in ((model.NXT, "next"), (model.IDS, "id"), (model.PBASE, "base"),
                       (model.PFILL, "filled"), (model.PWRITE, "write"),
                       (model.PCOMMIT, "commit"), (model.PREAD, "read")):
        for p in range(model.N + 1):
            names[base + p] = f"page{p}.{what}"
    for k in range(model.N):
        names[model.DPAGES + k] = f"data_pages[{k}]"
    for i, a in enumerate(model.actor_names):
        names[model.WPH + i] = f"{a}.phase"
        names[model.WR1 + i] = f"{a}.loaded1"
        names[model.WR2 + i] = f"{a}.loaded2"
        names[model.WR3 + i] = f"{a}.loaded_write"
    pf = ("phase", "page", "pos", "limit", "base", "child")
    for i, n in enumerate(model.proc_names):
        for j, f in enumerate(pf):
            names[model.PROC + P.NPF * i + j] = f"{n}.{f}"
    return names


def state_diff(model, expected, actual) -> list[tuple[str, object, object]]:
    """Slots where ``actual`` (impl, abstracted) differs from ``expected`` (model),
    as (name, model value, impl value); don't-care slots are skipped."""
    differ = [k for k, (a, b) in enumerate(zip(expected, actual)) if a != b]
    if not differ:
        return []
    skip = dont_care(model, expected)
    differ = [k for k in differ if k not in skip]
    if not differ:
        return []
    names = _slot_names(model)
    out = []
    for k in differ:
        a, b = expected[k], actual[k]
        if k == P.FLAGS:
            a, b = a & ~UNMAPPED_FLAGS, b & ~UNMAPPED_FLAGS
            if a == b:
                continue
        if k in (P.DELIV, P.DUPS, P.ACCT, P.LOSTU):
            a, b = P._bits(a), P._bits(b)
        out.append((names.get(k, f"slot{k}"), a, b))
    return out
