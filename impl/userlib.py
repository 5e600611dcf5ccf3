"""A user-space reader of the mapped ring buffer (the part libtracefs plays).

One algorithm, two ways to run it.  :class:`TraceReader` reaches the system only
through a *port*: ``call(name, **args)`` (a system call: ``open``, ``mmap``,
``munmap``, ``ioctl``, ``close``; a reply dict with ``rc``), ``load(vma, offset, n)``
(bytes from one of its mappings) and ``mark(step)`` (the start of one library step).
Each is a generator, so the same code runs

- in its own OS process (:class:`ShmPort`: the kernel side in another process
  over a socket, the mapping a read-only :mod:`mmap` of the kernel side's backing
  file; nothing yields, :func:`rbmap.impl.sched.run_plain` drives it), and
- as a task of :mod:`rbmap.impl.sched` (``rbmap.impl.systems.LibraryPort``: every
  system call is impl's kernel function, every load and every step mark a yield
  point, so a writer on another CPU can run between any two of them).

Client behaviours
-----------------
The model of a user process (``rbmap check --client``) assumes one of these
(:data:`CLIENTS`); the library implements the first two (``TraceReader(client=...)``)
and rbmap's conformance holds it to the model step by step (:data:`STEPS` names the
model step each library step is; ``tests/test_conform_userlib.py``).  The third,
``libtracefs``, is libtracefs 1.8.3's algorithm; the real library runs it in the
guest (``rbmap kernel client``).

``documented`` (the default)
    UPSTREAM.md §1.4/§1.6 as the kernel documents the meta page: read the reader
    sub-buffer only up to ``reader.read`` (what the kernel counts consumed), then
    GET_READER and look at the meta page again: a new ``reader.id`` means read the
    new sub-buffer from offset 0, a larger ``reader.read`` means read up to it.  It
    never holds an event the kernel has not consumed, so another reader taking over
    at any point gets nothing twice.  Before leaving it reads up to ``reader.read``
    (events the kernel already consumed are this reader's to deliver).
``greedy``
    reads up to the live ``commit`` word of the reader sub-buffer (re-reading it),
    and only then calls GET_READER (which consumes what it read).  Before leaving
    it reads up to the live commit too, and does not call GET_READER: the model's
    ``--client greedy``, whose next reader gets those events again (it starts at
    ``reader.read``).

Both say "no more data" (:meth:`TraceReader.step` returns ``more=False``) only
after a GET_READER that changed nothing (same ``reader.id``, same ``reader.read``):
a GET_READER that consumed the rest of the reader page stops without swapping, so
a next page with committed events is only found by the next call.

Setup and the rest follow UPSTREAM.md §1.6: open ``trace_pipe_raw`` (non-blocking);
mmap one page at 0; if ``meta_page_size`` exceeds a page, map the whole meta area;
mmap ``subbuf_size * nr_subbufs`` bytes at ``meta_page_size``; the reader
sub-buffer is ``data + reader.id * subbuf_size``; at setup start at ``reader.read``;
on a new page check bits 31 / 30 of ``commit`` (missed events, count stored after
the data); munmap everything, close.

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
from .sched import run_plain
from .shm import MARKER_RE, Channel, WriterConfig, spawn_kernel_side

__all__ = ["TraceReader", "ReadLog", "ReaderError", "ShmPort", "CLIENTS",
           "LIBRARY_CLIENTS", "STEPS",
           "run_pair", "main", "marker_seq"]

PAGE_SIZE = 4096
TRACE_MMAP_IOCTL_GET_READER = 0x5220
#: offset of ``reader.id`` (u32) and ``reader.read`` (u32) in the meta page
_READER_ID_OFF = 24

_SEQ = re.compile(MARKER_RE)

#: the client behaviours the model assumes (``rbmap check --client``), in words
CLIENTS = {
    "documented": "reads the reader sub-buffer up to reader.read only; GET_READER "
                  "when caught up; leaves caught up (nothing read that the kernel "
                  "has not consumed)",
    "greedy": "reads up to the live commit, then GET_READER; leaves after reading "
              "to the live commit without GET_READER",
    "libtracefs": "libtracefs 1.8.3's tracefs_cpu_read_buf, load by load (the "
                  "model's _libtracefs_steps); run for real by rbmap kernel "
                  "client, not by this library",
}
#: the client behaviours this library implements (TraceReader(client=...))
LIBRARY_CLIENTS = ("documented", "greedy")

#: library step -> the model's process step (None: a stutter, nothing the model
#: sees; ``next_event`` is a read_event or, at the commit, page_done)
STEPS = {
    "map": "map",                 # mmap of the meta page (the first map) + geometry
    "map_data": None,             # mmap of the sub-buffers: one more VMA
    "look": "read_meta",          # reader.id, reader.read (+ the new page's flags)
    "read_event": "read_event",   # one event below reader.read (documented)
    "next_event": ("read_event", "page_done"),   # greedy: commit, then an event
    "get_reader": "ioctl",        # TRACE_MMAP_IOCTL_GET_READER (its closing
                                  # rb_update_meta_page is the model's ioctl_meta)
    "unmap_data": None,           # munmap of the sub-buffers
    "unmap": "unmap",             # munmap of the meta page (the last unmap)
}


class ReaderError(RuntimeError):
    """The reader saw something the protocol rules out (a harness or impl bug)."""


def marker_seq(payload: bytes) -> int | None:
    """The sequence number a numbered ``trace_marker`` event carries."""
    m = _SEQ.search(payload)
    return int(m.group(1)) if m else None


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


# --------------------------------------------------------------------------
# the port of a reader in its own OS process
# --------------------------------------------------------------------------

class ShmPort:
    """System calls over a socket to the kernel-side process (:mod:`.shm`); loads
    from a read-only :mod:`mmap` of its backing file at the offsets passed to
    mmap(2).  Nothing here is a yield point (the OS schedules the processes)."""

    def __init__(self, chan: Channel, backing: str, page_size: int = PAGE_SIZE):
        self.chan = chan
        self.backing = backing
        self.page_size = page_size
        self._file: int | None = None
        self._maps: dict[int, mmap.mmap] = {}

    def mark(self, step: str):
        return None
        yield  # pragma: no cover (a generator with no yield point)

    def call(self, name: str, **args):
        rep = self.chan.call(call=name, **args)
        if name == "mmap" and rep["rc"] == 0:
            if self._file is None:
                # the memory behind the mapping: the kernel side's backing file
                self._file = os.open(self.backing, os.O_RDONLY)
            self._maps[rep["vma"]] = mmap.mmap(
                self._file, args["length"], mmap.MAP_SHARED, mmap.PROT_READ,
                offset=args["offset"])
        elif name == "munmap":
            mm = self._maps.pop(args["vma"], None)
            if mm is not None:
                mm.close()
        elif name == "close" and not self._maps and self._file is not None:
            os.close(self._file)
            self._file = None
        return rep
        yield  # pragma: no cover

    def load(self, vma, off: int, n: int):
        return self._maps[vma][off:off + n]
        yield  # pragma: no cover


# --------------------------------------------------------------------------
# the library
# --------------------------------------------------------------------------

class TraceReader:
    """One reader: an fd, its two mappings, its position on the reader sub-buffer.

    Every public method has a generator twin (``*_gen``) for the scheduler; the
    plain methods run it with :func:`run_plain`.
    """

    def __init__(self, port, backing: str | None = None, *,
                 client: str = "documented", from_page_start: bool = False,
                 seq_of=marker_seq):
        """``port``: a :class:`ShmPort` (or a :class:`~rbmap.impl.shm.Channel`, with
        ``backing``, for the reader in its own process).  ``client``: one of
        :data:`CLIENTS`.  ``from_page_start`` makes the reader ignore ``reader.read``
        at setup and read the reader page from its start, as a v2-era reader had
        to (the duplicate read Steven Rostedt reported in reply #11 of the seed's
        review).  ``seq_of(payload)``: the sequence number an event carries."""
        if client not in LIBRARY_CLIENTS:
            raise ValueError(f"client {client!r}: one of {', '.join(LIBRARY_CLIENTS)}")
        if isinstance(port, Channel):
            port = ShmPort(port, backing)
        self.port = port
        self.client = client
        self.from_page_start = from_page_start
        self.seq_of = seq_of
        self.page_size = port.page_size
        self.fd: int | None = None
        self._meta_vma = self._data_vma = None
        self.meta_page_size = self.subbuf_size = self.nr_subbufs = 0
        self.id = 0       # reader sub-buffer being read
        self.pos = 0      # bytes of it this reader has read (data-relative)
        self.limit = 0    # reader.read at the last look at the meta page
        self.fresh = True     # no look at the meta page since map
        self.log = ReadLog()

    # ---- plain calls -------------------------------------------------------
    def open(self, nonblock: bool = True) -> int:
        return run_plain(self.open_gen(nonblock))

    def map(self) -> int:
        return run_plain(self.map_gen())

    def meta(self) -> dict:
        return run_plain(self.meta_gen())

    def step(self) -> tuple[int, bool]:
        return run_plain(self.step_gen())

    def drain(self) -> int:
        return run_plain(self.drain_gen())

    def finish(self) -> int:
        return run_plain(self.finish_gen())

    def unmap(self) -> int:
        return run_plain(self.unmap_gen())

    def close(self) -> int:
        return run_plain(self.close_gen())

    @property
    def mapped(self) -> bool:
        return self._data_vma is not None

    # ---- open and map --------------------------------------------------------
    def open_gen(self, nonblock: bool = True):
        rc = (yield from self.port.call("open", nonblock=nonblock))["rc"]
        if rc < 0:
            return rc
        self.fd = rc
        return 0

    def _mmap(self, length: int, offset: int):
        rep = yield from self.port.call("mmap", fd=self.fd, length=length, offset=offset)
        return rep["rc"], rep.get("vma")

    def map_gen(self):
        yield from self.port.mark("map")
        rc, vma = yield from self._mmap(self.page_size, 0)
        if rc:
            return rc
        # the geometry: set once at the first map, never changed while mapped
        hdr = decode.decode_meta((yield from self.port.load(
            vma, 0, decode.TRACE_BUFFER_META_SIZE)))
        self.meta_page_size = max(hdr["meta_page_size"], self.page_size)
        self.subbuf_size, self.nr_subbufs = hdr["subbuf_size"], hdr["nr_subbufs"]
        if self.meta_page_size > self.page_size:
            rc, whole = yield from self._mmap(self.meta_page_size, 0)
            yield from self.port.call("munmap", vma=vma)
            if rc:
                return rc
            vma = whole
        self._meta_vma = vma
        yield from self.port.mark("map_data")
        rc, dvma = yield from self._mmap(self.subbuf_size * self.nr_subbufs,
                                         self.meta_page_size)
        if rc:
            yield from self._unmap_meta()
            return rc
        self._data_vma = dvma
        self.fresh = True
        self.pos = self.limit = 0
        yield from self.look_gen()
        return 0

    def meta_gen(self):
        """The whole meta page, decoded (not a protocol step: for reports)."""
        return decode.decode_meta((yield from self.port.load(
            self._meta_vma, 0, decode.TRACE_BUFFER_META_SIZE)))

    # ---- reading ---------------------------------------------------------------
    def look_gen(self):
        """Load ``reader.id`` and ``reader.read``: where to read and how far."""
        yield from self.port.mark("look")
        raw = yield from self.port.load(self._meta_vma, _READER_ID_OFF, 8)
        rid = int.from_bytes(raw[:4], "little")
        rread = int.from_bytes(raw[4:8], "little")
        if self.fresh:
            # earlier readers consumed what precedes reader.read on this page
            self.fresh = False
            self.id, self.pos = rid, (0 if self.from_page_start else rread)
            if self.pos == 0:
                yield from self._note_flags()
        elif rid != self.id:
            # a new reader page: read it from offset 0
            self.id, self.pos = rid, 0
            self.log.pages += 1
            yield from self._note_flags()
        self.limit = rread

    def _commit_word(self):
        base = self.id * self.subbuf_size
        raw = yield from self.port.load(self._data_vma, base + 8, 8)
        return int.from_bytes(raw, "little")

    def _note_flags(self):
        """Bits 31/30 of a reader page just obtained: events lost before it."""
        word = yield from self._commit_word()
        if not word & decode.RB_MISSED_EVENTS:
            return
        if word & decode.RB_MISSED_STORED:
            size = word & decode.RB_COMMIT_MASK
            at = self.id * self.subbuf_size + decode.BUF_PAGE_HDR_SIZE + size
            lost = int.from_bytes((yield from self.port.load(self._data_vma, at, 8)),
                                  "little")
            self.log.lost_reported += lost
            self.log.losses.append((len(self.log.seqs), lost))
        else:
            self.log.missed_unknown += 1

    def _read_unit(self, end: int):
        """Read from ``pos`` up to ``end`` (bytes) through the next data event or
        page padding (time stamps in front of an event go with it); returns the
        number of data events read (0 or 1)."""
        base = self.id * self.subbuf_size + decode.BUF_PAGE_HDR_SIZE
        start = self.pos
        data = yield from self.port.load(self._data_vma, base + start, end - start)
        for ev in decode.iter_events(data, end - start):
            if isinstance(ev, str):
                raise ReaderError(f"sub-buffer {self.id} offset {start}: {ev}")
            self.pos = start + ev.offset + ev.length
            if ev.type == "padding":
                return 0
            if ev.type == "data":
                payload = data[ev.payload_offset:ev.payload_offset + ev.payload_length]
                seq = self.seq_of(payload)
                if seq is None:
                    raise ReaderError(f"sub-buffer {self.id} offset {start + ev.offset}"
                                      f": no sequence number in {bytes(payload)!r}")
                self.log.seqs.append(seq)
                return 1
        return 0

    def read_event_gen(self):
        """documented: one event below ``reader.read``."""
        yield from self.port.mark("read_event")
        return (yield from self._read_unit(self.limit))

    def next_event_gen(self):
        """greedy: load the live commit; one event below it.  Returns the events
        read, or None at the commit (the page is done for now)."""
        yield from self.port.mark("next_event")
        size = (yield from self._commit_word()) & decode.RB_COMMIT_MASK
        if size <= self.pos:
            return None
        return (yield from self._read_unit(size))

    def get_reader_gen(self) -> int:
        yield from self.port.mark("get_reader")
        self.log.ioctls += 1
        rep = yield from self.port.call("ioctl", fd=self.fd,
                                        cmd=TRACE_MMAP_IOCTL_GET_READER)
        return rep["rc"]

    def read_available_gen(self):
        """Read what this client reads before its next GET_READER (documented: up
        to reader.read; greedy: up to the live commit); the events read."""
        got = 0
        if self.client == "documented":
            while self.pos < self.limit:
                got += yield from self.read_event_gen()
            return got
        while True:
            n = yield from self.next_event_gen()
            if n is None:
                return got
            got += n

    def step_gen(self):
        """Read what is available, one GET_READER, look at the meta page again.

        Returns (events read, whether there may be more to read right now): False
        only when the GET_READER changed nothing."""
        got = yield from self.read_available_gen()
        before = (self.id, self.limit)
        rc = yield from self.get_reader_gen()
        if rc:
            raise ReaderError(f"GET_READER returned {rc}")
        yield from self.look_gen()
        if self.limit < self.pos and self.id == before[0]:
            raise ReaderError(f"reader.read {self.limit} behind what was read "
                              f"({self.pos})")
        return got, (self.id, self.limit) != before

    def drain_gen(self):
        """Read all that is available now; returns the number of events read."""
        total = 0
        more = True
        while more:
            got, more = yield from self.step_gen()
            total += got
        return total

    def finish_gen(self):
        """Before leaving: documented, read what the kernel already counts as
        consumed (up to ``reader.read``) and nothing beyond, which is left for the
        next reader; greedy, read up to the live commit."""
        if not self.mapped:
            return 0
        return (yield from self.read_available_gen())

    # ---- unmap, close ------------------------------------------------------------
    def _unmap_meta(self):
        if self._meta_vma is not None:
            vma, self._meta_vma = self._meta_vma, None
            return (yield from self.port.call("munmap", vma=vma))["rc"]
        return 0

    def unmap_gen(self):
        """finish, then munmap the sub-buffers and the meta page."""
        rc = 0
        if self._data_vma is not None:
            yield from self.finish_gen()
            yield from self.port.mark("unmap_data")
            vma, self._data_vma = self._data_vma, None
            rc = (yield from self.port.call("munmap", vma=vma))["rc"]
        if self._meta_vma is not None:
            yield from self.port.mark("unmap")
            rc = (yield from self._unmap_meta()) or rc
        return rc

    def close_gen(self):
        if self.fd is None:
            return 0
        rc = (yield from self.port.call("close", fd=self.fd))["rc"]
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
             workdir: str | None = None, instance_factory=None,
             client: str = "documented") -> PairResult:
    """Kernel side + writer in a child process, the reader here; read until the
    writer is done and the buffer is drained."""
    cfg = WriterConfig(events=events, batch=batch, overwrite=overwrite,
                       buffer_size_kb=buffer_size_kb, subbuf_size_kb=subbuf_size_kb,
                       layout=layout)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        backing = os.path.join(tmp, "cpu0.buf")
        proc, chan = spawn_kernel_side(backing, cfg, instance_factory)
        try:
            reader = TraceReader(ShmPort(chan, backing), client=client)
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
    ap.add_argument("--client", choices=LIBRARY_CLIENTS, default="documented",
                    help="the reader's client behaviour (default documented)")
    args = ap.parse_args(argv)
    if args.events < 1 or args.batch < 1 or args.buffer_size_kb < 1:
        print("userlib: --events, --batch and --buffer-size-kb must be >= 1",
              file=sys.stderr)
        return 2
    res = run_pair(args.events, args.overwrite, batch=args.batch,
                   buffer_size_kb=args.buffer_size_kb, client=args.client)
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
