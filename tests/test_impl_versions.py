"""impl follows Linux 6.12.117; with ``layout="6.10"`` it follows 6.10 where the
code differs.  One test per difference (impl/README.md lists them)."""

import pytest

from rbmap.impl.event import RB_MISSED_EVENTS_BIT
from rbmap.impl.scenario import run_scenarios
from rbmap.impl.sched import run_plain
from rbmap.impl.tracefs import Instance

PAGE = 4096
EBUSY, EINVAL = -16, -22


def mapped(inst):
    fd = inst.open(nonblock=True)
    rc, meta = inst.mmap(fd, PAGE, 0)
    assert rc == 0
    return fd, meta


def warnings(inst):
    return [(r["kind"], r["function"], r["message"]) for r in inst.kmsg_records()]


def commit_page_with_lost_events(layout, *, tail_moved):
    """GET_READER swapping in the commit page while lost_events is set: a
    buffer with one partial page, and overrun raised behind the reader's back
    (as a writer overwriting pages would).  With *tail_moved* the tail is one
    page ahead of the commit page (a commit overrun)."""
    inst = Instance(layout=layout)
    fd, _ = mapped(inst)
    for _ in range(5):
        inst.write_marker(b"abcdefgh")
    cb = inst.cpu_buffer
    cb.overrun.value += 7
    if tail_moved:
        cb.tail_page.value = cb.tail_page.value.list_next.value[0]
    assert inst.ioctl(fd, inst.GET_READER) == 0
    return inst, cb


def test_commit_page_branch_6_12_117_warns_when_the_tail_is_on_the_reader_page():
    inst, cb = commit_page_with_lost_events("6.12", tail_moved=False)
    assert warnings(inst) == [("WARNING", "ring_buffer_map_get_reader",
                               "Reader on commit with 7 missed events")]
    # nothing is recorded in the page, the counter is cleared
    assert not cb.reader_page.value.page.commit() & RB_MISSED_EVENTS_BIT
    assert cb.lost_events == 0


def test_commit_page_branch_6_12_117_logs_a_commit_overrun_otherwise():
    inst, cb = commit_page_with_lost_events("6.12", tail_moved=True)
    ((kind, func, msg),) = warnings(inst)
    assert (kind, func) == ("info", "ring_buffer_map_get_reader")
    assert msg.startswith("Ring buffer [0] commit overrun lost 7 events at timestamp:")
    assert not cb.reader_page.value.page.commit() & RB_MISSED_EVENTS_BIT


@pytest.mark.parametrize("tail_moved", [False, True])
def test_commit_page_branch_6_10_warn_on_once(tail_moved):
    inst, _ = commit_page_with_lost_events("6.10", tail_moved=tail_moved)
    assert warnings(inst) == [("WARNING", "ring_buffer_map_get_reader", "")]


def test_warn_once_sites_warn_once_per_instance():
    inst, cb = commit_page_with_lost_events("6.12", tail_moved=False)
    for _ in range(3):
        inst.write_marker(b"x" * 8)
    cb.overrun.value += 1
    # the reader page is done: consume it, then swap the same way again
    fd = inst.open(nonblock=True)
    inst.ioctl(fd, inst.GET_READER)
    assert len(warnings(inst)) == 1


@pytest.mark.parametrize("layout,want", [("6.12", []),
                                         ("6.10", [("WARNING",
                                                    "ring_buffer_map_get_reader", "")])])
def test_no_reader_page(layout, want, monkeypatch):
    """rb_get_reader_page returning NULL: 6.10 WARN_ON(!reader), 6.12.117 stops
    quietly."""
    inst = Instance(layout=layout)
    fd, _ = mapped(inst)
    inst.write_marker(b"abcdefgh")
    cb = inst.cpu_buffer

    def none():
        return None
        yield  # pragma: no cover

    monkeypatch.setattr(cb, "rb_get_reader_page", none)
    assert inst.ioctl(fd, inst.GET_READER) == 0
    assert warnings(inst) == want


