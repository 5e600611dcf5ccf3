"""Promela from the step source (rbmap.checker.promela), held to SPIN's state counts."""

import pytest

from rbmap.checker import check_bfs, spin
from rbmap.checker.promela import PromelaError, extra_states, to_promela
from rbmap.checker.ring import Ring
from rbmap.checker.steps import StepMachine, require, step
from rbmap.checker.toys import StepPeterson, StepRetry

needs_spin = pytest.mark.skipif(spin.available() is not None,
                                reason=f"SPIN cannot run here: {spin.available()}")


def test_text_has_one_option_per_step_and_the_invariant():
    text = to_promela(Ring(2, 2, 2, bug=True))
    assert text.count(":: d_step {") == len(Ring(2, 2, 2, bug=True).instances) + 1
    assert "byte buf[2];" in text and "assert(" in text and "end:" in text
    # Python's modulo on a difference that may be negative
    assert "% 4 + 4) % 4" in text
    assert text == to_promela(Ring(2, 2, 2, bug=True))   # deterministic


@step("p")
def modulo_by_slot(m, s):
    """Divides by a slot: Promela's / would round toward zero."""
    require(s.x > 0)
    s.x = (s.x - 3) // s.x


class Unexportable(StepMachine):
    name = "unexportable"

    def declare(self, st):
        st.slot("x", lo=-3, hi=3)

    def initial(self, s):
        s.x = 1

    def steps(self):
        return [modulo_by_slot]


def test_what_promela_cannot_say_is_refused():
    with pytest.raises(PromelaError, match="non-constant"):
        to_promela(Unexportable())
    with pytest.raises(PromelaError, match="step late_step: a late require"):
        to_promela(LateGuard())


@step("p")
def late_step(m, s):
    """Enabled only if the update leaves x below 3 (a late guard)."""
    s.x = s.x + 2
    require(s.x < 3)


class LateGuard(StepMachine):
    name = "late_guard"

    def declare(self, st):
        st.slot("x", 5)

    def steps(self):
        return [late_step]


def spin_agrees(machine):
    """SPIN stores as many states as rbmap explores, and finds an assertion
    violated exactly when rbmap finds an always-property violated."""
    r = check_bfs(machine)
    broken = any(p.kind == "always" and p.status == "violated"
                 for p in r.properties if p.name != "deadlock")
    if broken:
        # SPIN goes no deeper than a failed assertion: count without them
        s = spin.run(to_promela(machine, assertions=False), "dfs", expected_states=r.states)
        v = spin.run(to_promela(machine), "bfs", expected_states=r.states)
    else:
        s = v = spin.run(to_promela(machine), "dfs", expected_states=r.states)
    assert s.stored == r.states + extra_states(machine)
    assert bool(v.errors) == broken


@needs_spin
@pytest.mark.parametrize("machine", [Ring(2, 2, 2), Ring(2, 2, 2, bug=True),
                                     StepPeterson("turn_first")],
                         ids=lambda m: getattr(m, "label", m.name))
def test_spin_counts_the_same_states(machine):
    spin_agrees(machine)


@pytest.mark.slow
@needs_spin
@pytest.mark.parametrize("machine", [Ring(3, 4, 2), Ring(2, 3, 3), Ring(3, 4, 2, bug=True),
                                     StepPeterson("ok"), StepPeterson("no_turn"),
                                     StepRetry(False), StepRetry(True)],
                         ids=lambda m: getattr(m, "label", m.name))
def test_spin_counts_the_same_states_more(machine):
    spin_agrees(machine)


@needs_spin
def test_spin_finds_the_ring_bug():
    m = Ring(2, 2, 2, bug=True)
    s = spin.run(to_promela(m), "bfs", expected_states=2000)
    assert s.errors == 1 and "assertion violated" in s.output
