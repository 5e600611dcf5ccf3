"""A user-space reader of the mapped ring buffer (the part libtracefs plays).

:class:`TraceReader` runs in its own OS process.  It reaches the kernel side
(:mod:`rbmap.impl.shm`) over a socket for the system calls, maps the backing file
read-only with Python's :mod:`mmap` at the offsets it passes to ``mmap(2)``, and
follows UPSTREAM.md §1.6:

1. open ``trace_pipe_raw`` (non-blocking); mmap one page at 0; if
   ``meta_page_size`` exceeds a page, map the whole meta area;
2. mmap ``subbuf_size * nr_subbufs`` bytes at ``meta_page_size``;
3. the reader sub-buffer is ``data + reader.id * subbuf_size``; at setup start at
   ``reader.read``; read events up to ``commit & 0x3FFFFFFF``, re-reading
   ``commit``; check bits 31 / 30 (missed events, count stored after the data);
4. when what was read goes beyond ``reader.read`` (the writer appended after the
   last ioctl), GET_READER so the kernel counts those bytes consumed;
5. when the page is done, GET_READER: ``reader.id`` unchanged means no new page;
   changed means read the new page from offset 0;
6. munmap everything, close.

``python -m rbmap.impl.userlib --events 10000`` runs the writer process and a
reader process and prints events/s.
"""

from __future__ import annotations

import argparse
import mmap
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

from . import decode
from .shm import MARKER_RE, Channel, WriterConfig, spawn_kernel_side

__all__ = ["TraceReader", "ReadLog", "ReaderError", "run_pair", "main"]

PAGE_SIZE = 4096
TRACE_MMAP_IOCTL_GET_READER = 0x5220

_SEQ = re.compile(MARKER_RE)


class ReaderError(RuntimeError):
    """The reader saw something the protocol rules out (a harness or impl bug)."""


@dataclass
class ReadLog:
    """What a reader got: sequence numbers in the order read, and reported losses."""

    seqs: list[int] = field(default_factory=list)
    lost_reported: int = 0        # sum of the counts stored after the data (bit 30)
    missed_unknown: int = 0       # pages flagged (bit 31) without a stored count
    # (first seq on the flagged page, count stored) for each stored loss
    losses: list[tuple[int | None, int]] = field(default_factory=list)
    pages: int = 0                # reader pages read (swaps seen)
    ioctls: int = 0


