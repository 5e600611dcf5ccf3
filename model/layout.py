"""C layout of the meta-page struct of a design variant, per user ABI.

A variant file (``specs/NAME.toml``) describes the struct the kernel shares with
user space in its ``[layout]`` table and how a mapping offset reaches a page in its
``[mapping]`` table (format: ``specs/README.md``).  This module

- loads both tables (:func:`load_layout`, :func:`load_mapping`), raising
  :class:`~rbmap.model.errors.SpecError` with the key path of the bad entry, and
  finds the line of such a key path in the file text (:func:`locate_line`);
- lays the struct out the way a C compiler does for a given ABI
  (:func:`struct_layout`): x86_64 kernel and LP64 user space, where ``__u64``
  aligns to 8, and ILP32 i386 user space, where ``long`` is 4 bytes and ``__u64``
  aligns to 4 inside a struct; ``#if __BITS_PER_LONG == 64`` choices follow the
  ABI's long width;
- checks the ABI rules (:func:`abi_checks`): every field has the same offset and
  size for ILP32 and LP64 user space as in the 64-bit kernel's struct; fields are
  naturally aligned; the compiler inserts no hidden padding; a variant that
  ``extends`` another keeps every old offset (what ``meta_struct_len`` is for).

The seed's header, as the kernel (x86_64) and an i386 process see it::

    kernel / LP64                       ILP32 (i386)
     0 entries        __u64              0 entries        __u32
     8 overrun        __u64              4 overrun        __u32
    16 pages_touched  __u32              8 pages_touched  __u32
    ...                                 ...
    24 reader_page    __u32             16 reader_page    __u32   <- 8 bytes short
    40 data_pages[]                     32 data_pages[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional, Union

from .errors import SpecError

__all__ = [
    "Abi", "KERNEL_ABI", "USER_ABIS", "Scalar", "LongChoice", "StructType",
    "Field", "Trailing", "Layout", "MappingConfig", "Mapping", "Placed",
    "StructLayout", "CheckResult", "WRITERS", "META_AREAS", "TRANSLATIONS",
    "KERNEL_LAYOUTS", "parse_type", "load_layout", "load_mapping",
    "struct_layout", "abi_checks", "locate_line",
]

# --------------------------------------------------------------------------- ABIs


@dataclass(frozen=True)
class Abi:
    """How one C ABI sizes and aligns the types a uapi header uses."""

    name: str
    bits_per_long: int      # __BITS_PER_LONG as <asm/bitsperlong.h> defines it
    long_size: int          # sizeof(long)
    u64_align: int          # alignment of an 8-byte integer inside a struct


#: The kernel side: a 64-bit x86_64 kernel writes the struct.
KERNEL_ABI = Abi("kernel (x86_64)", 64, 8, 8)
#: The user processes that map it.
USER_ABIS = (
    Abi("LP64 (x86_64)", 64, 8, 8),
    Abi("ILP32 (i386)", 32, 4, 4),
)

# name -> (size in bytes or "long", signed)
_SCALARS = {
    "__u8": (1, False), "__s8": (1, True), "char": (1, True),
    "__u16": (2, False), "__s16": (2, True),
    "short": (2, True), "unsigned short": (2, False),
    "__u32": (4, False), "__s32": (4, True),
    "int": (4, True), "unsigned int": (4, False),
    "__u64": (8, False), "__s64": (8, True),
    "long long": (8, True), "unsigned long long": (8, False),
    "long": ("long", True), "unsigned long": ("long", False),
}

WRITERS = ("map", "ioctl", "writer", "reset", "reader_swap")
META_AREAS = ("seed_fls_order", "page", "subbuf")
TRANSLATIONS = ("seed_fault", "upstream_insert", "upstream_insert_wrapping")
#: Named kernel layouts of the upstream mapping -> their meta area.
KERNEL_LAYOUTS = {"6.10": "page", "6.12": "subbuf"}
TRAILING_LENGTHS = ("nr_pages", "nr_subbufs")

# ------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Scalar:
    name: str

    def size(self, abi: Abi) -> int:
        s = _SCALARS[self.name][0]
        return abi.long_size if s == "long" else s

    def align(self, abi: Abi) -> int:
        s = self.size(abi)
        return abi.u64_align if s == 8 else s

    def resolve(self, abi: Abi) -> "Scalar":
        return self

    def text(self) -> str:
        return self.name


@dataclass(frozen=True)
class LongChoice:
    """``#if __BITS_PER_LONG == 64`` one type ``#else`` another."""

    if64: Scalar
    if32: Scalar

    def resolve(self, abi: Abi) -> Scalar:
        return self.if64 if abi.bits_per_long == 64 else self.if32

    def size(self, abi: Abi) -> int:
        return self.resolve(abi).size(abi)

    def align(self, abi: Abi) -> int:
        return self.resolve(abi).align(abi)

    def text(self) -> str:
        return f"__BITS_PER_LONG == 64 ? {self.if64.name} : {self.if32.name}"


