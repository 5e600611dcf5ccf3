"""Ring-buffer event and sub-buffer encoding, as kernel/trace/ring_buffer.c lays it out.

A sub-buffer (``struct buffer_data_page``)::

    @0   u64  time_stamp
    @8   long commit      bits 0-29 committed bytes, bit 30 RB_MISSED_STORED,
                          bit 31 RB_MISSED_EVENTS (added as the C int (1 << 31),
                          i.e. sign-extended into the 64-bit long)
    @16  data[]           events, 4-byte aligned

An event (``struct ring_buffer_event``) is a little-endian u32 header,
``type_len = h & 31`` and ``time_delta = h >> 5``, then ``array[]``:

* type_len 1..28: a data event of ``type_len * 4`` bytes after the header;
* type_len 0: a data event whose ``array[0]`` holds the length (it counts itself),
  data at +8 (payloads over RB_MAX_SMALL_DATA bytes);
* 29 padding: ``time_delta`` 0 means the rest of the page is unused, otherwise
  ``array[0] + 4`` bytes are discarded;
* 30 time extend and 31 absolute time stamp: 8 bytes, value
  ``(array[0] << 27) | time_delta``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BUF_PAGE_HDR_SIZE = 16
RB_EVNT_HDR_SIZE = 4
RB_ALIGNMENT = 4
RB_MAX_SMALL_DATA = 28 * 4
RB_EVNT_MIN_SIZE = 8
RB_LEN_TIME_EXTEND = 8
RB_LEN_TIME_STAMP = 8
TS_SHIFT = 27
TS_MASK = (1 << TS_SHIFT) - 1

RINGBUF_TYPE_DATA_TYPE_LEN_MAX = 28
RINGBUF_TYPE_PADDING = 29
RINGBUF_TYPE_TIME_EXTEND = 30
RINGBUF_TYPE_TIME_STAMP = 31

# The commit word's flags.  In C, RB_MISSED_EVENTS is the int (1 << 31) == INT_MIN,
# so local_add() of it subtracts 2^31 from the 64-bit long (sign extension).
RB_MISSED_EVENTS = -(1 << 31)
RB_MISSED_STORED = 1 << 30
RB_MISSED_EVENTS_BIT = 1 << 31
RB_MISSED_MASK = (1 << 31) | (1 << 30)
COMMIT_SIZE_MASK = 0x3FFFFFFF

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_S64 = struct.Struct("<q")


def rb_calculate_event_length(length: int) -> int:
    """Bytes reserved for a data event with an *length*-byte payload."""
    if not length:
        length += 1
    if length > RB_MAX_SMALL_DATA:
        length += 4                       # array[0] holds the length
    length += RB_EVNT_HDR_SIZE
    length = (length + RB_ALIGNMENT - 1) & ~(RB_ALIGNMENT - 1)
    # 12 bytes would look like a time extend plus 4: make room for padding.
    if length == RB_LEN_TIME_EXTEND + RB_ALIGNMENT:
        length += RB_ALIGNMENT
    return length


def test_time_stamp(delta: int) -> bool:
    """True when *delta* does not fit the 27-bit ``time_delta``."""
    return bool(delta & ~TS_MASK)


def header(type_len: int, time_delta: int) -> int:
    return (type_len & 31) | ((time_delta & TS_MASK) << 5)


def encode_time_stamp(delta: int, absolute: bool) -> bytes:
    """A type 30 (extend) or 31 (absolute) event carrying *delta*."""
    t = RINGBUF_TYPE_TIME_STAMP if absolute else RINGBUF_TYPE_TIME_EXTEND
    return _U32.pack(header(t, delta & TS_MASK)) + _U32.pack((delta >> TS_SHIFT) & 0xFFFFFFFF)


def encode_data_event(length: int, delta: int, payload: bytes) -> bytes:
    """A data event occupying exactly *length* bytes (from rb_calculate_event_length)."""
    body = length - RB_EVNT_HDR_SIZE
    if body > RB_MAX_SMALL_DATA:
        out = _U32.pack(header(0, delta)) + _U32.pack(body)
        room = body - 4
    else:
        out = _U32.pack(header((body + RB_ALIGNMENT - 1) // RB_ALIGNMENT, delta))
        room = body
    if len(payload) > room:
        raise ValueError(f"payload of {len(payload)} bytes does not fit {length}")
    return out + payload + bytes(room - len(payload))


def encode_padding(nbytes: int) -> bytes:
    """Padding covering *nbytes* (>= 8): ``time_delta`` 1, ``array[0] = nbytes - 4``."""
    return _U32.pack(header(RINGBUF_TYPE_PADDING, 1)) + _U32.pack(nbytes - RB_EVNT_HDR_SIZE)


NULL_PADDING = _U32.pack(header(RINGBUF_TYPE_PADDING, 0))


def commit_to_long(value: int) -> int:
    """Wrap a Python int to the signed 64-bit ``long`` of the commit word."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value & (1 << 63) else value