class TraceReader:
    """One reader process's view: an fd, the mapping, its position on the reader page."""

    def __init__(self, chan: Channel, backing: str, page_size: int = PAGE_SIZE,
                 from_page_start: bool = False):
        """``from_page_start`` makes the reader ignore ``reader.read`` at setup and
        read the reader page from its start, as a v2-era reader had to (the
        duplicate read Steven Rostedt reported in reply #11 of the seed's review)."""
        self.from_page_start = from_page_start
        self.chan = chan
        self.backing = backing
        self.page_size = page_size
        self.fd: int | None = None
        self._file: int | None = None
        self._meta_vma = self._data_vma = None
        self._meta: mmap.mmap | None = None
        self._data: mmap.mmap | None = None
        self.meta_page_size = self.subbuf_size = self.nr_subbufs = 0
        self.id = 0     # reader sub-buffer being read
        self.pos = 0    # bytes of it this reader has read (data-relative)
        self.log = ReadLog()

    # ---- 1, 2: open and map ------------------------------------------------

    def open(self, nonblock: bool = True) -> int:
        rc = self.chan.call(call="open", nonblock=nonblock)["rc"]
        if rc < 0:
            return rc
        self.fd = rc
        return 0

    def _kmmap(self, length: int, offset: int) -> tuple[int, int | None]:
        rep = self.chan.call(call="mmap", fd=self.fd, length=length, offset=offset)
        return rep["rc"], rep.get("vma")

    def _umap(self, length: int, offset: int) -> mmap.mmap:
        return mmap.mmap(self._file, length, mmap.MAP_SHARED, mmap.PROT_READ,
                         offset=offset)

    def map(self) -> int:
        rc, vma = self._kmmap(self.page_size, 0)
        if rc:
            return rc
        if self._file is None:
            # the memory behind the mapping: the kernel side's backing file
            self._file = os.open(self.backing, os.O_RDONLY)
        probe = self._umap(self.page_size, 0)
        hdr = decode.decode_meta(probe[:decode.TRACE_BUFFER_META_SIZE])
        self.meta_page_size = max(hdr["meta_page_size"], self.page_size)
        self.subbuf_size, self.nr_subbufs = hdr["subbuf_size"], hdr["nr_subbufs"]
        if self.meta_page_size > self.page_size:
            rc, whole = self._kmmap(self.meta_page_size, 0)
            self.chan.call(call="munmap", vma=vma)
            probe.close()
            if rc:
                return rc
            vma, probe = whole, self._umap(self.meta_page_size, 0)
        self._meta_vma, self._meta = vma, probe
        length = self.subbuf_size * self.nr_subbufs
        rc, dvma = self._kmmap(length, self.meta_page_size)
        if rc:
            self._unmap_meta()
            return rc
        self._data_vma, self._data = dvma, self._umap(length, self.meta_page_size)
        m = self.meta()
        # 3: earlier readers consumed what precedes reader.read on this page
        self.id, self.pos = m["reader"]["id"], m["reader"]["read"]
        if self.from_page_start:
            self.pos = 0
        if self.pos == 0:
            self._note_flags()
        return 0

    def meta(self) -> dict:
        return decode.decode_meta(self._meta[:decode.TRACE_BUFFER_META_SIZE])

    # ---- 3-5: reading --------------------------------------------------------

    def _page_bytes(self) -> tuple[int, bytes]:
        base = self.id * self.subbuf_size
        word = int.from_bytes(self._data[base + 8:base + 16], "little")
        size = word & decode.RB_COMMIT_MASK
        data = self._data[base + decode.BUF_PAGE_HDR_SIZE:base + self.subbuf_size]
        return word, data[:size] if size <= len(data) else data

    def _note_flags(self) -> None:
        """Bits 31/30 of a reader page just obtained: events lost before it."""
        base = self.id * self.subbuf_size
        word = int.from_bytes(self._data[base + 8:base + 16], "little")
        if not word & decode.RB_MISSED_EVENTS:
            return
        page = decode.decode_subbuf(self._data[base:base + self.subbuf_size], self.id,
                                    with_events=False)
        if page["lost"] is not None:
            self.log.lost_reported += page["lost"]
            self.log.losses.append((len(self.log.seqs), page["lost"]))
        else:
            self.log.missed_unknown += 1

    def _read_to_commit(self, limit: int | None = None) -> int:
        """Read the events of the reader page from ``pos`` to the commit (or to
        ``limit`` bytes if that comes first)."""
        got = 0
        for _attempt in range(1000):
            word, data = self._page_bytes()
            size = word & decode.RB_COMMIT_MASK
            if limit is not None:
                size = min(size, limit)
            if size <= self.pos:
                return got
            problem = None
            for ev in decode.iter_events(data, size, self.pos):
                if isinstance(ev, str):
                    problem = ev
                    break
                if ev.type == "data":
                    payload = data[ev.payload_offset:ev.payload_offset + ev.payload_length]
                    m = _SEQ.search(payload)
                    if m is None:
                        raise ReaderError(f"sub-buffer {self.id} offset {ev.offset}: "
                                          f"no sequence number in {payload!r}")
                    self.log.seqs.append(int(m.group(1)))
                    got += 1
                self.pos = ev.offset + ev.length
            if problem is None:
                continue  # re-read commit: the writer may have appended meanwhile
            # bytes published before their commit word: read again
        raise ReaderError(f"sub-buffer {self.id}: inconsistent events at {self.pos}")

    def get_reader(self) -> int:
        self.log.ioctls += 1
        return self.chan.call(call="ioctl", fd=self.fd,
                              cmd=TRACE_MMAP_IOCTL_GET_READER)["rc"]

    def step(self) -> tuple[int, bool]:
        """Read to the commit, then one GET_READER (§1.6 steps 3-5).

        Returns (events read, whether there may be more to read right now)."""
        got = self._read_to_commit()
        rc = self.get_reader()
        if rc:
            raise ReaderError(f"GET_READER returned {rc}")
        m = self.meta()
        rid, rread = m["reader"]["id"], m["reader"]["read"]
        if rid != self.id:
            # 5: a new reader page; read it from offset 0
            self.id, self.pos = rid, 0
            self.log.pages += 1
            self._note_flags()
            return got, True
        if rread > self.pos:
            return got, True   # 4: the kernel consumed more than was read: read it
        if rread < self.pos:
            raise ReaderError(f"reader.read {rread} behind what was read ({self.pos})")
        return got, False

    def drain(self) -> int:
        """Read all that is available now; returns the number of events read."""
        total = 0
        more = True
        while more:
            got, more = self.step()
            total += got
        return total

    def finish(self) -> int:
        """Before leaving: read what the kernel already counts as consumed on the
        reader page (up to ``reader.read``) and nothing beyond it, which is left
        for the next reader."""
        m = self.meta()
        if m["reader"]["id"] != self.id:
            return 0
        return self._read_to_commit(limit=m["reader"]["read"])

    # ---- 6: unmap, close -------------------------------------------------------

    def _unmap_meta(self) -> None:
        if self._meta is not None:
            self._meta.close()
            self._meta = None
            self.chan.call(call="munmap", vma=self._meta_vma)

    def unmap(self) -> int:
        rc = 0
        if self._data is not None:
            self._data.close()
            self._data = None
            rc = self.chan.call(call="munmap", vma=self._data_vma)["rc"]
        self._unmap_meta()
        return rc

    def close(self) -> int:
        if self._file is not None:
            os.close(self._file)
            self._file = None
        if self.fd is None:
            return 0
        rc = self.chan.call(call="close", fd=self.fd)["rc"]
        self.fd = None
        return rc


