"""Kernel reader paths: GET_READER's work, trace_pipe_raw (``pipe``), trace_pipe
(``text``), rb_reset_cpu and the resize/swap_cpu gates (``kernel``).

Kernel reader paths run under ``reader_lock`` (and ``mapping_lock`` /
``buffer->mutex``), so each is one step; only the writer interleaves with them.
While a process is inside GET_READER (``in_get_reader``) no other kernel path
runs. The helpers here (the reader page swap, rb_update_meta_page...) are shared
with the processes' GET_READER and the mapper.
"""

from __future__ import annotations

from rbmap.checker.steps import changed, require, step

from ..state import (F_DP_SLOT, F_IOCTL_META, F_LOSS_MISREPORT, F_META_ENTRIES,
                     F_META_LOST, F_META_OVERRUN, F_META_READ, F_META_RID,
                     F_META_RREAD, F_PAGE_LEFT, F_RESIZED, F_SWAPPED, F_UPDATE_ORDER,
                     G_IOCTL_SWAP, G_LOSS_FLAGGED, G_TEXT_LEFT_LOSS, K_COMMIT_OVERRUN,
                     K_READER_ON_COMMIT, W_BEGUN, W_MTSTORE, W_TMOVED)
from .writer import mask

#: rule get_reader as a number (the steps' code compares integers)
GR_V2_SWAP, GR_READ_PARAM, GR_CONSUME = 0, 1, 2
#: rule meta_update: the field rb_update_meta_page leaves alone (0: none)
META_SKIP = {"all": 0, "no_reader_id": 1, "no_reader_read": 2, "no_entries": 3,
             "no_overrun": 4, "no_read": 5}


# ---------------------------------------------------------------- reader helpers
def deliver(m, s, seq):
    """Event ``seq`` reaches a consumer (history: twice is a duplicate)."""
    bit = 1 << seq
    if s.delivered & bit != 0:
        s.delivered_twice = s.delivered_twice | bit
    s.delivered = s.delivered | bit


def report_loss(m, s, count, exact):
    """User space is told ``count`` events were lost just before the current
    reader page's data (a flag in its commit word, a raw read's copy, a
    trace_pipe [LOST] line). ``exact``: the count is given (else only
    RB_MISSED_EVENTS). ``gap`` holds what was really lost there and whether it
    was told already; anything else is a misreport."""
    if count == 0:
        return
    g = s.gap
    if g & 1 != 0 or g >> 1 == 0 or (exact != 0 and count != g >> 1):
        s.flags = s.flags | F_LOSS_MISREPORT
    s.gap = g | 1


def prev_page(m, s, page):
    """The ring page whose next is ``page``."""
    for q in range(m.N + 1):
        if q != s.reader_page and s.page_next[q] == page:
            return q
    return -1


def set_head_page(m, s):
    """rb_set_head_page: fix the cached head; the seed also moves data_page_head."""
    h = s.head_page
    real = s.head
    if h != real and m.has_data_pages and s.mapped > 0:
        cnt = 0
        guard = m.N + 1
        while h != real and guard > 0:
            h = s.page_next[h]
            cnt += 1
            guard -= 1
        s.meta_data_page_head = (s.meta_data_page_head + cnt) % m.N
    s.head_page = real


def empty(m, s):
    """rb_per_cpu_empty."""
    R = s.reader_page
    if s.page_read[R] != s.page_commit[R]:
        return 0
    C = s.commit_page
    if C == R:
        return 1
    if C != s.head:
        return 0
    return s.page_commit[C] == 0


