"""The named properties of the mapping protocol.

Each property is a plain function ``f(model, state) -> bool`` whose docstring says
which kernel concept it encodes; :func:`catalogue` binds them to one model instance
for the checker. ``state`` is a view of the state with its slots by name
(``s.delivered_twice``, ``s.page_id[p]``, ``s.proc_phase[i]``: model/state.py), and
each body is written in the step subset (:mod:`rbmap.checker.stepcode`: integers,
slots, loops over ``range``, helpers such as :func:`data_pages_ordered`), so that
the same function runs as written, printed as Python (rbmap.checker.pygen) and
compiled to C (rbmap.checker.native). ``applies(model)`` says whether the property means anything for a
variant (``data_pages[]`` exists only in the seed): a property that does not apply is
reported ``n/a``, never ``holds``.

Several properties read *history* slots of the state (delivered / lost masks, sticky
flags) that the transitions maintain, as TLA+ specs do with history variables: the
property is still a predicate over states, and each has a broken rule or config that
violates it (tests/test_model_teeth.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import state as P

ALWAYS, SOMETIMES, EVENTUALLY = "always", "sometimes", "eventually"


@dataclass(frozen=True)
class PropertySpec:
    name: str
    kind: str
    fn: Callable
    applies: Callable = lambda m: True
    #: for a property that only tests sticky bits of the FLAGS slot: those bits
    #: (RingBufferModel.check_state decides from them without calling it)
    flag: int = 0

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


SPECS: list[PropertySpec] = []


def _prop(kind: str, applies=lambda m: True, flag: int = 0):
    def deco(fn):
        SPECS.append(PropertySpec(fn.__name__, kind, fn, applies, flag))
        return fn
    return deco


def data_pages_ordered(m, s) -> int:
    """1 when the seed's ``data_pages[]`` read from ``data_page_head`` lists the
    IDs of the ring pages in order from the real head page, else 0."""
    p = s.head
    dph = s.meta_data_page_head
    for i in range(m.N):
        if s.data_pages[(dph + i) % m.N] != s.page_id[p]:
            return 0
        p = s.page_next[p]
    return 1


def _upstream_meta(m) -> bool:
    """The property is about a field of struct trace_buffer_meta (the final ABI)."""
    return m.meta_fields == "upstream"


# ------------------------------------------------------------------------- always
@_prop(ALWAYS)
def no_duplicate_delivery(m, s) -> bool:
    """No event is delivered twice across consumers (the read-counter race).

    Reported in the seed's review by Steven Rostedt (reply #8 and, with his test,
    reply #11, 29 Mar 2023): write 10 events, map and read them, exit, write 10
    more, map and read again: the first 10 come back, because a new mapper cannot
    know how much of the reader page (``cpu_buffer->reader_page->read``) was
    already consumed."""
    return s.delivered_twice == 0


@_prop(ALWAYS)
def no_unaccounted_loss(m, s) -> bool:
    """No event is lost without being accounted: an event the writer overwrites was
    delivered to some consumer or counted (``overrun`` by rb_handle_head_page,
    ``dropped_events``/``commit_overrun``, or discarded by a reset).

    The seed's ioctl sets ``reader_page->read`` to the page size before swapping, so
    events appended after the user's last look are marked read and never delivered."""
    return s.lost_uncounted == 0


@_prop(ALWAYS, flag=P.F_TORN)
def no_torn_read(m, s) -> bool:
    """A user process never reads a page the writer has started to overwrite: every
    event it loads is one the page held when the process took the page from
    ``meta->reader.id`` (a page overwritten under a reader)."""
    return not s.flags & P.F_TORN


@_prop(ALWAYS, flag=P.F_IOCTL_META)
def meta_reader_id_after_ioctl(m, s) -> bool:
    """After each get-reader ioctl the meta page's reader page ID
    (``meta->reader_page`` in the seed, ``reader.id`` upstream) names the real
    ``cpu_buffer->reader_page`` through ``subbuf_ids``."""
    return not s.flags & P.F_IOCTL_META


