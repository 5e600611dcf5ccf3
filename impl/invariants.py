"""Kernel-side checks of an :class:`~rbmap.impl.tracefs.Instance`: state snapshots,
failure atomicity and the invariants that hold between two system calls.

This is test and fuzzing machinery (it reads the kernel side; the user side of impl
never imports it).  Three pieces:

* :func:`kernel_state` takes a snapshot of everything the kernel keeps for one
  instance, as plain data: the instance (``tr->mapped``, ``tr->snapshot``, the
  snapshot buffer), each trace buffer's per-CPU state (counters, ``mapped`` /
  ``user_mapped`` / ``resize_disabled``, the reader, head, tail and commit pages,
  every sub-buffer's bytes and bookkeeping, the page IDs and the meta page bytes
  while mapped), every live VMA and every open file's read position, and the
  warnings printed so far.  Left out on purpose: the cached ``head_page`` /
  ``pages`` pointers (the head is taken from the RB_PAGE_HEAD flag, the one the
  kernel trusts: ``rb_set_head_page`` refreshes the cache on any reader path),
  a page's ``id`` while nothing is mapped (the next first map renumbers every
  page), the clock, and whether a file holds a spare page (allocated at the first
  ``read()``, even one that fails).  :func:`diff_states` lists what differs,
  one ``path: before -> after`` line each.
* :class:`CheckedInstance` is an ``Instance`` whose every system call that returns
  a negative errno is checked to have changed nothing (:func:`kernel_state` equal
  before and after): failure atomicity, UPSTREAM.md §1.3 ("a failed mmap leaves no
  state behind") generalised to every refusal.  Violations are collected in
  ``atomicity_violations`` rather than raised, so a whole program runs.  One named
  exception, which the real kernel shows too (README's findings): after a
  sub-buffer order change dropped unread events, a refused ``read()`` changes the
  reader state.
* :func:`check_invariants` lists the invariants an instance violates at a quiescent
  point (no system call in progress); :data:`INVARIANTS` names and explains them.
"""

from __future__ import annotations

import hashlib
import weakref

from . import decode
from .ringbuf import RB_PAGE_HEAD, RB_PAGE_NORMAL, rb_page_size_of
from .tracefs import Instance

__all__ = ["kernel_state", "diff_states", "CheckedInstance", "check_invariants",
           "INVARIANTS", "CHECKED_CALLS"]


# --------------------------------------------------------------------------
# snapshots
# --------------------------------------------------------------------------

def _digest(buf) -> str:
    return hashlib.sha1(bytes(buf)).hexdigest()[:16]


def _ring_from_head(cb) -> list:
    """The ring in list order, starting at the page the HEAD flag points to."""
    ring = cb.ring_pages()
    head = cb.head_flag_page()
    if head in ring:
        i = ring.index(head)
        ring = ring[i:] + ring[:i]
    return ring


def _buffer_state(buf) -> dict:
    cb = buf.buffers[0]
    mapped_ids = cb.subbuf_ids is not None

    def page(p) -> dict:
        return {"name": p.name, "id": p.id if mapped_ids else None,
                "write": p.write.value, "entries": p.entries.value,
                "real_end": p.real_end.value, "read": p.read,
                "next_flag": p.list_next.value[1], "bytes": _digest(p.page.buf)}

    head = cb.head_flag_page()
    state = {
        "subbuf_order": buf.subbuf_order, "subbuf_size": buf.subbuf_size,
        "record_disabled": buf.record_disabled,
        "nr_pages": cb.nr_pages,
        "mapped": cb.mapped.value, "user_mapped": cb.user_mapped,
        "resize_disabled": cb.resize_disabled, "record_disabled_cpu": cb.record_disabled,
        "entries": cb.entries.value, "overrun": cb.overrun.value, "read": cb.read,
        "read_bytes": cb.read_bytes, "lost_events": cb.lost_events,
        "last_overrun": cb.last_overrun, "pages_touched": cb.pages_touched.value,
        "pages_lost": cb.pages_lost.value, "pages_read": cb.pages_read,
        "commit_overrun": cb.commit_overrun.value,
        "dropped_events": cb.dropped_events.value,
        "committing": cb.committing.value, "commits": cb.commits.value,
        "reader_page": cb.reader_page.value.name,
        "head_page": head.name if head is not None else None,
        "tail_page": cb.tail_page.value.name,
        "commit_page": cb.commit_page.value.name,
        "reader": page(cb.reader_page.value),
        "ring": [page(p) for p in _ring_from_head(cb)],
        "subbuf_ids": [p.name for p in cb.subbuf_ids] if mapped_ids else None,
        "meta_page": _digest(cb.meta_page.buf) if cb.meta_page is not None else None,
    }
    return state


