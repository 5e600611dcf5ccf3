"""User-space processes (``p0``, ``p1``...) and the mapper they call.

A process takes one step per access to shared memory (its loads from the
mapping) or per system call (mmap, GET_READER, munmap, exit, fork); each system
call's kernel side runs inside its step. Steps are bound once per process ``i``
and listed in the order of :data:`ORDER`. While a process is inside GET_READER
(``in_get_reader``) or a last unmap waits in synchronize_rcu (``unmap_waits``),
the other processes' system calls wait for the locks (``syscall_ok``) and only
their loads go on (``load_ok``).

The mapper helpers (ring_buffer_map, ring_buffer_unmap, the VMA callbacks) are
here; model/steps/admin.py's refused mmap and nc0 share them.
"""

from __future__ import annotations

from rbmap.checker.steps import changed, require, step

from ..state import (F_ENODEV, F_FAULT, F_REFUSAL_CHANGED, F_REFUSAL_STUCK, F_SNAP_MAPPED, F_TORN, K_MAP_DUP, K_MMAP_CLOSE,
                     K_PUT_SNAPSHOT_MAP, L_CALL, L_UNLOADED, NC_IDLE, P_EXITED, P_IDLE,
                     P_IOCTLED, P_MAPPED, P_PAGE_DONE, P_READING)
from .kernel import (GR_READ_PARAM, check_meta_fresh, deliver, get_reader,
                     ioctl_meta_refresh, list_data_pages, reader_spins, refresh_meta,
                     set_head_page, update_meta_page)

EBUSY = -16


# ---------------------------------------------------------------- the mapper
def live_vmas(m, s):
    """VMAs that map the buffer: every process holding a mapping, forked
    children's copies, the non-consuming reader's."""
    n = 0
    if m.nc:
        if s.nc_phase != NC_IDLE:
            n = 1
    for i in range(m.P):
        if P_MAPPED <= s.proc_phase[i] <= P_IOCTLED:
            n += 1
        n += s.proc_child[i]
    return n


def free_ids_meta(m, s):
    """The last unmap frees subbuf_ids and the meta page. (When a VMA the kernel
    did not count still maps them, its process keeps seeing the last values:
    the pages stay referenced by that VMA.)"""
    for p in range(m.N + 1):
        s.page_id[p] = 0
    for k in range(m.N):
        s.data_pages[k] = 0
    s.meta_entries = 0
    s.meta_overrun = 0
    s.meta_pages_touched = 0
    s.meta_read = 0
    s.meta_reader_id = 0
    s.meta_reader_read = 0
    s.meta_data_page_head = 0
    s.meta_lost_events = 0


def first_map(m, s):
    """ring_buffer_map when not mapped: rb_setup_ids_meta_page assigns the IDs
    (reader page 0, then the ring from the head) and fills the meta page;
    map_fault / the insert loop for every page offset of a full mapping and one
    beyond (rule map_fault)."""
    set_head_page(m, s)
    s.page_id[s.reader_page] = 1 if m.bad_ids else 0
    p = s.head
    for i in range(1, m.N + 1):
        s.page_id[p] = i
        p = s.page_next[p]
    if m.has_data_pages:
        list_data_pages(m, s)
        s.meta_reader_id = s.page_id[s.reader_page]
        s.meta_entries = s.entries
        s.meta_overrun = s.overrun
        s.meta_pages_touched = s.pages_touched
    else:
        refresh_meta(m, s)
        check_meta_fresh(m, s)
    if m.map_fault_bug:
        s.flags = s.flags | F_FAULT


def map_buffer(m, s):
    """tracing_buffers_mmap (the final ABI: get_snapshot_map, -EBUSY while a
    snapshot user holds tr->snapshot, else tr->mapped++), then ring_buffer_map:
    the first map assigns IDs and sets up the meta page (resize_disabled++),
    every map counts one more user mapping. Returns 0 or -EBUSY."""
    if m.snapshot_excl:
        if s.snapshot != 0:
            return EBUSY
        s.tr_mapped += 1
    elif s.snapshot != 0:
        s.flags = s.flags | F_SNAP_MAPPED     # nothing keeps them apart
    if s.mapped <= 0:
        first_map(m, s)
        s.resize_disabled += 1
    s.mapped = max(s.mapped, 0) + 1
    return 0