@_prop(ALWAYS)
def page_ids_bijection(m, s) -> bool:
    """While mapped, ``buffer_page->id`` is a bijection from the reader page plus the
    ring onto 0..nr_pages, so ``subbuf_ids[id]`` and the mapping's page at
    ``data + id * subbuf_size`` name exactly one page each
    (rb_setup_ids_meta_page)."""
    if s.mapped <= 0:
        return True
    # N + 1 IDs (each in 0..N, the slot's range): all N + 1 values seen
    seen = 0
    for p in range(m.N + 1):
        seen = seen | (1 << s.page_id[p])
    return seen == (1 << (m.N + 1)) - 1


@_prop(ALWAYS, applies=lambda m: m.has_data_pages)
def data_pages_in_ring_order(m, s) -> bool:
    """The strict reading of the seed's ``data_pages[]`` (a design weakness, not the
    seed's contract): in *every* state while mapped, ``data_pages[]`` read from
    ``data_page_head`` lists the IDs of the ring pages in order from the real head
    page. The seed moves ``data_page_head`` only on reader paths
    (rb_meta_page_head_move from rb_set_head_page, rb_meta_page_head_swap in
    rb_get_reader_page); the overwriting writer pushes the head without touching
    the meta page, so between two update ioctls the list is stale. Both authors say
    so in the thread (Vincent Donnefort, reply #10: the head is updated only in the
    update ioctl; Steven Rostedt, reply #12: "the update will race between readers
    and writers"); the seed's own promise is :func:`data_pages_order_after_update`.
    """
    if s.mapped <= 0:
        return True
    return data_pages_ordered(m, s) != 0


@_prop(ALWAYS, applies=lambda m: m.has_data_pages, flag=P.F_UPDATE_ORDER)
def data_pages_order_after_update(m, s) -> bool:
    """The seed's own contract for ``data_pages[]``: when the update ioctl
    (ring_buffer_update_meta_page: rb_set_head_page under ``reader_lock``)
    returns, ``data_pages[]`` read from ``data_page_head`` lists the ring pages in
    order from the head page. The commit message promises "a page IDs list,
    ordered" and "one [field] to give where the ring-buffer starts in the list";
    Vincent Donnefort (reply #10, 29 Mar 2023) says the head is updated only in
    the update ioctl. A reset while mapped puts the head back at
    ``cpu_buffer->pages`` and leaves ``data_page_head``: rb_set_head_page then
    finds the cached head right and moves nothing."""
    return not s.flags & P.F_UPDATE_ORDER


@_prop(ALWAYS, applies=lambda m: m.has_data_pages, flag=P.F_DP_SLOT)
def data_pages_lists_ring(m, s) -> bool:
    """``data_pages[]`` keeps the ID of every ring page exactly once (in some
    rotation), which no update ioctl could repair: it only moves
    ``data_page_head``. The list is written at map time (in order) and by
    rb_meta_page_head_swap, which stores the old reader page's ID into slot
    ``data_page_head``: that keeps the list whole only while the slot holds the
    head page's ID. The state records a swap that found another ID there (the
    list then lost that ID and still names the new reader page); after a reset
    while mapped, the next swap does."""
    return not s.flags & P.F_DP_SLOT


@_prop(ALWAYS, flag=P.F_BACKWARDS)
def meta_counters_monotonic(m, s) -> bool:
    """Meta page counters (``entries``, ``overrun``, ``pages_touched``) never go
    backwards between resets. The seed's writer stores ``local_read(&entries)`` into
    the meta page: a nested writer can publish N+2 between the outer writer's load of
    N+1 and its store (found by rbmap from the seed's code; not raised in its
    review)."""
    return not s.flags & P.F_BACKWARDS


@_prop(ALWAYS)
def mapped_count_sane(m, s) -> bool:
    """``cpu_buffer->mapped`` is never negative and equals the number of live user
    VMAs (the kernel keeps live VMAs == user_mapped); an unmap of an unmapped buffer
    returns -ENODEV and changes nothing."""
    mapped = s.mapped
    if mapped < 0:
        return False
    vmas = 0
    if m.nc:
        if s.nc_phase != P.NC_IDLE:
            vmas = 1
    for i in range(m.P):
        if P.P_MAPPED <= s.proc_phase[i] <= P.P_IOCTLED:
            vmas += 1
        vmas += s.proc_child[i]
    return mapped == vmas


@_prop(ALWAYS, flag=P.F_RESIZED)
def resize_refused_while_mapped(m, s) -> bool:
    """ring_buffer_resize returns -EBUSY while the buffer is mapped
    (``resize_disabled``): the mapping's page set and IDs must not change."""
    return not s.flags & P.F_RESIZED