def swap(m, s):
    """rb_get_reader_page's swap: the head page becomes the reader page, the old
    reader page (write/commit reset, bytes kept) takes its place in the ring;
    the seed's rb_meta_page_head_swap moves data_pages[]. Leaves out the
    cmpxchg retry loop (one step) and the time stamps."""
    set_head_page(m, s)
    H = s.head
    R = s.reader_page
    prev = prev_page(m, s, H)
    if m.fine and prev == s.tail_page and s.page_write[prev] >= m.K:
        # writes before their reservation on the full tail page: each may have
        # seen H flagged HEAD already (head_retry)
        for i in range(s.depth):
            if s.w_phase[i] == W_BEGUN:
                s.w_r3[i] = 1
    s.pages = prev
    s.page_write[R] = 0
    s.page_commit[R] = 0
    s.real_end_zero = s.real_end_zero & ~(1 << R)
    s.page_next[R] = s.page_next[H]
    s.page_next[prev] = R
    s.head = s.page_next[H]
    s.head_page = s.head
    ov = s.overrun
    gap = ov - s.last_overrun
    if gap != 0 or m.swap_lost_always:
        s.lost_events = gap
        s.last_overrun = ov
    # history: the loss just before the new reader page, not yet reported
    s.gap = gap << 1
    s.reader_flags = 0      # the new reader page's commit word carries no flags
    s.reader_page = H
    s.page_read[H] = 0
    if m.meta_in_swap and s.mapped > 0:
        # rb_meta_page_head_swap + rb_meta_page_head_move(1)
        if m.has_data_pages:
            dph = s.meta_data_page_head
            if s.data_pages[dph] != s.page_id[H]:
                # the slot names another page: its ID leaves the list
                s.flags = s.flags | F_DP_SLOT
            s.data_pages[dph] = s.page_id[R]
            s.meta_data_page_head = (dph + 1) % m.N
        s.meta_reader_id = s.page_id[H]


def get_reader_page(m, s):
    """rb_get_reader_page: the current reader page while it has unread data, else
    swap with the head page unless the reader page is the commit page or the
    buffer holds no entries by its counters (rb_num_of_entries); after a swap it
    looks again. Returns the reader page or -1."""
    for _ in range(3):
        R = s.reader_page
        if s.page_read[R] < s.page_commit[R]:
            return R
        if s.commit_page == R:
            return -1
        if s.entries - (s.overrun + s.read) == 0:
            return -1
        swap(m, s)
    return -1


def refresh_meta(m, s):
    """rb_update_meta_page (and the v3 ioctl's stores); rule meta_update may
    leave one field alone (a broken refresh)."""
    R = s.reader_page
    skip = m.META_SKIP
    if skip != 1:
        s.meta_reader_id = s.page_id[R]
    if skip != 2:
        s.meta_reader_read = s.page_read[R]
    if skip != 3:
        s.meta_entries = s.entries
    if skip != 4:
        s.meta_overrun = s.overrun
    if m.meta_upstream:
        if skip != 5:
            s.meta_read = s.read
        lost = s.gap >> 1
        s.meta_lost_events = lost if m.meta_lost_at_swap else s.lost_events
        if s.meta_lost_events != lost:
            s.flags = s.flags | F_META_LOST


def check_meta_fresh(m, s):
    """Where the meta page is documented fresh (the ioctl "updates the meta-page
    fields"; first map; reset while mapped), each field holds what
    include/uapi/linux/trace_mmap.h says it means at that instant: entries,
    overrun, read, reader.id, reader.read (in events)."""
    if not m.meta_upstream:
        return
    R = s.reader_page
    if s.meta_entries != s.entries:
        s.flags = s.flags | F_META_ENTRIES
    if s.meta_overrun != s.overrun:
        s.flags = s.flags | F_META_OVERRUN
    if s.meta_read != s.read:
        s.flags = s.flags | F_META_READ
    if not (0 <= s.meta_reader_id <= m.N and s.meta_reader_id == s.page_id[R]):
        s.flags = s.flags | F_META_RID
    if not (s.meta_reader_read == s.page_read[R] <= s.page_commit[R]):
        s.flags = s.flags | F_META_RREAD


def ioctl_meta_refresh(m, s):
    """GET_READER's closing rb_update_meta_page and what the ioctl promises of it."""
    if m.GR != GR_V2_SWAP and m.GR_REFRESHES:
        refresh_meta(m, s)
    if s.meta_reader_id != s.page_id[s.reader_page]:
        s.flags = s.flags | F_IOCTL_META
    check_meta_fresh(m, s)


def list_data_pages(m, s):
    """data_pages[] = the ring's IDs in order from the head, data_page_head = 0
    (rb_setup_ids_meta_page, where IDs 1..nr_pages are assigned in that order)."""
    p = s.head
    for i in range(m.N):
        s.data_pages[i] = s.page_id[p]
        p = s.page_next[p]
    s.meta_data_page_head = 0


def data_pages_ordered(m, s):
    """The seed's ``data_pages[]`` read from ``data_page_head`` lists the IDs of
    the ring pages in order from the real head page."""
    p = s.head
    dph = s.meta_data_page_head
    for i in range(m.N):
        if s.data_pages[(dph + i) % m.N] != s.page_id[p]:
            return 0
        p = s.page_next[p]
    return 1


