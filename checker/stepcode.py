"""The step subset: step and property functions read into a small tree the back ends share.

:func:`analyse` reads the source of every step instance and property of a
:class:`~rbmap.checker.steps.StepMachine` (``inspect``/``ast``), resolves every
name once (machine attributes and module constants become numbers, the step's
parameters are fixed per instance, ``s.x`` becomes a slot) and folds what is
constant (``if m.bug:`` keeps one branch). The C and Promela back ends
(:mod:`rbmap.checker.native`, :mod:`rbmap.checker.promela`) print this tree; the
interpreted engine runs the functions themselves, so whatever is accepted here
must mean the same in all three.

The subset
----------
Values are integers (``True``/``False`` are 1/0). A function may use

- ``s.x`` (a slot), ``s.a[i]`` (an array element), ``len(s.a)``; assignment
  and augmented assignment to them and to local variables; ``a, b = x, y``;
- numbers, and names or attributes (``m.N``, a module's ``W_BEGUN``) that are
  integers, booleans or tuples of integers (``m.next_of[p]``, ``x in m.FINAL``);
- ``+ - * // % & | ^ << >> ~``, unary ``-``, comparisons (chained too),
  ``and``/``or``/``not`` (their value is used only as a condition, or made of
  comparisons: ``x = a or b`` would differ between Python and C), ``c if t else
  e``, ``min``, ``max``, ``abs``, ``bool``, ``int``;
- ``if``/``elif``/``else``, ``for i in range(...)``, ``while``, ``break``,
  ``continue``, ``pass``, ``return`` (a step: done, enabled; a property: its
  value; a helper: its value, or a bare ``return`` in one that has none);
- calls of helper functions written in the same subset (module functions or
  methods of the machine), passed the machine, the state and integers; one
  that changes the state is called as a statement, or alone on the right of an
  assignment to a local variable (``R = get_reader_page(m, s)``);
- ``require(cond)`` in a step: at its start, before anything else than
  local variables (the guard, see :mod:`rbmap.checker.steps`), or later, even in
  a block (a *late* guard: the step turns out not to be enabled, its changes are
  dropped; the Promela export saves the slots the step writes and puts
  them back, a transition to the same state SPIN counts and rbmap does not);
- ``changed(s)`` in a step or a helper it calls: the state differs from the
  one the step started from.

``//`` and ``%`` keep Python's meaning (rounding down) in every back end.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any

from .steps import Slot, StepError, changed, require

__all__ = ["analyse", "MachineCode", "StepCode", "FunctionCode",
           "Const", "Read", "ReadElem", "Local", "Unary", "Binary", "Compare", "BoolOp",
           "Cond", "Call", "MinMax", "Table", "Assign", "If", "For", "While", "Break",
           "Continue", "Return", "CallStmt", "Require", "Changed", "is_bool", "walk"]


# ------------------------------------------------------------------ the tree
@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Read:
    slot: Slot


@dataclass(frozen=True)
class ReadElem:
    array: str
    elems: tuple          # the element slots
    index: Any


@dataclass(frozen=True)
class Local:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str               # "-", "~", "not"
    a: Any


@dataclass(frozen=True)
class Binary:
    op: str               # + - * // % & | ^ << >>
    a: Any
    b: Any


@dataclass(frozen=True)
class Compare:
    op: str               # == != < <= > >=
    a: Any
    b: Any


@dataclass(frozen=True)
class BoolOp:
    op: str               # "and", "or"
    items: tuple


@dataclass(frozen=True)
class Cond:
    test: Any
    a: Any
    b: Any


@dataclass(frozen=True)
class Call:
    fn: "FunctionCode"
    args: tuple           # int arguments, in the helper's order


@dataclass(frozen=True)
class Changed:
    """``changed(s)``: the working state differs from the step's source state."""


@dataclass(frozen=True)
class MinMax:
    op: str               # "min", "max"
    items: tuple


@dataclass(frozen=True)
class Table:
    values: tuple         # a constant tuple of ints
    index: Any


@dataclass
class Assign:
    target: Any           # Read, ReadElem or Local
    value: Any


@dataclass
class If:
    test: Any
    body: list
    orelse: list


