"""impl's mapping error paths that no bounded model run reaches."""

from rbmap.impl.mapping import VM_MAYSHARE, VM_READ, VM_SHARED, UpstreamMapping
from rbmap.impl.ringbuf import EBUSY, UINT_MAX, TraceBuffer
from rbmap.impl.sched import run_plain

FLAGS = VM_READ | VM_SHARED | VM_MAYSHARE


def test_mapped_overflow_is_refused_and_changes_nothing():
    """__rb_inc_dec_mapped: another map when cpu_buffer->mapped is UINT_MAX is
    -EBUSY, and neither mapped nor user_mapped moves (the next unmap must still
    find them consistent)."""
    cb = TraceBuffer(2).buffers[0]
    m = UpstreamMapping()
    cb.mapping = m
    rc, refs = run_plain(m.ring_buffer_map(cb, 0, 1, FLAGS))
    assert rc == 0 and refs
    cb.mapped.value = UINT_MAX          # as if 2^32 - 1 mappings were held
    rc, refs = run_plain(m.ring_buffer_map(cb, 0, 1, FLAGS))
    assert (rc, refs) == (EBUSY, None)
    assert cb.mapped.value == UINT_MAX and cb.user_mapped == 1
    assert not cb.reader_lock.held and not cb.mapping_lock.held


def test_get_reader_on_an_unmapped_buffer_is_enodev_and_takes_no_lock():
    cb = TraceBuffer(2).buffers[0]
    m = UpstreamMapping()
    cb.mapping = m
    assert run_plain(m.ring_buffer_map_get_reader(cb)) == -19
    assert not cb.reader_lock.held and not cb.mapping_lock.held
