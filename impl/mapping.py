"""The two user-space mapping ABIs of the per-CPU ring buffer.

``V2Mapping`` is the seed (v2 patch, March 2023) as posted: ``ring_buffer_map`` /
``ring_buffer_unmap`` / ``ring_buffer_map_fault`` / ``ring_buffer_get_reader_page``
/ ``ring_buffer_update_meta_page``, a meta area of ``2^meta_order`` pages holding
``struct ring_buffer_meta_page_header`` and ``data_pages[]`` (sized by
``rb_alloc_meta_page`` with its ``fls() - 1`` rounding), page IDs, the writer-side
copies of ``entries`` / ``overrun`` / ``pages_touched`` into the meta page, and
``rb_meta_page_head_move`` / ``rb_meta_page_head_swap`` on the reader paths.
``mapped`` is a plain count.

``UpstreamMapping`` is the merged design (Linux 6.10-6.12): ``struct
trace_buffer_meta`` (80 bytes), ``ring_buffer_map`` / ``ring_buffer_unmap`` /
``ring_buffer_map_get_reader`` with its consume loop, ``rb_update_meta_page``,
``mapped`` / ``user_mapped``, IDs assigned at each first map, all pages inserted
at mmap time (``__rb_map_vma``).  ``layout="6.12"`` (default) makes the meta area
one sub-buffer (meta page + zero pages); ``"6.10"`` makes it one page.

Both attach to a :class:`~rbmap.impl.ringbuf.RingBufferPerCpu` as its ``mapping``
(the hooks the ring buffer calls: ``writer_*`` from the write fast path,
``reader_head_*`` from the reader's head page lookups and swaps, ``on_reset``).

Page references: a VMA page is ``("meta", i)`` (page *i* of the meta area),
``("zero", 0)`` or ``("subbuf", data_page, i)`` (page *i* of a sub-buffer's
``BufferDataPage``); :func:`page_bytes` reads the current bytes of one.
"""

from __future__ import annotations

import mmap as _mmap
import os
import struct

from . import event as ev
from .ringbuf import EBUSY, EINVAL, PAGE_POISON, RingBufferPerCpu, UINT_MAX
from .sched import ANY, SHARED, locked, run_plain, spin_until

ENODEV = -19
EPERM = -1

VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYSHARE = 0x80

# --- struct trace_buffer_meta (uapi linux/trace_mmap.h) -------------------
TRACE_BUFFER_META = struct.Struct("<IIIIQIIQQQQQQ")
TRACE_BUFFER_META_SIZE = TRACE_BUFFER_META.size            # 80
META_FIELDS = ("meta_page_size", "meta_struct_len", "subbuf_size", "nr_subbufs",
               "reader.lost_events", "reader.id", "reader.read", "flags",
               "entries", "overrun", "read", "Reserved1", "Reserved2")

# --- struct ring_buffer_meta_page_header (v2, 64-bit kernel) ---------------
V2_HEADER_FIELDS = {             # name: (offset, struct format)
    "entries": (0, "<Q"), "overrun": (8, "<Q"), "pages_touched": (16, "<I"),
    "meta_page_size": (20, "<I"), "reader_page": (24, "<I"),
    "nr_data_pages": (28, "<I"), "data_page_head": (32, "<I"),
    "data_start": (36, "<I"),
}
V2_HEADER_SIZE = 40


def fls(x: int) -> int:
    """Find last set bit, 1-based (fls(0) = 0), as the kernel's fls()."""
    return x.bit_length()


