"""Decoding what a user of the mapping sees: meta areas and sub-buffers, from bytes.

Everything here works on plain ``bytes`` (a copy of the mapped memory, a
``trace_pipe_raw`` read, or a slice of the shared-memory file) and returns the JSON
shapes of ``specs/scenarios/FORMAT.md``.  Nothing here knows how the bytes were
produced, so the same functions decode the impl's pages, a real kernel's pages and
hand-made test bytes.

Layouts (little-endian, x86_64 unless a parameter says otherwise):

* upstream ``struct trace_buffer_meta`` (include/uapi/linux/trace_mmap.h), 80 bytes,
  fixed-width fields, the same for 32- and 64-bit user space::

      0 u32 meta_page_size    4 u32 meta_struct_len   8 u32 subbuf_size
     12 u32 nr_subbufs       16 u64 reader.lost_events
     24 u32 reader.id        28 u32 reader.read       32 u64 flags
     40 u64 entries          48 u64 overrun           56 u64 read
     64 u64 Reserved1        72 u64 Reserved2

* the seed's v2 ``struct ring_buffer_meta_page_header``: ``entries`` and ``overrun``
  are ``__u64`` when ``__BITS_PER_LONG == 64`` and ``__u32`` otherwise, then six
  ``__u32`` (``pages_touched``, ``meta_page_size``, ``reader_page``,
  ``nr_data_pages``, ``data_page_head``, ``data_start``), then ``__u32
  data_pages[]``.  The kernel writes the LP64 layout (40-byte header); a 32-bit
  process compiled against the same header reads it with the ILP32 layout (32
  bytes), i.e. every field after ``overrun`` 8 bytes short (found by rbmap from the seed's header, not raised in its review).

* a sub-buffer (``struct buffer_data_page``): ``u64 time_stamp`` @0, ``long commit``
  @8, data @16.  ``commit`` bits 0-29 are the committed size, bit 31
  ``RB_MISSED_EVENTS``, bit 30 ``RB_MISSED_STORED`` (the lost count, an ``unsigned
  long``, follows the data).  The flags are added to a 64-bit long, so bit 31 is
  sign-extended; the size is ``commit & 0x3FFFFFFF``.

* events: a u32 header, ``type_len = h & 31``, ``time_delta = h >> 5``; 1-28 small
  data (``type_len * 4`` payload bytes), 0 large data (``array[0]`` = total - 4,
  payload at +8), 29 padding (``time_delta`` 0: the rest of the page is unused; else
  ``4 + array[0]`` bytes), 30 time extend (8 bytes), 31 absolute time stamp (8
  bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

__all__ = [
    "TRACE_BUFFER_META_SIZE",
    "BUF_PAGE_HDR_SIZE",
    "RB_MISSED_EVENTS",
    "RB_MISSED_STORED",
    "RB_COMMIT_MASK",
    "RINGBUF_TYPE_DATA_TYPE_LEN_MAX",
    "RINGBUF_TYPE_PADDING",
    "RINGBUF_TYPE_TIME_EXTEND",
    "RINGBUF_TYPE_TIME_STAMP",
    "Event",
    "DecodeError",
    "decode_meta",
    "decode_v2_meta",
    "v2_header_size",
    "decode_subbuf",
    "iter_events",
    "commit_word",
]

TRACE_BUFFER_META_SIZE = 80
BUF_PAGE_HDR_SIZE = 16  # u64 time_stamp + long commit (LP64)

RB_MISSED_EVENTS = 1 << 31
RB_MISSED_STORED = 1 << 30
RB_COMMIT_MASK = 0x3FFFFFFF

RINGBUF_TYPE_DATA_TYPE_LEN_MAX = 28
RINGBUF_TYPE_PADDING = 29
RINGBUF_TYPE_TIME_EXTEND = 30
RINGBUF_TYPE_TIME_STAMP = 31

_TYPE_NAMES = {
    RINGBUF_TYPE_PADDING: "padding",
    RINGBUF_TYPE_TIME_EXTEND: "time_extend",
    RINGBUF_TYPE_TIME_STAMP: "time_stamp",
}


class DecodeError(ValueError):
    """The bytes are too short for the structure asked for (a harness bug)."""


def _need(buf: bytes, n: int, what: str) -> None:
    if len(buf) < n:
        raise DecodeError(f"{what}: need {n} bytes, got {len(buf)}")


# --------------------------------------------------------------------------
# meta areas
# --------------------------------------------------------------------------

_META = struct.Struct("<IIIIQIIQQQQQQ")
assert _META.size == TRACE_BUFFER_META_SIZE


def decode_meta(buf: bytes, *, reserved: bool = False) -> dict:
    """Decode ``struct trace_buffer_meta`` (upstream) from the first 80 bytes.

    Returns the uapi names in the FORMAT.md order; ``Reserved1``/``Reserved2`` are
    added only when ``reserved`` is true (they are not part of the scenario output).

    >>> m = decode_meta(bytes(80))
    >>> m["reader"], m["entries"]
    ({'lost_events': 0, 'id': 0, 'read': 0}, 0)
    """
    _need(buf, TRACE_BUFFER_META_SIZE, "struct trace_buffer_meta")
    (meta_page_size, meta_struct_len, subbuf_size, nr_subbufs, lost_events,
     reader_id, reader_read, flags, entries, overrun, read, res1, res2) = \
        _META.unpack_from(buf, 0)
    out = {
        "meta_page_size": meta_page_size,
        "meta_struct_len": meta_struct_len,
        "subbuf_size": subbuf_size,
        "nr_subbufs": nr_subbufs,
        "reader": {"lost_events": lost_events, "id": reader_id, "read": reader_read},
        "flags": flags,
        "entries": entries,
        "overrun": overrun,
        "read": read,
    }
    if reserved:
        out["Reserved1"] = res1
        out["Reserved2"] = res2
    return out


_V2_FIELDS = ("pages_touched", "meta_page_size", "reader_page", "nr_data_pages",
              "data_page_head", "data_start")
_V2_HDR = {64: struct.Struct("<QQ6I"), 32: struct.Struct("<II6I")}


def v2_header_size(bits: int = 64) -> int:
    """``sizeof(struct ring_buffer_meta_page_header)`` for ``__BITS_PER_LONG``."""
    try:
        return _V2_HDR[bits].size
    except KeyError:
        raise ValueError(f"bits must be 32 or 64, not {bits!r}") from None


def decode_v2_meta(buf: bytes, *, bits: int = 64) -> dict:
    """Decode the seed's v2 meta area as a process with ``__BITS_PER_LONG == bits``.

    ``data_pages[]`` is read the way a C program using the header reads it: right
    after the header (``offsetof(struct ring_buffer_meta_page, data_pages)`` for that
    ABI), ``nr_data_pages`` entries as read, clipped to the bytes available.  With
    ``bits=32`` on a page the 64-bit kernel wrote, every field after ``overrun``
    comes from 8 bytes too early: the seed's 32/64-bit mismatch.
    """
    hdr = _V2_HDR.get(bits)
    if hdr is None:
        raise ValueError(f"bits must be 32 or 64, not {bits!r}")
    _need(buf, hdr.size, "struct ring_buffer_meta_page_header")
    vals = hdr.unpack_from(buf, 0)
    out = {"entries": vals[0], "overrun": vals[1]}
    out.update(zip(_V2_FIELDS, vals[2:]))
    avail = (len(buf) - hdr.size) // 4
    count = min(out["nr_data_pages"], avail)
    out["data_pages"] = list(struct.unpack_from(f"<{count}I", buf, hdr.size))
    return out


# --------------------------------------------------------------------------
# sub-buffers and events
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One event of a sub-buffer; ``offset`` is relative to the data area."""

    offset: int
    type: str            # data | padding | time_extend | time_stamp
    length: int          # total length, header included
    type_len: int
    time_delta: int      # for time_extend / time_stamp: the full 59-bit value
    payload_offset: int  # data events: where the payload starts (data-relative)
    payload_length: int  # data events: payload bytes (rounded up to 4)

    def as_json(self) -> dict:
        return {"offset": self.offset, "type": self.type, "length": self.length}


