"""Teeth: each part of the memory model, switched off on its own, changes the
verdict of at least one of the repository's litmus programs (so every axiom and
every ordering relation is exercised by a program with a stated result)."""

from pathlib import Path

import pytest

from rbmap.checker.litmus import parse
from rbmap.checker.memmodel import BREAKABLE, check

DIR = Path(__file__).with_name("litmus")
LITS = [parse(p.read_text()) for p in sorted(DIR.glob("*.litmus"))]

# the program that notices each broken part (found by running them all; each is
# a program whose point is that part)
WITNESS = {
    "coherence": "once-coherence-rr",
    "atomic": "atomic-inc-atomic",
    "happens-before": "release-acquire-mp",
    "propagation": "mb-sb",
    "rcu": "rcu-gp",
    "plain-coherence": "lock-exclusion",
    "wmb": "wmb-rmb-mp",
    "rmb": "wmb-rmb-mp",
    "mb": "mb-sb",
    "acq-po": "release-acquire-mp",
    "po-rel": "release-acquire-mp",
    "ctrl": "ctrl-lb",
    "addr": "addr-mp",
    "data": "data-lb",
    "a-cumul": "release-cumulative-wrc",
    "rmw-sequence": "release-rmw-sequence",
    "po-unlock-lock-po": "after-unlock-lock-sb",
    "carry-dep": "plain-carried-lb",
    "lock-reads-unlocked": "lock-exclusion",
    "failing-cmpxchg-ordered": "cmpxchg-fail-sb",
    "rmw-atomic-values": "xchg-atomic",
}


def test_every_breakable_part_has_a_witness():
    assert set(WITNESS) == set(BREAKABLE)


@pytest.mark.parametrize("part", BREAKABLE)
def test_breaking_it_changes_a_stated_result(part):
    lit = next(l for l in LITS if l.name == WITNESS[part])
    assert check(lit).agrees
    assert not check(lit, broken={part}).agrees