@dataclass(frozen=True)
class StructType:
    """An inline ``struct [tag] { ... }`` (a nested member or an array element)."""

    tag: str
    fields: tuple

    def text(self) -> str:
        return f"struct {self.tag}" if self.tag else "struct"


TypeT = Union[Scalar, LongChoice, StructType]

_CHOICE = re.compile(
    r"^__BITS_PER_LONG\s*==\s*(32|64)\s*\?\s*([A-Za-z_][\w ]*?)\s*:\s*([A-Za-z_][\w ]*?)\s*$")


def parse_type(text: str) -> Union[Scalar, LongChoice]:
    """Parse a scalar C type or a ``__BITS_PER_LONG == 64 ? A : B`` choice.

    Raises ValueError naming the problem.
    """
    if not isinstance(text, str):
        raise ValueError(f"type must be a string, not {type(text).__name__}")
    t = " ".join(text.split())
    m = _CHOICE.match(t)
    if m:
        a, b = parse_type(m.group(2)), parse_type(m.group(3))
        if not (isinstance(a, Scalar) and isinstance(b, Scalar)):
            raise ValueError(f"nested __BITS_PER_LONG choice in {text!r}")
        return LongChoice(a, b) if m.group(1) == "64" else LongChoice(b, a)
    if t.startswith("__BITS_PER_LONG"):
        raise ValueError(f"bad __BITS_PER_LONG choice {text!r}: write "
                         "'__BITS_PER_LONG == 64 ? __u64 : __u32'")
    if t not in _SCALARS:
        raise ValueError(f"unknown type {text!r} (known: {', '.join(_SCALARS)}, "
                         "'struct', or '__BITS_PER_LONG == 64 ? A : B')")
    return Scalar(t)


# ------------------------------------------------------------------ the variant


@dataclass(frozen=True)
class Field:
    name: str
    type: TypeT
    written_by: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class Trailing:
    """The flexible array after the header (``data_pages[]``, ``data_index[]``)."""

    name: str
    type: TypeT
    length: str            # "nr_pages" or "nr_subbufs": how many entries it needs
    written_by: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class Layout:
    struct: str
    fields: tuple
    trailing: Optional[Trailing] = None
    extends: Optional[str] = None

    def field_names(self) -> list:
        """Top-level and nested member names, nested ones as ``outer.inner``."""
        out = []

        def walk(fields, prefix):
            for f in fields:
                if isinstance(f.type, StructType):
                    walk(f.type.fields, prefix + f.name + ".")
                else:
                    out.append(prefix + f.name)
        walk(self.fields, "")
        return out


@dataclass(frozen=True)
class MappingConfig:
    """One way the mapping is laid out: its label, meta area and translation."""

    label: str
    meta_area: str
    translate: str


#: ``free_ids``: which page IDs the last unmap's loop visits (seed_fault only)
FREE_IDS = ("nr_pages", "nr_subbufs")


@dataclass(frozen=True)
class Mapping:
    configs: tuple                   # of MappingConfig
    head_index: Optional[str] = None  # header field indexing the trailing array
    free_ids: str = "nr_subbufs"     # rb_free_page_ids: i < nr_pages or nr_pages + 1