# ---------------------------------------------------------------------------
# decoding (for tests and internal checks)
# ---------------------------------------------------------------------------

@dataclass
class Event:
    offset: int          # from the start of data[]
    length: int          # bytes the event occupies
    type_len: int
    time_delta: int
    kind: str            # data | padding | time_extend | time_stamp
    payload: bytes = b""
    ts: int = 0          # absolute time after applying deltas


@dataclass
class DecodedPage:
    time_stamp: int
    commit_raw: int      # the 64-bit word as an unsigned value
    size: int
    missed_events: bool
    missed_stored: bool
    lost: int | None
    events: list[Event]

    @property
    def data_events(self) -> list[Event]:
        return [e for e in self.events if e.kind == "data"]


def read_commit(buf, off: int = 0) -> int:
    return _U64.unpack_from(buf, off + 8)[0]


def decode_event(data, off: int, limit: int) -> Event:
    if off + 4 > limit:
        raise ValueError(f"event header at {off} crosses the committed size {limit}")
    h = _U32.unpack_from(data, off)[0]
    tl, td = h & 31, h >> 5
    if tl == RINGBUF_TYPE_PADDING:
        if td == 0:
            return Event(off, limit - off, tl, td, "padding")
        n = _U32.unpack_from(data, off + 4)[0] + 4
        return Event(off, n, tl, td, "padding")
    if tl in (RINGBUF_TYPE_TIME_EXTEND, RINGBUF_TYPE_TIME_STAMP):
        hi = _U32.unpack_from(data, off + 4)[0]
        kind = "time_extend" if tl == RINGBUF_TYPE_TIME_EXTEND else "time_stamp"
        return Event(off, 8, tl, (hi << TS_SHIFT) | td, kind)
    if tl == 0:
        n = _U32.unpack_from(data, off + 4)[0]
        return Event(off, n + 4, tl, td, "data", bytes(data[off + 8:off + 4 + n]))
    n = tl * 4 + 4
    return Event(off, n, tl, td, "data", bytes(data[off + 4:off + n]))


def decode_page(buf, subbuf_size: int | None = None, start: int = 0) -> DecodedPage:
    """Decode one sub-buffer's bytes (header included), events from *start*."""
    subbuf_size = len(buf) if subbuf_size is None else subbuf_size
    ts = _U64.unpack_from(buf, 0)[0]
    raw = read_commit(buf)
    size = raw & COMMIT_SIZE_MASK
    capacity = subbuf_size - BUF_PAGE_HDR_SIZE
    if size > capacity:
        raise ValueError(f"commit size {size} exceeds capacity {capacity}")
    missed = bool(raw & RB_MISSED_EVENTS_BIT)
    stored = bool(raw & RB_MISSED_STORED)
    data = memoryview(buf)[BUF_PAGE_HDR_SIZE:subbuf_size]
    lost = _U64.unpack_from(data, size)[0] if stored and size + 8 <= capacity else None
    events, off, now = [], start, ts
    while off < size:
        ev = decode_event(data, off, size)
        if ev.length <= 0:
            raise ValueError(f"zero-length event at {off}")
        if ev.kind == "time_stamp":
            now = ev.time_delta
        elif ev.kind == "time_extend":
            now += ev.time_delta
        elif ev.kind == "data":
            now += ev.time_delta
        ev.ts = now
        events.append(ev)
        off += ev.length
    if off != size:
        raise ValueError(f"events end at {off}, past the committed size {size}")
    return DecodedPage(ts, raw, size, missed, stored, lost, events)