def update_meta_page(m, s):
    """The seed's ring_buffer_update_meta_page: rb_set_head_page under
    reader_lock moves data_page_head by how far the cached head was behind the
    real one. The seed promises that the list is then in ring order from
    ``data_page_head``; a return where it is not sets F_UPDATE_ORDER."""
    set_head_page(m, s)
    if s.mapped > 0 and m.has_data_pages and data_pages_ordered(m, s) == 0:
        s.flags = s.flags | F_UPDATE_ORDER


def clear_buffer(m, s):
    """rb_reset_cpu's work on the state (also what a snapshot leaves in the live
    buffer): unread events discarded and counted, positions and counters 0,
    page IDs kept, the head back at cpu_buffer->pages; while mapped the meta
    page is refreshed (the seed clears its counters only; rule
    reset_data_pages)."""
    seq = s.seq
    deliv = s.delivered
    h = s.pages
    s.lost_counted = s.lost_counted | (mask(0, seq) & ~deliv)
    s.real_end_zero = 0
    for p in range(m.N + 1):
        s.page_write[p] = 0
        s.page_commit[p] = 0
        s.page_read[p] = 0
    s.head = h
    s.tail_page = h
    s.commit_page = h
    s.head_page = h
    s.entries = 0
    s.overrun = 0
    s.pages_touched = 0
    s.read = 0
    s.last_overrun = 0
    s.lost_events = 0
    s.dropped = 0
    s.gap = 0
    s.reader_flags = 0
    if s.mapped > 0:
        if m.v2_writer:
            s.meta_entries = 0
            s.meta_overrun = 0
            s.meta_pages_touched = 0
        else:
            refresh_meta(m, s)
            check_meta_fresh(m, s)
        if m.has_data_pages and m.relist:
            # rbmap's fix: list the ring again from the new head
            list_data_pages(m, s)


def record_loss(m, s, R, missed):
    """ring_buffer_map_get_reader after a swap with ``missed`` events lost: the
    count goes into the new reader page R unless R is the commit page (commit
    cut back to real_end, the count stored when there is room:
    RB_MISSED_STORED, RB_MISSED_EVENTS set). The commit page
    (commit_page_loss): 6.12.117 WARN_ONCE when it is also the tail page, else
    pr_info (a commit overrun); 6.10 WARN_ON_ONCE."""
    if R != s.commit_page:
        # commit cut back to real_end: the padding goes (not when real_end is 0)
        cut = 0
        if s.page_commit[R] > m.K and (s.real_end_zero >> R) & 1 == 0:
            cut = 1
            s.page_commit[R] = m.K
        stored = 0
        if cut != 0 or s.page_commit[R] < m.K:
            stored = 1
        s.reader_flags = ((missed if stored != 0 else 0) << 1) | 1
        s.flags = s.flags | G_LOSS_FLAGGED
        report_loss(m, s, missed, 1)
    elif m.commit_page_warns or R == s.tail_page:
        s.flags = s.flags | K_READER_ON_COMMIT
    else:
        s.flags = s.flags | K_COMMIT_OVERRUN


def get_reader(m, s, pos):
    """TRACE_MMAP_IOCTL_GET_READER's work under reader_lock (rule get_reader:
    ring_buffer_get_reader_page in the seed, ring_buffer_map_get_reader
    upstream, v3's read parameter ``pos``). Returns 0 or -ENODEV (the buffer
    is not mapped: a process whose VMA the kernel did not count). Where the
    ioctl ends with rb_update_meta_page (``ioctl_refresh``), the refresh is a
    step of its own (``ioctl_meta``); else it is done here."""
    if s.mapped <= 0:
        return -19
    before = s.reader_page
    if m.GR == GR_V2_SWAP:
        R = s.reader_page
        s.page_read[R] = s.page_commit[R]
        set_head_page(m, s)
        if empty(m, s) == 0:
            swap(m, s)
    elif m.GR == GR_READ_PARAM:
        R = s.reader_page
        amount = min(pos, s.page_commit[R])
        if amount > s.page_read[R]:
            s.read += min(amount, m.K) - min(s.page_read[R], m.K)
            s.page_read[R] = amount
        get_reader_page(m, s)
    else:
        # ring_buffer_map_get_reader's consume loop starts with rb_per_cpu_empty,
        # whose rb_set_head_page fixes the cached head
        set_head_page(m, s)
        R = s.reader_page
        if empty(m, s) != 0:
            R = -1
        elif s.page_read[R] >= s.page_commit[R]:
            # the reader page is done: rb_get_reader_page swaps unless the reader
            # page is the commit page or the buffer is empty; after a swap the
            # count in lost_events goes into the new page, then lost_events = 0
            R = get_reader_page(m, s)
            if R >= 0:
                if s.lost_events != 0 and m.page_flags:
                    record_loss(m, s, R, s.lost_events)
                s.lost_events = 0
        if R >= 0:
            n = min(s.page_commit[R], m.K) - min(s.page_read[R], m.K)
            s.read += n
            s.page_read[R] = s.page_commit[R]
    if s.reader_page != before:
        s.flags = s.flags | G_IOCTL_SWAP
    if not m.ioctl_refresh:
        ioctl_meta_refresh(m, s)    # coarse: part of this step
    return 0


