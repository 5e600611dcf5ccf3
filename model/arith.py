"""The protocol's index and size arithmetic, as z3 terms, proved for all sizes.

Each check below encodes what the kernel code of a variant computes, in 64-bit
``unsigned long`` bit-vectors so that wrap-around is the C one, next to what the
layout promises, and asks :mod:`rbmap.checker.symbolic` whether they agree for every
buffer size up to :data:`NR_PAGES_MAX`, every sub-buffer order up to
:data:`SUBBUF_ORDER_MAX` and every mapping offset and length.  A refutation comes
back as a concrete assignment, which is then replayed on the plain-integer
reference functions of this module (written as loops, like the kernel code, not
as the closed forms the z3 encoding uses): a counterexample that does not replay is
a harness bug and raises.

The checks, per mapping configuration of a variant (``[mapping]``):

``meta_area_sizing``
    The meta area holds the header and its page-ID list for every ``nr_pages``.
    The seed's ``rb_alloc_meta_page`` rounds ``order = fls(pages) - 1`` *down*;
    the sizes where that is too small are listed as ranges.
``translation_bounds``
    Every page offset the mapping serves indexes the meta area or the ID table
    inside its size (``page_ids[nr_pages + 1]``, ``subbuf_ids[nr_subbufs]``).
``translation_target``
    The page served at each offset is the one the layout says: for the seed's
    fault handler, a page whose ID was assigned (``rb_setup_ids_meta_page`` stops
    assigning IDs when the list is full and ``kzalloc`` left the rest 0); for
    ``__rb_map_vma``, the meta page, the zero-page padding (6.12) or page ``off`` of
    sub-buffer ``s`` exactly where the layout puts them.
``validation_exact``
    The offset/length validation accepts exactly the ranges inside the layout
    that start on a sub-buffer boundary.
``user_offsets``
    Sub-buffer ``id`` read by user space at ``meta_page_size + id * subbuf_size``
    is the page the kernel put there.
``head_index_*``
    ``data_page_head = (head + num) % nr_pages`` (``rb_meta_page_head_move``) stays
    below ``nr_pages``, composes like walking the ring page by page, and the
    ``data_pages[data_page_head]`` slot ``rb_meta_page_head_swap`` writes lies inside
    the meta area.

Geometry (x86_64): ``PAGE_SIZE`` 4096.  ``nr_pages`` (ring pages, the reader page
not included) ranges over 1 .. 2**20 (4 GiB of 4 KiB pages per CPU; up there the
seed's meta area needs order 10, the largest ``alloc_pages`` serves on x86_64);
sub-buffer orders over 0 .. 7 (tracefs accepts 1..128 KiB, order <= 5); page offsets
and lengths over all 64-bit values.

Three devices keep the proofs in seconds, each sound on its own: the mmap claims
are proved once per sub-buffer order (shifts by a constant bit-blast cheaply); a
lemma proved first ("an accepted range lies below 2^30 pages") is then assumed by
the claims about accepted ranges; and the head-index claims are stated over
mathematical integers together with "no sum reaches 2^64, no result 2^32", which is
exactly when C's unsigned arithmetic and the integers agree.

``translate = "upstream_insert_wrapping"`` reproduces ``__rb_map_vma`` as released in
6.10-6.12 before "ring-buffer: Fix overflow in __rb_map_vma": z3 finds the syzbot
case (an offset past the end, e.g. nr_pages 1, pgoff 4, accepted because
``total - pgoff`` wraps, then ``subbuf_ids[3]`` of 2 read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import z3

from ..checker import symbolic as sym
from .layout import (KERNEL_ABI, CheckResult, Layout, Mapping, MappingConfig,
                     abi_checks, struct_layout)

__all__ = [
    "PAGE_SHIFT", "PAGE_SIZE", "NR_PAGES_MAX", "SUBBUF_ORDER_MAX", "Geometry",
    "geometry", "fls", "seed_meta_order", "meta_area_bytes", "seed_fault",
    "map_vma_pages", "layout_page", "layout_total", "layout_accepts", "head_move",
    "sizing_gaps", "mapping_checks", "all_checks", "TRANSLATION_CHECKS", "HEAD_CHECKS",
    "SEED_UNMAP_CHECKS",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
NR_PAGES_MAX = 1 << 20
SUBBUF_ORDER_MAX = 7
W = 64                       # unsigned long
MASK = (1 << W) - 1
WIDE = 66                    # exact for a sum of two 64-bit values (+ a shift by 1)
LEMMA_BITS = 30              # (2^20 + 2) << 7 pages < 2^28: accepted ranges fit
REPLAY_MAX = 1 << 20         # largest page index the reference loops replay
META, ZERO, SUB = 0, 1, 2    # kinds of page a mapping offset can show


# ------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Geometry:
    """What the arithmetic needs from the layout, in the kernel's ABI."""

    header: int          # bytes before the ID list (offsetof the trailing array)
    elem: int            # bytes per list entry (0: no list in the meta area)
    length: str          # "nr_pages" or "nr_subbufs": entries the list needs

    @property
    def has_list(self) -> bool:
        return self.elem > 0


def geometry(layout: Layout) -> Geometry:
    sl = struct_layout(layout, KERNEL_ABI)
    if sl.trailing is None:
        return Geometry(sl.size, 0, "nr_pages")
    return Geometry(sl.trailing.offset, sl.trailing.size, layout.trailing.length)


# ------------------------------------------------- reference (plain integers)


def fls(x: int) -> int:
    """Linux ``fls()``: 1-based index of the most significant set bit, 0 for 0."""
    return x.bit_length()


