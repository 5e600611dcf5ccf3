"""Promela from a step machine, for SPIN: the same state machine, state for state.

:func:`to_promela` prints a :class:`~rbmap.checker.steps.StepMachine` (the tree
of :mod:`rbmap.checker.stepcode`) as one Promela process: every slot a global
variable, every step instance one ``d_step { guard -> update }`` option of a
``do`` loop, in the machine's order. One process whose control stays at the
loop, so SPIN stores exactly the machine's states: its count of states equals
the explorers' (:mod:`rbmap.checker.spin` runs it). Each ``always`` property
is one more option, enabled only where the property is false, that asserts it:
SPIN checks it in every state, the initial one included, and stores no state
more. A ``sometimes`` property (a goal) is asserted never to hold, so pan
reports where it is reached; property k's assertion reads ``assert(k == 0 ||
...)`` so that pan's message names it (:func:`rbmap.checker.spin.violated`),
and fails once: a hidden flag (not in the state vector) turns it off after
its first report (breadth-first, the shallowest; pan -c0 would otherwise
print a line for every state that violates it, millions on the protocol).
``eventually`` properties are left to rbmap (they need its fairness).

How the step subset is said in Promela
--------------------------------------
- A step's guard (its leading ``require`` calls and the locals they use) is
  the ``d_step``'s guard expression. Helpers that change nothing are inlined
  into expressions: locals by substitution, ``if``/``return`` as conditional
  expressions, ``for`` loops unrolled (over constants, or up to the largest
  value a slot bound can take, each pass tested), so a guard such as
  ``require(s.seq + pending_writes(m, s, d) < m.E)`` stays a guard.
- A *late* guard (a ``require`` after the first change) cannot be a guard
  expression: the step saves the slots it may write (hidden variables, not in
  the state vector), runs, and when a late ``require`` fails puts them back.
  So the states are the same, but SPIN takes that step as a transition back
  to the same state where rbmap lists none: SPIN's transition count exceeds
  rbmap's by the number of such (state, step) pairs (:func:`self_loops`
  counts them). ``changed(s)`` compares the written slots with the saved copy.
- A helper that changes the state, or a helper with a loop used as a value in
  an update, is inlined as statements: its locals are hidden variables named
  after it, its ``return`` a jump to its end (its value in a hidden variable).
- Locals are hidden ``int`` variables: steps' ``L_x``, a helper's ``hN_f_x``.

Python's meaning is kept where Promela's differs: ``//`` and ``%`` round down
(their divisor must be a positive constant here), and constant tuples become
conditional expressions. Promela's ``int`` has 32 bits: a slot whose values
lie in 0 .. 2**32 - 1 beyond int's range (a word of sticky bits) is an ``int``
holding the same bits, and may only be used with ``& | ^ == !=``; any other
slot or constant that does not fit, or a ``while`` loop in a guard's helper,
is refused with :class:`PromelaError` (naming what).
"""

from __future__ import annotations

from dataclasses import dataclass

from .properties import ALWAYS, SOMETIMES
from .stepcode import (Assign, Binary, BoolOp, Break, Call, CallStmt, Changed, Compare,
                       Cond, Const, Continue, For, If, Local, MinMax, Read, ReadElem,
                       Require, Return, Table, Unary, While, is_bool, walk)

__all__ = ["to_promela", "PromelaError", "extra_states", "self_loops"]

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
UINT_MAX = (1 << 32) - 1
_BITWISE = ("&", "|", "^")


class PromelaError(ValueError):
    """The machine uses something the Promela export cannot say."""


class _NotExpr(Exception):
    """This helper cannot be one expression (it has a while loop...)."""


def _type(lo: int, hi: int) -> str:
    if 0 <= lo and hi <= 255:
        return "byte"
    if -32768 <= lo and hi <= 32767:
        return "short"
    if INT_MIN <= lo and hi <= UINT_MAX:
        return "int"
    raise PromelaError(f"values {lo}..{hi} do not fit Promela's 32-bit int")


