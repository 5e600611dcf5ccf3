"""Breadth-first exploration on toy models: exact counts, shortest paths, bounds."""

from __future__ import annotations

import pytest

from rbmap.checker import (ModelError, always, check_bfs, replay, sometimes,
                           successor_function)
from rbmap.checker.toys import (Clock, Counters, LostUpdate, Peterson, Retry,
                                TwoPhaseCommit)


def reference_bfs(model):
    """Distances and transition count by a plain level-by-level search.

    Written independently of ``check_bfs`` (sets and levels, no ids) so the
    two can be compared.
    """
    succ = successor_function(model)
    dist = {}
    for s in model.init_states():
        dist.setdefault(s, 0)
    frontier = list(dist)
    transitions = 0
    while frontier:
        nxt = []
        for s in frontier:
            for _, t in succ(s):
                transitions += 1
                if t not in dist:
                    dist[t] = dist[s] + 1
                    nxt.append(t)
        frontier = nxt
    return dist, transitions


# model, distinct states, transitions, depth (exact).
EXACT = [
    (Counters(2, 3), 16, 24, 6),  # 4**2 states, 2*3*4 increments
    (Counters(3, 4), 125, 300, 12),  # 5**3 states, 3*4*25 increments
    (Clock(12), 12, 12, 11),
    (Peterson("ok"), 20, 34, 6),
    (Peterson("turn_first"), 32, 60, 7),
    (Peterson("no_turn"), 8, 12, 3),
    (LostUpdate(2), 13, 14, 4),
    (LostUpdate(3), 84, 111, 6),
    (LostUpdate(4), 755, 1156, 8),
    (TwoPhaseCommit(3), 288, 1145, 10),  # TLC: 288 distinct states
    (TwoPhaseCommit(5), 8832, 58145, 16),
    (Retry(), 3, 3, 2),
    (Retry(livelock=True), 5, 6, 2),
]


@pytest.mark.parametrize("model,states,transitions,depth", EXACT,
                         ids=[f"{type(m).__name__}-{i}" for i, (m, *_) in enumerate(EXACT)])
def test_exact_state_counts(model, states, transitions, depth):
    r = check_bfs(model)
    assert (r.states, r.transitions, r.max_depth, r.complete) == (states, transitions, depth, True)
    dist, ref_transitions = reference_bfs(model)
    assert (len(dist), ref_transitions, max(dist.values())) == (states, transitions, depth)
    assert set(r.exploration) == set(dist)
    assert all(r.exploration.depth(s) == d for s, d in dist.items())


def test_peterson_holds_mutual_exclusion():
    r = check_bfs(Peterson("ok"))
    assert r["mutual_exclusion"].status == "holds"
    assert r["deadlock"].status == "holds"
    assert r["p0_critical"].status == "reached"
    r.assert_discovery("p0_critical", [("set_flag", 0), ("set_turn", 0), ("enter", 0)])
    r.assert_properties()


def test_broken_peterson_pinned_shortest_counterexample():
    r = check_bfs(Peterson("turn_first"))
    me = r["mutual_exclusion"]
    assert me.status == "violated"
    r.assert_discovery("mutual_exclusion", [
        ("set_turn", 0), ("set_turn", 1), ("set_flag", 1), ("enter", 1),
        ("set_flag", 0), ("enter", 0)])
    # Shortest: no violating state is closer than the path's length.
    dist, _ = reference_bfs(Peterson("turn_first"))
    assert len(me.path) == min(d for s, d in dist.items() if s[0] == s[1] == 3)
    # The states attached to the path are the replayed ones; the last violates.
    assert me.path.states == replay(Peterson("turn_first"), me.path)
    assert me.path.states[-1][:2] == (3, 3)
    with pytest.raises(AssertionError):
        r.assert_properties()


def test_deadlock_detected_with_shortest_path():
    r = check_bfs(Peterson("no_turn"))
    d = r["deadlock"]
    assert d.status == "violated" and d.kind == "always"
    r.assert_discovery("deadlock", [("set_flag", 0), ("set_flag", 1)])
    assert r["mutual_exclusion"].status == "holds"


