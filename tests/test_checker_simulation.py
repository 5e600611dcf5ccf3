"""Seeded random walks: deterministic, honest verdicts, replayable paths."""

from __future__ import annotations

from rbmap.checker import Path, replay, simulate
from rbmap.checker.toys import Counters, LostUpdate, Peterson, TwoPhaseCommit


def _signature(r):
    return (r.states, r.transitions, r.max_depth,
            [(p.name, p.status, None if p.path is None else p.path.to_json())
             for p in r.properties])


def test_same_seed_same_result():
    a = simulate(TwoPhaseCommit(4), seed=7, runs=40, depth=25)
    b = simulate(TwoPhaseCommit(4), seed=7, runs=40, depth=25)
    assert _signature(a) == _signature(b)
    assert a.strategy == "simulation" and not a.complete


def test_seeds_explore_differently():
    sigs = {_signature(simulate(TwoPhaseCommit(4), seed=s, runs=5, depth=25))[:2]
            for s in range(5)}
    assert len(sigs) > 1


def test_simulation_finds_a_violation_with_a_replayable_path():
    model = Peterson("turn_first")
    r = simulate(model, seed=1, runs=200, depth=30)
    me = r["mutual_exclusion"]
    assert me.status == "violated"
    assert me.path.states[-1][:2] == (3, 3)
    # Shortest of those found, and it replays from its JSON form.
    assert len(me.path) >= 6
    back = Path.from_json(me.path.to_json())
    assert replay(model, back) == me.path.states


def test_simulation_never_claims_holds_or_unreached():
    r = simulate(Peterson("ok"), seed=3, runs=50, depth=20)
    status = {p.name: p.status for p in r.properties}
    assert status == {"mutual_exclusion": "unknown", "p0_critical": "reached",
                      "deadlock": "unknown"}
    r = simulate(LostUpdate(2), seed=3, runs=50, depth=10)
    assert r["all_done"].status == "unknown"
    assert r["all_done"].note == "not checked by simulation"


def test_simulation_finds_deadlock_and_respects_depth():
    r = simulate(Peterson("no_turn"), seed=0, runs=50, depth=10)
    assert r["deadlock"].status == "violated"
    assert len(r["deadlock"].path) == 2
    r = simulate(Counters(2, 50), seed=0, runs=3, depth=10)
    assert r.max_depth == 10 and r.transitions == 30


def test_simulation_time_limit():
    r = simulate(TwoPhaseCommit(5), seed=0, runs=10**9, depth=20, time_limit=0.2)
    assert r.stopped_by == "time_limit" and not r.complete