@dataclass
class For:
    var: str
    start: Any
    stop: Any
    step: int
    body: list


@dataclass
class While:
    test: Any
    body: list


@dataclass
class Break:
    pass


@dataclass
class Continue:
    pass


@dataclass
class Return:
    value: Any = None


@dataclass
class CallStmt:
    call: Call


@dataclass
class Require:
    """A guard condition (only in a step's guard)."""

    test: Any
    line: int = 0


@dataclass
class FunctionCode:
    """A helper, a property or ``finished``: int parameters, maybe the state."""

    name: str             # unique C-safe name
    source: str           # "file:line function" for messages
    params: list          # local names bound to the int arguments
    locals: list          # every local variable (params included)
    body: list
    uses_state: bool = False
    writes_state: bool = False
    returns_value: bool = False
    #: it asks changed(s): it is given the step's source state too
    uses_source: bool = False


@dataclass
class StepCode:
    """One step instance: its guard and its update.

    ``guard`` is a list of :class:`Require` and of :class:`Assign` to local
    variables, in source order, ending with the last ``require``; ``body`` the
    rest."""

    index: int
    label: str
    source: str
    guard: list
    body: list
    locals: list
    #: the line of its first late ``require`` (in the body), or 0
    late: int = 0


@dataclass
class MachineCode:
    """Everything a back end needs of a machine."""

    machine: Any
    steps: list
    properties: list      # (Property, FunctionCode)
    finished: FunctionCode | None
    helpers: list = field(default_factory=list)   # in dependency order


BOOL_OPS = (Compare, BoolOp, Changed)


def is_bool(e) -> bool:
    """The expression's value is 0/1 in Python as in C (a comparison and the like)."""
    if isinstance(e, BOOL_OPS):
        return True
    if isinstance(e, Unary) and e.op == "not":
        return True
    if isinstance(e, Const):
        return e.value in (0, 1)
    if isinstance(e, Cond):
        return is_bool(e.a) and is_bool(e.b)
    return False


def walk(stmts):
    """Every statement, nested ones included, depth first."""
    for st in stmts:
        yield st
        if isinstance(st, If):
            yield from walk(st.body)
            yield from walk(st.orelse)
        elif isinstance(st, (For, While)):
            yield from walk(st.body)


# ------------------------------------------------------------------ reading code
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
           ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
           ast.RShift: ">>"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
           ast.GtE: ">="}
_PY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
       "//": lambda a, b: a // b, "%": lambda a, b: a % b, "&": lambda a, b: a & b,
       "|": lambda a, b: a | b, "^": lambda a, b: a ^ b, "<<": lambda a, b: a << b,
       ">>": lambda a, b: a >> b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
       "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
       ">=": lambda a, b: a >= b}

_MACHINE, _STATE = object(), object()     # markers of the m and s parameters


@dataclass
class _Static:
    """A Python value known when the code is read (module, class, function...)."""

    value: Any


@dataclass
class _ArrayRef:
    name: str
    elems: tuple


def _source(fn) -> tuple[ast.FunctionDef, str, int]:
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError) as exc:
        raise StepError(f"{getattr(fn, '__qualname__', fn)}: its source is needed to "
                        f"compile it ({exc})") from None
    tree = ast.parse(textwrap.dedent("".join(lines)))
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef,)):
        raise StepError(f"{fn.__qualname__}: expected a def (not a lambda)")
    file = inspect.getsourcefile(fn) or "?"
    return node, file, start


