"""The tracefs facade: one instance's CPU 0 buffer as a user process sees it.

Every call runs to completion in plain mode (no scheduler) and returns what the
system call would return: 0 or a count on success, a negative errno on failure.
The contract is impl/README.md; the kernel paths followed are
``kernel/trace/trace.c`` (``tracing_buffers_mmap``, ``tracing_buffers_ioctl``,
``tracing_buffers_read``, ``tracing_mark_write``, the vm operations) over
:mod:`rbmap.impl.ringbuf` and :mod:`rbmap.impl.mapping`.

Plain-mode conventions (there is no other thread to wake a sleeper):

* a blocking wait that would never end (GET_READER on a blocking fd below the
  ``buffer_percent`` watermark, ``read()`` of an empty buffer on a blocking fd)
  returns ``-EINTR``, as if a signal had arrived;
* touching memory outside a VMA, or a page the v2 fault handler refuses, raises
  :class:`VmaFault` naming the signal (``SIGSEGV`` / ``SIGBUS``): a signal is
  delivered to the process, there is no return value to give.
"""

from __future__ import annotations

import errno as _errno
import struct

from . import event as ev
from .mapping import (VM_EXEC, VM_MAYSHARE, VM_READ, VM_SHARED, VM_WRITE,
                      UpstreamMapping, V2Mapping, page_bytes)
from .ringbuf import (UINT_MAX, KernelLog, TraceBuffer, kmsg_line,
                      ring_buffer_resize, ring_buffer_subbuf_order_set)
from .sched import run_plain
from .tracepipe import TracePipe

__all__ = ["Instance", "Vma", "Process", "VmaFault", "PROT_READ", "PROT_WRITE",
           "PROT_EXEC", "TRACE_MMAP_IOCTL_GET_READER", "V2_GET_READER_PAGE",
           "V2_UPDATE_META_PAGE", "marker_event_size"]

PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
VM_DONTCOPY = 0x20000
VM_DONTEXPAND = 0x40000
VM_MAYWRITE = 0x20

TRACE_MMAP_IOCTL_GET_READER = 0x5220        # _IO('R', 0x20)
V2_GET_READER_PAGE = 0x5401                 # _IO('T', 1)
V2_UPDATE_META_PAGE = 0x5402                # _IO('T', 2)

TRACE_MARKER_MAX_SIZE = 4096
FAULTED_SIZE = 9                            # strlen("<faulted>")
TRACE_PRINT = 5
PRINT_ENTRY_SIZE = 16                       # struct trace_entry (8) + ip (8)
DEFAULT_BUFFER_PERCENT = 50
TRACE_BUF_SIZE_DEFAULT = 1441792            # trace_buf_size: a new instance's size
# CPUs tracefs has a per_cpu directory for (cpu_possible_mask): the guest has
# two and takes CPU 1 offline before it makes any instance, so no instance's
# ring buffer has a cpu_buffer for it (cpumask is {0})
POSSIBLE_CPUS = 2


def _neg(name: str) -> int:
    return -getattr(_errno, name)


EINVAL, EACCES, EBUSY, EPERM, ENODEV = (_neg("EINVAL"), _neg("EACCES"), _neg("EBUSY"),
                                        _neg("EPERM"), _neg("ENODEV"))
EBADF, ENOTTY, EAGAIN, EINTR, ENOENT = (_neg("EBADF"), _neg("ENOTTY"), _neg("EAGAIN"),
                                        _neg("EINTR"), _neg("ENOENT"))
EFAULT, ENOMEM = _neg("EFAULT"), _neg("ENOMEM")


class VmaFault(Exception):
    """A signal delivered on a memory access (SIGSEGV or SIGBUS)."""

    def __init__(self, signal: str, msg: str):
        super().__init__(f"{signal}: {msg}")
        self.signal = signal


def marker_payload_size(nbytes: int) -> int:
    """Payload bytes of a ``trace_marker`` write of *nbytes* characters."""
    return PRINT_ENTRY_SIZE + 2 + max(nbytes, FAULTED_SIZE)


def marker_event_size(nbytes: int) -> int:
    """Bytes a ``trace_marker`` write of *nbytes* characters takes in a sub-buffer."""
    return ev.rb_calculate_event_length(marker_payload_size(nbytes))


