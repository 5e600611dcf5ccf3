"""The writer and the writers nested on top of it (``writer``, ``irq1``...).

Every step here is one unit per nesting level ``top`` (bound once per level, the
actor named after it): only the top of the stack runs (``s.depth == top + 1``), a
nested write runs to completion before the one it interrupted resumes. The
phase ``s.w_phase[top]`` (``W_*``, model/state.py) says where the write is;
``w_r1``..``w_r3`` hold what it loaded or a mark (see the ``W_*`` notes there).
Guards test the depth and the phase first (the engines dispatch on them).
"""

from __future__ import annotations

from rbmap.checker.steps import require, step

from ..state import (F_BACKWARDS, G_OVERRUN_MAPPED, NC_PAGE, W_BEGUN, W_COMMITTING,
                     W_COUNTED, W_INC, W_MOVED, W_MTSTORE, W_PAGE_SET, W_PUBLISHING,
                     W_RECHECK, W_RELEASED, W_RESERVED, W_STORED, W_STORING,
                     W_TMOVED, W_WALKED, W_WINDOW)


# ---------------------------------------------------------------- helpers
def mask(seq_from, count):
    """Bits ``seq_from .. seq_from + count - 1`` (event sequence numbers)."""
    if count > 0:
        return ((1 << count) - 1) << seq_from
    return 0


def overwrite_generation(m, s, p):
    """The writer starts overwriting page ``p``: anything on it never delivered
    and never counted is lost without accounting."""
    old = mask(s.page_base[p], s.page_filled[p])
    missing = old & ~(s.delivered | s.lost_counted)
    if missing != 0:
        s.lost_uncounted = s.lost_uncounted | missing


def outermost(m, s, top):
    """rb_end_commit's ``committing == 1``: every write below ``top`` is in the
    window where rb_move_tail has given its committing count back."""
    for i in range(top):
        if s.w_phase[i] != W_WINDOW and s.w_phase[i] != W_RELEASED:
            return 0
    return 1


def commit_to_write(m, s):
    """rb_set_commit_to_write: the outermost committer moves the commit page up to
    the tail page and publishes each page's write index as its commit."""
    p = s.commit_page
    T = s.tail_page
    guard = m.N + 2
    while p != T and guard > 0:
        s.page_commit[p] = s.page_write[p]
        p = s.page_next[p]
        guard -= 1
    s.page_commit[T] = s.page_write[T]
    s.commit_page = T


def pop(m, s, top, publish):
    """The write at ``top`` leaves (a dropped reserve's rb_end_commit, kept as
    one step: the outermost publishes)."""
    outer = publish != 0 and outermost(m, s, top) != 0
    s.w_phase[top] = 0
    s.w_r1[top] = 0
    s.w_r2[top] = 0
    s.w_r3[top] = 0
    s.depth = top
    if outer:
        commit_to_write(m, s)


def drop(m, s, top):
    """The reserve fails: the event is dropped and counted (dropped_events or
    commit_overrun), then rb_end_commit."""
    seq = s.seq
    s.lost_counted = s.lost_counted | (1 << seq)
    s.seq = seq + 1
    s.dropped += 1
    pop(m, s, top, 1)


def reset_tail(m, s, p):
    """rb_reset_tail on page ``p`` (padding mode): a page with room left gets the
    padding (one more unit of write, no event) and real_end = where it starts;
    a page already full keeps its bytes and gets real_end = 0."""
    if s.page_write[p] == m.K:
        s.page_write[p] = m.K + 1
        s.real_end_zero = s.real_end_zero & ~(1 << p)
    elif s.page_write[p] > m.K:
        s.real_end_zero = s.real_end_zero | (1 << p)


def store_meta_overrun(m, s, ov):
    """The seed's WRITE_ONCE(meta->overrun, value it loaded)."""
    if ov < s.meta_overrun:
        s.flags = s.flags | F_BACKWARDS
    s.meta_overrun = ov


def tail_meta_load_(m, s, top):
    """The seed's rb_tail_page_update after the tail move: READ_ONCE(mapped),
    and if set the load of pages_touched for the meta store. The head push's
    overrun store had its own load of mapped (w_r1 >= 0: it saw the buffer
    mapped); when this load finds it unmapped (a last unmap in between, waiting
    for this write in synchronize_rcu) that store lands here, alone."""
    if s.mapped > 0:
        s.w_phase[top] = W_MTSTORE
        s.w_r2[top] = s.pages_touched
    else:
        if s.w_r1[top] >= 0:
            store_meta_overrun(m, s, s.w_r1[top])
        s.w_phase[top] = W_MOVED
        s.w_r1[top] = 0