def vma_close_tr(m, s):
    """tracing_buffers_mmap_close's put_snapshot_map (the final ABI):
    WARN_ON(!tr->mapped), else tr->mapped--."""
    if m.snapshot_excl:
        if s.tr_mapped <= 0:
            s.flags = s.flags | K_PUT_SNAPSHOT_MAP
        else:
            s.tr_mapped -= 1


def unmap_buffer(m, s, who):
    """ring_buffer_unmap by process ``who`` (its VMA already dropped from the
    process fields, so the live-VMA count excludes it); -ENODEV with a warning
    when not mapped (rule unmap_unmapped). The seed's last unmap with writes in
    flight (fine): mapped = 0, then synchronize_rcu waits (``unmap_sync``)."""
    vma_close_tr(m, s)
    n = s.mapped
    if n <= 0:
        s.flags = s.flags | F_ENODEV
        if m.meta_upstream:
            # tracing_buffers_mmap_close: WARN_ON(ring_buffer_unmap(...))
            s.flags = s.flags | K_MMAP_CLOSE
        if m.unmap_decrement:
            s.mapped = n - 1
        return
    s.mapped = n - 1
    if n == 1 and live_vmas(m, s) == 0 and m.fine and m.v2_writer and s.depth != 0:
        s.unmap_waits = who + 1
        return
    if n == 1:
        s.resize_disabled -= 1      # the last user mapping gives the unit back
    if n == 1 and live_vmas(m, s) == 0:
        free_ids_meta(m, s)


def vma_open(m, s):
    """The VMA open callback for a copy made at fork (rule vma_open): 6.12.117
    tracing_buffers_mmap_open -> ring_buffer_map_dup (mapped++, or WARN when
    not mapped); ``counts`` also takes tr->mapped; ``ignores``: nothing."""
    if m.vma_ignores:
        return
    if s.mapped > 0:
        s.mapped += 1
    else:
        s.flags = s.flags | K_MAP_DUP
    if m.vma_counts and m.snapshot_excl:
        s.tr_mapped += 1


def forget(m, s, i, phase):
    """Process ``i`` drops its mapping (and the library's state) and goes to
    ``phase``."""
    s.proc_phase[i] = phase
    s.proc_page[i] = 0
    s.proc_pos[i] = 0
    s.proc_limit[i] = 0
    s.proc_base[i] = 0
    if m.ltf:
        s.ltf_phase[i] = 0
        s.ltf_skip[i] = 0


def meta_reader_page(m, s):
    """The page ``meta->reader.id`` names through the mapping (data + id *
    subbuf_size)."""
    rid = s.meta_reader_id
    for p in range(m.N + 1):
        if s.page_id[p] == rid:
            return p
    return 0


def load_event(m, s, i, page, pos):
    """Process ``i`` loads the event at ``pos`` of ``page`` (the unit after the
    last event slot is the writer's padding: skipped, nothing delivered); a page
    the writer started to overwrite since the process took it is a torn read."""
    if s.page_base[page] != s.proc_base[i]:
        s.flags = s.flags | F_TORN
    elif pos < m.K:
        if pos >= s.page_filled[page]:
            s.flags = s.flags | F_TORN
        else:
            deliver(m, s, s.proc_base[i] + pos)
    s.proc_pos[i] = pos + 1


def refused(m, s, h0, f0, live0, gated):
    """A call returned an error after running the kernel code on ``s``: it must
    have changed nothing but the hint cpu_buffer->head_page (``h0`` before) and
    history (flags, ``f0`` before): else F_REFUSAL_CHANGED, shown once (a
    repeat would leak without bound: not listed). ``gated``: a call a mapping
    refuses, which must not be refused once no VMA is left (``live0``: the
    VMAs before), F_REFUSAL_STUCK. Returns 1 when the step is listed (it changed
    something; a refusal that changes nothing is a self-loop)."""
    s.head_page = h0
    s.flags = f0
    if changed(s):
        if f0 & F_REFUSAL_CHANGED != 0:
            return 0
        s.flags = s.flags | F_REFUSAL_CHANGED
    if gated != 0 and live0 == 0:
        s.flags = s.flags | F_REFUSAL_STUCK
    return 1 if changed(s) else 0


