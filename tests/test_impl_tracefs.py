"""The tracefs facade: the kernel selftest's behaviours, mmap rules, VMAs, ioctl,
read(), sizes, the acceptance sequence, the v2 seed's shapes, the backing file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rbmap.impl import event as ev
from rbmap.impl import systems
from rbmap.impl.mapping import V2Mapping, read_meta
from rbmap.impl.sched import explore_dpor, replay
from rbmap.impl.tracefs import (PROT_EXEC, PROT_READ, PROT_WRITE, Instance,
                                TRACE_MMAP_IOCTL_GET_READER, VmaFault)

EINVAL, EACCES, EBUSY, EPERM, ENODEV = -22, -13, -16, -1, -19
ENOTTY, EAGAIN, EINTR, EFAULT = -25, -11, -4, -14


def mapped(inst, nonblock=True):
    fd = inst.open(nonblock=nonblock)
    rc, vma = inst.mmap(fd, 4096, 0)
    assert rc == 0
    return fd, vma


def meta(vma):
    m = read_meta(vma.read(0, 80))
    return m


def markers(inst, n, text="hello"):
    for _ in range(n):
        assert inst.write_marker(text) == len(text)


# ---------------------------------------------------------------------------
# the kernel selftest (map_test.c), in our words
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("subbuf_kb", [4, 8])
def test_meta_page_check(subbuf_kb):
    inst = Instance(subbuf_size_kb=subbuf_kb)
    fd, vma = mapped(inst)
    m = meta(vma)
    assert (m["entries"], m["overrun"], m["read"], m["reader.id"],
            m["reader.read"]) == (0, 0, 0, 0, 0)
    assert m["meta_struct_len"] == 80 and m["subbuf_size"] == subbuf_kb * 1024
    assert m["meta_page_size"] == subbuf_kb * 1024        # 6.12: one sub-buffer
    assert inst.ioctl(fd, TRACE_MMAP_IOCTL_GET_READER) == 0
    assert meta(vma)["reader.id"] == 0
    markers(inst, 16)
    for _ in range(2):
        assert inst.ioctl(fd, TRACE_MMAP_IOCTL_GET_READER) == 0
        m = meta(vma)
        assert (m["entries"], m["overrun"], m["read"], m["reader.id"]) == (16, 0, 16, 1)
    if m["meta_page_size"] > 4096:
        rc, whole = inst.mmap(fd, m["meta_page_size"], 0)
        assert rc == 0
        rest = whole.read(80, m["meta_page_size"] - 80)
        assert rest == bytes(len(rest))


@pytest.mark.parametrize("subbuf_kb", [4, 8])
def test_data_mmap(subbuf_kb):
    inst = Instance(subbuf_size_kb=subbuf_kb)
    fd, vma = mapped(inst)
    m = meta(vma)
    sz, nr, mps = m["subbuf_size"], m["nr_subbufs"], m["meta_page_size"]
    assert inst.mmap(fd, sz * nr, mps)[0] == 0
    assert inst.mmap(fd, sz * (nr - 1), mps)[0] == 0
    assert inst.mmap(fd, sz * (nr - 1), mps + 2 * sz)[0] == EINVAL
    assert inst.mmap(fd, 4096, (nr + 2) * sz)[0] == EINVAL


def test_snapshot_excludes_map_and_is_excluded_by_map():
    inst = Instance()
    fd = inst.open(nonblock=True)
    assert inst.write_file("events/sched/sched_switch/trigger", "snapshot") == 0
    assert inst.mmap(fd, 4096, 0)[0] == EBUSY
    assert inst.write_file("events/sched/sched_switch/trigger", "!snapshot") == 0
    rc, vma = inst.mmap(fd, 4096, 0)
    assert rc == 0
    assert inst.write_file("events/sched/sched_switch/trigger", "snapshot") == EBUSY
    assert inst.write_file("snapshot", "1") == EBUSY
    assert inst.munmap(vma) == 0
    assert inst.write_file("snapshot", "1") == 0       # a one-shot swap holds nothing
    assert inst.mmap(fd, 4096, 0)[0] == 0


# ---------------------------------------------------------------------------
# the acceptance sequence and the v2 duplicate read
# ---------------------------------------------------------------------------

def test_acceptance_sequence_upstream():
    inst = Instance()
    fd = inst.open(nonblock=True)
    gr = inst.GET_READER
    want = []
    markers(inst, 10)
    rc, vma = inst.mmap(fd, 4096, 0)
    want.append(("map", 0, 0, 10, 0))
    got = [("map", *(meta(vma)[k] for k in ("reader.id", "reader.read", "entries",
                                            "read")))]

    def step(name):
        got.append((name, *(meta(vma)[k] for k in ("reader.id", "reader.read",
                                                    "entries", "read"))))

    assert inst.ioctl(fd, gr) == 0
    step("ioctl")
    want.append(("ioctl", 1, 320, 10, 10))        # the head page swapped in, consumed
    markers(inst, 5)
    step("meta")
    want.append(("meta", 1, 320, 10, 10))         # a snapshot: writes are invisible
    assert inst.ioctl(fd, gr) == 0
    step("ioctl")
    want.append(("ioctl", 1, 480, 15, 15))        # same page, 5 more consumed
    assert inst.munmap(vma) == 0
    rc, vma = inst.mmap(fd, 4096, 0)
    assert rc == 0
    step("map")
    want.append(("map", 0, 480, 15, 15))          # renumbered: the reader is 0 again
    assert inst.ioctl(fd, gr) == 0
    step("ioctl")
    want.append(("ioctl", 0, 480, 15, 15))        # nothing new: no change
    markers(inst, 3)
    assert inst.ioctl(fd, gr) == 0
    step("ioctl")
    want.append(("ioctl", 0, 576, 18, 18))
    assert got == want


def read_events(vma, sub_id, subbuf_size, start=0):
    data = vma.read(sub_id * subbuf_size, subbuf_size)
    page = ev.decode_page(data, start=start)
    return [e.payload[16:16 + 9] for e in page.data_events]


@pytest.mark.parametrize("abi", ["v2", "upstream"])
def test_duplicate_read_on_v2_only(abi):
    """The duplicate read: mapper A reads 10 events and exits, 10 more arrive on the same page,
    mapper B starts where the meta page tells it: v2 gives the first 10 again."""
    inst = Instance(abi=abi)
    fd = inst.open(nonblock=True)
    for i in range(10):
        inst.write_marker(f"a{i:08d}")

    def mapper():
        rc, mv = inst.mmap(fd, 4096, 0)
        if abi == "v2":
            hdr = V2Mapping.field
            size = mv.read(0, 24)
            meta_size = int.from_bytes(size[20:24], "little")
            rc, dv = inst.mmap(fd, 4096 * 6, meta_size)
            return mv, dv, meta_size
        m = meta(mv)
        rc, dv = inst.mmap(fd, m["subbuf_size"] * m["nr_subbufs"], m["meta_page_size"])
        return mv, dv, m["meta_page_size"]

    mv, dv, _ = mapper()
    assert inst.ioctl(fd, inst.GET_READER) == 0
    if abi == "v2":
        rid = int.from_bytes(mv.read(24, 4), "little")
        a_read = read_events(dv, rid, 4096)
    else:
        m = meta(mv)
        a_read = read_events(dv, m["reader.id"], 4096)
    assert len(a_read) == 10
    inst.munmap(dv)
    inst.munmap(mv)
    for i in range(10):
        inst.write_marker(f"b{i:08d}")
    mv, dv, _ = mapper()
    if abi == "v2":
        rid = int.from_bytes(mv.read(24, 4), "little")
        b_read = read_events(dv, rid, 4096)         # no read offset in v2's meta
    else:
        m = meta(mv)
        b_read = read_events(dv, m["reader.id"], 4096, start=m["reader.read"])
    dup = set(a_read) & set(b_read)
    if abi == "v2":
        assert len(b_read) == 20 and len(dup) == 10
    else:
        assert len(b_read) == 10 and not dup


# ---------------------------------------------------------------------------
# mmap check order, layouts, VMAs
# ---------------------------------------------------------------------------

def test_mmap_check_order():
    inst = Instance(subbuf_size_kb=8)
    ro = inst.open(nonblock=True)
    rw = inst.open(nonblock=True, rdwr=True)
    assert inst.mmap(ro, 4096, 100)[0] == EINVAL                   # 1 offset
    assert inst.mmap(ro, 4096, 0, PROT_READ | PROT_WRITE)[0] == EACCES   # 2 VFS
    inst.write_file("events/sched/sched_switch/trigger", "snapshot")
    assert inst.mmap(ro, 4096, 100)[0] == EINVAL
    assert inst.mmap(rw, 4096, 0, PROT_READ | PROT_WRITE)[0] == EBUSY  # 4 before 6
    inst.write_file("events/sched/sched_switch/trigger", "!snapshot")
    assert inst.mmap(rw, 4096, 0, PROT_READ | PROT_WRITE)[0] == EPERM  # 6
    assert inst.mmap(ro, 4096, 0, PROT_READ | PROT_EXEC)[0] == EPERM
    assert inst.mmap(ro, 4096, 0, PROT_READ, shared=False)[0] == EPERM
    assert inst.mmap(ro, 4096, 4096)[0] == EINVAL                  # 7 order 1
    assert inst.mmap(ro, 8192, 8192 * 7)[0] == EINVAL              # 8 past the end
    assert inst.cpu_buffer.user_mapped == 0 and inst.mapped == 0   # no state left
    assert inst.cpu_buffer.meta_page is None


def test_layout_6_10_puts_sub_buffers_after_one_page():
    inst = Instance(layout="6.10", subbuf_size_kb=8)
    fd, vma = mapped(inst)
    m = meta(vma)
    assert m["meta_page_size"] == 4096 and m["subbuf_size"] == 8192
    markers(inst, 3)
    inst.ioctl(fd, inst.GET_READER)
    m = meta(vma)
    rc, dv = inst.mmap(fd, 8192, 4096 + m["reader.id"] * 8192)
    assert rc == 0
    assert len(ev.decode_page(dv.read(0, 8192)).data_events) == 3
    assert inst.mmap(fd, 8192, 8192)[0] == EINVAL      # (pgoff - 1) % 2 != 0


def test_vma_cannot_be_split_written_or_grown():
    inst = Instance()
    fd, vma = mapped(inst)
    m = meta(vma)
    rc, dv = inst.mmap(fd, m["subbuf_size"] * m["nr_subbufs"], m["meta_page_size"])
    assert inst.munmap(dv, 0, 4096) == EINVAL
    assert inst.mprotect(vma, PROT_READ | PROT_WRITE) == EACCES
    assert inst.mprotect(dv, PROT_READ, 4096, 4096) == EINVAL
    assert inst.mremap(vma, 8192) == EFAULT
    with pytest.raises(VmaFault):
        vma.write(0, b"x")
    assert inst.cpu_buffer.user_mapped == 2
    assert inst.munmap(dv) == 0 and inst.munmap(vma) == 0
    assert inst.cpu_buffer.user_mapped == 0 and inst.cpu_buffer.mapped.value == 0
    with pytest.raises(VmaFault):
        vma.read(0, 8)


def test_fork_does_not_copy_and_dofork_copy_is_counted_but_not_in_tr_mapped():
    """6.12.117: the VMA ``open`` (ring_buffer_map_dup) counts the child's copy
    as a user mapping, but not in ``tr->mapped``: the last close underflows it
    (the WARN_ON of put_snapshot_map, reported in tracing_buffers_mmap_close)."""
    inst = Instance()
    fd, vma = mapped(inst)
    child = inst.fork()
    assert child.vmas == []
    assert inst.madvise_dofork(vma) == 0
    child = inst.fork()
    assert len(child.vmas) == 1 and inst.cpu_buffer.user_mapped == 2
    assert inst.mapped == 1                      # tr->mapped: not raised
    assert child.vmas[0].read(0, 80) == vma.read(0, 80)
    child.exit()
    assert inst.cpu_buffer.user_mapped == 1 and inst.kmsg() == []
    assert inst.mapped == 0
    inst.munmap(vma)
    assert inst.cpu_buffer.user_mapped == 0
    assert inst.kmsg_records() == [{"kind": "WARNING",
                                    "function": "tracing_buffers_mmap_close",
                                    "message": ""}]


def test_dofork_copy_is_not_counted_on_6_10():
    """6.10 has no VMA ``open``: the child's close unmaps the parent's mapping;
    the parent's close then fails (-ENODEV, WARN_ON) and underflows tr->mapped."""
    inst = Instance(layout="6.10")
    fd, vma = mapped(inst)
    assert inst.madvise_dofork(vma) == 0
    child = inst.fork()
    assert inst.cpu_buffer.user_mapped == 1
    child.exit()
    assert inst.cpu_buffer.user_mapped == 0 and inst.kmsg() == []
    inst.munmap(vma)
    assert inst.kmsg() == ["WARNING: tracing_buffers_mmap_close"] * 2