# --------------------------------------------------------------------- loading

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _need(table: dict, key: str, path: tuple, kind=str):
    if not isinstance(table, dict):
        raise SpecError("expected a table", path)
    if key not in table:
        raise SpecError(f"missing key '{key}'", path)
    v = table[key]
    if kind is str and not isinstance(v, str):
        raise SpecError(f"'{key}' must be a string", path + (key,))
    if kind is list and not isinstance(v, list):
        raise SpecError(f"'{key}' must be an array", path + (key,))
    return v


def _unknown_keys(table: dict, allowed: set, path: tuple) -> None:
    for k in table:
        if k not in allowed:
            raise SpecError(f"unknown key '{k}' (allowed: {', '.join(sorted(allowed))})",
                            path + (k,))


def _written_by(entry: dict, path: tuple) -> tuple:
    wb = _need(entry, "written_by", path, list)
    for i, w in enumerate(wb):
        if w not in WRITERS:
            raise SpecError(f"unknown written_by {w!r} (allowed: {', '.join(WRITERS)})",
                            path + ("written_by", i))
    return tuple(wb)


def _load_fields(entries, path: tuple) -> tuple:
    if not isinstance(entries, list) or not entries:
        raise SpecError("'fields' must be a non-empty array of tables", path)
    seen, out = {}, []
    for i, e in enumerate(entries):
        p = path + (i,)
        if not isinstance(e, dict):
            raise SpecError("a field must be a table", p)
        name = _need(e, "name", p)
        if not _NAME.match(name):
            raise SpecError(f"field name {name!r} is not a C identifier", p + ("name",))
        if name in seen:
            raise SpecError(f"duplicate field '{name}' (first at index {seen[name]})",
                            p + ("name",))
        seen[name] = i
        out.append(_load_member(e, p, trailing=False))
    return tuple(out)


def _load_type(e: dict, p: tuple):
    tname = _need(e, "type", p)
    if tname == "struct":
        tag = e.get("struct", "")
        if not isinstance(tag, str):
            raise SpecError("'struct' must be a string", p + ("struct",))
        return StructType(tag, _load_fields(e.get("fields"), p + ("fields",)))
    if "fields" in e:
        raise SpecError("'fields' is only allowed with type = \"struct\"", p + ("fields",))
    try:
        return parse_type(tname)
    except ValueError as exc:
        raise SpecError(str(exc), p + ("type",)) from None


def _load_member(e: dict, p: tuple, trailing: bool):
    allowed = {"name", "type", "doc", "written_by", "struct", "fields"}
    if trailing:
        allowed.add("length")
    _unknown_keys(e, allowed, p)
    name = _need(e, "name", p)
    typ = _load_type(e, p)
    doc = e.get("doc", "")
    if not isinstance(doc, str):
        raise SpecError("'doc' must be a string", p + ("doc",))
    # A nested struct's members say who writes them; the container needs not.
    wb = () if isinstance(typ, StructType) and "written_by" not in e else _written_by(e, p)
    if trailing:
        length = _need(e, "length", p)
        if length not in TRAILING_LENGTHS:
            raise SpecError(f"unknown length {length!r} (allowed: "
                            f"{', '.join(TRAILING_LENGTHS)})", p + ("length",))
        return Trailing(name, typ, length, wb, doc)
    return Field(name, typ, wb, doc)


def load_layout(doc: dict) -> Layout:
    """The ``[layout]`` table of a parsed variant file as a :class:`Layout`."""
    if not isinstance(doc, dict):
        raise SpecError("a variant must be a table")
    table = doc.get("layout")
    if table is None:
        raise SpecError("missing table [layout]")
    p = ("layout",)
    if not isinstance(table, dict):
        raise SpecError("[layout] must be a table", p)
    _unknown_keys(table, {"struct", "fields", "trailing", "extends"}, p)
    struct = _need(table, "struct", p)
    if not _NAME.match(struct):
        raise SpecError(f"struct name {struct!r} is not a C identifier", p + ("struct",))
    fields = _load_fields(table.get("fields"), p + ("fields",))
    trailing = None
    if "trailing" in table:
        t = table["trailing"]
        if not isinstance(t, dict):
            raise SpecError("[layout.trailing] must be a table", p + ("trailing",))
        trailing = _load_member(t, p + ("trailing",), trailing=True)
        names = {f.name for f in fields}
        if trailing.name in names:
            raise SpecError(f"duplicate field '{trailing.name}'",
                            p + ("trailing", "name"))
    extends = table.get("extends")
    if extends is not None and (not isinstance(extends, str)
                                or not _VARIANT_NAME.match(extends)):
        raise SpecError(f"extends must name a variant (NAME of NAME.toml next to this "
                        f"file or in specs/), got {extends!r}", p + ("extends",))
    return Layout(struct, fields, trailing, extends)