def kernel_state(inst: Instance) -> dict:
    """Everything the kernel keeps for ``inst``, as plain comparable data."""
    procs = [inst.proc] + list(getattr(inst, "_children", []))
    return {
        "tr": {"mapped": inst.mapped, "snapshot": inst.snapshot,
               "buffer_percent": inst.buffer_percent, "tracing_on": inst.tracing_on},
        "array_buffer": _buffer_state(inst.array_buffer),
        "max_buffer": (_buffer_state(inst.max_buffer)
                       if inst.max_buffer is not None else None),
        "vmas": [[(v.addr, v.offset, v.length, v.prot, v.vm_flags) for v in p.vmas]
                 for p in procs],
        "files": {fd: (f.closed, f.nonblock, f.rdwr, f.read)
                  for fd, f in sorted(inst._fds.items())},
        "kmsg": inst.kmsg(),
    }


def diff_states(a, b, path: str = "") -> list[str]:
    """``path: a -> b`` for every leaf that differs (dicts and lists recursively)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            p = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append(f"{p}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}")
            else:
                out += diff_states(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff_states(x, y, f"{path}[{i}]")
        return out
    if a != b:
        out.append(f"{path}: {a!r} -> {b!r}")
    return out


# --------------------------------------------------------------------------
# failure atomicity
# --------------------------------------------------------------------------

#: The facade calls that are system calls (CheckedInstance checks each).
CHECKED_CALLS = ("write_file", "write_marker", "close", "ioctl", "read", "mmap",
                 "munmap", "mprotect", "mremap", "madvise_dofork")


def _rc_of(result) -> int:
    if isinstance(result, tuple):
        return result[0]
    return result


class CheckedInstance(Instance):
    """An Instance whose refused system calls are checked to change nothing.

    ``atomicity_violations`` collects ``(call, differences)`` for every call that
    returned a negative errno and still changed :func:`kernel_state`.
    """

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.atomicity_violations: list[tuple[str, list[str]]] = []
        self.refused_calls = 0
        # unread events an order change dropped, per cpu_buffer (the counters
        # belong to it, and a snapshot swaps whole buffers)
        self._dropped: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._children: list = []

    @property
    def order_change_dropped(self) -> int:
        """Unread events an order change dropped from the buffer now in use."""
        return self._dropped.get(self.cpu_buffer, 0)

    def fork(self):
        child = super().fork()
        self._children.append(child)
        return child

    def write_file(self, name: str, value="") -> int:
        """As Instance.write_file; notes a sub-buffer order change that dropped
        unread events (the counters keep them until the next reset), in the
        snapshot buffer too (the order change applies to both)."""
        bufs = [b.buffers[0] for b in (self.array_buffer, self.max_buffer)
                if b is not None]
        unread = {cb: cb.entries.value - cb.overrun.value - cb.read for cb in bufs}
        order = self.array_buffer.subbuf_order
        rc = _checked_write_file(self, name, value)
        name = name.strip("/")
        if rc == 0 and name == "trace":
            self._dropped.pop(self.cpu_buffer, None)
        elif rc == 0 and name == "snapshot" and self.max_buffer is not None and \
                str(value).strip() not in ("0", "1"):
            self._dropped.pop(self.max_buffer.buffers[0], None)    # clears it
        elif rc == 0 and self.array_buffer.subbuf_order != order:
            for cb, n in unread.items():
                if n:
                    self._dropped[cb] = self._dropped.get(cb, 0) + n
        return rc


def _checked(name: str):
    def call(self, *args, **kw):
        before = kernel_state(self)
        result = getattr(Instance, name)(self, *args, **kw)
        rc = _rc_of(result)
        # Named exception (kernel behaviour, README's findings): once a sub-buffer
        # order change has dropped unread events, the counters still claim them,
        # and a refused read() swaps an empty page in and records lost events.
        if name == "read" and self.order_change_dropped:
            return result
        if isinstance(rc, int) and rc < 0:
            self.refused_calls += 1
            diff = diff_states(before, kernel_state(self))
            if diff:
                shown = ", ".join(repr(a) if not hasattr(a, "addr") else "vma"
                                  for a in args)
                self.atomicity_violations.append((f"{name}({shown}) = {rc}", diff))
        return result

    call.__name__ = name
    call.__doc__ = f"Instance.{name}, its refusals checked to change nothing"
    return call


for _name in CHECKED_CALLS:
    if _name != "write_file":
        setattr(CheckedInstance, _name, _checked(_name))
_checked_write_file = _checked("write_file")


# --------------------------------------------------------------------------
# invariants at a quiescent point
# --------------------------------------------------------------------------

INVARIANTS = {
    "mapped_counts": "cpu_buffer->mapped >= user_mapped >= 0, and both equal the "
                     "live VMAs of the instance and tr->mapped (no MADV_DOFORK copy)",
    "mapping_exists_iff_mapped": "user_mapped > 0 iff the meta page and subbuf_ids exist",
    "resize_disabled": "resize_disabled is 1 while user-mapped, else 0 (between calls)",
    "quiescent_writer": "committing == 0, no RB_PAGE_UPDATE flag, tail page == commit "
                        "page (no write in progress between calls)",
    "ring_shape": "the ring is a cycle of nr_pages distinct pages, without the reader "
                  "page, with exactly one RB_PAGE_HEAD flag; the commit page is in the "
                  "ring or is the reader page",
    "ids_bijection": "while mapped subbuf_ids has nr_pages + 1 entries, one per page "
                     "(reader page and ring), and subbuf_ids[i]->id == i",
    "meta_geometry": "while mapped the meta page's meta_page_size, meta_struct_len, "
                     "subbuf_size and nr_subbufs describe the buffer",
    "mapped_pages_stay": "every page a live VMA shows is the meta page, a zero page or "
                         "a sub-buffer now in subbuf_ids",
    "pages_well_formed": "every sub-buffer's committed bytes decode into whole events "
                         "(no event past the commit, no bad length)",
    "reader_read_in_page": "reader_page->read <= the reader page's committed size",
    "unread_accounting": "entries - overrun - read == the data events not yet "
                         "consumed: after reader_page->read on the reader page, and "
                         "every committed event on the ring pages; assumes no "
                         "sub-buffer order change dropped unread events since the "
                         "last reset (the kernel keeps the counters then: see "
                         "README's findings)",
}


def _data_events(p, start: int = 0) -> int:
    raw = bytes(p.page.buf)
    size = rb_page_size_of(int.from_bytes(raw[8:16], "little", signed=True))
    page = decode.decode_subbuf(raw, None)
    return sum(1 for e in page["events"] if e["type"] == "data" and e["offset"] >= start) \
        if size else 0


def check_invariants(inst: Instance) -> list[str]:
    """The :data:`INVARIANTS` ``inst`` violates now, ``"name: detail"`` each."""
    bad: list[str] = []
    cb = inst.cpu_buffer
    mapping = inst.mapping
    if getattr(mapping, "abi", None) != "upstream":
        return bad
    # mapped_counts
    vmas = sum(len(p.vmas) for p in [inst.proc] + list(getattr(inst, "_children", [])))
    if not (cb.mapped.value >= cb.user_mapped >= 0):
        bad.append(f"mapped_counts: mapped {cb.mapped.value} user_mapped {cb.user_mapped}")
    if not (cb.user_mapped == vmas == inst.mapped):
        bad.append(f"mapped_counts: user_mapped {cb.user_mapped}, {vmas} live VMAs, "
                   f"tr->mapped {inst.mapped}")
    has_meta, has_ids = cb.meta_page is not None, cb.subbuf_ids is not None
    if not ((cb.user_mapped > 0) == has_meta == has_ids):
        bad.append(f"mapping_exists_iff_mapped: user_mapped {cb.user_mapped}, meta page "
                   f"{has_meta}, subbuf_ids {has_ids}")
    if cb.resize_disabled != (1 if cb.user_mapped else 0):
        bad.append(f"resize_disabled: {cb.resize_disabled} with user_mapped "
                   f"{cb.user_mapped}")
    # quiescent_writer
    flags = [p.list_next.value[1] for p in cb.ring_pages()]
    if cb.committing.value or \
            any(f not in (RB_PAGE_NORMAL, RB_PAGE_HEAD) for f in flags) or \
            cb.tail_page.value is not cb.commit_page.value:
        bad.append("quiescent_writer: a write looks in progress")
    # ring_shape
    ring = cb.ring_pages()
    reader = cb.reader_page.value
    if len(ring) != cb.nr_pages or len(set(map(id, ring))) != len(ring) or \
            reader in ring or flags.count(RB_PAGE_HEAD) != 1 or \
            not (cb.commit_page.value in ring or cb.commit_page.value is reader):
        bad.append(f"ring_shape: {len(ring)} ring pages for nr_pages {cb.nr_pages}, "
                   f"{flags.count(RB_PAGE_HEAD)} HEAD flags")
    all_pages = [reader] + ring
    # ids_bijection, meta_geometry
    if has_ids:
        ids = cb.subbuf_ids
        if len(ids) != cb.nr_pages + 1 or {id(p) for p in ids} != set(map(id, all_pages)) \
                or any(p.id != i for i, p in enumerate(ids)):
            bad.append("ids_bijection: subbuf_ids is not one ID per page")
    if has_meta:
        meta = decode.decode_meta(bytes(cb.meta_page.buf[:decode.TRACE_BUFFER_META_SIZE]))
        want = {"meta_page_size": mapping.meta_page_size(cb),
                "meta_struct_len": decode.TRACE_BUFFER_META_SIZE,
                "subbuf_size": cb.buffer.subbuf_bytes, "nr_subbufs": cb.nr_pages + 1}
        got = {k: meta[k] for k in want}
        if got != want:
            bad.append(f"meta_geometry: meta page {got}, buffer {want}")
    # mapped_pages_stay
    live = {id(p.page) for p in (cb.subbuf_ids or [])}
    for proc in [inst.proc] + list(getattr(inst, "_children", [])):
        for v in proc.vmas:
            for ref in v.refs:
                if ref is None or ref[0] == "zero":
                    continue
                if ref[0] == "meta" and ref[1] is cb.meta_page and cb.meta_page:
                    continue
                if ref[0] == "subbuf" and id(ref[1]) in live:
                    continue
                bad.append(f"mapped_pages_stay: a VMA shows {ref[0]} page that is not "
                           f"mapped state any more")
                break
    # pages_well_formed, reader_read_in_page
    for p in all_pages:
        page = decode.decode_subbuf(bytes(p.page.buf), None)
        if "error" in page:
            bad.append(f"pages_well_formed: {p.name}: {page['error']}")
    rsize = rb_page_size_of(reader.page.commit())
    if reader.read > rsize:
        bad.append(f"reader_read_in_page: read {reader.read} > size {rsize}")
    # unread_accounting
    if getattr(inst, "order_change_dropped", 0):
        return bad
    unread = _data_events(reader, reader.read) + sum(_data_events(p) for p in ring)
    counted = cb.entries.value - cb.overrun.value - cb.read
    if unread != counted:
        bad.append(f"unread_accounting: entries {cb.entries.value} - overrun "
                   f"{cb.overrun.value} - read {cb.read} = {counted}, {unread} unread "
                   f"data events in the pages")
    return bad
