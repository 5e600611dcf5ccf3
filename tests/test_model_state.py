"""model/state.py: the protocol's state layout (named slots in tuple order, ranges)."""

from __future__ import annotations

import pytest

from rbmap.checker.steps import Layout, StepError
from rbmap.model import build
from rbmap.model import protocol as P
from rbmap.model import state as S

TINY = dict(pages=2, page_events=1, events=3, processes=1, nesting=2)


def _reachable(m):
    seen = set(m.init_states())
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for t in m.successor_states(s):
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    return seen


def test_named_slots_are_the_tuple_positions():
    """Every index constant names the slot at its position: globals, per-page
    arrays, writer levels, process records, nc0, the libtracefs records."""
    for cfg in (dict(TINY, processes=2, nc_readers=1), dict(TINY, client="libtracefs")):
        variant = "v2" if cfg.get("nc_readers") else "upstream"
        m = build(variant, **cfg)
        lay = m.layout
        assert len(lay) == m.SIZE
        for const, name, _ in S.GLOBALS:
            assert lay.scalars[name].index == getattr(P, const)
        for f, base in (("next", m.NXT), ("id", m.IDS), ("base", m.PBASE),
                        ("filled", m.PFILL), ("write", m.PWRITE),
                        ("commit", m.PCOMMIT), ("read", m.PREAD)):
            assert [sl.index for sl in lay.arrays[f"page_{f}"]] == \
                list(range(base, base + m.N + 1))
        assert lay.arrays["data_pages"][0].index == m.DPAGES
        for f, base in (("w_phase", m.WPH), ("w_r1", m.WR1), ("w_r2", m.WR2),
                        ("w_r3", m.WR3)):
            assert [sl.index for sl in lay.arrays[f]] == list(range(base, base + m.D))
        for k, f in enumerate(S.PROC_FIELDS):
            assert k == (P.PH, P.PG, P.POS, P.LIM, P.PB, P.CHILD)[k]
            assert [sl.index for sl in lay.arrays[f"proc_{f}"]] == \
                [m.PROC + P.NPF * i + k for i in range(m.P)]
        if m.nc:
            for k, f in enumerate(S.NC_FIELDS):
                assert lay.scalars[f].index == m.NC + k
        if m.ltf:
            assert [sl.index for sl in lay.arrays["ltf_phase"]] == \
                [m.LTF + P.NLF * i + P.LPH for i in range(m.P)]
            assert [sl.index for sl in lay.arrays["ltf_skip"]] == \
                [m.LTF + P.NLF * i + P.SKIP for i in range(m.P)]


SMALL = dict(pages=2, page_events=1, events=2, processes=1, nesting=1)


@pytest.mark.parametrize("variant,rules,cfg", [
    ("upstream", None, dict(SMALL, nesting=2, granularity="fine", pipe_reads=1,
                            text_reads=1)),
    ("v2", None, dict(SMALL, nesting=3, events=3, granularity="fine")),
    ("upstream", {"vma_open": "ignores"}, dict(SMALL, processes=2, fork=True)),
    ("upstream", {"map_error": "keep_tr_mapped"}, dict(SMALL, refusals=True, resets=1)),
    ("upstream", None, dict(SMALL, page_events=2, events=3, client="libtracefs")),
    ("v2-data-index", None, dict(SMALL, nc_readers=1)),
    ("upstream", None, dict(SMALL, order_change=True)),
])
def test_reachable_states_lie_in_the_ranges(variant, rules, cfg):
    """The ranges the compiled engine packs by hold every reachable state (a value
    outside one would stop an exploration)."""
    m = build(variant, rules, **cfg)
    states = _reachable(m)
    assert len(states) > 100
    for s in states:
        m.layout.check(s, variant)


def test_a_range_too_tight_is_caught():
    """The check above has teeth: one slot's range cut by one value fails it."""
    m = build("upstream", **TINY)
    states = _reachable(m)
    top = max(s[P.SEQ] for s in states)
    assert top == m.E
    lay = Layout()
    for sl in m.layout.slots:
        lay.slot(f"s{sl.index}", lo=sl.lo, hi=sl.hi - (sl.index == P.SEQ))
    with pytest.raises(StepError, match="outside"):
        for s in states:
            lay.check(s, "tight")


def test_the_view_reads_slots_by_name():
    m = build("upstream", **dict(TINY, processes=2))
    for s in list(_reachable(m))[:200]:
        v = m.reader(s)
        assert v.entries == s[P.ENTRIES] and v.flags == s[P.FLAGS]
        assert [v.page_commit[p] for p in range(m.N + 1)] == \
            list(s[m.PCOMMIT:m.PCOMMIT + m.N + 1])
        assert v.proc_pos[1] == s[m.PROC + P.NPF + P.POS]
        assert v.w_phase[1] == s[m.WPH + 1]