class MetaArea:
    """The meta area's bytes (``2^order`` pages); ``buf`` may be re-pointed.

    ``poison``: the allocation is not zeroed (the seed's ``alloc_pages(GFP_USER,
    order)``): the bytes start as PAGE_POISON, what a free page holds on a kernel
    booted with ``page_poison=1``, so that bytes the kernel never wrote show.
    ``mapping``: each page's ``struct page`` ->mapping (the seed's fault handler
    sets it, its unmap_page() clears it)."""

    def __init__(self, size: int, poison: bool = False, page_size: int = 4096):
        self.size = size
        self.buf = memoryview(bytearray([PAGE_POISON]) * size if poison
                              else bytearray(size))
        self.freed = False
        self.mapping = [None] * max(1, size // page_size)

    def relocate(self, new_buf: memoryview) -> None:
        new_buf[:] = self.buf
        self.buf = new_buf


def page_bytes(ref, page_size: int) -> bytes:
    kind = ref[0]
    if kind == "zero":
        return bytes(page_size)
    if kind == "meta":
        meta, i = ref[1], ref[2]
        return bytes(meta.buf[i * page_size:(i + 1) * page_size])
    data_page, i = ref[1], ref[2]
    return bytes(data_page.buf[i * page_size:(i + 1) * page_size])


class Backing:
    """A file holding the mapped meta area and sub-buffers at their ABI offsets.

    At the first map the meta area and every sub-buffer's bytes move into the file
    (sub-buffer of ID *k* at ``data_offset + k * subbuf_bytes``) and the kernel side
    keeps using them there; at the last unmap they move back to private memory
    (the file keeps the last bytes).  Done in one step, with no yield inside.
    """

    def __init__(self, path: str):
        self.path = path
        self.mm = None
        self.owners: list = []      # objects whose .buf lives in the file

    def attach(self, meta: MetaArea, pages_by_id: list, data_offset: int,
               subbuf_bytes: int, total: int) -> None:
        self.detach()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, 0)
            os.ftruncate(fd, total)
            self.mm = _mmap.mmap(fd, total, _mmap.MAP_SHARED,
                                 _mmap.PROT_READ | _mmap.PROT_WRITE)
        finally:
            os.close(fd)
        whole = memoryview(self.mm)
        meta.relocate(whole[0:meta.size])
        self.owners = [meta]
        for k, dp in enumerate(pages_by_id):
            if dp is None:
                continue
            off = data_offset + k * subbuf_bytes
            dp.relocate(whole[off:off + subbuf_bytes])
            self.owners.append(dp)
        whole.release()

    def detach(self) -> None:
        """Move every relocated object back to private memory; close the file."""
        if self.mm is None:
            return
        for o in self.owners:
            old = o.buf
            o.buf = memoryview(bytearray(old))
            old.release()
        self.owners = []
        self.mm.flush()
        self.mm.close()
        self.mm = None


def _nothing(self, cb, *args):
    return
    yield  # pragma: no cover  (makes this a generator)


class _Hooks:
    """No-op ring-buffer hooks (the upstream writer never touches the meta page)."""

    writer_tail_page_update = writer_head_page_push = writer_commit = _nothing
    reader_head_move = reader_head_swap = on_reset = _nothing

    def _free_last_mapping(self, cb) -> None:
        """The last unmap's clean-up (both ABIs): the user mapping goes, then
        rb_free_page_ids, rb_free_meta_page, and resize is allowed again."""
        if self.backing is not None:
            self.backing.detach()
        cb.subbuf_ids = None
        cb.meta_page.freed = True
        cb.meta_page = None
        cb.resize_disabled -= 1


# ===========================================================================
# upstream (6.10 - 6.12)
# ===========================================================================

