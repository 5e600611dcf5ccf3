"""The per-CPU text reader ``per_cpu/cpuN/trace_pipe``, as kernel/trace/trace.c runs it.

The other consumer of a mapped buffer (UPSTREAM.md §1.7): ``tracing_read_pipe``
formats events into the iterator's bounded ``trace_seq`` and consumes each event
whose line fits.  Per event:

1. peek (``__find_next_entry`` -> ``ring_buffer_empty_cpu``, ``ring_buffer_peek``
   -> ``rb_buffer_peek`` -> ``rb_get_reader_page``, which may swap in a new reader
   page and so set ``cpu_buffer->lost_events``);
2. format (``print_trace_line``: a ``CPU:0 [LOST n EVENTS]`` line first when the
   peek reported lost events, then the context and the event);
3. if the line does not fit the space left in the ``trace_seq``
   (``TRACE_TYPE_PARTIAL_LINE``), put the length back and stop **without
   consuming**; a line alone too big for an empty ``trace_seq`` is consumed as
   ``[LINE TOO BIG]``;
4. otherwise consume (``ring_buffer_consume``: clears ``lost_events``,
   ``rb_advance_reader``) and stop once the user's count is reached.

What is copied to the user is at most the count; the rest stays in the
``trace_seq`` (per open file) and is all the next ``read()`` returns.

Lines follow the default trace options of an instance (context info, irq info,
no tgid, nop tracer) and ``trace_print_print`` for ``trace_marker`` events
(``TRACE_PRINT``): ``"%16s-%-7d "`` comm and pid, ``"[%03d] "`` CPU, five
irq/preempt flag characters, ``" %5lu.%06lu"`` time stamp, ``": "``, the
symbol of the marker's ip (``tracing_mark_write``), ``": %s"`` the marker string
(which carries its newline).  Widths are fixed, so a marker of ``n`` characters
(not ending in a newline) prints ``72 + n`` bytes; only the time stamp's digits
and the flag characters differ from the kernel's text (impl's clock is its own).
"""

from __future__ import annotations

import struct

from .sched import run_plain

__all__ = ["TRACE_SEQ_BUFFER_SIZE", "TraceSeq", "TracePipe", "MARKER_IP_SYMBOL",
           "marker_line_length"]

#: ``TRACE_SEQ_SIZE`` (8192) minus ``struct seq_buf`` (24), ``readpos`` (8) and
#: ``full`` (4) on x86_64
TRACE_SEQ_BUFFER_SIZE = 8192 - (24 + 8 + 4)
TRACE_PRINT = 5
#: what ``seq_print_ip_sym`` prints for a ``trace_marker`` event's ip
#: (``_THIS_IP_`` in ``tracing_mark_write``)
MARKER_IP_SYMBOL = "tracing_mark_write"
#: ``trace_find_cmdline`` for a pid with no saved command line
UNKNOWN_COMM = "<...>"
EAGAIN, EINTR, EBUSY = -11, -4, -16

PARTIAL_LINE, HANDLED = 0, 1     # enum print_line_t


def marker_line_length(nchars: int) -> int:
    """Bytes of the trace_pipe line of a marker of *nchars* characters (not ending
    in a newline): the fixed-width context and symbol, ``": "``, the text, ``\n``."""
    return sum(len(p) for _, p in _context(1, 0, 0)) + len(MARKER_IP_SYMBOL) + 2 \
        + nchars + 1


class TraceSeq:
    """``struct trace_seq`` over a ``seq_buf`` of :data:`TRACE_SEQ_BUFFER_SIZE`.

    ``printf`` keeps a piece only when it fits with a byte to spare
    (``seq_buf_vprintf``: ``len + n < size``), ``puts``/``putmem`` when it fits
    exactly (``len + n <= size``); a piece that does not fit sets ``full`` and
    every later piece is dropped until :meth:`init`."""

    def __init__(self, size: int = TRACE_SEQ_BUFFER_SIZE):
        self.size = size
        self.init()

    def init(self) -> None:
        self.buf = bytearray()
        self.full = False
        self.readpos = 0

    @property
    def len(self) -> int:
        return len(self.buf)

    def truncate(self, n: int) -> None:
        del self.buf[n:]

    def printf(self, text: str) -> None:
        if self.full:
            return
        data = text.encode()
        if self.len < self.size and self.len + len(data) < self.size:
            self.buf += data
        else:
            self.full = True

    def puts(self, text: str) -> None:
        if self.full:
            return
        data = text.encode()
        if len(data) > self.size - self.len:
            self.full = True
            return
        self.buf += data

    def putc(self, ch: str) -> None:
        if self.full:
            return
        if self.size - self.len < 1:
            self.full = True
            return
        self.buf += ch.encode()

    def used(self) -> int:
        return min(self.len, self.size)

    def to_user(self, cnt: int):
        """``trace_seq_to_user``: ``(rc, bytes)``; ``-EBUSY`` when nothing is left."""
        if not cnt:
            return 0, b""
        n = self.used()
        if n <= self.readpos:
            return EBUSY, b""
        n = min(cnt, n - self.readpos)
        out = bytes(self.buf[self.readpos:self.readpos + n])
        self.readpos += n
        return n, out