@pytest.mark.parametrize("layout,rc,user_mapped,warn", [
    ("6.12", EINVAL, 2, []),                                   # may_split refuses
    ("6.10", 0, 1, [("WARNING", "tracing_buffers_mmap_close", "")] * 2)])
def test_partial_munmap(layout, rc, user_mapped, warn):
    """6.12.117 refuses a split (tracing_buffers_may_split); 6.10 splits, the
    piece's close unmaps once more than was mapped."""
    inst = Instance(layout=layout)
    fd, meta = mapped(inst)
    r, data = inst.mmap(fd, 6 * PAGE, PAGE)
    assert r == 0
    assert inst.munmap(data, 0, PAGE) == rc
    assert inst.cpu_buffer.user_mapped == user_mapped
    if rc == 0:                      # the rest of the split data mapping
        assert inst.munmap(data, PAGE, 5 * PAGE) == 0
        assert inst.cpu_buffer.user_mapped == 0 and inst.cpu_buffer.meta_page is None
    else:
        assert inst.munmap(data) == 0
    assert inst.munmap(meta) == 0
    assert warnings(inst) == warn


@pytest.mark.parametrize("layout,resize_rc", [("6.12", 0), ("6.10", EBUSY)])
def test_failed_first_mmap_and_resize(layout, resize_rc):
    """6.10 leaves resize_disabled raised after a failed first mmap ("ring-buffer:
    Unlock resize on mmap error"); the sub-buffer order check of 6.10 looks at
    mapped only, so the order can still change."""
    inst = Instance(layout=layout)
    fd = inst.open(nonblock=True)
    rc, _ = inst.mmap(fd, PAGE, 100 * PAGE)          # past the end
    assert rc == EINVAL
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "32") == resize_rc
    assert inst.write_file("buffer_subbuf_size_kb", "8") == 0


@pytest.mark.parametrize("layout,warn", [
    ("6.12", []), ("6.10", [("WARNING", "__rb_map_vma", "")])])
def test_mmap_past_the_end(layout, warn):
    """6.10's __rb_map_vma computes total - pgoff unchecked: past the end it
    wraps and WARN_ON_ONCE(s >= nr_subbufs) refuses it; 6.12.117 checks first."""
    inst = Instance(layout=layout)
    fd = inst.open(nonblock=True)
    rc, _ = inst.mmap(fd, PAGE, 100 * PAGE)
    assert rc == EINVAL
    assert warnings(inst) == warn


def test_resize_then_map_after_the_tail_moved_onto_the_reader_page():
    """The crash: a read took the page being written (tail on the reader page),
    the ring grew, and the next first map found no head page (AttributeError in
    rb_setup_ids_meta_page).  Growth now splices pages in before the head page."""
    out = run_scenarios("scenario s\nopen nonblock\nmarkers 5\nread_raw 4096\n"
                        "buffer_size_kb 32\nmarkers 130\nmap\nioctl\nioctl\n")
    assert [o["rc"] for o in out] == [0, 0, 0, 4096, 0, 0, 0, 0, 0]
    assert out[6]["meta"]["nr_subbufs"] == 10
    assert out[8]["meta"]["read"] == out[8]["meta"]["entries"] == 135
    cb_pages = []
    inst = Instance()
    fd = inst.open(nonblock=True)
    for _ in range(5):
        inst.write_marker(b"abcdefgh")
    inst.read(fd, PAGE)
    cb = inst.cpu_buffer
    assert cb.tail_page.value is cb.reader_page.value
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "32") == 0
    ring = cb.ring_pages()
    cb_pages = [p for p in ring if p is not cb.reader_page.value]
    assert len(cb_pages) == cb.nr_pages == 9
    assert run_plain(cb.rb_set_head_page()) is cb.head_flag_page()


def test_shrink_moves_the_head_flag_and_counts_overrun():
    inst = Instance()
    for _ in range(700):
        inst.write_marker(b"abcdefgh")
    cb = inst.cpu_buffer
    before = cb.overrun.value
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "8") == 0
    assert cb.nr_pages == 3 and len(cb.ring_pages()) == 3
    assert cb.overrun.value - before == 2 * 127
    assert cb.head_flag_page() is cb.head_page
