"""Root's tracefs writes a mapping refuses (``admin``, with --refusals), the
refused mmap of a process (``trymap_bad``) and the sub-buffer order change
(--order-change).

A refusal that changes nothing is a self-loop and not listed; one that changes
something (``refused``) or a call a mapping refuses that is refused with no VMA
left is listed with the flag that says so.
"""

from __future__ import annotations

from rbmap.checker.steps import changed, require, step

from ..state import F_SNAP_MAPPED, F_SWAPPED, K_SWAP_CPU_MAPPED, P_IDLE
from .kernel import clear_buffer
from .procs import first_map, free_ids_meta, live_vmas, refused, syscall_ok
from .writer import mask

EBUSY, EINVAL = -16, -22


# ---------------------------------------------------------------- helpers
def resize_rc(m, s):
    """ring_buffer_resize / ring_buffer_subbuf_order_set: -EBUSY while
    resize_disabled; else 0 (the model's size is constant)."""
    return EBUSY if s.resize_disabled > 0 else 0


def snapshot_rc(m, s, per_cpu):
    """tracing_snapshot_write with 1: tracing_arm_snapshot_locked refuses while
    tr->mapped (the final ABI); ``snapshot`` then swaps the whole buffer
    (update_max_tr: no per-CPU check: pages a process still maps stop being the
    live buffer, F_SWAPPED), ``snapshot_cpu`` (``per_cpu``) calls
    ring_buffer_swap_cpu, which refuses a mapped buffer with WARN_ON_ONCE and
    -EBUSY (the write itself returns success). A snapshot that goes ahead (at
    most once) leaves the live buffer empty, as a reset does. Returns 1 when the
    model does not take it now (a write in flight, no snapshot left)."""
    if m.snapshot_excl and s.tr_mapped > 0:
        return EBUSY
    if per_cpu != 0 and s.mapped > 0:
        if m.snapshot_excl:
            s.flags = s.flags | K_SWAP_CPU_MAPPED
        if m.swap_cpu_ebusy:
            return 0
        s.flags = s.flags | F_SWAPPED
        return 0
    if s.mapped > 0 or live_vmas(m, s) != 0:
        # the buffer a process maps is swapped out from under it; the model keeps
        # following the one buffer (the flag marks the violation)
        s.flags = s.flags | F_SWAPPED
        return 0
    if s.snapshots_left == 0 or s.depth != 0:
        return 1
    s.snapshots_left -= 1
    clear_buffer(m, s)
    return 0


def trigger_rc(m, s):
    """A snapshot trigger installed: tracing_arm_snapshot (-EBUSY while
    tr->mapped, the final ABI). Returns 1 when one is armed already."""
    if s.snapshot != 0:
        return 1
    if m.snapshot_excl and s.tr_mapped > 0:
        return EBUSY
    s.snapshot = 1
    if live_vmas(m, s) != 0:
        s.flags = s.flags | F_SNAP_MAPPED
    return 0


def map_refused(m, s):
    """tracing_buffers_mmap of a range __rb_map_vma refuses (-EINVAL), after
    get_snapshot_map (-EBUSY while a snapshot user holds tr->snapshot) and, on a
    first map, the IDs, the meta page and resize_disabled, which its error path
    undoes (rule map_error). Returns the error."""
    if m.snapshot_excl:
        if s.snapshot != 0:
            return EBUSY
        s.tr_mapped += 1
    if s.mapped <= 0:
        first_map(m, s)
        s.resize_disabled += 1
        # __rb_map_vma failed: kfree(subbuf_ids), rb_free_meta_page,
        # atomic_dec(&resize_disabled)
        free_ids_meta(m, s)
        if not m.keep_resize_disabled:
            s.resize_disabled -= 1
    if m.snapshot_excl and not m.keep_tr_mapped:
        s.tr_mapped -= 1            # put_snapshot_map
    return EINVAL


def order_change_(m, s):
    """ring_buffer_subbuf_order_set going ahead, an order change and the change
    back (the model's sub-buffer holds page_events events at every order): every
    page, the reader page too, is replaced by an empty one (head = tail = commit
    = the first ring page); entries, overrun, read, lost_events stay, so the
    unread events are gone without being counted (README K1). Returns 0 when
    the kernel refuses it (resize_disabled: a mapping) or the model does not
    take it now (a write in flight, a trace_pipe read under way, a VMA left,
    the seed's ABI). Leaves out the allocation failure path and nr_pages
    recomputed for the new size."""
    if (s.resize_disabled > 0 or s.depth != 0 or s.text_pending != 0
            or m.has_data_pages or live_vmas(m, s) != 0):
        return 0
    s.lost_uncounted = s.lost_uncounted | (
        mask(0, s.seq) & ~(s.delivered | s.lost_counted))
    for p in range(m.N + 1):
        s.page_next[p] = 0
        s.page_id[p] = 0
        s.page_base[p] = 0
        s.page_filled[p] = 0
        s.page_write[p] = 0
        s.page_commit[p] = 0
        s.page_read[p] = 0
    for p in range(1, m.N + 1):
        s.page_next[p] = p + 1 if p < m.N else 1
    for k in range(m.N):
        s.data_pages[k] = 0
    for i in range(m.D):
        s.w_phase[i] = 0
        s.w_r1[i] = 0
        s.w_r2[i] = 0
        s.w_r3[i] = 0
    if m.ltf:
        for i in range(m.P):
            s.ltf_phase[i] = 0
            s.ltf_skip[i] = 0
    s.reader_page = 0
    s.head = 1
    s.tail_page = 1
    s.commit_page = 1
    s.head_page = 1
    s.pages = 1
    s.real_end_zero = 0
    s.reader_flags = 0
    return 1


