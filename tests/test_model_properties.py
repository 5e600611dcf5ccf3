"""model/properties.py in attribute form: every property (and every property
mutant) is in the step subset, and means the same as written (over a named view
of the state), printed as Python (rbmap.checker.pygen) and compiled to C
(rbmap.checker.native), on every reachable state of small configs and on states
one slot off them."""

import random

import pytest

from rbmap.checker import Property, check_bfs
from rbmap.checker.steps import StepError, StepMachine, require, step
from rbmap.model import build
from rbmap.model import properties as props
from rbmap.model_mutants import MUTANTS, Prop, applied

SMALL = dict(pages=2, page_events=1, events=3, processes=1, nesting=1)
#: together: every property applies somewhere (nc, refusals, text reads, the seed's
#: data_pages[], nesting, fork, libtracefs, resets without overwrite)
CONFIGS = [
    ("v2", dict(SMALL, nesting=2)),
    ("upstream", dict(SMALL, processes=2, fork=True, refusals=True, events=1)),
    ("upstream", dict(SMALL, text_reads=1, events=4)),
    ("v2-data-index", dict(SMALL, nc_readers=1, events=2)),
    ("v2", dict(SMALL, pages=3, events=2, resets=1, overwrite=False)),
    ("upstream", dict(SMALL, page_events=2, events=3, client="libtracefs")),
]


@step("none")
def _never(m, s):
    """No transition: the machine exists to compile the properties."""
    require(s.seq < 0)


class Properties(StepMachine):
    """The protocol model's properties over its state layout, as a step machine
    the back ends compile (one disabled step)."""

    name = "properties"

    def __init__(self, model, specs=None):
        self.__dict__["model"] = model
        self.__dict__["specs"] = props.catalogue(model) if specs is None else specs
        super().__init__()

    def __getattr__(self, name):         # the model's constants (m.N, m.nc...)
        return getattr(self.__dict__["model"], name)

    def declare(self, st):
        lay = self.model.layout
        st.slots, st.scalars, st.arrays, st.docs = (lay.slots, lay.scalars,
                                                     lay.arrays, lay.docs)

    def steps(self):
        return [_never]

    def property_list(self):
        return [Property(p.name, p.kind, p.fn, p.doc) for p in self.specs]


def _states(m, limit, seed=5):
    states = list(check_bfs(m).exploration)
    rng = random.Random(seed)
    sample = states if len(states) <= limit else rng.sample(states, limit)
    # and one slot off each, within the slot's range (values no step wrote; in
    # the flags and the event masks one bit flipped)
    off = []
    for s in sample:
        k = rng.randrange(len(s))
        sl = m.layout.slots[k]
        t = list(s)
        if sl.lo == 0 and sl.hi + 1 == 1 << sl.hi.bit_length() and sl.hi > 1:
            t[k] ^= 1 << rng.randrange(sl.hi.bit_length())
        else:
            t[k] = max(sl.lo, min(sl.hi, t[k] + rng.choice((-2, -1, 1, 2))))
        off.append(tuple(t))
    # and each flag bit set and cleared
    f = m.layout.scalars["flags"].index
    for i, s in enumerate(sample[:64]):
        off.append(s[:f] + (s[f] ^ 1 << i % 32,) + s[f + 1:])
    return sample + off


def _native(machine):
    from rbmap.checker.native import NoCompiler, compile_machine
    try:
        nm = compile_machine(machine)
    except NoCompiler:
        return None
    ctx = nm.lib.rb_new(-1, -1, 0, 0, 0, 1)
    kinds = {"always": 0, "sometimes": 1, "eventually": 2}
    index, seen = [], {}
    for p in machine.specs:
        index.append((kinds[p.kind], seen.get(p.kind, 0)))
        seen[p.kind] = seen.get(p.kind, 0) + 1

    def value(k, t):
        v = nm.lib.rb_eval(ctx, *index[k], nm.words(t))
        if v < 0:
            raise StepError("the compiled property stopped")
        return bool(v)
    return value


def _agree(m, machine, states, native=None, values=None):
    """How many values agreed; ``values``: property name -> the values seen."""
    fast = machine.fast().properties
    n = 0
    for t in states:
        view = m.reader(t)
        for k, p in enumerate(machine.specs):
            try:
                want = bool(fast[k](t))
            except StepError:       # an index a slot one off sends out of its array
                continue
            assert bool(p.fn(m, view)) == want, (p.name, t)
            if native is not None:
                assert native(k, t) == want, (p.name, t)
            if values is not None:
                values.setdefault(p.name, set()).add(want)
            n += 1
    return n


def test_properties_mean_the_same_in_every_engine():
    """Every property, in some config, both holds and fails on the states
    judged, and the three forms agree on each (C where a compiler is found)."""
    values: dict = {}
    for k, (variant, config) in enumerate(CONFIGS):
        m = build(variant, **config)
        machine = Properties(m)
        native = _native(machine) if k in (0, 3) else None
        assert _agree(m, machine, _states(m, 1500), native, values) > 0
    assert set(values) == {p.name for p in props.SPECS}
    assert [name for name, v in values.items() if len(v) < 2] == []


def _prop_mutants():
    return [mt for mt in MUTANTS if mt.kind == "property"]


def test_property_mutants_compile_and_mean_the_same():
    """A property mutant replaces a property by another function in the subset:
    it compiles, and the compiled form is the function as written."""
    models = [build(v, **c) for v, c in CONFIGS]
    states = {id(m): _states(m, 150, seed=9) for m in models}
    for mt in _prop_mutants():
        name = next(c.name for c in mt.changes if isinstance(c, Prop))
        with applied(mt):
            m = next(m for m in models if name in {p.name for p in props.catalogue(m)})
            spec = [p for p in props.catalogue(m) if p.name == name]
            assert spec[0].fn is next(c.fn for c in mt.changes if isinstance(c, Prop))
            assert _agree(m, Properties(m, spec), states[id(m)]) > 0, mt.name
