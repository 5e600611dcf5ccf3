"""The per-CPU ring buffer on bytes: events, page moves, overwrite, nesting, reads."""

from __future__ import annotations

import struct

import pytest

from rbmap.impl import event as ev
from rbmap.impl import systems
from rbmap.impl.mapping import VM_MAYSHARE, VM_READ, VM_SHARED, UpstreamMapping
from rbmap.impl.ringbuf import (EBUSY, RB_PAGE_HEAD, RB_WRITE_MASK, BufferDataPage,
                                Clock, TraceBuffer, ring_buffer_resize,
                                ring_buffer_swap_cpu)
from rbmap.impl.sched import Execution, Task, run_plain
from rbmap.impl.tracefs import marker_event_size


def write(cb, n, size=27, start=0):
    for i in range(n):
        assert run_plain(cb.ring_buffer_write(struct.pack("<I", start + i) +
                                              bytes(size - 4))) == 0


def consume_all(cb):
    """A kernel reader (trace_pipe style): advance until empty; seqs read."""
    out = []
    run_plain(cb.reader_lock.acquire())
    while not run_plain(cb.rb_per_cpu_empty()):
        old = cb.reader_page.value
        before = old.read
        run_plain(cb.rb_advance_reader())
        rp = cb.reader_page.value
        out += systems.page_seqs(rp, before if rp is old else 0, rp.read)
    run_plain(cb.reader_lock.release())
    return out


@pytest.mark.parametrize("payload,size", [(0, 8), (1, 8), (4, 8), (8, 16), (12, 16),
                                          (27, 32), (112, 116), (113, 124),
                                          (200, 208)])
def test_event_length_rule(payload, size):
    assert ev.rb_calculate_event_length(payload) == size


@pytest.mark.parametrize("chars,size", [(1, 32), (9, 32), (22, 44), (23, 48),
                                        (26, 48)])
def test_trace_marker_event_sizes(chars, size):
    assert marker_event_size(chars) == size


def test_small_and_large_events_decode():
    b = TraceBuffer(2)
    cb = b.buffers[0]
    run_plain(cb.ring_buffer_write(b"a" * 20))
    run_plain(cb.ring_buffer_write(b"b" * 200))
    page = ev.decode_page(bytes(cb.head_page.page.buf))
    small, large = page.data_events
    assert small.type_len == 5 and small.length == 24 and small.payload == b"a" * 20
    assert large.type_len == 0 and large.length == 208
    assert large.payload == b"b" * 200
    assert page.size == 232 and not page.missed_events


def test_time_extend_when_the_delta_does_not_fit():
    clock = Clock(step=1000)
    b = TraceBuffer(2, clock=clock)
    cb = b.buffers[0]
    write(cb, 1)
    clock.advance(1 << 28)                    # > 2^27 ns since the last event
    write(cb, 1, start=1)
    page = ev.decode_page(bytes(cb.head_page.page.buf))
    kinds = [e.kind for e in page.events]
    assert kinds == ["data", "time_extend", "data"]
    ext = page.events[1]
    assert ext.time_delta >= 1 << 28 and page.events[2].time_delta == 0
    assert page.events[2].ts == page.events[1].ts
    assert page.size == 32 + 8 + 32


def test_first_event_of_a_page_has_delta_zero_and_sets_the_page_stamp():
    b = TraceBuffer(2)
    cb = b.buffers[0]
    write(cb, 2)
    page = ev.decode_page(bytes(cb.head_page.page.buf))
    assert page.events[0].time_delta == 0 and page.time_stamp > 0
    assert page.events[1].time_delta == 1000


def test_page_switch_padding_and_commit():
    b = TraceBuffer(3)
    cb = b.buffers[0]
    # 1000-byte payloads: 1008-byte events, 4 per page, 48 bytes left over
    write(cb, 5, size=1000)
    first = cb.head_page
    page = ev.decode_page(bytes(first.page.buf))
    assert page.size == 4080                     # padding covers the rest
    assert page.events[-1].kind == "padding" and page.events[-1].length == 48
    assert first.real_end.value == 4032
    assert cb.pages_touched.value == 1
    # only 4 bytes left: a null padding, commit stops at the data end
    b2 = TraceBuffer(3)
    cb2 = b2.buffers[0]
    write(cb2, 1, size=4068)                    # 4076-byte event, 4 bytes left
    write(cb2, 1, size=8)
    p = ev.decode_page(bytes(cb2.head_page.page.buf))
    assert p.size == 4076 and len(p.data_events) == 1


