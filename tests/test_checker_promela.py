"""Promela from the step source (rbmap.checker.promela), held to SPIN's state counts."""

import pytest

from rbmap.checker import check_bfs, spin
from rbmap.checker.promela import PromelaError, extra_states, self_loops, to_promela
from rbmap.checker.ring import Ring
from rbmap.checker.properties import always
from rbmap.checker.steps import StepMachine, changed, require, step
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
    with pytest.raises(PromelaError, match="may only be used with"):
        to_promela(WideCompared())


@step("p")
def wide_compared(m, s):
    """Orders a 32-bit word of bits (Promela keeps it in a signed int)."""
    require(s.w < 5)
    s.w = s.w | (1 << 31)


class WideCompared(StepMachine):
    name = "wide_compared"

    def declare(self, st):
        st.slot("w", lo=0, hi=(1 << 32) - 1)

    def steps(self):
        return [wide_compared]


def spin_agrees(machine):
    """SPIN stores as many states as rbmap explores; its transitions are rbmap's,
    plus one (into the initial state), plus the self-loops of steps a late
    require disables (counted by self_loops), plus one failed assertion per
    property; and the assertions it finds failed are exactly rbmap's violated
    always-properties and reached goals."""
    r = check_bfs(machine, check_deadlock=False)
    props = [p for p, _ in machine.code.properties]
    broken = {p.name for p in r.properties if p.status in ("violated", "reached")}
    s = spin.run(to_promela(machine), "dfs", expected_states=r.states,
                 extra_flags=["-c0"])
    assert s.stored == r.states + extra_states(machine)
    loops = self_loops(machine, r.exploration)
    # and each property's assertion fails once: one more transition (to the
    # same state) per violated property or reached goal
    assert s.transitions == r.transitions + 1 + loops + len(broken) + extra_states(machine)
    assert {props[k - 1].name for k in spin.violated(s)} == broken
    return r, s, loops


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


# ---------------------------------------------------------------- what the protocol uses
# A shelf of K items (records: each item's tag and whether it is held), a
# counter and a word of sticky bits whose top bit is set: every construct the
# export prints beyond plain guards and updates, each in a step SPIN explores.
TOP = 1 << 31


def held_count(m, s):
    """A loop over constants, an if whose locals merge: a guard expression."""
    n = 0
    for i in range(m.K):
        if s.item_held[i] != 0:
            n += 1
    return n


def first_free_below_n(m, s):
    """A loop up to a slot, returning from inside it: a guard expression."""
    for i in range(s.n):
        if s.item_held[i] == 0:
            return i
    return -1


def take(m, s, want):
    """Changes the state and returns a value (or -1), from inside a loop."""
    for i in range(m.K):
        if s.item_held[i] == 0 and s.item_tag[i] == want:
            s.item_held[i] = 1
            return i
    return -1


def bump(m, s):
    """A bare return."""
    if s.n >= 2:
        return
    s.n += 1


def note(m, s):
    """changed(s) in a helper."""
    if changed(s):
        s.flags = s.flags | TOP


def scan(m, s):
    """A while loop: not one expression, so the guard using it is late."""
    i = 0
    while i < m.K and s.item_tag[i] != 2:
        i += 1
    return i


@step("p")
def grab(m, s, want):
    """A guard with a loop; a writing helper's value; a late require on it."""
    require(held_count(m, s) < 2)
    R = take(m, s, want)
    require(R >= 0)
    s.taken = s.taken | (1 << R)


@step("p")
def put(m, s, i):
    """A plain step over a record field."""
    require(s.item_held[i] == 1)
    s.item_held[i] = 0
    s.item_tag[i] = (s.item_tag[i] + 1) % 3


@step("p")
def touch(m, s):
    """Listed only when it changes something (require(changed(s)) at the end)."""
    bump(m, s)
    note(m, s)
    require(changed(s))


