"""rbmap.checker.engine: which engine explores a model, and that the choice
changes nothing a check says (bounds and stop_on_violation included)."""

import pytest

from rbmap.checker import check_bfs, engine, native
from rbmap.checker.properties import always, sometimes
from rbmap.checker.ring import Ring
from rbmap.checker.steps import StepError, StepMachine, require, step
from rbmap.checker.toys import Peterson, StepPeterson, StepRetry

needs_cc = pytest.mark.skipif(native.engine_choice("auto") != "native",
                              reason="no C compiler: the compiled engine is not available")


def signature(r):
    """Everything a check says, paths included."""
    return (r.states, r.transitions, r.max_depth, r.complete, r.stopped_by,
            [(p.name, p.status, p.note, p.extent, None if p.path is None else
              (p.path.init, list(p.path.actions))) for p in r.properties])


# ---- a machine whose first violation is found before a deadlock is expanded ------
@step("t")
def to_dead_end(m, s):
    """0 -> 1, a state without successors (a deadlock)."""
    require(s.x == 0)
    s.x = 1


@step("t")
def to_bad(m, s):
    """0 -> 2, which breaks `small` and reaches `two` (found when 0 is expanded,
    after 1)."""
    require(s.x == 0)
    s.x = 2


@step("t")
def onwards(m, s):
    """2 -> 3 -> 4 -> 0."""
    require(s.x >= 2)
    s.x = (s.x + 1) % 5


@always("small")
def small(m, s):
    """x stays below 2."""
    return s.x < 2


@sometimes("two")
def two(m, s):
    """x gets to 2."""
    return s.x == 2


@always("below_four")
def below_four(m, s):
    """x stays below 4 (found deeper than small's violation)."""
    return s.x < 4


class DeadEnd(StepMachine):
    name = "dead_end"

    def declare(self, st):
        st.slot("x", 5)

    def steps(self):
        return [to_dead_end, to_bad, onwards]

    def property_list(self):
        return [small, two, below_four]


@needs_cc
@pytest.mark.parametrize("kw", [{"stop_on_violation": True},
                                {"stop_on_violation": True, "check_deadlock": False},
                                {"max_states": 3}, {"max_depth": 1}, {}])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_compiled_engine_stops_where_the_interpreted_one_does(kw, threads):
    a = check_bfs(DeadEnd(), **kw)
    b = native.check_native(DeadEnd(), threads=threads, chunk=(1, 1), **kw)
    assert signature(b) == signature(a)
    if kw == {"stop_on_violation": True}:
        # the deadlock (id 1) is met before small's violation (id 2) leaves the queue
        assert [p.status for p in b.properties] == ["unknown"] * 3 + ["violated"]
    if kw.get("check_deadlock") is False:
        assert b["small"].status == "violated" and b["below_four"].status == "unknown"
        assert b["two"].status == "unknown"       # 2 never left the queue


@needs_cc
@pytest.mark.parametrize("machine", [lambda: Ring(2, 2, 2, bug=True),
                                     lambda: StepPeterson("turn_first"),
                                     lambda: StepPeterson("no_turn"),
                                     lambda: StepRetry(True)])
@pytest.mark.parametrize("kw", [{"stop_on_violation": True}, {"max_states": 40},
                                {"max_depth": 3}])
def test_bounded_runs_say_the_same(machine, kw):
    assert signature(native.check_native(machine(), **kw)) == \
        signature(check_bfs(machine(), **kw))