@_prop(ALWAYS, flag=P.F_SWAPPED)
def swap_cpu_refused_while_mapped(m, s) -> bool:
    """ring_buffer_swap_cpu returns -EBUSY while either buffer is mapped: the pages a
    process mapped stay the live per-CPU buffer."""
    return not s.flags & P.F_SWAPPED


@_prop(ALWAYS, flag=P.F_PAGE_LEFT)
def mapped_pages_stay(m, s) -> bool:
    """While mapped, no page leaves the buffer: ring_buffer_read_page copies events out
    instead of swapping the reader page with the caller's page."""
    return not s.flags & P.F_PAGE_LEFT


@_prop(ALWAYS, flag=P.F_FAULT)
def map_fault_in_bounds(m, s) -> bool:
    """Every page offset of a mapping lands on the meta area or on a page of the buffer
    (ring_buffer_map_fault: ``subbuf_ids`` has nr_pages + 1 entries, so an index above
    nr_pages is refused)."""
    return not s.flags & P.F_FAULT


@_prop(ALWAYS, applies=lambda m: m.nc, flag=P.F_NC_TORN)
def non_consuming_read_detects_overwrite(m, s) -> bool:
    """A non-consuming reader (``data_pages[]`` from ``data_page_head``) never keeps a
    page the writer overwrote while it read it: it either read intact events or saw
    the page's writer counter (``data_index[id].cnt``) change and dropped the page
    (the head it starts from can be stale, and the writer laps it: Steven Rostedt,
    replies #3, #7 and #17 of the seed's review). The thread's two checks are the
    writer counter (``data_index``, reply #17) and the page's commit field / time
    stamp (rule ``nc_check``, Vincent Donnefort, reply #18)."""
    return not s.flags & P.F_NC_TORN


@_prop(ALWAYS, flag=P.K_WARN_BITS)
def no_kernel_warning(m, s) -> bool:
    """No reachable state makes the kernel WARN (a WARN*() splat is a defect
    report, a crash with panic_on_warn). The steps that would warn set a flag named
    by the kernel function, message and source line (protocol.KERNEL_LOG):
    ring_buffer_map_get_reader's WARN_ONCE("Reader on commit with %ld missed
    events") (6.10: WARN_ON_ONCE(missed_events)) when GET_READER swaps in the page
    the writer is committing to with a loss pending; tracing_buffers_mmap_close's
    WARN_ON(ring_buffer_unmap()) on an unmap of an unmapped buffer;
    put_snapshot_map's WARN_ON(!tr->mapped); ring_buffer_swap_cpu's
    WARN_ON_ONCE(mapped); ring_buffer_map_dup's "Unexpected buffer stat"."""
    return not s.flags & P.K_WARN_BITS


@_prop(ALWAYS, applies=lambda m: m.page_flags, flag=P.K_COMMIT_OVERRUN)
def no_silent_commit_overrun(m, s) -> bool:
    """No loss is only logged: ring_buffer_map_get_reader, when the page it swaps
    in with events lost is the commit page but not the tail page (a commit
    overrun), prints pr_info("Ring buffer [%d] commit overrun lost %ld events at
    timestamp:%lld") and clears the count (Linux 6.12.117; the code says "TODO:
    Add missed events to the page for user space to know"): the mapped reader is
    never told, in the page or in the meta page."""
    return not s.flags & P.K_COMMIT_OVERRUN


@_prop(ALWAYS, applies=_upstream_meta, flag=P.F_META_LOST)
def meta_reader_lost_events(m, s) -> bool:
    """``reader.lost_events`` means what include/uapi/linux/trace_mmap.h says:
    "Number of events lost at the time of the reader swap". Every time
    rb_update_meta_page writes it (first map, GET_READER, reset while mapped), it
    equals the events lost (overrun by the writer) between the previous reader
    page and the current one, counted when rb_get_reader_page swapped the current
    one in (0 after a reset or before any swap)."""
    return not s.flags & P.F_META_LOST


