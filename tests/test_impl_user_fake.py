"""A tiny stand-in for ``rbmap.impl.tracefs.Instance`` (upstream ABI only).

It lets the user side (scenario runner, reader library, two-process reader) be
tested on its own: page moves, overwrite with lost-event flags, the GET_READER loop
of UPSTREAM.md §1.4, first-map IDs, and a backing file laid out as the 6.12 ABI
says.  It is deliberately small (no nesting, no scheduler, no resize) and is not a
second implementation of the kernel side: tests that are about the protocol run on
the real Instance.  The last test here checks the fake against the rules it relies
on, so a wrong fake cannot silently make the user-side tests pass.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct

from rbmap.impl import decode

PAGE = 4096
CAP = PAGE - 16
GET_READER = 0x5220


def event_size(n: int) -> int:
    return 4 + (18 + max(n, 9) + 3) // 4 * 4


class _Vma:
    def __init__(self, inst, length, offset):
        self.inst, self.length, self.offset = inst, length, offset

    def read(self, off, n):
        return self.inst._view(self.offset + off, n)


class FakeInstance:
    GET_READER = GET_READER

    def __init__(self, abi="upstream", layout="6.12", page_size=PAGE,
                 buffer_size_kb=16, subbuf_size_kb=4, overwrite=True, backing=None):
        assert abi == "upstream" and subbuf_size_kb == 4
        self.nr_pages = max(2, -(-buffer_size_kb * 1024 // CAP))
        n = self.nr_pages
        self.page = [bytearray(PAGE) for _ in range(n + 1)]
        self.reader = n
        self.ring = list(range(n))
        self.head = self.tail = 0
        self.pread = [0] * (n + 1)        # buffer_page->read
        self.pent = [0] * (n + 1)         # buffer_page->entries
        self.real_end = [None] * (n + 1)
        self.entries = self.overrun = self.read_ = self.last_overrun = 0
        self.overwrite = overwrite
        self.ids = None
        self.user_mapped = 0
        self.next_fd = 3
        self.fds = set()
        self.backing = backing
        self._file = None
        self._meta = bytearray(PAGE)
        self.calls = []

    # ---- helpers -------------------------------------------------------
    def _commit(self, p):
        return int.from_bytes(self.page[p][8:16], "little") & decode.RB_COMMIT_MASK

    def _set_commit(self, p, v):
        self.page[p][8:16] = (v & (2**64 - 1)).to_bytes(8, "little")

    def _nxt(self, p):
        if p == self.reader:
            return self.head
        return self.ring[(self.ring.index(p) + 1) % len(self.ring)]

    def _sync(self, pages=None):
        if self._file is None or self.ids is None:
            return
        self._file.seek(0)
        self._file.write(self._meta)
        for p in (self.ids if pages is None else pages):
            off = (self.ids[p] + 1) * PAGE
            self._file.seek(off + 16)
            self._file.write(self.page[p][16:])
            self._file.seek(off)
            self._file.write(self.page[p][:16])

    def _update_meta(self):
        struct.pack_into("<IIIIQIIQQQQ", self._meta, 0, PAGE, 80, PAGE, self.nr_pages + 1,
                         0, self.ids[self.reader], self.pread[self.reader], 0,
                         self.entries, self.overrun, self.read_)

    def _view(self, off, n):
        out = bytearray()
        while n > 0:
            k, o = divmod(off, PAGE)
            src = self._meta if k == 0 else self.page[{v: q for q, v in self.ids.items()}[k - 1]]
            chunk = src[o:o + n]
            out += chunk
            off += len(chunk)
            n -= len(chunk)
        return bytes(out)

    # ---- facade --------------------------------------------------------
    def write_file(self, name, value):
        return -errno.EINVAL

    def read_file(self, name):
        return {"buffer_size_kb": str(self.nr_pages * CAP // 1024),
                "buffer_subbuf_size_kb": "4"}.get(name, "")

    def write_marker(self, text):
        length = event_size(len(text))
        t = self.tail
        size = self._commit(t)
        if size + length > CAP:
            rem = CAP - size
            nxt = self._nxt(t)
            if nxt == self.head and self.pent[nxt] and t != self.reader:
                if not self.overwrite:
                    return -errno.EBADF
                self.overrun += self.pent[nxt]
                self.head = self._nxt(nxt)
            if rem >= 8:
                self.page[t][16 + size:20 + size] = struct.pack("<I", (1 << 5) | 29)
                self.page[t][20 + size:24 + size] = struct.pack("<I", rem - 4)
                self.real_end[t] = size
                self._set_commit(t, CAP)
            self._sync([t])
            t = self.tail = nxt
            self.page[t][:] = bytes(PAGE)
            self.pent[t] = 0
            self.pread[t] = 0
            self.real_end[t] = None
            size = 0
        ev = struct.pack("<I", (length - 4) // 4) + bytes(16) + text + b"\n"
        self.page[t][16 + size:16 + size + length] = ev.ljust(length, b"\0")
        self._set_commit(t, size + length)
        self.pent[t] += 1
        self.entries += 1
        self._sync([t])
        return len(text)

    def open(self, nonblock=False, rdwr=False):
        fd = self.next_fd
        self.next_fd += 1
        self.fds.add(fd)
        return fd

    def close(self, fd):
        if fd not in self.fds:
            return -errno.EBADF
        self.fds.discard(fd)
        return 0

    def mmap(self, fd, length, offset, prot=1, shared=True):
        self.calls.append(("mmap", length, offset))
        total = (self.nr_pages + 2) * PAGE
        if offset % PAGE or length == 0 or offset + length > total:
            return -errno.EINVAL, None
        if self.user_mapped == 0:
            i = self.ring.index(self.head)
            order = [self.reader] + self.ring[i:] + self.ring[:i]
            self.ids = {p: k for k, p in enumerate(order)}
            self._update_meta()
            if self.backing:
                fdesc = os.open(self.backing, os.O_RDWR | os.O_CREAT, 0o644)
                os.ftruncate(fdesc, total)
                self._file = os.fdopen(fdesc, "r+b", buffering=0)
                self._sync()
        self.user_mapped += 1
        return 0, _Vma(self, length, offset)

    def munmap(self, vma, offset=0, length=None):
        self.calls.append(("munmap", vma.length, vma.offset))
        self.user_mapped -= 1
        if self.user_mapped == 0:
            self.ids = None
            if self._file:
                self._file.close()
                self._file = None
        return 0

    def ioctl(self, fd, cmd):
        self.calls.append(("ioctl", cmd))
        if cmd == 0:
            return 0
        if cmd != GET_READER:
            return -errno.ENOTTY
        if not self.user_mapped:
            return -errno.ENODEV
        while True:
            r = self.reader
            size = self._commit(r)
            empty = self.pread[r] >= size and (
                self.tail == r or (self.tail == self.head and self._commit(self.head) == 0))
            if empty:
                break
            if self.pread[r] < size:
                for ev in decode.iter_events(self.page[r][16:], size, self.pread[r]):
                    if ev.type == "data":
                        self.read_ += 1
                self.pread[r] = size
                break
            if self.tail == r:
                break
            i = self.ring.index(self.head)
            old, new = r, self.head
            self.ring[i] = old
            self.page[old][8:16] = bytes(8)
            self.pent[old] = 0
            self.reader = new
            self.pread[new] = 0
            self.head = self.ring[(i + 1) % len(self.ring)]
            lost = self.overrun - self.last_overrun
            self.last_overrun = self.overrun
            if lost and new != self.tail:
                size = self.real_end[new] if self.real_end[new] is not None else self._commit(new)
                flags = decode.RB_MISSED_EVENTS
                if size + 8 <= CAP:
                    self.page[new][16 + size:24 + size] = lost.to_bytes(8, "little")
                    flags |= decode.RB_MISSED_STORED
                v = size + flags
                if v & (1 << 31):
                    v |= 0xFFFFFFFF00000000
                self._set_commit(new, v)
        self._update_meta()
        self._sync()
        return 0

    def kmsg(self):
        return []

    def fork(self):
        class Child:                     # every mapping is VM_DONTCOPY here
            vmas = []

            def exit(self):
                pass
        return Child()


def test_fake_follows_the_rules_it_relies_on():
    f = FakeInstance(buffer_size_kb=8)       # 3 ring pages
    fd = f.open()
    for i in range(10):
        assert f.write_marker(b"#%08d" % i) == 9
    rc, vma = f.mmap(fd, PAGE, 0)
    meta = decode.decode_meta(vma.read(0, 80))
    assert (meta["reader"]["id"], meta["entries"], meta["nr_subbufs"]) == (0, 10, 4)
    assert f.ioctl(fd, GET_READER) == 0
    meta = decode.decode_meta(vma.read(0, 80))
    assert (meta["reader"]["id"], meta["reader"]["read"], meta["read"]) == (1, 320, 10)
    # fill past the ring in overwrite mode: pages are pushed, losses counted
    for i in range(10, 700):
        f.write_marker(b"#%08d" % i)
    assert f.overrun > 0 and f.entries == 700
    assert f.ioctl(fd, GET_READER) == 0      # consumes the rest of the reader page
    meta = decode.decode_meta(vma.read(0, 80))
    assert (meta["reader"]["id"], meta["reader"]["read"]) == (1, CAP)
    assert f.ioctl(fd, GET_READER) == 0      # page done: swap, the loss is flagged
    meta = decode.decode_meta(vma.read(0, 80))
    page = decode.decode_subbuf(vma.read(PAGE + meta["reader"]["id"] * PAGE, PAGE), 0)
    assert page["missed_events"] and page["missed_stored"] and page["lost"] == f.overrun
    assert f.ioctl(fd, 0x1234) == -errno.ENOTTY
