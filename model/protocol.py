"""The per-CPU ring buffer and its user-space mapping as an executable state machine.

One model covers every design variant; a :class:`~rbmap.model.rules.Variant` picks the
protocol rules (see ``rules.py``) and a :class:`~rbmap.model.config.Config` the sizes
and assumptions.

Actors and their atomic steps
-----------------------------
The writer is lockless and interleaves with everything; kernel reader paths are atomic
because they run under ``reader_lock`` (and ``mapping_lock`` / ``buffer->mutex``),
so each is one step; user-space processes take one step per access to shared memory.

``writer`` (and ``irq1``, ``irq2``... nested on top of it, like interrupts: only the
top of the stack runs, a nested write runs to completion before the one it interrupted
resumes)::

    write_begin   rb_reserve_next_event: rb_start_commit (committing++)
    reserve       __rb_reserve_next: local_add_return on tail_page->write, fits
    move_tail     rb_move_tail: the page is full; rb_handle_head_page (overwrite:
                  push the head, overrun += its entries) or drop the event
                  (producer/consumer mode, or the commit page is next); then
                  rb_tail_page_update (pages_touched++, next page's write/commit = 0)
    head_retry    (fine) a write that found the next page flagged HEAD while a
                  reader swapped that page out (WR3 in W_BEGUN): its
                  rb_handle_head_page cmpxchg fails (RB_PAGE_MOVED), it resets the
                  tail and retries without a tail move
    end_commit_move  the rest of rb_move_tail: rb_reset_tail and rb_end_commit
                  ("commit what we have for now") up to its loads; the outermost
                  writer then takes publish / commit_release / commit_recheck
                  like a commit's, and returns into rb_move_tail
    retry         rb_move_tail's local_inc(&committing) and the retried reserve (an
                  interrupt before it is the outermost committer)
    stale_retry   a write whose loaded tail_page an interrupt moved meanwhile:
                  it overflows the old page, sees the tail moved, and retries
                  after rb_end_commit (no tail move of its own); its rb_reset_tail
                  finds the page full: real_end = 0
    crossed_retry the same, but its reservation crossed the page's end before the
                  interrupt's: its rb_reset_tail writes the padding, real_end set
    commit        rb_commit: cpu_buffer->entries++, rb_end_commit's load of
                  cpu_buffer->commits and committing (a nested writer leaves here)
    publish_page  the outermost writer's rb_set_commit_to_write walks one page:
                  the commit page's commit = its write index (an interrupt
                  before or during the walk is nested)
    commit_page_move  then rb_inc_page(&cpu_buffer->commit_page): until it, a
                  reader on another CPU sees the page published and commit_page
                  still on it (GET_READER may swap it in as the reader page)
    walk_done     the walk finds the commit page at the tail page
    publish_load, publish   load the commit page's write index (the tail
                  page's, unless an interrupt moved the tail since walk_done)
                  and store it as its commit; repeated while they differ
    published     it reads commit == write and goes to the final check
    publish_again / publish_end   the final check: an interrupt moved the tail
                  meanwhile (walk again), or return
    commit_release  the outermost writer's local_dec(&committing) in rb_end_commit
                  (an interrupt after it is the outermost committer itself)
    commit_recheck  its re-check of cpu_buffer->commits: if an interrupt wrote since
                  the load, committing++ and back to the load (then ``publish``),
                  else leave
  v2 only (writer_meta = v2_fastpath), the seed's fast-path meta stores split into the
  load and the store an interrupt can fall between:
    commit_inc    entries++                    meta_store    meta->entries = loaded
    commit_load   load mapped, and entries if mapped
    tail_meta_load  after the tail move: load mapped, and pages_touched if mapped
    end_commit    rb_end_commit                meta_store_tail  meta->overrun and
                                                             meta->pages_touched

``kernel`` (``ioctl`` steps are taken by the process that calls them)::

    get_reader (ioctl)   per rule get_reader (ring_buffer_get_reader_page in the seed,
                         ring_buffer_map_get_reader upstream), then the meta refresh
    update_meta (ioctl)  ring_buffer_update_meta_page (the seed only)
    read_page            ring_buffer_read_page, a trace_pipe_raw read (actor ``pipe``)
    reset                rb_reset_cpu (waits for writers: synchronize_rcu)
    resize, swap_cpu     ring_buffer_resize / ring_buffer_swap_cpu while mapped

``pN`` user-space processes::

    map          mmap: ring_buffer_map (first map: IDs, meta page) and the faults
    read_meta    load the meta page fields the reader algorithm needs
    read_event   load one event from the mapped reader page
    ioctl        TRACE_MMAP_IOCTL_GET_READER's reader page work (under reader_lock)
    ioctl_meta   its closing rb_update_meta_page, where the ioctl refreshes the
                 meta page (the writer may run in between; kernel paths and other
                 processes' system calls wait for the locks)
    unmap, exit  munmap / process exit (ring_buffer_unmap)
    unmap_sync   the seed's last unmap: synchronize_rcu() returns once no write
                 is in flight, then subbuf_ids and the meta page are freed (the
                 unmap step already set mapped = 0; writes that loaded it
                 earlier still store to the meta page)
    dofork, child_exit   fork after MADV_DOFORK, the child's copy closing

  with ``--client libtracefs`` (libtracefs 1.8.3, tracefs_cpu_read_buf on a
  mapped tracefs_cpu; see ``_libtracefs_steps``) instead of read_meta/ioctl:
    mmap_setup   tfs_mmap's loads after the mmaps: reader.id, reader.read
    read_buf     tfs_mmap_load_subbuf up to its ioctl or its return
    ioctl        its GET_READER (then ioctl_meta, as above, when fine)
    reload       after the ioctl of its "no more events" branch: reader.id, and
                 the new sub-buffer's commit (kbuffer_load_subbuffer)
    read_event   the caller's kbuffer_read_event / kbuffer_next_event loop

Abstractions (what is left out)
-------------------------------
- Every event has the same size: a page holds ``page_events`` of them, offsets are
  event counts. Padding, time stamps and real_end are impl/'s business.
- The HEAD/UPDATE flag dance of rb_handle_head_page and the retry loops of
  rb_get_reader_page are collapsed: a tail move (with its head push) is one step, a
  reader swap is one step. impl/ runs them at full granularity; conformance checks
  that impl refines these steps.
- Page bytes are a *generation*: ``base`` is the sequence number of the first event
  the writer put on the page since it last started filling it, ``filled`` how many it
  put there. Resetting ``write``/``commit`` (tail move, reader swap, reset) leaves the
  bytes; the first reserve on the page overwrites them (a new generation). A user
  process remembers the generation of the page it reads, so reading a page the writer
  has started to overwrite is detectable (``no_torn_read``).
- ``resize`` and ``swap_cpu`` are modelled only while mapped (their gate); the page
  count is a constant of the model.
- Granularity (Config.granularity): "coarse" merges into one step what impl lets
  other tasks into: the outermost writer's publish (``publish`` ... ``publish_end``
  are one step in ``commit``, ``end_commit_move`` and ``commit_recheck``),
  GET_READER's meta refresh (``ioctl_meta``), the seed's loads of ``mapped``
  (``commit_load``, ``tail_meta_load``) and its last unmap's wait (``unmap_sync``;
  coarse: the unmap waits for the writes in flight before it clears ``mapped``).
  "fine" has them all; it is the granularity impl conforms to.

Steps that exist only because an assumption was dropped
--------------------------------------------------------
Each assumption of the config (``config.ASSUMPTIONS``: one consumer at a time, the
documented client, no crash, ...) removes steps; where the code lists a step that
only a dropped assumption allows, it notes which (``_why``, read by
:meth:`RingBufferModel.step_assumptions`; nothing is recorded on the exploration's
hot path). Traces and reports mark those steps (``--crash``, ``--consumers
concurrent``). A new assumption notes its steps the same way;
tests/test_evidence_model.py holds the notes to a counterfactual: a step is noted
exactly when the model with that assumption in force lacks it.

State
-----
A flat tuple of small ints (the hot path hashes it); :meth:`RingBufferModel.view`
builds the readable, kernel-named view used in traces.
"""

from __future__ import annotations

from .config import ASSUMPTION_KEYS, Config
from .errors import SpecError
from .rules import Variant

# The state's slots and the values they hold (index constants, phases, flag bits):
# model/state.py; re-exported here, where code has always found them.
from .state import *  # noqa: E402,F401,F403
from .state import _VIOLATION_BITS  # noqa: E402
from . import state as _state  # noqa: E402

#: the steps only the fine granularity has (coarse merges each into another step)
FINE_STEPS = frozenset(("head_retry", "publish_page", "walk_done", "publish_load", "publish",
                        "published", "publish_again", "publish_end", "ioctl_meta",
                        "commit_load", "tail_meta_load", "unmap_sync"))
#: the history variables of the view (what consumers got, what was lost)
HISTORY_FIELDS = ("events_written", "delivered", "delivered_twice", "lost_counted",
                  "lost_uncounted")


def _mask(seq_from: int, count: int) -> int:
    return ((1 << count) - 1) << seq_from if count > 0 else 0