def test_v2_splits_vmas_and_counts_them():
    inst = Instance(abi="v2")
    fd = inst.open(nonblock=True)
    rc, dv = inst.mmap(fd, 6 * 4096 + 4096, 0)
    assert rc == 0
    assert inst.munmap(dv, 4096, 4096) == 0           # a hole: two VMAs remain
    assert len(inst.proc.vmas) == 2
    assert inst.cpu_buffer.mapped.value == 2
    assert inst.mremap(dv, 3 * 4096) == 0             # v2 allowed growing
    inst.proc.exit()
    assert inst.cpu_buffer.mapped.value == 0


# ---------------------------------------------------------------------------
# ioctl, read(), files
# ---------------------------------------------------------------------------

def test_ioctl_errors_and_blocking_wait():
    inst = Instance()
    nb = inst.open(nonblock=True)
    blk = inst.open()
    assert inst.ioctl(nb, TRACE_MMAP_IOCTL_GET_READER) == ENODEV
    assert inst.ioctl(blk, TRACE_MMAP_IOCTL_GET_READER) == EINTR   # waits first
    assert inst.ioctl(nb, 0) == 0
    assert inst.ioctl(nb, 0x5401) == ENOTTY
    rc, vma = inst.mmap(nb, 4096, 0)
    markers(inst, 3)
    assert inst.ioctl(blk, TRACE_MMAP_IOCTL_GET_READER) == EINTR   # below 50 %
    assert inst.write_file("buffer_percent", "0") == 0
    assert inst.ioctl(blk, TRACE_MMAP_IOCTL_GET_READER) == 0
    assert meta(vma)["read"] == 3