def _lit(v: int) -> str:
    """A constant as Promela text; 2**31 .. 2**32 - 1 as the int with the same bits."""
    if v > INT_MAX and v <= UINT_MAX:
        v -= 1 << 32
    elif not INT_MIN <= v <= INT_MAX:
        raise PromelaError(f"constant {v} does not fit 32 bits")
    if v == INT_MIN:
        return f"({INT_MIN + 1} - 1)"
    return str(v) if v >= 0 else f"({v})"


# ------------------------------------------------------------------ loops unrolled
@dataclass
class _Block:
    """Unrolled statements: ``kind`` "loop" (a break leaves it) or "pass" (one
    iteration: a continue leaves it)."""

    kind: str
    items: list


def _flow(stmts) -> bool:
    """Whether ``stmts`` return, break or continue (anywhere, unrolled blocks included)."""
    for st in stmts:
        if isinstance(st, (Return, Break, Continue)):
            return True
        if isinstance(st, If) and (_flow(st.body) or _flow(st.orelse)):
            return True
        if isinstance(st, _Block) and _flow(st.items):
            return True
    return False


def _c(text: str) -> str:
    """``text`` inside a /* comment */ (which it must not end)."""
    return str(text).replace("*/", "* /").replace("/*", "/ *")


def _slot_ref(slot) -> str:
    return f"{slot.array}[{slot.element}]" if slot.array else slot.name