@_prop(ALWAYS, applies=_upstream_meta, flag=P.F_META_ENTRIES)
def meta_entries(m, s) -> bool:
    """``entries`` means what include/uapi/linux/trace_mmap.h says, "Number of
    entries in the ring-buffer", read as the kernel counts it (cpu_buffer->entries,
    what the selftest's meta_page_check expects: every event committed since the
    last reset, read and overwritten ones included), wherever the meta page is
    documented fresh: after the first map, after GET_READER (ring-buffer-map.rst:
    it "updates the meta-page fields"), after a reset while mapped."""
    return not s.flags & P.F_META_ENTRIES


@_prop(ALWAYS, applies=_upstream_meta, flag=P.F_META_OVERRUN)
def meta_overrun(m, s) -> bool:
    """``overrun``, "Number of entries lost in the ring-buffer": the events the
    writer overwrote since the last reset (rb_handle_head_page's count), wherever
    the meta page is documented fresh (see meta_entries)."""
    return not s.flags & P.F_META_OVERRUN


@_prop(ALWAYS, applies=_upstream_meta, flag=P.F_META_READ)
def meta_read(m, s) -> bool:
    """``read``, "Number of entries that have been read": the events any consumer
    (GET_READER, trace_pipe_raw, trace_pipe) consumed since the last reset,
    wherever the meta page is documented fresh (see meta_entries)."""
    return not s.flags & P.F_META_READ


@_prop(ALWAYS, applies=_upstream_meta, flag=P.F_META_RID)
def meta_reader_id(m, s) -> bool:
    """``reader.id``, "subbuf ID of the current reader. ID range [0 : @nr_subbufs
    - 1]": the ID of cpu_buffer->reader_page, within the range, wherever the meta
    page is documented fresh (after the first map and a reset too, not only after
    the ioctl as meta_reader_id_after_ioctl)."""
    return not s.flags & P.F_META_RID


@_prop(ALWAYS, applies=_upstream_meta, flag=P.F_META_RREAD)
def meta_reader_read(m, s) -> bool:
    """``reader.read``, "Number of bytes read on the reader subbuf": what the
    kernel reader consumed of the reader page (reader_page->read, never beyond its
    commit), wherever the meta page is documented fresh (see meta_entries)."""
    return not s.flags & P.F_META_RREAD


@_prop(ALWAYS, flag=P.F_LOSS_MISREPORT)
def lost_events_reported_once(m, s) -> bool:
    """Every loss is reported to user space at most once, on the first page after
    the gap, with its count (or is left to ``overrun``): the sub-buffer commit
    flags RB_MISSED_EVENTS / RB_MISSED_STORED that ring_buffer_map_get_reader puts
    in the new reader page (and ring_buffer_read_page in the page it hands out),
    and trace_pipe's "[LOST %lu EVENTS]" line (ring_buffer_consume's lost_events),
    each name the events lost just before the data they come with. A report on a
    page with no loss before it, a second report of the same loss, or another
    count is a violation. (A loss never reported is counted in ``overrun``:
    no_unaccounted_loss.)"""
    return not s.flags & P.F_LOSS_MISREPORT


def _refusals(m) -> bool:
    return m.config.refusals


@_prop(ALWAYS, applies=_refusals, flag=P.F_REFUSAL_CHANGED)
def refused_call_changes_nothing(m, s) -> bool:
    """A refused call leaves the kernel's state as it was (failure atomicity):
    ring_buffer_resize and ring_buffer_subbuf_order_set (-EBUSY while
    resize_disabled), the snapshot arming of tracing_arm_snapshot_locked (-EBUSY
    while tr->mapped), get_snapshot_map (mmap -EBUSY while a snapshot user
    exists), GET_READER on an unmapped buffer (rb_get_mapped_buffer: -ENODEV),
    and an mmap __rb_map_vma refuses (-EINVAL after ring_buffer_map set up the
    IDs, the meta page and resize_disabled: its error path must undo them, and
    tracing_buffers_mmap must give tr->mapped back). Only cpu_buffer->head_page,
    a hint rb_set_head_page fixes up, may move. (--refusals)"""
    return not s.flags & P.F_REFUSAL_CHANGED


@_prop(ALWAYS, applies=_refusals, flag=P.F_REFUSAL_STUCK)
def refusal_lifted_after_unmap(m, s) -> bool:
    """What a mapping refuses works again once nothing is mapped: a resize, a
    sub-buffer order change (resize_disabled), a snapshot or a snapshot trigger
    (tr->mapped) is never refused while no VMA of the buffer is left
    (Documentation/trace/ring-buffer-map.rst, Limitations: not possible "when a
    mapping is in place"). (--refusals)"""
    return not s.flags & P.F_REFUSAL_STUCK


