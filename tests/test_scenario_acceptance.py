"""The impl acceptance scenarios, checked against UPSTREAM.md's rules step by step.

The expected values are not copied from any output: a small page-level oracle
(:class:`Rules`) applies the rules of UPSTREAM.md (§1.2 IDs at each first map, §1.4
GET_READER's loop, §4 the v2 seed's GET_READER_PAGE and meta list) to the same
operations, and every step's meta / page is compared with it.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from hypothesis import HealthCheck, given, settings, strategies as st

from rbmap.impl.scenario import load, parse, run_parsed

needs_facade = pytest.mark.skipif(importlib.util.find_spec("rbmap.impl.tracefs") is None,
                                  reason="rbmap.impl.tracefs not there")

SCN = Path(__file__).parents[1] / "specs" / "scenarios"
CAPACITY = 4096 - 16


def marker_event_size(length: int) -> int:
    """UPSTREAM.md §2: 4 + roundup4(18 + max(len, 9)) for a short trace_marker."""
    payload = 18 + max(length, 9)
    return 4 + (payload + 3) // 4 * 4


def nr_pages_for(kb: int) -> int:
    return max(2, -(-kb * 1024 // CAPACITY))


class WouldOverwrite(Exception):
    """The oracle does not model overwrite: the write would push the head."""


def _fresh() -> dict:
    # size: committed bytes; read: bytes consumed; n / rn: data events written /
    # consumed; pad: the page was closed with a padding event
    return {"size": 0, "read": 0, "n": 0, "rn": 0, "pad": False, "ev": 0}


class Rules:
    """Pages as committed / consumed bytes and events (UPSTREAM.md §1, §2).

    Writes that would overwrite unread data raise :class:`WouldOverwrite`."""

    def __init__(self, abi: str, buffer_size_kb: int = 16):
        self.abi = abi
        n = nr_pages_for(buffer_size_kb)
        self.pages = {p: _fresh() for p in range(n + 1)}
        self.reader = n            # the reader page is outside the ring
        self.ring = list(range(n))  # ring order
        self.head = self.tail = 0
        self.entries = self.read = 0
        self.ids: dict | None = None
        self.user_mapped = 0
        # v2 meta list
        self.data_pages: list[int] = []
        self.data_page_head = 0

    def nxt(self, page):
        if page == self.reader:
            return self.head
        return self.ring[(self.ring.index(page) + 1) % len(self.ring)]

    def write(self, count: int, size: int) -> None:
        for _ in range(count):
            t = self.pages[self.tail]
            if t["size"] + size > CAPACITY:
                nxt = self.nxt(self.tail)
                if self.tail != self.reader and nxt == self.head:
                    raise WouldOverwrite
                if CAPACITY - t["size"] >= 8:       # §2 page switch: padding
                    t["size"], t["pad"] = CAPACITY, True
                self.tail = nxt
                self.pages[nxt] = t = _fresh()
            t["size"] += size
            t["n"] += 1
            t["ev"] = size
            self.entries += 1

    def map(self) -> None:
        if self.user_mapped == 0:
            self.ids = {self.reader: 0}
            i = self.ring.index(self.head)
            order = self.ring[i:] + self.ring[:i]
            for k, p in enumerate(order, 1):
                self.ids[p] = k
            self.data_pages = list(range(1, len(order) + 1))
            self.data_page_head = 0
            self.refresh()            # rb_update_meta_page at the first map only
        self.user_mapped += 1

    def unmap(self) -> None:
        self.user_mapped -= 1
        if self.user_mapped == 0:
            self.ids = None

    def _swap(self) -> None:
        i = self.ring.index(self.head)
        old = self.reader
        self.ring[i] = old
        self.pages[old] = _fresh()
        if self.abi == "v2":
            self.data_pages[self.data_page_head] = self.ids[old]
            self.data_page_head = (self.data_page_head + 1) % len(self.ring)
        self.reader = self.head
        self.pages[self.reader]["read"] = 0
        self.head = self.ring[(i + 1) % len(self.ring)]

    def _empty(self) -> bool:
        r = self.pages[self.reader]
        if r["read"] < r["size"]:
            return False
        return self.tail == self.reader or (
            self.tail == self.head and self.pages[self.head]["size"] == 0)

    def _get_reader(self) -> None:
        if self.abi == "v2":
            # ring_buffer_get_reader_page: read = size, then swap unless empty or
            # the reader page is the commit page
            r = self.pages[self.reader]
            r["read"] = r["size"]
            if not self._empty() and self.tail != self.reader:
                self._swap()
            return
        while True:  # UPSTREAM.md §1.4 step 3
            if self._empty():
                return
            r = self.pages[self.reader]
            if r["read"] < r["size"]:
                self.read += r["n"] - r["rn"]
                r["read"], r["rn"] = r["size"], r["n"]
                return
            if self.tail == self.reader:
                return
            self._swap()

    def get_reader(self) -> None:
        self._get_reader()
        if self.abi != "v2":
            self.refresh()

    def refresh(self) -> None:
        """The upstream meta page is a snapshot (§1.1): taken at the first map,
        at the end of each GET_READER (and on a reset)."""
        self.snapshot = self._live_meta()

    def meta(self) -> dict:
        if self.abi == "v2":       # v2: the writer updates the meta page live
            return self._live_meta()
        return self.snapshot

    def _live_meta(self) -> dict:
        if self.abi == "v2":
            return {"reader_page": self.ids[self.reader], "entries": self.entries,
                    "overrun": 0, "nr_data_pages": len(self.ring),
                    "data_page_head": self.data_page_head, "data_pages": list(self.data_pages)}
        r = self.pages[self.reader]
        return {"reader": {"id": self.ids[self.reader], "read": r["read"], "lost_events": 0},
                "entries": self.entries, "overrun": 0, "read": self.read,
                "nr_subbufs": len(self.ring) + 1, "subbuf_size": 4096,
                "meta_page_size": 4096, "meta_struct_len": 80}

    def page(self, sub_id: int | None) -> dict:
        by_id = {v: k for k, v in self.ids.items()}
        pid = self.ids[self.reader] if sub_id is None else sub_id
        p = self.pages[by_id[pid]]
        events = [{"offset": k * p["ev"], "type": "data", "length": p["ev"]}
                  for k in range(p["n"])]
        if p["pad"]:
            end = p["n"] * p["ev"]
            events.append({"offset": end, "type": "padding", "length": CAPACITY - end})
        return {"id": pid, "commit": p["size"], "missed_events": False,
                "missed_stored": False, "lost": None, "events": events}


EV = marker_event_size(8)


def predicted(abi: str, path: Path) -> list[dict]:
    """Expected rc / meta / page per step, from :class:`Rules`."""
    (sc,) = load(path)
    return predicted_ops(abi, sc.ops)


def predicted_ops(abi: str, ops) -> list[dict]:
    rules = Rules(abi)
    out = [{"step": 1, "op": "scenario", "rc": 0}]
    for step, op in enumerate(ops, 2):
        exp = {"step": step, "op": op.name, "rc": 0}
        if op.name == "buffer_size_kb":
            assert step == 2, "oracle: geometry only before anything else"
            rules = Rules(abi, op.values[0])
        elif op.name == "markers":
            rules.write(op.values[0], marker_event_size(op.values[1] if len(op.values) > 1 else 8))
        elif op.name == "map":
            rules.map()
            exp["meta"] = rules.meta()
        elif op.name == "unmap":
            rules.unmap()
        elif op.name == "ioctl":
            if not rules.user_mapped:
                exp["rc"] = -19          # ENODEV: not user-mapped (§1.4 step 2)
            else:
                rules.get_reader()
                exp["meta"] = rules.meta()
        elif op.name == "meta":
            exp["meta"] = rules.meta()
        elif op.name == "page":
            exp["page"] = rules.page(op.values[0] if op.values else None)
        out.append(exp)
    return out


def _subset(expected, got, path=""):
    if isinstance(expected, dict):
        for k, v in expected.items():
            assert k in got, f"{path}.{k} missing"
            _subset(v, got[k], f"{path}.{k}")
    else:
        assert got == expected, f"{path}: expected {expected!r}, got {got!r}"


def check_against_rules(abi: str, name: str, factory=None, got=None) -> list[dict]:
    """Run (or take) the output of a scenario file and compare every step."""
    path = SCN / name
    if got is None:
        got = run_parsed(load(path), abi=abi, instance_factory=factory)
    exp = predicted(abi, path)
    assert len(got) == len(exp)
    for e, g in zip(exp, got):
        _subset(e, g, f"step {e['step']} {e['op']}")
    return got


def test_rules_agree_with_the_kernel_recording():
    """The oracle itself, against Linux 6.12 (the recording kept next to the file)."""
    rec = SCN / "read_ioctl_remap.kernel.jsonl"
    if not rec.exists():
        pytest.skip("no kernel recording of read_ioctl_remap")
    objs = [json.loads(x) for x in rec.read_text().splitlines() if x.strip()]
    objs = [o for o in objs if "step" in o]
    check_against_rules("upstream", "read_ioctl_remap.scn", got=objs)


def test_runner_on_the_fake_follows_the_rules():
    from test_impl_user_fake import FakeInstance
    check_against_rules("upstream", "read_ioctl_remap.scn", FakeInstance)


def test_event_size_rule():
    assert EV == 32 and marker_event_size(22) == 44 and marker_event_size(26) == 48
    assert nr_pages_for(16) == 5 and nr_pages_for(8) == 3 and nr_pages_for(32) == 9


@needs_facade
def test_read_ioctl_remap_upstream():
    got = check_against_rules("upstream", "read_ioctl_remap.scn")
    # the acceptance figures, spelled out (also covered by the oracle above)
    by_step = {o["step"]: o for o in got}
    ids = [by_step[s]["meta"]["reader"]["id"] for s in (4, 5, 7, 9, 10, 12)]
    reads = [by_step[s]["meta"]["reader"]["read"] for s in (4, 5, 7, 9, 10, 12)]
    assert ids == [0, 1, 1, 0, 0, 0]                 # renumbered at the second first-map
    assert reads == [0, 10 * EV, 15 * EV, 15 * EV, 15 * EV, 18 * EV]  # survives remap


@needs_facade
def test_read_ioctl_remap_layout_610_same_at_4k():
    # 6.10 and 6.12 differ only in meta_page_size, equal with 4 KiB sub-buffers
    check_against_rules("upstream", "read_ioctl_remap.scn")
    a = run_parsed(load(SCN / "read_ioctl_remap.scn"), abi="upstream", layout="6.10")
    b = run_parsed(load(SCN / "read_ioctl_remap.scn"), abi="upstream", layout="6.12")
    assert a == b


@needs_facade
def test_v2_duplicate_read():
    got = check_against_rules("v2", "v2_duplicate_read.scn")
    by_step = {o["step"]: o for o in got}
    a_seen = len(by_step[6]["page"]["events"])
    b_seen = len(by_step[12]["page"]["events"])
    assert (a_seen, b_seen) == (10, 20)   # B gets A's 10 events again
    assert "reader" not in by_step[14]["meta"]  # nothing in v2 says where A stopped


@needs_facade
def test_same_file_upstream_shows_the_fix():
    """Under the merged ABI, B starts at reader.read and reads only the new events."""
    got = run_parsed(load(SCN / "v2_duplicate_read.scn"), abi="upstream")
    by_step = {o["step"]: o for o in got}
    start = by_step[11]["meta"]["reader"]["read"]
    assert start == 10 * EV
    b_reads = [e for e in by_step[12]["page"]["events"] if e["offset"] >= start]
    assert len(b_reads) == 10


@needs_facade
def test_v2_header_read_by_a_32_bit_process():
    """ILP32: the kernel writes the LP64 header; a 32-bit process reads every field
    after `overrun` 8 bytes early, so its reader_page is not the reader's ID."""
    from rbmap.impl import decode
    from rbmap.impl.tracefs import Instance

    inst = Instance(abi="v2")
    for _ in range(10):
        inst.write_marker(b"12345678")
    fd = inst.open(nonblock=True)
    rc, vma = inst.mmap(fd, 4096, 0)
    assert rc == 0 and inst.ioctl(fd, inst.GET_READER) == 0
    raw = vma.read(0, 4096)
    m64 = decode.decode_v2_meta(raw, bits=64)
    m32 = decode.decode_v2_meta(raw, bits=32)
    assert m64["reader_page"] == 1 and m64["entries"] == 10
    assert m64["data_start"] == decode.v2_header_size(64) == 40
    assert m32["entries"] == 10                      # the low half still matches
    assert m32["reader_page"] == m64["pages_touched"]
    assert m32["nr_data_pages"] == m64["meta_page_size"] == 4096
    assert m32["data_start"] == m64["nr_data_pages"] == 5
    # pages_touched is 0 (the writer never left its first page): the 32-bit
    # process reads reader_page 0 where the reader page is ID 1
    assert (m64["pages_touched"], m32["reader_page"]) == (0, 0)


