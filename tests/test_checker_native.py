"""The compiled engine (rbmap.checker.native) against the interpreted one.

Both must give the same state ids (so the same depths and shortest paths), the
same transitions and the same verdicts; the parallel search the same ids as
the serial one. Every machine here is compiled once per configuration (cached
across runs)."""

import pytest

from rbmap.checker import check_bfs
from rbmap.checker import native
from rbmap.checker.properties import always, eventually, sometimes
from rbmap.checker.ring import Ring
from rbmap.checker.steps import StepError, StepMachine, changed, require, step
from rbmap.checker.toys import Peterson, Retry, StepPeterson, StepRetry

pytestmark = pytest.mark.skipif(native.engine_choice() != "native",
                                reason="no C compiler: the compiled engine is not available")

# small chunks make small models take the parallel path
PARALLEL = [(2, (5, 1)), (3, (64, 2))]


def signature(r):
    """Everything a check says, paths included."""
    return (r.states, r.transitions, r.max_depth, r.complete, r.stopped_by,
            [(p.name, p.status, p.note, p.extent, None if p.path is None else
              (p.path.init, list(p.path.actions))) for p in r.properties])


def ids(r):
    return [r.exploration.state(i) for i in range(r.states)]


def same(m, **kw):
    """The interpreted result, after checking the compiled engine agrees with it,
    serially and in parallel, state id by state id."""
    a = check_bfs(m, **kw)
    b = native.check_native(m, **kw)
    assert signature(b) == signature(a)
    assert ids(b) == ids(a)
    for threads, chunk in PARALLEL:
        c = native.check_native(m, threads=threads, chunk=chunk, **kw)
        assert signature(c) == signature(a)
        assert ids(c) == ids(a)
    return a


@pytest.mark.parametrize("bug", [False, True])
def test_ring_engines_agree(bug):
    r = same(Ring(2, 2, 2, bug=bug))
    assert r.states == (1500 if not bug else r.states)
    if bug:
        assert r["fifo"].status == "violated" and len(r["fifo"].path) == 13


def test_ring_large_config_counts():
    r = native.check_native(Ring(3, 4, 2))
    assert r.states == 14748 and r.complete
    assert r.exploration.bytes / r.states <= 100


@pytest.mark.parametrize("variant", Peterson.VARIANTS)
def test_peterson_as_steps_is_the_hand_written_model(variant):
    a = same(StepPeterson(variant))
    b = check_bfs(Peterson(variant))
    assert signature(a) == signature(b)
    assert ids(a) == ids(b)
    # teeth: turn_first breaks mutual exclusion, no_turn deadlocks
    assert (a["mutual_exclusion"].status == "violated") == (variant == "turn_first")
    assert (a["deadlock"].status == "violated") == (variant == "no_turn")


@pytest.mark.parametrize("livelock", [False, True])
def test_eventually_on_the_native_graph(livelock):
    a = same(StepRetry(livelock))
    b = check_bfs(Retry(livelock))
    assert [(p.name, p.status, p.note) for p in a.properties] == \
        [(p.name, p.status, p.note) for p in b.properties]
    assert a["finishes"].status == ("violated" if livelock else "holds")


@pytest.mark.parametrize("kw", [{"max_states": 100}, {"max_depth": 5}, {"max_depth": 0},
                                {"stop_on_violation": True}])
def test_bounds_mean_the_same(kw):
    a = check_bfs(Ring(2, 2, 2, bug=True), **kw)
    b = native.check_native(Ring(2, 2, 2, bug=True), **kw)
    assert (a.complete, a.stopped_by) == (b.complete, b.stopped_by)
    assert signature(a) == signature(b)
    if "stop_on_violation" in kw:
        assert len(b["fifo"].path) == 13 and not b.complete
        # threads do not change where it stops
        c = native.check_native(Ring(2, 2, 2, bug=True), threads=2, chunk=(5, 1), **kw)
        assert signature(c) == signature(a)


# ---- every construct of the subset means the same in C ---------------------------
TABLE = (3, -1, 4, 1, -5)


def wrap(x, n):
    """A helper: Python's modulo (negative x wraps up)."""
    return x % n


def bump(m, s, k):
    """A helper that changes the state."""
    s.acc = max(-8, min(7, s.acc + k))


