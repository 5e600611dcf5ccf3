"""Decoding meta areas and sub-buffers from hand-made bytes (UPSTREAM.md §1.1, §2)."""

import struct

import pytest
from hypothesis import given, strategies as st

from rbmap.impl import decode


# ---- byte builders (independent of impl's encoder) -------------------------

def hdr(type_len, delta=0):
    return struct.pack("<I", (delta << 5) | type_len)


def small(payload_words):
    """A small data event: header + type_len*4 payload bytes."""
    return hdr(payload_words) + bytes(range(payload_words * 4))


def large(payload_len):
    """A type_len 0 data event; array[0] = total - 4."""
    total = 8 + payload_len
    return hdr(0) + struct.pack("<I", total - 4) + b"\xab" * payload_len


def subbuf(data, commit, size=4096, ts=123456789, lost=None):
    body = bytearray(size)
    struct.pack_into("<Q", body, 0, ts)
    word = commit
    if lost is not None:
        struct.pack_into("<Q", body, 16 + (commit & decode.RB_COMMIT_MASK), lost)
    struct.pack_into("<Q", body, 8, word & (2**64 - 1))
    body[16:16 + len(data)] = data
    return bytes(body)


def flagged(size, missed=True, stored=False):
    """A commit word as the kernel's 64-bit long holds it (bit 31 sign-extended)."""
    v = size
    if stored:
        v += decode.RB_MISSED_STORED
    if missed:
        v += decode.RB_MISSED_EVENTS
        v |= 0xFFFFFFFF00000000
    return v


# ---- struct trace_buffer_meta ---------------------------------------------

def test_meta_offsets_match_uapi():
    raw = struct.pack("<IIIIQIIQQQQQQ", 4096, 80, 4096, 6, 7, 3, 512, 0, 16, 2, 9, 11, 12)
    assert len(raw) == 80
    m = decode.decode_meta(raw + bytes(100))
    assert m == {"meta_page_size": 4096, "meta_struct_len": 80, "subbuf_size": 4096,
                 "nr_subbufs": 6, "reader": {"lost_events": 7, "id": 3, "read": 512},
                 "flags": 0, "entries": 16, "overrun": 2, "read": 9}
    assert list(m) == ["meta_page_size", "meta_struct_len", "subbuf_size", "nr_subbufs",
                       "reader", "flags", "entries", "overrun", "read"]
    r = decode.decode_meta(raw, reserved=True)
    assert (r["Reserved1"], r["Reserved2"]) == (11, 12)


def test_meta_single_fields_at_their_offsets():
    for off, path, width in [(0, ("meta_page_size",), 4), (12, ("nr_subbufs",), 4),
                             (16, ("reader", "lost_events"), 8), (24, ("reader", "id"), 4),
                             (28, ("reader", "read"), 4), (40, ("entries",), 8),
                             (48, ("overrun",), 8), (56, ("read",), 8)]:
        raw = bytearray(80)
        raw[off:off + width] = (0x1234).to_bytes(width, "little")
        m = decode.decode_meta(bytes(raw))
        for key in path:
            m = m[key]
        assert m == 0x1234, path


def test_meta_too_short_is_a_harness_error():
    with pytest.raises(decode.DecodeError):
        decode.decode_meta(bytes(79))


# ---- v2 header --------------------------------------------------------------

def v2_page(entries=20, overrun=0, touched=1, mps=4096, reader=1, nr=5, head=1, ids=None):
    ids = ids if ids is not None else [2, 3, 4, 5, 0][:nr]
    raw = struct.pack("<QQ6I", entries, overrun, touched, mps, reader, nr, head, 40)
    return raw + struct.pack(f"<{len(ids)}I", *ids) + bytes(64)


def test_v2_lp64_layout():
    m = decode.decode_v2_meta(v2_page())
    assert decode.v2_header_size(64) == 40
    assert m == {"entries": 20, "overrun": 0, "pages_touched": 1, "meta_page_size": 4096,
                 "reader_page": 1, "nr_data_pages": 5, "data_page_head": 1,
                 "data_start": 40, "data_pages": [2, 3, 4, 5, 0]}


def test_v2_ilp32_reading_is_eight_bytes_short():
    """ILP32: a 32-bit process reads the 64-bit kernel's header at the wrong offsets."""
    page = v2_page(entries=20, overrun=3, touched=1, mps=4096, reader=2, nr=5)
    m32 = decode.decode_v2_meta(page, bits=32)
    assert decode.v2_header_size(32) == 32
    assert m32["entries"] == 20          # low half of the u64 entries
    assert m32["overrun"] == 0           # high half of entries
    assert m32["pages_touched"] == 3     # kernel's overrun
    assert m32["meta_page_size"] == 0    # high half of overrun
    assert m32["reader_page"] == 1       # kernel's pages_touched, not the reader ID 2
    assert m32["nr_data_pages"] == 4096  # kernel's meta_page_size
    assert m32["data_start"] == 5        # kernel's nr_data_pages
    # data_pages[] clipped to the bytes there are, never an exception
    assert len(m32["data_pages"]) == (len(page) - 32) // 4


