"""Small concurrent systems over the ring buffer, for the schedulers of sched.py.

A *factory* builds a fresh system and its tasks each time it is called (the
explorers re-execute from scratch).  :func:`writer_reader` is the standard one:
a mapped per-CPU buffer, a writer on CPU 0, optionally a nested writer (an
interrupt on top of it), and a reader on another CPU doing GET_READER (upstream
``ring_buffer_map_get_reader``, v2 ``ring_buffer_get_reader_page``).  Every event
carries a sequence number, so :func:`drain_check` can tell after a schedule
whether each event was read at most once and every event is either read or
counted as overrun.
"""

from __future__ import annotations

import struct

from . import event as ev
from .mapping import VM_MAYSHARE, VM_READ, VM_SHARED, UpstreamMapping, V2Mapping
from .ringbuf import TraceBuffer
from .sched import Task, run_plain

__all__ = ["payload", "seq_of", "page_seqs", "writer_reader", "drain_check",
           "KNOWN_WARNINGS"]

#: kernel log lines (prefixes) a schedule may legitimately reach (see the tests
#: that pin them): 6.12.117's commit overrun notice and its "Reader on commit"
#: warning, 6.10's WARN_ON_ONCE(missed_events)
KNOWN_WARNINGS = ("ring_buffer_map_get_reader: Ring buffer [0] commit overrun lost ",
                  "WARNING: ring_buffer_map_get_reader: Reader on commit with ",
                  "WARNING: ring_buffer_map_get_reader")


def payload(seq: int, size: int = 1000) -> bytes:
    return struct.pack("<I", seq) + bytes(size - 4)


def seq_of(event: ev.Event) -> int:
    return struct.unpack_from("<I", event.payload)[0]


def page_seqs(bpage, lo: int, hi: int) -> list[int]:
    """Sequence numbers of the data events starting in [lo, hi) of a buffer_page."""
    d = ev.decode_page(bytes(bpage.page.buf))
    return [seq_of(e) for e in d.events if e.kind == "data" and lo <= e.offset < hi]


def _get_reader(m, cb):
    if isinstance(m, V2Mapping):
        return (yield from m.ring_buffer_get_reader_page(cb))
    return (yield from m.ring_buffer_map_get_reader(cb))


def writer_reader(*, prefill: int = 0, nested: bool = True, reader: bool = True,
                  abi: str = "upstream", nr_pages: int = 2, size: int = 1000,
                  overwrite: bool = True, page_size: int = 4096,
                  kernel: str = "6.12.117"):
    """A factory: mapped buffer, *prefill* events, writer (+ irq) (+ reader)."""

    def factory():
        b = TraceBuffer(nr_pages, page_size=page_size, overwrite=overwrite,
                        kernel=kernel)
        cb = b.buffers[0]
        m = V2Mapping() if abi == "v2" else UpstreamMapping()
        cb.mapping = m
        if abi == "v2":
            rc = run_plain(m.ring_buffer_map(cb))
        else:
            rc, _ = run_plain(m.ring_buffer_map(cb, 0, 1,
                                                VM_READ | VM_SHARED | VM_MAYSHARE))
        assert rc == 0
        for i in range(prefill):
            run_plain(cb.ring_buffer_write(payload(i, size)))
        system = {"buffer": b, "cb": cb, "mapping": m, "seen": [],
                  "written": prefill}

        def writer(s):
            rc = yield from s["cb"].ring_buffer_write(payload(1000, size))
            s["written"] += rc == 0
            return rc

        def irq(s):
            rc = yield from s["cb"].ring_buffer_write(payload(2000, size))
            s["written"] += rc == 0
            return rc

        def get_reader(s):
            cb = s["cb"]
            old = cb.reader_page.value
            old_read = old.read
            rc = yield from _get_reader(s["mapping"], cb)
            rp = cb.reader_page.value
            s["seen"] += page_seqs(rp, old_read if rp is old else 0, rp.read)
            return rc

        tasks = [Task("writer", writer)]
        if nested:
            tasks.append(Task("irq", irq, interrupts="writer"))
        if reader:
            tasks.append(Task("reader", get_reader))
        return system, tasks

    return factory


def drain(system) -> list[int]:
    """GET_READER until nothing changes; the sequence numbers consumed."""
    cb, m = system["cb"], system["mapping"]
    seen = []
    while True:
        old = cb.reader_page.value
        old_read = old.read
        run_plain(_get_reader(m, cb))
        rp = cb.reader_page.value
        if rp is old and rp.read == old_read:
            return seen
        seen += page_seqs(rp, old_read if rp is old else 0, rp.read)


def drain_check(ex, allow=KNOWN_WARNINGS) -> str | None:
    """After a schedule: no duplicate read, read + overrun == entries == written."""
    s = ex.system
    cb = s["cb"]
    warnings = [w for w in s["buffer"].kmsg
                if not any(w == a or w.startswith(a) and a.endswith(" ") for a in allow)]
    if warnings:
        return f"kernel warnings: {warnings}"
    if cb.committing.value or cb.nest:
        return "a writer is still committing"
    seen = list(s["seen"]) + drain(s)
    if len(set(seen)) != len(seen):
        return f"an event was read twice: {seen}"
    if cb.entries.value != s["written"]:
        return f"entries {cb.entries.value} != events written {s['written']}"
    if len(seen) + cb.overrun.value != cb.entries.value:
        return (f"read {len(seen)} + overrun {cb.overrun.value} != entries "
                f"{cb.entries.value}")
    return None