# --------------------------------------------------------------------------
# a writer process and a reader process
# --------------------------------------------------------------------------


@dataclass
class PairResult:
    events: int
    log: ReadLog
    final_meta: dict
    status: dict
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def run_pair(events: int, overwrite: bool = False, *, batch: int = 16,
             buffer_size_kb: int = 16, subbuf_size_kb: int = 4, layout: str = "6.12",
             workdir: str | None = None, instance_factory=None) -> PairResult:
    """Kernel side + writer in a child process, the reader here; read until the
    writer is done and the buffer is drained."""
    cfg = WriterConfig(events=events, batch=batch, overwrite=overwrite,
                       buffer_size_kb=buffer_size_kb, subbuf_size_kb=subbuf_size_kb,
                       layout=layout)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        backing = os.path.join(tmp, "cpu0.buf")
        proc, chan = spawn_kernel_side(backing, cfg, instance_factory)
        try:
            reader = TraceReader(chan, backing)
            for step, rc in (("open", reader.open(nonblock=True)), ("map", reader.map())):
                if rc:
                    raise ReaderError(f"{step} returned {rc}")
            t0 = time.perf_counter()
            chan.call(call="start")
            while True:
                status = chan.call(call="status")
                got = reader.drain()
                if status["done"] and got == 0:
                    break
            seconds = time.perf_counter() - t0
            final_meta = reader.meta()
            reader.unmap()
            reader.close()
            chan.call(call="bye")
        finally:
            chan.close()
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        if proc.exitcode not in (0, None):
            raise ReaderError(f"kernel-side process exited with {proc.exitcode}")
    return PairResult(events, reader.log, final_meta, status, seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rbmap.impl.userlib",
        description="Writer process + reader process over a mapped ring buffer; "
                    "prints events/s.")
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--overwrite", action="store_true",
                    help="overwrite mode (default: producer/consumer)")
    ap.add_argument("--batch", type=int, default=16,
                    help="writes between two requests served (default 16)")
    ap.add_argument("--buffer-size-kb", type=int, default=16)
    args = ap.parse_args(argv)
    if args.events < 1 or args.batch < 1 or args.buffer_size_kb < 1:
        print("userlib: --events, --batch and --buffer-size-kb must be >= 1",
              file=sys.stderr)
        return 2
    res = run_pair(args.events, args.overwrite, batch=args.batch,
                   buffer_size_kb=args.buffer_size_kb)
    log = res.log
    delivered = len(log.seqs)
    dupes = delivered - len(set(log.seqs))
    print(f"events written {res.events}, delivered {delivered}, duplicates {dupes}, "
          f"lost reported {log.lost_reported} (meta overrun {res.final_meta['overrun']}), "
          f"pages {log.pages}, ioctls {log.ioctls}, "
          f"writes refused while full {res.status['failed_writes']}")
    print(f"{res.rate:,.0f} events/s ({res.seconds:.2f} s, "
          f"{'overwrite' if args.overwrite else 'producer/consumer'}, batch {args.batch})")
    ok = dupes == 0 and delivered + log.lost_reported == res.events
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