def load_mapping(doc: dict, layout: Optional[Layout] = None) -> Mapping:
    """The ``[mapping]`` table of a parsed variant file as a :class:`Mapping`.

    With ``layout`` the cross references are checked too (``head_index`` names a
    header field and the layout has a trailing array for it to index).
    """
    table = doc.get("mapping") if isinstance(doc, dict) else None
    p = ("mapping",)
    if table is None:
        raise SpecError("missing table [mapping]")
    if not isinstance(table, dict):
        raise SpecError("[mapping] must be a table", p)
    _unknown_keys(table, {"meta_area", "translate", "layouts", "head_index",
                          "free_ids"}, p)
    translate = _need(table, "translate", p)
    if translate not in TRANSLATIONS:
        raise SpecError(f"unknown translate {translate!r} (allowed: "
                        f"{', '.join(TRANSLATIONS)})", p + ("translate",))
    configs = []
    if translate == "seed_fault":
        if "layouts" in table:
            raise SpecError("'layouts' names upstream kernel layouts; use meta_area "
                            "with translate = \"seed_fault\"", p + ("layouts",))
        area = _need(table, "meta_area", p)
        if area not in META_AREAS:
            raise SpecError(f"unknown meta_area {area!r} (allowed: "
                            f"{', '.join(META_AREAS)})", p + ("meta_area",))
        if area == "subbuf":
            raise SpecError("meta_area \"subbuf\" needs sub-buffers: use translate = "
                            "\"upstream_insert\"", p + ("meta_area",))
        configs.append(MappingConfig(area, area, translate))
    else:
        if "layouts" in table:
            if "meta_area" in table:
                raise SpecError("give either 'layouts' or 'meta_area', not both",
                                p + ("meta_area",))
            layouts = _need(table, "layouts", p, list)
            if not layouts:
                raise SpecError("'layouts' is empty", p + ("layouts",))
            for i, name in enumerate(layouts):
                if name not in KERNEL_LAYOUTS:
                    raise SpecError(f"unknown layout {name!r} (allowed: "
                                    f"{', '.join(KERNEL_LAYOUTS)})", p + ("layouts", i))
                if name in layouts[:i]:
                    raise SpecError(f"duplicate layout {name!r}", p + ("layouts", i))
                configs.append(MappingConfig(name, KERNEL_LAYOUTS[name], translate))
        else:
            area = _need(table, "meta_area", p)
            if area not in ("page", "subbuf"):
                raise SpecError(f"meta_area {area!r} does not go with translate "
                                f"{translate!r} (allowed: page, subbuf)",
                                p + ("meta_area",))
            configs.append(MappingConfig(area, area, translate))
    head = table.get("head_index")
    if head is not None:
        if not isinstance(head, str):
            raise SpecError("'head_index' must be a string", p + ("head_index",))
        if layout is not None:
            top = {f.name: f for f in layout.fields}
            if head not in top or not isinstance(top[head].type, (Scalar, LongChoice)):
                raise SpecError(f"head_index {head!r} is not a scalar field of "
                                f"[layout]", p + ("head_index",))
            if layout.trailing is None:
                raise SpecError("head_index needs a [layout.trailing] array to index",
                                p + ("head_index",))
    free_ids = table.get("free_ids", "nr_subbufs")
    if free_ids not in FREE_IDS:
        raise SpecError(f"unknown free_ids {free_ids!r} (allowed: "
                        f"{', '.join(FREE_IDS)})", p + ("free_ids",))
    if "free_ids" in table and translate != "seed_fault":
        raise SpecError("free_ids describes the seed's page-by-page unmap loop; it "
                        "goes with translate = \"seed_fault\"", p + ("free_ids",))
    return Mapping(tuple(configs), head, free_ids)