def test_v2_bad_bits():
    with pytest.raises(ValueError):
        decode.decode_v2_meta(v2_page(), bits=16)


# ---- sub-buffers -------------------------------------------------------------

def test_small_large_padding_and_time_events():
    ev = small(7)                                   # 32 bytes, a short trace_marker
    ext = hdr(30, 5) + struct.pack("<I", 3)          # time extend: (3 << 27) | 5
    stamp = hdr(31, 1) + struct.pack("<I", 1)
    big = large(120)                                 # 128 bytes
    pad = hdr(29, 1) + struct.pack("<I", 12)         # discarded event, 16 bytes
    pad += bytes(8)
    data = ev + ext + ev + stamp + big + pad
    page = decode.decode_subbuf(subbuf(data, len(data)), 4)
    assert page["id"] == 4 and page["commit"] == len(data)
    assert [(e["offset"], e["type"], e["length"]) for e in page["events"]] == [
        (0, "data", 32), (32, "time_extend", 8), (40, "data", 32),
        (72, "time_stamp", 8), (80, "data", 128), (208, "padding", 16)]
    assert "error" not in page
    evs = list(decode.iter_events(data, len(data)))
    assert evs[1].time_delta == (3 << 27) | 5
    assert (evs[4].payload_offset, evs[4].payload_length) == (88, 120)
    assert (evs[0].payload_offset, evs[0].payload_length) == (4, 28)


def test_null_padding_ends_the_page():
    data = small(7) + hdr(29, 0) + bytes(60)
    page = decode.decode_subbuf(subbuf(data, 96), 0)
    assert [(e["type"], e["offset"], e["length"]) for e in page["events"]] == [
        ("data", 0, 32), ("padding", 32, 64)]


def test_full_flagged_page_reads_sign_extended():
    data = small(7) * 127 + hdr(29, 1) + struct.pack("<I", 12) + bytes(8)
    word = flagged(4080)
    assert word == 0xFFFFFFFF80000FF0
    raw = subbuf(data, word)
    assert decode.commit_word(raw) == 0xFFFFFFFF80000FF0
    page = decode.decode_subbuf(raw, 2)
    assert page["commit"] == 4080
    assert page["missed_events"] and not page["missed_stored"] and page["lost"] is None
    assert len(page["events"]) == 128 and page["events"][-1]["type"] == "padding"


def test_stored_lost_count_after_the_data():
    data = small(7) * 10
    raw = subbuf(data, flagged(320, stored=True), lost=254)
    page = decode.decode_subbuf(raw, 1)
    assert page["missed_events"] and page["missed_stored"]
    assert page["lost"] == 254 and page["commit"] == 320
    assert len(page["events"]) == 10


def test_empty_and_truncated_pages():
    page = decode.decode_subbuf(subbuf(b"", 0), 0)
    assert page["events"] == [] and page["commit"] == 0
    # commit claims more than the bytes hold (a short trace_pipe_raw read)
    page = decode.decode_subbuf(subbuf(small(7), 64)[:16 + 40], None)
    assert page["id"] is None and "error" in page
    # an event running past the commit
    page = decode.decode_subbuf(subbuf(large(120), 64), 0)
    assert page["events"] == [] and "past the commit" in page["error"]


def test_ilp32_commit_word():
    raw = bytearray(64)
    struct.pack_into("<QI", raw, 0, 1, 32)
    raw[12:44] = small(7)
    page = decode.decode_subbuf(bytes(raw), 0, long_size=4)
    assert page["commit"] == 32 and page["events"][0]["length"] == 32


@given(st.lists(st.one_of(st.integers(1, 28).map(small),
                          st.integers(113, 300).map(lambda n: large(n - n % 4)),
                          st.just(hdr(30, 1) + bytes(4))), max_size=40))
def test_roundtrip_of_random_event_sequences(events):
    data = b"".join(events)[:4080]
    # keep only whole events
    whole, off = [], 0
    for e in events:
        if off + len(e) > 4080:
            break
        whole.append((off, len(e)))
        off += len(e)
    page = decode.decode_subbuf(subbuf(data[:off], off), 0)
    assert [(e["offset"], e["length"]) for e in page["events"]] == whole
    assert "error" not in page