def seed_meta_order(nr_pages: int, g: Geometry) -> int:
    """``rb_alloc_meta_page`` of the seed, with the entry size of the layout's list
    (``sizeof(u32)`` in v2)."""
    max_entries = (PAGE_SIZE - g.header) // g.elem     # META_PAGE_MAX_PAGES
    order = 0
    if nr_pages > max_entries:
        per_page = PAGE_SIZE // g.elem
        pages = -(-(nr_pages - max_entries) // per_page)   # DIV_ROUND_UP
        pages += 1                                         # the meta page itself
        order = fls(pages) - 1
    return order


def meta_area_bytes(area: str, g: Geometry, nr_pages: int, order: int = 0) -> int:
    """Bytes of the meta area a variant allocates."""
    if area == "seed_fls_order":
        return PAGE_SIZE << seed_meta_order(nr_pages, g)
    if area == "page":
        return PAGE_SIZE
    if area == "subbuf":
        return PAGE_SIZE << order
    raise ValueError(area)


def _list_entries(g: Geometry, nr_pages: int) -> int:
    return nr_pages if g.length == "nr_pages" else nr_pages + 1


def _ids_assigned(area: str, g: Geometry, nr_pages: int) -> int:
    """How many of ``page_ids[0..nr_pages]`` ``rb_setup_ids_meta_page`` fills:
    the reader page gets ID 0, then one ID per ring page while the list has room
    (``if (id > data_page_end) { WARN_ON(1); break; }``)."""
    if not g.has_list:
        return nr_pages + 1
    data_page_end = (meta_area_bytes(area, g, nr_pages) - g.header) // g.elem
    ids, ident = 1, 1
    while ident <= nr_pages:          # do { ... } while (bpage != first_page)
        if g.length == "nr_pages":
            if ident > data_page_end:
                break
        elif ident + 1 > data_page_end:
            break
        ids += 1
        ident += 1
    return ids


def seed_fault(area: str, g: Geometry, nr_pages: int, pgoff: int):
    """``ring_buffer_map_fault``: ``("meta", i)``, ``("page", idx, assigned)`` or
    None (SIGBUS) for page offset ``pgoff``."""
    meta_pages = meta_area_bytes(area, g, nr_pages) // PAGE_SIZE
    if pgoff < meta_pages:
        return ("meta", pgoff)
    idx = (pgoff - meta_pages) & MASK
    if idx > nr_pages:
        return None
    return ("page", idx, idx < _ids_assigned(area, g, nr_pages))


def map_vma_pages(layout_name: str, nr_pages: int, order: int, pgoff: int,
                  vma_pages: int, wrapping: bool = False, limit: Optional[int] = None):
    """``__rb_map_vma`` of 6.10 (``"6.10"``/``"page"``) or 6.12
    (``"6.12"``/``"subbuf"``): a negative errno, or the list of pages it inserts,
    each ``(META,)``, ``(ZERO,)`` or ``(SUB, s, off)``.  ``wrapping`` leaves out the
    ``pgoff >= total`` check added by "ring-buffer: Fix overflow in __rb_map_vma".
    ``s`` may be out of the table: the caller checks ``s < nr_subbufs``.
    ``limit`` stops building the list after that many pages (the validation
    still uses the whole ``vma_pages``), for replaying huge lengths."""
    EINVAL = -22
    new = layout_name in ("6.12", "subbuf")
    subbuf_pages = 1 << order
    if new and order and pgoff % subbuf_pages:
        return EINVAL
    nr_subbufs = nr_pages + 1
    total = ((nr_subbufs + 1) << order) if new else ((nr_subbufs << order) + 1)
    if not wrapping and total <= pgoff:
        return EINVAL
    avail = (total - pgoff) & MASK
    if not vma_pages or vma_pages > avail:
        return EINVAL
    if limit is not None:
        vma_pages = min(vma_pages, limit)
    pages, p, s = [], 0, 0
    if pgoff == 0:
        pages.append((META,))
        p = 1
        if new:
            padding = subbuf_pages - 1
            while padding and p < vma_pages:
                padding -= 1
                pages.append((ZERO,))
                p += 1
    else:
        if new:
            pgoff -= subbuf_pages
        else:
            pgoff -= 1
            if pgoff % subbuf_pages:
                return EINVAL
        s += pgoff // subbuf_pages
    while p < vma_pages:
        off = 0
        while off < subbuf_pages:
            if p >= vma_pages:
                break
            pages.append((SUB, s, off))
            p += 1
            off += 1
        s += 1
    return pages


def layout_page(layout_name: str, order: int, q: int):
    """What the layout puts at page ``q`` of the mapping (no upper bound)."""
    if layout_name in ("6.12", "subbuf"):
        if q == 0:
            return (META,)
        if q < (1 << order):
            return (ZERO,)
        return (SUB, (q >> order) - 1, q & ((1 << order) - 1))
    if q == 0:
        return (META,)
    return (SUB, (q - 1) >> order, (q - 1) & ((1 << order) - 1))


def layout_total(layout_name: str, nr_pages: int, order: int) -> int:
    if layout_name in ("6.12", "subbuf"):
        return (nr_pages + 2) << order
    return ((nr_pages + 1) << order) + 1


def layout_accepts(layout_name: str, nr_pages: int, order: int, pgoff: int,
                   vma_pages: int) -> bool:
    """The ranges the layout offers: non-empty, inside it, starting on the meta
    page or on a sub-buffer boundary."""
    S = 1 << order
    if layout_name in ("6.12", "subbuf"):
        aligned = pgoff % S == 0
    else:
        aligned = pgoff == 0 or (pgoff - 1) % S == 0
    return (vma_pages >= 1 and aligned
            and pgoff + vma_pages <= layout_total(layout_name, nr_pages, order))


def head_move(head: int, num: int, nr_pages: int) -> int:
    """``rb_meta_page_head_move``: the new ``data_page_head`` (a __u32)."""
    return ((head + num) & MASK) % nr_pages & 0xFFFFFFFF


# ---------------------------------------------------------- z3 encodings


def _c(v: int, bits: int = W):
    return sym.const(v, bits)


def z3_fls(x):
    """Linux fls() of a bit-vector, as a term of the same width."""
    n = x.size()
    r = _c(0, n)
    for i in range(n):                 # the highest set bit wins: build upwards
        r = z3.If(z3.Extract(i, i, x) == 1, _c(i + 1, n), r)
    return r


def _div_round_up(a, b: int):
    return z3.UDiv(a + (b - 1), _c(b))


def z3_meta_order(area: str, g: Geometry, n):
    """The seed's meta_order as a 64-bit term.  ``pages`` and ``order`` are C
    ``int``s and fls() takes an ``unsigned int``: 32-bit, as in the kernel."""
    if area != "seed_fls_order":
        return _c(0)
    max_entries = (PAGE_SIZE - g.header) // g.elem
    pages = z3.Extract(31, 0, _div_round_up(n - max_entries, PAGE_SIZE // g.elem)) + 1
    order = z3.SignExt(32, z3_fls(pages) - 1)
    return z3.If(z3.UGT(n, max_entries), order, _c(0))


def z3_area_bytes(area: str, g: Geometry, n, order):
    if area == "seed_fls_order":
        return _c(PAGE_SIZE) << z3_meta_order(area, g, n)
    if area == "page":
        return _c(PAGE_SIZE)
    return _c(PAGE_SIZE) << order


def _z3_list_entries(g: Geometry, n):
    return n if g.length == "nr_pages" else n + 1


def _z3_ids_assigned(area: str, g: Geometry, n):
    if not g.has_list:
        return n + 1
    cap = z3.UDiv(z3_area_bytes(area, g, n, None) - g.header, _c(g.elem))
    fit = cap + 1 if g.length == "nr_pages" else cap
    return z3.If(z3.ULE(_z3_list_entries(g, n), cap), n + 1, fit)


def _vars(*names):
    return [sym.bv(x) for x in names]


def _n_range(n):
    return sym.in_range(n, 1, NR_PAGES_MAX)


def _result(name: str, r, holds_detail: str, fail_detail: Callable[[dict], str],
            replay: Optional[Callable[[dict], Optional[bool]]] = None) -> CheckResult:
    if isinstance(r, sym.Proved):
        return CheckResult(name, "holds", None, holds_detail)
    if isinstance(r, sym.Unknown):
        return CheckResult(name, "unknown", None, f"z3 gave up: {r.reason}")
    cex = r.counterexample
    # replay() is None when the counterexample is too large to replay by loops.
    if replay is not None and replay(cex) is False:
        raise AssertionError(f"{name}: z3 counterexample {cex} does not replay on the "
                             "reference functions (encoding bug)")
    return CheckResult(name, "violated", cex, fail_detail(cex))


# ---------------------------------------------------------------- sizing


def sizing_gaps(area: str, g: Geometry, hi: int = NR_PAGES_MAX):
    """The runs of ``nr_pages`` in ``1..hi`` whose meta area (which depends on
    nr_pages only) is smaller than header + list, found by z3."""
    n = sym.bv("nr_pages")
    need = _c(g.header) + _c(g.elem) * _z3_list_entries(g, n)
    too_small = z3.ULT(z3_area_bytes(area, g, n, None), need)
    runs, complete = sym.value_ranges(too_small, n, 1, hi)
    if not complete:
        raise AssertionError("sizing_gaps: run limit hit")
    return runs


def _needed(g: Geometry, nr_pages: int) -> int:
    return g.header + g.elem * _list_entries(g, nr_pages)


def _check_sizing(cfg: MappingConfig, g: Geometry, name: str) -> CheckResult:
    what = (f"the {g.header}-byte header + {g.elem} bytes per "
            f"{'ring page' if g.length == 'nr_pages' else 'sub-buffer'}"
            if g.has_list else f"the {g.header}-byte struct")
    scope = f"nr_pages 1..{NR_PAGES_MAX}"
    if cfg.meta_area == "seed_fls_order":
        runs = sizing_gaps(cfg.meta_area, g)
        if not runs:
            return CheckResult(name, "holds", None,
                               f"2^order pages hold {what} for {scope}")
        first = runs[0][0]
        order = seed_meta_order(first, g)
        area = meta_area_bytes(cfg.meta_area, g, first)
        if area >= _needed(g, first):
            raise AssertionError("sizing_gaps: z3 run does not replay")
        shown = ", ".join(f"{a}..{b}" for a, b in runs)
        total = sum(b - a + 1 for a, b in runs)
        return CheckResult(
            name, "violated",
            {"nr_pages": first, "meta_order": order, "area_bytes": area,
             "needed_bytes": _needed(g, first)},
            f"order = fls(pages) - 1 rounds down: the meta area is smaller than "
            f"{what} for nr_pages {shown} ({total} sizes in {scope}); e.g. nr_pages "
            f"{first}: order {order} = {area} bytes < {_needed(g, first)}",
            {"ranges": [list(r) for r in runs]})
    n, order = _vars("nr_pages", "subbuf_order")
    area = z3_area_bytes(cfg.meta_area, g, n, order)
    need = _c(g.header) + _c(g.elem) * _z3_list_entries(g, n)
    r = sym.prove(z3.UGE(area, need),
                  assumptions=[_n_range(n), z3.ULE(order, SUBBUF_ORDER_MAX)],
                  variables=[n, order], minimize=[n, order], name=name)
    return _result(
        name, r, f"{'one page' if cfg.meta_area == 'page' else 'one sub-buffer'} "
                 f"holds {what} for {scope}, orders 0..{SUBBUF_ORDER_MAX}",
        lambda c: f"meta area too small for nr_pages {c['nr_pages']}, order "
                  f"{c['subbuf_order']}",
        lambda c: meta_area_bytes(cfg.meta_area, g, c["nr_pages"], c["subbuf_order"])
        < _needed(g, c["nr_pages"]))


# -------------------------------------------------- seed: ring_buffer_map_fault


def _page_ids_entries(n):
    return n + 1        # kzalloc(sizeof(*page_ids) * (nr_pages + 1))


def _refuse_above(n):
    return n            # if (pgoff > cpu_buffer->nr_pages) return NULL;


def _seed_fault_checks(cfg: MappingConfig, g: Geometry, sfx: str,
                       table=_page_ids_entries, refuse_above=_refuse_above) -> list:
    """The checks of ``ring_buffer_map_fault``.  ``table(nr_pages)`` is how many
    ``page_ids`` entries ``ring_buffer_map`` allocates and the handler refuses
    ``index > refuse_above(nr_pages)``; tests change them to plant off-by-ones
    (the reference functions then no longer apply, so nothing is replayed)."""
    planted = table is not _page_ids_entries or refuse_above is not _refuse_above

    def result(name, r, holds, fail, replay):
        return _result(name, r, holds, fail, None if planted else replay)

    n, pgoff, ident = _vars("nr_pages", "pgoff", "id")
    area = cfg.meta_area
    mo = z3_meta_order(area, g, n)
    meta_pages = _c(1) << mo
    is_meta = z3.ULT(pgoff, meta_pages)
    idx = pgoff - meta_pages
    is_data = z3.And(z3.Not(is_meta), z3.ULE(idx, refuse_above(n)))
    accepted = z3.Or(is_meta, is_data)
    base = [_n_range(n)]
    cexvars = [n, pgoff, ("meta_pages", meta_pages), ("index", idx)]
    out = []

    name = "translation_bounds" + sfx
    claim = z3.And(z3.Implies(is_meta, z3.ULT(pgoff << PAGE_SHIFT,
                                              z3_area_bytes(area, g, n, None))),
                   z3.Implies(is_data, z3.ULT(idx, table(n))))
    r = sym.prove(claim, assumptions=base, variables=cexvars + [("table", table(n))],
                  minimize=[n, pgoff], name=name)
    out.append(result(
        name, r, "every faulting pgoff < 2^meta_order is inside the meta area and every "
                 "other accepted one indexes page_ids[0..nr_pages] (nr_pages + 1 "
                 "entries): the '> nr_pages' refusal is exact",
        lambda c: f"pgoff {c['pgoff']} reads page_ids[{c['index']}] past its "
                  f"{c['table']} entries",
        lambda c: c["index"] >= c["table"]))

    name = "translation_target" + sfx
    assigned = _z3_ids_assigned(area, g, n)
    r = sym.prove(z3.Implies(is_data, z3.ULT(idx, assigned)), assumptions=base,
                  variables=cexvars + [("ids_assigned", assigned)],
                  minimize=[n, pgoff], name=name)
    out.append(result(
        name, r, "every accepted data pgoff maps a page whose ID rb_setup_ids_meta_page "
                 "assigned",
        lambda c: (f"nr_pages {c['nr_pages']}: the ID list stops at "
                   f"{c['ids_assigned']} IDs (WARN_ON, break), so page_ids"
                   f"[{c['index']}] stays 0 from kzalloc and a fault at pgoff "
                   f"{c['pgoff']} maps virt_to_page(0) instead of a buffer page"),
        lambda c: seed_fault(area, g, c["nr_pages"], c["pgoff"])[2] is False))

    name = "validation_exact" + sfx
    total = meta_pages + n + 1
    r = sym.prove(accepted == z3.ULT(pgoff, total), assumptions=base,
                  variables=cexvars, minimize=[n, pgoff], name=name)
    out.append(result(
        name, r, "the fault handler serves exactly pgoff < 2^meta_order + nr_pages + 1 "
                 "(meta area, reader page, ring) and SIGBUSes the rest",
        lambda c: f"pgoff {c['pgoff']} with nr_pages {c['nr_pages']} is "
                  "misclassified",
        lambda c: (seed_fault(area, g, c["nr_pages"], c["pgoff"]) is not None)
        != (c["pgoff"] < c["meta_pages"] + c["nr_pages"] + 1)))

    name = "user_offsets" + sfx
    # User space maps data at meta_page_size and finds ID k at page k after it.
    meta_page_size = z3_area_bytes(area, g, n, None)
    user_pgoff = z3.LShR(meta_page_size, PAGE_SHIFT) + ident
    r = sym.prove(z3.And(z3.Not(z3.ULT(user_pgoff, meta_pages)),
                         z3.ULE(user_pgoff - meta_pages, n),
                         user_pgoff - meta_pages == ident),
                  assumptions=base + [z3.ULE(ident, n)],
                  variables=[n, ident], minimize=[n, ident], name=name)
    out.append(result(
        name, r, "page ID k read at meta_page_size + k * PAGE_SIZE is page_ids[k] "
                 "for every k <= nr_pages",
        lambda c: f"ID {c['id']} with nr_pages {c['nr_pages']} lands elsewhere",
        lambda c: seed_fault(area, g, c["nr_pages"],
                             meta_area_bytes(area, g, c["nr_pages"]) // PAGE_SIZE
                             + c["id"]) != ("page", c["id"], True)))
    return out


# ----------------------------------------------- upstream: __rb_map_vma


def _z3_insert(layout_name: str, wrapping: bool, n, order, pgoff, vma_pages, p):
    """(accepted, kind, s, off) of page ``p`` of the VMA, in closed form."""
    new = layout_name == "subbuf"
    S = _c(1) << order
    mask = S - 1
    ns = n + 1
    if new:
        total = (ns + 1) << order
        align_bad = z3.And(order != 0, (pgoff & mask) != 0)
    else:
        total = (ns << order) + 1
        align_bad = z3.And(pgoff != 0, ((pgoff - 1) & mask) != 0)
    avail = total - pgoff                                  # wraps when pgoff > total
    refused = [align_bad, vma_pages == 0, z3.UGT(vma_pages, avail)]
    if not wrapping:
        refused.append(z3.ULE(total, pgoff))
    accepted = z3.Not(z3.Or(*refused))
    if new:
        s0 = z3.LShR(pgoff - S, order)
        kind = z3.If(pgoff == 0,
                     z3.If(p == 0, _c(META), z3.If(z3.ULT(p, S), _c(ZERO), _c(SUB))),
                     _c(SUB))
        s = z3.If(pgoff == 0, z3.LShR(p - S, order), s0 + z3.LShR(p, order))
        off = z3.If(pgoff == 0, (p - S) & mask, p & mask)
    else:
        s0 = z3.LShR(pgoff - 1, order)
        kind = z3.If(z3.And(pgoff == 0, p == 0), _c(META), _c(SUB))
        s = z3.If(pgoff == 0, z3.LShR(p - 1, order), s0 + z3.LShR(p, order))
        off = z3.If(pgoff == 0, (p - 1) & mask, p & mask)
    return accepted, kind, s, off, total


def _z3_layout(layout_name: str, n, order, pgoff, vma_pages, p, width: int = WIDE):
    """The layout's page at q = pgoff + p and whether [pgoff, pgoff + vma_pages)
    is a range the layout offers, in exact arithmetic: ``width`` bits, WIDE by
    default (no sum of two 64-bit values wraps); 64 only where the values are
    known to be small."""
    def wide(x):
        return z3.ZeroExt(width - W, x) if width > W else x
    ow = wide(order)
    S = z3.BitVecVal(1, width) << ow
    mask = S - 1
    q = wide(pgoff) + wide(p)
    ns = wide(n) + 1
    if layout_name == "subbuf":
        total = (ns + 1) << ow
        aligned = (wide(pgoff) & mask) == 0
        kind = z3.If(q == 0, _c(META, width), z3.If(z3.ULT(q, S), _c(ZERO, width),
                                                     _c(SUB, width)))
        s = z3.LShR(q, ow) - 1
        off = q & mask
    else:
        total = (ns << ow) + 1
        aligned = z3.Or(pgoff == 0, ((wide(pgoff) - 1) & mask) == 0)
        kind = z3.If(q == 0, _c(META, width), _c(SUB, width))
        s = z3.LShR(q - 1, ow)
        off = (q - 1) & mask
    ok = z3.And(vma_pages != 0, aligned, z3.ULE(wide(pgoff) + wide(vma_pages), total))
    return ok, kind, s, off, total


def _insert_checks(cfg: MappingConfig, sfx: str, wanted=None) -> list:
    """The translation checks of __rb_map_vma; ``wanted`` (names) limits which
    are proved."""
    wrapping = cfg.translate == "upstream_insert_wrapping"
    lname = cfg.meta_area
    n, order, pgoff, vma_pages, p = _vars("nr_pages", "subbuf_order", "pgoff",
                                          "vma_pages", "page")
    acc, kind, s, off, total = _z3_insert(lname, wrapping, n, order, pgoff,
                                          vma_pages, p)
    ok = _z3_layout(lname, n, order, pgoff, vma_pages, p)[0]
    base = [_n_range(n), z3.ULE(order, SUBBUF_ORDER_MAX)]
    orders = (order, range(SUBBUF_ORDER_MAX + 1))
    inside = [acc, z3.ULT(p, vma_pages)]
    # A lemma first (for the claims about accepted ranges): whatever the
    # validation accepts stays below 2^LEMMA_BITS pages.  Once proved it is a
    # sound extra assumption that lets the solver drop the high bits.  (When it
    # fails, e.g. with the wrapping check, the claims run without it.)
    small_vals = [z3.ULT(x, 1 << LEMMA_BITS) for x in (pgoff, vma_pages, p)]
    need = {"translation_bounds" + sfx, "translation_target" + sfx}
    lemma = ((wanted is None or bool(need & set(wanted)))
             and isinstance(sym.prove(z3.And(*small_vals), assumptions=base + inside,
                                      split=orders), sym.Proved))
    if lemma:
        inside = inside + small_vals
    shown = [n, order, pgoff, vma_pages, p, ("total", total), ("s", s)]
    small = [n, order, pgoff, p, vma_pages]
    scope = (f"nr_pages 1..{NR_PAGES_MAX}, orders 0..{SUBBUF_ORDER_MAX}, all 64-bit "
             "offsets and lengths")

    def inserted(c):
        """The page the kernel inserts at index ``page`` (an errno if refused)."""
        got = map_vma_pages(lname, c["nr_pages"], c["subbuf_order"], c["pgoff"],
                            c["vma_pages"], wrapping, limit=c["page"] + 1)
        return got if isinstance(got, int) else got[c["page"]]

    def accepted(c):
        return not isinstance(map_vma_pages(lname, c["nr_pages"], c["subbuf_order"],
                                            c["pgoff"], c["vma_pages"], wrapping,
                                            limit=0), int)

    def bounds():
        name = "translation_bounds" + sfx
        r = sym.prove(z3.Implies(kind == SUB, z3.And(z3.ULT(s, n + 1),
                                                     z3.ULT(off, _c(1) << order))),
                      assumptions=base + inside, variables=shown, minimize=small,
                      name=name, split=orders)
        return _result(
            name, r, f"every inserted page is the meta page, a zero page or page off "
                     f"< 2^order of subbuf_ids[s] with s < nr_subbufs ({scope})",
            lambda c: (f"mmap(pgoff {c['pgoff']}, {c['vma_pages']} pages) is accepted "
                       "with "
                       f"nr_pages {c['nr_pages']}, order {c['subbuf_order']} (total "
                       f"{c['total']} pages) and page {c['page']} reads subbuf_ids"
                       f"[{c['s']}] of {c['nr_pages'] + 1}"),
            lambda c: None if c["page"] > REPLAY_MAX else (
                lambda pg: isinstance(pg, tuple) and pg[0] == SUB
                and pg[1] > c["nr_pages"])(inserted(c)))

    def target():
        name = "translation_target" + sfx
        # With the lemma every value is below 2^31: 64-bit layout arithmetic is
        # exact.
        tw = W if lemma else WIDE

        def ext(x):
            return z3.ZeroExt(tw - W, x) if tw > W else x
        _, tkind, ts, toff, ttotal = _z3_layout(lname, n, order, pgoff, vma_pages, p,
                                                tw)
        q = ext(pgoff) + ext(p)
        same = z3.And(z3.ULT(q, ttotal), ext(kind) == tkind,
                      z3.Implies(kind == SUB, z3.And(ext(s) == ts, ext(off) == toff)))
        r = sym.prove(same, assumptions=base + inside, variables=shown, minimize=small,
                      name=name, split=orders)
        return _result(
            name, r, "each inserted page is the one the layout puts at pgoff + page "
                     f"({'meta, zero-page padding, ' if lname == 'subbuf' else 'meta, '}"
                     "sub-buffer k at its offset)",
            lambda c: (f"mmap(pgoff {c['pgoff']}, {c['vma_pages']} pages), nr_pages "
                       f"{c['nr_pages']}, order {c['subbuf_order']}: page {c['page']} is "
                       f"not what the layout has at {c['pgoff'] + c['page']} (total "
                       f"{c['total']} pages)"),
            lambda c: None if c["page"] > REPLAY_MAX else (
                c["pgoff"] + c["page"] >= layout_total(lname, c["nr_pages"],
                                                       c["subbuf_order"])
                or inserted(c) != layout_page(lname, c["subbuf_order"],
                                              c["pgoff"] + c["page"])))

    def exact():
        name = "validation_exact" + sfx
        r = sym.prove(acc == ok, assumptions=base,
                      variables=[n, order, pgoff, vma_pages, ("total", total)],
                      minimize=[n, order, pgoff, vma_pages], name=name, split=orders)
        rule = ("(pgoff - 1) % 2^order == 0 or pgoff == 0" if lname == "page"
                else "pgoff % 2^order == 0")
        return _result(
            name, r, f"mmap accepts exactly length >= 1, pgoff + length <= total and "
                     f"{rule}",
            lambda c: (f"mmap(pgoff {c['pgoff']}, {c['vma_pages']} pages) with nr_pages "
                       f"{c['nr_pages']}, order {c['subbuf_order']} (total {c['total']} "
                       "pages) is " + ("accepted although it is outside the layout"
                                       if accepted(c) else "refused although the layout "
                                       "offers it")),
            lambda c: accepted(c) != layout_accepts(lname, c["nr_pages"],
                                                    c["subbuf_order"], c["pgoff"],
                                                    c["vma_pages"]))

    def user():
        name = "user_offsets" + sfx
        ident, j = _vars("id", "page_in_subbuf")
        subbuf_size = _c(PAGE_SIZE) << order
        meta_page_size = _c(PAGE_SIZE) if lname == "page" else subbuf_size
        user_pg = z3.LShR(meta_page_size + ident * subbuf_size, PAGE_SHIFT) + j
        # Two ways user space maps: everything from 0, or the data from meta_page_size.
        start = sym.bv("map_from")
        from_pg = z3.If(start == 0, _c(0), z3.LShR(meta_page_size, PAGE_SHIFT))
        acc2, kind2, s2, off2, _ = _z3_insert(lname, wrapping, n, order, from_pg,
                                                   total - from_pg, user_pg - from_pg)
        r = sym.prove(z3.And(acc2, kind2 == SUB, s2 == ident, off2 == j),
                      assumptions=base + [z3.ULT(ident, n + 1), z3.ULT(j, _c(1) << order),
                                          z3.ULE(start, 1)],
                      variables=[n, order, ident, j, start], minimize=[n, order, ident, j],
                      name=name, split=orders)
        return _result(
            name, r, "sub-buffer id read at meta_page_size + id * subbuf_size is "
                     "subbuf_ids[id] (whole mapping from 0, or data from meta_page_size)",
            lambda c: f"sub-buffer {c['id']} (nr_pages {c['nr_pages']}, order "
                      f"{c['subbuf_order']}) is not where user space looks",
            lambda c: None if (c["id"] + 2) << c["subbuf_order"] > REPLAY_MAX else (
                _user_page(lname, wrapping, c) != (SUB, c["id"], c["page_in_subbuf"])))

    checks = (("translation_bounds", bounds), ("translation_target", target),
              ("validation_exact", exact), ("user_offsets", user))
    return [f() for nm, f in checks if wanted is None or nm + sfx in wanted]


def _user_page(lname: str, wrapping: bool, c: dict):
    """Replay of user_offsets: what the kernel inserts where user space reads
    sub-buffer ``id``."""
    order, n = c["subbuf_order"], c["nr_pages"]
    subbuf_size = PAGE_SIZE << order
    meta_page_size = PAGE_SIZE if lname == "page" else subbuf_size
    user_pg = (meta_page_size + c["id"] * subbuf_size) // PAGE_SIZE + c["page_in_subbuf"]
    from_pg = 0 if c["map_from"] == 0 else meta_page_size // PAGE_SIZE
    total = layout_total(lname, n, order)
    got = map_vma_pages(lname, n, order, from_pg, total - from_pg, wrapping,
                        limit=user_pg - from_pg + 1)
    return got if isinstance(got, int) else got[user_pg - from_pg]


# ---------------------------------------------------------- head index


def _head_checks(layout: Layout, mapping: Mapping, g: Geometry) -> list:
    names = HEAD_CHECKS
    if mapping.head_index is None:
        return [CheckResult(x, "n/a", None, "the variant keeps no head index")
                for x in names]
    cfg = mapping.configs[0]
    hname, tname = mapping.head_index, layout.trailing.name
    # The kernel computes (head_id + num) % nr_pages in unsigned long and stores
    # it in a __u32.  The claims are stated over mathematical integers, together
    # with "the sum stays below 2^64 and the result below 2^32": with those, C's
    # unsigned arithmetic and the integers agree, so the proof covers the C code
    # (bit-blasting three 64-bit remainders instead is beyond z3 in a minute).
    n, h, k, a, b = (sym.integer(x) for x in ("nr_pages", hname, "num", "a", "b"))

    def move(head, num):
        return (head + num) % n

    def fits(head, num):
        return z3.And(head + num <= MASK, move(head, num) <= 0xFFFFFFFF)

    base = [n >= 1, n <= NR_PAGES_MAX, h >= 0, h < n]
    walk = lambda x: z3.And(x >= 0, x <= 3 * n)   # rb_set_head_page: <= 3 loops
    out = []
    r = sym.prove(z3.And(fits(h, k), move(h, k) < n), assumptions=base + [walk(k)],
                  variables=[n, h, k], minimize=[n, h, k], name=names[0])
    out.append(_result(
        names[0], r, f"({hname} + num) % nr_pages < nr_pages for {hname} < nr_pages, "
                     "num <= 3 * nr_pages (the head lookup walks the ring at most 3 "
                     "times), without wrap-around",
        lambda c: f"{hname} {c[hname]} + {c['num']} leaves the ring of {c['nr_pages']}",
        lambda c: head_move(c[hname], c["num"], c["nr_pages"]) >= c["nr_pages"]))

    step = move(h, 1) == z3.If(h + 1 == n, 0, h + 1)
    compose = move(move(h, a), b) == move(h, a + b)
    r = sym.prove(z3.And(fits(h, a + b), fits(move(h, a), b), step, compose),
                  assumptions=base + [walk(a), walk(b)],
                  variables=[n, h, a, b], minimize=[n, h, a, b], name=names[1])
    out.append(_result(
        names[1], r, "moving by 1 is one rb_inc_page (wrapping at nr_pages) and moving "
                     "by a then b equals moving by a + b",
        lambda c: f"moves by {c['a']} and {c['b']} from {c[hname]} in a ring of "
                  f"{c['nr_pages']} disagree",
        lambda c: head_move(head_move(c[hname], c["a"], c["nr_pages"]), c["b"],
                            c["nr_pages"])
        != head_move(c[hname], c["a"] + c["b"], c["nr_pages"])
        or head_move(c[hname], 1, c["nr_pages"]) != (c[hname] + 1) % c["nr_pages"]))

    n, h = sym.bv("nr_pages"), sym.bv(hname, 32)
    base = [_n_range(n), z3.ULT(z3.ZeroExt(32, h), n)]
    area = z3_area_bytes(cfg.meta_area, g, n, None)
    slot_end = _c(g.header) + _c(g.elem) * (z3.ZeroExt(32, h) + 1)
    r = sym.prove(z3.ULE(slot_end, area), assumptions=base,
                  variables=[n, h, ("slot_end", slot_end), ("area_bytes", area)],
                  minimize=[n, h], name=names[2])
    out.append(_result(
        names[2], r, f"{tname}[{hname}] (written by rb_meta_page_head_swap) lies inside "
                     "the meta area for every head < nr_pages",
        lambda c: (f"nr_pages {c['nr_pages']}, {hname} {c[hname]}: "
                   f"rb_meta_page_head_swap writes {tname}[{c[hname]}] ending at byte "
                   f"{c['slot_end']} of a {c['area_bytes']}-byte meta area"),
        lambda c: g.header + g.elem * (c[hname] + 1)
        > meta_area_bytes(cfg.meta_area, g, c["nr_pages"])))
    return out


# ------------------------------------------- seed: ring_buffer_unmap's free loop


def _seed_unmap_checks(cfg: MappingConfig, g: Geometry, sfx: str,
                       free_ids: str = "nr_subbufs") -> list:
    """The seed's last unmap: ``rb_free_page_ids`` runs
    ``for (i = 0; i < cpu_buffer->nr_pages; i++) unmap_page(page_ids[i]);``
    (``free_ids = "nr_pages"``; v3 of the series loops to ``nr_pages + 1``:
    ``"nr_subbufs"``) over a table of nr_pages + 1 IDs, of which
    ``rb_setup_ids_meta_page`` may have filled fewer (a meta area too small: the
    rest stay 0 from kzalloc)."""
    names = [x + sfx for x in SEED_UNMAP_CHECKS]
    if cfg.translate != "seed_fault":
        return [CheckResult(x, "n/a", None, "no page-ID table is freed page by page "
                            "(pages are inserted at mmap time, page->mapping unused)")
                for x in names]
    n, i = _vars("nr_pages", "id")
    area = cfg.meta_area
    base = [_n_range(n)]
    out = []
    # the loop's bound: i < nr_pages (the seed) or i < nr_pages + 1
    bound = n if free_ids == "nr_pages" else n + 1
    visits = (lambda k, nr: k in range(nr)) if free_ids == "nr_pages" else (
        lambda k, nr: k in range(nr + 1))
    r = sym.prove(z3.Implies(z3.ULE(i, n), z3.ULT(i, bound)), assumptions=base,
                  variables=[n, i], minimize=[n, i], name=names[0])
    out.append(_result(
        names[0], r, "the free loop clears page->mapping of every ID 0..nr_pages",
        lambda c: (f"the loop stops at nr_pages - 1: page ID {c['id']} of "
                   f"nr_pages {c['nr_pages']} keeps the page->mapping its fault set "
                   "(for every nr_pages: freeing that page later is a Bad page "
                   "state)"),
        lambda c: c["id"] <= c["nr_pages"] and not visits(c["id"], c["nr_pages"])))
    assigned = _z3_ids_assigned(area, g, n)
    # some visited ID i (i < bound) was not assigned (i >= assigned)
    runs, complete = sym.value_ranges(z3.ULT(assigned, bound), n, 1, NR_PAGES_MAX)
    if not complete:
        raise AssertionError("unmap free loop: run limit hit")
    if not runs:
        out.append(CheckResult(names[1], "holds", None,
                               "the free loop reads only IDs rb_setup_ids_meta_page "
                               f"assigned, for nr_pages 1..{NR_PAGES_MAX}"))
        return out
    first = runs[0][0]
    got = _ids_assigned(area, g, first)
    if not visits(got, first):
        raise AssertionError("unmap free loop: z3 run does not replay")
    shown = ", ".join(f"{a}..{b}" for a, b in runs)
    total = sum(b - a + 1 for a, b in runs)
    spared = (" (the sizes only one ID short are spared: the loop stops before that "
              "ID)" if free_ids == "nr_pages" else "")
    out.append(CheckResult(
        names[1], "violated",
        {"nr_pages": first, "id": got, "ids_assigned": got},
        f"a meta area too small for the ID list breaks the unmap too: nr_pages "
        f"{shown} ({total} sizes){spared}; e.g. nr_pages {first}: IDs 0..{got - 1} "
        f"assigned, page_ids[{got}] is 0 and unmap_page(0) writes through "
        "virt_to_page(0)",
        {"ranges": [list(r) for r in runs]}))
    return out


# ------------------------------------------------------------------ all


TRANSLATION_CHECKS = ("translation_bounds", "translation_target", "validation_exact",
                      "user_offsets")
HEAD_CHECKS = ("head_index_range", "head_index_compose", "head_index_in_list")
SEED_UNMAP_CHECKS = ("unmap_clears_every_id", "unmap_touches_assigned_ids")


def mapping_checks(layout: Layout, mapping: Mapping,
                   keep: Optional[Callable[[str], bool]] = None,
                   out: Optional[list] = None) -> list:
    """The arithmetic checks; ``keep(name)`` selects some (the others are not
    run). Results are appended to ``out`` (a new list by default) as they come, so
    a caller interrupted half-way keeps the ones done."""
    keep = keep or (lambda name: True)
    g = geometry(layout) if layout is not None else None
    out = [] if out is None else out
    many = len(mapping.configs) > 1
    for cfg in mapping.configs:
        sfx = f"[{cfg.label}]" if many else ""
        if keep("meta_area_sizing" + sfx):
            out.append(_check_sizing(cfg, g, "meta_area_sizing" + sfx))
        wanted = [x + sfx for x in TRANSLATION_CHECKS if keep(x + sfx)]
        if wanted:
            group = (_seed_fault_checks(cfg, g, sfx) if cfg.translate == "seed_fault"
                     else _insert_checks(cfg, sfx, wanted))
            out.extend(c for c in group if keep(c.name))
        if any(keep(x + sfx) for x in SEED_UNMAP_CHECKS):
            out.extend(c for c in _seed_unmap_checks(cfg, g, sfx, mapping.free_ids)
                       if keep(c.name))
    if any(keep(x) for x in HEAD_CHECKS):
        out.extend(c for c in _head_checks(layout, mapping, g) if keep(c.name))
    return out


def all_checks(layout: Layout, mapping: Mapping,
               resolve: Optional[Callable[[str], Layout]] = None,
               keep: Optional[Callable[[str], bool]] = None,
               out: Optional[list] = None) -> list:
    """Every ABI and arithmetic check of one variant, in a fixed order;
    ``keep(name)`` selects some. Results are appended to ``out`` as they come
    (see :func:`mapping_checks`)."""
    out = [] if out is None else out
    out.extend(c for c in abi_checks(layout, resolve) if keep is None or keep(c.name))
    return mapping_checks(layout, mapping, keep, out)