@step("q")
def rotate(m, s):
    """A guard helper up to a slot; loops with break and continue in the update."""
    require(first_free_below_n(m, s) >= 0 and s.flags & TOP != 0)
    s.flags = 0
    s.n = 0
    for i in range(m.K):
        if s.item_held[i] != 0:
            continue
        if s.item_tag[i] == 2:
            s.item_tag[i] = 0
            break


@step("q")
def unmark(m, s):
    """A guard with a while loop (printed as a late guard)."""
    require(scan(m, s) < m.K and s.taken != 0)
    s.taken = 0


def settle(m, s):
    """Its test calls a helper with a while loop (computed before the test); it
    is inlined in several steps."""
    if scan(m, s) < m.K and s.taken != 0:
        s.taken = s.taken & 1


@step("q")
def settle_at(m, s, i):
    """Settles when item i is free and n is i + 1."""
    require(s.item_held[i] == 0 and s.n == i + 1)
    settle(m, s)


@always("few_taken")
def few_taken(m, s):
    """A loop in a property (violated: two items get taken)."""
    k = 0
    for i in range(m.K):
        if (s.taken >> i) & 1 != 0:
            k += 1
    return k < 2


@always("flags_top_only")
def flags_top_only(m, s):
    """Holds: only the top bit is ever set."""
    return s.flags == 0 or s.flags == TOP


class Shelf(StepMachine):
    name = "shelf"

    def __init__(self, K=3):
        self.K = K
        super().__init__()

    def declare(self, st):
        st.slot("n", 3)
        st.records("item", self.K, {"tag": dict(values=3), "held": dict(values=2)})
        st.slot("flags", lo=0, hi=(1 << 32) - 1, doc="sticky F_*/G_* bits")
        st.slot("taken", 1 << self.K)

    def initial(self, s):
        s.item_tag[1] = 1

    def steps(self):
        return ([self.bind(grab, w) for w in range(3)]
                + [self.bind(put, i) for i in range(self.K)] + [touch, rotate, unmark]
                + [self.bind(settle_at, i) for i in range(2)])

    def property_list(self):
        return [few_taken, flags_top_only]


def test_the_protocols_constructs_are_printed():
    text = to_promela(Shelf())
    assert "int flags;" in text and "(-2147483647 - 1)" in text     # the top bit
    assert "byte item_tag[3];" in text                               # records
    assert "goto fail" in text and "S_item_held[" in text           # late guards
    assert "h" in text and "_ret = " in text                         # a helper's value
    assert "break;" in text and "goto cont" in text


@needs_spin
@pytest.mark.parametrize("K", [2, 3])
def test_spin_agrees_on_the_protocols_constructs(K):
    m = Shelf(K)
    r, s, loops = spin_agrees(m)
    assert loops > 0 and r.states > 20
    # breadth-first (hidden scratch variables allowed): the same depth, and the
    # violated property first at its shortest counterexample's length
    b = spin.run(to_promela(m), "bfs", expected_states=r.states, extra_flags=["-c0"])
    extra = extra_states(m)
    assert (b.stored, b.depth) == (r.states + extra, r.max_depth + extra)
    few = next(p for p in r.properties if p.name == "few_taken")
    assert spin.violated(b) == {1: len(few.path) + extra}


@needs_spin
def test_spin_multi_core_and_swarm_on_the_constructs():
    """pan built with -DNCORE=2 (the hidden scratch variables allowed) stores
    the same states; a swarm of bitstate runs finds the violated property."""
    m = Shelf(3)
    r = check_bfs(m, check_deadlock=False)
    text = to_promela(m)
    s = spin.run(text, "dfs", cores=2, expected_states=r.states, extra_flags=["-c0"])
    assert s.stored == r.states + extra_states(m)
    runs = spin.swarm(text, runs=3, width=20)
    assert all(x.stored <= r.states + 1 and x.hash_factor > 1 for x in runs)
    assert all(set(spin.violated(x)) == {1} for x in runs)     # few_taken, not flags_top_only
