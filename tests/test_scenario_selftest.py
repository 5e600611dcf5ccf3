"""The kernel selftest's behaviours (map_test.c) on impl, through the scenario file
specs/scenarios/selftest_map.scn; expected values computed from UPSTREAM.md §1-§3."""

import errno
from pathlib import Path

import pytest

pytest.importorskip("rbmap.impl.tracefs")

from rbmap.impl.scenario import load, run_parsed  # noqa: E402

SCN = Path(__file__).parents[1] / "specs" / "scenarios" / "selftest_map.scn"
PAGE = 4096


def geometry(subbuf_kb: int, buffer_kb: int = 16, layout: str = "6.12"):
    """(meta_page_size, subbuf_size, nr_subbufs, total pages) per UPSTREAM.md §1.2, §2."""
    subbuf = subbuf_kb * 1024
    nr_pages = max(2, -(-buffer_kb * 1024 // (subbuf - 16)))
    order = subbuf.bit_length() - 1 - 12
    if layout == "6.12":
        return subbuf, subbuf, nr_pages + 1, (nr_pages + 2) << order
    return PAGE, subbuf, nr_pages + 1, 1 + ((nr_pages + 1) << order)


def mmap_rc(length, offset, subbuf_kb, layout="6.12") -> int:
    """§1.3 checks 1, 7, 8 for a read-only shared mapping."""
    _, subbuf, _, total = geometry(subbuf_kb, layout=layout)
    order = subbuf.bit_length() - 1 - 12
    if offset % PAGE:
        return -errno.EINVAL
    pgoff = offset // PAGE
    if order:
        bad = pgoff % (1 << order) if layout == "6.12" else (pgoff < 1 or (pgoff - 1) % (1 << order))
        if bad:
            return -errno.EINVAL
    npages = -(-length // PAGE)
    if pgoff >= total or npages == 0 or npages > total - pgoff:
        return -errno.EINVAL
    return 0


@pytest.fixture(scope="module", params=["6.12", "6.10"])
def run(request):
    layout = request.param
    out = run_parsed(load(SCN), abi="upstream", layout=layout)
    by = {}
    for o in out:
        by.setdefault(o["scenario"], []).append(o)
    return layout, by


def test_meta_page_check(run):
    layout, by = run
    for kb in (4, 8):
        steps = [o for o in by[f"meta_page_check_{kb}k"] if o["op"] != "subbuf_size_kb"]
        ops = [o["op"] for o in steps]
        assert ops == ["scenario", "open", "map", "ioctl", "markers", "ioctl", "ioctl",
                       "unmap", "close"]
        assert all(o["rc"] == 0 for o in steps)
        meta_size, subbuf, nr, _ = geometry(kb, layout=layout)
        fresh = steps[2]["meta"]
        assert (fresh["meta_page_size"], fresh["subbuf_size"], fresh["nr_subbufs"],
                fresh["meta_struct_len"]) == (meta_size, subbuf, nr, 80)
        zero = {"entries": 0, "overrun": 0, "read": 0}
        assert {k: fresh[k] for k in zero} == zero
        assert fresh["reader"] == {"lost_events": 0, "id": 0, "read": 0}
        assert steps[3]["meta"]["reader"]["id"] == 0       # empty: nothing swapped
        for o in steps[5:7]:                               # the same twice
            m = o["meta"]
            assert (m["entries"], m["overrun"], m["read"]) == (16, 0, 16)
            assert m["reader"] == {"lost_events": 0, "id": 1, "read": 16 * 32}


def test_data_mmap(run):
    layout, by = run
    for kb in (4, 8):
        trys = [o for o in by[f"data_mmap_{kb}k"] if o["op"] == "trymap"]
        meta_size, subbuf, nr, _ = geometry(kb, layout=layout)
        if layout == "6.12":   # the file's offsets are written for the 6.12 layout
            assert [(int(o["args"][0]), int(o["args"][1])) for o in trys] == [
                (subbuf * nr, meta_size), (subbuf * (nr - 1), meta_size),
                (subbuf * (nr - 1), meta_size + 2 * subbuf), (subbuf, (nr + 2) * subbuf)]
        got = [o["rc"] for o in trys]
        want = [mmap_rc(int(o["args"][0]), int(o["args"][1]), kb, layout) for o in trys]
        assert got == want
        if layout == "6.12":
            assert got == [0, 0, -errno.EINVAL, -errno.EINVAL]


def test_snapshot_excluded_by_map(run):
    _, by = run
    rcs = [(o["op"], o["rc"]) for o in by["snapshot_excluded_by_map"]]
    assert rcs == [("scenario", 0), ("open", 0), ("map", 0), ("snapshot", -errno.EBUSY),
                   ("unmap", 0), ("snapshot", 0), ("close", 0)]
