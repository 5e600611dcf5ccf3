"""Promela from a step machine, for SPIN: the same state machine, state for state.

:func:`to_promela` prints a :class:`~rbmap.checker.steps.StepMachine` (the tree
of :mod:`rbmap.checker.stepcode`) as one Promela process: every slot a global
variable, every step instance one ``d_step { guard -> update }`` option of a
``do`` loop, in the machine's order. One process whose control stays at the
loop, so SPIN stores exactly the machine's states: its count of states equals
the explorers' (:mod:`rbmap.checker.spin` runs it). Each ``always`` property
is one more option, enabled only where the property is false, that asserts it:
SPIN checks it in every state, the initial one included, and stores no state
more. Other properties are left to rbmap (SPIN would need never claims).

Python's meaning is kept where Promela's differs: ``//`` and ``%`` round down
(their divisor must be a positive constant here), and constant tuples become
conditional expressions. Promela's ``int`` has 32 bits: a slot or constant that
does not fit, a ``continue``, or a helper or property that is not one
expression is refused with :class:`PromelaError` (naming what).
"""

from __future__ import annotations

from .properties import ALWAYS
from .stepcode import (Assign, Binary, BoolOp, Break, Call, CallStmt, Changed, Compare,
                       Cond, Const, Continue, For, If, Local, MinMax, Read, ReadElem,
                       Require, Return, Table, Unary, While, is_bool, walk)

__all__ = ["to_promela", "PromelaError", "extra_states"]

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


class PromelaError(ValueError):
    """The machine uses something the Promela export cannot say."""


def _type(lo: int, hi: int) -> str:
    if 0 <= lo and hi <= 255:
        return "byte"
    if -32768 <= lo and hi <= 32767:
        return "short"
    if INT_MIN <= lo and hi <= INT_MAX:
        return "int"
    raise PromelaError(f"values {lo}..{hi} do not fit Promela's 32-bit int")