def reader_spins(m, s):
    """rb_get_reader_page spins while the page it would take still has a
    writer's overflowing write index ("a writer is still updating it"): in the
    seed the pages_touched store sits in rb_tail_page_update, before
    rb_reset_tail."""
    if not m.v2_writer:
        return 0
    for i in range(s.depth):
        if s.w_phase[i] == W_MTSTORE or s.w_phase[i] == W_TMOVED:
            T = s.tail_page
            for q in range(m.N + 1):
                if q != T and s.page_next[q] == T and (q == s.head or q == s.reader_page):
                    return 1
    return 0


def read_page_at(m, s, R):
    """ring_buffer_read_page's work once rb_get_reader_page returned page ``R``:
    the page handed out carries the reader page's RB_MISSED_EVENTS and, when
    lost_events is set, the count (then lost_events = 0); a partly read page,
    the commit page, or (rule read_page_mapped = copy) a mapped buffer's page
    is copied, else the page is swapped out whole for an empty one."""
    read = s.page_read[R]
    commit = s.page_commit[R]
    base = s.page_base[R]
    missed = s.lost_events
    flagged = s.reader_flags
    s.lost_events = 0
    if missed != 0:
        report_loss(m, s, missed, 1)
    elif flagged != 0:
        report_loss(m, s, 1, 0)
    events = min(commit, m.K)
    if read != 0 or R == s.commit_page or (s.mapped > 0 and m.read_page_copy):
        for k in range(read, events):
            deliver(m, s, base + k)
        s.read += max(0, events - read)
        s.page_read[R] = commit
    else:
        for k in range(0, events):
            deliver(m, s, base + k)
        s.read += events
        if s.mapped > 0:
            s.flags = s.flags | F_PAGE_LEFT
        s.page_base[R] = 0
        s.page_filled[R] = 0
        s.page_write[R] = 0
        s.real_end_zero = s.real_end_zero & ~(1 << R)
        s.reader_flags = 0
        s.page_commit[R] = 0
        s.page_read[R] = 0


def text_peek(m, s):
    """ring_buffer_peek: the reader page holding the next event, or -1. The
    writer's padding at the end of a page is consumed on the way (it is no
    event: rb_advance_reader does not count it in ``read``)."""
    if empty(m, s) != 0:          # __find_next_entry: ring_buffer_empty_cpu
        return -1
    for _ in range(3):
        R = get_reader_page(m, s)
        if R < 0 or s.page_read[R] < m.K:
            return R
        s.page_read[R] = s.page_commit[R]
    return -1


def text_consume(m, s, R):
    """ring_buffer_consume of the event at the reader page's read offset: the
    loss the peek returned goes out with it ([LOST n EVENTS]), lost_events = 0,
    rb_advance_reader."""
    report_loss(m, s, s.lost_events, 1)
    s.lost_events = 0
    pos = s.page_read[R]
    deliver(m, s, s.page_base[R] + pos)
    s.page_read[R] = pos + 1
    s.read += 1


def reader_alone(m, s):
    """A consuming kernel reader may run: nothing is mapped, or the config drops
    the one-consumer-at-a-time assumption (consumers = concurrent); and the
    seed's reader is not spinning on a page a writer still updates."""
    return (m.concurrent or s.mapped == 0) and reader_spins(m, s) == 0