@step("w")
def arith(m, s, d):
    """Arithmetic with Python's meaning on negative numbers."""
    require(s.phase == 0)
    x = s.acc - d * 3
    s.q = max(-8, min(7, x // 2))
    s.r = wrap(x, 3)
    s.big = (1 << 39) + 5 if s.big < (1 << 39) else s.big - (1 << 39)
    s.phase = 1


@step("w")
def loops(m, s):
    """for, while, break, continue, tuples, tables, membership."""
    require(s.phase == 1)
    total = 0
    for i in range(len(s.cells)):
        if s.cells[i] in (0, 2):
            continue
        total += TABLE[i]
    k = 0
    while True:
        k += 1
        if k >= 2 or total < 0:
            break
    a, b = s.cells[0], s.cells[1]
    s.cells[0], s.cells[1] = b, a
    s.acc = max(-8, min(7, total + k if not (total > 3 and k == 2) else -total))
    s.phase = 2


@step("w")
def helpers(m, s, k):
    """A state-changing helper, a conditional expression, abs, bool, shifts."""
    require(s.phase == 2)
    bump(m, s, k)
    s.cells[abs(s.q) % 3] = 3 if bool(s.r) and s.big >> 39 == 0 else 1
    s.r = (1 << s.r) - 1 if s.r < 2 else ~s.r + 5
    s.phase = 0
    if s.acc == 7:
        return
    s.q = -s.q if -8 < -s.q < 7 else 0


@always("acc_small")
def acc_small(m, s):
    """acc stays below 7 (it does not)."""
    return s.acc < 7


@sometimes("all_ones")
def all_ones(m, s):
    """Every cell is 1."""
    for i in range(len(s.cells)):
        if s.cells[i] != 1:
            return False
    return True


@eventually("phase_zero")
def phase_zero(m, s):
    """At phase 0 from some point on (not so: the steps cycle through phases)."""
    return s.phase == 0


class Features(StepMachine):
    name = "features"

    def declare(self, st):
        st.slot("phase", 3)
        st.slot("acc", lo=-8, hi=7)
        st.slot("q", lo=-8, hi=7)
        st.slot("r", lo=-2, hi=5)
        st.slot("big", hi=(1 << 40) - 1)
        st.array("cells", 3, 4)

    def initial(self, s):
        s.acc = -3
        s.cells[2] = 1

    def steps(self):
        return ([self.bind(arith, d) for d in (-1, 2)] + [loops]
                + [self.bind(helpers, k) for k in (-2, 3)])

    def property_list(self):
        return [acc_small, all_ones, phase_zero]


def test_every_construct_means_the_same_in_c():
    m = Features()
    r = same(m)
    assert r.complete and r.states == 606
    assert [p.status for p in r.properties] == ["violated", "reached", "violated", "holds"]
    nm = native.compile_machine(m)
    # successor by successor on every state the search met
    ctx = native.check_native(m, max_states=10).exploration._ctx
    for s in r.exploration:
        assert nm.successors_of(s, ctx) == m.successor_states(s)


@step("p")
def runaway(m, s):
    """Counts past its range."""
    require(s.x >= 0)
    s.x = s.x + 1


class Runaway(StepMachine):
    name = "runaway"

    def declare(self, st):
        st.slot("x", 5)

    def steps(self):
        return [runaway]


def test_range_errors_are_reported_like_the_interpreted_engine():
    with pytest.raises(StepError, match="step runaway: x = 5 is outside 0..4"):
        check_bfs(Runaway())
    with pytest.raises(StepError, match="step runaway: x = 5 is outside 0..4"):
        native.check_native(Runaway())


def test_without_a_compiler_the_interpreted_engine_runs(monkeypatch, capsys):
    monkeypatch.setattr(native, "_compiler_cache", {"cc": native.NoCompiler("no C compiler")})
    from rbmap.checker import engine
    monkeypatch.setattr(engine, "_notice_shown", False)
    assert native.engine_choice() == "interpreted"
    r = native.check(Ring(2, 2, 2))
    assert r.states == 1500 and getattr(r, "engine", "interpreted") == "interpreted"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interpreted engine" in err and len(err) <= 81
    with pytest.raises(native.NoCompiler):
        native.check_native(Ring(2, 2, 2))


def test_engine_can_be_asked_for(monkeypatch):
    monkeypatch.setenv("RBMAP_ENGINE", "interpreted")
    assert native.engine_choice() == "interpreted"
    assert native.engine_choice("native") == "native"
    with pytest.raises(ValueError):
        native.engine_choice("fast")


@pytest.mark.parametrize("machine", [StepRetry(True), StepPeterson("no_turn"), Features(),
                                     Ring(2, 2, 2)], ids=lambda m: m.name)
def test_the_manifest_digest_is_the_same(machine):
    from rbmap.manifest import graph_digest
    a = check_bfs(machine)
    b = native.check_native(machine)
    assert b.exploration.keys == a.exploration.keys
    if a.exploration.graph is not None:
        assert b.exploration.graph.offsets == a.exploration.graph.offsets
        assert b.exploration.graph.targets == a.exploration.graph.targets
    assert graph_digest(b.exploration) == graph_digest(a.exploration)


@step("w")
def flip(m, s, i):
    """Cell i flips between its two values."""
    s.cells[i] = (1 << 40) - 1 - s.cells[i]


@eventually("first_set")
def first_set(m, s):
    """Cell 0 ends at its high value (it does not: it flips back)."""
    return s.cells[0] > 0


class Wide(StepMachine):
    """States of ``n`` 8-byte slots: keys of one, two and more BLAKE2b blocks."""

    def __init__(self, n):
        self.n = n
        self.name = f"wide{n}"
        super().__init__()

    def declare(self, st):
        st.array("cells", self.n, hi=(1 << 40) - 1)

    def initial(self, s):
        for i in range(3, self.n):
            s.cells[i] = (i * 0x9E3779B97F) % (1 << 40)

    def steps(self):
        return [self.bind(flip, i) for i in range(3)]

    def property_list(self):
        return [first_set]


@pytest.mark.parametrize("n", [3, 15, 16, 17, 40])
def test_the_digest_in_c_is_pythons_over_several_blocks(n):
    """16 cells: each key one full 128-byte block; 40: several blocks a key."""
    from rbmap.manifest import graph_digest
    m = Wide(n)
    b = native.check_native(m)
    assert b.states == 8 and b.exploration.graph is not None
    assert b.exploration.graph_digest() == graph_digest(check_bfs(m).exploration)


# ---- records: fields interleaved in the tuple, each field an array ---------------
@step("p")
def advance(m, s, i):
    """Process i moves on while the other is not ahead of it (a run-time index)."""
    require(s.proc_phase[i] < 2)
    o = 1 - i
    require(s.proc_pos[o] >= s.proc_pos[i] or s.proc_phase[o] == 2)
    s.proc_pos[i] = s.proc_pos[i] + 1
    if s.proc_pos[i] == m.LIMIT:
        s.proc_phase[i] = 2
    else:
        s.proc_phase[i] = 1


@step("p")
def finish(m, s, i):
    """Sum the positions through a loop over the records."""
    require(s.proc_phase[i] == 2 and s.done == 0)
    n = 0
    for k in range(m.P):
        n += s.proc_pos[k]
    s.done = min(n, 3)


class Records(StepMachine):
    name = "records"

    def __init__(self, limit=3, room=4):
        self.LIMIT, self.P, self.room = limit, 2, room
        super().__init__()

    def declare(self, st):
        st.slot("done", 4)
        st.records("proc", self.P, {"phase": dict(values=3), "pos": dict(values=self.room)})

    def steps(self):
        return [self.bind(advance, i) for i in range(self.P)] + [
            self.bind(finish, i) for i in range(self.P)]


def test_records_are_interleaved_and_mean_the_same_everywhere():
    m = Records()
    assert [sl.name for sl in m.layout.slots] == [
        "done", "proc_phase[0]", "proc_pos[0]", "proc_phase[1]", "proc_pos[1]"]
    r = same(m)
    assert r.complete and r.states > 10
    for s in r.exploration:
        assert m.successors(s) == m.successors_as_written(s)
    # a value outside a strided element's range names that element, in every engine
    msg = r"records: step advance\(\d\): proc_pos\[\d\] = 3 is outside 0..2"
    bad = Records(limit=4, room=3)
    with pytest.raises(StepError, match=msg):
        check_bfs(bad)
    with pytest.raises(StepError, match=msg):
        native.check_native(bad)
    written = Records(limit=4, room=3)
    written.successor_states = lambda t: [u for _, u in written.successors_as_written(t)]
    with pytest.raises(StepError, match=msg):
        check_bfs(written)


# ---- late guards and changed(s) -------------------------------------------------
def take(m, s):
    """A helper that changes the state and says whether it found something."""
    for i in range(len(s.a)):
        if s.a[i] != 0:
            s.a[i] = s.a[i] - 1
            return 1
    return 0


@step("p")
def consume(m, s):
    """Takes a unit if there is one: enabled only when the helper found one (its
    changes are dropped otherwise)."""
    require(s.x < 3)
    s.x = s.x + 1
    got = take(m, s)
    require(got == 1)


@step("p")
def fill(m, s, i):
    """Tops element i up and clears x; listed only when that changes something."""
    s.a[i] = m.TOP
    if s.a[0] == m.TOP and s.a[1] == m.TOP:
        s.x = 0
    require(changed(s))


@step("q")
def nested_late(m, s):
    """A late guard inside a block."""
    require(s.x == 3)
    s.x = 0
    if s.a[0] == 0:
        require(s.a[1] != 0)


class Late(StepMachine):
    name = "late"
    TOP = 2

    def declare(self, st):
        st.slot("x", 4)
        st.array("a", 2, 3)

    def steps(self):
        return [consume, self.bind(fill, 0), self.bind(fill, 1), nested_late]


def test_late_guards_and_changed_mean_the_same_everywhere():
    m = Late()
    assert all(sc.late for sc in m.code.steps) and not Records().code.steps[0].late
    r = same(m)
    assert r.complete and r.states > 10
    acts = set()
    for s in r.exploration:
        succ = m.successors(s)
        assert succ == m.successors_as_written(s)
        # nothing listed leaves the state as it was, where the step says so
        assert all(u != s for a, u in succ if a[1] == "fill")
        acts |= {a for a, _ in succ}
    assert acts == {i.action for i in m.instances}
    # a disabled late guard drops the step's changes: replay gives None
    s0 = m.init_states()[0]
    assert m.run(m.step_of(("p", "consume")), s0) is None


# ---- a helper without a value may return early -----------------------------------
def top_up(m, s, i):
    """Tops element i up unless it is full (a bare return)."""
    if s.a[i] == 2:
        return
    s.a[i] = s.a[i] + 1


@step("p")
def top(m, s, i):
    """Tops element i up through a helper that may return early."""
    require(s.x < 3)
    top_up(m, s, i)
    s.x = s.x + 1


def mixed(m, s):
    """Returns a value on one path and none on another."""
    if s.x == 0:
        return
    return 1


@step("p")
def uses_mixed(m, s):
    """Calls a helper that mixes return and return value."""
    mixed(m, s)


def settle(m, s, i):
    """Sets element i from x; says whether that changed the state (changed(s) in
    a helper compares with the calling step's source)."""
    s.a[i] = s.x % 3
    if changed(s):
        return 1
    return 0


@step("q")
def settle_step(m, s, i):
    """Listed only when settling element i changes something."""
    got = settle(m, s, i)
    require(got == 1)


@always("never_settled")
def never_settled(m, s):
    """Asks a helper that asks changed(s): refused."""
    return settle(m, s, 0) == 0


class Early(StepMachine):
    name = "early"

    def declare(self, st):
        st.slot("x", 4)
        st.array("a", 2, 3)

    def steps(self):
        return [self.bind(top, 0), self.bind(top, 1), self.bind(settle_step, 1)]


def test_a_helper_may_return_early_and_ask_changed():
    m = Early()
    r = same(m)
    assert r.complete and r.states > 5
    for s in r.exploration:
        assert m.successors(s) == m.successors_as_written(s)

    class Mixed(Early):
        def steps(self):
            return [uses_mixed]
    with pytest.raises(StepError, match="helper mixed: a bare return elsewhere"):
        Mixed()

    class Asks(Early):
        def property_list(self):
            return [never_settled]
    with pytest.raises(StepError, match="settle\\(\\) asks changed\\(s\\)"):
        Asks()