def commit_word(buf: bytes, *, long_size: int = 8) -> int:
    """The raw ``commit`` word of a sub-buffer, as an unsigned ``long_size``-byte int.

    A flagged page reads e.g. ``0xFFFFFFFF80000FF0`` with a 64-bit long (bit 31
    sign-extended).
    """
    _need(buf, 8 + long_size, "buffer_data_page header")
    return int.from_bytes(buf[8:8 + long_size], "little")


def iter_events(data: bytes, size: int, start: int = 0) -> Iterator[Event | str]:
    """Walk the events in ``data[start:size]`` (``start`` an event boundary).

    Yields :class:`Event` objects; if the bytes are inconsistent (an event running
    past ``size``, a misaligned length) yields one string describing the problem and
    stops.  The caller decides whether that is an error.
    """
    off = start
    while off < size:
        if off + 4 > size:
            yield f"event header at {off} runs past the commit ({size})"
            return
        h = int.from_bytes(data[off:off + 4], "little")
        type_len, delta = h & 31, h >> 5
        p_off, p_len = 0, 0
        if type_len == RINGBUF_TYPE_PADDING and delta == 0:
            # rb_null_event(): the rest of the page is unused
            yield Event(off, "padding", size - off, type_len, 0, 0, 0)
            return
        if type_len in (RINGBUF_TYPE_TIME_EXTEND, RINGBUF_TYPE_TIME_STAMP):
            if off + 8 > size:
                yield f"time event at {off} runs past the commit ({size})"
                return
            array0 = int.from_bytes(data[off + 4:off + 8], "little")
            yield Event(off, _TYPE_NAMES[type_len], 8, type_len,
                        (array0 << 27) | delta, 0, 0)
            off += 8
            continue
        if type_len == 0 or type_len == RINGBUF_TYPE_PADDING:
            if off + 8 > size:
                yield f"event at {off} has no room for its length word"
                return
            array0 = int.from_bytes(data[off + 4:off + 8], "little")
            length = array0 + 4
            if type_len == 0:
                p_off, p_len = off + 8, array0 - 4
            kind = "data" if type_len == 0 else "padding"
        else:
            length = type_len * 4 + 4
            p_off, p_len = off + 4, type_len * 4
            kind = "data"
        if length < 8 or length % 4:
            yield f"event at {off} has a bad length {length}"
            return
        if off + length > size:
            yield f"event at {off} (length {length}) runs past the commit ({size})"
            return
        yield Event(off, kind, length, type_len, delta, p_off, p_len)
        off += length


