"""``--order-change``: ring_buffer_subbuf_order_set going ahead (README K1).

Off by default; on, the model shows the finding with its shortest counterexample:
one event committed, an order change, and the event is gone, neither read nor
counted, while ``entries`` still counts it.
"""

from __future__ import annotations

from rbmap.checker import check_bfs
from rbmap.model import build
from rbmap.model import protocol as P
from rbmap.model.config import Config

TINY = dict(pages=2, page_events=1, events=2, processes=1, nesting=1)


def test_off_by_default():
    assert Config().order_change is False
    r = check_bfs(build("upstream", **TINY))
    assert r["no_unaccounted_loss"].status == "holds"
    assert r["every_event_delivered_or_counted"].status == "holds"


def test_k1_shortest_counterexample():
    r = check_bfs(build("upstream", **TINY, order_change=True))
    res = r["no_unaccounted_loss"]
    assert res.status == "violated"
    assert res.path.actions == [("writer", "write_begin"), ("writer", "reserve"),
                                ("writer", "commit"), ("writer", "commit_release"),
                                ("writer", "commit_recheck"), ("admin", "subbuf_order")]


def _after_one_commit(m):
    """The state after the writer committed one event, nothing mapped."""
    s = m.init_states()[0]
    for _ in range(10):
        nxt = [(a, t) for a, t in m.successors(s) if a[0] == "writer"]
        if not nxt:
            break
        s = nxt[0][1]
        if s[P.ENTRIES] == 1 and not s[P.WDEPTH]:
            return s
    raise AssertionError("no committed event")


def test_step_replaces_the_pages_and_keeps_the_counters():
    m = build("upstream", **TINY, order_change=True)
    s = _after_one_commit(m)
    steps = [t for a, t in m.successors(s) if a == ("admin", "subbuf_order")]
    assert len(steps) == 1
    t = steps[0]
    for k in (P.ENTRIES, P.OVERRUN, P.READCNT, P.LOSTEV, P.LASTOV):
        assert t[k] == s[k]
    assert all(t[m.PWRITE + p] == 0 and t[m.PCOMMIT + p] == 0 for p in range(m.N + 1))
    assert t[P.LOSTU] == 1 and s[P.LOSTU] == 0     # event 0: lost, not counted


def test_refused_while_mapped():
    """resize_disabled (a mapping) refuses it: no step."""
    m = build("upstream", **TINY, order_change=True)
    s = list(_after_one_commit(m))
    s[P.RESDIS] = 1
    assert m._order_change(tuple(s)) is None