class _Reader:
    """Reads one function into the tree, with its parameters bound."""

    def __init__(self, an: "_Analysis", fn, binding: list, what: str, kind: str):
        self.an = an
        self.fn = fn
        self.kind = kind                  # "step", "helper", "property"
        node, self.file, self.start = _source(fn)
        self.node = node
        self.what = what
        self.locals: list[str] = []
        self.params: list[str] = []
        self.names: dict[str, Any] = {}
        args = node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            self.fail(node, "only plain positional parameters are allowed")
        names = [a.arg for a in args.args]
        if len(names) != len(binding):
            self.fail(node, f"takes {len(names)} parameters, called with {len(binding)}")
        for n, b in zip(names, binding):
            if b is _MACHINE or b is _STATE:
                self.names[n] = b
            elif isinstance(b, (Const, _Static)):
                self.names[n] = b
            else:  # an int parameter of a helper
                self.names[n] = Local(n)
                self.params.append(n)
                self.locals.append(n)
        # Python's rule: a name assigned anywhere in the function is local
        for sub in (x for st in node.body for x in ast.walk(st)):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                if sub.id in self.names and not isinstance(self.names[sub.id], Local):
                    self.fail(sub, f"assigns to parameter {sub.id!r}")
                if sub.id not in self.names:
                    self.names[sub.id] = Local(sub.id)
                    self.locals.append(sub.id)
            elif isinstance(sub, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                  ast.GeneratorExp, ast.Yield, ast.YieldFrom, ast.Await,
                                  ast.FunctionDef, ast.ClassDef, ast.Global,
                                  ast.Nonlocal, ast.With, ast.Try, ast.Raise,
                                  ast.Delete, ast.Import, ast.ImportFrom)):
                self.fail(sub, f"{type(sub).__name__} is not in the step subset")
        self.closure = inspect.getclosurevars(fn)
        self.writes = False
        self.uses_state = False
        self.returns_value = False
        self.void_return = False
        self.uses_source = False

    # -- messages --------------------------------------------------------------
    def fail(self, node, msg: str):
        line = self.start + getattr(node, "lineno", 1) - 1
        raise StepError(f"{self.file}:{line}: {self.what}: {msg}")

    # -- names -----------------------------------------------------------------
    def resolve(self, node: ast.expr):
        """A name or attribute: Local, Const, Read, _ArrayRef, _Static or a marker."""
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            for scope in (self.closure.nonlocals, self.closure.globals,
                          self.closure.builtins):
                if node.id in scope:
                    return self.static(node, scope[node.id])
            g = self.fn.__globals__
            if node.id in g:
                return self.static(node, g[node.id])
            self.fail(node, f"unknown name {node.id!r}")
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if base is _STATE:
                lay = self.an.layout
                if node.attr in lay.scalars:
                    self.uses_state = True
                    return Read(lay.scalars[node.attr])
                if node.attr in lay.arrays:
                    self.uses_state = True
                    return _ArrayRef(node.attr, tuple(lay.arrays[node.attr]))
                self.fail(node, f"the state has no slot {node.attr!r}")
            if base is _MACHINE:
                obj = self.an.machine
            elif isinstance(base, _Static):
                obj = base.value
            else:
                self.fail(node, f"cannot take .{node.attr} of a value")
            if not hasattr(obj, node.attr):
                self.fail(node, f"{type(obj).__name__} has no attribute {node.attr!r}")
            return self.static(node, getattr(obj, node.attr))
        self.fail(node, "expected a name")

    def static(self, node, v):
        if v is self.an.machine:
            return _MACHINE
        if isinstance(v, bool):
            return Const(int(v))
        if isinstance(v, int):
            return Const(v)
        if isinstance(v, (tuple, list, frozenset, set, range)):
            vals = sorted(v) if isinstance(v, (frozenset, set)) else list(v)
            if not all(isinstance(x, int) for x in vals):
                self.fail(node, "only tuples of integers can be used")
            return _Static(tuple(int(x) for x in vals))
        return _Static(v)

    # -- expressions -----------------------------------------------------------
    def expr(self, node: ast.expr, cond: bool = False):
        """The tree of an expression; ``cond``: its value is used only as a condition."""
        e = self._expr(node, cond)
        if isinstance(e, _ArrayRef):
            self.fail(node, f"array {e.name} used as a value (index it)")
        if isinstance(e, _Static) or e is _MACHINE or e is _STATE:
            self.fail(node, "not an integer value")
        if isinstance(e, BoolOp) and not cond and not all(is_bool(x) for x in e.items):
            self.fail(node, f"the value of {e.op!r} is used as a number; compare "
                      "explicitly (x != 0) so that every back end agrees")
        return e

    def _expr(self, node, cond=False):
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or isinstance(v, int):
                return Const(int(v))
            self.fail(node, f"constant {v!r} is not an integer")
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.resolve(node)
        if isinstance(node, ast.Subscript):
            base = self._expr(node.value)
            idx = self.expr(node.slice)
            if isinstance(base, _ArrayRef):
                if isinstance(idx, Const) and not 0 <= idx.value < len(base.elems):
                    self.fail(node, f"index {idx.value} outside {base.name}[0.."
                              f"{len(base.elems) - 1}]")
                if isinstance(idx, Const):
                    return Read(base.elems[idx.value])
                return ReadElem(base.name, base.elems, idx)
            if isinstance(base, _Static) and isinstance(base.value, tuple):
                if isinstance(idx, Const):
                    if not 0 <= idx.value < len(base.value):
                        self.fail(node, f"index {idx.value} outside a tuple of "
                                  f"{len(base.value)}")
                    return Const(base.value[idx.value])
                return Table(base.value, idx)
            self.fail(node, "only state arrays and constant tuples can be indexed")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.fail(node, f"operator {type(node.op).__name__} is not in the subset")
            a, b = self.expr(node.left), self.expr(node.right)
            return self.fold(node, Binary(op, a, b))
        if isinstance(node, ast.UnaryOp):
            a = self.expr(node.operand, cond=isinstance(node.op, ast.Not))
            if isinstance(node.op, ast.Not):
                return Const(int(not a.value)) if isinstance(a, Const) else Unary("not", a)
            if isinstance(node.op, ast.USub):
                return Const(-a.value) if isinstance(a, Const) else Unary("-", a)
            if isinstance(node.op, ast.Invert):
                return Const(~a.value) if isinstance(a, Const) else Unary("~", a)
            if isinstance(node.op, ast.UAdd):
                return a
        if isinstance(node, ast.Compare):
            parts = []
            left = self.expr(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    parts.append(self.membership(node, left, right_node,
                                                 isinstance(op, ast.NotIn)))
                    left = None
                    continue
                sym = _CMPOPS.get(type(op))
                if sym is None:
                    self.fail(node, f"comparison {type(op).__name__} is not in the subset")
                right = self.expr(right_node)
                if left is None:
                    self.fail(node, "chain after 'in'")
                parts.append(self.fold(node, Compare(sym, left, right)))
                left = right
            return parts[0] if len(parts) == 1 else self.boolop("and", parts)
        if isinstance(node, ast.BoolOp):
            items = [self.expr(v, cond=True) for v in node.values]
            return self.boolop("and" if isinstance(node.op, ast.And) else "or", items)
        if isinstance(node, ast.IfExp):
            t = self.expr(node.test, cond=True)
            a, b = self.expr(node.body, cond), self.expr(node.orelse, cond)
            if isinstance(t, Const):
                return a if t.value else b
            return Cond(t, a, b)
        if isinstance(node, ast.Call):
            return self.call(node, statement=False)
        if isinstance(node, ast.Tuple):
            items = [self.expr(x) for x in node.elts]
            if all(isinstance(x, Const) for x in items):
                return _Static(tuple(x.value for x in items))
            self.fail(node, "a tuple of non-constants is only for 'in' and a, b = x, y")
        self.fail(node, f"{type(node).__name__} is not in the step subset")

    def membership(self, node, left, right_node, negate):
        if isinstance(right_node, (ast.Tuple, ast.List, ast.Set)):
            vals = [self.expr(x) for x in right_node.elts]
        else:
            right = self._expr(right_node)
            if not (isinstance(right, _Static) and isinstance(right.value, tuple)):
                self.fail(node, "'in' needs a tuple on the right")
            vals = [Const(v) for v in right.value]
        if isinstance(left, Const) and all(isinstance(v, Const) for v in vals):
            return Const(int((left.value in [v.value for v in vals]) != negate))
        if not vals:
            return Const(int(negate))
        parts = [self.fold(node, Compare("!=" if negate else "==", left, v)) for v in vals]
        return parts[0] if len(parts) == 1 else BoolOp("and" if negate else "or",
                                                       tuple(parts))

    def boolop(self, op, items):
        out = []
        for x in items:
            if isinstance(x, Const):
                if (op == "and") != bool(x.value):   # "and False", "or True" decide
                    return Const(0 if op == "and" else 1)
                if x.value in (0, 1):                 # "and True", "or False": neutral
                    continue
            out.append(x)
        if not out:
            return Const(1 if op == "and" else 0)
        if len(out) == 1 and is_bool(out[0]):
            return out[0]
        return BoolOp(op, tuple(out))

    def fold(self, node, e):
        if isinstance(e.a, Const) and isinstance(e.b, Const):
            try:
                return Const(int(_PY[e.op](e.a.value, e.b.value)))
            except (ZeroDivisionError, ValueError) as exc:
                self.fail(node, f"{e.a.value} {e.op} {e.b.value}: {exc}")
        return e

    def call(self, node: ast.Call, statement: bool):
        if node.keywords:
            self.fail(node, "keyword arguments are not in the subset")
        f = self._expr(node.func)
        fv = f.value if isinstance(f, _Static) else None
        if fv is require:
            self.fail(node, "require() only as a statement of a step")
        if fv is changed:
            if self.kind == "property":
                self.fail(node, "changed(s) belongs in a step or a helper a step calls")
            if len(node.args) != 1 or self._expr(node.args[0]) is not _STATE:
                self.fail(node, "changed() takes the state: changed(s)")
            self.uses_source = self.uses_state = True
            return Changed()
        if fv is len:
            if len(node.args) != 1:
                self.fail(node, "len() takes one argument")
            a = self._expr(node.args[0])
            if isinstance(a, _ArrayRef):
                return Const(len(a.elems))
            if isinstance(a, _Static) and isinstance(a.value, tuple):
                return Const(len(a.value))
            self.fail(node, "len() of a state array or a constant tuple only")
        if fv in (min, max):
            items = [self.expr(a) for a in node.args]
            if len(items) < 2:
                self.fail(node, f"{fv.__name__}() of two or more values")
            if all(isinstance(x, Const) for x in items):
                return Const(fv(x.value for x in items))
            return MinMax(fv.__name__, tuple(items))
        if fv is abs:
            a = self.expr(node.args[0])
            if isinstance(a, Const):
                return Const(abs(a.value))
            return Cond(Compare("<", a, Const(0)), Unary("-", a), a)
        if fv is bool:
            a = self.expr(node.args[0], cond=True)
            return a if is_bool(a) else Compare("!=", a, Const(0))
        if fv is int:
            a = self.expr(node.args[0])
            return a
        target = None
        if isinstance(fv, types.FunctionType):
            target = fv
        elif isinstance(fv, types.MethodType) and fv.__self__ is self.an.machine:
            target = fv.__func__
            binding = [_MACHINE]
        elif hasattr(fv, "fn") and isinstance(getattr(fv, "fn"), types.FunctionType):
            self.fail(node, "a step cannot call another step; share a helper instead")
        if target is None:
            self.fail(node, f"cannot call {ast.unparse(node.func)} in the step subset")
        if isinstance(fv, types.FunctionType):
            binding = []
        args = []
        for a in node.args:
            r = self._expr(a)
            if r is _MACHINE or r is _STATE:
                binding.append(r)
            elif isinstance(r, (_Static, _ArrayRef)):
                self.fail(a, "helpers take the machine, the state and integers")
            else:
                binding.append(None)
                args.append(self.expr(a))
        fc = self.an.helper(target, binding, self, node)
        if fc.uses_state:
            self.uses_state = True
        if fc.uses_source:
            if self.kind == "property":
                self.fail(node, f"{target.__name__}() asks changed(s): a property "
                          "has no step source")
            self.uses_source = True
        if fc.writes_state:
            self.writes = True
            if not statement:
                self.fail(node, f"{target.__name__}() changes the state: call it as a "
                          "statement or alone on the right of x = ..., not inside an "
                          "expression")
        if statement != True and not fc.returns_value:  # noqa: E712 ("value")
            self.fail(node, f"{target.__name__}() returns no value")
        return Call(fc, tuple(args))

    # -- statements ------------------------------------------------------------
    def body(self, stmts, loop=False) -> list:
        out: list = []
        for st in stmts:
            out.extend(self.stmt(st, loop))
        return out

    def target(self, node):
        t = self._expr(node) if not isinstance(node, ast.Name) else self.resolve(node)
        if isinstance(t, (Read, ReadElem)):
            if self.kind == "property":
                self.fail(node, "a property cannot change the state")
            self.writes = True
            return t
        if isinstance(t, Local):
            return t
        self.fail(node, "can assign only to slots, array elements and local variables")

    def stmt(self, node, loop) -> list:
        if isinstance(node, ast.Expr):
            v = node.value
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                return []  # a docstring
            if isinstance(v, ast.Call):
                f = self._expr(v.func)
                if isinstance(f, _Static) and f.value is require:
                    if self.kind != "step" or len(v.args) != 1 or v.keywords:
                        self.fail(node, "require(condition) belongs in a step")
                    return [Require(self.expr(v.args[0], cond=True),
                                    self.start + node.lineno - 1)]
                c = self.call(v, statement=True)
                return [CallStmt(c)]
            self.fail(node, "an expression statement does nothing")
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                self.fail(node, "one target per assignment")
            tgt = node.targets[0]
            if isinstance(tgt, ast.Tuple):
                if not isinstance(node.value, ast.Tuple) or len(node.value.elts) != len(
                        tgt.elts):
                    self.fail(node, "a, b = x, y needs as many values as targets")
                vals = [self.expr(v) for v in node.value.elts]
                tmps = []
                out = []
                for v in vals:
                    t = self.an.temp(self)
                    tmps.append(t)
                    out.append(Assign(t, v))
                for t_node, t in zip(tgt.elts, tmps):
                    out.append(Assign(self.target(t_node), t))
                return out
            if isinstance(node.value, ast.Call) and isinstance(tgt, ast.Name):
                # a helper that changes the state may give a local its value
                value = self.call(node.value, statement="value")
                if isinstance(value, Call) and value.fn.writes_state:
                    tgt_ = self.target(tgt)
                    if not isinstance(tgt_, Local):
                        self.fail(node, "the value of a helper that changes the state "
                                  "goes to a local variable")
                    return [Assign(tgt_, value)]
            return [Assign(self.target(tgt), self.expr(node.value))]
        if isinstance(node, ast.AugAssign):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.fail(node, "operator not in the subset")
            tgt = self.target(node.target)
            return [Assign(tgt, self.fold(node, Binary(op, tgt, self.expr(node.value))))]
        if isinstance(node, ast.AnnAssign):
            self.fail(node, "annotated assignment is not in the subset")
        if isinstance(node, ast.If):
            t = self.expr(node.test, cond=True)
            if isinstance(t, Const):
                return self.body(node.body if t.value else node.orelse, loop)
            return [If(t, self.body(node.body, loop), self.body(node.orelse, loop))]
        if isinstance(node, ast.For):
            if node.orelse:
                self.fail(node, "for ... else is not in the subset")
            if not isinstance(node.target, ast.Name):
                self.fail(node, "for NAME in range(...)")
            it = node.iter
            if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                    and it.func.id == "range" and 1 <= len(it.args) <= 3):
                self.fail(node, "for loops go over range(...)")
            a = [self.expr(x) for x in it.args]
            start, stop, stp = (Const(0), a[0], Const(1)) if len(a) == 1 else (
                a[0], a[1], a[2] if len(a) == 3 else Const(1))
            if not isinstance(stp, Const) or stp.value == 0:
                self.fail(node, "range() step must be a non-zero constant")
            var = self.resolve(node.target)
            return [For(var.name, start, stop, stp.value, self.body(node.body, True))]
        if isinstance(node, ast.While):
            if node.orelse:
                self.fail(node, "while ... else is not in the subset")
            t = self.expr(node.test, cond=True)
            if isinstance(t, Const) and not t.value:
                return []
            return [While(t, self.body(node.body, True))]
        if isinstance(node, (ast.Break, ast.Continue)):
            if not loop:
                self.fail(node, "break/continue outside a loop")
            return [Break() if isinstance(node, ast.Break) else Continue()]
        if isinstance(node, ast.Pass):
            return []
        if isinstance(node, ast.Return):
            if node.value is None:
                if self.kind == "property":
                    self.fail(node, "must return a value")
                if self.kind == "helper" and self.returns_value:
                    self.fail(node, "returns a value elsewhere: return one here too")
                self.void_return = True
                return [Return()]
            if self.kind == "step":
                self.fail(node, "a step returns nothing (require() disables it)")
            if self.void_return:
                self.fail(node, "a bare return elsewhere: a helper returns a value on "
                          "every path or on none")
            self.returns_value = True
            return [Return(self.expr(node.value, cond=self.kind == "property"))]
        if isinstance(node, ast.Assert):
            self.fail(node, "assert is not in the subset (write a property)")
        self.fail(node, f"{type(node).__name__} is not in the step subset")