def test_terminal_ok_states_are_not_deadlocks():
    r = check_bfs(Counters(2, 2))
    assert r["deadlock"].status == "holds"
    r = check_bfs(Counters(2, 2), check_deadlock=False)
    assert "deadlock" not in [p.name for p in r.properties]


class NoTerminal(Counters):
    """Counters without ``terminal_ok``: the final state is a deadlock."""

    terminal_ok = None


def test_state_without_successors_and_without_terminal_ok_is_deadlock():
    r = check_bfs(NoTerminal(2, 2))
    r.assert_discovery("deadlock", [("inc", 0), ("inc", 0), ("inc", 1), ("inc", 1)])


def test_sometimes_reached_and_unreached():
    r = check_bfs(Clock(6))
    assert r["last_hour"].status == "reached"
    assert r["last_hour"].path.actions == [("tick",)] * 5
    assert r["beyond_dial"].status == "unreached"
    assert r["beyond_dial"].path is None
    assert not r.ok


BOUNDS = [
    (dict(max_states=10), 10, "max_states"),
    (dict(max_depth=2), 6, "max_depth"),  # 1 + 2 + 3 states at depth <= 2
    (dict(max_states=1), 1, "max_states"),
    (dict(max_depth=0), 1, "max_depth"),
]


@pytest.mark.parametrize("bound,states,stopped_by", BOUNDS)
def test_bounds_give_incomplete_never_holds(bound, states, stopped_by):
    r = check_bfs(Counters(2, 3), **bound)
    assert (r.states, r.complete, r.stopped_by) == (states, False, stopped_by)
    assert {p.name: p.status for p in r.properties} == {
        "bounded": "unknown", "all_done": "unknown", "deadlock": "unknown"}
    if "max_depth" in bound:
        assert r.max_depth == bound["max_depth"]


def test_time_limit_gives_incomplete():
    r = check_bfs(TwoPhaseCommit(5), time_limit=0.0)
    assert not r.complete and r.stopped_by == "time_limit"
    assert r.states < 8832
    assert {p.status for p in r.properties} <= {"unknown", "reached"}


def test_bound_that_does_not_bind_is_complete():
    r = check_bfs(Counters(2, 3), max_depth=6, max_states=16)
    assert r.complete and r.states == 16
    assert r["bounded"].status == "holds"


def test_violation_found_within_bound_is_reported():
    r = check_bfs(Peterson("turn_first"), max_depth=6)
    assert not r.complete
    assert r["mutual_exclusion"].status == "violated"
    assert r["deadlock"].status == "unknown"
    r = check_bfs(Peterson("turn_first"), max_depth=5)
    assert r["mutual_exclusion"].status == "unknown"


def test_stop_on_violation():
    r = check_bfs(Peterson("turn_first"), stop_on_violation=True)
    assert r["mutual_exclusion"].status == "violated"
    assert len(r["mutual_exclusion"].path) == 6
    assert r["p0_critical"].status == "reached"  # depth 3, seen before
    assert r["deadlock"].status == "unknown"
    assert (r.complete, r.stopped_by) == (False, "violation")


class Bounded(Counters):
    """Counters to 10 with a state constraint: expand only sums below 4."""

    def within_boundary(self, s):
        return sum(s) < 4


def test_within_boundary_limits_expansion_not_checking():
    r = check_bfs(Bounded(2, 10))
    assert r.states == 15  # pairs with a + b <= 4
    assert r.complete
    assert r["deadlock"].status == "holds"  # boundary states are not deadlocks
    assert r["all_done"].status == "unreached"


class TwoInvariants(Counters):
    """Two always properties violated at different depths, with check_state."""

    def properties(self):
        @always("a_small")
        def a_small(s):
            """Counter a stays below 2."""
            return s[0] < 2

        @always("b_small")
        def b_small(s):
            """Counter b stays below 3."""
            return s[1] < 3

        @sometimes("both_one")
        def both_one(s):
            """Both counters at 1."""
            return s == (1, 1)

        return [a_small, b_small, both_one]

    def check_state(self, s):
        return 0 if s[0] >= 2 else 1 if s[1] >= 3 else -1