def owe_tail_end(m, s, top, pushed):
    """What a write owes after rb_tail_page_update: the seed's meta stores of the
    values it loaded (while mapped), else rb_move_tail's closing rb_end_commit."""
    if m.v2_writer:
        s.w_phase[top] = W_TMOVED
        s.w_r1[top] = pushed
        s.w_r2[top] = 0
        if not m.fine:      # coarse: the load with the tail move
            tail_meta_load_(m, s, top)
    else:
        s.w_phase[top] = W_MOVED
        s.w_r2[top] = 0


def load_mapped_entries(m, s, top):
    """The seed's rb_commit: READ_ONCE(cpu_buffer->mapped) and, if set, the load
    of entries for the meta store."""
    if s.mapped > 0:
        s.w_phase[top] = W_INC
        s.w_r1[top] = s.entries
    else:
        s.w_phase[top] = W_STORED


def end_commit_(m, s, top, count):
    """rb_commit (entries++ when ``count``) and rb_end_commit up to its load of
    cpu_buffer->commits and of committing. The outermost writer (committing ==
    1) stays in flight (``publish``..., ``commit_release``, ``commit_recheck``);
    a nested one only leaves (its decrement and re-check change nothing)."""
    if count != 0:
        s.entries += 1
    if outermost(m, s, top) != 0:
        if m.fine:
            s.w_phase[top] = W_COMMITTING
        else:
            commit_to_write(m, s)
            s.w_phase[top] = W_RECHECK
        s.w_r1[top] = 0
        s.w_r2[top] = 0
    else:
        pop(m, s, top, 1)


def unreserved(m, s, i):
    """Write ``i`` has not reserved its event yet (w_r1 marks an rb_end_commit
    inside rb_move_tail)."""
    ph = s.w_phase[i]
    if ph == W_BEGUN or ph == W_TMOVED or ph == W_MTSTORE or ph == W_MOVED \
            or ph == W_WINDOW:
        return 1
    if ph in m.END_COMMIT and s.w_r1[i] != 0:
        return 1
    return 0


def pending_writes(m, s, d):
    """Writes in flight that have not reserved their event yet."""
    n = 0
    for i in range(d):
        n += unreserved(m, s, i)
    return n