# ------------------------------------------------------------------ C layout


@dataclass(frozen=True)
class Placed:
    """One scalar member at its offset in one ABI."""

    name: str
    offset: int
    size: int
    align: int
    ctype: str


@dataclass(frozen=True)
class StructLayout:
    abi: Abi
    size: int                       # sizeof(header struct)
    align: int
    leaves: tuple                   # of Placed, in declaration order
    padding: tuple                  # of (offset, size, where) hidden gaps
    trailing: Optional[Placed] = None   # offset + element size of the array
    trailing_leaves: tuple = ()     # the element's members, offsets within it

    def by_name(self) -> dict:
        return {p.name: p for p in self.leaves}


def _align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _place(fields, abi: Abi, base: int, prefix: str, leaves: list, padding: list):
    """Lay ``fields`` out from ``base``; returns (size, align) of the struct."""
    off, align = 0, 1
    for f in fields:
        if isinstance(f.type, StructType):
            # Alignment of the nested struct first (it is the max of its members).
            sub_leaves, sub_pad = [], []
            _, sub_align = _place(f.type.fields, abi, 0, "", [], [])
            start = _align_up(off, sub_align)
            if start != off:
                padding.append((base + off, start - off, f"before {prefix}{f.name}"))
            size, _ = _place(f.type.fields, abi, base + start, prefix + f.name + ".",
                             sub_leaves, sub_pad)
            leaves.extend(sub_leaves)
            padding.extend(sub_pad)
            off = start + size
            align = max(align, sub_align)
        else:
            scalar = f.type.resolve(abi)
            a, s = scalar.align(abi), scalar.size(abi)
            start = _align_up(off, a)
            if start != off:
                padding.append((base + off, start - off, f"before {prefix}{f.name}"))
            leaves.append(Placed(prefix + f.name, base + start, s, a, scalar.name))
            off = start + s
            align = max(align, a)
    size = _align_up(off, align)
    if size != off:
        padding.append((base + off, size - off, f"at the end of {prefix.rstrip('.') or 'the struct'}"))
    return size, align


def struct_layout(layout: Layout, abi: Abi) -> StructLayout:
    """Offsets, sizes and hidden padding of the header (and where the trailing
    array starts) as a C compiler for ``abi`` lays them out."""
    leaves, padding = [], []
    size, align = _place(layout.fields, abi, 0, "", leaves, padding)
    trailing, tleaves = None, ()
    t = layout.trailing
    if t is not None:
        if isinstance(t.type, StructType):
            el, ep = [], []
            esize, ealign = _place(t.type.fields, abi, 0, "", el, ep)
            tleaves = tuple(el)
            # Padding inside an element repeats in every element.
            padding.extend((o, s, f"in each {t.name}[] element, {w}") for o, s, w in ep)
            ctype = t.type.text()
        else:
            scalar = t.type.resolve(abi)
            esize, ealign, ctype = scalar.size(abi), scalar.align(abi), scalar.name
        start = _align_up(size, ealign)
        if start != size:
            padding.append((size, start - size, f"before {t.name}[]"))
        trailing = Placed(t.name + "[]", start, esize, ealign, ctype)
    return StructLayout(abi, size, align, tuple(leaves), tuple(padding), trailing, tleaves)