class UpstreamMapping(_Hooks):
    abi = "upstream"

    def __init__(self, layout: str = "6.12", backing: str | None = None):
        if layout not in ("6.12", "6.10"):
            raise ValueError(f"unknown layout {layout!r} (6.12 or 6.10)")
        self.layout = layout
        self.backing = Backing(backing) if backing else None

    # geometry --------------------------------------------------------------
    def meta_page_size(self, cb: RingBufferPerCpu) -> int:
        return cb.buffer.subbuf_bytes if self.layout == "6.12" else cb.buffer.page_size

    def total_pages(self, cb: RingBufferPerCpu) -> int:
        order = cb.buffer.subbuf_order
        nr_subbufs = cb.nr_pages + 1
        if self.layout == "6.12":
            return (nr_subbufs + 1) << order
        return 1 + (nr_subbufs << order)

    # meta ------------------------------------------------------------------
    def rb_update_meta_page(self, cb: RingBufferPerCpu):
        meta = cb.meta_page
        if meta is None:
            return
        yield ("rb_update_meta_page", SHARED, None, ("meta", cb), True)
        rp = cb.reader_page.value
        vals = read_meta(meta.buf)
        vals["reader.read"] = rp.read
        vals["reader.id"] = rp.id
        vals["reader.lost_events"] = cb.lost_events
        vals["entries"] = cb.entries.value
        vals["overrun"] = cb.overrun.value
        vals["read"] = cb.read
        write_meta(meta.buf, vals)

    def rb_setup_ids_meta_page(self, cb: RingBufferPerCpu, subbuf_ids: list):
        nr_subbufs = cb.nr_pages + 1
        rp = cb.reader_page.value
        subbuf_ids[0] = rp
        rp.id = 0
        ident = 1
        first = subbuf = yield from cb.rb_set_head_page()
        while True:
            if ident >= nr_subbufs:
                cb.buffer.warn("rb_setup_ids_meta_page")
                break
            subbuf_ids[ident] = subbuf
            subbuf.id = ident
            subbuf = yield from cb.rb_inc_page(subbuf)
            ident += 1
            if subbuf is first:
                break
        cb.subbuf_ids = subbuf_ids
        vals = dict.fromkeys(META_FIELDS, 0)
        vals["meta_struct_len"] = TRACE_BUFFER_META_SIZE
        vals["nr_subbufs"] = nr_subbufs
        vals["subbuf_size"] = cb.buffer.subbuf_bytes
        vals["meta_page_size"] = self.meta_page_size(cb)
        write_meta(cb.meta_page.buf, vals)
        yield from self.rb_update_meta_page(cb)

    def on_reset(self, cb):
        if cb.mapped.value:
            yield from self.rb_update_meta_page(cb)

    # mmap ------------------------------------------------------------------
    def __rb_map_vma(self, cb: RingBufferPerCpu, pgoff: int, npages: int,
                     vm_flags: int):
        """The page list for a VMA of *npages* at *pgoff*, or a negative errno."""
        if vm_flags & (VM_WRITE | VM_EXEC) or not vm_flags & VM_MAYSHARE:
            return EPERM
        order = cb.buffer.subbuf_order
        subbuf_pages = 1 << order
        if self.layout == "6.12":
            if order and pgoff % subbuf_pages:
                return EINVAL
        elif order and pgoff and (pgoff - 1) % subbuf_pages:
            return EINVAL
        nr_subbufs = cb.nr_pages + 1
        total = self.total_pages(cb)
        if cb.buffer.kernel == "6.10":
            # 6.10 computes ``total - pgoff`` unchecked: past the end it wraps,
            # the length check passes, and the sub-buffer loop's
            # WARN_ON_ONCE(s >= nr_subbufs) refuses it (after reading
            # subbuf_ids[s] out of bounds; fixed by "ring-buffer: Fix overflow
            # in __rb_map_vma", Dec 2024)
            if not npages or (pgoff <= total and npages > total - pgoff):
                return EINVAL
            if pgoff > total:
                cb.buffer.warn("__rb_map_vma", once=True)
                return EINVAL
        elif total <= pgoff or not npages or npages > total - pgoff:
            return EINVAL
        meta_pages = subbuf_pages if self.layout == "6.12" else 1
        refs = []
        for p in range(pgoff, pgoff + npages):
            if p < meta_pages:
                refs.append(("meta", cb.meta_page, 0) if p == 0 else ("zero", 0))
                continue
            s, i = divmod(p - meta_pages, subbuf_pages)
            if s >= nr_subbufs:
                cb.buffer.warn("__rb_map_vma", once=True)
                return EINVAL
            refs.append(("subbuf", cb.subbuf_ids[s].page, i))
        return refs

    def ring_buffer_map(self, cb: RingBufferPerCpu, pgoff: int, npages: int,
                        vm_flags: int):
        """Map; returns ``(0, refs)`` or ``(-errno, None)``."""
        return (yield from locked(cb.mapping_lock, self._map_locked(cb, pgoff, npages, vm_flags)))


    def _map_locked(self, cb, pgoff, npages, vm_flags):
        if cb.user_mapped:
            refs = self.__rb_map_vma(cb, pgoff, npages, vm_flags)
            if isinstance(refs, int):
                return refs, None
            err = yield from self.__rb_inc_dec_mapped(cb, True)
            return (err, None) if err else (0, refs)
        return (yield from locked(cb.buffer.mutex,
                                  self._first_map(cb, pgoff, npages, vm_flags)))


    def _first_map(self, cb, pgoff, npages, vm_flags):
        cb.meta_page = MetaArea(cb.buffer.page_size)
        subbuf_ids = [None] * (cb.nr_pages + 1)
        cb.resize_disabled += 1
        yield from cb.reader_lock.acquire()
        yield from self.rb_setup_ids_meta_page(cb, subbuf_ids)
        yield from cb.reader_lock.release()
        refs = self.__rb_map_vma(cb, pgoff, npages, vm_flags)
        if isinstance(refs, int):
            cb.subbuf_ids = None
            cb.meta_page.freed = True
            cb.meta_page = None
            if cb.buffer.kernel != "6.10":
                # "ring-buffer: Unlock resize on mmap error" (Feb 2025): 6.10
                # leaves resize_disabled raised, resizing is refused for good
                cb.resize_disabled -= 1
            return refs, None
        yield from cb.reader_lock.acquire()
        m = yield from cb.mapped.load()
        yield from cb.mapped.store(m + 1)
        cb.user_mapped = 1
        yield from cb.reader_lock.release()
        if self.backing is not None:
            self._attach_backing(cb)
        return 0, refs

    def _attach_backing(self, cb):
        meta_size = self.meta_page_size(cb)
        total = self.total_pages(cb) * cb.buffer.page_size
        # the file's meta region is the whole meta area (meta page + zero pages)
        area = MetaArea(meta_size)
        area.buf[:cb.meta_page.size] = cb.meta_page.buf
        cb.meta_page.buf = area.buf  # the meta page is the area's first page
        cb.meta_page.size = meta_size
        self.backing.attach(cb.meta_page, [p.page for p in cb.subbuf_ids],
                            meta_size, cb.buffer.subbuf_bytes, total)

    def __rb_inc_dec_mapped(self, cb: RingBufferPerCpu, inc: bool):
        if cb.buffer.kernel != "6.10" and cb.mapped.value < cb.user_mapped:
            cb.buffer.warn("__rb_inc_dec_mapped")
            return EINVAL
        if inc and cb.mapped.value == UINT_MAX:
            return EBUSY
        if not inc and cb.user_mapped == 0:
            cb.buffer.warn("__rb_inc_dec_mapped")
            return EINVAL
        yield from cb.buffer.mutex.acquire()
        yield from cb.reader_lock.acquire()
        d = 1 if inc else -1
        cb.user_mapped += d
        m = yield from cb.mapped.load()
        yield from cb.mapped.store(m + d)
        yield from cb.reader_lock.release()
        yield from cb.buffer.mutex.release()
        return 0

    def ring_buffer_map_dup(self, cb: RingBufferPerCpu):
        """A VMA was duplicated (fork after MADV_DOFORK, 6.12.117's VMA
        ``open``): one more user mapping, no pages inserted."""
        return (yield from locked(cb.mapping_lock, self._map_dup_locked(cb)))

    def _map_dup_locked(self, cb):
        if cb.user_mapped:
            yield from self.__rb_inc_dec_mapped(cb, True)
        else:
            cb.buffer.warn("ring_buffer_map_dup",
                           "Unexpected buffer stat, it should be mapped")

    def ring_buffer_unmap(self, cb: RingBufferPerCpu):
        return (yield from locked(cb.mapping_lock, self._unmap_locked(cb)))

    def _unmap_locked(self, cb):
        if not cb.user_mapped:
            return ENODEV
        if cb.user_mapped > 1:
            yield from self.__rb_inc_dec_mapped(cb, False)
            return 0
        yield from cb.buffer.mutex.acquire()
        yield from cb.reader_lock.acquire()
        m = yield from cb.mapped.load()
        if m < cb.user_mapped:
            cb.buffer.warn("ring_buffer_unmap", once=True)
        else:
            yield from cb.mapped.store(m - 1)
        cb.user_mapped = 0
        yield from cb.reader_lock.release()
        self._free_last_mapping(cb)
        yield from cb.buffer.mutex.release()
        return 0

    def ring_buffer_map_get_reader(self, cb: RingBufferPerCpu):
        return (yield from locked(cb.mapping_lock, self._get_reader_locked(cb)))

    def _get_reader_locked(self, cb):
        if not cb.user_mapped:
            return ENODEV
        yield from cb.reader_lock.acquire()
        bsize = cb.buffer.subbuf_size
        while True:                                          # consume:
            if (yield from cb.rb_per_cpu_empty()):
                break
            reader_size = yield from cb.rb_page_size(cb.reader_page.value)
            if cb.reader_page.value.read < reader_size:
                while cb.reader_page.value.read < reader_size:
                    yield from cb.rb_advance_reader()
                break
            reader = yield from cb.rb_get_reader_page()
            if reader is None:
                if cb.buffer.kernel == "6.10":
                    cb.buffer.warn("ring_buffer_map_get_reader")   # WARN_ON(!reader)
                break
            missed_events = cb.lost_events
            commit_page = yield from cb.commit_page.load()
            on_commit = cb.reader_page.value is commit_page
            if missed_events and not on_commit:
                real_end = yield from reader.real_end.load()
                if real_end:
                    yield from reader.commit_set(real_end)
                commit = yield from cb.rb_page_size(reader)
                if bsize - commit >= 8:
                    yield from reader.data_write(
                        commit, struct.pack("<Q", missed_events))
                    yield from reader.commit_add(ev.RB_MISSED_STORED)
                yield from reader.commit_add(ev.RB_MISSED_EVENTS)
            elif missed_events and cb.buffer.kernel == "6.10":
                # 6.10: WARN_ON_ONCE(missed_events) whenever the new reader
                # page is the commit page
                cb.buffer.warn("ring_buffer_map_get_reader", once=True)
            elif missed_events:
                # 6.12.117 (since 6.12.34, "ring-buffer: Do not trigger
                # WARN_ON() due to a commit_overrun"): a warning only when the
                # tail is on the reader page too; otherwise a commit overrun,
                # only logged, and user space is told nothing
                tail_page = yield from cb.tail_page.load()
                if cb.reader_page.value is tail_page:
                    cb.buffer.warn("ring_buffer_map_get_reader",
                                   f"Reader on commit with {missed_events} missed "
                                   "events", once=True, site="Reader on commit")
                else:
                    ts = cb.reader_page.value.page.time_stamp()
                    cb.buffer.kmsg.info(
                        "ring_buffer_map_get_reader",
                        f"Ring buffer [{cb.cpu}] commit overrun lost "
                        f"{missed_events} events at timestamp:{ts}")
            cb.lost_events = 0
        yield from self.rb_update_meta_page(cb)
        yield from cb.reader_lock.release()
        return 0


