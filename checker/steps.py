"""Models written as steps: one source, run interpreted here, compiled elsewhere.

A *step machine* declares its state as named **slots** (small integers with a
range, or fixed-length arrays of them) and its transitions as **steps**: plain
Python functions over a state ``s`` whose slots read and write as attributes::

    @step("writer")
    def publish(m, s):
        '''The writer makes the filled slot visible (head += 1).'''
        require(s.wpc == 3)                 # the guard
        s.head = (s.head + 1) % m.M         # the update
        s.wpc = 0

``m`` is the machine (its attributes are the configuration constants), ``s`` the
state, further parameters are fixed per step instance (``produce(p)`` for every
payload ``p``). The same function is

- run as written by :class:`StepMachine` (the interpreted engine: traces,
  replay, step tables, conformance; the reference semantics);
- printed as Python over the state tuple (:mod:`rbmap.checker.pygen`), what
  the interpreted explorer's ``successors`` runs (about 10x the functions as
  written; held equal to them state for state);
- translated to C and compiled (:mod:`rbmap.checker.native`), the explorer's
  fast path;
- translated to Promela for SPIN (:mod:`rbmap.checker.promela`).

so no model is ever written twice. The translations read the function's source
(:mod:`rbmap.checker.stepcode` states the subset they accept: integers,
arithmetic with Python's semantics, ``if``/``for``/``while``, local variables,
helper functions, constant tuples); a step outside the subset is refused when
the machine is built, with the line that is wrong.

A step's **guard** is its leading ``require(...)`` calls (and the local
variables they use): written before the first change to the state, so that every
back end can tell whether a step is enabled without running it (Promela needs a
guard expression). A ``require`` after a change (a *late* guard: the step
turns out not to be enabled, as when the kernel code it abstracts finds nothing
to do only after it has looked; ``require(changed(s))``: a step that would change
nothing is not listed) is taken by every engine (in Promela, a step a late
guard disables is a transition back to the same state). A step
is enabled when every ``require`` holds; it then
yields exactly one next state (choices are step parameters: one instance per
value). Values written to a slot must lie in its declared range; an array index
must lie in the array (both engines stop with :class:`StepError` otherwise, never
wrap silently).

Properties are plain functions ``(m, s) -> bool`` made with the usual
``always``/``sometimes``/``eventually`` decorators of
:mod:`rbmap.checker.properties`; they are compiled the same way.

Examples
--------
The benchmark ring (:mod:`rbmap.checker.ring`) is a step machine:

>>> from rbmap.checker.ring import Ring
>>> m = Ring(N=2, V=2, D=2)
>>> [m.format_action(a) for a, _ in m.successors(m.init_states()[0])]
['produce(0)', 'produce(1)', 'read_head']
>>> m.view(m.init_states()[0])["buf[1]"]
0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

__all__ = ["StepMachine", "Layout", "Slot", "Step", "StepInstance", "StepError",
           "Disabled", "step", "require", "changed"]


class StepError(RuntimeError):
    """A step broke the machine's declarations (a value outside its slot's range,
    an array index outside the array), or a step is not written in the subset
    the compiled back ends accept."""


class Disabled(Exception):
    """Raised by :func:`require` in the interpreted engine: the step is not enabled."""


_DISABLED = Disabled()


def require(condition: Any) -> None:
    """The step is enabled only if ``condition`` holds (its guard; after the
    first change to the state, a *late* guard: the step is not enabled after all,
    and its changes are dropped)."""
    if not condition:
        raise _DISABLED


def changed(s) -> bool:
    """In a step: whether the state differs from the one the step started from
    (``require(changed(s))``: a step that would change nothing is not listed)."""
    return tuple(s._v) != s._src


# ------------------------------------------------------------------- the state
@dataclass(frozen=True)
class Slot:
    """One small integer of the state.

    Attributes
    ----------
    name : str
        ``head``, or ``buf[2]`` for an array element.
    index : int
        Position in the state tuple.
    lo, hi : int
        The values it may hold (inclusive).
    doc : str
    array : str or None
        The array it belongs to, with ``element`` its position there.
    """

    name: str
    index: int
    lo: int
    hi: int
    doc: str = ""
    array: str | None = None
    element: int = 0

    @property
    def bits(self) -> int:
        """Bits needed to store ``value - lo``."""
        return max(1, (self.hi - self.lo).bit_length())


@dataclass
class Layout:
    """The named slots of a machine's state, in tuple order.

    Declared with :meth:`slot` and :meth:`array`; a state is the tuple of its
    slots' values in declaration order.
    """

    slots: list[Slot] = field(default_factory=list)
    #: scalar name -> slot
    scalars: dict[str, Slot] = field(default_factory=dict)
    #: array name -> its element slots
    arrays: dict[str, list[Slot]] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _range(values, lo, hi) -> tuple[int, int]:
        if values is not None:
            if hi is not None:
                raise ValueError("give values or hi, not both")
            if values < 1:
                raise ValueError(f"values must be positive, got {values}")
            return lo, lo + values - 1
        if hi is None:
            raise ValueError("give values (how many) or hi (the largest value)")
        if hi < lo:
            raise ValueError(f"empty range {lo}..{hi}")
        return lo, hi

    def _check_name(self, name: str) -> None:
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"slot name {name!r}: use an identifier not starting with _")
        if name in self.scalars or name in self.arrays:
            raise ValueError(f"slot {name!r} declared twice")

    def slot(self, name: str, values: int | None = None, *, lo: int = 0,
             hi: int | None = None, doc: str = "") -> Slot:
        """Declare a scalar slot holding ``lo .. lo + values - 1`` (or ``lo .. hi``)."""
        self._check_name(name)
        lo, hi = self._range(values, lo, hi)
        s = Slot(name, len(self.slots), lo, hi, doc)
        self.slots.append(s)
        self.scalars[name] = s
        self.docs[name] = doc
        return s

    def array(self, name: str, length: int, values: int | None = None, *, lo: int = 0,
              hi: int | None = None, doc: str = "") -> list[Slot]:
        """Declare ``length`` slots ``name[0] .. name[length - 1]``, each like :meth:`slot`."""
        self._check_name(name)
        if length < 1:
            raise ValueError(f"array {name!r}: length must be positive, got {length}")
        lo, hi = self._range(values, lo, hi)
        elems = []
        for i in range(length):
            s = Slot(f"{name}[{i}]", len(self.slots), lo, hi, doc, name, i)
            self.slots.append(s)
            elems.append(s)
        self.arrays[name] = elems
        self.docs[name] = doc
        return elems

    def records(self, name: str, count: int, fields: dict, doc: str = "") -> dict:
        """Declare ``count`` records of ``fields``, one after the other in the state
        (record 0's fields, then record 1's...): the per-process block of a model
        whose tuple order is fixed. ``fields`` maps a field name to the keyword
        arguments of :meth:`slot` (``values``, ``lo``, ``hi``, ``doc``). Field ``f``
        is the array ``{name}_{f}`` (``s.proc_pos[i]``), its elements ``count``
        slots apart in the tuple. Returns the arrays by field."""
        if count < 1:
            raise ValueError(f"records {name!r}: count must be positive, got {count}")
        if not fields:
            raise ValueError(f"records {name!r}: no fields")
        ranges = {}
        for f, kw in fields.items():
            arr = f"{name}_{f}"
            self._check_name(arr)
            ranges[f] = self._range(kw.get("values"), kw.get("lo", 0), kw.get("hi"))
        out: dict = {f: [] for f in fields}
        for k in range(count):
            for f, kw in fields.items():
                lo, hi = ranges[f]
                arr = f"{name}_{f}"
                s = Slot(f"{arr}[{k}]", len(self.slots), lo, hi, kw.get("doc", doc), arr, k)
                self.slots.append(s)
                out[f].append(s)
        for f, kw in fields.items():
            self.arrays[f"{name}_{f}"] = out[f]
            self.docs[f"{name}_{f}"] = kw.get("doc", doc)
        return out

    def __len__(self) -> int:
        return len(self.slots)

    def struct_format(self) -> str:
        """A ``struct`` format packing a state (the interpreted engine's visited set)."""
        out = ["<"]
        for s in self.slots:
            for code, lo, hi in (("B", 0, 0xFF), ("b", -0x80, 0x7F), ("H", 0, 0xFFFF),
                                 ("h", -0x8000, 0x7FFF), ("I", 0, 0xFFFFFFFF),
                                 ("i", -0x80000000, 0x7FFFFFFF)):
                if lo <= s.lo and s.hi <= hi:
                    out.append(code)
                    break
            else:
                out.append("q" if s.lo < 0 else "Q")
        return "".join(out)

    def check(self, values: Sequence[int], where: str) -> None:
        """Raise :class:`StepError` unless ``values`` is a state of this layout."""
        if len(values) != len(self.slots):
            raise StepError(f"{where}: a state has {len(self.slots)} slots, got {len(values)}")
        for s, v in zip(self.slots, values):
            if type(v) is not int or not s.lo <= v <= s.hi:
                raise StepError(f"{where}: {s.name} = {v!r} is outside {s.lo}..{s.hi}")


def _state_class(layout: Layout, writable: bool) -> type:
    """A class whose instances wrap a list of slot values with named access."""
    ns: dict[str, Any] = {"__slots__": ("_v", "_where", "_src")}

    def scalar(sl: Slot):
        i, lo, hi, name = sl.index, sl.lo, sl.hi, sl.name

        def get(self):
            return self._v[i]

        def put(self, v):
            if v is True or v is False:
                v = int(v)
            if not lo <= v <= hi or type(v) is not int:
                raise StepError(f"{self._where}: {name} = {v!r} is outside {lo}..{hi}")
            self._v[i] = v
        return property(get, put if writable else None)

    def array(name: str, elems: list[Slot]):
        idx, lo, hi = tuple(e.index for e in elems), elems[0].lo, elems[0].hi
        owner = _ArrayView

        def get(self):
            return owner(self, name, idx, lo, hi, writable)
        return property(get)

    for name, sl in layout.scalars.items():
        ns[name] = scalar(sl)
    for name, elems in layout.arrays.items():
        ns[name] = array(name, elems)
    return type("State" if writable else "StateView", (), ns)


class _ArrayView:
    """``s.buf``: indexable, bounds- and range-checked, no negative indices."""

    __slots__ = ("_s", "_name", "_idx", "_lo", "_hi", "_writable")

    def __init__(self, s, name, idx, lo, hi, writable):
        self._s, self._name, self._idx = s, name, idx
        self._lo, self._hi, self._writable = lo, hi, writable

    def _at(self, i) -> int:
        if type(i) is bool:
            i = int(i)
        if type(i) is not int or not 0 <= i < len(self._idx):
            raise StepError(f"{self._s._where}: index {i!r} outside {self._name}[0.."
                            f"{len(self._idx) - 1}]")
        return self._idx[i]

    def __getitem__(self, i):
        return self._s._v[self._at(i)]

    def __setitem__(self, i, v):
        if not self._writable:
            raise StepError(f"{self._s._where}: {self._name} is read-only here")
        k = self._at(i)
        if v is True or v is False:
            v = int(v)
        if type(v) is not int or not self._lo <= v <= self._hi:
            raise StepError(f"{self._s._where}: {self._name}[{self._idx.index(k)}] = "
                            f"{v!r} is outside {self._lo}..{self._hi}")
        self._s._v[k] = v

    def __len__(self) -> int:
        return len(self._idx)

    def __iter__(self):
        v = self._s._v
        return iter([v[k] for k in self._idx])


# ------------------------------------------------------------------- steps
@dataclass(frozen=True)
class Step:
    """A step unit: its function and what it stands for.

    Attributes
    ----------
    fn : callable
        ``fn(m, s, *params)``: guard (``require``) then update.
    actor : str
        Who takes it (``writer``, ``reader``, ``p0``...): the lane of a trace.
    name : str
        The action's name (the function's by default).
    abstracts : str
        The code it abstracts (a kernel function, ...), when not in ``fn``'s
        docstring already.
    """

    fn: Callable
    actor: str
    name: str
    abstracts: str = ""

    @property
    def doc(self) -> str:
        return " ".join((self.fn.__doc__ or "").split())

    def __call__(self, *args):
        return self.fn(*args)


def step(actor: str, name: str | None = None, abstracts: str = "") -> Callable[[Callable], Step]:
    """Make a :class:`Step` of a function ``fn(m, s, *params)``."""
    def wrap(fn: Callable) -> Step:
        return Step(fn, actor, name or fn.__name__, abstracts)
    return wrap


@dataclass(frozen=True)
class StepInstance:
    """A step with its parameters fixed: at most one transition from a state.

    ``action`` is ``(actor, name, *params)`` unless given.
    """

    step: Step
    params: tuple = ()
    actor: str = ""
    action: tuple = ()

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def label(self) -> str:
        """``name(p, ...)``: the instance in one word, for messages and code comments."""
        if not self.params:
            return self.step.name
        return f"{self.step.name}({', '.join(map(str, self.params))})"


# ------------------------------------------------------------------- the machine
class StepMachine:
    """Base class of a model written as steps; a checker Model, interpreted.

    Subclasses set their configuration as attributes (before calling
    ``super().__init__()`` if they define ``__init__``) and define:

    ``declare(st)``
        Declare the slots on the :class:`Layout` ``st``.
    ``steps()``
        The step instances, in the order successors are listed: plain
        :class:`Step` objects, or :meth:`bind` for parameters.
    ``properties()`` (optional)
        ``always``/``sometimes``/``eventually`` properties of functions
        ``(m, s) -> bool``.
    ``initial(s)`` (optional)
        Set the initial state's slots (they start at their lowest value, so a
        range starting at 0 starts at 0); or override ``initial_states()``
        to yield several writable states (``initial`` for each).
    ``finished(s)`` (optional, a method in the subset)
        A state without successors where it holds is a proper end, not a
        deadlock (the checker's ``terminal_ok``).
    """

    #: name used in messages and generated code
    name = "machine"

    def __init__(self) -> None:
        self.layout = Layout()
        self.declare(self.layout)
        if not self.layout.slots:
            raise StepError(f"{type(self).__name__}: declare() declared no slots")
        self._state_cls = _state_class(self.layout, True)
        self._view_cls = _state_class(self.layout, False)
        self.instances: list[StepInstance] = []
        for x in self.steps():
            inst = x if isinstance(x, StepInstance) else self.bind(x)
            self.instances.append(inst)
        if not self.instances:
            raise StepError(f"{type(self).__name__}: steps() gave no steps")
        actions = [i.action for i in self.instances]
        dup = sorted({a for a in actions if actions.count(a) > 1}, key=repr)
        if dup:
            raise StepError(f"{type(self).__name__}: two step instances share the action "
                            f"{dup[0]!r}; give them different parameters or names")
        self._by_action = {i.action: i for i in self.instances}
        self.state_struct = self.layout.struct_format()
        self._props = None
        self._inits = None
        # every step and property must be in the subset the compilers accept: a
        # model is refused when built, not when first compiled
        from .stepcode import analyse
        self.code = analyse(self)

    # -- to override ---------------------------------------------------------
    def declare(self, st: Layout) -> None:
        raise NotImplementedError

    def steps(self) -> Iterable[Step | StepInstance]:
        raise NotImplementedError

    def property_list(self) -> list:
        """The machine's properties (override; the checker calls :meth:`properties`)."""
        return []

    def initial(self, s) -> None:
        """Set the slots of the initial state (all at their lowest value before)."""

    def initial_states(self) -> Iterable[Any]:
        s = self.new_state()
        self.initial(s)
        yield s

    # -- helpers for subclasses ---------------------------------------------
    def bind(self, st: Step, *params, actor: str | None = None,
             action: tuple | None = None) -> StepInstance:
        """An instance of step ``st`` with ``params``; ``actor``/``action`` override
        the step's actor and the default action ``(actor, name, *params)``."""
        if not isinstance(st, Step):
            raise StepError(f"{st!r} is not a step (decorate it with @step)")
        a = st.actor if actor is None else actor
        return StepInstance(st, tuple(params), a,
                            tuple(action) if action is not None else (a, st.name, *params))

    def new_state(self):
        """A writable state with every slot at its lowest value."""
        s = self._state_cls()
        s._v = [sl.lo for sl in self.layout.slots]
        s._where = f"{self.name}: initial state"
        return s

    # -- the checker's Model protocol ---------------------------------------
    def init_states(self) -> list[tuple]:
        if self._inits is None:
            out = []
            for s in self.initial_states():
                t = tuple(s._v)
                self.layout.check(t, f"{self.name}: initial state")
                out.append(t)
            if not out:
                raise StepError(f"{self.name}: no initial state")
            self._inits = out
        return list(self._inits)

    def run(self, inst: StepInstance, t: tuple) -> tuple | None:
        """The state after ``inst`` from ``t``, or None when it is not enabled."""
        s = self._state_cls()
        s._v = list(t)
        s._where = f"{self.name}: step {inst.label}"
        s._src = t
        try:
            inst.step.fn(self, s, *inst.params)
        except Disabled:
            return None
        return tuple(s._v)

    def successors_as_written(self, t: tuple) -> list[tuple[tuple, tuple]]:
        """:meth:`successors` by running every step function as written (the
        reference semantics the generated code is held to)."""
        out = []
        cls = self._state_cls
        for inst in self.instances:
            s = cls()
            s._v = list(t)
            s._where = f"{self.name}: step {inst.label}"
            s._src = t
            try:
                inst.step.fn(self, s, *inst.params)
            except Disabled:
                continue
            out.append((inst.action, tuple(s._v)))
        return out

    def fast(self):
        """The steps and properties printed as Python (:mod:`rbmap.checker.pygen`),
        built on first use: what :meth:`successors` runs."""
        f = self.__dict__.get("_fast")
        if f is None:
            from .pygen import FastSteps
            f = self._fast = FastSteps(self)
        return f

    def successors(self, t: tuple) -> list[tuple[tuple, tuple]]:
        """Every ``(action, next state)`` of ``t``, in step instance order."""
        return self.fast().successors(t)

    def successor_states(self, t: tuple) -> list[tuple]:
        return self.fast().successor_states(t)

    def reader(self, t: tuple):
        """A read-only named view of state ``t`` (what properties are given)."""
        s = self._view_cls()
        s._v = t
        s._where = f"{self.name}: property"
        return s

    def properties(self) -> list:
        from .properties import Property

        if self._props is None:
            out = []
            fast = self.fast().properties
            for p, fn in zip(self.property_list(), fast):
                out.append(Property(p.name, p.kind, fn, p.doc))
            self._props = out
        return list(self._props)

    def terminal_ok(self, t: tuple) -> bool:
        fin = self.fast().finished
        return bool(fin(t)) if fin is not None else False

    def actor(self, a: tuple) -> str:
        return a[0]

    def format_action(self, a: tuple) -> str:
        name = a[1]
        return f"{name}({', '.join(map(str, a[2:]))})" if len(a) > 2 else name

    def view(self, t: tuple) -> dict:
        return {sl.name: v for sl, v in zip(self.layout.slots, t)}

    def step_of(self, a: tuple) -> StepInstance:
        """The step instance of action ``a`` (KeyError if none)."""
        return self._by_action[tuple(a)]

    def step_table(self) -> list[dict]:
        """One row per step instance: actor, action, the step's doc and abstraction."""
        return [{"actor": i.actor, "action": self.format_action(i.action),
                 "doc": i.step.doc, "abstracts": i.step.abstracts}
                for i in self.instances]