def decode_subbuf(buf: bytes, sub_id: int | None = None, *,
                  long_size: int = 8, with_events: bool = True) -> dict:
    """Decode one sub-buffer (header + data) into the FORMAT.md ``page`` object.

    ``buf`` holds the whole sub-buffer (or at least its header and committed data;
    the stored lost count is read only if present).  ``sub_id`` is reported as
    ``id`` (``None`` for a ``trace_pipe_raw`` read).  An inconsistent page adds an
    ``error`` string (FORMAT.md: only present when decoding failed part-way).
    """
    hdr = 8 + long_size
    word = commit_word(buf, long_size=long_size)
    size = word & RB_COMMIT_MASK
    missed = bool(word & RB_MISSED_EVENTS)
    stored = bool(word & RB_MISSED_STORED)
    data = buf[hdr:]
    out: dict = {
        "id": sub_id,
        "commit": size,
        "missed_events": missed,
        "missed_stored": stored,
        "lost": None,
    }
    error = None
    if stored:
        if size + long_size <= len(data):
            out["lost"] = int.from_bytes(data[size:size + long_size], "little")
        else:
            error = f"lost count at {size} lies outside the {len(data)} data bytes"
    if with_events:
        events = []
        limit = min(size, len(data))
        if limit < size:
            error = error or f"commit {size} exceeds the {len(data)} data bytes"
        for ev in iter_events(data, limit):
            if isinstance(ev, str):
                error = error or ev
                break
            events.append(ev.as_json())
        out["events"] = events
    if error is not None:
        out["error"] = error
    return out