def test_tail_page_move_resets_write_with_the_interrupt_count():
    b = TraceBuffer(2)
    cb = b.buffers[0]
    write(cb, 5, size=1000)
    tail = cb.tail_page.value
    assert tail is not cb.head_page
    assert tail.write.value & ~RB_WRITE_MASK        # the RB_WRITE_INTCNT half
    assert tail.write.value & RB_WRITE_MASK == 1008


def test_overwrite_pushes_the_head_and_counts_overrun():
    b = TraceBuffer(2)
    cb = b.buffers[0]
    write(cb, 9, size=1000)       # page A: 0-3, page B: 4-7, 8 overwrites A
    assert cb.entries.value == 9
    assert cb.overrun.value == 4 and cb.pages_lost.value == 1
    # the HEAD flag moved to the page after the tail; cpu_buffer->head_page is
    # only refreshed by readers (rb_set_head_page), so it is stale here
    assert cb.head_flag_page() is cb.tail_page.value.list_next.value[0]
    assert cb.head_flag_page() is not cb.head_page
    seqs = consume_all(cb)
    assert seqs == [4, 5, 6, 7, 8]
    assert cb.read == 5 and cb.lost_events == 4
    assert cb.entries.value - cb.overrun.value - cb.read == 0


def test_producer_consumer_mode_drops_new_events():
    b = TraceBuffer(2, overwrite=False)
    cb = b.buffers[0]
    write(cb, 8, size=1000)
    rc = run_plain(cb.ring_buffer_write(bytes(1000)))
    assert rc == EBUSY
    assert cb.entries.value == 8 and cb.overrun.value == 0
    assert cb.dropped_events.value == 1
    assert consume_all(cb) == list(range(8))


def test_nested_writer_two_deep_commits_through_the_outer_writer():
    """An interrupt writes while the outer writer has reserved but not committed:
    the commit page only moves when the outermost writer commits."""
    b = TraceBuffer(2)
    cb = b.buffers[0]
    seen = {}

    def outer(s):
        res = yield from cb.ring_buffer_lock_reserve(27)
        yield from cb.write_event(res, struct.pack("<I", 1) + bytes(23))
        yield from cb.ring_buffer_unlock_commit()

    def inner(s):
        yield from cb.ring_buffer_write(struct.pack("<I", 2) + bytes(23))
        seen["commit_after_inner"] = cb.head_page.page.commit()

    def deepest(s):
        yield from cb.ring_buffer_write(struct.pack("<I", 3) + bytes(23))

    def factory():
        return {}, [Task("outer", outer), Task("inner", inner, interrupts="outer"),
                    Task("deepest", deepest, interrupts="inner")]

    # outer reserves, then an interrupt comes before its data write; inside
    # the interrupt, a second one comes at the same point
    ex = Execution(factory)
    # run outer until it is about to write its event bytes
    while ex.by_name["outer"].op[0] != cb.head_page.name + ".data write":
        ex.step(ex.by_name["outer"])
    ex.step(ex.by_name["inner"])                      # inner starts
    while ex.by_name["inner"].op[0] != cb.head_page.name + ".data write":
        ex.step(ex.by_name["inner"])
    ex.step(ex.by_name["deepest"])
    while ex.by_name["deepest"].state != "done":
        ex.step(ex.by_name["deepest"])
    while ex.by_name["inner"].state != "done":
        ex.step(ex.by_name["inner"])
    # nested commits did not move the commit past the uncommitted outer event
    assert seen["commit_after_inner"] == 0
    while ex.by_name["outer"].state != "done":
        ex.step(ex.by_name["outer"])
    page = ev.decode_page(bytes(cb.head_page.page.buf))
    assert [systems.seq_of(e) for e in page.data_events] == [1, 2, 3]
    assert page.size == 96 and cb.entries.value == 3 and cb.committing.value == 0
    # the interrupts came after the time stamps were updated: relative deltas
    assert "time_stamp" not in [e.kind for e in page.events]


def test_interrupt_inside_the_time_update_writes_an_absolute_stamp():
    b = TraceBuffer(2)
    cb = b.buffers[0]
    write(cb, 1)

    def outer(s):
        yield from cb.ring_buffer_write(struct.pack("<I", 1) + bytes(23))

    def irq(s):
        yield from cb.ring_buffer_write(struct.pack("<I", 2) + bytes(23))

    ex = Execution(lambda: ({}, [Task("outer", outer),
                                 Task("irq", irq, interrupts="outer")]))
    while ex.by_name["outer"].op[0] != "write_stamp store":
        ex.step(ex.by_name["outer"])
    while ex.by_name["irq"].state != "done":       # between steps B and D
        ex.step(ex.by_name["irq"])
    while ex.by_name["outer"].state != "done":
        ex.step(ex.by_name["outer"])
    page = ev.decode_page(bytes(cb.head_page.page.buf))
    kinds = [e.kind for e in page.events]
    assert kinds == ["data", "data", "time_stamp", "data"]
    stamp = page.events[2]
    assert stamp.time_delta == page.events[3].ts > page.events[0].ts