class _Fd:
    def __init__(self, nonblock: bool, rdwr: bool, cpu: int = 0):
        self.nonblock = nonblock
        self.rdwr = rdwr
        self.cpu = cpu                   # iter->cpu_file: per_cpu/cpuN
        self.read = 0xFFFFFFFF           # info->read starts at (unsigned int)-1
        self.spare = None
        self.closed = False
        self.pipe = None                 # a TracePipe for a trace_pipe fd
        # iter->closed: set by tracing_buffers_flush, which runs at every close
        # of a descriptor of the file (a forked child's exit too), not only the
        # last; a read of an empty buffer then returns 0 instead of waiting
        self.iter_closed = False


class Process:
    """A user process: an address space of VMAs (the main process or a fork child)."""

    def __init__(self, inst: "Instance", name: str):
        self.inst = inst
        self.name = name
        self.vmas: list[Vma] = []
        self.files: list[_Fd] = []      # open files a fork child holds copies of
        self.next_addr = 0x7F0000000000

    def alloc_addr(self, length: int) -> int:
        addr = self.next_addr
        self.next_addr += length + 16 * self.inst.page_size
        return addr

    def find(self, addr: int) -> "Vma | None":
        for v in self.vmas:
            if v.addr <= addr < v.addr + v.length:
                return v
        return None

    def exit(self) -> None:
        """Process exit: every VMA is closed, then every descriptor (exit_files:
        each close runs the file's ``flush``)."""
        for v in list(self.vmas):
            self.inst.munmap(v)
        for f in self.files:
            self.inst.flush(f)
        self.files = []