class _Printer:
    def __init__(self, machine, assertions: bool = True):
        self.m = machine
        self.assertions = assertions
        self.code = machine.code
        self.hidden: dict[str, str] = {}       # name -> declaration
        self.nlabel = 0
        self.wide = {sl.name for sl in machine.layout.slots if sl.hi > INT_MAX}
        self.scope = "L_"                       # the current function's locals
        self.frames: list = []                  # (end label, return variable) per helper
        self.step_end = ""                      # the current step's end label
        self.fail_label = ""                    # where a failed late require goes
        self.written: list = []                 # slots the current step may write
        self.saved = False                      # the written slots were saved
        self.conts: list = []                   # continue labels of the open loops
        self.hoisted: dict = {}                 # id(call) -> the variable holding its value
        self.frame: dict = {}                   # the inlined helper's constant parameters

    def label(self, what: str) -> str:
        self.nlabel += 1
        return f"{what}{self.nlabel}"

    def var(self, name: str) -> str:
        v = f"{self.scope}{name}"
        self.hidden.setdefault(v, f"hidden int {v};")
        return v

    # -- expressions: env maps local names to their value (text) when substituted
    def e(self, x, env: dict) -> str:
        if isinstance(x, Const):
            return _lit(x.value)
        if isinstance(x, Read):
            return _slot_ref(x.slot)
        if isinstance(x, ReadElem):
            return f"{x.array}[{self.e(x.index, env)}]"
        if isinstance(x, Local):
            if x.name in env:
                return env[x.name]
            if x.name in self.frame:
                return self.frame[x.name]
            return self.var(x.name)
        if isinstance(x, Unary):
            self.narrow(x.a, x.op)
            op = "!" if x.op == "not" else x.op
            return f"({op}{self.e(x.a, env)})"
        if isinstance(x, Binary):
            if x.op not in _BITWISE:
                self.narrow(x.a, x.op)
                self.narrow(x.b, x.op)
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
            if x.op not in ("==", "!="):
                self.narrow(x.a, x.op)
                self.narrow(x.b, x.op)
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
            acc = _lit(x.values[-1])
            for k in range(len(x.values) - 2, -1, -1):
                acc = f"({i} == {k} -> {_lit(x.values[k])} : {acc})"
            return acc
        if isinstance(x, Changed):
            return self.changed()
        if isinstance(x, Call):
            if id(x) in self.hoisted:
                return self.hoisted[id(x)]
            try:
                return self.value_of(x, env)
            except _NotExpr as exc:
                raise PromelaError(f"{x.fn.source}: {exc}; in an update, give its value "
                                   "to a local (x = f(m, s)) so that it is inlined as "
                                   "statements") from None
        raise PromelaError(f"cannot print {type(x).__name__}")

    def narrow(self, x, op: str) -> None:
        """A 32-bit word of bits (kept in an int) may only be masked and compared."""
        if isinstance(x, (Read, ReadElem)):
            name = x.slot.name if isinstance(x, Read) else x.elems[0].name
            if name in self.wide:
                raise PromelaError(f"slot {name} holds values past 2**31: Promela keeps "
                                   f"its bits in an int, so it may only be used with & | ^ "
                                   f"== != (not {op})")

    def changed(self) -> str:
        """``changed(s)``: a written slot differs from its saved copy."""
        if not self.saved:
            return "0"           # in a guard: nothing changed yet
        if not self.written:
            return "0"
        return "(" + " || ".join(f"{_slot_ref(sl)} != S_{_slot_ref(sl)}"
                                 for sl in self.written) + ")"

    # -- a helper as one expression
    def value_of(self, call: Call, env: dict) -> str:
        fc = call.fn
        if fc.writes_state:
            raise _NotExpr(f"{fc.source} changes the state")
        if not fc.returns_value:
            raise _NotExpr(f"{fc.source} returns no value")
        inner = {p: f"({self.e(a, env)})" for p, a in zip(fc.params, call.args)}
        return self.conv(self.unroll(fc.body, fc, _consts(inner)), inner, [], fc)

    def bound(self, x, consts: dict) -> int:
        """The largest value ``x`` can take (a loop's stop), or _NotExpr."""
        if isinstance(x, Const):
            return x.value
        if isinstance(x, Local) and x.name in consts:
            return consts[x.name]
        if isinstance(x, Read):
            return x.slot.hi
        if isinstance(x, ReadElem):
            return x.elems[0].hi
        if isinstance(x, Binary) and x.op == "+":
            return self.bound(x.a, consts) + self.bound(x.b, consts)
        if isinstance(x, Binary) and x.op == "-" and isinstance(x.b, Const):
            return self.bound(x.a, consts) - x.b.value
        if isinstance(x, MinMax) and x.op == "min":
            out = []
            for i in x.items:
                try:
                    out.append(self.bound(i, consts))
                except _NotExpr:
                    pass
            if out:
                return min(out)
        raise _NotExpr("a loop bound that is not a constant or a slot")

    def unroll(self, stmts, fc, consts: dict) -> list:
        """``stmts`` with every for loop unrolled (``consts``: the parameters
        whose value is a constant at this call)."""
        def const(x):
            if isinstance(x, Const):
                return x.value
            if isinstance(x, Local) and x.name in consts:
                return consts[x.name]
            return None
        out = []
        for st in stmts:
            if isinstance(st, For):
                start, stop = const(st.start), const(st.stop)
                if start is None:
                    raise _NotExpr("a for loop from a non-constant start")
                if stop is not None:
                    vals, test = range(start, stop, st.step), False
                elif st.step > 0:
                    vals, test = range(start, self.bound(st.stop, consts), st.step), True
                else:
                    raise _NotExpr("a downward for loop to a non-constant stop")
                if len(vals) > 256:
                    raise _NotExpr("a for loop of more than 256 passes")
                passes = []
                body = self.unroll(st.body, fc, consts)
                for v in vals:
                    one = [Assign(Local(st.var), Const(v)), _Block("pass", list(body))]
                    if test:
                        one = [If(Compare("<", Const(v), st.stop), one, [Break()])]
                    passes += one
                out.append(_Block("loop", passes))
            elif isinstance(st, While):
                raise _NotExpr("a while loop")
            elif isinstance(st, If):
                out.append(If(st.test, self.unroll(st.body, fc, consts),
                              self.unroll(st.orelse, fc, consts)))
            elif isinstance(st, (Assign, Return, Break, Continue)):
                if isinstance(st, Assign) and not isinstance(st.target, Local):
                    raise _NotExpr("it changes the state")
                out.append(st)
            else:
                raise _NotExpr(f"a {type(st).__name__} statement")
        return out

    def conv(self, stmts, env, konts, fc) -> str:
        """The value of running ``stmts`` then the continuations ``konts`` (a stack of
        (kind, statements after the block)) from ``env``."""
        env = dict(env)
        for i, st in enumerate(stmts):
            rest = stmts[i + 1:]
            if isinstance(st, Assign):
                env[st.target.name] = f"({self.e(st.value, env)})"
            elif isinstance(st, Return):
                if st.value is None:
                    raise _NotExpr("a bare return")
                return self.e(st.value, env)
            elif isinstance(st, _Block):
                return self.conv(st.items, env, konts + [(st.kind, rest)], fc)
            elif isinstance(st, (Break, Continue)):
                want = "loop" if isinstance(st, Break) else "pass"
                for k in range(len(konts) - 1, -1, -1):
                    if konts[k][0] == want:
                        return self.conv(konts[k][1], env, konts[:k], fc)
                raise _NotExpr("break/continue outside a loop")
            elif isinstance(st, If):
                if not _flow([st]):
                    env = self.merge(st, env, fc)
                    continue
                t = self.e(st.test, env)
                return (f"({t} -> {self.conv(st.body + rest, env, konts, fc)} : "
                        f"{self.conv(st.orelse + rest, env, konts, fc)})")
            else:
                raise _NotExpr(f"a {type(st).__name__} statement")
        if konts:
            return self.conv(konts[-1][1], env, konts[:-1], fc)
        raise PromelaError(f"{fc.source}: a path ends without return")

    def merge(self, st: If, env: dict, fc) -> dict:
        """The locals after an ``if`` without return, break or continue: a local
        the branches set differently is a conditional expression. ``n += x`` in
        one branch only is ``n + (test -> x : 0)`` (so a counting loop does not
        double its text at every pass)."""
        t = self.e(st.test, env)
        for body, other, neg in ((st.body, st.orelse, False), (st.orelse, st.body, True)):
            if not other and body and all(_accumulates(x, body) for x in body):
                env = dict(env)
                for x in body:
                    v = x.target.name
                    inc = self.e(x.value.b, env)
                    cond = f"(!{t})" if neg else t
                    env[v] = f"({env.get(v, self.var(v))} {x.value.op} ({cond} -> {inc} : 0))"
                return env
        a = self.run(st.body, env, fc)
        b = self.run(st.orelse, env, fc)
        out = dict(env)
        for name in sorted(set(a) | set(b)):
            va, vb = a.get(name, "0"), b.get(name, "0")
            out[name] = va if va == vb else f"({t} -> {va} : {vb})"
        return out

    def run(self, stmts, env, fc) -> dict:
        """The locals after straight-line ``stmts`` (no return, break or continue)."""
        env = dict(env)
        for st in stmts:
            if isinstance(st, Assign):
                env[st.target.name] = f"({self.e(st.value, env)})"
            elif isinstance(st, _Block):
                env = self.run(st.items, env, fc)
            elif isinstance(st, If):
                env = self.merge(st, env, fc)
            else:
                raise _NotExpr(f"a {type(st).__name__} statement")
        return env

    # -- statements
    def stmts(self, body, ind: str) -> list[str]:
        out = []
        for st in body:
            out += self.stmt(st, ind)
        return out

    def loop_stmts(self, body, ind: str, cont: str) -> list[str]:
        """A loop's body; a continue jumps to label ``cont``."""
        self.conts.append(cont)
        try:
            return self.stmts(body, ind)
        finally:
            self.conts.pop()

    def hoist(self, x, ind: str) -> list[str]:
        """Statements computing, before it, the helpers of expression ``x`` that
        are not one expression and that ``x`` always evaluates (not behind an
        ``and``, ``or`` or a condition: those would be refused)."""
        out = []
        for c in _eager_calls(x):
            if id(c) in self.hoisted:
                continue
            try:
                self.value_of_check(c)
                continue
            except _NotExpr:
                pass
            lines, ret = self.inline(c, ind)
            tmp = self.label("_v")
            self.hidden.setdefault(tmp, f"hidden int {tmp};")
            out += lines + [f"{ind}{tmp} = {ret};"]
            self.hoisted[id(c)] = tmp
        return out

    def stmt(self, st, ind: str) -> list[str]:
        hoisted = dict(self.hoisted)
        pre = []
        if isinstance(st, (Assign, If, Require, Return)) and not (
                isinstance(st, Assign) and isinstance(st.value, Call)):
            for x in _stmt_exprs(st):
                pre += self.hoist(x, ind)
        elif isinstance(st, For):
            pre = self.hoist(st.start, ind) + self.hoist(st.stop, ind)
        try:
            return pre + self.stmt_(st, ind)
        finally:
            self.hoisted = hoisted      # (a helper's tree is printed again elsewhere)

    def stmt_(self, st, ind: str) -> list[str]:
        if isinstance(st, Assign):
            t = st.target
            if isinstance(st.value, Call):
                try:
                    val = self.value_of(st.value, {})
                except _NotExpr:
                    lines, ret = self.inline(st.value, ind)
                    return lines + [f"{ind}{self.e(t, {})} = {ret};"]
            else:
                val = self.e(st.value, {})
            if isinstance(t, Local):
                return [f"{ind}{self.var(t.name)} = {val};"]
            return [f"{ind}{self.e(t, {})} = {val};"]
        if isinstance(st, If):
            test = self.e(st.test, {})
            a = self.stmts(st.body, ind + "   ") or [f"{ind}   skip;"]
            b = self.stmts(st.orelse, ind + "   ") or [f"{ind}   skip;"]
            return ([f"{ind}if", f"{ind}:: {test} ->"] + a
                    + [f"{ind}:: else ->"] + b + [f"{ind}fi;"])
        if isinstance(st, For):
            var = self.var(st.var)
            jumps = any(isinstance(x, (Break, Continue)) for x in _loop_level(st.body))
            bounds = _consts({"start": self.e(st.start, {}), "stop": self.e(st.stop, {})})
            start, stop = bounds.get("start"), bounds.get("stop")
            if start is not None and stop is not None and not jumps:
                out = []
                for v in range(start, stop, st.step):
                    out.append(f"{ind}{var} = {v};")
                    out += self.loop_stmts(st.body, ind, "")
                return out
            stop = self.label("_stop")
            self.hidden.setdefault(stop, f"hidden int {stop};")
            cont = self.label("cont")
            cmp = "<" if st.step > 0 else ">"
            return ([f"{ind}{stop} = {self.e(st.stop, {})};",
                     f"{ind}{var} = {self.e(st.start, {})};",
                     f"{ind}do", f"{ind}:: {var} {cmp} {stop} ->"]
                    + self.loop_stmts(st.body, ind + "   ", cont)
                    + [f"{ind}{cont}: {var} = {var} + {st.step}", f"{ind}:: else -> break",
                       f"{ind}od;"])
        if isinstance(st, While):
            cont = self.label("cont")
            return ([f"{ind}do", f"{ind}:: {self.e(st.test, {})} ->"]
                    + self.loop_stmts(st.body, ind + "   ", cont)
                    + [f"{ind}{cont}: skip", f"{ind}:: else -> break", f"{ind}od;"])
        if isinstance(st, Break):
            return [f"{ind}break;"]
        if isinstance(st, Continue):
            if not self.conts or not self.conts[-1]:
                raise PromelaError("continue in a loop that is unrolled")
            return [f"{ind}goto {self.conts[-1]};"]
        if isinstance(st, Return):
            if not self.frames:                 # a step: done, enabled
                return [f"{ind}goto {self.step_end};"]
            end, ret = self.frames[-1]
            out = []
            if st.value is not None:
                out.append(f"{ind}{ret} = {self.e(st.value, {})};")
            return out + [f"{ind}goto {end};"]
        if isinstance(st, CallStmt):
            lines, _ = self.inline(st.call, ind)
            return lines
        if isinstance(st, Require):             # a late guard
            return [f"{ind}if", f"{ind}:: {self.e(st.test, {})} -> skip",
                    f"{ind}:: else -> goto {self.fail_label}", f"{ind}fi;"]
        raise PromelaError(f"cannot print {type(st).__name__}")

    def inline(self, call: Call, ind: str) -> tuple[list[str], str]:
        """A helper's body as statements; the hidden variable holding its value."""
        fc = call.fn
        pre = [x for a in call.args for x in self.hoist(a, ind)]
        args = [self.e(a, {}) for a in call.args]
        outer, conts, frame = self.scope, self.conts, self.frame
        assigned = {st.target.name for st in walk(fc.body)
                    if isinstance(st, Assign) and isinstance(st.target, Local)}
        # a parameter given a constant and never assigned is that constant
        # (so loops up to it unroll and helpers given it are expressions)
        self.frame = {p: a for p, a in zip(fc.params, args)
                      if p not in assigned and p in _consts({p: a})}
        self.scope, self.conts = f"{fc.name}_", []
        try:
            out = pre + [f"{ind}{self.var(p)} = {a};" for p, a in zip(fc.params, args)
                         if p not in self.frame]
            end = self.label(f"{fc.name}_end")
            ret = self.var("_ret") if fc.returns_value else ""
            self.frames.append((end, ret))
            out += self.stmts(fc.body, ind)
            self.frames.pop()
            out.append(f"{ind}{end}: skip;")
        finally:
            self.scope, self.conts, self.frame = outer, conts, frame
        return out, ret

    # -- a step
    def guard(self, sc) -> tuple[list, list, list]:
        """The guard's items that are expressions, their texts, and the items that
        are not (they go to the update as late guards)."""
        env: dict = {}
        conds = []
        for k, g in enumerate(sc.guard):
            try:
                if isinstance(g, Require):
                    conds.append(self.e_guard(g.test, env))
                else:
                    env[g.target.name] = f"({self.e_guard(g.value, env)})"
            except _NotExpr:
                return sc.guard[:k], conds, sc.guard[k:]
        return sc.guard, conds, []

    def e_guard(self, x, env) -> str:
        """An expression of a guard: a helper that is not one expression raises
        _NotExpr (the rest of the guard is then late) instead of PromelaError."""
        for sub in _calls(x):
            self.value_of_check(sub)
        return self.e(x, env)

    def value_of_check(self, call: Call) -> None:
        fc = call.fn
        if fc.writes_state or not fc.returns_value:
            raise _NotExpr(fc.source)
        self.unroll(fc.body, fc, {p: a.value for p, a in zip(fc.params, call.args)
                                  if isinstance(a, Const)})
        for st in walk(fc.body):
            for sub in _stmt_calls(st):
                self.value_of_check(sub)

    def step(self, sc) -> list[str]:
        self.scope, self.frames, self.conts, self.frame = "L_", [], [], {}
        self.step_end = f"done{sc.index}"
        self.fail_label = f"fail{sc.index}"
        self.saved = False
        early, conds, late = self.guard(sc)
        body = late + sc.body
        self.written = _written(body, self.m.layout)
        needs_save = any(isinstance(st, Require) for st in _all_stmts(body)) or any(
            isinstance(x, Changed) for x in _all_exprs(body))
        lines = []
        for gd in early:      # the guard's locals, again, for the update
            if isinstance(gd, Assign):
                lines.append(f"      {self.var(gd.target.name)} = "
                             f"{self.e(gd.value, {})};")
        if needs_save:
            for sl in self.written:
                ref = _slot_ref(sl)
                name = f"S_{sl.array or sl.name}"
                n = len(self.m.layout.arrays[sl.array]) if sl.array else 0
                self.hidden.setdefault(name, f"hidden {_type(sl.lo, sl.hi)} {name}"
                                       + (f"[{n}];" if sl.array else ";"))
                lines.append(f"      S_{ref} = {ref};")
            self.saved = True
        lines += self.stmts(body, "      ")
        if any(x.endswith(f"goto {self.fail_label}") for x in lines):
            lines.append(f"      goto {self.step_end};")
            lines.append(f"{self.fail_label}:")
            lines += [f"      {_slot_ref(sl)} = S_{_slot_ref(sl)};" for sl in self.written]
        if any(f"goto {self.step_end};" in x for x in lines):
            lines.append(f"{self.step_end}: skip;")
        elif lines and lines[-1].endswith("od;"):
            lines.append("      skip;")     # (a break needs a statement after the loop)
        inst = self.m.instances[sc.index]
        g = " && ".join(conds) if conds else "true"
        return ([f"  /* {sc.index}: {_c(inst.actor)} {_c(self.m.format_action(inst.action))} */",
                 f"  :: d_step {{ {g} ->"] + (lines or ["      skip;"]) + ["     }"])

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
            decl.append(f"{ty} {name}" + (f" = {_lit(v)};" if single and v else ";")
                        + (f"  /* {_c(sl.doc)} */" if sl.doc else ""))
        for name, elems in lay.arrays.items():
            ty = _type(min(e.lo for e in elems), max(e.hi for e in elems))
            vals = {inits[0][e.index] for e in elems}
            uniform = single and len(vals) == 1
            v = next(iter(vals))
            decl.append(f"{ty} {name}[{len(elems)}]"
                        + (f" = {_lit(v)};" if uniform and v else ";")
                        + (f"  /* {_c(lay.docs[name])} */" if lay.docs.get(name) else ""))
        need_init = not single or any(
            len({inits[0][e.index] for e in elems}) > 1 for elems in lay.arrays.values())
        if need_init:
            opts = []
            for t in inits:
                sets = [f"{_slot_ref(sl)} = {_lit(t[sl.index])}" for sl in lay.slots]
                opts.append(f"  :: d_step {{ {'; '.join(sets)} }}")
            init_steps = ["  if"] + opts + ["  fi;"]
        body = []
        for sc in self.code.steps:
            body += self.step(sc)
        self.scope, self.saved = "L_", False
        for k, (p, fc) in enumerate(self.code.properties):
            if p.kind not in (ALWAYS, SOMETIMES) or not self.assertions:
                continue
            try:
                a = self.conv(self.unroll(fc.body, fc, {}), {}, [], fc)
            except _NotExpr as exc:
                raise PromelaError(f"{fc.source}: property {p.name} is not one "
                                   f"expression ({exc})") from None
            # "(k == 0 || ...)": pan's message names the property by its number;
            # R_k (hidden, so no state more) has it report the property once
            flag = f"R_{k + 1}"
            self.hidden.setdefault(flag, f"hidden byte {flag};")
            body.append(f"  /* {p.kind} {p.name} (property {k + 1}) */")
            if p.kind == ALWAYS:
                body.append(f"  :: d_step {{ {flag} == 0 && !{a} -> {flag} = 1; "
                            f"assert({k + 1} == 0 || {a}) }}")
            else:     # a goal: its assertion fails where it is reached
                body.append(f"  :: d_step {{ {flag} == 0 && {a} -> {flag} = 1; "
                            f"assert({k + 1} == 0 || !{a}) }}")
        head = [f"/* {_c(getattr(m, 'label', m.name))}: generated by rbmap export promela from "
                f"{type(m).__module__}.{type(m).__qualname__}; do not edit.",
                "   One process; every step instance is one d_step option. */"]
        return "\n".join(
            head + decl + list(self.hidden.values())
            + ["", "active proctype machine() {"] + init_steps
            + ["end:", "  do"] + body + ["  od", "}", ""])