# ---------------------------------------------------------------- a write's steps
@step("writer")
def reserve(m, s, top):
    """__rb_reserve_next: local_add_return on tail_page->write, the event fits on
    the tail page. The first write on a page since it was reset starts a new
    generation of its bytes. Leaves out time stamps and event sizes (every
    event has the same size: a page holds page_events)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_BEGUN)
    require(s.page_write[s.tail_page] < m.K)
    T = s.tail_page
    slot = s.page_write[T]
    seq = s.seq
    if slot == 0:
        overwrite_generation(m, s, T)
        s.page_base[T] = seq
        s.page_filled[T] = 1
    else:
        s.page_filled[T] = slot + 1
    s.page_write[T] = slot + 1
    s.seq = seq + 1
    s.w_phase[top] = W_RESERVED
    s.w_r1[top] = 0
    s.w_r2[top] = 0
    s.w_r3[top] = 0


@step("writer")
def move_tail(m, s, top):
    """rb_move_tail: the tail page is full. rb_reset_tail pads it; the event is
    dropped (an interrupt storm reached the commit page, or the head when not
    overwriting or the commit page is the reader page) or rb_handle_head_page
    pushes the head (overwrite: overrun += its entries), then
    rb_tail_page_update (pages_touched++, next page's write/commit = 0; with
    data_index the non-consuming reader's counter moves). Leaves out the HEAD
    and UPDATE flag dance (one step) and the writes' time stamps."""
    require(s.depth == top + 1 and s.w_phase[top] == W_BEGUN)
    require(s.page_write[s.tail_page] >= m.K)
    T = s.tail_page
    nxt = s.page_next[T]
    commit = s.commit_page
    reader = s.reader_page
    if m.padding:
        reset_tail(m, s, T)
    s.w_r1[top] = 0
    s.w_r3[top] = 0
    if nxt == commit:
        drop(m, s, top)
        return
    pushed = -1
    if T != reader and nxt == s.head:
        if commit == reader or not m.overwrite:
            drop(m, s, top)
            return
        H = nxt
        n = min(s.page_write[H], m.K)       # entries: padding is no event
        s.lost_counted = s.lost_counted | mask(s.page_base[H], n)
        s.overrun = s.overrun + n
        s.head = s.page_next[H]
        if s.mapped > 0:
            s.flags = s.flags | G_OVERRUN_MAPPED
            # the seed: rb_handle_head_page's own READ_ONCE(mapped), then the
            # overrun meta store (kept until meta_store_tail)
            pushed = s.overrun
    # writes interrupted in __rb_reserve_next have a stale tail_page now (w_r1:
    # 1 + the page they may have loaded, the one that was the tail first)
    for i in range(top):
        if s.w_phase[i] == W_BEGUN:
            if s.w_r2[i] == 0:
                s.w_r1[i] = T + 1
            s.w_r2[i] = 1
    if m.nc:
        if s.nc_phase == NC_PAGE and s.nc_page == nxt:
            s.nc_cnt = 1
    s.tail_page = nxt
    s.page_write[nxt] = 0
    s.page_commit[nxt] = 0
    s.real_end_zero = s.real_end_zero & ~(1 << nxt)
    s.pages_touched += 1
    owe_tail_end(m, s, top, pushed)


@step("writer")
def head_retry(m, s, top):
    """(fine) rb_move_tail of a write that saw the next page flagged HEAD before
    a reader swapped that page out (the reader's rb_head_page_replace won):
    rb_handle_head_page's cmpxchg finds the page moved (RB_PAGE_MOVED), so
    rb_move_tail skips rb_tail_page_update (the seed's meta stores too), resets
    the tail and retries after rb_end_commit."""
    require(s.depth == top + 1 and s.w_phase[top] == W_BEGUN)
    require(s.page_write[s.tail_page] >= m.K and s.w_r3[top] != 0)
    if m.padding:
        reset_tail(m, s, s.tail_page)
    s.w_r1[top] = 0
    s.w_r2[top] = 0
    s.w_r3[top] = 0
    s.w_phase[top] = W_MOVED


@step("writer")
def stale_retry(m, s, top):
    """A write that loaded tail_page before an interrupt moved it adds its length
    to the old, full page, enters rb_move_tail, finds the tail moved (its
    tail_page cmpxchg fails) and retries after rb_end_commit; its rb_reset_tail
    finds the page full: real_end = 0. The seed still stores its loaded
    pages_touched in rb_tail_page_update."""
    require(s.depth == top + 1 and s.w_phase[top] == W_BEGUN and s.w_r2[top] != 0)
    p = s.w_r1[top] - 1
    if m.padding:
        reset_tail(m, s, p)
    s.w_r1[top] = 0
    s.w_r3[top] = 0
    owe_tail_end(m, s, top, -1)


@step("writer")
def crossed_retry(m, s, top):
    """The same as stale_retry, but its reservation crossed the old page's end
    before the interrupt's did: its rb_reset_tail writes the padding, real_end
    set."""
    require(s.depth == top + 1 and s.w_phase[top] == W_BEGUN and s.w_r2[top] != 0)
    require(m.padding and s.page_write[s.w_r1[top] - 1] > m.K)
    p = s.w_r1[top] - 1
    s.real_end_zero = s.real_end_zero & ~(1 << p)
    s.w_r1[top] = 0
    s.w_r3[top] = 0
    owe_tail_end(m, s, top, -1)


@step("writer")
def end_commit_move(m, s, top):
    """The end of rb_move_tail: rb_reset_tail, then rb_end_commit ("commit what
    we have for now") up to its load of cpu_buffer->commits and committing. The
    outermost writer goes on like rb_commit's (publish..., commit_release,
    commit_recheck, with w_r1 = 1 marking that it returns into rb_move_tail);
    a nested one returns at once. Until ``retry`` (local_inc(&committing)) the
    write holds no committing count."""
    require(s.depth == top + 1 and s.w_phase[top] == W_MOVED)
    s.w_r2[top] = 0
    if outermost(m, s, top) != 0 and m.fine:
        s.w_phase[top] = W_COMMITTING
        s.w_r1[top] = 1
    else:
        if outermost(m, s, top) != 0:
            commit_to_write(m, s)       # coarse: one publish step
        s.w_phase[top] = W_WINDOW
        s.w_r1[top] = 0


@step("writer")
def commit_release(m, s, top):
    """The outermost writer's local_dec(&committing) in rb_end_commit (an
    interrupt after it is the outermost committer itself)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_RECHECK)
    s.w_phase[top] = W_RELEASED


@step("writer")
def publish_page(m, s, top):
    """(fine) rb_set_commit_to_write walks one page: the commit page's commit =
    its write index (an interrupt before or during the walk is nested)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_COMMITTING)
    require(s.commit_page != s.tail_page)
    C = s.commit_page
    s.page_commit[C] = s.page_write[C]
    s.w_phase[top] = W_PAGE_SET


