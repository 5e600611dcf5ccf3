"""The model's own behaviour: pinned counterexamples, clean variants, the fast
invariant check, and the trace of the seed's duplicate read."""

import random

import pytest

from rbmap.checker import check_bfs, replay
from rbmap.model import build
from rbmap.model import protocol as P

SMALL = dict(pages=2, page_events=1, events=4, processes=2, nesting=1)

# The seed thread's read-counter race, as the shortest path BFS finds: one event is
# written, a process maps, swaps it in with the ioctl and reads it, unmaps; a new
# mapping starts at offset 0 of the same reader page (the seed exposes no read
# offset) and reads it again.
V2_DUPLICATE = [
    ("writer", "write_begin"), ("writer", "reserve"), ("writer", "commit_inc"),
    ("writer", "end_commit"), ("writer", "commit_release"), ("writer", "commit_recheck"),
    ("p0", "map"), ("p0", "read_meta"), ("p0", "page_done"), ("p0", "ioctl"),
    ("p0", "read_meta"), ("p0", "read_event"), ("p0", "page_done"), ("p0", "unmap"),
    ("p0", "map"), ("p0", "read_meta"), ("p0", "read_event"),
]


def test_v2_duplicate_read_is_the_pinned_shortest_counterexample():
    r = check_bfs(build("v2", **SMALL))
    r.assert_discovery("no_duplicate_delivery", V2_DUPLICATE)


def test_v2_duplicate_read_final_state():
    m = build("v2", **SMALL)
    r = check_bfs(m)
    path = r["no_duplicate_delivery"].path
    final = replay(m, path)[-1]
    v = m.view(final)
    assert v["delivered"] == [0] and v["delivered_twice"] == [0]
    assert v["meta.reader_page"] == 0  # IDs renumbered at the second first map


def _v3_read_is_clean(**config):
    r = check_bfs(build("v3-read", **config))
    assert r.complete
    bad = [(p.name, p.status) for p in r.properties
           if p.status not in ("holds", "reached")]
    assert bad == []


@pytest.mark.slow
def test_v3_read_default_config_is_clean():
    """The acceptance config: 3 ring pages, 2 events a page, 2 processes,
    overwrite on, nesting 2 (about 1M states)."""
    c = build("v3-read").config
    assert (c.pages, c.page_events, c.processes, c.overwrite, c.nesting) == (
        3, 2, 2, True, 2)
    _v3_read_is_clean()


def test_v3_read_default_sizes_one_process_is_clean():
    """The fast representative of the acceptance config: its sizes with one
    process (a quarter of the states)."""
    _v3_read_is_clean(processes=1)


@pytest.mark.parametrize("variant,config", [
    ("v2", dict(SMALL, processes=1, nesting=2)),
    ("upstream", dict(SMALL, consumers="concurrent", events=3)),
    ("upstream", dict(SMALL, fork=True)),
    ("upstream", dict(SMALL, processes=1, events=5, text_reads=1)),
    ("upstream", dict(SMALL, processes=1, events=2, fork=True, refusals=True)),
    ("v2-data-index", dict(SMALL, processes=1, nc_readers=1, events=3)),
    ("v2", dict(pages=3, page_events=1, events=2, processes=1, nesting=1, resets=1,
                overwrite=False)),
])
def test_check_state_agrees_with_each_property(variant, config):
    m = build(variant, **config)
    r = check_bfs(m)
    always = [p for p in m.properties() if p.kind == "always"]
    states = list(r.exploration)
    rng = random.Random(5)
    sample = states if len(states) < 6000 else rng.sample(states, 6000)
    for s in sample:
        expect = next((i for i, p in enumerate(always) if not p(s)), -1)
        assert m.check_state(s) == expect


def test_states_are_flat_tuples_of_ints():
    m = build("upstream")
    s0 = m.init_states()[0]
    assert isinstance(s0, tuple) and all(type(x) is int for x in s0)
    for _, t in m.successors(s0):
        assert isinstance(t, tuple) and len(t) == len(s0)


def test_successor_order_is_deterministic():
    m = build("v2", **SMALL)
    r = check_bfs(m, max_states=2000)
    for s in list(r.exploration)[:500]:
        assert list(m.successors(s)) == list(m.successors(s))


def test_nested_writer_commits_only_when_outermost_finishes():
    m = build("upstream", pages=2, page_events=2, events=3, processes=1, nesting=2)
    s = m.init_states()[0]

    def step(s, action):
        for a, t in m.successors(s):
            if a == action:
                return t
        raise AssertionError(f"{action} not enabled")

    s = step(s, ("writer", "write_begin"))
    s = step(s, ("writer", "reserve"))
    s = step(s, ("irq1", "write_begin"))
    s = step(s, ("irq1", "reserve"))
    s = step(s, ("irq1", "commit"))
    assert s[m.PCOMMIT + 1] == 0  # the interrupted write holds the commit back
    s = step(s, ("writer", "commit"))
    assert s[m.PCOMMIT + 1] == 2 and s[P.ENTRIES] == 2


def test_overwrite_pushes_head_and_counts_overrun():
    m = build("upstream", pages=2, page_events=1, events=3, processes=1, nesting=1)
    r = check_bfs(m)
    pushed = [s for s in list(r.exploration) if s[P.OVERRUN] > 0]
    assert pushed
    for s in pushed:
        # events counted lost are exactly the overrun count
        assert bin(s[P.ACCT]).count("1") == s[P.OVERRUN] + s[P.DROPPED]


def test_producer_consumer_mode_drops_instead():
    m = build("upstream", pages=2, page_events=1, events=4, processes=1, nesting=1,
              overwrite=False)
    r = check_bfs(m)
    assert all(s[P.OVERRUN] == 0 for s in list(r.exploration))
    assert any(s[P.DROPPED] > 0 for s in list(r.exploration))
