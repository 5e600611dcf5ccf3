"""The per-CPU ring buffer and its user-space mapping as an executable state machine.

One model covers every design variant; a :class:`~rbmap.model.rules.Variant` picks the
protocol rules (see ``rules.py``) and a :class:`~rbmap.model.config.Config` the sizes
and assumptions.

The model is a :class:`~rbmap.checker.steps.StepMachine`: its state is the named
slots of ``model/state.py``, its transitions the step units of ``model/steps/``
(one module per actor: ``writer``, ``kernel``, ``procs``, ``admin``, ``nc``,
``libtracefs``), each with its guard, its update and a docstring naming the kernel
function it abstracts. The same step code runs interpreted (printed as Python by
:mod:`rbmap.checker.pygen`: traces, replay, conformance, exploration) and is what
the compiled engine and the Promela export translate; there is no second,
hand-written successor function. This class holds the configuration the steps
read, the properties (model/properties.py), the readable view of a state and the
helpers rbmap/scenario_model.py drives the model with.

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
only a dropped assumption allows, it notes which (the Python-only table
``model.steps.ASSUMES``, read by :meth:`RingBufferModel.step_assumptions` for the
action asked; nothing is recorded on the exploration's hot path). Traces and reports mark those steps (``--crash``, ``--consumers
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

from rbmap.checker.steps import StepMachine

# The state's slots and the values they hold (index constants, phases, flag bits):
# model/state.py; re-exported here, where code has always found them.
from .state import *  # noqa: E402,F401,F403
from .state import _VIOLATION_BITS  # noqa: E402
from . import state as _state  # noqa: E402
from . import steps as _steps  # noqa: E402
from .steps import admin as _admin  # noqa: E402
from .steps import kernel as _kernel  # noqa: E402
from .steps import libtracefs as _ltf  # noqa: E402
from .steps import nc as _nc  # noqa: E402
from .steps import procs as _procs  # noqa: E402
from .steps import writer as _writer  # noqa: E402

#: the steps only the fine granularity has (coarse merges each into another step)
FINE_STEPS = frozenset(("head_retry", "publish_page", "walk_done", "publish_load", "publish",
                        "published", "publish_again", "publish_end", "ioctl_meta",
                        "commit_load", "tail_meta_load", "unmap_sync"))
#: the history variables of the view (what consumers got, what was lost)
HISTORY_FIELDS = ("events_written", "delivered", "delivered_twice", "lost_counted",
                  "lost_uncounted")


def _mask(seq_from: int, count: int) -> int:
    return ((1 << count) - 1) << seq_from if count > 0 else 0


class RingBufferModel(StepMachine):
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
        # what the steps read (model/steps/): plain ints and bools
        self.overwrite = bool(c.overwrite)
        self.concurrent = c.consumers == "concurrent"
        self.crash, self.fork, self.reader_stays = c.crash, c.fork, c.reader_stays
        self.refusals, self.order_change = bool(c.refusals), bool(c.order_change)
        self.greedy_only = self._greedy_only
        self.gate_resize = any(n == "resize" for n, _ in self._gate_steps)
        self.gate_swap_cpu = any(n == "swap_cpu" for n, _ in self._gate_steps)
        self.GR = {"v2_swap": _kernel.GR_V2_SWAP,
                   "read_param": _kernel.GR_READ_PARAM}.get(self.get_reader,
                                                            _kernel.GR_CONSUME)
        self.GR_REFRESHES = self.get_reader in ("consume_to_commit", "read_param")
        self.META_SKIP = _kernel.META_SKIP.get(self.meta_skip, 0)
        self.meta_upstream = self.meta_fields == "upstream"
        self.relist = r["reset_data_pages"] == "relist"
        self.read_page_copy = r["read_page_mapped"] == "copy"
        self.bad_ids = r["ids"] == "skip_reader"
        self.map_fault_bug = r["map_fault"] == "off_by_one"
        self.unmap_decrement = r["unmap_unmapped"] == "decrement"
        self.vma_ignores = self.vma_open == "ignores"
        self.vma_counts = self.vma_open == "counts"
        self.swap_cpu_ebusy = r["swap_cpu_mapped"] == "ebusy"
        self.keep_resize_disabled = self.map_error == "keep_resize_disabled"
        self.keep_tr_mapped = self.map_error == "keep_tr_mapped"
        self.NC_CHECK = _nc.NC_CHECK[self.nc_check]
        self.END_COMMIT = tuple(sorted(END_COMMIT_PHASES))
        StepMachine.__init__(self)
        # the visited set stores states packed (checker's state_struct): 16-bit
        # slots, 64-bit event masks (events <= 40) and sticky flags (the format
        # every recorded graph digest was made with; the compiled engine packs
        # by the slots' ranges instead)
        self.state_struct = "<" + "h" * DELIV + "q" * (FLAGS + 1 - DELIV) + "h" * (
            self.SIZE - FLAGS - 1)

    # ------------------------------------------------------------------ as steps
    def declare(self, st):
        """The state's slots (model/state.py)."""
        _state.declare(self, st)
        assert len(st) == self.SIZE

    def steps(self):
        """The step instances (model/steps/), in successor order."""
        return _steps.instances(self)

    def initial_states(self):
        """rb_allocate_cpu_buffer: the reader page is allocated apart (page 0); the
        ring is pages 1..N, head = tail = commit = page 1."""
        N, c = self.N, self.config
        s = [0] * self.SIZE
        s[HEAD] = s[TAIL] = s[COMMITP] = s[HCACHE] = s[PAGESP] = 1
        s[READER] = 0
        for p in range(1, N + 1):
            s[self.NXT + p] = p + 1 if p < N else 1
        s[self.NXT + 0] = 0
        s[PIPEB] = c.pipe_reads
        s[TEXTB] = c.text_reads
        s[SNAPB] = 1 if c.refusals else 0
        s[RESETB] = c.resets
        w = self.new_state()
        w._v = s
        yield w

    def finished(m, s):
        """A state without successors is a proper end only when every process has
        exited and no write is in flight (possible with --no-reader-stays); any
        other stuck state is reported as a deadlock."""
        if s.depth != 0:
            return 0
        for i in range(m.P):
            if s.proc_phase[i] != P_EXITED:
                return 0
        return 1

    # ------------------------------------------------------------------ helpers by hand
    # The step helpers, called on a state list ``l`` in place (rbmap/scenario_model.py
    # and the tests drive the model through them).
    def _on(self, l):
        s = self._state_cls()
        s._v = l
        s._where = f"{self.name}: helper"
        s._src = tuple(l)
        return s

    def _refresh_meta(self, l):
        """rb_update_meta_page (kernel.refresh_meta)."""
        _kernel.refresh_meta(self, self._on(l))

    def _swap(self, l):
        """rb_get_reader_page's swap (kernel.swap)."""
        _kernel.swap(self, self._on(l))

    def _set_head_page(self, l):
        """rb_set_head_page (kernel.set_head_page)."""
        _kernel.set_head_page(self, self._on(l))

    def _empty(self, l) -> bool:
        """rb_per_cpu_empty (kernel.empty)."""
        return bool(_kernel.empty(self, self._on(l)))

    def _clear_buffer(self, l):
        """rb_reset_cpu's work (kernel.clear_buffer)."""
        _kernel.clear_buffer(self, self._on(l))

    def _ioctl(self, l, pos) -> int:
        """GET_READER's work (kernel.get_reader): 0 or -ENODEV."""
        return _kernel.get_reader(self, self._on(l), pos)

    def _text_peek(self, l) -> int:
        """ring_buffer_peek (kernel.text_peek)."""
        return _kernel.text_peek(self, self._on(l))

    def _text_consume(self, l, R):
        """ring_buffer_consume (kernel.text_consume)."""
        _kernel.text_consume(self, self._on(l), R)

    def _read_page(self, l):
        """ring_buffer_read_page for a read of a whole page (kernel.read_page_at).
        Returns None (no page to read) or what the caller's page holds: (first
        event's sequence number, data events, the padding unit in it, missed
        count, RB_MISSED_EVENTS carried from the reader page). A copy holds the
        padding it copied; a page handed out whole has its commit cut back to
        real_end (no padding) unless real_end is 0."""
        s = self._on(l)
        R = _kernel.get_reader_page(self, s)
        if R < 0:
            return None
        read, commit = l[self.PREAD + R], l[self.PCOMMIT + R]
        events = min(commit, self.K)
        copy = bool(read or R == l[COMMITP] or (l[MAPPED] > 0 and self.read_page_copy))
        out = (l[self.PBASE + R] + min(read, events), max(0, events - read),
               commit > self.K and (copy or bool(l[REAL0] >> R & 1)),
               l[LOSTEV], bool(l[RFLAG]))
        _kernel.read_page_at(self, s, R)
        return out

    def _first_map(self, l):
        """ring_buffer_map's first map (procs.first_map)."""
        _procs.first_map(self, self._on(l))

    def _free_ids_meta(self, l):
        """The last unmap freeing subbuf_ids and the meta page (procs.free_ids_meta)."""
        _procs.free_ids_meta(self, self._on(l))

    def _map(self, l) -> int:
        """tracing_buffers_mmap, ring_buffer_map (procs.map_buffer): 0 or -EBUSY."""
        return _procs.map_buffer(self, self._on(l))

    def _unmap(self, l, who):
        """ring_buffer_unmap (procs.unmap_buffer)."""
        _procs.unmap_buffer(self, self._on(l), who)

    def _vma_open(self, l):
        """The VMA open callback of a copy made at fork (procs.vma_open)."""
        _procs.vma_open(self, self._on(l))

    def _live_vmas(self, l) -> int:
        """VMAs mapping the buffer (procs.live_vmas)."""
        return _procs.live_vmas(self, self._on(list(l)))

    def _map_refused(self, l, err=EINVAL) -> int:
        """An mmap __rb_map_vma refuses with ``err`` (admin.map_refused): returns
        it, or -EBUSY from get_snapshot_map."""
        rc = _admin.map_refused(self, self._on(l))
        return err if rc == EINVAL else rc

    def _resize(self, l, name) -> int:
        """ring_buffer_resize / ring_buffer_subbuf_order_set (admin.resize_rc)."""
        return _admin.resize_rc(self, self._on(l))

    def _snapshot(self, l, name) -> int:
        """echo 1 > snapshot (admin.snapshot_rc; ``snapshot_cpu``: per CPU)."""
        return _admin.snapshot_rc(self, self._on(l), int(name == "snapshot_cpu"))

    def _trigger(self, l, name) -> int:
        """A snapshot trigger on (admin.trigger_rc) or off."""
        if name == "trigger_off":
            l[SNAP] = 0
            return 0
        return _admin.trigger_rc(self, self._on(l))

    def _commit_to_write(self, l):
        """rb_set_commit_to_write, the whole walk (writer.commit_to_write)."""
        _writer.commit_to_write(self, self._on(l))

    def _ltf_load(self, l, b, lb, page, skip):
        """libtracefs's kbuffer_load_subbuffer (libtracefs.ltf_load) for the
        process whose record starts at ``b``."""
        _ltf.ltf_load(self, self._on(l), (b - self.PROC) // NPF, page, skip)

    def _order_change(self, s):
        """The state after an order change and back (admin.order_change_), or None
        when the kernel refuses it or the model does not take it now."""
        l = list(s)
        if _admin.order_change_(self, self._on(l)) == 0:
            return None
        t = tuple(l)
        return t if t != tuple(s) else None

    def _ltf_read_buf(self, s, b, lb, lph):
        """The state after the libtracefs client's ``read_buf`` step of the process
        whose record starts at ``b`` (None: not enabled)."""
        i = (b - self.PROC) // NPF
        return self.run(self.step_of((self.proc_names[i], "read_buf")), tuple(s))

    def properties(self):
        """The checker's Property objects for the properties that apply here: the
        catalogue (:meth:`property_list`) printed as Python over the state tuple
        (StepMachine.properties); also what :meth:`check_state` evaluates."""
        from .properties import catalogue
        out = StepMachine.properties(self)
        self._always = [p.condition for p in out if p.kind == "always"]
        # the always-properties that only test sticky FLAGS bits: (bits, index)
        specs = [spec for spec in catalogue(self) if spec.kind == "always"]
        self._flag_index = [(spec.flag, i) for i, spec in enumerate(specs)
                            if spec.flag]
        self._flag_bits = 0
        for bits, _ in self._flag_index:
            self._flag_bits |= bits
        return out

    def property_list(self):
        """The catalogue's properties that apply here (model/properties.py, in
        attribute form): what the generated Python, the compiled engine and the
        Promela export translate (and :meth:`properties`, as Python)."""
        from rbmap.checker import Property

        from .properties import catalogue
        return [Property(spec.name, spec.kind, spec.fn, spec.doc)
                for spec in catalogue(self)]

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

    def _meta_reader_page(self, s) -> int:
        """The page ``meta->reader.id`` names through the mapping (data + id *
        subbuf_size)."""
        rid = s[M_RID]
        IDS = self.IDS
        for p in range(self.N + 1):
            if s[IDS + p] == rid:
                return p
        return 0

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
        a = tuple(a)
        keys = set()
        try:
            inst = self.step_of(a)
        except KeyError:
            inst = None
        if inst is not None:
            note = _steps.ASSUMES.get(inst.step)
            if note is not None and self.run(inst, tuple(s)) is not None:
                keys.update(note(self, self.reader(tuple(s)), *inst.params))
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