class TwoInvariantsPlain(TwoInvariants):
    check_state = None


@pytest.mark.parametrize("model", [TwoInvariants(2, 5), TwoInvariantsPlain(2, 5)],
                         ids=["check_state", "per_property"])
def test_each_always_property_gets_its_own_shortest_counterexample(model):
    r = check_bfs(model)
    r.assert_discovery("a_small", [("inc", 0), ("inc", 0)])
    r.assert_discovery("b_small", [("inc", 1)] * 3)
    r.assert_discovery("both_one", [("inc", 0), ("inc", 1)])
    assert r.states == 36


def test_check_state_agrees_with_conditions_on_two_phase_commit():
    class Plain(TwoPhaseCommit):
        check_state = None

    a, b = check_bfs(TwoPhaseCommit(4)), check_bfs(Plain(4))
    assert [(p.name, p.status) for p in a.properties] == [(p.name, p.status) for p in b.properties]
    assert a.states == b.states


class DupInit:
    """Three initial states, two of them equal."""

    def init_states(self):
        return [(0,), (0,), (5,)]

    def actions(self, s):
        return [("dec",)] if s[0] > 0 else []

    def next_state(self, s, a):
        return (s[0] - 1,)

    def terminal_ok(self, s):
        return True

    def properties(self):
        @sometimes("four")
        def four(s):
            """Value 4."""
            return s[0] == 4

        return [four]


def test_duplicate_initial_states_and_init_index():
    r = check_bfs(DupInit())
    assert r.states == 6
    assert r["four"].path.init == 2
    assert r["four"].path.actions == [("dec",)]


class Both:
    """Has successors and actions/next_state; successors wins."""

    def init_states(self):
        return [0]

    def successors(self, s):
        return [(("up",), s + 1)] if s < 2 else []

    def actions(self, s):
        raise AssertionError("actions() must not be used when successors() exists")

    def next_state(self, s, a):
        raise AssertionError("next_state() must not be used")

    def properties(self):
        return []


def test_successors_preferred_and_non_model_rejected():
    r = check_bfs(Both())
    assert r.states == 3
    with pytest.raises(ModelError, match="needs init_states"):
        check_bfs(object())

    class NoMoves:
        def init_states(self):
            return [0]

        def properties(self):
            return []

    with pytest.raises(ModelError, match="needs successors"):
        check_bfs(NoMoves())


def test_property_names_checked():
    class Dup(Counters):
        def properties(self):
            p = Counters.properties(self)
            return p + p[:1]

    class Reserved(Counters):
        def properties(self):
            return [always("deadlock")(lambda s: True)]

    with pytest.raises(ValueError, match="duplicate"):
        check_bfs(Dup())
    with pytest.raises(ValueError, match="built-in"):
        check_bfs(Reserved())


def test_property_decorators():
    @always
    def small(s):
        """Stays
        small."""
        return s < 3

    assert (small.name, small.kind, small.doc) == ("small", "always", "Stays small.")
    with pytest.raises(ValueError):
        type(small)("x", "never", lambda s: True)


def test_progress_callback_and_statistics():
    seen = []
    r = check_bfs(TwoPhaseCommit(5), progress=seen.append)
    assert r.states_per_second > 0 and r.seconds > 0
    for info in seen:  # about once a second; maybe none on a fast machine
        assert set(info) == {"seconds", "states", "transitions", "depth", "queue"}
    assert "8832 states" in r.summary()


def test_summary_fits_80_columns():
    from rbmap.checker import CheckResult

    r = CheckResult("bfs", 2796402, 7914921, 91, 118.77, False, stopped_by="time_limit")
    lines = r.summary().splitlines()
    assert len(lines) == 2 and all(len(ln) <= 80 for ln in lines)
    assert " ".join(r.summary().split()) == (
        "bfs: 2796402 states, 7914921 transitions, depth 91, 118.77 s, "
        "23,545 states/s, INCOMPLETE (time_limit)")


def test_progress_reports_during_a_run(monkeypatch):
    import rbmap.checker.progress as progress

    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    seen = []
    r = check_bfs(Counters(2, 60), progress=seen.append)
    assert seen, "no progress report on a 3721-state run with a zero interval"
    assert [i["states"] for i in seen] == sorted(i["states"] for i in seen)
    assert all(0 < i["states"] <= r.states and i["queue"] >= 0 for i in seen)