# ---- the choice ------------------------------------------------------------------
@needs_cc
def test_a_step_machine_is_compiled_and_any_other_model_interpreted(monkeypatch, tmp_path):
    monkeypatch.delenv("RBMAP_ENGINE", raising=False)
    monkeypatch.setenv("RBMAP_CACHE", str(tmp_path))
    # not built yet: a model smaller than the probe is answered interpreted...
    small = StepPeterson("ok")
    assert not native.is_built(small)
    assert engine.explore(small).engine == "interpreted"
    assert not native.is_built(small)
    # ... a larger one is built and explored compiled, from the start
    monkeypatch.setattr(engine, "PROBE_STATES", 100)
    big = Ring(2, 2, 2, bug=True)
    r = engine.explore(big, max_depth=12, time_limit=60)
    assert r.engine == "native" and native.is_built(Ring(2, 2, 2, bug=True))
    assert signature(r) == signature(check_bfs(big, max_depth=12))
    # a bound below the probe's is the probe's answer
    assert engine.explore(Ring(2, 2, 3), max_states=50).engine == "interpreted"
    assert engine.explore(Ring(2, 2, 3), stop_on_violation=True).engine == "native"
    # built: compiled however small; RBMAP_ENGINE=native: compiled at once
    assert engine.explore(small).engine == "interpreted"
    native.compile_machine(small)
    assert engine.explore(small).engine == "native"
    monkeypatch.setenv("RBMAP_ENGINE", "native")
    assert engine.explore(StepPeterson("turn_first")).engine == "native"
    assert engine.explore(Peterson("ok")).engine == "interpreted"
    monkeypatch.setenv("RBMAP_ENGINE", "interpreted")
    assert engine.explore(StepPeterson("ok")).engine == "interpreted"
    monkeypatch.setenv("RBMAP_ENGINE", "fast")
    with pytest.raises(ValueError, match="unknown engine"):
        engine.explore(StepPeterson("ok"))


class Hooked(StepPeterson):
    """A step machine whose successors Python changes (as a mutant does)."""

    def successors(self, t):
        return super().successors(t)[:1]

    def successor_states(self, t):
        return [u for _, u in self.successors(t)]


class Bounded(StepPeterson):
    def within_boundary(self, t):
        return t[0] != 3


class FewerProperties(StepPeterson):
    """Checks another list of properties than its steps' (the C's) in Python."""

    def properties(self):
        return super().properties()[1:]


class Bookkeeping(StepPeterson):
    """Keeps something of its properties, which stay the compiled ones."""

    def properties(self):
        out = super().properties()
        self.names = [p.name for p in out]
        return out


class ThroughHooks(StepPeterson):
    """Runs its steps through something else than the printed Python."""

    def fast(self):
        f = StepPeterson.fast(self)

        class Hooks:
            properties, finished = f.properties, f.finished

            def successors(self, t):
                return f.successors(t)[:1]

            def successor_states(self, t):
                return f.successor_states(t)[:1]
        return Hooks()


def test_a_properties_override_that_keeps_them_is_compiled():
    assert engine.compile_blocker(Bookkeeping("ok")) is None


@pytest.mark.parametrize("cls", [Hooked, Bounded, FewerProperties, ThroughHooks])
def test_python_the_c_cannot_see_keeps_a_machine_interpreted(cls, monkeypatch):
    monkeypatch.delenv("RBMAP_ENGINE", raising=False)
    m = cls("ok")
    assert engine.compile_blocker(m) is not None
    r = engine.explore(m)
    assert r.engine == "interpreted"
    assert signature(r) == signature(check_bfs(cls("ok")))
    # the hook matters: the unhooked machine gives another answer
    assert signature(r) != signature(check_bfs(StepPeterson("ok")))
    with pytest.raises(StepError, match="cannot explore"):
        engine.explore(m, engine="native")


def test_without_a_compiler_one_notice_then_interpreted(monkeypatch, capsys):
    monkeypatch.delenv("RBMAP_ENGINE", raising=False)
    monkeypatch.setattr(native, "_compiler_cache", {"cc": native.NoCompiler("no C compiler")})
    monkeypatch.setattr(engine, "_notice_shown", False)
    a = engine.explore(StepPeterson("turn_first"))
    b = engine.explore(StepPeterson("turn_first"))
    assert a.engine == b.engine == "interpreted"
    err = capsys.readouterr().err
    assert err == "rbmap: no C compiler: interpreted engine (slower)\n"
    # a model that is not compiled anyway says nothing
    monkeypatch.setattr(engine, "_notice_shown", False)
    engine.explore(Peterson("ok"))
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RBMAP_ENGINE", "interpreted")
    engine.explore(StepPeterson("ok"))
    assert capsys.readouterr().err == ""