class _Analysis:
    def __init__(self, machine):
        self.machine = machine
        self.layout = machine.layout
        self.helpers: dict[tuple, FunctionCode] = {}
        self.order: list[FunctionCode] = []
        self.busy: set = set()
        self.ntemp = 0

    def temp(self, reader: _Reader) -> Local:
        self.ntemp += 1
        name = f"_t{self.ntemp}"
        reader.locals.append(name)
        return Local(name)

    def helper(self, fn, binding, caller: _Reader, node) -> FunctionCode:
        key = (fn, tuple("m" if b is _MACHINE else "s" if b is _STATE else "i"
                         for b in binding))
        if key in self.helpers:
            return self.helpers[key]
        if key in self.busy:
            caller.fail(node, f"{fn.__name__}() is recursive; the subset has no recursion")
        self.busy.add(key)
        r = _Reader(self, fn, binding, f"helper {fn.__qualname__}", "helper")
        body = r.body(r.node.body)
        for st in walk(body):
            if isinstance(st, Require):
                r.fail(r.node, "require() belongs in a step")
        fc = FunctionCode(f"h{len(self.order)}_{fn.__name__}",
                          f"{r.file}:{r.start} {fn.__qualname__}", r.params, r.locals,
                          body, r.uses_state, r.writes, r.returns_value,
                          r.uses_source)
        self.busy.discard(key)
        self.helpers[key] = fc
        self.order.append(fc)
        return fc

    def step(self, k, inst) -> StepCode:
        fn = inst.step.fn
        params = [Const(int(v)) if isinstance(v, int) else _Static(v) for v in inst.params]
        r = _Reader(self, fn, [_MACHINE, _STATE] + params, f"step {inst.label}", "step")
        stmts = r.body(r.node.body)
        guard: list = []
        last = 0
        for i, st in enumerate(stmts):
            if isinstance(st, Require):
                guard = stmts[:i + 1]
                last = i + 1
                continue
            if isinstance(st, Assign) and isinstance(st.target, Local) \
                    and not _calls_writer(st.value):
                continue
            break
        body = stmts[last:]
        late = [st for st in walk(body) if isinstance(st, Require)]
        return StepCode(k, inst.label, f"{r.file}:{r.start} {fn.__qualname__}", guard,
                        body, r.locals, late[0].line if late else 0)

    def function(self, fn, what: str, binding) -> FunctionCode:
        r = _Reader(self, fn, binding, what, "property")
        body = r.body(r.node.body)
        if not r.returns_value:
            r.fail(r.node, "must return a value")
        name = "".join(c if c.isalnum() else "_" for c in what)
        return FunctionCode(name, f"{r.file}:{r.start} {fn.__qualname__}", [], r.locals,
                            body, r.uses_state, False, True)


def _calls_writer(e) -> bool:
    if isinstance(e, Call):
        return e.fn.writes_state or any(_calls_writer(a) for a in e.args)
    for f in ("a", "b", "test", "index"):
        if hasattr(e, f) and _calls_writer(getattr(e, f)):
            return True
    if hasattr(e, "items"):
        return any(_calls_writer(x) for x in e.items)
    return False


def analyse(machine) -> MachineCode:
    """Read every step instance, property and ``finished`` of ``machine``.

    Raises
    ------
    StepError
        Naming the file, line and function of the first construct outside the
        subset.
    """
    an = _Analysis(machine)
    steps = [an.step(k, inst) for k, inst in enumerate(machine.instances)]
    props = []
    for p in machine.property_list():
        fc = an.function(p.condition, f"property {p.name}", [_MACHINE, _STATE])
        props.append((p, fc))
    fin = getattr(type(machine), "finished", None)
    finished = an.function(fin, "finished", [_MACHINE, _STATE]) if fin else None
    return MachineCode(machine, steps, props, finished, an.order)