def test_reader_page_swap_and_head_flag():
    b = TraceBuffer(3)
    cb = b.buffers[0]
    write(cb, 5, size=1000)
    old_reader = cb.reader_page.value
    head = cb.head_page
    run_plain(cb.reader_lock.acquire())
    got = run_plain(cb.rb_get_reader_page())
    run_plain(cb.reader_lock.release())
    assert got is head and cb.reader_page.value is head
    assert old_reader in cb.ring_pages()        # the old reader page joined the ring
    prev = old_reader.list_prev.value
    assert prev.list_next.value == (old_reader, 0)
    assert old_reader.list_next.value[1] == RB_PAGE_HEAD
    assert cb.head_page is old_reader.list_next.value[0]
    assert cb.pages_read == 1


def test_read_page_swaps_when_unmapped_and_copies_when_mapped():
    b = TraceBuffer(3)
    cb = b.buffers[0]
    write(cb, 5, size=1000)
    spare = [BufferDataPage(4096)]
    original = spare[0]
    head_data = cb.head_page.page
    assert run_plain(cb.ring_buffer_read_page(spare, 4096)) == 0
    assert spare[0] is head_data and cb.reader_page.value.page is original
    assert cb.read == 4
    # mapped: copy, the pages stay in the ring
    b2 = TraceBuffer(3)
    cb2 = b2.buffers[0]
    m = UpstreamMapping()
    cb2.mapping = m
    run_plain(m.ring_buffer_map(cb2, 0, 1, VM_READ | VM_SHARED | VM_MAYSHARE))
    write(cb2, 5, size=1000)
    spare = [BufferDataPage(4096)]
    ring_data = {p.page for p in cb2.all_pages()}
    assert run_plain(cb2.ring_buffer_read_page(spare, 4096)) == 0
    assert spare[0] not in ring_data and {p.page for p in cb2.all_pages()} == ring_data
    d = ev.decode_page(bytes(spare[0].buf))
    assert [systems.seq_of(e) for e in d.data_events] == [0, 1, 2, 3]


def test_missed_events_flags_and_stored_count_on_read_page():
    b = TraceBuffer(2)
    cb = b.buffers[0]
    write(cb, 9, size=1000)                   # 4 events overwritten
    spare = [BufferDataPage(4096)]
    run_plain(cb.ring_buffer_read_page(spare, 4096))
    raw = ev.read_commit(spare[0].buf)
    d = ev.decode_page(bytes(spare[0].buf))
    assert d.missed_events and d.missed_stored and d.lost == 4
    assert raw & 0xFFFFFFFF00000000 == 0xFFFFFFFF00000000   # sign-extended bit 31
    assert d.size == 4032                      # cut back to real_end


def test_reset_clears_positions_and_counters():
    b = TraceBuffer(3)
    cb = b.buffers[0]
    write(cb, 9, size=1000)
    run_plain(cb.ring_buffer_reset_cpu())
    assert cb.entries.value == cb.overrun.value == cb.read == 0
    assert cb.tail_page.value is cb.commit_page.value is cb.head_page
    assert all(p.write.value == 0 and p.page.commit() == 0 for p in cb.all_pages())
    write(cb, 2)
    assert consume_all(cb) == [0, 1]


def test_resize_and_swap_refused_while_mapped():
    b = TraceBuffer(3)
    cb = b.buffers[0]
    write(cb, 2)
    assert run_plain(ring_buffer_resize(b, 8 * 4080, None)) == 0
    assert cb.nr_pages == 8 and len(cb.ring_pages()) == 8
    assert consume_all(cb) == [0, 1]
    m = UpstreamMapping()
    cb.mapping = m
    run_plain(m.ring_buffer_map(cb, 0, 1, VM_READ | VM_SHARED | VM_MAYSHARE))
    assert run_plain(ring_buffer_resize(b, 3 * 4080, None)) == EBUSY
    other = TraceBuffer(8)
    assert run_plain(ring_buffer_swap_cpu(b, other)) == EBUSY
    assert any("swap_cpu" in w for w in b.kmsg)
    run_plain(m.ring_buffer_unmap(cb))
    other_cb = other.buffers[0]
    assert run_plain(ring_buffer_swap_cpu(b, other)) == 0
    assert b.buffers[0] is other_cb and other.buffers[0] is cb