# ------------------------------------------------------------------ tree walks
def _loop_level(stmts):
    """Statements of one loop body, not descending into inner loops."""
    for st in stmts:
        yield st
        if isinstance(st, If):
            yield from _loop_level(st.body)
            yield from _loop_level(st.orelse)


def _stmt_exprs(st):
    if isinstance(st, Assign):
        return [st.target, st.value]
    if isinstance(st, (If, While, Require)):
        return [st.test]
    if isinstance(st, For):
        return [st.start, st.stop]
    if isinstance(st, Return):
        return [st.value] if st.value is not None else []
    if isinstance(st, CallStmt):
        return [st.call]
    return []


def _subexprs(e):
    yield e
    for f in ("a", "b", "test", "index", "value"):
        x = getattr(e, f, None)
        if x is not None and not isinstance(x, (int, str)):
            yield from _subexprs(x)
    for x in getattr(e, "items", ()) or ():
        yield from _subexprs(x)
    if isinstance(e, Call):
        for x in e.args:
            yield from _subexprs(x)


def _consts(env: dict) -> dict:
    """The locals of ``env`` whose text is a number."""
    out = {}
    for k, v in env.items():
        t = v.strip("()")
        if t.lstrip("-").isdigit():
            out[k] = int(t)
    return out


def _accumulates(st, body) -> bool:
    """``st`` is ``n = n op x`` (op + - | ^, whose 0 changes nothing), ``x``
    using no local ``body`` sets."""
    if not (isinstance(st, Assign) and isinstance(st.target, Local)
            and isinstance(st.value, Binary) and st.value.op in ("+", "-", "|", "^")
            and st.value.a == st.target):
        return False
    set_here = {x.target.name for x in body if isinstance(x, Assign)
                and isinstance(x.target, Local)}
    return not any(isinstance(x, Local) and x.name in set_here
                   for x in _subexprs(st.value.b))