class RingBufferModel:
    """The mapping protocol of one variant at one configuration (a checker Model)."""

    def __init__(self, variant: Variant, config: Config):
        self.variant = variant
        self.config = config
        r = dict(variant.rules)
        self.rules = r
        c = config
        N, D, P = c.pages, c.nesting, c.processes
        self.N, self.K, self.E, self.D, self.P = N, c.page_events, c.events, D, P
        n1 = N + 1
        self.NXT = NGLOBAL
        self.IDS = self.NXT + n1
        self.PBASE = self.IDS + n1
        self.PFILL = self.PBASE + n1
        self.PWRITE = self.PFILL + n1
        self.PCOMMIT = self.PWRITE + n1
        self.PREAD = self.PCOMMIT + n1
        self.DPAGES = self.PREAD + n1
        self.WPH = self.DPAGES + N
        self.WR1 = self.WPH + D
        self.WR2 = self.WR1 + D
        self.WR3 = self.WR2 + D     # W_STORING: the write index it loaded
        self.PROC = self.WR3 + D
        self.NC = self.PROC + NPF * P
        self.ltf = c.client == "libtracefs"
        self.LTF = self.NC + NNF * c.nc_readers
        self.SIZE = self.LTF + (NLF * P if self.ltf else 0)
        # the visited set stores states packed (checker's state_struct): 16-bit
        # slots, 64-bit event masks (events <= 40) and sticky flags
        self.state_struct = "<" + "h" * DELIV + "q" * (FLAGS + 1 - DELIV) + "h" * (
            self.SIZE - FLAGS - 1)
        self._ph_slots = [self.PROC + NPF * i + PH for i in range(P)]
        self._child_slots = [self.PROC + NPF * i + CHILD for i in range(P)]
        self.ALL = (1 << c.events) - 1
        self.ID_SET = frozenset(range(N + 1))

        self.v2_writer = r["writer_meta"] == "v2_fastpath"
        self.get_reader = r["get_reader"]
        # GET_READER ends with rb_update_meta_page (a step of its own when fine)
        self.meta_in_swap = r["meta_reader_update"] == "in_swap"
        self.has_update_ioctl = r["update_meta_ioctl"] == "present"
        self.start_at_read = r["reader_start"] == "reader_read"
        self.meta_fields = r["meta_fields"]
        self.has_data_pages = self.meta_fields == "v2"
        # the documented client reads only up to the meta page's reader.read; a
        # variant that exposes no reader.read (the seed) or that lets the user say
        # how much it read (read_param) reads up to the live commit.
        self.data_index = r["data_index"] == "writer_cnt"
        self.nc_check = r["nc_check"]
        self.padding = c.padding
        self.commit_page_warns = r["commit_page_loss"] == "warns"
        self.swap_lost_always = r["swap_lost_events"] == "always"
        self.meta_lost_at_swap = r["meta_lost_events"] == "at_swap"
        # the RB_MISSED_* page flags exist since Linux 6.10 (struct
        # trace_buffer_meta); the seed and v3 report no loss in a mapped page
        self.page_flags = self.meta_fields == "upstream"
        # tr->mapped and the snapshot exclusion (get_snapshot_map, the arming
        # checks) came with the final ABI (v12 of the series)
        self.snapshot_excl = self.meta_fields == "upstream"
        self.vma_open = r["vma_open"]
        self.meta_skip = r["meta_update"]   # a field rb_update_meta_page leaves
        self.map_error = r["map_error"]
        # granularity "fine": impl's steps (see Config); "coarse": merged
        self.fine = c.granularity == "fine"
        self.ioctl_refresh = self.fine and self.get_reader in (
            "consume_to_commit", "read_param")
        if c.nc_readers and not self.has_data_pages:
            raise SpecError(f"--nc-readers {c.nc_readers}: {variant.name} has no "
                            "data_pages[] for a non-consuming reader to read "
                            "(meta_fields is not \"v2\"; v2 and v2-data-index "
                            "have it)", ("config", "nc_readers"))
        self.nc = c.nc_readers > 0
        self._gate_steps = []
        if c.kernel_ops and r["resize_mapped"] == "allow":
            self._gate_steps.append(("resize", F_RESIZED))
        if c.kernel_ops and r["swap_cpu_mapped"] == "allow":
            self._gate_steps.append(("swap_cpu", F_SWAPPED))
        self.live_limit = (c.client == "greedy" or not self.start_at_read
                           or self.get_reader == "read_param")
        # the live limit only because the client reads past reader.read
        self._greedy_only = (c.client == "greedy" and self.start_at_read
                             and self.get_reader != "read_param")
        if self.ltf and (self.meta_fields != "upstream"
                         or self.get_reader != "consume_to_commit"):
            raise SpecError("--client libtracefs: libtracefs maps the upstream ABI "
                            "(struct trace_buffer_meta, GET_READER consuming to the "
                            "commit); this variant has meta_fields="
                            f"{self.meta_fields}, get_reader={self.get_reader}",
                            ("config", "client"))
        self._always = []
        self.actor_names = ["writer"] + [f"irq{i}" for i in range(1, D)]
        self.proc_names = [f"p{i}" for i in range(P)]
        # while step_assumptions asks: action -> the dropped assumptions (config
        # keys) that step exists by; None while exploring
        self._why = None
        # the state's named slots and their ranges (model/state.py)
        from rbmap.checker.steps import Layout, _state_class
        self.layout = Layout()
        _state.declare(self, self.layout)
        assert len(self.layout) == self.SIZE
        self._view_cls = _state_class(self.layout, False)

    def reader(self, s):
        """A read-only view of state ``s`` with the slots by name (``v.entries``,
        ``v.page_commit[p]``, ``v.proc_pos[i]``; model/state.py)."""
        v = self._view_cls()
        v._v = s
        v._where = "protocol: state view"
        return v

    # ------------------------------------------------------------------ checker API
    def init_states(self):
        N, c = self.N, self.config
        s = [0] * self.SIZE
        # rb_allocate_cpu_buffer: the reader page is allocated apart (page 0);
        # the ring is pages 1..N, head = tail = commit = page 1.
        s[HEAD] = s[TAIL] = s[COMMITP] = s[HCACHE] = s[PAGESP] = 1
        s[READER] = 0
        for p in range(1, N + 1):
            s[self.NXT + p] = p + 1 if p < N else 1
        s[self.NXT + 0] = 0
        s[PIPEB] = c.pipe_reads
        s[TEXTB] = c.text_reads
        s[SNAPB] = 1 if c.refusals else 0
        s[RESETB] = c.resets
        return [tuple(s)]

    def terminal_ok(self, s) -> bool:
        """A state without successors is a proper end only when every process has
        exited and no write is in flight (possible with --no-reader-stays); any
        other stuck state is reported as a deadlock."""
        if s[WDEPTH]:
            return False
        return all(s[k] == P_EXITED for k in self._ph_slots)

    def properties(self):
        """The checker's Property objects for the properties that apply here."""
        from rbmap.checker import Property

        from .properties import catalogue, tuple_view
        out = []
        # the properties read the state by slot name (model/state.py): a view of
        # each state, made once for the several properties the checker asks
        view = tuple_view(self.layout)
        seen = seen_view = None

        def condition(f):
            def holds(s):
                nonlocal seen, seen_view
                if s is not seen:
                    seen, seen_view = s, view(s)
                return f(self, seen_view)
            return holds
        for spec in catalogue(self):
            out.append(Property(spec.name, spec.kind, condition(spec.fn), spec.doc))
        self._always = [p.condition for p in out if p.kind == "always"]
        # the always-properties that only test sticky FLAGS bits: (bits, index)
        specs = [spec for spec in catalogue(self) if spec.kind == "always"]
        self._flag_index = [(spec.flag, i) for i, spec in enumerate(specs)
                            if spec.flag]
        self._flag_bits = 0
        for bits, _ in self._flag_index:
            self._flag_bits |= bits
        return out

    def not_applicable(self) -> list[str]:
        """Names of catalogue properties that mean nothing for this variant."""
        from .properties import SPECS
        return [p.name for p in SPECS if not p.applies(self)]

    def check_state(self, s) -> int:
        """Index of the first violated always-property, or -1 (one call per state).

        The fast path decides "all hold" from the history bits and a few O(N) looks
        (the VMA count, the ID table and data_pages[] while mapped); only when that
        fails are the properties evaluated one by one for the exact index (tests
        check both paths agree on every reachable state of small configs)."""
        if s[DUPS] or s[LOSTU] or not self._quick_ok(s):
            return self._first_violated(s)
        v = s[FLAGS] & _VIOLATION_BITS
        if not v:
            return -1
        if v & ~self._flag_bits:
            return self._first_violated(s)
        # every other always-property holds (the looks above cover them): the
        # first violated one is the first whose bits are set
        for bits, i in self._flag_index:
            if v & bits:
                return i
        return -1  # pragma: no cover - v is within _flag_bits

    def _first_violated(self, s) -> int:
        for i, cond in enumerate(self._always):
            if not cond(s):
                return i
        return -1

    def _quick_ok(self, s) -> bool:
        mapped = s[MAPPED]
        vmas = 0
        for k in self._ph_slots:
            if P_MAPPED <= s[k] <= P_IOCTLED:
                vmas += 1
        for k in self._child_slots:
            vmas += s[k]
        if self.nc and s[self.NC + NPH] != NC_IDLE:
            vmas += 1
        if mapped != vmas:
            return False
        if mapped:
            if set(s[self.IDS:self.IDS + self.N + 1]) != self.ID_SET:
                return False
            # (in ring order implies that it lists the ring's IDs)
            if self.has_data_pages and not self.data_pages_ordered(s):
                return False
        return True

    def data_pages_ordered(self, s) -> bool:
        """The seed's ``data_pages[]`` read from ``data_page_head`` lists the IDs of
        the ring pages in order from the real head page."""
        N, NXT, IDS, DP = self.N, self.NXT, self.IDS, self.DPAGES
        p = s[HEAD]
        dph = s[M_DPH]
        for i in range(N):
            if s[DP + (dph + i) % N] != s[IDS + p]:
                return False
            p = s[NXT + p]
        return True

    def successor_states(self, s):
        """The next states of :meth:`successors`, in the same order."""
        return [t for _, t in self.successors(s)]

    def successors(self, s):
        """All (action, next state) pairs, in a fixed order: writer, kernel, processes."""
        out = []
        append = out.append
        c = self.config
        D = self.D
        WPH = self.WPH
        d = s[WDEPTH]

        # ---- writer: only the top of the nesting stack runs --------------------
        if d:
            top = d - 1
            ph = s[WPH + top]
            actor = self.actor_names[top]
            if ph == W_BEGUN:
                T = s[TAIL]
                if s[self.PWRITE + T] < self.K:
                    append(((actor, "reserve"), self._reserve(s, top)))
                else:
                    append(((actor, "move_tail"), self._move_tail(s, top)))
                    if s[self.WR3 + top]:
                        append(((actor, "head_retry"), self._head_retry(s, top)))
                if s[self.WR2 + top]:
                    append(((actor, "stale_retry"), self._stale_retry(s, top)))
                    P0 = s[self.WR1 + top] - 1
                    if self.padding and s[self.PWRITE + P0] > self.K:
                        append(((actor, "crossed_retry"),
                                self._stale_retry(s, top, crossed=True)))
            elif ph == W_MOVED:
                append(((actor, "end_commit_move"), self._end_commit_move(s, top)))
            elif ph == W_RECHECK:
                l = list(s)
                l[self.WPH + top] = W_RELEASED
                append(((actor, "commit_release"), tuple(l)))
            elif ph == W_COMMITTING:
                # rb_set_commit_to_write, one page of its walk at a time: the
                # page's commit, then (commit_page_move) rb_inc_page
                l = list(s)
                C = s[COMMITP]
                if C != s[TAIL]:
                    l[self.PCOMMIT + C] = s[self.PWRITE + C]
                    l[self.WPH + top] = W_PAGE_SET
                    append(((actor, "publish_page"), tuple(l)))
                else:
                    l[self.WPH + top] = W_WALKED
                    append(((actor, "walk_done"), tuple(l)))
            elif ph == W_PAGE_SET:
                # (a reader may have swapped the page in meanwhile: the reader
                # page's next still names the page after it in the ring)
                l = list(s)
                l[COMMITP] = s[self.NXT + s[COMMITP]]
                l[self.WPH + top] = W_COMMITTING
                append(((actor, "commit_page_move"), tuple(l)))
            elif ph == W_WALKED:
                l = list(s)
                C = s[COMMITP]
                if s[self.PCOMMIT + C] != s[self.PWRITE + C]:
                    l[self.WR3 + top] = s[self.PWRITE + C]
                    l[self.WPH + top] = W_STORING
                    append(((actor, "publish_load"), tuple(l)))
                else:
                    l[self.WPH + top] = W_PUBLISHING
                    append(((actor, "published"), tuple(l)))
            elif ph == W_STORING:
                l = list(s)
                l[self.PCOMMIT + s[COMMITP]] = s[self.WR3 + top]
                l[self.WR3 + top] = 0
                l[self.WPH + top] = W_WALKED
                append(((actor, "publish"), tuple(l)))
            elif ph == W_PUBLISHING:
                l = list(s)
                if s[COMMITP] != s[TAIL]:
                    l[self.WPH + top] = W_COMMITTING
                    append(((actor, "publish_again"), tuple(l)))
                else:
                    l[self.WPH + top] = W_RECHECK
                    append(((actor, "publish_end"), tuple(l)))
            elif ph == W_RELEASED:
                l = list(s)
                if s[self.WR2 + top]:
                    # cpu_buffer->commits moved (an interrupt wrote): committing++,
                    # load commits again, and publish again
                    l[self.WR2 + top] = 0
                    if self.fine:
                        l[self.WPH + top] = W_COMMITTING
                    else:
                        self._commit_to_write(l)
                        l[self.WPH + top] = W_RECHECK
                elif s[self.WR1 + top]:
                    # rb_move_tail's rb_end_commit returns: the window before its
                    # local_inc(&committing)
                    l[self.WR1 + top] = 0
                    l[self.WPH + top] = W_WINDOW
                else:
                    self._pop(l, top, publish=False)
                append(((actor, "commit_recheck"), tuple(l)))
            elif ph == W_WINDOW:
                l = list(s)
                l[self.WPH + top] = W_BEGUN
                append(((actor, "retry"), tuple(l)))
            elif ph == W_RESERVED:
                if self.v2_writer:
                    append(((actor, "commit_inc"), self._commit_inc(s, top)))
                else:
                    append(((actor, "commit"), self._end_commit(s, top, True)))
            elif ph == W_COUNTED:
                append(((actor, "commit_load"), self._commit_load(s, top)))
            elif ph == W_INC:
                append(((actor, "meta_store"), self._meta_store_entries(s, top)))
            elif ph == W_STORED:
                append(((actor, "end_commit"), self._end_commit(s, top, False)))
            elif ph == W_TMOVED:
                l = list(s)
                self._tail_meta_load(l, top)
                append(((actor, "tail_meta_load"), tuple(l)))
            elif ph == W_MTSTORE:
                append(((actor, "meta_store_tail"), self._meta_store_tail(s, top)))
        if d < D:
            pending = 0
            for i in range(d):
                # writes that have not reserved their event yet (WR1 marks an
                # rb_end_commit inside rb_move_tail)
                if s[WPH + i] in (W_BEGUN, W_TMOVED, W_MTSTORE, W_MOVED, W_WINDOW) or (
                        s[WPH + i] in END_COMMIT_PHASES and s[self.WR1 + i]):
                    pending += 1
            if s[SEQ] + pending < self.E:
                l = list(s)
                l[WPH + d] = W_BEGUN
                l[WDEPTH] = d + 1
                # rb_start_commit (commits++): a commit in its re-check window will
                # see cpu_buffer->commits moved and loop
                for i in range(d):
                    if s[WPH + i] in END_COMMIT_PHASES:
                        l[self.WR2 + i] = 1
                append(((self.actor_names[d], "write_begin"), tuple(l)))

        if s[IOCTLP]:
            # a GET_READER holds reader_lock and mapping_lock until its meta
            # refresh: the writer and user-space loads go on, no other kernel path
            self._ioctl_pending_steps(s, append)
            return out

        # ---- kernel paths ------------------------------------------------------
        mapped = s[MAPPED]
        alone = c.consumers == "concurrent" or mapped == 0
        if s[PIPEB] and alone and not s[TEXTP] and not (
                self.v2_writer and self._reader_spins(s)):
            t = self._pipe_read(s)
            if t is not None:
                append((("pipe", "read_page"), t))
                if self._why is not None and mapped != 0:
                    self._why[("pipe", "read_page")] = ("consumers",)
        if (s[TEXTB] or s[TEXTP]) and alone and not (
                self.v2_writer and self._reader_spins(s)):
            self._text_steps(s, append)
            if self._why is not None and mapped != 0:
                for step in ("text_read", "text_line", "text_full", "text_done"):
                    self._why[("text", step)] = ("consumers",)
        if s[RESETB] and d == 0:
            append((("kernel", "reset"), self._reset(s)))
        if mapped > 0 and self._gate_steps:
            # ring_buffer_resize / ring_buffer_swap_cpu while mapped: refused with
            # -EBUSY they change nothing (a stutter, not listed); a rule that lets
            # them through is listed, and the property catches it.
            for name, bit in self._gate_steps:
                l = list(s)
                l[FLAGS] |= bit
                append((("kernel", name), tuple(l)))
        if c.refusals:
            self._admin_steps(s, append)
        elif c.order_change:
            t = self._order_change(s)
            if t is not None:
                append((("admin", "subbuf_order"), t))

        # ---- user-space processes --------------------------------------------
        # facts every process step looks at, computed once per state
        P_, PROC = self.P, self.PROC
        holders = 0
        alive = 0
        for i in range(P_):
            b = PROC + NPF * i
            ph = s[b]
            if P_MAPPED <= ph <= P_IOCTLED or s[b + CHILD]:
                holders |= 1 << i
            if ph != P_EXITED:
                alive += 1
        if s[UNMAPW]:
            # the seed's last unmap: mapped is 0, synchronize_rcu waits for the
            # writes in flight (they may have seen mapped != 0), mapping_lock held
            owner = s[UNMAPW] - 1
            for i in range(P_):
                if i != owner:
                    self._user_steps_only(s, i, append)
                elif d == 0:
                    l = list(s)
                    l[UNMAPW] = 0
                    l[RESDIS] -= 1
                    self._free_ids_meta(l)
                    append(((self.proc_names[i], "unmap_sync"), tuple(l)))
            return out
        for i in range(P_):
            self._process_steps(s, i, append, holders & ~(1 << i), alive)
        if self.nc:
            self._nc_steps(s, append)
        return out

    #: process steps that enter the kernel (blocked while a GET_READER holds the
    #: locks: rb_get_mapped_buffer keeps cpu_buffer->mapping_lock, which an mmap,
    #: refused or not, takes first); the others are loads from the mapping
    _SYSCALLS = frozenset(("map", "exit", "unmap", "ioctl", "update_meta", "dofork",
                           "child_exit", "trymap_bad"))

    def _ioctl_pending_steps(self, s, append):
        """The steps while process IOCTLP-1 is inside GET_READER, between its reader
        page work and rb_update_meta_page."""
        owner = s[IOCTLP] - 1
        for i in range(self.P):
            if i == owner:
                l = list(s)
                l[IOCTLP] = 0
                self._refresh_meta(l)
                if l[M_RID] != l[self.IDS + l[READER]]:
                    l[FLAGS] |= F_IOCTL_META
                self._check_meta_fresh(l)
                append(((self.proc_names[i], "ioctl_meta"), tuple(l)))
            else:
                self._user_steps_only(s, i, append)

    def _user_steps_only(self, s, i, append):
        """Process i's loads from its mapping (its system calls wait for a lock)."""
        steps = []
        self._process_steps(s, i, steps.append, 0, 0)
        for a, t in steps:
            if a[1] not in self._SYSCALLS:
                append((a, t))

    # ------------------------------------------------------------------ writer
    def _reserve(self, s, top):
        """__rb_reserve_next: the event fits on the tail page."""
        l = list(s)
        T = s[TAIL]
        slot = s[self.PWRITE + T]
        seq = s[SEQ]
        if slot == 0:
            # first write since the page was reset: its old bytes get overwritten
            self._overwrite_generation(l, T)
            l[self.PBASE + T] = seq
            l[self.PFILL + T] = 1
        else:
            l[self.PFILL + T] = slot + 1
        l[self.PWRITE + T] = slot + 1
        l[SEQ] = seq + 1
        l[self.WPH + top] = W_RESERVED
        l[self.WR1 + top] = l[self.WR2 + top] = l[self.WR3 + top] = 0
        return tuple(l)

    def _overwrite_generation(self, l, p):
        """The writer starts overwriting page p: anything on it never delivered and
        never counted is lost without accounting."""
        old = _mask(l[self.PBASE + p], l[self.PFILL + p])
        missing = old & ~(l[DELIV] | l[ACCT])
        if missing:
            l[LOSTU] |= missing

    def _move_tail(self, s, top):
        """rb_move_tail: the tail page is full."""
        l = list(s)
        NXT = self.NXT
        T = s[TAIL]
        nxt = s[NXT + T]
        commit = s[COMMITP]
        reader = s[READER]
        # rb_reset_tail (on every way out of rb_move_tail, the drops too): the rest of
        # the old tail page becomes a padding event that the next commit covers (one
        # more unit of write, no event)
        if self.padding:
            self._reset_tail(l, T)
        l[self.WR1 + top] = 0
        l[self.WR3 + top] = 0
        if nxt == commit:
            # an interrupt storm went all the way around to the commit page
            return self._drop(l, top)
        pushed = -1
        if T != reader and nxt == s[HEAD]:
            if commit == reader or not self.config.overwrite:
                return self._drop(l, top)
            # rb_handle_head_page: the head page's events are overwritten
            H = nxt
            n = min(s[self.PWRITE + H], self.K)  # entries: padding is no event
            l[ACCT] |= _mask(s[self.PBASE + H], n)
            l[OVERRUN] = s[OVERRUN] + n
            l[HEAD] = s[NXT + H]
            if s[MAPPED] > 0:
                l[FLAGS] |= G_OVERRUN_MAPPED
                # the seed: rb_handle_head_page's own READ_ONCE(mapped), then
                # the overrun meta store (kept until meta_store_tail)
                pushed = l[OVERRUN]
        # writes interrupted in __rb_reserve_next have a stale tail_page now (WR1:
        # 1 + the page they may have loaded, the one that was the tail first)
        for i in range(top):
            if s[self.WPH + i] == W_BEGUN:
                if not s[self.WR2 + i]:
                    l[self.WR1 + i] = T + 1
                l[self.WR2 + i] = 1
        # rb_tail_page_update (with data_index: data_index[next->id].cnt++; the
        # reader only compares the counter for equality, so the model keeps whether
        # it changed since the non-consuming reader opened that page)
        if self.nc and s[self.NC + NPH] == NC_PAGE and s[self.NC + NPG] == nxt:
            l[self.NC + NCNT] = 1
        l[TAIL] = nxt
        l[self.PWRITE + nxt] = 0
        l[self.PCOMMIT + nxt] = 0
        l[REAL0] &= ~(1 << nxt)
        l[TOUCHED] = s[TOUCHED] + 1
        self._owe_tail_end(l, s, top, pushed)
        return tuple(l)

    def _owe_tail_end(self, l, s, top, pushed):
        """What a write owes after rb_tail_page_update: the seed's meta stores of the
        values it loaded (while mapped), else rb_move_tail's closing rb_end_commit."""
        if self.v2_writer:
            # the seed: if (READ_ONCE(cpu_buffer->mapped)) store pages_touched
            # (and the head push's overrun, kept until then): tail_meta_load
            l[self.WPH + top] = W_TMOVED
            l[self.WR1 + top] = pushed
            l[self.WR2 + top] = 0
            if not self.fine:       # coarse: the load with the tail move
                self._tail_meta_load(l, top)
        else:
            l[self.WPH + top] = W_MOVED
            l[self.WR2 + top] = 0

    def _end_commit_move(self, s, top):
        """The end of rb_move_tail: rb_reset_tail, then rb_end_commit ("commit what we
        have for now") up to its load of cpu_buffer->commits and committing. The
        outermost writer goes on like rb_commit's (``publish``, ``commit_release``,
        ``commit_recheck``, with WR1 = 1 marking that it returns into rb_move_tail);
        a nested one returns at once. Until ``retry`` (local_inc(&committing)) the
        write holds no committing count."""
        l = list(s)
        l[self.WR2 + top] = 0
        if self._outermost(l, top) and self.fine:
            l[self.WPH + top] = W_COMMITTING
            l[self.WR1 + top] = 1
        else:
            if self._outermost(l, top):
                self._commit_to_write(l)    # coarse: one publish step
            l[self.WPH + top] = W_WINDOW
            l[self.WR1 + top] = 0
        return tuple(l)

    def _tail_meta_load(self, l, top):
        """The seed's rb_tail_page_update after the tail move: READ_ONCE(mapped),
        and if set the load of pages_touched for the meta store. The head push's
        overrun store had its own load of mapped (WR1 >= 0: it saw the buffer
        mapped); when this load finds it unmapped (a last unmap in between, waiting
        for this write in synchronize_rcu) that store lands here, alone."""
        if l[MAPPED] > 0:
            l[self.WPH + top] = W_MTSTORE
            l[self.WR2 + top] = l[TOUCHED]
        else:
            if l[self.WR1 + top] >= 0:
                self._store_meta_overrun(l, l[self.WR1 + top])
            l[self.WPH + top] = W_MOVED
            l[self.WR1 + top] = 0

    def _stale_retry(self, s, top, crossed=False):
        """A write that loaded tail_page before an interrupt moved it adds its length
        to the old, full page, enters rb_move_tail, finds the tail moved (its
        tail_page cmpxchg fails) and retries after rb_end_commit. The seed still
        stores its loaded pages_touched in rb_tail_page_update."""
        l = list(s)
        p = s[self.WR1 + top] - 1
        if crossed:
            # (crossed_retry) its reservation crossed the old page's end before the
            # interrupt's did: its rb_reset_tail pads the page, real_end = its tail
            l[REAL0] &= ~(1 << p)
        elif self.padding:
            # its reservation on the old page, padded by the interrupt, starts at
            # the end of the page: rb_reset_tail's tail == bsize case
            self._reset_tail(l, p)
        l[self.WR1 + top] = l[self.WR3 + top] = 0
        self._owe_tail_end(l, s, top, -1)
        return tuple(l)

    def _head_retry(self, s, top):
        """rb_move_tail of a write that saw the next page flagged HEAD before a
        reader swapped that page out (the reader's rb_head_page_replace won):
        rb_handle_head_page's cmpxchg finds the page moved and returns 1, so
        rb_move_tail skips rb_tail_page_update (the seed's meta stores too),
        resets the tail and retries after rb_end_commit."""
        l = list(s)
        if self.padding:
            self._reset_tail(l, s[TAIL])
        l[self.WR1 + top] = l[self.WR2 + top] = l[self.WR3 + top] = 0
        l[self.WPH + top] = W_MOVED
        return tuple(l)

    def _reset_tail(self, l, p):
        """rb_reset_tail on page ``p`` (padding mode): a page with room left gets the
        padding (one more unit of write, no event) and real_end = where it starts;
        a page already full keeps its bytes and gets real_end = 0."""
        if l[self.PWRITE + p] == self.K:
            l[self.PWRITE + p] = self.K + 1
            l[REAL0] &= ~(1 << p)
        elif l[self.PWRITE + p] > self.K:
            l[REAL0] |= 1 << p

    def _drop(self, l, top):
        """The reserve fails: the event is dropped and counted (dropped_events or
        commit_overrun), then rb_end_commit."""
        seq = l[SEQ]
        l[ACCT] |= 1 << seq
        l[SEQ] = seq + 1
        l[DROPPED] += 1
        self._pop(l, top)
        return tuple(l)

    def _outermost(self, l, top) -> bool:
        """rb_end_commit's ``committing == 1``: every write below ``top`` is in the
        window where rb_move_tail has given its committing count back."""
        WPH = self.WPH
        for i in range(top):
            if l[WPH + i] != W_WINDOW and l[WPH + i] != W_RELEASED:
                return False
        return True

    def _pop(self, l, top, publish=True):
        """The write at ``top`` leaves (a dropped reserve's rb_end_commit, kept as
        one step: the outermost publishes)."""
        outer = publish and self._outermost(l, top)
        l[self.WPH + top] = 0
        l[self.WR1 + top] = 0
        l[self.WR2 + top] = 0
        l[self.WR3 + top] = 0
        l[WDEPTH] = top
        if outer:
            self._commit_to_write(l)

    def _commit_to_write(self, l):
        """rb_set_commit_to_write: the outermost committer moves the commit page up to
        the tail page and publishes each page's write index as its commit."""
        NXT, PW, PC = self.NXT, self.PWRITE, self.PCOMMIT
        p = l[COMMITP]
        T = l[TAIL]
        guard = self.N + 2
        while p != T and guard:
            l[PC + p] = l[PW + p]
            p = l[NXT + p]
            guard -= 1
        l[PC + T] = l[PW + T]
        l[COMMITP] = T

    def _end_commit(self, s, top, count):
        """rb_commit (entries++) and rb_end_commit up to its load of
        cpu_buffer->commits and of committing. The outermost writer
        (committing == 1) stays in flight: ``publish`` (rb_set_commit_to_write),
        ``commit_release`` (local_dec), ``commit_recheck``; a nested one only
        leaves (its decrement and re-check change nothing: committing stays
        nonzero)."""
        l = list(s)
        if count:
            l[ENTRIES] += 1
        if self._outermost(l, top):
            if self.fine:
                l[self.WPH + top] = W_COMMITTING
            else:
                self._commit_to_write(l)
                l[self.WPH + top] = W_RECHECK
            l[self.WR1 + top] = l[self.WR2 + top] = 0
        else:
            self._pop(l, top)
        return tuple(l)

    def _commit_inc(self, s, top):
        """The seed's rb_commit: local_inc(&cpu_buffer->entries) (coarse: and the
        loads of ``commit_load`` with it)."""
        l = list(s)
        l[ENTRIES] += 1
        l[self.WPH + top] = W_COUNTED
        if not self.fine:
            self._load_mapped_entries(l, top)
        return tuple(l)

    def _commit_load(self, s, top):
        l = list(s)
        self._load_mapped_entries(l, top)
        return tuple(l)

    def _load_mapped_entries(self, l, top):
        """Then READ_ONCE(cpu_buffer->mapped) and, if set, the load of entries for
        the meta store."""
        if l[MAPPED] > 0:
            l[self.WPH + top] = W_INC
            l[self.WR1 + top] = l[ENTRIES]
        else:
            l[self.WPH + top] = W_STORED

    def _meta_store_entries(self, s, top):
        """WRITE_ONCE(meta->entries, value loaded before an interrupt could run).
        (The write saw mapped != 0: the meta page stays until it leaves, since the
        last unmap's synchronize_rcu waits for it.)"""
        l = list(s)
        v = s[self.WR1 + top]
        if s[MAPPED] > 0 or s[UNMAPW]:
            if v < s[M_ENTRIES]:
                l[FLAGS] |= F_BACKWARDS
            l[M_ENTRIES] = v
        l[self.WPH + top] = W_STORED
        l[self.WR1 + top] = 0
        return tuple(l)

    def _meta_store_tail(self, s, top):
        """The seed's stores of overrun (rb_handle_head_page) and pages_touched
        (rb_tail_page_update) into the meta page."""
        l = list(s)
        if s[MAPPED] > 0 or s[UNMAPW]:
            ov = s[self.WR1 + top]
            if ov >= 0:
                self._store_meta_overrun(l, ov)
            pt = s[self.WR2 + top]
            if pt < s[M_TOUCHED]:
                l[FLAGS] |= F_BACKWARDS
            l[M_TOUCHED] = pt
        l[self.WPH + top] = W_MOVED
        l[self.WR1 + top] = 0
        l[self.WR2 + top] = 0
        return tuple(l)

    def _store_meta_overrun(self, l, ov):
        """The seed's WRITE_ONCE(meta->overrun, value it loaded)."""
        if ov < l[M_OVERRUN]:
            l[FLAGS] |= F_BACKWARDS
        l[M_OVERRUN] = ov

    # ------------------------------------------------------------------ reader side
    def _prev(self, l, page):
        NXT = self.NXT
        reader = l[READER]
        for q in range(self.N + 1):
            if q != reader and l[NXT + q] == page:
                return q
        raise AssertionError("page not in ring")  # pragma: no cover

    def _set_head_page(self, l):
        """rb_set_head_page: fix the cached head; the seed also moves data_page_head."""
        h = l[HCACHE]
        real = l[HEAD]
        if h != real and self.has_data_pages and l[MAPPED] > 0:
            cnt = 0
            guard = self.N + 1
            while h != real and guard:
                h = l[self.NXT + h]
                cnt += 1
                guard -= 1
            l[M_DPH] = (l[M_DPH] + cnt) % self.N
        l[HCACHE] = real

    def _empty(self, l) -> bool:
        """rb_per_cpu_empty."""
        R = l[READER]
        if l[self.PREAD + R] != l[self.PCOMMIT + R]:
            return False
        C = l[COMMITP]
        if C == R:
            return True
        if C != l[HEAD]:
            return False
        return l[self.PCOMMIT + C] == 0

    def _swap(self, l):
        """rb_get_reader_page's swap: the head page becomes the reader page, the old
        reader page (write/commit reset, bytes kept) takes its place in the ring."""
        NXT = self.NXT
        self._set_head_page(l)
        H = l[HEAD]
        R = l[READER]
        prev = self._prev(l, H)
        if self.fine and prev == l[TAIL] and l[self.PWRITE + prev] >= self.K:
            # writes before their reservation on the full tail page: each may
            # have seen H flagged HEAD already (head_retry)
            for i in range(l[WDEPTH]):
                if l[self.WPH + i] == W_BEGUN:
                    l[self.WR3 + i] = 1
        l[PAGESP] = prev
        l[self.PWRITE + R] = 0
        l[self.PCOMMIT + R] = 0
        l[REAL0] &= ~(1 << R)
        l[NXT + R] = l[NXT + H]
        l[NXT + prev] = R
        l[HEAD] = l[NXT + H]
        l[HCACHE] = l[HEAD]
        ov = l[OVERRUN]
        gap = ov - l[LASTOV]
        if gap or self.swap_lost_always:
            l[LOSTEV] = gap
            l[LASTOV] = ov
        # history: the loss just before the new reader page, not yet reported
        l[GAP] = gap << 1
        l[RFLAG] = 0        # the new reader page's commit word carries no flags
        l[READER] = H
        l[self.PREAD + H] = 0
        if self.meta_in_swap and l[MAPPED] > 0:
            # rb_meta_page_head_swap + rb_meta_page_head_move(1)
            if self.has_data_pages:
                dph = l[M_DPH]
                if l[self.DPAGES + dph] != l[self.IDS + H]:
                    # the slot names another page: its ID leaves the list and the
                    # head page's stays (now the reader page's)
                    l[FLAGS] |= F_DP_SLOT
                l[self.DPAGES + dph] = l[self.IDS + R]
                l[M_DPH] = (dph + 1) % self.N
            l[M_RID] = l[self.IDS + H]

    def _get_reader_page(self, l):
        """rb_get_reader_page: the current reader page while it has unread data, else
        swap with the head page unless the reader page is the commit page or the
        buffer holds no entries by its counters (rb_num_of_entries: entries -
        (overrun + read)); after a swap it looks again (a page swapped in with
        nothing committed yet ends the loop at the commit page check). Returns
        the reader page or -1."""
        for _ in range(3):
            R = l[READER]
            if l[self.PREAD + R] < l[self.PCOMMIT + R]:
                return R
            if l[COMMITP] == R:
                return -1
            if l[ENTRIES] - (l[OVERRUN] + l[READCNT]) == 0:
                return -1
            self._swap(l)
        return -1

    def _refresh_meta(self, l):
        """rb_update_meta_page (and the v3 ioctl's stores); rule meta_update may
        leave one field alone (a broken refresh)."""
        R = l[READER]
        skip = self.meta_skip
        if skip != "no_reader_id":
            l[M_RID] = l[self.IDS + R]
        if skip != "no_reader_read":
            l[M_RREAD] = l[self.PREAD + R]
        if skip != "no_entries":
            l[M_ENTRIES] = l[ENTRIES]
        if skip != "no_overrun":
            l[M_OVERRUN] = l[OVERRUN]
        if self.meta_fields == "upstream":
            if skip != "no_read":
                l[M_READ] = l[READCNT]
            lost = l[GAP] >> 1
            l[M_LOST] = lost if self.meta_lost_at_swap else l[LOSTEV]
            if l[M_LOST] != lost:
                l[FLAGS] |= F_META_LOST

    def _check_meta_fresh(self, l):
        """Where the meta page is documented fresh (ring-buffer-map.rst: the ioctl
        "updates the meta-page fields"; first map; reset while mapped), each
        field holds what include/uapi/linux/trace_mmap.h says it means, counted
        by the kernel at that instant: entries ("Number of entries in the
        ring-buffer": events committed since the last reset, cpu_buffer->entries),
        overrun ("Number of entries lost in the ring-buffer": events overwritten
        since the last reset), read ("Number of entries that have been read":
        events consumed by any reader), reader.id ("subbuf ID of the current
        reader. ID range [0 : nr_subbufs - 1]") and reader.read ("Number of bytes
        read on the reader subbuf", here in events)."""
        if self.meta_fields != "upstream":
            return
        R = l[READER]
        if l[M_ENTRIES] != l[ENTRIES]:
            l[FLAGS] |= F_META_ENTRIES
        if l[M_OVERRUN] != l[OVERRUN]:
            l[FLAGS] |= F_META_OVERRUN
        if l[M_READ] != l[READCNT]:
            l[FLAGS] |= F_META_READ
        if not (0 <= l[M_RID] <= self.N and l[M_RID] == l[self.IDS + R]):
            l[FLAGS] |= F_META_RID
        if not (l[M_RREAD] == l[self.PREAD + R] <= l[self.PCOMMIT + R]):
            l[FLAGS] |= F_META_RREAD

    def _ioctl(self, l, pos):
        """The get-reader ioctl's work under reader_lock. Returns 0 or -ENODEV (the
        buffer is not mapped: a process whose VMA the kernel did not count).

        Where the ioctl ends with rb_update_meta_page (``ioctl_refresh``), the
        refresh is a step of its own (``ioctl_meta``): the writer runs on between
        the reader page work and the loads of its counters."""
        if l[MAPPED] <= 0:
            return -19
        gr = self.get_reader
        before = l[READER]
        if gr == "v2_swap":
            R = l[READER]
            l[self.PREAD + R] = l[self.PCOMMIT + R]
            self._set_head_page(l)
            if not self._empty(l):
                self._swap(l)
        elif gr == "read_param":
            R = l[READER]
            amount = min(pos, l[self.PCOMMIT + R])
            if amount > l[self.PREAD + R]:
                K = self.K
                l[READCNT] += min(amount, K) - min(l[self.PREAD + R], K)
                l[self.PREAD + R] = amount
            self._get_reader_page(l)
        else:  # consume_to_commit / no_meta_refresh
            # ring_buffer_map_get_reader's consume loop starts with
            # rb_per_cpu_empty, whose rb_set_head_page fixes the cached head
            self._set_head_page(l)
            R = l[READER]
            if self._empty(l):
                R = -1
            elif l[self.PREAD + R] >= l[self.PCOMMIT + R]:
                # the reader page is done: rb_get_reader_page swaps unless the
                # reader page is the commit page or the buffer is empty; after a
                # swap the count in lost_events goes into the new page, then
                # lost_events = 0 (an ioctl that only consumes leaves it alone)
                R = self._get_reader_page(l)
                if R >= 0:
                    if l[LOSTEV] and self.page_flags:
                        self._record_loss(l, R, l[LOSTEV])
                    l[LOSTEV] = 0
            if R >= 0:
                K = self.K
                n = min(l[self.PCOMMIT + R], K) - min(l[self.PREAD + R], K)
                l[READCNT] += n
                l[self.PREAD + R] = l[self.PCOMMIT + R]
        if l[READER] != before:
            l[FLAGS] |= G_IOCTL_SWAP
        if not self.ioctl_refresh:
            # coarse: the closing rb_update_meta_page is part of this step
            if gr in ("consume_to_commit", "read_param"):
                self._refresh_meta(l)
            if l[M_RID] != l[self.IDS + l[READER]]:
                l[FLAGS] |= F_IOCTL_META
            self._check_meta_fresh(l)
        return 0

    def _record_loss(self, l, R, missed):
        """ring_buffer_map_get_reader after a swap with ``missed`` events lost: the
        count goes into the new reader page R unless R is the commit page.

        Not the commit page: commit is cut back to real_end when the writer closed
        the page early (the padding goes), the count is stored after the data when
        sizeof(long) bytes are free (RB_MISSED_STORED) and RB_MISSED_EVENTS is set.
        In the model a page the writer left holds ``page_events`` events and its
        padding: after the cut there is room for the count; without padding
        (events fill the page exactly) or with real_end 0 there is none.
        The commit page (commit_page_loss): 6.12.117 WARN_ONCE when it is also the
        tail page, else pr_info (a commit overrun); 6.10 WARN_ON_ONCE."""
        if R != l[COMMITP]:
            PC = self.PCOMMIT + R
            cut = l[PC] > self.K and not l[REAL0] >> R & 1
            if cut:
                l[PC] = self.K
            stored = cut or l[PC] < self.K
            l[RFLAG] = ((missed if stored else 0) << 1) | 1
            l[FLAGS] |= G_LOSS_FLAGGED
            self._report_loss(l, missed)
        elif self.commit_page_warns or R == l[TAIL]:
            l[FLAGS] |= K_READER_ON_COMMIT
        else:
            l[FLAGS] |= K_COMMIT_OVERRUN

    def _report_loss(self, l, count, exact=True):
        """User space is told ``count`` events were lost just before the current
        reader page's data (a flag in its commit word, a raw read's copy, a
        trace_pipe [LOST] line). ``exact``: the count is given (else only
        RB_MISSED_EVENTS). The history slot GAP holds what was really lost there
        and whether it was told already; anything else is a misreport."""
        if not count:
            return
        g = l[GAP]
        if g & 1 or g >> 1 == 0 or (exact and count != g >> 1):
            l[FLAGS] |= F_LOSS_MISREPORT
        l[GAP] = g | 1

    def _deliver(self, l, seq):
        bit = 1 << seq
        if l[DELIV] & bit:
            l[DUPS] |= bit
        l[DELIV] |= bit

    def _pipe_read(self, s):
        """A trace_pipe_raw read of a whole page (:meth:`_read_page`)."""
        l = list(s)
        if self._read_page(l) is None and tuple(l) == s:
            return None
        # (a read that finds nothing after rb_get_reader_page swapped in a page
        # with nothing committed yet still leaves that swap behind)
        l[PIPEB] -= 1
        return tuple(l)

    def _read_page(self, l):
        """ring_buffer_read_page for a read of a whole page. Returns None (no
        page to read) or what the caller's page holds: (first event's sequence
        number, data events, the padding unit in it, missed count, RB_MISSED_EVENTS
        carried from the reader page). A copy holds the padding it copied; a page
        handed out whole has its commit cut back to real_end (no padding) unless
        real_end is 0."""
        R = self._get_reader_page(l)
        if R < 0:
            return None
        PR, PC = self.PREAD + R, self.PCOMMIT + R
        read, commit = l[PR], l[PC]
        base = l[self.PBASE + R]
        # the page handed out carries the reader page's RB_MISSED_EVENTS and, when
        # lost_events is set, the count; then lost_events = 0
        missed = l[LOSTEV]
        flagged = l[RFLAG]
        l[LOSTEV] = 0
        if missed:
            self._report_loss(l, missed)
        elif flagged:
            self._report_loss(l, 1, exact=False)
        events = min(commit, self.K)
        copy = bool(read or R == l[COMMITP] or (
            l[MAPPED] > 0 and self.rules["read_page_mapped"] == "copy"))
        out = (base + min(read, events), max(0, events - read),
               commit > self.K and (copy or bool(l[REAL0] >> R & 1)),
               missed, bool(flagged))
        if copy:
            for k in range(read, events):
                self._deliver(l, base + k)
            l[READCNT] += max(0, events - read)
            l[PR] = commit
        else:
            # swap the page out: the caller gets it, an empty page replaces it
            events = min(commit, self.K)
            for k in range(0, events):
                self._deliver(l, base + k)
            l[READCNT] += events
            if l[MAPPED] > 0:
                l[FLAGS] |= F_PAGE_LEFT
            l[self.PBASE + R] = 0
            l[self.PFILL + R] = 0
            l[self.PWRITE + R] = 0
            l[REAL0] &= ~(1 << R)
            l[RFLAG] = 0
            l[PC] = 0
            l[PR] = 0
        return out

    # ------------------------------------------------------------------ trace_pipe
    def _text_steps(self, s, append):
        """tracing_read_pipe on per_cpu/cpu0/trace_pipe (actor ``text``).

        One read formats events into the read's trace_seq, one line each: for each
        line ring_buffer_peek (rb_buffer_peek: rb_get_reader_page, which swaps in
        the next page when the reader page is done and then sets lost_events),
        print_trace_line (with a "[LOST n EVENTS]" line first when the peek
        returned a loss), then ring_buffer_consume (reports and clears
        lost_events, rb_advance_reader: read++). Steps:

        - ``text_read``: a read starts and its first line goes in (the trace_seq
          is empty: a line always fits);
        - ``text_line``: the next line fits: peek and consume;
        - ``text_full``: the next line does not fit the space left: peeked, put
          back, not consumed, the read returns (what the peek swapped in and set
          in lost_events stays);
        - ``text_done``: the user's count is reached after a consumed line: the
          read returns without peeking.

        Abstraction: line lengths are not modelled; after the first line of a
        read, whether the next one fits (text_line / text_full) and whether the
        count is reached (text_done) are nondeterministic choices, so every way a
        read can end is explored. The [LINE TOO BIG] case (a single line larger
        than the trace_seq, consumed unprinted) and the leftover bytes a read
        returns later (trace_seq_to_user) are left out. A line is one step: the
        peek and the consume are separate reader_lock sections, but between them
        only the writer runs (trace_access_lock; one consumer at a time), and it
        cannot touch the reader page's unread event. A read on an empty buffer
        returns without touching the buffer (no step)."""
        if not s[TEXTP]:
            l = list(s)
            R = self._text_peek(l)
            if R >= 0:
                self._text_consume(l, R)
                l[TEXTB] -= 1
                l[TEXTP] = 1
                append((("text", "text_read"), tuple(l)))
            return
        l = list(s)
        R = self._text_peek(l)
        if R >= 0:
            full = list(l)
            self._text_consume(l, R)
            append((("text", "text_line"), tuple(l)))
            full[TEXTP] = 0
            if full[LOSTEV]:
                full[FLAGS] |= G_TEXT_LEFT_LOSS
            append((("text", "text_full"), tuple(full)))
        l = list(s)
        l[TEXTP] = 0
        append((("text", "text_done"), tuple(l)))

    def _text_peek(self, l):
        """ring_buffer_peek: the reader page holding the next event, or -1. The
        writer's padding at the end of a page is consumed on the way (it is no
        event: rb_advance_reader does not count it in ``read``)."""
        if self._empty(l):          # __find_next_entry: ring_buffer_empty_cpu
            return -1
        for _ in range(3):
            R = self._get_reader_page(l)
            if R < 0 or l[self.PREAD + R] < self.K:
                return R
            l[self.PREAD + R] = l[self.PCOMMIT + R]
        return -1  # pragma: no cover - at most one padding unit per page

    def _text_consume(self, l, R):
        """ring_buffer_consume of the event at the reader page's read offset: the
        loss the peek returned goes out with it ([LOST n EVENTS]), lost_events = 0,
        rb_advance_reader."""
        self._report_loss(l, l[LOSTEV])
        l[LOSTEV] = 0
        PR = self.PREAD + R
        pos = l[PR]
        self._deliver(l, l[self.PBASE + R] + pos)
        l[PR] = pos + 1
        l[READCNT] += 1

    def _reset(self, s):
        """rb_reset_cpu (``echo > trace``): every unread event is discarded and counted
        as such; positions and counters go to 0; page IDs stay. The head page goes
        back to ``cpu_buffer->pages`` (where the last swap left it); the seed
        clears only its meta counters and leaves ``data_page_head`` and
        ``data_pages[]`` (rule ``reset_data_pages``)."""
        l = list(s)
        self._clear_buffer(l)
        l[RESETB] -= 1
        return tuple(l)

    def _clear_buffer(self, l):
        """rb_reset_cpu's work on the state (also what a snapshot leaves in the
        live buffer: see :meth:`_snapshot`)."""
        s = tuple(l)
        N1 = self.N + 1
        l[ACCT] |= _mask(0, s[SEQ]) & ~s[DELIV]
        l[REAL0] = 0
        for p in range(N1):
            l[self.PWRITE + p] = 0
            l[self.PCOMMIT + p] = 0
            l[self.PREAD + p] = 0
        h = s[PAGESP]
        l[HEAD] = l[TAIL] = l[COMMITP] = l[HCACHE] = h
        for k in (ENTRIES, OVERRUN, TOUCHED, READCNT, LASTOV, LOSTEV, DROPPED, GAP,
                  RFLAG):
            l[k] = 0
        if s[MAPPED] > 0:
            if self.v2_writer:
                l[M_ENTRIES] = l[M_OVERRUN] = l[M_TOUCHED] = 0
            else:
                self._refresh_meta(l)
                self._check_meta_fresh(l)
            if self.has_data_pages and self.rules["reset_data_pages"] == "relist":
                # rbmap's fix: list the ring again from the new head
                self._list_data_pages(l)

    # ------------------------------------------------------------------ geometry
    def resized(self, s, pages: int | None = None, page_events: int | None = None):
        """A buffer of another size, for running scenarios (exploration keeps the
        size constant): ``(model, state)`` after ring_buffer_resize of the per-CPU
        buffer to ``pages`` ring pages, or after ring_buffer_subbuf_order_set
        (``page_events``: what a sub-buffer of the new order holds; ``pages``
        then is the new count). Only for a buffer nobody maps (resize_disabled
        refuses both) and no write in flight.

        - rb_remove_pages: the pages right after the tail page (after the reader
          page's next when the tail is on the reader page) leave the ring; their
          entries are added to overrun (lost, counted) and, if the head was among
          them, the head moves to the page after them;
        - rb_insert_pages: empty pages are spliced in just before the head page;
        - ring_buffer_subbuf_order_set: every page, the reader page too, is
          replaced by an empty one (head = tail = commit = the first ring page);
          entries, overrun, read, last_overrun and lost_events stay as they were,
          so the events still unread are gone without being counted (history:
          lost uncounted).
        IDs are not kept (nothing maps the buffer)."""
        from dataclasses import asdict
        assert s[RESDIS] <= 0 and not s[WDEPTH]
        N, NXT = self.N, self.NXT
        l = list(s)
        reorder = page_events is not None
        ring = []               # ring pages in order, from the one after the tail
        if reorder:
            order = []
        else:
            start = s[NXT + s[READER]] if s[TAIL] == s[READER] else s[TAIL]
            p = start
            for _ in range(N):
                ring.append(p)
                p = s[NXT + p]
            # ring[0] is the tail (or the reader page's next); ring[1:] follow it
            order = ring
        new_n = pages if pages is not None else N
        K = page_events if reorder else self.K
        model = RingBufferModel(self.variant, Config.unbounded(
            **{**asdict(self.config), "pages": new_n, "page_events": K}))
        n = model.N
        t = [0] * model.SIZE
        t[:NGLOBAL] = l[:NGLOBAL]
        t[model.PROC:model.PROC + NPF * self.P] = l[self.PROC:self.PROC + NPF * self.P]
        for k in range(model.IDS, model.IDS + n + 1):
            t[k] = 0
        if reorder:
            # fresh pages: reader 0, ring 1..n; what was unread is gone
            t[LOSTU] |= _mask(0, s[SEQ]) & ~(s[DELIV] | s[ACCT])
            for p in range(1, n + 1):
                t[model.NXT + p] = p + 1 if p < n else 1
            t[READER] = 0
            t[HEAD] = t[TAIL] = t[COMMITP] = t[HCACHE] = t[PAGESP] = 1
            t[REAL0] = t[RFLAG] = 0
            return model, tuple(t)
        # index map: the reader page keeps 0's role as index of its own, the
        # surviving ring pages follow, new pages last
        keep = list(order)
        removed = []
        head_moved = False
        if new_n < N:
            drop = keep[1:1 + N - new_n]
            removed = drop
            keep = [keep[0]] + keep[1 + N - new_n:]
            if s[HEAD] in drop:
                head_moved = True
        idx = {s[READER]: 0}
        for p in keep:
            idx[p] = len(idx)
        fresh = list(range(len(idx), n + 1))
        for p in removed:
            entries = min(s[self.PWRITE + p], self.K)
            t[OVERRUN] += entries
            t[ACCT] |= _mask(s[self.PBASE + p], entries)
        # the ring, in order; inserted pages go just before the head
        new_ring = [idx[p] for p in keep]
        head = keep[1] if head_moved and len(keep) > 1 else s[HEAD]
        if fresh:
            at = new_ring.index(idx[s[HEAD]])
            new_ring[at:at] = fresh
        for i, q in enumerate(new_ring):
            t[model.NXT + q] = new_ring[(i + 1) % len(new_ring)]
        for old, new in idx.items():
            for base_old, base_new in ((self.PBASE, model.PBASE),
                                       (self.PFILL, model.PFILL),
                                       (self.PWRITE, model.PWRITE),
                                       (self.PCOMMIT, model.PCOMMIT),
                                       (self.PREAD, model.PREAD)):
                t[base_new + new] = s[base_old + old]
        # the reader page's next (where the writer goes when it leaves it)
        rnext = s[NXT + s[READER]]
        t[model.NXT + 0] = idx[rnext] if rnext in idx else idx[head]
        t[READER] = 0
        t[HEAD] = idx[head]
        t[TAIL] = idx[s[TAIL]]
        t[COMMITP] = idx[s[COMMITP]]
        t[HCACHE] = idx[head] if head_moved or s[HCACHE] not in idx else idx[s[HCACHE]]
        # cpu_buffer->pages: the page after the removed ones
        t[PAGESP] = idx[keep[1] if removed else s[PAGESP]] if s[PAGESP] in idx \
            or removed else idx[head]
        real0 = 0
        for old, new in idx.items():
            if s[REAL0] >> old & 1:
                real0 |= 1 << new
        t[REAL0] = real0
        return model, tuple(t)

    # ------------------------------------------------------------------ refusals
    #: kernel-state slots a refused call may change without changing anything a
    #: user can observe: cpu_buffer->head_page is a hint rb_set_head_page fixes up
    #: (rb_setup_ids_meta_page walks from it), FLAGS are history
    _REFUSAL_FREE = (HCACHE, FLAGS)

    def _refused(self, s, l, append, action, gated):
        """A call returned an error after running the kernel code on ``l``: it
        must have changed nothing (``refused_call_changes_nothing``); ``gated``: a
        call a mapping refuses, which must not be refused once no VMA is left
        (``refusal_lifted_after_unmap``). Listed only when something changed
        (else it is a self-loop)."""
        for k in self._REFUSAL_FREE:
            l[k] = s[k]
        if tuple(l) != s:
            if s[FLAGS] & F_REFUSAL_CHANGED:
                return      # shown once; repeating it would leak without bound
            l[FLAGS] |= F_REFUSAL_CHANGED
        if gated and not self._live_vmas(s):
            l[FLAGS] |= F_REFUSAL_STUCK
        t = tuple(l)
        if t != s:
            append((action, t))

    def _admin_steps(self, s, append):
        """(--refusals) root's tracefs writes that a mapping refuses, each tried
        in every state (actor ``admin``; a refusal that changes nothing is a
        self-loop and not listed):

        - ``resize``: per-CPU buffer_size_kb to another size (ring_buffer_resize:
          -EBUSY while resize_disabled);
        - ``subbuf_order``: buffer_subbuf_size_kb to another order
          (ring_buffer_subbuf_order_set: -EBUSY while resize_disabled);
        - ``snapshot``: echo 1 > snapshot (tracing_arm_snapshot_locked: -EBUSY
          while tr->mapped; then update_max_tr swaps the whole buffer);
        - ``snapshot_cpu``: echo 1 > per_cpu/cpu0/snapshot (the same arming, then
          ring_buffer_swap_cpu: -EBUSY and a warning while mapped);
        - ``trigger_on`` / ``trigger_off``: a snapshot trigger installed
          (tracing_arm_snapshot: -EBUSY while tr->mapped) and removed.

        A resize or order change that goes ahead changes nr_pages or the
        sub-buffer size, which the model keeps constant: it is a self-loop too
        (the model records only whether it was refused). A snapshot that goes
        ahead (at most once) leaves the live buffer empty, as a reset does (its
        events now belong to the snapshot buffer: counted, never lost); it waits
        for no writer, so it is taken only when no write is in flight."""
        for name, fn in (("resize", self._resize), ("subbuf_order", self._resize),
                         ("snapshot", self._snapshot), ("snapshot_cpu", self._snapshot),
                         ("trigger_on", self._trigger), ("trigger_off", self._trigger)):
            if name == "trigger_off" and not s[SNAP]:
                continue
            l = list(s)
            rc = fn(l, name)
            if rc == 0 and name == "subbuf_order" and self.config.order_change:
                t = self._order_change(s)
                if t is not None:
                    append((("admin", name), t))
            elif rc == 0:
                t = tuple(l)
                if t != s:
                    append((("admin", name), t))
            elif rc != 1:
                self._refused(s, l, append, ("admin", name), gated=name != "trigger_off")

    def _order_change(self, s):
        """(``order_change``) ring_buffer_subbuf_order_set going ahead: the state
        after an order change and the change back (the model's sub-buffer holds
        ``page_events`` events at every order), or None when the kernel refuses
        it (resize_disabled: a mapping) or the model does not take it now (a write
        in flight, a trace_pipe read under way, a VMA left, the seed's ABI).
        Every page, the reader page too, is replaced by an empty one; entries,
        overrun, read, lost_events stay: the unread events are gone without being
        counted (README K1; :meth:`resized` with ``page_events``). Left out: the
        allocation failure path and nr_pages recomputed for the new size."""
        if (s[RESDIS] > 0 or s[WDEPTH] or s[TEXTP] or self.has_data_pages
                or self._live_vmas(s)):
            return None
        _, t = self.resized(s, page_events=self.K)
        return t if t != s else None

    def _resize(self, l, name) -> int:
        """ring_buffer_resize / ring_buffer_subbuf_order_set: -EBUSY while
        resize_disabled; else 0 (the model's size is constant)."""
        return EBUSY if l[RESDIS] > 0 else 0

    def _snapshot(self, l, name) -> int:
        """tracing_snapshot_write with 1: tracing_arm_snapshot_locked refuses while
        tr->mapped (the final ABI); ``snapshot`` then swaps the whole buffer
        (update_max_tr: no per-CPU check: pages a process still maps stop being
        the live buffer, F_SWAPPED), ``snapshot_cpu`` calls ring_buffer_swap_cpu,
        which refuses a mapped buffer with WARN_ON_ONCE and -EBUSY (the write
        itself returns success). Returns 1 when the model cannot take it now (a
        write in flight, no snapshot left)."""
        if self.snapshot_excl and l[TRMAP] > 0:
            return EBUSY
        if name == "snapshot_cpu" and l[MAPPED] > 0:
            if self.snapshot_excl:
                l[FLAGS] |= K_SWAP_CPU_MAPPED
            if self.rules["swap_cpu_mapped"] == "ebusy":
                return 0
            l[FLAGS] |= F_SWAPPED
            return 0
        if l[MAPPED] > 0 or self._live_vmas(l):
            # the buffer a process maps is swapped out from under it; the model
            # keeps following the one buffer (the flag marks the violation)
            l[FLAGS] |= F_SWAPPED
            return 0
        if not l[SNAPB] or l[WDEPTH]:
            return 1
        l[SNAPB] -= 1
        self._clear_buffer(l)
        return 0

    def _trigger(self, l, name) -> int:
        """A snapshot trigger: tracing_arm_snapshot (-EBUSY while tr->mapped, the
        final ABI) / tracing_disarm_snapshot."""
        if name == "trigger_off":
            l[SNAP] = 0
            return 0
        if l[SNAP]:
            return 1
        if self.snapshot_excl and l[TRMAP] > 0:
            return EBUSY
        l[SNAP] = 1
        if self._live_vmas(l):
            l[FLAGS] |= F_SNAP_MAPPED
        return 0

    def _idle_refusals(self, s, name, append):
        """(--refusals) calls of a process that holds no mapping: GET_READER when
        nothing is mapped (rb_get_mapped_buffer: -ENODEV) and an mmap that
        __rb_map_vma refuses (a length or offset past the end: -EINVAL, after
        get_snapshot_map and, on a first map, the IDs, the meta page and
        resize_disabled, which its error path undoes: rule map_error)."""
        if s[MAPPED] <= 0:
            l = list(s)
            self._refused(s, l, append, (name, "ioctl"), gated=False)
        l = list(s)
        if self._map_refused(l) != 0:
            self._refused(s, l, append, (name, "trymap_bad"), gated=False)

    def _map_refused(self, l, err=EINVAL) -> int:
        """tracing_buffers_mmap of a range (or flags: -EPERM) __rb_map_vma refuses
        with ``err``; returns it, or -EBUSY from get_snapshot_map."""
        if self.snapshot_excl:
            if l[SNAP]:
                return EBUSY
            l[TRMAP] += 1
        if l[MAPPED] <= 0:
            self._first_map(l)
            l[RESDIS] += 1
            # __rb_map_vma failed: kfree(subbuf_ids), rb_free_meta_page,
            # atomic_dec(&resize_disabled)
            self._free_ids_meta(l)
            if self.map_error != "keep_resize_disabled":
                l[RESDIS] -= 1
        if self.snapshot_excl and self.map_error != "keep_tr_mapped":
            l[TRMAP] -= 1           # put_snapshot_map
        return err

    # ------------------------------------------------------------------ mapping
    def _first_map(self, l):
        """ring_buffer_map when not mapped: IDs and the meta page."""
        N = self.N
        IDS = self.IDS
        bad_ids = self.rules["ids"] == "skip_reader"
        self._set_head_page(l)
        l[IDS + l[READER]] = 1 if bad_ids else 0
        p = l[HEAD]
        for i in range(1, N + 1):
            l[IDS + p] = i
            p = l[self.NXT + p]
        if self.has_data_pages:
            self._list_data_pages(l)
            l[M_RID] = l[IDS + l[READER]]
            l[M_ENTRIES] = l[ENTRIES]
            l[M_OVERRUN] = l[OVERRUN]
            l[M_TOUCHED] = l[TOUCHED]
        else:
            self._refresh_meta(l)
            self._check_meta_fresh(l)
        # map_fault / the insert loop for every page offset of a full mapping and
        # one beyond: meta area = 1 page, then subbuf_ids[0..N]
        if self.rules["map_fault"] == "off_by_one":
            l[FLAGS] |= F_FAULT

    def _list_data_pages(self, l):
        """data_pages[] = the ring's IDs in order from the head, data_page_head = 0
        (rb_setup_ids_meta_page, where IDs 1..nr_pages are assigned in that order)."""
        p = l[HEAD]
        for i in range(self.N):
            l[self.DPAGES + i] = l[self.IDS + p]
            p = l[self.NXT + p]
        l[M_DPH] = 0

    def _unmap(self, l, who):
        """ring_buffer_unmap by process ``who`` (the caller has already dropped its
        VMA from the process fields, so the live-VMA count below excludes it)."""
        self._vma_close_tr(l)
        m = l[MAPPED]
        if m <= 0:
            l[FLAGS] |= F_ENODEV
            if self.meta_fields == "upstream":
                # tracing_buffers_mmap_close: WARN_ON(ring_buffer_unmap(...))
                l[FLAGS] |= K_MMAP_CLOSE
            if self.rules["unmap_unmapped"] == "decrement":
                l[MAPPED] = m - 1
            return
        l[MAPPED] = m - 1
        if m == 1 and not self._live_vmas(l) and self.fine and self.v2_writer \
                and l[WDEPTH]:
            # the seed: WRITE_ONCE(mapped, 0), then synchronize_rcu() waits for
            # the writes in flight before anything is freed (``unmap_sync``)
            l[UNMAPW] = who + 1
            return
        if m == 1:
            l[RESDIS] -= 1      # the last user mapping gives the unit back
        if m == 1 and not self._live_vmas(l):
            self._free_ids_meta(l)

    def _vma_close_tr(self, l):
        """tracing_buffers_mmap_close's put_snapshot_map (the final ABI):
        WARN_ON(!tr->mapped), else tr->mapped--."""
        if self.snapshot_excl:
            if l[TRMAP] <= 0:
                l[FLAGS] |= K_PUT_SNAPSHOT_MAP
            else:
                l[TRMAP] -= 1

    def _map(self, l) -> int:
        """tracing_buffers_mmap (the final ABI: get_snapshot_map, -EBUSY while a
        snapshot user holds tr->snapshot, else tr->mapped++), then ring_buffer_map:
        the first map assigns IDs and sets up the meta page (resize_disabled++),
        every map counts one more user mapping. Returns 0 or -EBUSY."""
        if self.snapshot_excl:
            if l[SNAP]:
                return EBUSY
            l[TRMAP] += 1
        elif l[SNAP]:
            l[FLAGS] |= F_SNAP_MAPPED     # nothing keeps them apart
        if l[MAPPED] <= 0:
            self._first_map(l)
            l[RESDIS] += 1
        l[MAPPED] = max(l[MAPPED], 0) + 1
        return 0

    def _free_ids_meta(self, l):
        """The last unmap frees subbuf_ids and the meta page. (When a VMA the kernel
        did not count still maps them, its process keeps seeing the last values:
        the pages stay referenced by that VMA.)"""
        for k in range(self.IDS, self.IDS + self.N + 1):
            l[k] = 0
        for k in range(self.DPAGES, self.DPAGES + self.N):
            l[k] = 0
        for k in (M_ENTRIES, M_OVERRUN, M_TOUCHED, M_READ, M_RID, M_RREAD, M_DPH,
                  M_LOST):
            l[k] = 0

    def _live_vmas(self, l) -> int:
        n = 1 if self.nc and l[self.NC + NPH] != NC_IDLE else 0
        for i in range(self.P):
            b = self.PROC + NPF * i
            if P_MAPPED <= l[b + PH] <= P_IOCTLED:
                n += 1
            n += l[b + CHILD]
        return n

    # ------------------------------------------------------------------ processes
    def _process_steps(self, s, i, append, others_holding, alive):
        """The steps of process i. ``others_holding``: a bitmask of the other
        processes holding a mapping; ``alive``: processes not exited."""
        c = self.config
        b = self.PROC + NPF * i
        ph = s[b + PH]
        name = self.proc_names[i]
        if ph == P_EXITED:
            # the forked child outlives its parent until it exits
            if c.fork and s[b + CHILD]:
                self._fork_steps(s, b, name, ph, append)
            return
        if ph == P_IDLE:
            if (not others_holding and not s[TEXTP]) or c.consumers == "concurrent":
                l = list(s)
                if self._map(l) == 0:
                    l[b + PH] = P_MAPPED
                    append(((name, "map"), tuple(l)))
                    if self._why is not None and (others_holding or s[TEXTP]):
                        self._why[(name, "map")] = ("consumers",)
                else:
                    self._refused(s, l, append, (name, "map"), gated=False)
            if c.refusals:
                self._idle_refusals(s, name, append)
            if alive > 1 or not c.reader_stays:
                l = list(s)
                l[b + PH] = P_EXITED
                append(((name, "exit"), tuple(l)))
                if self._why is not None and alive <= 1:
                    self._why[(name, "exit")] = ("reader_stays",)
            if c.fork and s[b + CHILD]:
                self._fork_steps(s, b, name, ph, append)
            return
        # holds a mapping
        if self.ltf:
            clean = self._libtracefs_steps(s, b, name, ph, append)
            self._leave_steps(s, i, b, name, clean, alive, append)
            if c.fork:
                self._fork_steps(s, b, name, ph, append)
            return
        page = s[b + PG]
        pos = s[b + POS]
        caught_up = True
        if ph == P_MAPPED or ph == P_IOCTLED:
            append(((name, "read_meta"), self._read_meta(s, b, ph)))
        elif ph == P_READING:
            if self.live_limit:
                # loads the page's commit word: more to read, or the end of the page
                if pos < s[self.PCOMMIT + page]:
                    caught_up = False
                    append(((name, "read_event"), self._read_event(s, b, page, pos)))
                    if self._why is not None and self._greedy_only and pos >= s[b + LIM]:
                        # past the reader.read it loaded: the documented client
                        # calls the ioctl here
                        self._why[(name, "read_event")] = ("client",)
                else:
                    l = list(s)
                    l[b + PH] = P_PAGE_DONE
                    append(((name, "page_done"), tuple(l)))
                    if self._why is not None and self._greedy_only:
                        self._why[(name, "page_done")] = ("client",)
            elif pos < s[b + LIM]:
                caught_up = False
                append(((name, "read_event"), self._read_event(s, b, page, pos)))
            else:
                self._ioctl_steps(s, b, name, pos, append)
        else:  # P_PAGE_DONE
            self._ioctl_steps(s, b, name, pos, append)
        if self.get_reader == "read_param":
            # the kernel knows only what the last ioctl declared
            clean = ph == P_IOCTLED
        elif self.live_limit:
            clean = ph == P_PAGE_DONE
        else:
            clean = caught_up and ph == P_READING
        self._leave_steps(s, i, b, name, clean, alive, append)
        if c.fork:
            self._fork_steps(s, b, name, ph, append)

    def _leave_steps(self, s, i, b, name, clean, alive, append):
        """munmap (``unmap``) and process exit (``exit``) of a process holding a
        mapping: at a point its client calls clean, or anywhere with --crash."""
        c = self.config
        if (c.crash or clean) and (self.fine or not (
                self.v2_writer and s[MAPPED] == 1 and s[WDEPTH] > 0)):
            # (coarse: the seed's last unmap waits for the writes in flight
            # before it sets mapped = 0; fine: after, in unmap_sync)
            l = list(s)
            self._forget(l, b, P_IDLE)
            self._unmap(l, i)
            append(((name, "unmap"), tuple(l)))
            why = self._why
            if why is not None:
                # not clean: only a crash leaves here; clean after page_done: only
                # a client that read up to the live commit is done there
                why_leave = ("crash",) if not clean else ("client",) if (
                    self._greedy_only and s[b + PH] == P_PAGE_DONE) else ()
                if why_leave:
                    why[(name, "unmap")] = why_leave
            if alive > 1 or not c.reader_stays:
                l = list(s)
                self._forget(l, b, P_EXITED)
                child = l[b + CHILD]
                l[b + CHILD] = 0
                self._unmap(l, i)
                if child:
                    self._unmap(l, i)
                append(((name, "exit"), tuple(l)))
                if why is not None:
                    needs = why_leave + (("reader_stays",) if alive <= 1 else ())
                    if needs:
                        why[(name, "exit")] = needs

    def _reader_spins(self, s) -> bool:
        """rb_get_reader_page spins while the page it would take still has a writer's
        overflowing write index ("a writer is still updating it"): in the seed the
        pages_touched store sits in rb_tail_page_update, before rb_reset_tail."""
        if not self.v2_writer:
            return False
        for i in range(s[WDEPTH]):
            if s[self.WPH + i] == W_MTSTORE or s[self.WPH + i] == W_TMOVED:
                T = s[TAIL]
                for q in range(self.N + 1):
                    if q != T and s[self.NXT + q] == T and q in (s[HEAD], s[READER]):
                        return True
        return False

    def _ioctl_steps(self, s, b, name, pos, append):
        if self._reader_spins(s):
            return
        l = list(s)
        if self._ioctl(l, pos) == 0 and self.ioctl_refresh:
            l[IOCTLP] = (b - self.PROC) // NPF + 1
        l[b + PH] = P_IOCTLED
        append(((name, "ioctl"), tuple(l)))
        if self.has_update_ioctl:
            l = list(s)
            self._update_meta(l)
            append(((name, "update_meta"), tuple(l)))

    def _update_meta(self, l):
        """The seed's ring_buffer_update_meta_page: rb_set_head_page under
        reader_lock moves data_page_head by how far the cached head was behind the
        real one. The seed promises that the list is then in ring order from
        ``data_page_head``; a return where it is not sets F_UPDATE_ORDER."""
        self._set_head_page(l)
        if l[MAPPED] > 0 and self.has_data_pages and not self.data_pages_ordered(l):
            l[FLAGS] |= F_UPDATE_ORDER

    def _fork_steps(self, s, b, name, ph, append):
        """fork after madvise(MADV_DOFORK): the child inherits a copy of the VMA (the
        vm_ops open callback runs), then exits (its copy closes: ring_buffer_unmap)."""
        if not s[b + CHILD]:
            if ph == P_READING:
                l = list(s)
                l[b + CHILD] = 1
                self._vma_open(l)
                append(((name, "dofork"), tuple(l)))
                if self._why is not None:
                    self._why[(name, "dofork")] = ("fork",)
        else:
            l = list(s)
            l[b + CHILD] = 0
            self._unmap(l, (b - self.PROC) // NPF)
            append(((name, "child_exit"), tuple(l)))
            if self._why is not None:
                self._why[(name, "child_exit")] = ("fork",)

    def _vma_open(self, l):
        """The VMA open callback for a copy made at fork (rule vma_open): 6.12.117
        tracing_buffers_mmap_open -> ring_buffer_map_dup (user_mapped++, mapped++,
        or WARN when not mapped); ``counts`` also takes tr->mapped."""
        if self.vma_open == "ignores":
            return
        if l[MAPPED] > 0:
            l[MAPPED] += 1
        else:
            l[FLAGS] |= K_MAP_DUP
        if self.vma_open == "counts" and self.snapshot_excl:
            l[TRMAP] += 1

    def _forget(self, l, b, phase):
        l[b + PH] = phase
        l[b + PG] = 0
        l[b + POS] = 0
        l[b + LIM] = 0
        l[b + PB] = 0
        if self.ltf:
            lb = self.LTF + NLF * ((b - self.PROC) // NPF)
            l[lb + LPH] = l[lb + SKIP] = 0

    def _read_meta(self, s, b, ph):
        """The process loads the meta page fields its algorithm needs and resolves the
        reader page ID through its mapping (data + id * subbuf_size)."""
        l = list(s)
        rid = s[M_RID]
        IDS = self.IDS
        page = 0
        for p in range(self.N + 1):
            if s[IDS + p] == rid:
                page = p
                break
        if ph == P_MAPPED:
            pos = s[M_RREAD] if self.start_at_read else 0
            l[b + PG] = page
            l[b + POS] = pos
            l[b + PB] = s[self.PBASE + page]
        elif page != s[b + PG]:
            l[b + PG] = page
            l[b + POS] = 0
            l[b + PB] = s[self.PBASE + page]
        l[b + LIM] = s[M_RREAD]
        l[b + PH] = P_READING
        return tuple(l)

    def _read_event(self, s, b, page, pos):
        """The process loads the event at ``pos`` of its page (the unit after the
        last event slot is the writer's padding: skipped, nothing delivered)."""
        l = list(s)
        if s[self.PBASE + page] != s[b + PB]:
            l[FLAGS] |= F_TORN
        elif pos < self.K:
            if pos >= s[self.PFILL + page]:
                l[FLAGS] |= F_TORN
            else:
                self._deliver(l, s[b + PB] + pos)
        l[b + POS] = pos + 1
        return tuple(l)


    # ------------------------------------------------------------------ libtracefs
    def _libtracefs_steps(self, s, b, name, ph, append) -> bool:
        """The steps of a process reading with libtracefs 1.8.3 (Debian 1.8.3-1):
        tracefs_cpu_open_mapped, then tracefs_cpu_read_buf (nonblocking) in a loop,
        the caller walking each returned kbuffer with kbuffer_read_event /
        kbuffer_next_event, and tracefs_cpu_close. Returns whether the process is
        between library calls (where an application may close: ``unmap``/``exit``).

        - ``mmap_setup`` (tfs_mmap after its two mmaps): loads ``reader.id`` and
          loads that sub-buffer into the mapping's own kbuffer (tmap->kbuf); if
          ``reader.read`` is not 0 it moves that kbuffer past the events below it
          (kbuffer_read_buffer into a scratch buffer). Its read index is kept
          (SKIP): tracefs_cpu_read_buf walks a second kbuffer (tcpu->kbuf) and
          consults this one again on every "new sub-buffer" load.
        - ``read_buf`` (tfs_mmap_load_subbuf): loads ``reader.id``; if tcpu->kbuf
          is not on that sub-buffer, loads it (its commit) and moves past SKIP
          events, then returns it: no GET_READER, whatever lies beyond
          ``reader.read``. Else kbuffer_refresh loads the commit; events left: it
          loads ``reader.read`` and calls GET_READER when the next event ends at
          or beyond it (the library compares kbuffer_curr_offset, which counts
          the 16-byte sub-buffer header, with ``reader.read``, which does not: so
          the last event below ``reader.read`` also calls it; a padding unit
          ending the page is taken as >= 16 bytes, trace_marker's 32-byte
          events leave 16), then returns it; no events left: GET_READER.
        - ``ioctl``: that GET_READER (``ioctl_meta`` after it when fine).
        - ``reload``: after the "no more events" GET_READER, loads ``reader.id``;
          the same sub-buffer: returns 0 (no data, EAGAIN); else loads the new one
          (kbuffer_load_subbuffer: its commit) from offset 0 and returns it.
        - ``read_event``: the caller loads one event of the returned kbuffer; the
          kbuffer's size is the commit loaded above, not the live one; the
          padding is skipped.

        Left out: tracefs_cpu_read (tfs_mmap_read copies from tmap->kbuf, whose
        read index is its own), blocking reads and their select, error paths,
        the sub-buffer header's time stamp. Every load from the meta page is
        merged with the page load that follows it (only GET_READER, a map or a
        reset changes the meta page, and they are steps of their own)."""
        lb = self.LTF + NLF * ((b - self.PROC) // NPF)
        lph = s[lb + LPH]
        if ph == P_MAPPED:
            l = list(s)
            l[lb + SKIP] = s[M_RREAD]
            l[lb + LPH] = L_UNLOADED
            l[b + PH] = P_READING
            append(((name, "mmap_setup"), tuple(l)))
            return False
        if lph == L_CALL or lph == L_UNLOADED:
            append(((name, "read_buf"), self._ltf_read_buf(s, b, lb, lph)))
        elif lph == L_ITER:
            l = list(s)
            t = self._read_event(s, b, s[b + PG], s[b + POS])
            l = list(t)
            self._ltf_iter_end(l, b, lb)
            append(((name, "read_event"), tuple(l)))
            pos = s[b + POS]
            if (self._why is not None and pos < self.K and pos >= s[M_RREAD]
                    and s[b + PG] == self._meta_reader_page(s)):
                # an event beyond reader.read: what the documented client never
                # reads (the library called no GET_READER for it)
                self._why[(name, "read_event")] = ("client",)
        elif lph == L_RELOAD:
            l = list(s)
            page = self._meta_reader_page(s)
            if page == s[b + PG]:
                l[lb + LPH] = L_CALL      # returns 0: no data
            else:
                self._ltf_load(l, b, lb, page, 0)
            append(((name, "reload"), tuple(l)))
        else:  # L_IOCTL_MORE / L_IOCTL_NEXT
            l = list(s)
            rc = self._ioctl(l, s[b + POS])
            if rc == 0 and self.ioctl_refresh:
                l[IOCTLP] = (b - self.PROC) // NPF + 1
            if rc:
                l[lb + LPH] = L_CALL      # returns -1
            elif lph == L_IOCTL_MORE:
                l[lb + LPH] = L_ITER
            else:
                l[lb + LPH] = L_RELOAD
            append(((name, "ioctl"), tuple(l)))
        return lph == L_CALL or lph == L_UNLOADED

    def _meta_reader_page(self, s) -> int:
        """The page ``meta->reader.id`` names through the mapping (data + id *
        subbuf_size)."""
        rid = s[M_RID]
        IDS = self.IDS
        for p in range(self.N + 1):
            if s[IDS + p] == rid:
                return p
        return 0

    def _ltf_load(self, l, b, lb, page, skip):
        """kbuffer_load_subbuffer on ``page`` (loads its commit: the kbuffer's
        size), then past ``skip`` events; the caller iterates what is left."""
        commit = l[self.PCOMMIT + page]
        l[b + PG] = page
        l[b + PB] = l[self.PBASE + page]
        l[b + LIM] = commit
        l[b + POS] = min(skip, commit)
        l[lb + LPH] = L_ITER
        self._ltf_iter_end(l, b, lb)

    def _ltf_iter_end(self, l, b, lb):
        """kbuffer_next_event skips the padding: at the last event slot the
        kbuffer is at its end, and the read_buf call has been walked."""
        if l[b + POS] >= min(l[b + LIM], self.K):
            l[b + POS] = l[b + LIM]
            l[lb + LPH] = L_CALL

    def _ltf_read_buf(self, s, b, lb, lph):
        """tfs_mmap_load_subbuf up to its GET_READER or its return (see
        ``_libtracefs_steps``)."""
        l = list(s)
        page = self._meta_reader_page(s)
        if lph == L_UNLOADED or page != s[b + PG]:
            # "If kbuf doesn't point to the current sub-buffer just load it and
            # return", moved forward by tmap->kbuf's read index
            self._ltf_load(l, b, lb, page, s[lb + SKIP])
            return tuple(l)
        commit = s[self.PCOMMIT + page]     # kbuffer_refresh
        l[b + LIM] = commit
        pos = s[b + POS]
        if pos < min(commit, self.K):
            # events left: GET_READER first if the event ends at or beyond
            # reader.read (offset + header > read)
            l[lb + LPH] = L_IOCTL_MORE if pos + 1 >= s[M_RREAD] else L_ITER
        else:
            l[b + POS] = commit
            l[lb + LPH] = L_IOCTL_NEXT
        return tuple(l)

    # ------------------------------------------------------------------ non-consuming
    def _nc_steps(self, s, append):
        """The seed's non-consuming reader: update ioctl, then every ring page in
        data_pages[] order from data_page_head, read in place up to its commit.
        With data_index it compares the page's writer counter before and after and
        drops a page that changed under it."""
        B = self.NC
        ph = s[B + NPH]
        l = list(s)
        if ph == NC_IDLE:
            if self._map(l) == 0:
                l[B + NPH] = NC_START
                append((("nc0", "map"), tuple(l)))
        elif ph == NC_START:
            self._update_meta(l)
            l[B + NPH] = NC_LIST
            append((("nc0", "update_meta"), tuple(l)))
        elif ph == NC_LIST:
            l[B + NDPH] = s[M_DPH]
            l[B + NI] = 0
            l[B + NPH] = NC_OPEN
            append((("nc0", "read_head"), tuple(l)))
        elif ph == NC_OPEN:
            pid = s[self.DPAGES + (s[B + NDPH] + s[B + NI]) % self.N]
            page = 0
            for p in range(self.N + 1):
                if s[self.IDS + p] == pid:
                    page = p
                    break
            l[B + NPG] = page
            # the generation it opens; -1: nothing committed yet, the first events
            # the writer puts there are the page's current content
            l[B + NPB] = s[self.PBASE + page] if s[self.PCOMMIT + page] else -1
            l[B + NCNT] = 0
            l[B + NPOS] = 0
            l[B + NTORN] = 0
            if self.nc_check != "none":
                # the commit field it reads under (kept only where it is checked)
                l[B + NCOM] = s[self.PCOMMIT + page]
            l[B + NPH] = NC_PAGE
            append((("nc0", "open_page"), tuple(l)))
        else:
            page = s[B + NPG]
            pos = s[B + NPOS]
            if pos < s[self.PCOMMIT + page]:
                if s[B + NPB] < 0:
                    l[B + NPB] = s[self.PBASE + page]
                elif s[self.PBASE + page] != s[B + NPB]:
                    l[B + NTORN] = 1
                if self.nc_check != "none" and s[self.PCOMMIT + page] > s[B + NCOM]:
                    l[B + NCOM] = s[self.PCOMMIT + page]
                l[B + NPOS] = pos + 1
                append((("nc0", "read_event"), tuple(l)))
            else:
                changed = self._nc_page_changed(s, page, pos)
                if changed:
                    l[FLAGS] |= G_NC_DISCARD
                elif s[B + NTORN]:
                    l[FLAGS] |= F_NC_TORN
                i = s[B + NI] + 1
                l[B + NPG] = l[B + NPB] = l[B + NPOS] = l[B + NCNT] = l[B + NTORN] = 0
                l[B + NCOM] = 0
                if i < self.N:
                    l[B + NI] = i
                    l[B + NPH] = NC_OPEN
                else:
                    l[B + NI] = l[B + NDPH] = 0
                    l[B + NPH] = NC_START
                append((("nc0", "page_end"), tuple(l)))

    def _nc_page_changed(self, s, page, pos) -> bool:
        """The non-consuming reader's check after copying a page (its loads of the
        writer counter, the commit field, the time stamp, after an smp_rmb()).

        ``data_index``: ``data_index[id].cnt`` moved since the page was opened.
        ``nc_check = commit``: the commit field is below the largest value the
        reader loaded from it on this page (the writer moved onto the page and
        reset it, and has not refilled it that far). ``commit_stamp``: that,
        or the page's time stamp is not the one the reader read under (the
        generation: the writer's first reserve on the page stamps it, in the same
        step as it overwrites the first event). rb_iter_head_event makes the same
        check around each event; the reader here makes it once a page, like the
        counter check of the thread."""
        B = self.NC
        if self.data_index and s[B + NCNT]:
            return True
        chk = self.nc_check
        if chk == "none":
            return False
        if s[self.PCOMMIT + page] < s[B + NCOM]:
            return True
        if chk == "commit_stamp":
            return s[B + NPB] >= 0 and s[self.PBASE + page] != s[B + NPB]
        return False

    # ------------------------------------------------------------------ presentation
    def actor(self, a) -> str:
        return a[0]

    #: the view's history variables (reports show them apart from kernel state)
    history_fields = HISTORY_FIELDS

    def actors(self) -> list[tuple[str, str]]:
        """Every actor that can take a step at this config, in lane order, with
        what it stands for: ``(name, description)``."""
        c = self.config
        out = [("writer", "the writer: a task tracing on the buffer's CPU")]
        out += [(n, f"interrupt nested {i} deep on the writer's CPU")
                for i, n in enumerate(self.actor_names[1:], 1)]
        if c.resets or self._gate_steps:
            out.append(("kernel", "kernel paths: reset, resize and swap_cpu gates"))
        if c.pipe_reads:
            out.append(("pipe", "a trace_pipe_raw reader (ring_buffer_read_page)"))
        if c.text_reads:
            out.append(("text", "a trace_pipe reader (tracing_read_pipe: peek, "
                        "format, consume a line at a time)"))
        if c.refusals:
            out.append(("admin", "root's tracefs writes a mapping refuses: resize, "
                        "sub-buffer order, snapshot, snapshot trigger"))
        elif c.order_change:
            out.append(("admin", "root's buffer_subbuf_size_kb writes"))
        out += [(n, f"user-space process {n}: mmap, loads from the mapping, "
                 "the GET_READER ioctl") for n in self.proc_names]
        if self.nc:
            out.append(("nc0", "a non-consuming reader (data_pages[] and the "
                        "update ioctl)"))
        return out

    def assumptions(self) -> list[dict]:
        """The config's assumptions (``config.ASSUMPTIONS``): key, text, value,
        in_force, option."""
        return self.config.assumptions()

    def step_assumptions(self, s, a) -> tuple[str, ...]:
        """The dropped assumptions (config keys, as in ``config.ASSUMPTIONS``)
        without which action ``a`` would not be enabled in state ``s``: the notes
        the step code makes where it lists such a step, and the steps only the
        fine granularity has. Empty when ``a`` exists under every assumption."""
        self._why = why = {}
        try:
            self.successors(s)
        finally:
            self._why = None
        a = tuple(a)
        keys = set(why.get(a, ()))
        if self.fine and len(a) > 1 and a[1] in FINE_STEPS:
            keys.add("granularity")
        return tuple(k for k in ASSUMPTION_KEYS if k in keys)

    def format_action(self, a) -> str:
        return " ".join(str(x) for x in a[1:])

    def view(self, s) -> dict:
        """The kernel-named, readable view of a state (used in traces)."""
        N1 = self.N + 1
        v: dict = {}
        v["events_written"] = s[SEQ]
        v["head_page"] = s[HEAD]
        v["tail_page"] = s[TAIL]
        v["commit_page"] = s[COMMITP]
        v["reader_page"] = s[READER]
        v["entries"] = s[ENTRIES]
        v["overrun"] = s[OVERRUN]
        v["pages_touched"] = s[TOUCHED]
        v["read"] = s[READCNT]
        v["lost_events"] = s[LOSTEV]
        v["last_overrun"] = s[LASTOV]
        if self.page_flags:
            f = s[RFLAG]
            v["reader_page.flags"] = "-" if not f else (
                f"MISSED_EVENTS|MISSED_STORED lost={f >> 1}" if f >> 1
                else "MISSED_EVENTS")
        v["lost_at_swap"] = f"{s[GAP] >> 1}{' (told)' if s[GAP] & 1 else ''}"
        v["dropped"] = s[DROPPED]
        v["mapped"] = s[MAPPED]
        for p in range(N1):
            v[f"page{p}.next"] = s[self.NXT + p] if p != s[READER] else "-"
            v[f"page{p}.write"] = s[self.PWRITE + p]
            v[f"page{p}.commit"] = s[self.PCOMMIT + p]
            if p == s[READER]:
                v[f"page{p}.read"] = s[self.PREAD + p]
            v[f"page{p}.events"] = self._events_str(s, p)
        if s[MAPPED] > 0:
            v["subbuf_ids"] = " ".join(f"{s[self.IDS + p]}:page{p}" for p in range(N1))
        mf = self.meta_fields
        if mf == "v2":
            v["meta.entries"] = s[M_ENTRIES]
            v["meta.overrun"] = s[M_OVERRUN]
            v["meta.pages_touched"] = s[M_TOUCHED]
            v["meta.reader_page"] = s[M_RID]
            v["meta.data_page_head"] = s[M_DPH]
            v["meta.data_pages"] = list(s[self.DPAGES:self.DPAGES + self.N])
        elif mf == "v3":
            v["meta.entries"] = s[M_ENTRIES]
            v["meta.overrun"] = s[M_OVERRUN]
            v["meta.reader_page"] = s[M_RID]
            v["meta.read"] = s[M_RREAD]
        else:
            v["meta.reader.lost_events"] = s[M_LOST]
            v["meta.reader.id"] = s[M_RID]
            v["meta.reader.read"] = s[M_RREAD]
            v["meta.entries"] = s[M_ENTRIES]
            v["meta.overrun"] = s[M_OVERRUN]
            v["meta.read"] = s[M_READ]
        for i in range(self.D):
            ph = s[self.WPH + i]
            if ph or i < s[WDEPTH]:
                desc = WPHASE_NAMES[ph]
                if ph in END_COMMIT_PHASES:
                    if s[self.WR1 + i]:
                        desc += " (in rb_move_tail)"
                    if s[self.WR2 + i]:
                        desc += " (commits moved)"
                if ph == W_INC:
                    desc += f" (loaded entries={s[self.WR1 + i]})"
                elif ph == W_TMOVED and s[self.WR1 + i] >= 0:
                    desc += f" (pushed overrun={s[self.WR1 + i]})"
                elif ph == W_MTSTORE:
                    ov = s[self.WR1 + i]
                    desc += (f" (loaded {'overrun=%d, ' % ov if ov >= 0 else ''}"
                             f"pages_touched={s[self.WR2 + i]})")
                v[self.actor_names[i]] = desc
        for i in range(self.P):
            b = self.PROC + NPF * i
            ph = s[b + PH]
            desc = PPHASE_NAMES[ph]
            if self.ltf and ph == P_READING:
                lb = self.LTF + NLF * i
                desc += (f" page{s[b + PG]} pos={s[b + POS]} size={s[b + LIM]}"
                         f" skip={s[lb + SKIP]} ({LPH_NAMES[s[lb + LPH]]})")
            elif P_MAPPED <= ph <= P_IOCTLED:
                desc += f" page{s[b + PG]} pos={s[b + POS]}"
                if not self.live_limit:
                    desc += f" limit={s[b + LIM]}"
            if s[b + CHILD]:
                desc += " +child"
            if s[IOCTLP] == i + 1:
                desc += " (in GET_READER, meta refresh next)"
            v[self.proc_names[i]] = desc
        if self.nc:
            B = self.NC
            ph = s[B + NPH]
            desc = NC_NAMES[ph]
            if ph == NC_PAGE:
                desc += f" page{s[B + NPG]} pos={s[B + NPOS]}"
                if s[B + NTORN]:
                    desc += " torn"
            v["nc0"] = desc
            if self.data_index and s[B + NCNT]:
                v["nc0"] += " cnt-changed"
        if self.snapshot_excl:
            v["tr->mapped"] = s[TRMAP]
        v["resize_disabled"] = s[RESDIS]
        if s[SNAP]:
            v["tr->snapshot"] = s[SNAP]
        if c_text := self.config.text_reads:
            v["text"] = ("reading" if s[TEXTP] else "idle") + (
                f" ({s[TEXTB]} of {c_text} reads left)")
        v["delivered"] = _bits(s[DELIV])
        v["delivered_twice"] = _bits(s[DUPS])
        v["lost_counted"] = _bits(s[ACCT])
        v["lost_uncounted"] = _bits(s[LOSTU])
        return v

    def _events_str(self, s, p) -> str:
        n = s[self.PFILL + p]
        pad = "+pad" if s[self.PWRITE + p] > self.K else ""
        if n == 0:
            return "[]" + pad
        b = s[self.PBASE + p]
        return (f"[{b}..{b + n - 1}]" if n > 1 else f"[{b}]") + pad


def _bits(x: int) -> list[int]:
    out = []
    i = 0
    while x:
        if x & 1:
            out.append(i)
        x >>= 1
        i += 1
    return out