def _context(pid: int, cpu: int, ts_ns: int) -> list[tuple[str, str]]:
    """``trace_print_context``'s pieces, as (trace_seq call, text)."""
    usecs = ts_ns // 1000
    secs, usec_rem = divmod(usecs, 1_000_000)
    return [("printf", f"{UNKNOWN_COMM:>16}-{pid:<7d} "),
            ("printf", f"[{cpu:03d}] "),
            ("printf", "..."),                  # irqs-off, need-resched, hard/softirq
            ("putc", "."), ("putc", "."),       # preempt count, migrate disable
            ("printf", f" {secs:5d}.{usec_rem:06d}"),
            ("puts", ": ")]


class TracePipe:
    """An open ``per_cpu/cpu<cpu>/trace_pipe`` (the iterator and its trace_seq).

    ``get_cpu_buffer()`` returns the instance's current ``RingBufferPerCpu``
    (``iter->array_buffer`` follows the instance's array buffer)."""

    def __init__(self, get_cpu_buffer, nonblock: bool = True, cpu: int = 0):
        self.get_cpu_buffer = get_cpu_buffer
        self.nonblock = nonblock
        self.cpu = cpu
        self.seq = TraceSeq()
        self.ent = None
        self.lost_events = 0
        self.ts = 0

    # -- the iterator ------------------------------------------------------
    def _find_next_entry_inc(self):
        """``trace_find_next_entry_inc`` for a per-CPU file."""
        cb = self.get_cpu_buffer()
        if (yield from cb.ring_buffer_empty_cpu()):
            self.ent = None
            return None
        event, lost = yield from cb.ring_buffer_peek()
        self.ent = event
        self.lost_events = lost if event is not None else 0
        if event is not None:
            self.ts = cb.read_stamp + event.time_delta
        return event

    def _consume(self) -> None:
        """``trace_consume`` -> ``ring_buffer_consume``."""
        cb = self.get_cpu_buffer()
        event, lost = yield from cb.ring_buffer_consume()
        self.lost_events = lost if event is not None else 0

    def _print_trace_line(self) -> int:
        """``print_trace_line`` -> ``print_trace_fmt`` (default options)."""
        s = self.seq
        if self.lost_events:
            s.printf(f"CPU:{self.cpu} [LOST {self.lost_events} EVENTS]\n")
            if s.full:
                return PARTIAL_LINE
        payload = self.ent.payload
        etype, _flags, _pc, pid = struct.unpack_from("<HBBi", payload, 0)
        # trace_print_context: comm-pid, [cpu], trace_print_lat_fmt, time, ": "
        for call, text in _context(pid, self.cpu, self.ts):
            getattr(s, call)(text)
        if s.full:
            return PARTIAL_LINE
        if etype != TRACE_PRINT:
            s.printf(f"Unknown type {etype}\n")
            return PARTIAL_LINE if s.full else HANDLED
        # trace_print_print: seq_print_ip_sym, then ": %s" of the string
        text = payload[16:].split(b"\0", 1)[0].decode(errors="replace")
        s.puts(MARKER_IP_SYMBOL)
        s.printf(": " + text)
        return PARTIAL_LINE if s.full else HANDLED

    # -- read() ------------------------------------------------------------
    def read(self, cnt: int):
        """``tracing_read_pipe``: ``(rc, bytes)``; rc is the byte count or -errno.

        Plain mode: a blocking read of an empty buffer returns ``-EINTR`` (no
        writer can wake it), a non-blocking one ``-EAGAIN``."""
        return run_plain(self.read_gen(cnt))

    def read_gen(self, cnt: int):
        """:meth:`read` as a generator for the scheduler: each access of the ring
        buffer (under reader_lock, taken per call as the kernel does) is a yield
        point; formatting the line is not (it touches the iterator only)."""
        rc, data = self.seq.to_user(cnt)
        if rc != EBUSY:
            return rc, data
        self.seq.init()
        cb = self.get_cpu_buffer
        for _ in range(1000):                         # waitagain:
            if (yield from cb().ring_buffer_empty_cpu()):
                return (EAGAIN if self.nonblock else EINTR), b""
            if cnt >= TRACE_SEQ_BUFFER_SIZE:
                cnt = TRACE_SEQ_BUFFER_SIZE - 1
            self.seq.init()
            while (yield from self._find_next_entry_inc()) is not None:
                save_len = self.seq.len
                ret = self._print_trace_line()
                if ret == PARTIAL_LINE:
                    if save_len == 0:
                        self.seq.full = False
                        self.seq.puts("[LINE TOO BIG]\n")
                        yield from self._consume()
                        break
                    self.seq.truncate(save_len)    # (full stays set)
                    break
                yield from self._consume()
                if self.seq.used() >= cnt:
                    break
            rc, data = self.seq.to_user(cnt)
            if self.seq.readpos >= self.seq.used():
                self.seq.init()
            if rc == EBUSY:
                continue
            return rc, data
        # not empty, yet nothing to peek: the kernel would loop here for ever
        cb().buffer.warn("tracing_read_pipe", "impl: no event to peek in a non-empty "
                         "buffer")
        return EINTR, b""