# ---------------------------------------------------------------- guards
def syscall_ok(m, s):
    """No GET_READER and no last unmap holds the locks."""
    return s.in_get_reader == 0 and s.unmap_waits == 0


def load_ok(m, s, i):
    """Process ``i`` is not itself inside GET_READER or a last unmap."""
    return s.in_get_reader != i + 1 and s.unmap_waits != i + 1


def holds(m, s, i):
    """Process ``i`` holds a mapping."""
    return P_MAPPED <= s.proc_phase[i] <= P_IOCTLED


def others_hold(m, s, i):
    """Another process holds a mapping (or its child a copy)."""
    for j in range(m.P):
        if j != i:
            if holds(m, s, j) or s.proc_child[j] != 0:
                return 1
    return 0


def alive(m, s):
    """Processes that have not exited."""
    n = 0
    for j in range(m.P):
        if s.proc_phase[j] != P_EXITED:
            n += 1
    return n


def clean(m, s, i):
    """A point where process ``i``'s client may close (unmap or exit): between
    library calls (libtracefs), after an ioctl (v3's read parameter: the kernel
    knows only what the last ioctl declared), at a page's end (a client reading
    up to the live commit), or caught up with reader.read."""
    ph = s.proc_phase[i]
    if m.ltf:
        lph = s.ltf_phase[i]
        return ph == P_READING and (lph == L_CALL or lph == L_UNLOADED)
    if m.GR == GR_READ_PARAM:
        return ph == P_IOCTLED
    if m.live_limit:
        return ph == P_PAGE_DONE
    return ph == P_READING and s.proc_pos[i] >= s.proc_limit[i]


def may_leave(m, s, i):
    """Process ``i`` may unmap or exit now: at a clean point or anywhere with
    --crash; (coarse) the seed's last unmap waits for the writes in flight
    before it sets mapped = 0 (fine: after, in unmap_sync)."""
    return (m.crash or clean(m, s, i) != 0) and (
        m.fine or not (m.v2_writer and s.mapped == 1 and s.depth > 0))


def ioctl_due(m, s, i):
    """The documented client calls GET_READER now: at the page's end (live
    limit) or caught up with reader.read."""
    ph = s.proc_phase[i]
    if ph == P_PAGE_DONE:
        return 1
    return ph == P_READING and not m.live_limit and s.proc_pos[i] >= s.proc_limit[i]


def may_exit(m, s):
    """Exit is offered unless this is the last process and the config keeps
    a reader (reader_stays)."""
    return alive(m, s) > 1 or not m.reader_stays


# ---------------------------------------------------------------- steps
@step("p")
def ioctl_meta(m, s, i):
    """(fine) GET_READER's closing rb_update_meta_page, where the ioctl refreshes
    the meta page (the writer may run between the reader page work and it;
    kernel paths and other processes' system calls wait for the locks)."""
    require(s.in_get_reader == i + 1)
    s.in_get_reader = 0
    ioctl_meta_refresh(m, s)


@step("p")
def unmap_sync(m, s, i):
    """(fine) The seed's last unmap: synchronize_rcu() returns once no write is
    in flight, then subbuf_ids and the meta page are freed (the unmap step
    already set mapped = 0; writes that loaded it earlier still store to the
    meta page)."""
    require(s.in_get_reader == 0 and s.unmap_waits == i + 1 and s.depth == 0)
    s.unmap_waits = 0
    s.resize_disabled -= 1
    free_ids_meta(m, s)


@step("p")
def map(m, s, i):
    """mmap of the whole buffer: tracing_buffers_mmap, ring_buffer_map (first
    map: IDs, meta page) and the faults; one consumer at a time unless
    consumers = concurrent. Refused (-EBUSY, a snapshot user) it is listed only
    with --refusals, when the refusal changed something (admin.refused)."""
    require(s.proc_phase[i] == P_IDLE and syscall_ok(m, s))
    require((others_hold(m, s, i) == 0 and s.text_pending == 0) or m.concurrent)
    h0 = s.head_page
    f0 = s.flags
    rc = map_buffer(m, s)
    if rc == 0:
        s.proc_phase[i] = P_MAPPED
        return
    listed = refused(m, s, h0, f0, 0, 0)
    require(listed != 0)