def test_read_returns_whole_sub_buffers():
    inst = Instance()
    fd = inst.open(nonblock=True)
    assert inst.read(fd, 4096) == (EAGAIN, b"")
    markers(inst, 4)
    rc, data = inst.read(fd, 4096)
    assert rc == 4096
    page = ev.decode_page(data)
    assert len(page.data_events) == 4 and page.size == 128
    assert inst.read(fd, 4096)[0] == EAGAIN
    markers(inst, 2)
    rc, head = inst.read(fd, 100)                     # a partial read
    rc2, tail = inst.read(fd, 4096)
    assert (rc, rc2) == (100, 3996)
    assert len(ev.decode_page(head + tail).data_events) == 2


def test_read_while_mapped_copies_and_counts():
    inst = Instance()
    fd, vma = mapped(inst)
    markers(inst, 4)
    rc, data = inst.read(fd, 4096)
    assert rc == 4096 and len(ev.decode_page(data).data_events) == 4
    assert meta(vma)["read"] == 0                     # meta not refreshed by read()
    inst.ioctl(fd, inst.GET_READER)
    assert meta(vma)["read"] == 4


@pytest.mark.parametrize("kb,subbuf,pages,reads", [(16, 4, 5, 19), (8, 4, 3, 11),
                                                   (32, 4, 9, 35), (32, 8, 5, 39)])