# ---------------------------------------------------------------- steps
@step("pipe")
def read_page(m, s):
    """ring_buffer_read_page for a trace_pipe_raw read of a whole page
    (tracing_buffers_read): rb_get_reader_page, then the copy or the page swap
    (read_page_at). A read that finds nothing after rb_get_reader_page swapped
    in a page with nothing committed yet still leaves that swap behind; one that
    changes nothing is not listed. Leaves out partial-page reads and the
    splice path."""
    require(s.in_get_reader == 0 and s.pipe_reads_left > 0 and s.text_pending == 0)
    require(reader_alone(m, s))
    R = get_reader_page(m, s)
    if R >= 0:
        read_page_at(m, s, R)
    require(R >= 0 or changed(s))
    s.pipe_reads_left -= 1


@step("text")
def text_read(m, s):
    """tracing_read_pipe on per_cpu/cpu0/trace_pipe: a read starts and its first
    line goes in (ring_buffer_peek, print_trace_line, ring_buffer_consume; the
    trace_seq is empty, a line always fits). A read on an empty buffer returns
    without touching the buffer (no step). Leaves out line lengths, [LINE TOO
    BIG] and the leftover bytes a later read returns."""
    require(s.in_get_reader == 0 and s.text_pending == 0 and s.text_reads_left > 0)
    require(reader_alone(m, s))
    R = text_peek(m, s)
    require(R >= 0)
    text_consume(m, s, R)
    s.text_reads_left -= 1
    s.text_pending = 1


@step("text")
def text_line(m, s):
    """tracing_read_pipe: the next line fits the trace_seq: peek and consume (the
    peek and the consume are separate reader_lock sections, but between them
    only the writer runs, and it cannot touch the reader page's unread event)."""
    require(s.in_get_reader == 0 and s.text_pending != 0)
    require(reader_alone(m, s))
    R = text_peek(m, s)
    require(R >= 0)
    text_consume(m, s, R)


@step("text")
def text_full(m, s):
    """tracing_read_pipe: the next line does not fit the space left: peeked, put
    back, not consumed, the read returns (what the peek swapped in and set in
    lost_events stays)."""
    require(s.in_get_reader == 0 and s.text_pending != 0)
    require(reader_alone(m, s))
    R = text_peek(m, s)
    require(R >= 0)
    s.text_pending = 0
    if s.lost_events != 0:
        s.flags = s.flags | G_TEXT_LEFT_LOSS


@step("text")
def text_done(m, s):
    """tracing_read_pipe: the user's count is reached after a consumed line: the
    read returns without peeking."""
    require(s.in_get_reader == 0 and s.text_pending != 0)
    require(reader_alone(m, s))
    s.text_pending = 0


@step("kernel")
def reset(m, s):
    """rb_reset_cpu (``echo > trace``): waits for the writers (synchronize_rcu),
    then clear_buffer."""
    require(s.in_get_reader == 0 and s.resets_left > 0 and s.depth == 0)
    clear_buffer(m, s)
    s.resets_left -= 1


@step("kernel")
def resize(m, s):
    """ring_buffer_resize while mapped, under a rule that lets it through (else
    -EBUSY, a stutter: not listed). The page count stays a constant of the
    model; the flag marks the violation."""
    require(s.in_get_reader == 0 and s.mapped > 0)
    s.flags = s.flags | F_RESIZED


@step("kernel")
def swap_cpu(m, s):
    """ring_buffer_swap_cpu while mapped, under a rule that lets it through (else
    -EBUSY: not listed); the flag marks the violation."""
    require(s.in_get_reader == 0 and s.mapped > 0)
    s.flags = s.flags | F_SWAPPED


#: the steps only a dropped assumption allows: read while something is mapped
CONSUMER_STEPS = (read_page, text_read, text_line, text_full, text_done)


def instances(m):
    """The kernel paths' step instances, in order."""
    out = []
    if m.config.pipe_reads:
        out.append(m.bind(read_page))
    if m.config.text_reads:
        out += [m.bind(text_read), m.bind(text_line), m.bind(text_full),
                m.bind(text_done)]
    if m.config.resets:
        out.append(m.bind(reset))
    if m.gate_resize:
        out.append(m.bind(resize))
    if m.gate_swap_cpu:
        out.append(m.bind(swap_cpu))
    return out
