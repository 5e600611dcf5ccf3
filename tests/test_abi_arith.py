"""The z3 encodings of model/arith.py against the plain-integer reference loops,
and z3's answers against brute force on small ranges."""

import tomllib
from pathlib import Path

import pytest
import z3
from hypothesis import given, settings, strategies as st

from rbmap.model import arith as A
from rbmap.model.layout import load_layout

SPECS = Path(__file__).resolve().parents[1] / "specs"
M64 = (1 << 64) - 1


def geometry(name):
    return A.geometry(load_layout(tomllib.loads((SPECS / f"{name}.toml").read_text())))


G_V2, G_INDEX, G_V3 = geometry("v2"), geometry("v2-data-index"), geometry("v3-read")


def test_geometries():
    assert (G_V2.header, G_V2.elem, G_V2.length) == (40, 4, "nr_pages")
    assert (G_INDEX.header, G_INDEX.elem) == (40, 8)
    assert (G_V3.header, G_V3.elem) == (40, 0)


def brute_force_gaps(area, g, hi):
    runs, start = [], None
    for n in range(1, hi + 2):
        small = n <= hi and A.meta_area_bytes(area, g, n) < g.header + g.elem * n
        if small and start is None:
            start = n
        if not small and start is not None:
            runs.append((start, n - 1))
            start = None
    return runs


@pytest.mark.parametrize("g", [G_V2, G_INDEX], ids=["v2", "v2-data-index"])
def test_sizing_gaps_match_brute_force(g):
    hi = 1 << 15
    assert A.sizing_gaps("seed_fls_order", g, hi) == brute_force_gaps("seed_fls_order", g, hi)


@pytest.mark.slow
@pytest.mark.parametrize("g", [G_V2, G_INDEX], ids=["v2", "v2-data-index"])
def test_sizing_gaps_match_brute_force_full_range(g):
    assert A.sizing_gaps("seed_fls_order", g) == \
        brute_force_gaps("seed_fls_order", g, A.NR_PAGES_MAX)


def test_seed_meta_order_follows_the_patch():
    # META_PAGE_MAX_PAGES = (4096 - 40) / 4 = 1014 entries fit in one page.
    assert A.seed_meta_order(1014, G_V2) == 0
    assert A.seed_meta_order(1015, G_V2) == 1       # pages = 2
    assert A.seed_meta_order(2038, G_V2) == 1       # 40 + 4 * 2038 = 8192
    assert A.seed_meta_order(2039, G_V2) == 1       # pages = 3, fls(3) - 1 = 1
    assert A.seed_meta_order(3063, G_V2) == 2       # pages = 4


# ------------------------------------------------ closed forms vs the loops


def _subst(term, values):
    return z3.simplify(z3.substitute(term, *[(v, z3.BitVecVal(x, v.size()))
                                             for v, x in values]))


def _insert_terms(layout, wrapping):
    n, order, pgoff, vma, p = (z3.BitVec(x, 64) for x in
                               ("nr_pages", "subbuf_order", "pgoff", "vma_pages", "page"))
    acc, kind, s, off, _ = A._z3_insert(layout, wrapping, n, order, pgoff, vma, p)
    packed = z3.Concat(z3.If(acc, z3.BitVecVal(1, 8), z3.BitVecVal(0, 8)),
                       z3.Extract(7, 0, kind), s, off)
    return (n, order, pgoff, vma, p), packed


TERMS = {(lay, w): _insert_terms(lay, w) for lay in ("page", "subbuf")
         for w in (False, True)}

pgoffs = st.one_of(st.integers(0, 40), st.integers(M64 - 3, M64),
                   st.integers(0, M64))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(layout=st.sampled_from(["page", "subbuf"]), wrapping=st.booleans(),
       n=st.integers(1, 6), order=st.integers(0, 3), pgoff=pgoffs,
       vma=st.integers(0, 40), p=st.integers(0, 39))
def test_insert_encoding_matches_the_kernel_loop(layout, wrapping, n, order, pgoff,
                                                 vma, p):
    names, packed = TERMS[(layout, wrapping)]
    v = _subst(packed, zip(names, (n, order, pgoff, vma, p))).as_long()
    acc, kind = v >> 136, (v >> 128) & 0xFF
    s, off = (v >> 64) & M64, v & M64
    ref = A.map_vma_pages(layout, n, order, pgoff, vma, wrapping, limit=p + 1)
    assert acc == (not isinstance(ref, int))
    if acc and p < vma:
        page = ref[p]
        assert kind == page[0]
        if kind == A.SUB:
            assert (s, off) == page[1:]


def test_kernel_loop_and_layout_agree_on_a_small_grid():
    # Brute force over the fixed validation: whatever it accepts lies in the
    # layout, page by page, and it accepts every range the layout offers.
    for layout in ("page", "subbuf"):
        for n in range(1, 4):
            for order in range(3):
                total = A.layout_total(layout, n, order)
                for pgoff in range(total + 3):
                    for vma in range(total + 3):
                        got = A.map_vma_pages(layout, n, order, pgoff, vma)
                        ok = A.layout_accepts(layout, n, order, pgoff, vma)
                        assert (not isinstance(got, int)) == ok
                        if ok:
                            assert got == [A.layout_page(layout, order, pgoff + i)
                                           for i in range(vma)]
                            assert all(pg[1] <= n for pg in got if pg[0] == A.SUB)