def _eager_calls(e):
    """The calls in ``e`` that evaluating it always makes, innermost first."""
    if isinstance(e, Call):
        for a in e.args:
            yield from _eager_calls(a)
        yield e
    elif isinstance(e, (Binary, Compare)):
        yield from _eager_calls(e.a)
        yield from _eager_calls(e.b)
    elif isinstance(e, Unary):
        yield from _eager_calls(e.a)
    elif isinstance(e, BoolOp):
        yield from _eager_calls(e.items[0])
    elif isinstance(e, Cond):
        yield from _eager_calls(e.test)
    elif isinstance(e, MinMax):
        for x in e.items:
            yield from _eager_calls(x)
    elif isinstance(e, (Table, ReadElem)):
        yield from _eager_calls(e.index)


def _calls(e):
    return [x for x in _subexprs(e) if isinstance(x, Call)]


def _stmt_calls(st):
    return [c for x in _stmt_exprs(st) for c in _calls(x)]


def _all_stmts(body, seen=None):
    """Every statement of ``body`` and of the helpers it calls, inlined or not."""
    seen = set() if seen is None else seen
    for st in walk(body):
        yield st
        for c in _stmt_calls(st):
            if id(c.fn) not in seen:
                seen.add(id(c.fn))
                yield from _all_stmts(c.fn.body, seen)