# ------------------------------------------------------------------ ABI checks


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one named check on one variant."""

    name: str
    status: str                       # "holds", "violated", "n/a", "unknown"
    counterexample: Optional[dict] = None
    detail: str = ""
    extra: Optional[dict] = None      # check-specific data (e.g. the size ranges)

    def to_json(self) -> dict:
        out = {"name": self.name, "status": self.status,
               "counterexample": self.counterexample, "detail": self.detail}
        if self.extra:
            out.update(self.extra)
        return out


def _same_layout(layout: Layout) -> CheckResult:
    kern = struct_layout(layout, KERNEL_ABI)
    per_abi, offset_cex, size_cex = [], None, None
    for abi in USER_ABIS:
        user = struct_layout(layout, abi)
        umap, diffs = user.by_name(), []
        # each value is the user ABI's, the kernel's in parentheses
        for k in kern.leaves:
            u = umap[k.name]
            what = []
            if k.offset != u.offset:
                what.append(f"offset {u.offset} (kernel {k.offset})")
            if k.size != u.size:
                what.append(f"size {u.size} (kernel {k.size})")
            if what:
                diffs.append(f"{k.name} {', '.join(what)}")
                cex = {"abi": abi.name, "field": k.name, "kernel_offset": k.offset,
                       "user_offset": u.offset, "kernel_size": k.size,
                       "user_size": u.size}
                if k.offset != u.offset and offset_cex is None:
                    offset_cex = cex
                if size_cex is None:
                    size_cex = cex
        kt, ut = kern.trailing, user.trailing
        if kt is not None and (kt.offset, kt.size) != (ut.offset, ut.size):
            el = (f", element {ut.size} (kernel {kt.size})" if kt.size != ut.size
                  else "")
            diffs.append(f"{kt.name} offset {ut.offset} (kernel {kt.offset}){el}")
            if offset_cex is None and kt.offset != ut.offset:
                offset_cex = {"abi": abi.name, "field": kt.name,
                              "kernel_offset": kt.offset, "user_offset": ut.offset,
                              "kernel_size": kt.size, "user_size": ut.size}
        if kern.size != user.size:
            diffs.append(f"sizeof {user.size} (kernel {kern.size})")
        if diffs:
            per_abi.append(f"{abi.name} user space, against the {KERNEL_ABI.name}: "
                           + "; ".join(diffs))
    if per_abi:
        return CheckResult("abi_same_layout", "violated", offset_cex or size_cex,
                           "; ".join(per_abi))
    names = " and ".join(a.name for a in USER_ABIS)
    return CheckResult("abi_same_layout", "holds", None,
                       f"all {len(kern.leaves)} fields at the same offset and size for "
                       f"{names} user space as in the kernel; sizeof = {kern.size}")


def _natural_alignment(layout: Layout) -> CheckResult:
    bad = []
    for abi in (KERNEL_ABI,) + USER_ABIS:
        sl = struct_layout(layout, abi)
        for p in sl.leaves:
            if p.offset % p.size:
                bad.append((abi, p))
        for p in sl.trailing_leaves:
            if p.offset % p.size or (sl.trailing and sl.trailing.size % p.size):
                bad.append((abi, p))
        if sl.trailing is not None and sl.trailing.offset % min(sl.trailing.size, 8):
            bad.append((abi, sl.trailing))
    if bad:
        abi, p = bad[0]
        listed = "; ".join(f"{p.name} {p.ctype} at {p.offset} ({a.name})" for a, p in bad)
        return CheckResult("abi_natural_alignment", "violated",
                           {"abi": abi.name, "field": p.name, "offset": p.offset,
                            "size": p.size}, f"not a multiple of their size: {listed}")
    return CheckResult("abi_natural_alignment", "holds", None,
                       "every field's offset is a multiple of its size in every ABI")


def _no_padding(layout: Layout) -> CheckResult:
    gaps = []
    for abi in (KERNEL_ABI,) + USER_ABIS:
        for off, size, where in struct_layout(layout, abi).padding:
            gaps.append((abi, off, size, where))
    if gaps:
        abi, off, size, where = gaps[0]
        listed = "; ".join(f"{s} bytes at {o} {w} ({a.name})" for a, o, s, w in gaps)
        return CheckResult("abi_no_padding", "violated",
                           {"abi": abi.name, "offset": off, "bytes": size},
                           f"hidden padding: {listed}")
    return CheckResult("abi_no_padding", "holds", None,
                       "fields follow each other with no gap and no tail padding in "
                       "every ABI")


def _extends(layout: Layout, resolve: Optional[Callable[[str], Layout]]) -> CheckResult:
    if layout.extends is None:
        return CheckResult("abi_extends", "n/a", None, "the variant extends no other")
    if resolve is None:
        raise SpecError("cannot resolve extends without the variant directory",
                        ("layout", "extends"))
    base = resolve(layout.extends)
    broken, first = [], None
    for abi in (KERNEL_ABI,) + USER_ABIS:
        old, new = struct_layout(base, abi), struct_layout(layout, abi)
        nmap = new.by_name()
        for p in old.leaves:
            q = nmap.get(p.name)
            if q is None or (q.offset, q.size) != (p.offset, p.size):
                now = "gone" if q is None else f"now {q.offset}+{q.size}"
                broken.append(f"{p.name} was {p.offset}+{p.size}, {now} ({abi.name})")
                if first is None:
                    first = {"abi": abi.name, "field": p.name, "old_offset": p.offset,
                             "new_offset": None if q is None else q.offset}
        if old.trailing is not None:
            nt = new.trailing
            if nt is None or (nt.name, nt.offset, nt.size) != (old.trailing.name,
                                                               old.trailing.offset,
                                                               old.trailing.size):
                broken.append(f"{old.trailing.name} moved or changed ({abi.name})")
                first = first or {"abi": abi.name, "field": old.trailing.name,
                                  "old_offset": old.trailing.offset,
                                  "new_offset": None if nt is None else nt.offset}
        if new.size < old.size:
            broken.append(f"sizeof shrank {old.size} -> {new.size} ({abi.name})")
    if broken:
        return CheckResult("abi_extends", "violated", first,
                           f"does not keep the layout of {layout.extends}: "
                           + "; ".join(broken))
    return CheckResult("abi_extends", "holds", None,
                       f"every field of {layout.extends} keeps its offset and size "
                       "in every ABI (append-only)")


def abi_checks(layout: Layout,
               resolve: Optional[Callable[[str], Layout]] = None) -> list:
    """The four ABI layout checks on ``layout``; ``resolve(name)`` loads the
    layout a variant ``extends``."""
    return [_same_layout(layout), _natural_alignment(layout), _no_padding(layout),
            _extends(layout, resolve)]


# ------------------------------------------------------------ files and lines

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*(\]\]?)\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")
_INLINE_KEY = re.compile(r"([A-Za-z0-9_\-]+)\s*=")


def _split_key(k: str) -> list:
    return [part.strip().strip("\"'") for part in k.split(".")]


def locate_line(text: str, path) -> Optional[int]:
    """The 1-based line of the key at ``path`` (a tuple of keys and array
    indices) in TOML ``text``, or of its nearest enclosing entry; None if not even
    the first key is found.  Handles tables, arrays of tables (nested too) and
    one inline table per line inside multi-line arrays."""
    found: dict = {}
    aot_count: dict = {}
    current: tuple = ()
    array_key = None        # (path, index) while inside a multi-line array value
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0] if '"' not in raw and "'" not in raw else raw
        if array_key is not None:
            apath, idx = array_key
            if "{" in line:
                idx += 1
                found.setdefault(apath + (idx,), lineno)
                for k in _INLINE_KEY.findall(line.split("{", 1)[1]):
                    found.setdefault(apath + (idx, k), lineno)
            array_key = (apath, idx)
            if line.strip().startswith("]"):
                array_key = None
            continue
        m = _HEADER.match(line)
        if m and not _KEY.match(line):
            keys, resolved = _split_key(m.group(2)), ()
            for i, k in enumerate(keys):
                resolved += (k,)
                last = i == len(keys) - 1
                if last and m.group(1) == "[[":
                    n = aot_count.get(resolved, -1) + 1
                    aot_count[resolved] = n
                    resolved += (n,)
                elif resolved in aot_count:
                    resolved += (aot_count[resolved],)
            current = resolved
            for j in range(1, len(current) + 1):
                found.setdefault(current[:j], lineno)
            continue
        m = _KEY.match(line)
        if m:
            kp = current + tuple(_split_key(m.group(1)))
            found.setdefault(kp, lineno)
            rest = line[m.end():].strip()
            if rest.startswith("[") and "]" not in rest:
                array_key = (kp, -1)
                if "{" in rest:
                    array_key = (kp, 0)
                    found.setdefault(kp + (0,), lineno)
            elif rest.startswith("["):
                # one-line array: elements on this line
                for i in range(rest.count(",") + 1):
                    found.setdefault(kp + (i,), lineno)
    path = tuple(path)
    for n in range(len(path), 0, -1):
        if path[:n] in found:
            return found[path[:n]]
    return None