# ---------------------------------------------------------------- steps
@step("admin", name="resize")
def admin_resize(m, s):
    """(--refusals) per-CPU buffer_size_kb to another size: ring_buffer_resize,
    -EBUSY while resize_disabled. Going ahead it changes nr_pages, which the
    model keeps constant: a self-loop (the model records only whether it was
    refused)."""
    require(s.in_get_reader == 0)
    h0 = s.head_page
    f0 = s.flags
    live0 = live_vmas(m, s)
    require(s.resize_disabled > 0)       # resize_rc: -EBUSY
    listed = refused(m, s, h0, f0, live0, 1)
    require(listed != 0)


@step("admin", name="subbuf_order")
def admin_subbuf_order(m, s):
    """buffer_subbuf_size_kb to another order: ring_buffer_subbuf_order_set,
    -EBUSY while resize_disabled (--refusals); going ahead a self-loop, or with
    --order-change the order change and back (order_change_)."""
    require(s.in_get_reader == 0)
    h0 = s.head_page
    f0 = s.flags
    live0 = live_vmas(m, s)
    if s.resize_disabled <= 0:          # resize_rc: 0
        require(m.order_change)
        taken = order_change_(m, s)
        require(taken != 0 and changed(s))
    else:
        require(m.refusals)
        listed = refused(m, s, h0, f0, live0, 1)
        require(listed != 0)


@step("admin", name="snapshot")
def admin_snapshot(m, s):
    """(--refusals) echo 1 > snapshot: tracing_snapshot_write,
    tracing_arm_snapshot_locked (-EBUSY while tr->mapped), update_max_tr
    (snapshot_rc)."""
    require(s.in_get_reader == 0)
    h0 = s.head_page
    f0 = s.flags
    live0 = live_vmas(m, s)
    rc = snapshot_rc(m, s, 0)
    if rc == 0:
        require(changed(s))
    else:
        require(rc != 1)
        listed = refused(m, s, h0, f0, live0, 1)
        require(listed != 0)


@step("admin", name="snapshot_cpu")
def admin_snapshot_cpu(m, s):
    """(--refusals) echo 1 > per_cpu/cpu0/snapshot: the same arming, then
    ring_buffer_swap_cpu (snapshot_rc)."""
    require(s.in_get_reader == 0)
    h0 = s.head_page
    f0 = s.flags
    live0 = live_vmas(m, s)
    rc = snapshot_rc(m, s, 1)
    if rc == 0:
        require(changed(s))
    else:
        require(rc != 1)
        listed = refused(m, s, h0, f0, live0, 1)
        require(listed != 0)


@step("admin", name="trigger_on")
def admin_trigger_on(m, s):
    """(--refusals) a snapshot trigger installed: tracing_arm_snapshot, -EBUSY
    while tr->mapped (trigger_rc)."""
    require(s.in_get_reader == 0)
    h0 = s.head_page
    f0 = s.flags
    live0 = live_vmas(m, s)
    rc = trigger_rc(m, s)
    if rc == 0:
        require(changed(s))
    else:
        require(rc != 1)
        listed = refused(m, s, h0, f0, live0, 1)
        require(listed != 0)


@step("admin", name="trigger_off")
def admin_trigger_off(m, s):
    """(--refusals) the snapshot trigger removed: tracing_disarm_snapshot."""
    require(s.in_get_reader == 0 and s.snapshot != 0)
    s.snapshot = 0


@step("p")
def trymap_bad(m, s, i):
    """(--refusals) an mmap __rb_map_vma refuses (a length or offset past the
    end: -EINVAL; map_refused), by a process holding no mapping; a system call:
    it waits while another process holds mapping_lock."""
    require(s.proc_phase[i] == P_IDLE and syscall_ok(m, s))
    h0 = s.head_page
    f0 = s.flags
    map_refused(m, s)               # always an error: -EBUSY or -EINVAL
    listed = refused(m, s, h0, f0, 0, 0)
    require(listed != 0)


def instances(m):
    """The admin steps, in order (after the kernel's)."""
    if m.refusals:
        return [m.bind(x) for x in (admin_resize, admin_subbuf_order, admin_snapshot,
                                    admin_snapshot_cpu, admin_trigger_on,
                                    admin_trigger_off)]
    if m.order_change:
        return [m.bind(admin_subbuf_order)]
    return []
