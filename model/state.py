"""The protocol model's state: named slots, in the order of the state tuple.

A state of :class:`~rbmap.model.protocol.RingBufferModel` is a flat tuple of small
integers. :func:`declare` names every position (a :class:`~rbmap.checker.steps.Layout`:
scalars, per-page arrays, per-writer-level arrays, one record per process) with the
range of values it can hold at a given configuration, so that steps and properties
read and write ``s.entries``, ``s.page_commit[p]``, ``s.proc_pos[i]`` instead of tuple
indices, and the compiled engine packs a state into as few bits as the ranges allow.

The order is the tuple's, fixed: packed states, graph digests and every recorded
manifest entry depend on it. The index constants below (``SEQ``, ``HEAD``...,
``PH``... within a process record) are the same positions, kept for code that
indexes tuples (traces, refinement, the model mutants' :class:`Slots`).

Ranges are derived from the configuration (``events``, ``pages``, ``page_events``,
``processes``...) by what the steps can write; a step that writes a value outside
its slot's range stops the exploration with a StepError (never wraps).
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------
# Global slots of the state tuple
SEQ = 0        # events attempted so far (next event's sequence number)
HEAD = 1       # the real head page (where the HEAD flag points)
TAIL = 2       # cpu_buffer->tail_page
COMMITP = 3    # cpu_buffer->commit_page
READER = 4     # cpu_buffer->reader_page
HCACHE = 5     # cpu_buffer->head_page (a hint fixed up by rb_set_head_page)
PAGESP = 6     # cpu_buffer->pages (where rb_reset_cpu puts the head)
ENTRIES = 7    # cpu_buffer->entries
OVERRUN = 8    # cpu_buffer->overrun
TOUCHED = 9    # cpu_buffer->pages_touched
READCNT = 10   # cpu_buffer->read (events consumed)
LASTOV = 11    # cpu_buffer->last_overrun
LOSTEV = 12    # cpu_buffer->lost_events
DROPPED = 13   # dropped_events + commit_overrun
MAPPED = 14    # cpu_buffer->mapped
WDEPTH = 15    # writers in flight (nesting depth)
DELIV = 16     # history: bit i = event i delivered to some consumer
DUPS = 17      # history: bit i = event i delivered more than once
ACCT = 18      # history: bit i = event i lost and counted (overrun, dropped, reset)
LOSTU = 19     # history: bit i = event i overwritten, never delivered nor counted
FLAGS = 20     # history: sticky bits below
PIPEB = 21     # trace_pipe_raw reads left
RESETB = 22    # resets left
M_ENTRIES = 23
M_OVERRUN = 24
M_TOUCHED = 25
M_READ = 26
M_RID = 27     # meta reader_page / reader.id
M_RREAD = 28   # meta reader.read
M_DPH = 29     # meta data_page_head
IOCTLP = 30    # 1 + the process inside GET_READER before its rb_update_meta_page
UNMAPW = 31    # 1 + the process whose last unmap waits in synchronize_rcu (seed)
REAL0 = 32     # bit p: page p is padded but its real_end is 0 (a later write that
               # crossed it found it full: rb_reset_tail's ``tail == bsize`` case)
M_LOST = 33    # meta reader.lost_events
RFLAG = 34     # the RB_MISSED_* flags in the reader page's commit word: 0 none, else
               # (stored count << 1) | 1 (RB_MISSED_EVENTS; the count is 0 when
               # RB_MISSED_STORED is not set). Only the reader page ever has them:
               # a page leaving the reader slot gets commit = 0
GAP = 35       # history: (events lost at the swap that brought in the current
               # reader page: overrun since the previous swap) << 1 | 1 once that loss
               # has been reported to user space (page flags, a raw read's copy, a
               # trace_pipe [LOST] line)
TEXTB = 36     # trace_pipe (text) reads left
TEXTP = 37     # 1 while a trace_pipe read is under way (it has consumed a line)
TRMAP = 38     # tr->mapped (get_snapshot_map / put_snapshot_map; upstream only)
SNAP = 39      # tr->snapshot: armed snapshot users (a snapshot trigger), 0 or 1
RESDIS = 40    # cpu_buffer->resize_disabled (the mapping's unit)
SNAPB = 41     # snapshots that may still go ahead (--refusals: 1)
NGLOBAL = 42

# sticky flags
F_TORN = 1 << 0          # a process read a page the writer had started to overwrite
F_IOCTL_META = 1 << 1    # after an ioctl the meta reader ID did not name the reader page
F_BACKWARDS = 1 << 2     # a meta counter went backwards (not by a reset)
F_RESIZED = 1 << 3       # a resize went ahead while mapped
F_SWAPPED = 1 << 4       # swap_cpu went ahead while mapped
F_PAGE_LEFT = 1 << 5     # a page left the ring while mapped
F_FAULT = 1 << 6         # a mapping offset translated past the tables
F_ENODEV = 1 << 7        # an unmap found the buffer unmapped (-ENODEV, a warning)
G_OVERRUN_MAPPED = 1 << 8  # goal: the writer overran the head while mapped
G_IOCTL_SWAP = 1 << 9      # goal: an ioctl swapped the reader page
F_NC_TORN = 1 << 10        # a non-consuming reader kept a page overwritten under it
G_NC_DISCARD = 1 << 11     # goal: a non-consuming reader dropped an overwritten page
F_UPDATE_ORDER = 1 << 12   # the seed's update ioctl returned with data_pages[] out of
                           # ring order from data_page_head
F_DP_SLOT = 1 << 13        # a swap wrote data_pages[data_page_head] while that slot
                           # did not hold the head page's ID (the list lost an ID)
F_META_LOST = 1 << 14      # a refresh wrote reader.lost_events != the loss at the swap
F_LOSS_MISREPORT = 1 << 15  # lost events reported twice, off the page after the gap,
                            # or with another count
G_LOSS_FLAGGED = 1 << 16    # goal: GET_READER flagged a page with lost events
# kernel log lines (sticky, one bit each; :data:`KERNEL_LOG` names them)
K_READER_ON_COMMIT = 1 << 17
K_COMMIT_OVERRUN = 1 << 18
K_MMAP_CLOSE = 1 << 19
K_PUT_SNAPSHOT_MAP = 1 << 20
K_SWAP_CPU_MAPPED = 1 << 21
K_MAP_DUP = 1 << 22
G_TEXT_LEFT_LOSS = 1 << 23  # goal: a trace_pipe read returned with a loss pending
F_REFUSAL_CHANGED = 1 << 24  # a refused call changed the kernel's state
F_REFUSAL_STUCK = 1 << 25    # a call a mapping refuses was refused with nothing mapped
F_SNAP_MAPPED = 1 << 26      # a snapshot user and a mapping at the same time
# where the meta page is documented fresh (first map, GET_READER, reset while
# mapped), a field did not hold what its uapi comment says
F_META_ENTRIES = 1 << 27
F_META_OVERRUN = 1 << 28
F_META_READ = 1 << 29
F_META_RID = 1 << 30
F_META_RREAD = 1 << 31
#: (bit, kind, function, message, source): what a step that sets the bit makes
#: the kernel log (Linux 6.12.117 kernel/trace/ring_buffer.c and trace.c), as the
#: kernel's report names it: kind "WARNING" for a WARN*() splat, "info" for a
#: pr_info() line; function is the one the report names (for a WARN in an inlined
#: function, its caller); message the text WARN()/WARN_ONCE()/pr_info() print
#: ("" for WARN_ON(); ``{missed}`` is the count of the loss, the time stamp is
#: not printed); source the line that fires
KERNEL_LOG = (
    (K_READER_ON_COMMIT, "WARNING", "ring_buffer_map_get_reader",
     "Reader on commit with {missed} missed events",
     "ring_buffer_map_get_reader: WARN_ONCE(reader_page == tail_page, ...) "
     "(6.10: WARN_ON_ONCE(missed_events), no message)"),
    (K_COMMIT_OVERRUN, "info", "ring_buffer_map_get_reader",
     "Ring buffer [0] commit overrun lost {missed} events at timestamp:",
     "ring_buffer_map_get_reader: pr_info(...) when the new reader page is the "
     "commit page but not the tail page"),
    (K_MMAP_CLOSE, "WARNING", "tracing_buffers_mmap_close", "",
     "tracing_buffers_mmap_close: WARN_ON(ring_buffer_unmap(...)) (-ENODEV)"),
    (K_PUT_SNAPSHOT_MAP, "WARNING", "tracing_buffers_mmap_close", "",
     "put_snapshot_map (inlined): WARN_ON(!tr->mapped)"),
    (K_SWAP_CPU_MAPPED, "WARNING", "ring_buffer_swap_cpu", "",
     "ring_buffer_swap_cpu: WARN_ON_ONCE(cpu_buffer_a->mapped || "
     "cpu_buffer_b->mapped)"),
    (K_MAP_DUP, "WARNING", "ring_buffer_map_dup",
     "Unexpected buffer stat, it should be mapped",
     "ring_buffer_map_dup: WARN(1, ...) when not mapped"),
)
K_WARN_BITS = 0
for _entry in KERNEL_LOG:
    if _entry[1] == "WARNING":
        K_WARN_BITS |= _entry[0]
_VIOLATION_BITS = (F_TORN | F_IOCTL_META | F_BACKWARDS | F_RESIZED | F_SWAPPED
                   | F_PAGE_LEFT | F_FAULT | F_NC_TORN | F_UPDATE_ORDER | F_DP_SLOT
                   | F_META_LOST | F_LOSS_MISREPORT
                   | K_WARN_BITS | K_COMMIT_OVERRUN | F_REFUSAL_CHANGED
                   | F_REFUSAL_STUCK | F_SNAP_MAPPED | F_META_ENTRIES | F_META_OVERRUN
                   | F_META_READ | F_META_RID | F_META_RREAD)
EBUSY, ENODEV, EINVAL = -16, -19, -22

# writer phases (per nesting level)
# (W_MOVED: the tail move is done and the write owes rb_move_tail's closing
# rb_end_commit before it retries; in W_BEGUN, WR2 = 1 marks a write whose loaded
# tail_page an interrupt has since moved, and (fine) WR3 = 1 a write on a full tail
# page whose next page, the head, a reader swapped out since: it may have seen
# that page flagged HEAD before (head_retry))
# (W_RECHECK: the outermost writer published its commit with rb_set_commit_to_write
# and still owes rb_end_commit's re-check of cpu_buffer->commits: an interrupt that
# writes in between is published by that re-check, not by itself)
# (W_WINDOW: rb_move_tail's rb_end_commit has dropped this write's committing count
# and its local_inc(&committing) has not run yet: an interrupt landing here is the
# outermost committer)
# (W_RELEASED: the outermost writer's rb_end_commit has run local_dec(&committing)
# and not yet re-checked cpu_buffer->commits: an interrupt here is the outermost
# committer and publishes itself; in W_RECHECK, before the decrement, it is nested)
# (W_COMMITTING: the outermost writer's rb_end_commit has loaded cpu_buffer->commits
# and found committing == 1; rb_set_commit_to_write is at the head of its walk of
# the commit page up to the tail page: an interrupt here is nested, the walk
# publishes its event, and the re-check will loop because commits moved)
W_BEGUN, W_RESERVED, W_INC, W_STORED, W_MTSTORE, W_MOVED, W_RECHECK, W_WINDOW = (
    range(1, 9))
# (W_PUBLISHING: rb_set_commit_to_write has walked the commit page up to the tail
# page, published the tail page's write index and is at its final check: if an
# interrupt moved the tail meanwhile it walks again (``publish_again``), else it
# returns (``publish_end``))
W_RELEASED = 9
# (W_STORING: that loop loaded a write index (WR3) different from the commit and
# stores it next; an interrupt that writes on the page meanwhile makes it stale)
# (W_WALKED: the walk found the commit page at the tail page; it now publishes that
# page's write index until it reads commit == write: an interrupt that moves the
# tail meanwhile leaves the rest to publish_again)
W_COMMITTING = 10
W_PUBLISHING = 11
W_WALKED = 12
W_STORING = 13
W_COUNTED = 14   # the seed's rb_commit did entries++; it loads mapped next
W_TMOVED = 15    # the seed's rb_tail_page_update moved the tail; loads mapped next
# (W_PAGE_SET: the walk stored the commit page's commit; rb_inc_page of
# cpu_buffer->commit_page is next)
W_PAGE_SET = 16
#: the outermost writer inside rb_end_commit, after its load of cpu_buffer->commits
#: (WR2: commits moved since; WR1: it returns into rb_move_tail)
END_COMMIT_PHASES = frozenset((W_COMMITTING, W_PAGE_SET, W_WALKED, W_STORING,
                               W_PUBLISHING, W_RECHECK, W_RELEASED))
WPHASE_NAMES = {0: "-", W_BEGUN: "begun", W_RESERVED: "reserved", W_INC: "inc",
                W_STORED: "stored", W_MTSTORE: "tail_moved", W_MOVED: "moved",
                W_RECHECK: "committed", W_WINDOW: "retrying",
                W_RELEASED: "released", W_COMMITTING: "committing",
                W_PUBLISHING: "publishing", W_WALKED: "walked",
                W_STORING: "storing", W_COUNTED: "counted",
                W_TMOVED: "tail_updated", W_PAGE_SET: "page_published"}

# process phases
# (P_PAGE_DONE: a process reading up to the live commit saw the end of the page and is
# about to call the ioctl; the writer may append in between)
P_IDLE, P_MAPPED, P_READING, P_PAGE_DONE, P_IOCTLED, P_EXITED = 0, 1, 2, 3, 4, 5
PPHASE_NAMES = {P_IDLE: "idle", P_MAPPED: "mapped", P_READING: "reading",
                P_PAGE_DONE: "page_done", P_IOCTLED: "ioctl_done", P_EXITED: "exited"}
# process fields
PH, PG, POS, LIM, PB, CHILD = range(6)
NPF = 6

# the libtracefs client (Config.client == "libtracefs"): a block of its own per
# process after the other slots (LPH: where it is in tracefs_cpu_read_buf, SKIP:
# the setup kbuffer's read index, tmap->kbuf's kbuffer_curr_index, in events).
# While it holds a mapping PH is P_READING (P_MAPPED before mmap_setup).
L_CALL, L_UNLOADED, L_ITER, L_IOCTL_MORE, L_IOCTL_NEXT, L_RELOAD = range(6)
LPH_NAMES = {L_CALL: "between calls", L_UNLOADED: "kbuf not loaded",
             L_ITER: "iterating", L_IOCTL_MORE: "ioctl (still events)",
             L_IOCTL_NEXT: "ioctl (no more events)", L_RELOAD: "reload"}
LPH, SKIP = range(2)
NLF = 2

# the non-consuming reader (seed: data_pages[] + update ioctl)
NC_IDLE, NC_START, NC_LIST, NC_OPEN, NC_PAGE = range(5)
NC_NAMES = {NC_IDLE: "idle", NC_START: "update", NC_LIST: "list", NC_OPEN: "open",
            NC_PAGE: "reading"}
NPH, NI, NDPH, NPG, NPB, NPOS, NCNT, NTORN, NCOM = range(9)
NNF = 9


# ---------------------------------------------------------------------------------
# the layout
#: (index constant, slot name, doc) of the global slots, in tuple order
GLOBALS = (
    ("SEQ", "seq", "events attempted so far (next event's sequence number)"),
    ("HEAD", "head", "the real head page (where the HEAD flag points)"),
    ("TAIL", "tail_page", "cpu_buffer->tail_page"),
    ("COMMITP", "commit_page", "cpu_buffer->commit_page"),
    ("READER", "reader_page", "cpu_buffer->reader_page"),
    ("HCACHE", "head_page", "cpu_buffer->head_page (a hint rb_set_head_page fixes up)"),
    ("PAGESP", "pages", "cpu_buffer->pages (where rb_reset_cpu puts the head)"),
    ("ENTRIES", "entries", "cpu_buffer->entries"),
    ("OVERRUN", "overrun", "cpu_buffer->overrun"),
    ("TOUCHED", "pages_touched", "cpu_buffer->pages_touched"),
    ("READCNT", "read", "cpu_buffer->read (events consumed)"),
    ("LASTOV", "last_overrun", "cpu_buffer->last_overrun"),
    ("LOSTEV", "lost_events", "cpu_buffer->lost_events"),
    ("DROPPED", "dropped", "dropped_events + commit_overrun"),
    ("MAPPED", "mapped", "cpu_buffer->mapped"),
    ("WDEPTH", "depth", "writers in flight (nesting depth)"),
    ("DELIV", "delivered", "history: bit i = event i delivered to some consumer"),
    ("DUPS", "delivered_twice", "history: bit i = event i delivered more than once"),
    ("ACCT", "lost_counted", "history: bit i = event i lost and counted"),
    ("LOSTU", "lost_uncounted",
     "history: bit i = event i overwritten, never delivered nor counted"),
    ("FLAGS", "flags", "history: sticky F_*/G_*/K_* bits"),
    ("PIPEB", "pipe_reads_left", "trace_pipe_raw reads left"),
    ("RESETB", "resets_left", "resets left"),
    ("M_ENTRIES", "meta_entries", "meta->entries"),
    ("M_OVERRUN", "meta_overrun", "meta->overrun"),
    ("M_TOUCHED", "meta_pages_touched", "meta->pages_touched (the seed)"),
    ("M_READ", "meta_read", "meta->read"),
    ("M_RID", "meta_reader_id", "meta->reader.id (the seed: reader_page)"),
    ("M_RREAD", "meta_reader_read", "meta->reader.read"),
    ("M_DPH", "meta_data_page_head", "meta->data_page_head (the seed)"),
    ("IOCTLP", "in_get_reader",
     "1 + the process inside GET_READER before its rb_update_meta_page"),
    ("UNMAPW", "unmap_waits",
     "1 + the process whose last unmap waits in synchronize_rcu (the seed)"),
    ("REAL0", "real_end_zero", "bit p: page p is padded but its real_end is 0"),
    ("M_LOST", "meta_lost_events", "meta->reader.lost_events"),
    ("RFLAG", "reader_flags",
     "RB_MISSED_* in the reader page's commit word: 0, else count << 1 | 1"),
    ("GAP", "gap", "history: events lost at the last swap << 1 | 1 once reported"),
    ("TEXTB", "text_reads_left", "trace_pipe (text) reads left"),
    ("TEXTP", "text_pending", "1 while a trace_pipe read is under way"),
    ("TRMAP", "tr_mapped", "tr->mapped"),
    ("SNAP", "snapshot", "tr->snapshot: armed snapshot users, 0 or 1"),
    ("RESDIS", "resize_disabled", "cpu_buffer->resize_disabled"),
    ("SNAPB", "snapshots_left", "snapshots that may still go ahead (--refusals: 1)"),
)
#: per-page arrays (pages 0..N, the reader page among them), in tuple order
PAGE_FIELDS = (("next", "buffer_page list->next (by page index)"),
               ("id", "subbuf_ids[]: the page's ID in the mapping"),
               ("base", "sequence number of the first event of the page's bytes"),
               ("filled", "events the writer put in the page's bytes"),
               ("write", "buffer_page->write (in events; page_events + 1: padded)"),
               ("commit", "buffer_page->page->commit (in events)"),
               ("read", "buffer_page->read (in events)"))
#: per-writer-level arrays (level 0 the task, 1.. nested interrupts)
WRITER_FIELDS = (("w_phase", "where the write at this level is (W_*)"),
                 ("w_r1", "a value the write loaded or a mark (see the W_* notes)"),
                 ("w_r2", "a value the write loaded or a mark"),
                 ("w_r3", "a value the write loaded or a mark"))
#: the process record's fields, in order (index constants PH, PG, POS, LIM, PB, CHILD)
PROC_FIELDS = ("phase", "page", "pos", "limit", "base", "child")
#: the non-consuming reader's slots (index constants NPH .. NCOM after its base)
NC_FIELDS = ("nc_phase", "nc_i", "nc_dph", "nc_page", "nc_base", "nc_pos", "nc_cnt",
             "nc_torn", "nc_com")
#: the libtracefs client's record (index constants LPH, SKIP)
LTF_FIELDS = ("phase", "skip")


def declare(m, st) -> None:
    """Declare the state of model ``m`` (its ``N``, ``K``, ``E``, ``D``, ``P``,
    ``nc``, ``ltf`` and ``config``) on the Layout ``st``, in tuple order."""
    N, K, E, D, P, c = m.N, m.K, m.E, m.D, m.P, m.config
    vmas = 2 * P + 3            # more than the VMAs there can be (mapped, tr->mapped)
    masks = (1 << E) - 1
    counters = E + 1            # counts of events (and pages_touched: one move per page filled)
    pos = K + 1                 # offsets in a page: page_events + the padding unit
    rng = {
        "seq": (0, E), "head": (0, N), "tail_page": (0, N), "commit_page": (0, N),
        "reader_page": (0, N), "head_page": (0, N), "pages": (0, N),
        "entries": (0, counters), "overrun": (0, counters),
        "pages_touched": (0, counters), "read": (0, counters),
        "last_overrun": (0, counters), "lost_events": (0, counters),
        "dropped": (0, counters), "mapped": (-vmas, vmas), "depth": (0, D),
        "delivered": (0, masks), "delivered_twice": (0, masks),
        "lost_counted": (0, masks), "lost_uncounted": (0, masks),
        "flags": (0, (1 << 32) - 1), "pipe_reads_left": (0, c.pipe_reads),
        "resets_left": (0, c.resets), "meta_entries": (0, counters),
        "meta_overrun": (0, counters), "meta_pages_touched": (0, counters),
        "meta_read": (0, counters), "meta_reader_id": (0, N),
        "meta_reader_read": (0, pos), "meta_data_page_head": (0, N - 1),
        "in_get_reader": (0, P), "unmap_waits": (0, P),
        "real_end_zero": (0, (1 << (N + 1)) - 1), "meta_lost_events": (0, counters),
        "reader_flags": (0, 2 * counters + 1), "gap": (0, 2 * counters + 1),
        "text_reads_left": (0, c.text_reads), "text_pending": (0, 1),
        "tr_mapped": (-vmas, vmas), "snapshot": (0, 1),
        "resize_disabled": (-vmas, vmas), "snapshots_left": (0, 1),
    }
    for const, name, doc in GLOBALS:
        assert len(st) == globals()[const], (const, len(st))
        lo, hi = rng[name]
        st.slot(name, lo=lo, hi=hi, doc=doc)
    page_rng = {"next": (0, N), "id": (0, N), "base": (0, E), "filled": (0, K),
                "write": (0, pos), "commit": (0, pos), "read": (0, pos)}
    for f, doc in PAGE_FIELDS:
        lo, hi = page_rng[f]
        st.array(f"page_{f}", N + 1, lo=lo, hi=hi, doc=doc)
    st.array("data_pages", N, lo=0, hi=N, doc="meta data_pages[] (the seed): page IDs")
    w_rng = {"w_phase": (0, W_PAGE_SET),
             # T + 1, a pushed overrun (-1: none), loaded entries, a mark
             "w_r1": (-1, max(counters, N + 1)),
             # a mark, or the loaded pages_touched
             "w_r2": (0, counters),
             # a mark, or the loaded write index
             "w_r3": (0, pos)}
    for f, doc in WRITER_FIELDS:
        lo, hi = w_rng[f]
        st.array(f, D, lo=lo, hi=hi, doc=doc)
    st.records("proc", P, {
        "phase": dict(lo=0, hi=P_EXITED, doc="process phase (P_*)"),
        "page": dict(lo=0, hi=N, doc="the page it reads"),
        "pos": dict(lo=0, hi=pos, doc="its read offset on that page"),
        "limit": dict(lo=0, hi=pos, doc="where it stops reading (reader.read or a commit)"),
        "base": dict(lo=0, hi=E, doc="the generation of the page it reads"),
        "child": dict(lo=0, hi=1, doc="1 while a forked child holds a copy of its VMA"),
    })
    if m.nc:
        nc_rng = {"nc_phase": (0, NC_PAGE), "nc_i": (0, N - 1), "nc_dph": (0, N - 1),
                  "nc_page": (0, N), "nc_base": (-1, E), "nc_pos": (0, pos),
                  "nc_cnt": (0, 1), "nc_torn": (0, 1), "nc_com": (0, pos)}
        for f in NC_FIELDS:
            lo, hi = nc_rng[f]
            st.slot(f, lo=lo, hi=hi, doc="the non-consuming reader")
    if m.ltf:
        st.records("ltf", P, {
            "phase": dict(lo=0, hi=L_RELOAD, doc="where tracefs_cpu_read_buf is (L_*)"),
            "skip": dict(lo=0, hi=pos, doc="tmap->kbuf's read index"),
        })