def minimal_wrapping_violation(layout):
    # Least (nr_pages, order, pgoff, page, vma_pages) whose page indexes
    # subbuf_ids past nr_subbufs, by brute force (the order z3 minimises in).
    for n in range(1, 4):
        for order in range(3):
            total = A.layout_total(layout, n, order)
            for pgoff in range(2 * total + 2):
                for p in range(4):
                    for vma in range(p + 1, p + 3):
                        got = A.map_vma_pages(layout, n, order, pgoff, vma, True,
                                              limit=p + 1)
                        if not isinstance(got, int) and got[p][0] == A.SUB \
                                and got[p][1] > n:
                            return {"nr_pages": n, "subbuf_order": order,
                                    "pgoff": pgoff, "page": p, "vma_pages": vma}
    return None


@pytest.mark.parametrize("layout", ["page", "subbuf"])
def test_z3_finds_the_overflow_brute_force_finds(layout):
    """Before "ring-buffer: Fix overflow in __rb_map_vma", total - pgoff wrapped
    for pgoff > total and the range was accepted (syzbot: pgoff 5, 2 pages)."""
    want = minimal_wrapping_violation(layout)
    assert want is not None
    mapping = A.Mapping((A.MappingConfig(layout, layout, "upstream_insert_wrapping"),))
    keep = ("translation_bounds", "validation_exact").__contains__
    checks = {c.name: c for c in A.mapping_checks(None, mapping, keep)}
    got = checks["translation_bounds"]
    assert got.status == "violated"
    assert {k: got.counterexample[k] for k in want} == want
    assert checks["validation_exact"].status == "violated"
    assert A.map_vma_pages(layout, 2, 0, 5, 1, wrapping=True) != -22
    assert A.map_vma_pages(layout, 2, 0, 5, 1) == -22


# ------------------------------------------------------ seed fault handler


@pytest.mark.parametrize("area,g", [("seed_fls_order", G_V2),
                                    ("seed_fls_order", G_INDEX), ("page", G_V3)],
                         ids=["v2", "v2-data-index", "v3-read"])
def test_seed_fault_encoding_matches_the_handler(area, g):
    n, pgoff = z3.BitVec("nr_pages", 64), z3.BitVec("pgoff", 64)
    meta_pages = z3.BitVecVal(1, 64) << A.z3_meta_order(area, g, n)
    idx = pgoff - meta_pages
    accepted = z3.Or(z3.ULT(pgoff, meta_pages), z3.ULE(idx, n))
    assigned = A._z3_ids_assigned(area, g, n)
    for nr in (1, 2, 1014, 1015, 1019, 1020, 1021, 2038, 2039, 2040, 3062, 3063):
        mp = A.meta_area_bytes(area, g, nr) // A.PAGE_SIZE
        ids = A._ids_assigned(area, g, nr)
        assert _subst(assigned, [(n, nr)]).as_long() == ids
        for off in sorted({0, 1, mp - 1, mp, mp + 1, mp + nr - 1, mp + nr,
                           mp + nr + 1, mp + nr + 2, M64}):
            ref = A.seed_fault(area, g, nr, off)
            acc = z3.is_true(_subst(accepted, [(n, nr), (pgoff, off)]))
            assert acc == (ref is not None)
            if ref and ref[0] == "page":
                assert ref[1] == off - mp and ref[2] == (off - mp < ids)


def test_fault_bounds_catch_planted_off_by_ones():
    cfg = A.MappingConfig("page", "page", "seed_fault")
    checks = lambda **kw: {c.name: c for c in A._seed_fault_checks(cfg, G_V3, "", **kw)}  # noqa: E731
    exact = checks()
    assert exact["translation_bounds"].status == "holds"
    assert exact["validation_exact"].status == "holds"
    # page_ids sized nr_pages (forgetting the reader page): index nr_pages is read
    short = checks(table=lambda n: n)["translation_bounds"]
    assert short.status == "violated"
    assert short.counterexample == {"nr_pages": 1, "pgoff": 2, "meta_pages": 1,
                                    "index": 1, "table": 1}
    # refusing only index > nr_pages + 1: one page past the table is served
    late = checks(refuse_above=lambda n: n + 1)
    assert late["translation_bounds"].counterexample["index"] == 2
    assert late["validation_exact"].status == "violated"


def test_head_move_reference_on_small_rings():
    for n in range(1, 13):
        for h in range(n):
            assert A.head_move(h, 1, n) == (0 if h + 1 == n else h + 1)
            for a in range(3 * n + 1):
                assert A.head_move(h, a, n) < n
                for b in range(0, 3 * n + 1, 3):
                    assert A.head_move(A.head_move(h, a, n), b, n) == \
                        A.head_move(h, a + b, n)