class _Printer:
    def __init__(self, machine, assertions: bool = True):
        self.m = machine
        self.assertions = assertions
        self.code = machine.code
        self.hidden: list[str] = []
        self.ntemp = 0

    # -- expressions: env maps local names to their defining expression (text)
    def e(self, x, env: dict) -> str:
        if isinstance(x, Const):
            if not INT_MIN <= x.value <= INT_MAX:
                raise PromelaError(f"constant {x.value} does not fit 32 bits")
            return str(x.value) if x.value >= 0 else f"({x.value})"
        if isinstance(x, Read):
            s = x.slot
            return f"{s.array}[{s.element}]" if s.array else s.name
        if isinstance(x, ReadElem):
            return f"{x.array}[{self.e(x.index, env)}]"
        if isinstance(x, Local):
            if x.name in env:
                return env[x.name]
            return f"L_{x.name}"
        if isinstance(x, Unary):
            op = "!" if x.op == "not" else x.op
            return f"({op}{self.e(x.a, env)})"
        if isinstance(x, Binary):
            a, b = self.e(x.a, env), self.e(x.b, env)
            if x.op in ("//", "%"):
                if not (isinstance(x.b, Const) and x.b.value > 0):
                    raise PromelaError(f"{x.op} by a non-constant or non-positive divisor")
                d = x.b.value
                if _nonneg(x.a):
                    return f"({a} {'/' if x.op == '//' else '%'} {d})"
                if x.op == "%":
                    return f"((({a}) % {d} + {d}) % {d})"
                return f"(({a}) >= 0 -> ({a}) / {d} : -((-({a}) + {d - 1}) / {d}))"
            return f"({a} {x.op} {b})"
        if isinstance(x, Compare):
            return f"({self.e(x.a, env)} {x.op} {self.e(x.b, env)})"
        if isinstance(x, BoolOp):
            op = " && " if x.op == "and" else " || "
            return "(" + op.join(self.e(i, env) if is_bool(i) else f"({self.e(i, env)} != 0)"
                                 for i in x.items) + ")"
        if isinstance(x, Cond):
            return f"({self.e(x.test, env)} -> {self.e(x.a, env)} : {self.e(x.b, env)})"
        if isinstance(x, MinMax):
            acc = self.e(x.items[0], env)
            cmp = "<" if x.op == "min" else ">"
            for item in x.items[1:]:
                v = self.e(item, env)
                acc = f"({v} {cmp} {acc} -> {v} : {acc})"
            return acc
        if isinstance(x, Table):
            i = self.e(x.index, env)
            acc = str(x.values[-1])
            for k in range(len(x.values) - 2, -1, -1):
                acc = f"({i} == {k} -> {x.values[k]} : {acc})"
            return acc
        if isinstance(x, Call):
            return self.inline_value(x, env)
        raise PromelaError(f"cannot print {type(x).__name__}")

    def expression_of(self, fc, env: dict) -> str:
        """A function made of local definitions and returns (maybe under if/else) as
        one conditional expression."""
        def conv(body, env):
            env = dict(env)
            for i, st in enumerate(body):
                if isinstance(st, Assign) and isinstance(st.target, Local):
                    env[st.target.name] = f"({self.e(st.value, env)})"
                    continue
                if isinstance(st, Return):
                    return self.e(st.value, env)
                if isinstance(st, If):
                    rest = body[i + 1:]
                    a = conv(st.body + rest, env)
                    b = conv(st.orelse + rest, env)
                    return f"({self.e(st.test, env)} -> {a} : {b})"
                raise PromelaError(f"{fc.source}: not one expression (the Promela export "
                                   "needs locals, if/else and returns only)")
            raise PromelaError(f"{fc.source}: a path ends without return")
        return conv(fc.body, env)

    def inline_value(self, call: Call, env: dict) -> str:
        fc = call.fn
        if fc.writes_state:
            raise PromelaError(f"{fc.source}: a helper that changes the state, used as a value")
        inner = {p: f"({self.e(a, env)})" for p, a in zip(fc.params, call.args)}
        return self.expression_of(fc, inner)

    # -- statements
    def stmts(self, body, ind: str, env: dict, end: str) -> list[str]:
        out = []
        for st in body:
            out += self.stmt(st, ind, env, end)
        return out

    def local(self, name: str) -> str:
        v = f"L_{name}"
        if v not in self.hidden:
            self.hidden.append(v)
        return v

    def stmt(self, st, ind: str, env: dict, end: str) -> list[str]:
        if isinstance(st, Assign):
            val = self.e(st.value, env)
            t = st.target
            if isinstance(t, Local):
                env.pop(t.name, None)
                return [f"{ind}{self.local(t.name)} = {val};"]
            return [f"{ind}{self.e(t, env)} = {val};"]
        if isinstance(st, If):
            a = self.stmts(st.body, ind + "   ", env, end) or [f"{ind}   skip;"]
            b = self.stmts(st.orelse, ind + "   ", env, end) or [f"{ind}   skip;"]
            return ([f"{ind}if", f"{ind}:: {self.e(st.test, env)} ->"] + a
                    + [f"{ind}:: else ->"] + b + [f"{ind}fi;"])
        if isinstance(st, For):
            var = self.local(st.var)
            if isinstance(st.start, Const) and isinstance(st.stop, Const):
                out = []
                for v in range(st.start.value, st.stop.value, st.step):
                    out.append(f"{ind}{var} = {v};")
                    out += self.stmts(st.body, ind, env, end)
                if any(isinstance(x, (Break, Continue)) for x in walk(st.body)):
                    raise PromelaError("break/continue in a for loop over constants")
                return out
            self.ntemp += 1
            stop = f"_stop{self.ntemp}"
            self.hidden.append(stop)
            cmp = "<" if st.step > 0 else ">"
            return ([f"{ind}{stop} = {self.e(st.stop, env)};",
                     f"{ind}{var} = {self.e(st.start, env)};",
                     f"{ind}do", f"{ind}:: {var} {cmp} {stop} ->"]
                    + self.stmts(st.body, ind + "   ", env, end)
                    + [f"{ind}   {var} = {var} + {st.step}", f"{ind}:: else -> break",
                       f"{ind}od;"])
        if isinstance(st, While):
            return ([f"{ind}do", f"{ind}:: {self.e(st.test, env)} ->"]
                    + (self.stmts(st.body, ind + "   ", env, end) or [f"{ind}   skip;"])
                    + [f"{ind}:: else -> break", f"{ind}od;"])
        if isinstance(st, Break):
            return [f"{ind}break;"]
        if isinstance(st, Continue):
            raise PromelaError("continue is not exported to Promela")
        if isinstance(st, Return):
            return [f"{ind}goto {end};"]
        if isinstance(st, CallStmt):
            fc = st.call.fn
            if fc.returns_value:
                raise PromelaError(f"{fc.source}: a helper's value is dropped")
            inner = dict(env)
            out = []
            for p, a in zip(fc.params, st.call.args):
                out.append(f"{ind}{self.local(p)} = {self.e(a, env)};")
                inner.pop(p, None)
            self.ntemp += 1
            return out + self.stmts(fc.body, ind, inner, f"hend{self.ntemp}") + [
                f"hend{self.ntemp}: skip;"]
        raise PromelaError(f"cannot print {type(st).__name__}")

    def guard(self, sc) -> tuple[str, dict]:
        env: dict = {}
        conds = []
        for g in sc.guard:
            if isinstance(g, Require):
                conds.append(self.e(g.test, env))
            else:
                env[g.target.name] = f"({self.e(g.value, env)})"
        return (" && ".join(conds) if conds else "true"), env

    def program(self) -> str:
        m = self.m
        lay = m.layout
        inits = m.init_states()
        decl = []
        init_steps: list[str] = []
        single = len(inits) == 1
        for name, sl in lay.scalars.items():
            v = inits[0][sl.index]
            ty = _type(sl.lo, sl.hi)
            decl.append(f"{ty} {name}" + (f" = {v};" if single and v else ";")
                        + (f"  /* {sl.doc} */" if sl.doc else ""))
        for name, elems in lay.arrays.items():
            ty = _type(elems[0].lo, elems[0].hi)
            vals = {inits[0][e.index] for e in elems}
            uniform = single and len(vals) == 1
            v = next(iter(vals))
            decl.append(f"{ty} {name}[{len(elems)}]" + (f" = {v};" if uniform and v else ";")
                        + (f"  /* {lay.docs.get(name)} */" if lay.docs.get(name) else ""))
        need_init = not single or any(
            len({inits[0][e.index] for e in elems}) > 1 for elems in lay.arrays.values())
        if need_init:
            opts = []
            for t in inits:
                sets = [f"{self.e(Read(sl), {})} = {t[sl.index]}" for sl in lay.slots]
                opts.append(f"  :: d_step {{ {'; '.join(sets)} }}")
            init_steps = ["  if"] + opts + ["  fi;"]
        body = []
        for sc in self.code.steps:
            if sc.late or any(_changed(st) for st in walk(sc.body)):
                raise PromelaError(f"{sc.source}: step {sc.label}: a late require() or "
                                   "changed(s) is not exported to Promela (a d_step "
                                   "needs its guard up front)")
            g, env = self.guard(sc)
            lines = []
            for gd in sc.guard:   # the guard's locals, again, for the update
                if isinstance(gd, Assign):
                    lines.append(f"      {self.local(gd.target.name)} = "
                                 f"{self.e(gd.value, {})};")
            end = f"done{sc.index}"
            lines += self.stmts(sc.body, "      ", {}, end)
            if any(f"goto {end};" in x for x in lines):
                lines.append(f"{end}: skip;")
            inst = m.instances[sc.index]
            body.append(f"  /* {sc.index}: {inst.actor} {m.format_action(inst.action)} */")
            body.append(f"  :: d_step {{ {g} ->")
            body += lines or ["      skip;"]
            body.append("     }")
        for p, fc in self.code.properties:
            if p.kind == ALWAYS and self.assertions:
                a = self.expression_of(fc, {})
                body.append(f"  /* always {p.name} */")
                body.append(f"  :: d_step {{ !{a} -> assert({a}) }}")
        hidden = [f"hidden int {h};" for h in self.hidden]
        head = [f"/* {getattr(m, 'label', m.name)}: generated by rbmap export promela from "
                f"{type(m).__module__}.{type(m).__qualname__}; do not edit.",
                "   One process; every step instance is one d_step option. */"]
        return "\n".join(
            head + decl + hidden + ["", "active proctype machine() {"] + init_steps
            + ["end:", "  do"] + body + ["  od", "}", ""])