@step("writer")
def walk_done(m, s, top):
    """(fine) rb_set_commit_to_write's walk finds the commit page at the tail
    page."""
    require(s.depth == top + 1 and s.w_phase[top] == W_COMMITTING)
    require(s.commit_page == s.tail_page)
    s.w_phase[top] = W_WALKED


@step("writer")
def commit_page_move(m, s, top):
    """rb_set_commit_to_write's rb_inc_page(&cpu_buffer->commit_page): until it,
    a reader on another CPU sees the page published and commit_page still on it
    (a reader may have swapped the page in meanwhile: the reader page's next
    still names the page after it in the ring)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_PAGE_SET)
    s.commit_page = s.page_next[s.commit_page]
    s.w_phase[top] = W_COMMITTING


@step("writer")
def publish_load(m, s, top):
    """(fine) rb_set_commit_to_write loads the commit page's write index (the
    tail page's, unless an interrupt moved the tail since walk_done): it
    differs from the commit, the store is next."""
    require(s.depth == top + 1 and s.w_phase[top] == W_WALKED)
    require(s.page_commit[s.commit_page] != s.page_write[s.commit_page])
    s.w_r3[top] = s.page_write[s.commit_page]
    s.w_phase[top] = W_STORING


@step("writer")
def published(m, s, top):
    """(fine) rb_set_commit_to_write reads commit == write and goes to its final
    check."""
    require(s.depth == top + 1 and s.w_phase[top] == W_WALKED)
    require(s.page_commit[s.commit_page] == s.page_write[s.commit_page])
    s.w_phase[top] = W_PUBLISHING


@step("writer")
def publish(m, s, top):
    """(fine) rb_set_commit_to_write stores the write index it loaded as the
    commit page's commit (stale if an interrupt wrote on the page meanwhile)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_STORING)
    s.page_commit[s.commit_page] = s.w_r3[top]
    s.w_r3[top] = 0
    s.w_phase[top] = W_WALKED


@step("writer")
def publish_again(m, s, top):
    """(fine) rb_set_commit_to_write's final check: an interrupt moved the tail
    meanwhile, walk again."""
    require(s.depth == top + 1 and s.w_phase[top] == W_PUBLISHING)
    require(s.commit_page != s.tail_page)
    s.w_phase[top] = W_COMMITTING


@step("writer")
def publish_end(m, s, top):
    """(fine) rb_set_commit_to_write's final check finds the commit page at the
    tail page: it returns."""
    require(s.depth == top + 1 and s.w_phase[top] == W_PUBLISHING)
    require(s.commit_page == s.tail_page)
    s.w_phase[top] = W_RECHECK


@step("writer")
def commit_recheck(m, s, top):
    """The outermost writer's re-check of cpu_buffer->commits in rb_end_commit:
    if an interrupt wrote since the load, committing++ and back to the load
    (publish again); else rb_move_tail's rb_end_commit returns (the window
    before its local_inc) or the write leaves."""
    require(s.depth == top + 1 and s.w_phase[top] == W_RELEASED)
    if s.w_r2[top] != 0:
        s.w_r2[top] = 0
        if m.fine:
            s.w_phase[top] = W_COMMITTING
        else:
            commit_to_write(m, s)
            s.w_phase[top] = W_RECHECK
    elif s.w_r1[top] != 0:
        s.w_r1[top] = 0
        s.w_phase[top] = W_WINDOW
    else:
        pop(m, s, top, 0)


@step("writer")
def retry(m, s, top):
    """rb_move_tail's local_inc(&committing) and the retried reserve (an
    interrupt before it is the outermost committer)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_WINDOW)
    s.w_phase[top] = W_BEGUN


@step("writer")
def commit(m, s, top):
    """rb_commit: cpu_buffer->entries++, rb_end_commit's load of
    cpu_buffer->commits and committing (a nested writer leaves here)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_RESERVED)
    end_commit_(m, s, top, 1)