@_prop(ALWAYS, applies=_refusals, flag=P.F_SNAP_MAPPED)
def snapshot_excludes_mapping(m, s) -> bool:
    """A snapshot user and a mapping never coexist: mmap refuses while a snapshot
    trigger holds tr->snapshot (get_snapshot_map), and arming a snapshot refuses
    while tr->mapped counts a mapping (tracing_arm_snapshot_locked), so that no
    snapshot swaps the buffer a process maps (the selftest's
    snapshot.excludes_map and excluded_by_map). (--refusals)"""
    return not s.flags & P.F_SNAP_MAPPED


# ---------------------------------------------------------------------- sometimes
@_prop(SOMETIMES)
def event_delivered(m, s) -> bool:
    """Some event reaches a consumer."""
    return s.delivered != 0


@_prop(SOMETIMES)
def reader_swap_by_ioctl(m, s) -> bool:
    """A get-reader ioctl swaps the reader page with the head page while mapped."""
    return bool(s.flags & P.G_IOCTL_SWAP)


@_prop(SOMETIMES, applies=lambda m: m.config.overwrite)
def overrun_while_mapped(m, s) -> bool:
    """The writer overruns the head page (overwrite mode) while the buffer is mapped.
    (Not applicable in producer/consumer mode: the writer never overruns.)"""
    return bool(s.flags & P.G_OVERRUN_MAPPED)


@_prop(SOMETIMES, applies=lambda m: m.P > 1)
def second_process_maps_after_first(m, s) -> bool:
    """A process maps the buffer after another one has exited."""
    exited = 0
    mapped = 0
    for i in range(m.P):
        ph = s.proc_phase[i]
        if ph == P.P_EXITED:
            exited = 1
        if P.P_MAPPED <= ph <= P.P_IOCTLED:
            mapped = 1
    return exited != 0 and mapped != 0


@_prop(SOMETIMES, applies=lambda m: m.D > 1)
def nested_write(m, s) -> bool:
    """A writer is interrupted by another write on the same CPU."""
    return s.depth >= 2


@_prop(SOMETIMES)
def writer_on_reader_page(m, s) -> bool:
    """The reader took the page the writer is filling (tail_page == reader_page)."""
    return s.tail_page == s.reader_page and s.mapped > 0


@_prop(SOMETIMES, applies=lambda m: m.page_flags and m.config.overwrite)
def loss_flagged_in_page(m, s) -> bool:
    """GET_READER records a loss in the new reader page (RB_MISSED_EVENTS)."""
    return bool(s.flags & P.G_LOSS_FLAGGED)


@_prop(SOMETIMES, applies=lambda m: m.config.text_reads > 0 and m.config.overwrite)
def text_read_leaves_loss_pending(m, s) -> bool:
    """A trace_pipe read peeks a page with a loss, the line does not fit, and the
    read returns with cpu_buffer->lost_events still set."""
    return bool(s.flags & P.G_TEXT_LEFT_LOSS)


@_prop(SOMETIMES, applies=lambda m: m.nc and (m.data_index or m.nc_check != "none"))
def non_consuming_reader_drops_page(m, s) -> bool:
    """The reader's check (the writer counter, or the commit field / time stamp)
    makes a non-consuming reader drop a page the writer changed under it."""
    return bool(s.flags & P.G_NC_DISCARD)


# --------------------------------------------------------------------- eventually
@_prop(EVENTUALLY)
def every_event_delivered_or_counted(m, s) -> bool:
    """Once the writer has written everything, a process that keeps reading and
    calling the ioctl delivers every event that was not counted lost (no livelock, no
    event stranded on a page the kernel considers read). Checked under fair
    scheduling on the state graph's terminal strongly connected components.

    The seed's ioctl strands events this way; Steven Rostedt raised it in the
    review (reply #17, 29 Mar 2023: the ioctl sets ``reader_page->read`` to the
    commit, and "a writer could fill the page, then the ioctl may even swap the
    page")."""
    return s.seq == m.E and (s.delivered | s.lost_counted) == m.ALL


def catalogue(model) -> list[PropertySpec]:
    """The properties that apply to ``model``'s variant."""
    return [p for p in SPECS if p.applies(model)]
