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


def test_tr_mapped_at_its_maximum_refuses_every_file_and_changes_nothing():
    """get_snapshot_map: with tr->mapped at UINT_MAX (2^32 - 1 live mappings of the
    instance, which no guest can hold: vm.max_map_count is 65530) every mmap of
    the instance's files is -EBUSY, check 4 before check 5 (a CPU without a
    cpu_buffer) and before the ring buffer's own checks."""
    from rbmap.impl.invariants import CheckedInstance, kernel_state
    from rbmap.impl.tracefs import PROT_EXEC, PROT_READ

    inst = CheckedInstance()
    fd, fd1 = inst.open(nonblock=True), inst.open(nonblock=True, cpu=1)
    inst.mapped = UINT_MAX
    before = kernel_state(inst)
    for f, kw in ((fd, {}), (fd1, {}), (fd, {"prot": PROT_READ | PROT_EXEC}),
                  (fd, {"shared": False})):
        assert inst.mmap(f, 4096, 0, **kw) == (EBUSY, None)
    assert kernel_state(inst) == before and inst.atomicity_violations == []
    inst.mapped = 0
    rc, vma = inst.mmap(fd, 4096, 0)
    assert rc == 0 and inst.mapped == 1 and inst.munmap(vma) == 0 and inst.mapped == 0