def read_meta(buf) -> dict:
    return dict(zip(META_FIELDS, TRACE_BUFFER_META.unpack_from(buf, 0)))


def write_meta(buf, vals: dict) -> None:
    TRACE_BUFFER_META.pack_into(buf, 0, *(vals[k] & ((1 << 64) - 1) for k in META_FIELDS))


# ===========================================================================
# v2 (the seed)
# ===========================================================================

class V2Mapping(_Hooks):
    """The seed's mapping.  ``cb.mapped`` is the plain int count."""

    abi = "v2"

    def __init__(self, backing: str | None = None):
        self.backing = Backing(backing) if backing else None

    # meta page field access -------------------------------------------------
    @staticmethod
    def field(cb, name: str) -> int:
        off, fmt = V2_HEADER_FIELDS[name]
        return struct.unpack_from(fmt, cb.meta_page.buf, off)[0]

    @staticmethod
    def set_field(cb, name: str, value: int) -> None:
        off, fmt = V2_HEADER_FIELDS[name]
        mask = (1 << (struct.calcsize(fmt) * 8)) - 1
        struct.pack_into(fmt, cb.meta_page.buf, off, value & mask)

    def meta_store(self, cb, name: str, value: int):
        yield ("meta_page->hdr." + name + " store", SHARED, None, ("meta", cb, name), True)
        if cb.meta_page is None:
            raise RuntimeError("kernel NULL pointer dereference: meta_page")
        self.set_field(cb, name, value)

    def meta_cmpxchg(self, cb, name: str, old: int, new: int):
        yield ("meta_page->hdr." + name + " cmpxchg", SHARED, None, ("meta", cb, name),
               True)
        cur = self.field(cb, name)
        if cur == old:
            self.set_field(cb, name, new)
        return cur

    def data_pages_set(self, cb, idx: int, value: int) -> None:
        struct.pack_into("<I", cb.meta_page.buf, V2_HEADER_SIZE + 4 * idx,
                         value & 0xFFFFFFFF)

    def data_pages_get(self, cb, idx: int) -> int:
        return struct.unpack_from("<I", cb.meta_page.buf, V2_HEADER_SIZE + 4 * idx)[0]

    # sizing (with the seed's fls() rounding) -----------------------------------
    @staticmethod
    def meta_page_max_pages(page_size: int) -> int:
        return (page_size - V2_HEADER_SIZE) >> 2

    def rb_alloc_meta_page(self, cb):
        if cb.meta_page is not None:
            return 0
        page_size = cb.buffer.page_size
        order = 0
        mx = self.meta_page_max_pages(page_size)
        if cb.nr_pages > mx:
            pages = -(-(cb.nr_pages - mx) // (page_size // 4))
            pages += 1
            order = fls(pages) - 1
        # alloc_pages(GFP_USER, order): not zeroed
        cb.meta_page = MetaArea(page_size << order, poison=True, page_size=page_size)
        cb.meta_order = order
        return 0

    @staticmethod
    def unmap_page(cb, page) -> None:
        """The seed's unmap_page(addr): virt_to_page(addr)->mapping = NULL. An
        ``addr`` of 0 (a page ID rb_setup_ids_meta_page never assigned, its
        kzalloc'ed slot) is no page: virt_to_page(0) points outside the memory
        map and the store faults."""
        if page is None:
            cb.buffer.kmsg.add("BUG", "unmap_page", "unable to handle page fault "
                               "(virt_to_page(0): a page ID was never assigned)")
            return
        page.mapping = None

    def rb_free_page_ids(self, cb) -> None:
        """The seed's loop: ``for (i = 0; i < cpu_buffer->nr_pages; i++)``, over
        nr_pages of the nr_pages + 1 IDs (page_ids[nr_pages] is never cleared)."""
        for i in range(cb.nr_pages):
            bpage = cb.subbuf_ids[i]
            self.unmap_page(cb, bpage.page if bpage is not None else None)
        cb.subbuf_ids = None

    @staticmethod
    def rb_free_meta_page(cb) -> None:
        meta = cb.meta_page
        meta.mapping = [None] * len(meta.mapping)

    # writer-side updates (the fast path) ------------------------------------------
    def writer_tail_page_update(self, cb):
        if (yield from cb.mapped.load()):
            v = yield from cb.pages_touched.load()
            yield from self.meta_store(cb, "pages_touched", v)

    def writer_head_page_push(self, cb):
        if (yield from cb.mapped.load()):
            v = yield from cb.overrun.load()
            yield from self.meta_store(cb, "overrun", v)

    def writer_commit(self, cb):
        if (yield from cb.mapped.load()):
            v = yield from cb.entries.load()
            yield from self.meta_store(cb, "entries", v)

    def on_reset(self, cb):
        if (yield from cb.mapped.load()):
            for name in ("entries", "pages_touched", "overrun"):
                yield from self.meta_store(cb, name, 0)

    # reader-side head tracking --------------------------------------------------
    def reader_head_move(self, cb, cnt):
        if not (yield from cb.mapped.load()):
            return
        yield ("rb_meta_page_head_move", SHARED, None, ("meta", cb, "data_page_head"),
               True)
        head = self.field(cb, "data_page_head")
        self.set_field(cb, "data_page_head", (head + cnt) % cb.nr_pages)

    def reader_head_swap(self, cb):
        if not (yield from cb.mapped.load()):
            return
        yield ("rb_meta_page_head_swap", SHARED, None, ("meta", cb, "data_pages"), True)
        self.set_field(cb, "reader_page", cb.head_page.id)
        self.data_pages_set(cb, self.field(cb, "data_page_head"),
                            cb.reader_page.value.id)

    # map / unmap ----------------------------------------------------------------
    def rb_setup_ids_meta_page(self, cb, page_ids: list):
        rp = cb.reader_page.value
        page_ids[0] = rp
        rp.id = 0
        ident = 1
        data_page_end = ((1 << cb.meta_order) * cb.buffer.page_size
                         - V2_HEADER_SIZE) // 4
        first = bpage = yield from cb.rb_set_head_page()
        while True:
            if ident > data_page_end:
                cb.buffer.warn("rb_setup_ids_meta_page", "data_pages[] is full")
                break
            page_ids[ident] = bpage
            bpage.id = ident
            self.data_pages_set(cb, ident - 1, ident)
            bpage = yield from cb.rb_inc_page(bpage)
            ident += 1
            if bpage is first:
                break
        cb.subbuf_ids = page_ids
        self.set_field(cb, "entries", 0)
        self.set_field(cb, "overrun", 0)
        self.set_field(cb, "pages_touched", 0)
        self.set_field(cb, "reader_page", rp.id)
        self.set_field(cb, "nr_data_pages", cb.nr_pages)
        self.set_field(cb, "meta_page_size", cb.buffer.page_size << cb.meta_order)
        self.set_field(cb, "data_page_head", 0)
        self.set_field(cb, "data_start", V2_HEADER_SIZE)

    def ring_buffer_map(self, cb):
        return (yield from locked(cb.mapping_lock, self._map_locked(cb)))


    def _map_locked(self, cb):
        m = yield from cb.mapped.load()
        if m:
            yield from cb.mapped.store(m + 1)     # plain int, no overflow check
            return 0
        yield from cb.buffer.mutex.acquire()
        cb.resize_disabled += 1
        yield from cb.buffer.mutex.release()
        self.rb_alloc_meta_page(cb)
        page_ids = [None] * (cb.nr_pages + 1)
        yield from cb.reader_lock.acquire()
        yield from self.rb_setup_ids_meta_page(cb, page_ids)
        yield from cb.mapped.store(1)
        for name, counter in (("entries", cb.entries), ("overrun", cb.overrun),
                              ("pages_touched", cb.pages_touched)):
            v = yield from counter.load()
            yield from self.meta_cmpxchg(cb, name, 0, v)
        yield from cb.reader_lock.release()
        if self.backing is not None:
            size = cb.buffer.page_size
            meta_size = size << cb.meta_order
            total = meta_size + (cb.nr_pages + 1) * size
            self.backing.attach(cb.meta_page,
                                [p.page if p is not None else None
                                 for p in page_ids], meta_size, size, total)
        return 0

    def ring_buffer_unmap(self, cb):
        return (yield from locked(cb.mapping_lock, self._unmap_locked(cb)))


    def _unmap_locked(self, cb):
        m = yield from cb.mapped.load()
        if not m:
            return ENODEV
        yield from cb.mapped.store(m - 1)
        if m - 1 == 0:
            # synchronize_rcu(): wait for writers that saw mapped != 0
            yield from spin_until("synchronize_rcu", lambda: cb.nest == 0, ANY)
            self.rb_free_page_ids(cb)
            self.rb_free_meta_page(cb)
            self._free_last_mapping(cb)
        return 0

    def ring_buffer_map_fault(self, cb, pgoff: int):
        """The page reference for *pgoff*, or None (SIGBUS), or "oops" (a NULL
        or never-assigned table entry dereferenced). Run plain."""
        return run_plain(self.map_fault(cb, pgoff))

    def map_fault(self, cb, pgoff: int):
        """ring_buffer_map_fault as posted: no lock (neither mapping_lock nor
        reader_lock), so each of its loads of cpu_buffer fields is a point where
        another task may run."""
        yield ("ring_buffer_map_fault: meta_order", SHARED, None, ("map", cb), False)
        order = cb.meta_order
        yield ("ring_buffer_map_fault: meta_page", SHARED, None, ("map", cb), False)
        meta = cb.meta_page
        if pgoff < (1 << order):
            if meta is None:
                return "oops"
            return ("meta", meta, pgoff)
        pgoff -= 1 << order
        if pgoff > cb.nr_pages:
            return None
        yield ("ring_buffer_map_fault: page_ids", SHARED, None, ("map", cb), False)
        ids = cb.subbuf_ids
        if ids is None or ids[pgoff] is None:
            return "oops"
        return ("subbuf", ids[pgoff].page, 0)

    @staticmethod
    def fault_set_mapping(ref, file_mapping) -> None:
        """tracing_buffers_mmap_fault (the series' trace.c): get_page(), then
        ``vmf->page->mapping = vm_file->f_mapping``, ``->index = pgoff``."""
        if ref[0] == "meta":
            ref[1].mapping[ref[2]] = file_mapping
        else:
            ref[1].mapping = file_mapping

    # ioctls ------------------------------------------------------------------------
    def rb_get_mapped_buffer(self, cb):
        yield from cb.mapping_lock.acquire()
        if not cb.mapped.value:
            yield from cb.mapping_lock.release()
            return ENODEV
        return 0

    def ring_buffer_get_reader_page(self, cb):
        err = yield from self.rb_get_mapped_buffer(cb)
        if err:
            return err
        yield from cb.reader_lock.acquire()
        reader = cb.reader_page.value
        reader.read = yield from cb.rb_page_size(reader)
        if not (yield from cb.rb_per_cpu_empty()):
            if (yield from cb.rb_get_reader_page()) is None:
                cb.buffer.warn("ring_buffer_get_reader_page")
        yield from cb.reader_lock.release()
        yield from cb.mapping_lock.release()
        return 0

    def ring_buffer_update_meta_page(self, cb):
        err = yield from self.rb_get_mapped_buffer(cb)
        if err:
            return err
        yield from cb.reader_lock.acquire()
        yield from cb.rb_set_head_page()
        yield from cb.reader_lock.release()
        yield from cb.mapping_lock.release()
        return 0
