"""The seed's memory handling on impl (specs/scenarios/seed_memory.scn), and its
unlocked fault handler against another mapping's unmap under the scheduler.

None of these was raised in the seed's review; each is checked on the seed's ABI
and on upstream's (the kernel recording of the same file holds upstream's side
to Linux 6.12.117)."""

from pathlib import Path

import pytest

from rbmap.impl.mapping import V2Mapping
from rbmap.impl.ringbuf import TraceBuffer
from rbmap.impl.scenario import run_scenarios
from rbmap.impl.sched import Task, explore_dfs, run_plain

SCN = Path(__file__).resolve().parent.parent / "specs" / "scenarios" / "seed_memory.scn"


def _by_scenario(abi):
    out = {}
    for o in run_scenarios(SCN, abi=abi):
        out.setdefault(o["scenario"], []).append(o)
    return out


@pytest.fixture(scope="module")
def v2():
    return _by_scenario("v2")


@pytest.fixture(scope="module")
def upstream():
    return _by_scenario("upstream")


def _tails(objs):
    return [o["tail"] for o in objs if o["op"] == "meta_tail"]


def _kmsg(objs):
    """The kernel log records of a run, in order (per step and at the end)."""
    return [f"{w['kind']}: {w['function']}" + (f": {w['message']}" if w["message"]
                                               else "")
            for o in objs for w in o.get("warn") or ()]


def test_v2_maps_uninitialised_meta_bytes(v2, upstream):
    # the seed: every byte after data_pages[] (5 IDs from byte 40) is not the
    # kernel's; upstream: the meta page is zeroed after the struct
    assert _tails(v2["meta_tail"]) == [{"from": 60, "bytes": 4036, "nonzero": 4036}] * 2
    assert _tails(upstream["meta_tail"]) == [{"from": 80, "bytes": 4016,
                                              "nonzero": 0}] * 2


def test_v2_sub_buffers_are_not_zeroed():
    from rbmap.impl.ringbuf import PAGE_POISON
    from rbmap.impl.tracefs import Instance
    for abi, expect in (("v2", True), ("upstream", False)):
        cb = Instance(abi=abi).cpu_buffer
        page = bytes(cb.reader_page.value.page.buf)
        assert page[8:16] == bytes(8)           # rb_init_page: commit = 0
        assert (page[16:] == bytes([PAGE_POISON]) * len(page[16:])) is expect


def test_v2_free_loop_leaves_the_last_page_id_mapped(v2, upstream):
    # IDs 4 and 5 were faulted in; only ID nr_pages (5) keeps page->mapping
    assert _kmsg(v2["free_loop"]) == [
        "BUG: bad_page: Bad page state: non-NULL mapping (freeing buffer.bp5, page ID 5)"]
    assert _kmsg(upstream["free_loop"]) == []


def test_v2_too_small_meta_area_breaks_the_unmap(v2, upstream):
    assert _kmsg(v2["meta_too_small"]) == [
        "WARNING: rb_setup_ids_meta_page: data_pages[] is full",
        "BUG: unmap_page: unable to handle page fault (virt_to_page(0): a page ID "
        "was never assigned)"]
    assert _kmsg(upstream["meta_too_small"]) == []


def test_v2_one_id_short_the_off_by_ones_cancel():
    # 2039 ring pages: ID 2039 is unassigned, and the free loop stops before it
    text = "scenario one_short\nbuffer_size_kb 8124\nopen nonblock\nmap\nunmap\nclose\n"
    objs = run_scenarios(text, abi="v2")
    assert _kmsg(objs) == ["WARNING: rb_setup_ids_meta_page: data_pages[] is full"]


# -- ring_buffer_map_fault (no lock) against another VMA's close ----------------

def _fault_vs_unmap(counted: bool, pgoff: int):
    """Two VMAs of one buffer: A's close, and B's fault then B's close. The seed's
    trace.c counts each VMA (vm_ops->open calls ring_buffer_map); ``counted=False``
    is a VMA nothing counted (a copy without the open callback)."""

    def factory():
        b = TraceBuffer(3)
        cb = b.buffers[0]
        m = V2Mapping()
        cb.mapping = m
        for _ in range(2 if counted else 1):
            assert run_plain(m.ring_buffer_map(cb)) == 0
        system = {"cb": cb, "m": m, "faults": []}

        def close_a(s):
            return (yield from s["m"].ring_buffer_unmap(s["cb"]))

        def fault_then_close_b(s):
            s["faults"].append((yield from s["m"].map_fault(s["cb"], pgoff)))
            return (yield from s["m"].ring_buffer_unmap(s["cb"]))

        return system, [Task("close_a", close_a), Task("b", fault_then_close_b)]

    def check(ex):
        bad = [f for f in ex.system["faults"] if f == "oops"]
        return f"the fault found freed tables: {bad}" if bad else None

    return explore_dfs(factory, check=check)


@pytest.mark.parametrize("pgoff", [0, 1, 3])   # the meta page, page IDs 0 and 2
def test_unlocked_fault_never_sees_freed_tables_while_vmas_are_counted(pgoff):
    r = _fault_vs_unmap(True, pgoff)
    assert r.failure is None and r.complete and r.schedules > 1


@pytest.mark.parametrize("pgoff", [0, 1])
def test_an_uncounted_vma_faults_on_freed_tables(pgoff):
    r = _fault_vs_unmap(False, pgoff)
    assert r.failure is not None and "freed tables" in r.failure