class Vma:
    """A mapping of ``trace_pipe_raw``.

    ``addr`` is its (synthetic) start address in the process, ``offset`` and
    ``length`` are the file offset and size in bytes.  ``read(offset, n)`` reads
    the process's memory at ``addr + offset``: after a split it reads whatever
    VMA covers each page, and a page no VMA covers raises ``VmaFault(SIGSEGV)``.
    """

    def __init__(self, inst: "Instance", fd: _Fd, proc: Process, addr: int,
                 offset: int, length: int, prot: int, vm_flags: int,
                 refs: list | None):
        self.inst = inst
        self.fd = fd
        self.proc = proc
        self.addr = addr
        self.offset = offset
        self.length = length
        self.prot = prot
        self.vm_flags = vm_flags
        # upstream: every page inserted at mmap time; v2: faulted in lazily
        self.refs = refs if refs is not None else [None] * (length // inst.page_size)
        self.closed = False

    @property
    def pgoff(self) -> int:
        return self.offset // self.inst.page_size

    def _page(self, i: int):
        ref = self.refs[i]
        if ref is None:
            ref = self.inst._v2_fault(self, self.pgoff + i)
            self.refs[i] = ref
        return ref

    def _piece(self, start: int, end: int, proc: Process | None = None) -> "Vma":
        ps = self.inst.page_size
        return Vma(self.inst, self.fd, proc or self.proc, self.addr + start,
                   self.offset + start, end - start, self.prot, self.vm_flags,
                   self.refs[start // ps:end // ps])

    def read(self, offset: int, n: int) -> bytes:
        """The bytes at ``addr + offset`` as the process reads them."""
        if n < 0:
            raise VmaFault("SIGSEGV", "negative length")
        ps = self.inst.page_size
        out = bytearray()
        pos = self.addr + offset
        end = pos + n
        while pos < end:
            v = self.proc.find(pos)
            if v is None:
                raise VmaFault("SIGSEGV", f"no mapping at {pos:#x}")
            if not v.prot & PROT_READ:
                raise VmaFault("SIGSEGV", f"{pos:#x} is not readable")
            i, within = divmod(pos - v.addr, ps)
            chunk = page_bytes(v._page(i), ps)
            take = min(ps - within, end - pos)
            out += chunk[within:within + take]
            pos += take
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        """A store: the mapping is never writable."""
        raise VmaFault("SIGSEGV", "store to a read-only mapping")


class Instance:
    """One tracefs instance reduced to CPU 0's buffer (see impl/README.md)."""

    def __init__(self, abi: str = "upstream", layout: str = "6.12",
                 page_size: int = 4096, buffer_size_kb: int = 16,
                 subbuf_size_kb: int = 4, overwrite: bool = True,
                 backing: str | None = None, clock=None, pid: int = 1):
        if abi not in ("upstream", "v2"):
            raise ValueError(f"unknown abi {abi!r} (upstream or v2)")
        if page_size <= 0 or page_size & (page_size - 1) or page_size < 256:
            raise ValueError(f"page_size must be a power of two >= 256: {page_size}")
        self.abi = abi
        self.layout = layout
        self.page_size = page_size
        self.pid = pid
        # the kernel followed: 6.12.117, or 6.10 with the 6.10 layout
        self.kernel = "6.10" if abi == "upstream" and layout == "6.10" else "6.12.117"
        self._kmsg = KernelLog()
        order = self._order_for_kb(subbuf_size_kb)
        if order is None:
            raise ValueError(f"subbuf_size_kb {subbuf_size_kb} out of range")
        if abi == "v2":
            if order:
                raise ValueError("v2 has no sub-buffer order (subbuf_size_kb must "
                                 "be one page)")
            self.mapping = V2Mapping(backing)
            self.GET_READER = V2_GET_READER_PAGE
            self.UPDATE_META_PAGE = V2_UPDATE_META_PAGE
        else:
            self.mapping = UpstreamMapping(layout, backing)
            self.GET_READER = TRACE_MMAP_IOCTL_GET_READER
        capacity = (page_size << order) - ev.BUF_PAGE_HDR_SIZE
        nr_pages = max(2, -(-(buffer_size_kb * 1024) // capacity))
        self.overwrite = overwrite
        self.clock = clock
        self.array_buffer = self._new_buffer(nr_pages, order, "buffer")
        self._as_created_by_mkdir(order)
        # tr->array_buffer.data[cpu]->entries: what buffer_size_kb reads back, the
        # ring size set at creation and by each successful resize (not by a
        # sub-buffer order change: update_buffer_entries() only runs on resize)
        self._size_entries = self._ring_size()
        self.max_buffer = None            # the snapshot buffer, once allocated
        self.snapshot = 0                 # tr->snapshot: armed snapshot users
        self.mapped = 0                   # tr->mapped: live mappings of the instance
        # tr->flags & TRACE_ARRAY_FL_BOOT: an instance the kernel command line put
        # on reserved memory (trace_instance=NAME@...); mmap refuses it first
        self.boot_mapped = False
        self.buffer_percent = DEFAULT_BUFFER_PERCENT
        self.tracing_on = 1
        self._fds: dict[int, _Fd] = {}
        self._pipe_open = False           # tr->pipe_cpumask has cpu 0
        self._next_fd = 3
        self.proc = Process(self, "main")
        self._nforks = 0

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _new_buffer(self, nr_pages: int, order: int, name: str) -> TraceBuffer:
        b = TraceBuffer(nr_pages, page_size=self.page_size, subbuf_order=order,
                        overwrite=self.overwrite, clock=self.clock, name=name,
                        kmsg=self._kmsg, kernel=self.kernel,
                        zero_pages=self.abi != "v2")
        # tracefs allocates every buffer at order 0 (ring_buffer_alloc) and sets
        # the order afterwards, which leaves buffer->max_data_size alone
        b.max_data_size = self.page_size - ev.BUF_PAGE_HDR_SIZE - 8
        for cb in b.buffers.values():
            cb.mapping = self.mapping
        if self.clock is None:
            self.clock = b.clock          # one clock for every buffer
        return b

    def _as_created_by_mkdir(self, order: int) -> None:
        """Leave ``cpu_buffer->pages`` where the kernel's way to this geometry does.

        ``mkdir instances/NAME`` allocates trace_buf_size bytes
        (TRACE_BUF_SIZE_DEFAULT) at order 0; the sub-buffer order is set next
        (ring_buffer_subbuf_order_set: ``pages`` is the new head), then the
        per-CPU size.  A smaller size is rb_remove_pages on the fresh ring (tail
        == head): it unlinks the pages after the head and leaves ``pages`` on the
        page that then follows it, where rb_reset_cpu puts the head again (a
        reset moves the head one page on).  A larger one is rb_insert_pages,
        which leaves ``pages`` alone.  The ring itself is built directly at its
        final size (the same pages in the same order, without allocating 1.4 MB
        per instance)."""
        cap0 = self.page_size - ev.BUF_PAGE_HDR_SIZE
        nr = max(2, -(-TRACE_BUF_SIZE_DEFAULT // cap0))
        if order:
            nr = max(2, -(-(cap0 * nr) // self.array_buffer.subbuf_size))
        cb = self.cpu_buffer
        if cb.nr_pages < nr:
            cb.pages = cb.head_page.list_next.value[0]

    def _ring_size(self) -> int:
        """ring_buffer_size(): bytes of data the CPU 0 ring holds."""
        b = self.array_buffer
        return b.buffers[0].nr_pages * b.subbuf_size

    def _order_for_kb(self, kb: int) -> int | None:
        pages = -(-(kb * 1024) // self.page_size)
        if pages <= 0:
            return None
        order = (pages - 1).bit_length()
        return order if order <= 7 else None

    @property
    def cpu_buffer(self):
        """Kernel-side introspection (tests); the user side never uses it."""
        return self.array_buffer.buffers[0]

    def _fd(self, fd: int) -> _Fd | None:
        f = self._fds.get(fd)
        return None if f is None or f.closed else f

    def warn(self, function: str, message: str = "") -> None:
        self._kmsg.warn(function, message)

    def kmsg(self) -> list[str]:
        """The kernel log so far, one line per record (see :class:`KernelLog`)."""
        return self._kmsg.lines()

    def kmsg_records(self, start: int = 0) -> list[dict]:
        """The kernel log records from index *start* on: ``{"kind", "function",
        "message"}`` each (``len(inst.kmsg_records())`` marks a position)."""
        return [dict(r) for r in self._kmsg.records[start:]]

    def rmdir(self) -> None:
        """``rmdir instances/NAME`` once nothing holds it: ring_buffer_free of the
        instance's buffers (every page goes back to the page allocator)."""
        for b in (self.array_buffer, self.max_buffer):
            if b is not None:
                b.free()

    def meta_bytes(self) -> bytes:
        meta = self.cpu_buffer.meta_page
        if meta is None:
            return b""
        if self.abi == "v2":
            return bytes(meta.buf)
        size = self.mapping.meta_page_size(self.cpu_buffer)
        return bytes(meta.buf[:size]) + bytes(max(0, size - meta.size))

    # ------------------------------------------------------------------
    # files
    # ------------------------------------------------------------------
    def _parse_ulong(self, value) -> int | None:
        try:
            v = int(str(value).strip(), 0)
        except ValueError:
            return None
        return v if v >= 0 else None

    def write_file(self, name: str, value="") -> int:
        name = name.strip("/")
        if name in ("buffer_size_kb", "per_cpu/cpu0/buffer_size_kb"):
            kb = self._parse_ulong(value)
            if not kb:
                return EINVAL
            cpu = None if name == "buffer_size_kb" else 0
            rc = run_plain(ring_buffer_resize(self.array_buffer, kb << 10, cpu))
            if rc == 0 and self.max_buffer is not None:
                run_plain(ring_buffer_resize(self.max_buffer, kb << 10, cpu))
            if rc == 0:
                self._size_entries = self._ring_size()    # update_buffer_entries()
            return rc
        if name == "buffer_subbuf_size_kb":
            if self.abi == "v2":
                return ENOENT             # the file did not exist yet
            kb = self._parse_ulong(value)
            order = self._order_for_kb(kb) if kb is not None else None
            if order is None:
                return EINVAL
            rc = run_plain(ring_buffer_subbuf_order_set(self.array_buffer, order))
            if rc == 0 and self.max_buffer is not None:
                run_plain(ring_buffer_subbuf_order_set(self.max_buffer, order))
            for cb in self.array_buffer.buffers.values():
                cb.mapping = self.mapping
            return rc
        if name == "snapshot":
            return self._write_snapshot(str(value).strip())
        if name == "events/sched/sched_switch/trigger":
            return self._write_trigger(str(value).strip())
        if name == "trace":
            cb = self.cpu_buffer
            run_plain(cb.ring_buffer_reset_cpu())
            return 0
        if name == "tracing_on":
            v = self._parse_ulong(value)
            if v is None:
                return EINVAL
            self.tracing_on = 1 if v else 0
            for b in (self.array_buffer, self.max_buffer):
                if b is not None:
                    (b.record_on if v else b.record_off)()
            return 0
        if name == "buffer_percent":
            v = self._parse_ulong(value)
            if v is None or v > 100:
                return EINVAL
            self.buffer_percent = v
            return 0
        return ENOENT

    def read_file(self, name: str) -> str:
        name = name.strip("/")
        b = self.array_buffer
        if name in ("buffer_size_kb", "per_cpu/cpu0/buffer_size_kb"):
            return str(self._size_entries >> 10)      # tracing_entries_read
        if name == "buffer_subbuf_size_kb":
            return str((self.page_size << b.subbuf_order) // 1024)
        if name == "tracing_on":
            return str(self.tracing_on)
        if name == "buffer_percent":
            return str(self.buffer_percent)
        raise ValueError(f"read_file: no such file in this model: {name}")

    def _alloc_snapshot(self) -> None:
        if self.max_buffer is None:
            a = self.array_buffer
            self.max_buffer = self._new_buffer(a.buffers[0].nr_pages, a.subbuf_order,
                                               "max_buffer")
            if a.record_disabled:
                self.max_buffer.record_off()

    def _write_snapshot(self, value: str) -> int:
        v = self._parse_ulong(value)
        if v is None:
            return EINVAL
        if v == 0:
            self.max_buffer = None
            return 0
        if v == 1:
            if self.abi == "upstream":
                # tracing_arm_snapshot_locked()
                if self.snapshot == UINT_MAX or self.mapped:
                    return EBUSY
                self.snapshot += 1
            self._alloc_snapshot()
            # update_max_tr(): swap the whole buffers (no per-CPU mapped check)
            self.array_buffer, self.max_buffer = self.max_buffer, self.array_buffer
            if self.abi == "upstream":
                self.snapshot -= 1        # tracing_disarm_snapshot()
            return 0
        if self.max_buffer is not None:
            run_plain(self.max_buffer.buffers[0].ring_buffer_reset_cpu())
        return 0

    def _write_trigger(self, value: str) -> int:
        if value == "snapshot":
            if self.abi == "upstream":
                if self.snapshot == UINT_MAX or self.mapped:
                    return EBUSY
                self.snapshot += 1
            self._alloc_snapshot()
            return 0
        if value == "!snapshot":
            if self.abi == "upstream" and self.snapshot:
                self.snapshot -= 1
            return 0
        return EINVAL

    # ------------------------------------------------------------------
    # trace_marker
    # ------------------------------------------------------------------
    def write_marker(self, text) -> int:
        """``write(trace_marker, text)``: bytes written or -errno (tracing_mark_write)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        # an empty write reaches tracing_mark_write too (vfs_write does not stop
        # at a count of 0) and records an event with an empty string
        cnt = min(len(data), TRACE_MARKER_MAX_SIZE)
        cb = self.cpu_buffer
        # ring_buffer_max_event_size(): max_data_size (less a time extend only
        # when absolute time stamps are on, which this facade never turns on)
        max_payload = self.array_buffer.max_data_size
        size = marker_payload_size(cnt)
        if size > max_payload:
            if cnt < FAULTED_SIZE:
                return EBADF
            cnt = max_payload - (PRINT_ENTRY_SIZE + 2)
            size = marker_payload_size(cnt)
        body = bytearray(size)
        struct.pack_into("<HBBi", body, 0, TRACE_PRINT, 0, 0, self.pid)
        struct.pack_into("<Q", body, 8, 0)
        body[16:16 + cnt] = data[:cnt]
        if data[cnt - 1:cnt] != b"\n":
            body[16 + cnt] = 0x0A
            body[16 + cnt + 1] = 0
        else:
            body[16 + cnt] = 0
        rc = run_plain(cb.ring_buffer_write(bytes(body)))
        return EBADF if rc else cnt

    # ------------------------------------------------------------------
    # trace_pipe_raw: open / close / read / ioctl
    # ------------------------------------------------------------------
    def open(self, nonblock: bool = False, rdwr: bool = False, cpu: int = 0) -> int:
        """Open ``per_cpu/cpu<cpu>/trace_pipe_raw``.  tracefs has a per_cpu
        directory for every *possible* CPU (``POSSIBLE_CPUS``); the ring buffer
        has a ``cpu_buffer`` only for the CPUs that came up (``cpumask``)."""
        if not 0 <= cpu < POSSIBLE_CPUS:
            return ENOENT
        fd = self._next_fd
        self._next_fd += 1
        self._fds[fd] = _Fd(nonblock, rdwr, cpu)
        return fd

    def flush(self, f: _Fd) -> None:
        """A close of one descriptor of the file (``f_op->flush``).  trace_pipe_raw
        has tracing_buffers_flush: ``iter->closed = true`` for the open file
        itself, so every other descriptor of it (a fork's parent) sees it too;
        trace_pipe has no flush."""
        if f.pipe is None:
            f.iter_closed = True

    def close(self, fd: int) -> int:
        f = self._fd(fd)
        if f is None:
            return EBADF
        self.flush(f)
        f.closed = True
        f.spare = None
        if f.pipe is not None:
            f.pipe = None
            self._pipe_open = False          # close_pipe_on_cpu
        return 0

    def open_pipe(self, nonblock: bool = True) -> int:
        """Open ``per_cpu/cpu0/trace_pipe`` (the text reader): an fd, or -EBUSY
        while another one is open (``open_pipe_on_cpu``)."""
        if self._pipe_open:
            return EBUSY
        self._pipe_open = True
        fd = self._next_fd
        self._next_fd += 1
        f = _Fd(nonblock, False)
        f.pipe = TracePipe(lambda: self.cpu_buffer, nonblock=nonblock)
        self._fds[fd] = f
        return fd

    def _rb_watermark_hit(self, cb) -> bool:
        if run_plain(cb.ring_buffer_empty_cpu()):
            return False
        full = self.buffer_percent
        if not full:
            return True
        if cb.reader_page.value is cb.commit_page.value:
            return False
        lost = cb.pages_lost.value
        cnt = cb.pages_touched.value
        read = cb.pages_read
        if cnt < lost:
            dirty = 0
        else:
            cnt -= lost
            dirty = 0 if cnt < read else cnt - read
        return (dirty + 1) * 100 >= full * cb.nr_pages

    def ioctl(self, fd: int, cmd: int) -> int:
        f = self._fd(fd)
        if f is None:
            return EBADF
        cb = self.cpu_buffer
        if self.abi == "v2":
            if cmd == V2_GET_READER_PAGE:
                return run_plain(self.mapping.ring_buffer_get_reader_page(cb))
            if cmd == V2_UPDATE_META_PAGE:
                return run_plain(self.mapping.ring_buffer_update_meta_page(cb))
            return ENOTTY if cmd else 0
        if cmd == TRACE_MMAP_IOCTL_GET_READER:
            if not f.nonblock and not self._rb_watermark_hit(cb):
                return EINTR              # nobody will ever wake it: a signal
            return run_plain(self.mapping.ring_buffer_map_get_reader(cb))
        return ENOTTY if cmd else 0

    def read(self, fd: int, nbytes: int):
        """``read(trace_pipe_raw)``: ``(rc, bytes)`` as tracing_buffers_read."""
        f = self._fd(fd)
        if f is None:
            return EBADF, b""
        if f.pipe is not None:
            return f.pipe.read(max(nbytes, 0))     # tracing_read_pipe
        if nbytes <= 0:
            return 0, b""
        buffer = self.array_buffer
        cb = buffer.buffers[0]
        page_size = buffer.subbuf_bytes
        if f.spare is None or f.spare[0].size != page_size:
            from .ringbuf import BufferDataPage
            f.spare = [BufferDataPage(page_size)]
            f.read = 0xFFFFFFFF
        if f.read >= page_size:
            # tracing_buffers_read hands the user's count to ring_buffer_read_page:
            # a short read copies only the events that fit in count - 16 bytes
            ret = run_plain(cb.ring_buffer_read_page(f.spare, nbytes))
            if ret < 0:
                if run_plain(cb.ring_buffer_empty_cpu()) and not f.iter_closed:
                    return (EAGAIN if f.nonblock else EINTR), b""
                return 0, b""
            f.read = 0
        size = min(page_size - f.read, nbytes)
        data = bytes(f.spare[0].buf[f.read:f.read + size])
        f.read += size
        return size, data

    # ------------------------------------------------------------------
    # mmap and the VMA operations
    # ------------------------------------------------------------------
    def mmap(self, fd: int, length: int, offset: int, prot: int = PROT_READ,
             shared: bool = True, proc: Process | None = None):
        """``mmap(NULL, length, prot, shared ? MAP_SHARED : MAP_PRIVATE, fd, offset)``."""
        proc = proc or self.proc
        f = self._fd(fd)
        if f is None:
            return EBADF, None
        ps = self.page_size
        if offset % ps or offset < 0:
            return EINVAL, None
        if length <= 0:
            return EINVAL, None
        if prot & PROT_WRITE and shared and not f.rdwr:
            return EACCES, None
        # tracing_buffers_mmap: the boot-mapped buffer is not supported
        if self.boot_mapped:
            return ENODEV, None
        npages = -(-length // ps)
        vm_flags = ((VM_READ if prot & PROT_READ else 0) |
                    (VM_WRITE if prot & PROT_WRITE else 0) |
                    (VM_EXEC if prot & PROT_EXEC else 0) |
                    (VM_SHARED | VM_MAYSHARE if shared else 0))
        cb = self.cpu_buffer
        if self.abi == "v2":
            if vm_flags & VM_WRITE:
                return EPERM, None
            if f.cpu not in cb.buffer.cpumask:      # the series' cpumask check
                return EINVAL, None
            rc = run_plain(self.mapping.ring_buffer_map(cb))
            if rc:
                return rc, None
            vma = Vma(self, f, proc, proc.alloc_addr(npages * ps), offset, npages * ps,
                      prot, (vm_flags | VM_DONTCOPY) & ~VM_MAYWRITE, None)
        else:
            # get_snapshot_map()
            if self.snapshot or self.mapped == UINT_MAX:
                return EBUSY, None
            self.mapped += 1
            # ring_buffer_map: a CPU the ring buffer has no cpu_buffer for
            if f.cpu not in cb.buffer.cpumask:
                self._put_snapshot_map()
                return EINVAL, None
            rc, refs = run_plain(self.mapping.ring_buffer_map(cb, offset // ps, npages,
                                                              vm_flags))
            if rc:
                self._put_snapshot_map()
                return rc, None
            vma = Vma(self, f, proc, proc.alloc_addr(npages * ps), offset, npages * ps,
                      prot, (vm_flags | VM_DONTCOPY | VM_DONTEXPAND) & ~VM_MAYWRITE,
                      refs)
        proc.vmas.append(vma)
        return 0, vma

    def _put_snapshot_map(self) -> None:
        # WARN_ON(!tr->mapped) in put_snapshot_map, which the build inlines into
        # its callers: the kernel names tracing_buffers_mmap_close
        if not self.mapped:
            self.warn("tracing_buffers_mmap_close")
        else:
            self.mapped -= 1

    def _v2_fault(self, vma: Vma, pgoff: int):
        cb = self.cpu_buffer            # iter->array_buffer->buffer, now
        ref = self.mapping.ring_buffer_map_fault(cb, pgoff)
        if ref == "oops":
            self._kmsg.add("BUG", "ring_buffer_map_fault",
                           "kernel NULL pointer dereference")
            raise VmaFault("SIGBUS", f"page {pgoff}: the fault handler crashed")
        if ref is None:
            raise VmaFault("SIGBUS", f"page {pgoff}: ring_buffer_map_fault refused it")
        self.mapping.fault_set_mapping(ref, "trace_pipe_raw")
        return ref

    def _vma_close(self, vma: Vma) -> None:
        vma.closed = True
        if vma in vma.proc.vmas:
            vma.proc.vmas.remove(vma)
        rc = run_plain(self.mapping.ring_buffer_unmap(self.cpu_buffer))
        if self.abi == "upstream":
            if rc:             # WARN_ON(ring_buffer_unmap(...))
                self.warn("tracing_buffers_mmap_close")
            self._put_snapshot_map()

    def _vma_open(self) -> None:
        """vm_ops->open, called for a VMA copied by fork or split off.

        v2 maps again (counts the new VMA).  6.12.117 has
        ``tracing_buffers_mmap_open`` -> ``ring_buffer_map_dup`` (upstream e39bb9e02b68, 6.12.y since early 2026):
        the buffer counts one more user mapping, but ``tr->mapped`` (the
        instance's count, ``get_snapshot_map``) is not raised, so closing the last
        copy underflows it (the WARN_ON in put_snapshot_map).  6.10 has no
        ``open``: the copy is not counted at all."""
        if self.abi == "v2":
            rc = run_plain(self.mapping.ring_buffer_map(self.cpu_buffer))
            if rc:
                self.warn("tracing_buffers_mmap_open")
        elif self.kernel != "6.10":
            run_plain(self.mapping.ring_buffer_map_dup(self.cpu_buffer))

    def _range(self, vma: Vma, offset: int, length: int | None):
        ps = self.page_size
        if length is None:
            length = vma.length - offset
        if offset % ps or length <= 0:
            return None
        start = vma.addr + offset
        return start, start + -(-length // ps) * ps

    def _split(self, proc: Process, start: int, end: int) -> list[Vma] | int:
        """Split the VMAs overlapping [start, end) at the bounds; return those inside.

        6.12.117's ``may_split`` refuses any split (-EINVAL, nothing changed); v2
        and 6.10 split, and ``__split_vma`` calls ``vm_ops->open`` on each new
        piece (v2 counts it, 6.10 has none: each piece's close unmaps once more).
        """
        hit = [v for v in proc.vmas if v.addr < end and start < v.addr + v.length]
        partial = [v for v in hit if v.addr < start or v.addr + v.length > end]
        if partial and self.abi == "upstream" and self.kernel != "6.10":
            return EINVAL      # tracing_buffers_may_split (6.12.117; not in 6.10)
        inside = []
        for v in hit:
            a = max(start, v.addr) - v.addr
            b = min(end, v.addr + v.length) - v.addr
            cuts = [0] + [c for c in (a, b) if 0 < c < v.length] + [v.length]
            pieces = [v._piece(x, y) for x, y in zip(cuts, cuts[1:])]
            if len(pieces) == 1:
                inside.append(v)
                continue
            idx = proc.vmas.index(v)
            # the original VMA object stays as the first piece
            first = pieces[0]
            v.length, v.refs = first.length, first.refs
            pieces[0] = v
            proc.vmas[idx:idx + 1] = pieces
            for _ in pieces[1:]:
                self._vma_open()
            inside += [p for p in pieces if p.addr >= start and
                       p.addr + p.length <= end]
        return inside

    def munmap(self, vma: Vma, offset: int = 0, length: int | None = None) -> int:
        """``munmap(addr + offset, length)``; a split is refused upstream."""
        rng = self._range(vma, offset, length)
        if rng is None:
            return EINVAL
        inside = self._split(vma.proc, *rng)
        if isinstance(inside, int):
            return inside
        for v in inside:
            self._vma_close(v)
        return 0

    def mprotect(self, vma: Vma, prot: int, offset: int = 0,
                 length: int | None = None) -> int:
        rng = self._range(vma, offset, length)
        if rng is None:
            return EINVAL
        start, end = rng
        hit = [v for v in vma.proc.vmas if v.addr < end and start < v.addr + v.length]
        if not hit:
            return ENOMEM
        if prot & PROT_WRITE and any(not v.vm_flags & VM_MAYWRITE for v in hit):
            return EACCES
        inside = self._split(vma.proc, start, end)
        if isinstance(inside, int):
            return inside
        for v in inside:
            v.prot = prot
        return 0

    def mremap(self, vma: Vma, new_length: int) -> int:
        """``mremap(addr, old, new_length, 0)`` of the VMA starting at ``vma.addr``."""
        v = vma.proc.find(vma.addr)
        if v is None or v.addr != vma.addr:
            return EFAULT
        ps = self.page_size
        new_length = -(-new_length // ps) * ps
        if new_length <= 0:
            return EINVAL
        if new_length == v.length:
            return 0
        if new_length > v.length:
            if v.vm_flags & VM_DONTEXPAND:
                return EFAULT
            # MREMAP_MAYMOVE: the grown VMA moves to a free range
            v.refs += [None] * ((new_length - v.length) // ps)
            v.length = new_length
            v.addr = v.proc.alloc_addr(new_length)
            return 0
        return self.munmap(v, new_length, v.length - new_length)

    def madvise_dofork(self, vma: Vma) -> int:
        v = vma.proc.find(vma.addr)
        if v is None:
            return ENOMEM
        v.vm_flags &= ~VM_DONTCOPY
        return 0

    def fork(self) -> Process:
        """A child process: copies of the VMAs without VM_DONTCOPY, and of the open
        descriptors (closed at its exit).

        Upstream 6.12 has no ``vm_ops->open``, so the child's copy is not counted
        (closing both copies then warns); v2's ``open`` counts it.
        """
        self._nforks += 1
        child = Process(self, f"child{self._nforks}")
        child.next_addr = self.proc.next_addr
        child.files = [f for f in self._fds.values() if not f.closed]
        for v in self.proc.vmas:
            if v.vm_flags & VM_DONTCOPY:
                continue
            copy = v._piece(0, v.length, child)
            if self.abi == "v2":
                copy.refs = [None] * len(copy.refs)   # the child faults again
            child.vmas.append(copy)
            self._vma_open()
        return child