def _changed(st) -> bool:
    """Whether a statement's expressions use changed(s)."""
    def has(e):
        if isinstance(e, Changed):
            return True
        if isinstance(e, Call):
            return any(has(a) for a in e.args)
        return any(has(getattr(e, f)) for f in ("a", "b", "test", "index", "value")
                   if hasattr(e, f)) or any(has(x) for x in getattr(e, "items", ()))
    return has(st.value if isinstance(st, Assign) else getattr(st, "test", None))


def _nonneg(x) -> bool:
    """``x`` is never negative (so Promela's / and % mean Python's // and %)."""
    if isinstance(x, Const):
        return x.value >= 0
    if isinstance(x, Read):
        return x.slot.lo >= 0
    if isinstance(x, ReadElem):
        return x.elems[0].lo >= 0
    if isinstance(x, Binary) and x.op in ("+", "*", "//", "%", "&", "|", ">>"):
        return _nonneg(x.a) and _nonneg(x.b)
    return isinstance(x, (Compare, BoolOp)) or (isinstance(x, Unary) and x.op == "not")


def to_promela(machine, assertions: bool = True) -> str:
    """The Promela text of ``machine`` (see the module docstring).

    ``assertions=False`` leaves the ``always`` properties out: SPIN stops
    exploring at a failed assertion (even with ``-c0`` it goes no deeper), so a
    count of the whole state space of a model that violates one needs them out.
    """
    return _Printer(machine, assertions).program()


def extra_states(machine) -> int:
    """States SPIN stores besides the machine's: 1, the state before the initial
    assignments, when those are a step (several initial states, or an array
    whose elements start at different values), else 0."""
    inits = machine.init_states()
    lay = machine.layout
    return int(len(inits) > 1 or any(
        len({inits[0][e.index] for e in elems}) > 1 for elems in lay.arrays.values()))