def test_buffer_size_kb_rounding(kb, subbuf, pages, reads):
    inst = Instance(subbuf_size_kb=4)
    assert inst.write_file("buffer_subbuf_size_kb", str(subbuf)) == 0
    assert inst.write_file("buffer_size_kb", str(kb)) == 0
    assert inst.cpu_buffer.nr_pages == pages
    assert inst.read_file("buffer_size_kb") == str(reads)
    assert inst.write_file("buffer_size_kb", "0") == EINVAL
    assert inst.write_file("buffer_subbuf_size_kb", "1024") == EINVAL   # > 128 pages


def test_refused_while_mapped_and_reset_refreshes_meta():
    inst = Instance()
    fd, vma = mapped(inst)
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "32") == EBUSY
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "16") == 0
    assert inst.write_file("buffer_subbuf_size_kb", "8") == EBUSY
    assert inst.write_file("buffer_subbuf_size_kb", "4") == 0
    markers(inst, 200)
    inst.ioctl(fd, inst.GET_READER)
    before = meta(vma)
    assert before["entries"] == 200 and before["read"] > 0
    ids = [p.id for p in inst.cpu_buffer.all_pages()]
    assert inst.write_file("trace", "") == 0
    after = meta(vma)
    assert (after["entries"], after["read"], after["overrun"], after["reader.read"]) == \
        (0, 0, 0, 0)
    assert sorted(p.id for p in inst.cpu_buffer.all_pages()) == sorted(ids)


