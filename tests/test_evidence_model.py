"""What the model says about its own steps: which exist only because an assumption
was dropped (``step_assumptions``), its actors, its assumptions.

The notes are made where the step code lists a step (model/protocol.py); these
tests hold them to a counterfactual: on every reachable state of a small config
with one assumption dropped, a transition is noted with that assumption exactly
when the same model with the assumption in force lacks that transition.
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields

import pytest

from rbmap.checker import check_bfs, replay
from rbmap.model import Config, build
from rbmap.model.config import (ASSUMPTION_KEYS, ASSUMPTIONS, SIZE_KEYS,
                                WORKLOAD_KEYS, option_words)
from rbmap.model.protocol import FINE_STEPS

HOLDS = {a.key: a.holds for a in ASSUMPTIONS}
SMALL = dict(pages=2, page_events=1, events=3, processes=2, nesting=1)


def reachable(m, limit=2500):
    init = list(m.init_states())
    seen, queue, out = set(init), deque(init), []
    while queue and len(out) < limit:
        s = queue.popleft()
        out.append(s)
        for _, t in m.successors(s):
            if t not in seen:
                seen.add(t)
                queue.append(t)
    return out


def test_every_config_key_is_a_size_a_workload_or_an_assumption():
    """A new Config field must say what it is: an assumption (then its steps are
    noted for reports) or a size / workload (then nothing is)."""
    groups = [set(SIZE_KEYS), set(WORKLOAD_KEYS), set(ASSUMPTION_KEYS)]
    for f in fields(Config):
        assert sum(f.name in g for g in groups) == 1, (
            f"Config.{f.name}: put it in exactly one of SIZE_KEYS, WORKLOAD_KEYS or "
            "ASSUMPTIONS (model/config.py); an assumption's steps are noted where "
            "protocol.py lists them (RingBufferModel.step_assumptions)")
    assert set().union(*groups) == {f.name for f in fields(Config)}
    for a in ASSUMPTIONS:
        assert getattr(Config(), a.key) == a.holds, f"{a.key}: in force by default"


def test_assumptions_say_which_are_dropped_and_how():
    m = build("upstream", **SMALL, crash=True, consumers="concurrent")
    by_key = {a["key"]: a for a in m.assumptions()}
    assert list(by_key) == list(ASSUMPTION_KEYS)
    assert not by_key["crash"]["in_force"] and by_key["crash"]["option"] == "--crash"
    assert by_key["consumers"]["option"] == "--consumers concurrent"
    assert by_key["client"]["in_force"] and by_key["reader_stays"]["in_force"]
    assert option_words("reader_stays", False) == "--no-reader-stays"


#: dropped values whose steps are not the in-force model's plus some: checked
#: on their own below
NOT_COUNTERFACTUAL = {
    ("client", "libtracefs"): "another algorithm: its reads past reader.read",
    ("granularity", "fine"): "splits steps: FINE_STEPS",
}
CASES = [(v, a.key, value) for v in ("upstream", "v2") for a in ASSUMPTIONS
         for value in a.dropped_values if (a.key, value) not in NOT_COUNTERFACTUAL]


def test_every_assumption_can_be_dropped():
    for a in ASSUMPTIONS:
        assert a.dropped_values, a.key
        for value in a.dropped_values:
            build("upstream", **SMALL, **{a.key: value})


@pytest.mark.parametrize("variant,key,value", CASES,
                         ids=[f"{v}-{k}-{x}" for v, k, x in CASES])
def test_a_step_is_noted_exactly_when_the_assumption_would_forbid_it(
        variant, key, value):
    cfg = {**SMALL, "pipe_reads": 1}
    dropped = build(variant, **cfg, **{key: value})
    held = build(variant, **cfg, **{key: HOLDS[key]})
    noted = unnoted = 0
    for s in reachable(dropped):
        allowed = set(held.successors(s))
        for a, t in dropped.successors(s):
            needs = dropped.step_assumptions(s, a)
            assert set(needs) <= {key}, (a, needs)
            assert (key in needs) == ((a, t) not in allowed), (variant, key, a, s)
            noted += key in needs
            unnoted += key not in needs
    assert unnoted
    # on upstream every assumption matters at this config (on v2 the client's
    # does not: the seed's reader reads to the live commit anyway)
    assert noted or variant != "upstream", "the case must exercise noted steps"


def test_nothing_is_noted_while_every_assumption_is_in_force():
    m = build("upstream", **SMALL, pipe_reads=1, resets=1)
    for s in reachable(m, 1500):
        for a, _ in m.successors(s):
            assert m.step_assumptions(s, a) == ()


def test_fine_granularity_steps_are_noted_and_coarse_has_none_of_them():
    fine = build("upstream", **SMALL, granularity="fine")
    coarse = build("upstream", **SMALL)
    seen = set()
    for s in reachable(fine):
        for a, _ in fine.successors(s):
            needs = fine.step_assumptions(s, a)
            assert ("granularity" in needs) == (a[1] in FINE_STEPS)
            seen.add(a[1])
    assert seen & FINE_STEPS
    for s in reachable(coarse):
        for a, _ in coarse.successors(s):
            assert a[1] not in FINE_STEPS


def test_libtracefs_reads_past_reader_read_are_noted_on_its_duplicate():
    """L1: libtracefs hands out events beyond reader.read; the steps that read
    them are what the documented client never does."""
    m = build("upstream", pages=2, page_events=2, events=4, processes=1, nesting=1,
              client="libtracefs")
    r = check_bfs(m)
    dup = next(p for p in r.properties if p.name == "no_duplicate_delivery")
    assert dup.status == "violated"
    states = replay(m, dup.path)
    noted = [(i, a) for i, a in enumerate(dup.path.actions)
             if m.step_assumptions(states[i], a)]
    assert noted and all(a[1] == "read_event" for _, a in noted)
    assert all(m.step_assumptions(states[i], a) == ("client",) for i, a in noted)


def test_actors_cover_every_step():
    """With every workload switched on (each extra actor: trace_pipe_raw reads,
    resets, the non-consuming reader, ...), every step's actor is a lane."""
    defaults = Config().to_dict()
    extra = {k: (True if isinstance(defaults[k], bool) else 1)
             for k in WORKLOAD_KEYS if not defaults[k]}
    m = build("v2", **SMALL, **extra)
    names = [n for n, _ in m.actors()]
    assert names[0] == "writer" and len(names) == len(set(names))
    for s in reachable(m, 1500):
        for a, _ in m.successors(s):
            assert m.actor(a) in names