@step("writer")
def commit_inc(m, s, top):
    """The seed's rb_commit: local_inc(&cpu_buffer->entries) (coarse: and the
    loads of commit_load with it)."""
    require(s.depth == top + 1 and s.w_phase[top] == W_RESERVED)
    s.entries += 1
    s.w_phase[top] = W_COUNTED
    if not m.fine:
        load_mapped_entries(m, s, top)


@step("writer")
def commit_load(m, s, top):
    """(fine) the seed's READ_ONCE(cpu_buffer->mapped) in rb_commit and, if set,
    the load of entries."""
    require(s.depth == top + 1 and s.w_phase[top] == W_COUNTED)
    load_mapped_entries(m, s, top)


@step("writer")
def meta_store(m, s, top):
    """The seed's WRITE_ONCE(meta->entries, value loaded before an interrupt
    could run). (The write saw mapped != 0: the meta page stays until it
    leaves, since the last unmap's synchronize_rcu waits for it.)"""
    require(s.depth == top + 1 and s.w_phase[top] == W_INC)
    v = s.w_r1[top]
    if s.mapped > 0 or s.unmap_waits != 0:
        if v < s.meta_entries:
            s.flags = s.flags | F_BACKWARDS
        s.meta_entries = v
    s.w_phase[top] = W_STORED
    s.w_r1[top] = 0


@step("writer")
def end_commit(m, s, top):
    """The seed's rb_end_commit after its meta store."""
    require(s.depth == top + 1 and s.w_phase[top] == W_STORED)
    end_commit_(m, s, top, 0)


@step("writer")
def tail_meta_load(m, s, top):
    """(fine) the seed's rb_tail_page_update after the tail move: load mapped,
    and pages_touched if mapped."""
    require(s.depth == top + 1 and s.w_phase[top] == W_TMOVED)
    tail_meta_load_(m, s, top)


@step("writer")
def meta_store_tail(m, s, top):
    """The seed's stores of overrun (rb_handle_head_page) and pages_touched
    (rb_tail_page_update) into the meta page."""
    require(s.depth == top + 1 and s.w_phase[top] == W_MTSTORE)
    if s.mapped > 0 or s.unmap_waits != 0:
        ov = s.w_r1[top]
        if ov >= 0:
            store_meta_overrun(m, s, ov)
        pt = s.w_r2[top]
        if pt < s.meta_pages_touched:
            s.flags = s.flags | F_BACKWARDS
        s.meta_pages_touched = pt
    s.w_phase[top] = W_MOVED
    s.w_r1[top] = 0
    s.w_r2[top] = 0


@step("writer")
def write_begin(m, s, d):
    """rb_reserve_next_event: rb_start_commit (committing++, commits++) at
    nesting depth ``d``; a commit in its re-check window will see
    cpu_buffer->commits moved and loop. Only while events are left (counting
    the writes in flight that have not reserved theirs)."""
    require(s.depth == d)
    require(s.seq + pending_writes(m, s, d) < m.E)
    s.w_phase[d] = W_BEGUN
    s.depth = d + 1
    for i in range(d):
        if s.w_phase[i] in m.END_COMMIT:
            s.w_r2[i] = 1


#: the steps of one nesting level, in the order successors are listed
LEVEL_STEPS = (reserve, move_tail, head_retry, stale_retry, crossed_retry,
               end_commit_move, commit_release, publish_page, walk_done,
               commit_page_move, publish_load, published, publish, publish_again,
               publish_end, commit_recheck, retry, commit, commit_inc, commit_load,
               meta_store, end_commit, tail_meta_load, meta_store_tail)
#: the seed's fast-path meta stores (writer_meta = v2_fastpath), instead of commit
V2_STEPS = (commit_inc, commit_load, meta_store, end_commit, tail_meta_load,
            meta_store_tail)
#: the fine granularity's own steps (coarse merges each into another)
FINE_ONLY = (head_retry, publish_page, walk_done, publish_load, published, publish,
             publish_again, publish_end, commit_load, tail_meta_load)


def instances(m):
    """The writer's step instances, in order: each level's steps, then
    write_begin at each depth."""
    out = []
    for top in range(m.D):
        a = m.actor_names[top]
        for st in LEVEL_STEPS:
            if (st is commit and m.v2_writer) or (st in V2_STEPS and not m.v2_writer):
                continue
            if st in FINE_ONLY and not m.fine:
                continue
            out.append(m.bind(st, top, actor=a, action=(a, st.name)))
    for d in range(m.D):
        a = m.actor_names[d]
        out.append(m.bind(write_begin, d, actor=a, action=(a, "write_begin")))
    return out