def _room(rules: Rules, size: int, most: int) -> int:
    """How many writes of ``size`` fit before one would overwrite unread data."""
    import copy
    trial = copy.deepcopy(rules)
    for k in range(most):
        try:
            trial.write(1, size)
        except WouldOverwrite:
            return k
    return most


@needs_facade
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_sequences_follow_the_rules(data):
    """Random user-level sequences (writes of one string length, get-reader,
    map / unmap, page, meta) on a 3-page buffer: impl gives UPSTREAM.md's values at
    every step, padding at page ends and IDs renumbered at each first map included."""
    length = data.draw(st.sampled_from([8, 22, 26]), label="marker length")
    size = marker_event_size(length)
    shadow = Rules("upstream", 8)
    lines = ["scenario random", "buffer_size_kb 8", "open nonblock"]
    for _ in range(data.draw(st.integers(1, 16), label="operations")):
        choices = ["markers", "ioctl", "map"]
        if shadow.user_mapped:
            choices += ["unmap", "page", "meta", "ioctl"]
        op = data.draw(st.sampled_from(choices))
        if op == "markers":
            room = _room(shadow, size, 150)
            if room == 0:
                continue
            k = data.draw(st.integers(1, room))
            shadow.write(k, size)
            lines.append(f"markers {k} {length}")
            continue
        lines.append(op)
        if op == "map":
            shadow.map()
        elif op == "unmap":
            shadow.unmap()
        elif op == "ioctl" and shadow.user_mapped:
            shadow.get_reader()
    text = "\n".join(lines) + "\n"
    (sc,) = parse(text)
    got = run_parsed([sc])
    exp = predicted_ops("upstream", sc.ops)
    assert len(got) == len(exp)
    for e, g in zip(exp, got):
        _subset(e, g, f"{text}\nstep {e['step']} {e['op']}")