def test_overwrite_shows_in_flags_and_overrun():
    inst = Instance(buffer_size_kb=8)                   # 3 pages
    fd, vma = mapped(inst)
    markers(inst, 127 * 5)                              # wraps: 2 pages lost
    inst.ioctl(fd, inst.GET_READER)
    m = meta(vma)
    assert m["overrun"] > 0 and m["reader.lost_events"] == 0
    assert m["entries"] == 635 and m["read"] + m["overrun"] <= 635
    rc, dv = inst.mmap(fd, m["subbuf_size"] * m["nr_subbufs"], m["meta_page_size"])
    page = ev.decode_page(dv.read(m["reader.id"] * 4096, 4096))
    assert page.missed_events
    assert page.lost == m["overrun"] or not page.missed_stored


# ---------------------------------------------------------------------------
# v2 specifics
# ---------------------------------------------------------------------------

def test_v2_meta_header_and_fls_rounding():
    inst = Instance(abi="v2", buffer_size_kb=3000 * 4080 // 1024 + 1)
    cb = inst.cpu_buffer
    assert cb.nr_pages == 3001
    fd = inst.open(nonblock=True)
    rc, vma = inst.mmap(fd, 8192, 0)
    assert rc == 0
    hdr = vma.read(0, 40)
    meta_page_size = int.from_bytes(hdr[20:24], "little")
    nr_data_pages = int.from_bytes(hdr[28:32], "little")
    # (3001 - 1014) IDs need 2 more pages, +1 = 3, fls(3) - 1 = 1: 2 pages only
    assert meta_page_size == 8192 and nr_data_pages == 3001
    assert any("data_pages[] is full" in w for w in inst.kmsg())
    listed = (8192 - 40) // 4
    assert int.from_bytes(vma.read(40 + 4 * (listed - 1), 4), "little") == listed


def test_v2_writer_side_meta_update_goes_backwards():
    """Meta counters backwards: the writer copies `entries` into the meta page; a nested writer between
    the outer writer's read and store leaves the meta value behind."""
    f = systems.writer_reader(abi="v2", reader=False, nested=True, size=40)

    def check(ex):
        cb = ex.system["cb"]
        got = V2Mapping.field(cb, "entries")
        if got != cb.entries.value:
            return f"meta entries {got} != entries {cb.entries.value}"
        return None

    res = explore_dpor(f, check=check)
    assert res.failure and "meta entries 1 != entries 2" in res.failure
    ex = replay(f, res.failing_schedule)
    assert check(ex) == res.failure


# ---------------------------------------------------------------------------
# the backing file, read from another OS process
# ---------------------------------------------------------------------------

READER = r"""
import mmap, struct, sys
path, rid = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    meta = mm[:80]
    mps, _, sz = struct.unpack_from("<III", meta, 0)
    page = mm[mps + rid * sz: mps + (rid + 1) * sz]
    sys.stdout.write(meta.hex() + " " + page.hex())
"""


def test_backing_file_is_readable_from_another_process(tmp_path):
    path = str(tmp_path / "rb.map")
    inst = Instance(backing=path)
    fd, vma = mapped(inst)
    markers(inst, 7)
    inst.ioctl(fd, inst.GET_READER)
    m = meta(vma)
    rc, dv = inst.mmap(fd, m["subbuf_size"] * m["nr_subbufs"], m["meta_page_size"])

    def other():
        out = subprocess.run([sys.executable, "-c", READER, path, str(m["reader.id"])],
                             capture_output=True, text=True, check=True).stdout
        a, b = out.split()
        return bytes.fromhex(a), bytes.fromhex(b)

    meta_bytes, page = other()
    assert meta_bytes == vma.read(0, 80)
    assert page == dv.read(m["reader.id"] * 4096, 4096)
    markers(inst, 2)                   # the writer appends to the mapped reader page
    _, page = other()
    assert len(ev.decode_page(page).data_events) == 9
    inst.munmap(dv)
    inst.munmap(vma)
    markers(inst, 1)                   # unmapped: the file no longer follows
    _, page = other()
    assert len(ev.decode_page(page).data_events) == 9


# ---------------------------------------------------------------------------
# found by rbmap fuzz against 6.12.117 (specs/scenarios/reset_head.scn,
# subbuf_max_event.scn, fork_closes_reader.scn)
# ---------------------------------------------------------------------------

def _reader_id_after_reset(inst):
    fd, vma = mapped(inst)
    assert inst.write_file("trace", "") == 0
    markers(inst, 1)
    assert inst.ioctl(fd, inst.GET_READER) == 0
    return meta(vma)["reader.id"]


@pytest.mark.parametrize("kw,head_id", [
    ({}, 2),                                   # 1.4 MB at mkdir, shrunk to 16 KiB
    ({"subbuf_size_kb": 8}, 2),                # order set first: still a shrink
    ({"buffer_size_kb": 2048}, 1),             # grown: rb_insert_pages
])
def test_reset_puts_the_head_where_cpu_buffer_pages_points(kw, head_id):
    """rb_reset_cpu makes ``cpu_buffer->pages`` the head page; the shrink from
    the instance's creation size left it on the page after the first head, so
    the first event after a reset lands on sub-buffer 2, not 1 (the IDs count
    from the head at map time)."""
    assert _reader_id_after_reset(Instance(**kw)) == head_id


@pytest.mark.parametrize("subbuf_kb", [4, 8, 16])
def test_a_larger_sub_buffer_takes_no_larger_event(subbuf_kb):
    """ring_buffer_subbuf_order_set keeps buffer->max_data_size (4072 bytes, set
    at allocation with order 0): a 4096-character marker is cut to 4054
    characters, one 4080-byte event, whatever the sub-buffer size."""
    inst = Instance()
    assert inst.write_file("buffer_subbuf_size_kb", str(subbuf_kb)) == 0
    fd = inst.open(nonblock=True)
    for _ in range(3):
        assert inst.write_marker("x" * 4096) == 4054
    rc, data = inst.read(fd, 1 << 20)
    assert rc == subbuf_kb << 10
    page = ev.decode_page(data)
    assert [e.length for e in page.data_events] == [4080] * min(3, subbuf_kb // 4)


def test_a_fork_childs_exit_ends_the_parents_raw_reads():
    """The child's exit closes its copies of the descriptors: flush() of
    trace_pipe_raw sets iter->closed on the shared open file, so the parent's
    read() of an empty buffer returns 0 from then on instead of -EAGAIN (or
    blocking); GET_READER and a fresh open are not affected."""
    inst = Instance()
    nb = inst.open(nonblock=True)
    blk = inst.open()
    assert inst.read(nb, 4096) == (EAGAIN, b"")
    assert inst.read(blk, 4096) == (EINTR, b"")
    inst.fork().exit()
    assert inst.read(nb, 4096) == (0, b"")
    assert inst.read(blk, 4096) == (0, b"")
    markers(inst, 2)
    rc, data = inst.read(nb, 4096)
    assert rc == 4096 and len(ev.decode_page(data).data_events) == 2
    assert inst.read(inst.open(nonblock=True), 4096) == (EAGAIN, b"")
    rc, vma = inst.mmap(nb, 4096, 0)
    assert rc == 0 and inst.ioctl(nb, TRACE_MMAP_IOCTL_GET_READER) == 0
