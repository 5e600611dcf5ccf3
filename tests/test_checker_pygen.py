"""The generated-Python fast path (rbmap.checker.pygen) against the step functions
as written: the same successors, in the same order, the same property values and
the same errors, on every reachable state."""

import pytest

from rbmap.checker.properties import always, sometimes
from rbmap.checker.pygen import eq_tests
from rbmap.checker.ring import Ring
from rbmap.checker.steps import StepMachine, require, step

MODES = (0, 1, 2)
NEXT = (1, 2, 0)


def bump(m, s, i):
    """A helper that writes the state and returns nothing."""
    s.a[i] = (s.a[i] + 1) % m.V


def total(m, s):
    """A helper with a loop and a value."""
    n = 0
    for i in range(len(s.a)):
        if s.a[i] == 0:
            continue
        n += s.a[i]
    return n


@step("x")
def spin(m, s, i):
    """Array writes through a helper, a parameter, a table."""
    require(s.mode == 0 and s.a[i] < m.V - 1)
    bump(m, s, i)
    s.mode = NEXT[s.mode]


@step("x")
def flag(m, s):
    """A comparison stored into a slot (a bool in Python, 1 or 0 in the state)."""
    require(s.mode == 1)
    s.f = s.a[0] < s.a[1]
    s.mode = NEXT[s.mode]


@step("y")
def walk(m, s):
    """while/break, min/max, abs, a conditional expression, an early return."""
    require(s.mode == 2)
    k = 0
    while k < len(s.a):
        if s.a[k] == m.V - 1:
            break
        k += 1
    s.mode = 0
    if k == len(s.a):
        return
    s.a[k] = max(0, min(s.a[k] - 2, abs(total(m, s) - 3))) if s.f else 0


@step("y")
def dynamic(m, s):
    """An index computed at run time (a guard local, then the update)."""
    j = s.f
    require(s.mode == 0 and s.a[j] in (1, 2))
    s.a[j] = s.a[j] - 1


@always("small_total")
def small_total(m, s):
    """The total stays below a bound."""
    return total(m, s) <= 2 * m.V


@sometimes("all_full")
def all_full(m, s):
    """Every element at its top value."""
    return s.a[0] == m.V - 1 and s.a[1] == m.V - 1


class Kitchen(StepMachine):
    """Every construct of the subset, small enough to explore exhaustively."""

    name = "kitchen"

    def __init__(self, V=3):
        self.V = V
        super().__init__()

    def declare(self, st):
        st.slot("mode", 3)
        st.slot("f", 2)
        st.array("a", 2, self.V)

    def steps(self):
        return [self.bind(spin, 0), self.bind(spin, 1), flag, walk, dynamic]

    def property_list(self):
        return [small_total, all_full]

    def finished(self, s):
        return s.mode == 2 and s.f == 1


def _as_written_equal(m):
    """Both paths agree on every reachable state; returns the states seen and the
    actions taken."""
    props = m.property_list()
    taken = set()
    fast = m.fast()
    seen = set(m.init_states())
    todo = list(seen)
    while todo:
        t = todo.pop()
        a = m.successors(t)
        assert a == m.successors_as_written(t)
        assert m.successor_states(t) == [u for _, u in a]
        for u in (u for _, u in a):
            assert all(type(v) is int for v in u)
        for p, fn in zip(props, fast.properties):
            assert bool(fn(t)) == bool(p.condition(m, m.reader(t)))
        if getattr(type(m), "finished", None):
            assert bool(fast.finished(t)) == bool(m.finished(m.reader(t)))
        for act, u in a:
            taken.add(act)
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return seen, taken


@pytest.mark.parametrize("V", [3, 4])
def test_kitchen_as_written(V):
    m = Kitchen(V)
    seen, taken = _as_written_equal(m)
    assert len(seen) > 10 and taken == {i.action for i in m.instances}


@pytest.mark.parametrize("cfg", [(2, 2, 2), (2, 3, 3)])
@pytest.mark.parametrize("bug", [False, True])
def test_ring_as_written(cfg, bug):
    _as_written_equal(Ring(*cfg, bug=bug))


def test_guard_equalities_are_the_dispatch():
    m = Kitchen()
    mode = m.layout.scalars["mode"].index
    assert eq_tests(m.code.steps[0].guard) == [(mode, 0)]
    # the run-time index is not a constant test
    assert eq_tests(m.code.steps[4].guard) == [(mode, 0)]
    assert "if t[%d] == 0:" % mode in m.fast().text
