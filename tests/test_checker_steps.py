"""The step form (rbmap.checker.steps) run interpreted, and the subset it accepts."""

import pytest

from rbmap.checker import check_bfs
from rbmap.checker.properties import always
from rbmap.checker.ring import KNOWN_STATES, Ring
from rbmap.checker.steps import StepError, StepMachine, require, step
from rbmap.checker.stepcode import Require


# ---- the ring model, interpreted: the shared benchmark's figures ----------------
@pytest.mark.parametrize("cfg", [(2, 2, 2), (2, 3, 3)])
def test_ring_state_counts(cfg):
    r = check_bfs(Ring(*cfg))
    assert r.complete and r.states == KNOWN_STATES[cfg]
    r.assert_properties()


def test_ring_bug_shortest_counterexample_is_13_steps():
    r = check_bfs(Ring(2, 2, 2, bug=True))
    p = r["fifo"]
    assert p.status == "violated" and len(p.path) == 13
    # the bug's own steps are on it: head published before the slot is filled
    names = [a[1] for a in p.path.actions]
    assert "publish_early" in names and "write_late" in names


def test_ring_view_and_actions():
    m = Ring(2, 2, 2)
    s0 = m.init_states()[0]
    assert m.view(s0)["buf[1]"] == 0 and m.view(s0)["head"] == 0
    acts = [a for a, _ in m.successors(s0)]
    assert acts == [("writer", "produce", 0), ("writer", "produce", 1),
                    ("reader", "read_head")]
    assert m.format_action(acts[0]) == "produce(0)" and m.actor(acts[2]) == "reader"
    assert [r["action"] for r in m.step_table()][:3] == ["produce(0)", "produce(1)",
                                                          "read_tail"]


def test_ring_rejects_bad_sizes():
    with pytest.raises(ValueError, match="N must be a positive"):
        Ring(0, 2, 2)


# ---- declarations are enforced by the interpreted engine ------------------------
@step("p")
def overflow(m, s):
    """Counts past its range."""
    s.x = s.x + 1


@step("p")
def poke(m, s):
    """Writes an array element picked by x (may be outside the array)."""
    require(s.x < 3)
    s.a[s.x] = 1
    s.x = s.x + 1


class Small(StepMachine):
    name = "small"

    def __init__(self, which):
        self.which = which
        super().__init__()

    def declare(self, st):
        st.slot("x", 4)
        st.array("a", 2, 2)

    def steps(self):
        return [self.which]


def _as_written(m):
    """``m`` exploring with its step functions as written (not the generated code)."""
    m.successors = m.successors_as_written
    m.successor_states = lambda t: [u for _, u in m.successors_as_written(t)]
    return m


@pytest.mark.parametrize("engine", [lambda m: m, _as_written])
def test_value_outside_its_slot_is_an_error(engine):
    with pytest.raises(StepError, match=r"small: step overflow: x = 4 is outside 0..3"):
        check_bfs(engine(Small(overflow)))


@pytest.mark.parametrize("engine", [lambda m: m, _as_written])
def test_index_outside_its_array_is_an_error(engine):
    with pytest.raises(StepError, match=r"small: step poke: index 2 outside a\[0..1\]"):
        check_bfs(engine(Small(poke)))


def test_duplicate_actions_are_refused():
    class Twice(Small):
        def steps(self):
            return [self.which, self.which]
    with pytest.raises(StepError, match="share the action"):
        Twice(overflow)


# ---- the subset: refused when the machine is built, with the line ---------------
@step("p")
def unknown_name(m, s):
    """Uses a name that does not exist."""
    s.x = nowhere  # noqa: F821


@step("p")
def or_as_value(m, s):
    """Uses the value of 'or' as a number."""
    s.x = s.a[0] or s.a[1]


@step("p")
def comprehension(m, s):
    """A comprehension."""
    s.x = sum([1 for _ in range(2)])


@step("p")
def returns_value(m, s):
    """Returns a value."""
    return 1


@pytest.mark.parametrize("fn, msg", [
    (unknown_name, "unknown name 'nowhere'"),
    (or_as_value, "the value of 'or' is used as a number"),
    (comprehension, "ListComp is not in the step subset"),
    (returns_value, "a step returns nothing"),
])
def test_subset_violations_name_file_and_line(fn, msg):
    with pytest.raises(StepError, match=msg) as e:
        Small(fn)
    assert "test_checker_steps.py:" in str(e.value)


@step("p")
def guarded(m, s):
    """Local variables and requires form the guard, in source order."""
    i = s.x
    require(i < 2)
    v = s.a[i]
    require(v == 0)
    s.a[i] = 1
    s.x = i + 1


def test_guard_is_the_leading_requires_and_locals():
    m = Small(guarded)
    sc = m.code.steps[0]
    assert [type(g).__name__ for g in sc.guard] == ["Assign", "Require", "Assign", "Require"]
    assert isinstance(sc.guard[-1], Require) and len(sc.body) == 2
    # the second local is read only when the first require holds: no index error
    r = check_bfs(m)
    assert r.states == 3


@always("x_small")
def x_small(m, s):
    """x stays below 3."""
    return s.x < 3


@step("p")
def count(m, s):
    """Counts up to 3."""
    require(s.x < 3)
    s.x += 1


def test_properties_see_named_slots():
    class P(Small):
        def property_list(self):
            return [x_small]
    assert check_bfs(P(guarded))["x_small"].status == "holds"
    r = check_bfs(P(count))
    assert r["x_small"].status == "violated" and len(r["x_small"].path) == 3