@step("p")
def read_meta(m, s, i):
    """The process loads the meta page fields its algorithm needs (reader.id,
    reader.read) and resolves the reader page ID through its mapping (data +
    id * subbuf_size)."""
    ph = s.proc_phase[i]
    require((ph == P_MAPPED or ph == P_IOCTLED) and load_ok(m, s, i))
    page = meta_reader_page(m, s)
    if ph == P_MAPPED:
        s.proc_page[i] = page
        s.proc_pos[i] = s.meta_reader_read if m.start_at_read else 0
        s.proc_base[i] = s.page_base[page]
    elif page != s.proc_page[i]:
        s.proc_page[i] = page
        s.proc_pos[i] = 0
        s.proc_base[i] = s.page_base[page]
    s.proc_limit[i] = s.meta_reader_read
    s.proc_phase[i] = P_READING


@step("p")
def read_event(m, s, i):
    """The process loads the next event of its page from the mapping: up to
    reader.read (the documented client), or up to the page's live commit word
    (a client that reads past reader.read, v3's read parameter, the seed)."""
    require(s.proc_phase[i] == P_READING and load_ok(m, s, i))
    page = s.proc_page[i]
    pos = s.proc_pos[i]
    if m.live_limit:
        require(pos < s.page_commit[page])
    else:
        require(pos < s.proc_limit[i])
    load_event(m, s, i, page, pos)


@step("p")
def page_done(m, s, i):
    """(live limit) The process loads the page's commit word and finds it read
    to the end: GET_READER is next (the writer may append in between)."""
    require(m.live_limit and s.proc_phase[i] == P_READING and load_ok(m, s, i))
    require(s.proc_pos[i] >= s.page_commit[s.proc_page[i]])
    s.proc_phase[i] = P_PAGE_DONE


@step("p")
def ioctl(m, s, i):
    """TRACE_MMAP_IOCTL_GET_READER (kernel.get_reader under reader_lock; fine:
    the meta refresh is ``ioctl_meta``), when the client calls it."""
    require(syscall_ok(m, s) and ioctl_due(m, s, i) != 0 and reader_spins(m, s) == 0)
    rc = get_reader(m, s, s.proc_pos[i])
    if rc == 0 and m.ioctl_refresh:
        s.in_get_reader = i + 1
    s.proc_phase[i] = P_IOCTLED


@step("p")
def update_meta(m, s, i):
    """The seed's update ioctl (ring_buffer_update_meta_page), where the client
    may call GET_READER."""
    require(syscall_ok(m, s) and ioctl_due(m, s, i) != 0 and reader_spins(m, s) == 0)
    update_meta_page(m, s)


@step("p")
def unmap(m, s, i):
    """munmap: tracing_buffers_mmap_close, ring_buffer_unmap."""
    require(holds(m, s, i) and syscall_ok(m, s) and may_leave(m, s, i))
    forget(m, s, i, P_IDLE)
    unmap_buffer(m, s, i)


@step("p")
def exit(m, s, i):
    """Process exit: from idle, or closing its mapping (ring_buffer_unmap) and
    its forked child's copy, which the exit takes with it."""
    ph = s.proc_phase[i]
    require(syscall_ok(m, s) and may_exit(m, s) != 0)
    require(ph == P_IDLE or (holds(m, s, i) and may_leave(m, s, i)))
    if ph == P_IDLE:
        s.proc_phase[i] = P_EXITED
        return
    forget(m, s, i, P_EXITED)
    child = s.proc_child[i]
    s.proc_child[i] = 0
    unmap_buffer(m, s, i)
    if child != 0:
        unmap_buffer(m, s, i)


@step("p")
def dofork(m, s, i):
    """fork after madvise(MADV_DOFORK): the child inherits a copy of the VMA (the
    vm_ops open callback runs: vma_open)."""
    require(s.proc_phase[i] == P_READING and s.proc_child[i] == 0 and syscall_ok(m, s))
    s.proc_child[i] = 1
    vma_open(m, s)


@step("p")
def child_exit(m, s, i):
    """The forked child exits: its copy closes (ring_buffer_unmap)."""
    require(s.proc_child[i] != 0 and syscall_ok(m, s))
    s.proc_child[i] = 0
    unmap_buffer(m, s, i)