def _all_exprs(body):
    for st in _all_stmts(body):
        for x in _stmt_exprs(st):
            yield from _subexprs(x)


def _written(body, lay) -> list:
    """The slots ``body`` (helpers included) may write, in layout order."""
    names: set = set()
    for st in _all_stmts(body):
        if isinstance(st, Assign):
            t = st.target
            if isinstance(t, Read):
                names.add(t.slot.array or t.slot.name)
            elif isinstance(t, ReadElem):
                names.add(t.array)
    return [sl for sl in lay.slots if (sl.array or sl.name) in names]


def _nonneg(x) -> bool:
    """``x`` is never negative (so Promela's / and % mean Python's // and %)."""
    if isinstance(x, Const):
        return x.value >= 0
    if isinstance(x, Read):
        return x.slot.lo >= 0 and x.slot.hi <= INT_MAX
    if isinstance(x, ReadElem):
        return x.elems[0].lo >= 0 and x.elems[0].hi <= INT_MAX
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


def self_loops(machine, states) -> int:
    """Transitions SPIN takes that rbmap does not list: for every state of
    ``states`` and step whose guard holds but a late ``require`` fails, SPIN
    runs the step, puts the saved slots back and so steps to the same state.
    (The guard here is the part the export prints as the ``d_step``'s guard.)"""
    from .pygen import _PyGen
    from .stepcode import StepCode

    p = _Printer(machine)
    gen = _PyGen(machine.code)
    lines, late = [], []
    for sc in machine.code.steps:
        early, _, rest = p.guard(sc)
        if rest or sc.late:
            late.append(sc.index)
            lines += gen.step(StepCode(sc.index, sc.label, sc.source, early, [], []))
    if not late:
        return 0
    ns = dict(machine.fast()._ns)        # the helpers, accessors and checks
    ns.update({v: k for k, v in gen.consts.items()})
    exec(compile("\n".join(lines) + "\n", "<rbmap early guards>", "exec"), ns)
    n = 0
    for t in states:
        for k in late:
            if ns[f"st_{k}"](t) is not None and machine.run(machine.instances[k], t) is None:
                n += 1
    return n