def test_progress_line_is_quiet_then_shows_then_erases():
    import io

    from rbmap.checker.progress import ProgressLine, progress_reporter

    out = io.StringIO()
    line = ProgressLine(out)
    info = {"seconds": 0.5, "states": 1000, "transitions": 3000, "depth": 4, "queue": 10}
    line(info)
    assert out.getvalue() == ""  # short runs stay silent
    line(dict(info, seconds=4.0))
    shown = out.getvalue()
    assert shown.startswith("\r1,000 states  depth 4  250 states/s  queue 10")
    assert len(shown) == 80
    line.close()
    assert out.getvalue().endswith("\r" + " " * 79 + "\r")
    assert progress_reporter(False) is None
    assert isinstance(progress_reporter(True), ProgressLine)


class PackedTwoPhase(TwoPhaseCommit):
    """TwoPhaseCommit whose visited set stores packed bytes."""

    def __init__(self, n):
        super().__init__(n)
        self.state_struct = f"<{3 * n + 3}B"


class PackedLostUpdate(LostUpdate):
    state_struct = "<7B"


def test_packed_states_give_the_same_result_in_less_memory():
    from rbmap.checker.bench import bytes_per_state

    plain, packed = check_bfs(TwoPhaseCommit(4)), check_bfs(PackedTwoPhase(4))
    assert (packed.states, packed.transitions, packed.max_depth) == (
        plain.states, plain.transitions, plain.max_depth)
    assert [(p.name, p.status, p.path) for p in packed.properties] == [
        (p.name, p.status, p.path) for p in plain.properties]
    assert set(packed.exploration) == set(plain.exploration)
    assert all(isinstance(k, bytes) for k in packed.exploration.keys)
    s = plain.exploration.state(100)
    assert packed.exploration.depth(s) == plain.exploration.depth(s)
    assert bytes_per_state(packed) < bytes_per_state(plain) / 1.5
    # eventually and sometimes through the packed graph too
    r = check_bfs(PackedLostUpdate(3))
    assert (r.states, r["all_done"].status, r["lost_update"].status) == (84, "holds", "reached")


def test_packed_state_out_of_range_fails_loudly():
    import struct

    class TooBig(Counters):
        state_struct = "<2B"

    with pytest.raises(struct.error):
        check_bfs(TooBig(2, 300))


def test_stopped_by_names_the_bound_that_bit_first():
    r = check_bfs(Counters(2, 3), max_states=5, max_depth=3)  # 5 states by depth 2
    assert (r.states, r.stopped_by) == (5, "max_states")
    r = check_bfs(Counters(2, 3), max_states=12, max_depth=3)  # depth 3 holds 10
    assert (r.states, r.stopped_by) == (10, "max_depth")


def test_a_stop_request_ends_the_search_incomplete():
    """The first Ctrl-C inside stop_on_sigint (here: request()) stops the search
    at its next clock reading; nothing is then reported as holding."""
    from rbmap.checker import interrupt, simulate
    with interrupt.stop_on_sigint():
        interrupt.request()
        r = check_bfs(Counters(3, 20))
        s = simulate(Counters(3, 20), seed=1, runs=50, depth=10)
    assert not interrupt.requested()       # the flag does not outlive the block
    assert (r.complete, r.stopped_by) == (False, "interrupted")
    assert 0 < r.states < 21 ** 3
    assert {p.status for p in r.properties} <= {"unknown", "violated", "reached"}
    assert (s.stopped_by, s.transitions) == ("interrupted", 0)


def test_second_sigint_raises_keyboard_interrupt_at_once():
    import os
    import signal

    from rbmap.checker import interrupt
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell
    try:
        with interrupt.stop_on_sigint():
            os.kill(os.getpid(), signal.SIGINT)          # the first: a request
            assert interrupt.requested()
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)      # the second: at once
                for _ in range(10 ** 6):
                    pass
    finally:
        signal.signal(signal.SIGINT, saved)
