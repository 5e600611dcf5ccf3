"""The interpreted explorer's fast path: a step machine's steps printed as Python.

:class:`~rbmap.checker.steps.StepMachine` runs its step functions as written for
everything that shows a step (replay, traces, the step table); an exploration
calls ``successors`` once per state, and there the functions as written cost a
state object, a guard run and an exception for every step instance that is not
enabled. This module prints the tree of :mod:`rbmap.checker.stepcode` (the one
the C and Promela back ends print) as plain Python over the state tuple: slots
are constant indices, each step instance a function (its guard, then the update
on a copy), and ``successors`` calls only the instances whose guard's leading
``slot == constant`` tests hold (checked inline, nested where consecutive
instances share the first one). Values and indices are checked as the
interpreted engine checks them (:class:`~rbmap.checker.steps.StepError`, with
the step and the slot).

The text is ``exec``'d once per machine; it is made of the machine's own numbers
and names only. ``tests/test_checker_pygen.py`` holds it to the functions as
written, state for state and in order.
"""

from __future__ import annotations

from typing import Any

from .stepcode import (Assign, Binary, BoolOp, Break, Call, CallStmt, Changed, Compare,
                       Cond, Const, Continue, For, If, Local, MinMax, Read, ReadElem,
                       Require, Return, Table, Unary, While, is_bool)
from .steps import StepError

__all__ = ["FastSteps", "generate_python", "eq_tests"]


def eq_tests(guard: list) -> list[tuple[int, int]]:
    """``(slot index, value)`` of each ``slot == constant`` conjunct at the top of
    the guard's requires, in source order: tests every enabled instance passes."""
    out: list[tuple[int, int]] = []

    def conj(e):
        if isinstance(e, BoolOp) and e.op == "and":
            for x in e.items:
                conj(x)
        elif isinstance(e, Compare) and e.op == "==":
            a, b = e.a, e.b
            if isinstance(b, Read) and isinstance(a, Const):
                a, b = b, a
            if isinstance(a, Read) and isinstance(b, Const):
                out.append((a.slot.index, b.value))
    for g in guard:      # (the tests read slots only: no guard local, no error)
        if isinstance(g, Require):
            conj(g.test)
    return out


def _may_be_bool(e) -> bool:
    """Whether Python may compute a bool for ``e`` (a slot stores ints only)."""
    if is_bool(e):
        return not isinstance(e, Const)
    if isinstance(e, (Local, Call)):
        return True
    if isinstance(e, Binary):
        return e.op in ("&", "|", "^") and _may_be_bool(e.a) and _may_be_bool(e.b)
    if isinstance(e, Cond):
        return _may_be_bool(e.a) or _may_be_bool(e.b)
    if isinstance(e, MinMax):
        return any(_may_be_bool(x) for x in e.items)
    return False


class _PyGen:
    def __init__(self, code):
        self.code = code
        self.m = code.machine
        self.layout = self.m.layout
        self.ntemp = 0
        self.consts: dict[Any, str] = {}

    # -- expressions -----------------------------------------------------------
    def const(self, value) -> str:
        name = self.consts.get(value)
        if name is None:
            name = self.consts[value] = f"_K{len(self.consts)}"
        return name

    def e(self, x, buf: str) -> str:
        if isinstance(x, Const):
            return repr(int(x.value))
        if isinstance(x, Read):
            return f"{buf}[{x.slot.index}]"
        if isinstance(x, ReadElem):
            return f"{buf}[_ix_{x.array}({self.e(x.index, buf)})]"
        if isinstance(x, Local):
            return f"L_{x.name}"
        if isinstance(x, Unary):
            return f"({x.op} {self.e(x.a, buf)})" if x.op == "not" else \
                f"({x.op}{self.e(x.a, buf)})"
        if isinstance(x, (Binary, Compare)):
            return f"({self.e(x.a, buf)} {x.op} {self.e(x.b, buf)})"
        if isinstance(x, BoolOp):
            return "(" + f" {x.op} ".join(self.e(i, buf) for i in x.items) + ")"
        if isinstance(x, Cond):
            return f"({self.e(x.a, buf)} if {self.e(x.test, buf)} else {self.e(x.b, buf)})"
        if isinstance(x, MinMax):
            return f"{x.op}({', '.join(self.e(i, buf) for i in x.items)})"
        if isinstance(x, Table):
            return f"_tab({self.const(x.values)}, {self.e(x.index, buf)})"
        if isinstance(x, Call):
            args = ([buf] if x.fn.uses_state else []) + (
                ["t"] if x.fn.uses_source else []) + [self.e(a, buf) for a in x.args]
            return f"{x.fn.name}({', '.join(args)})"
        if isinstance(x, Changed):
            return f"(tuple({buf}) != t)"
        raise StepError(f"internal: cannot print {x!r} as Python")

    # -- statements ------------------------------------------------------------
    def write(self, target, value, ind: str, buf: str) -> list[str]:
        v = self.e(value, buf)
        if _may_be_bool(value):
            v = f"int({v})"
        if isinstance(target, Local):
            return [f"{ind}L_{target.name} = {self.e(value, buf)}"]
        if isinstance(target, Read):
            sl = target.slot
            return [f"{ind}v_ = {v}",
                    f"{ind}if not {sl.lo} <= v_ <= {sl.hi}: _bad_value({sl.index}, v_)",
                    f"{ind}{buf}[{sl.index}] = v_"]
        if isinstance(target, ReadElem):
            return [f"{ind}v_ = {v}",
                    f"{ind}k_ = _ix_{target.array}({self.e(target.index, buf)})",
                    f"{ind}if not {target.elems[0].lo} <= v_ <= {target.elems[0].hi}: "
                    f"_bad_value(k_, v_)",
                    f"{ind}{buf}[k_] = v_"]
        raise StepError(f"internal: cannot assign to {target!r}")

    def stmts(self, body, ind: str, buf: str, ret: str) -> list[str]:
        out: list[str] = []
        for st in body:
            out += self.stmt(st, ind, buf, ret)
        return out or [f"{ind}pass"]

    def stmt(self, st, ind: str, buf: str, ret: str) -> list[str]:
        if isinstance(st, Assign):
            return self.write(st.target, st.value, ind, buf)
        if isinstance(st, If):
            out = [f"{ind}if {self.e(st.test, buf)}:"]
            out += self.stmts(st.body, ind + "    ", buf, ret)
            if st.orelse:
                out.append(f"{ind}else:")
                out += self.stmts(st.orelse, ind + "    ", buf, ret)
            return out
        if isinstance(st, For):
            out = [f"{ind}for L_{st.var} in range({self.e(st.start, buf)}, "
                   f"{self.e(st.stop, buf)}, {st.step}):"]
            return out + self.stmts(st.body, ind + "    ", buf, ret)
        if isinstance(st, While):
            out = [f"{ind}while {self.e(st.test, buf)}:"]
            return out + self.stmts(st.body, ind + "    ", buf, ret)
        if isinstance(st, Break):
            return [f"{ind}break"]
        if isinstance(st, Continue):
            return [f"{ind}continue"]
        if isinstance(st, Return):
            if st.value is None:
                return [f"{ind}return {ret}"]
            return [f"{ind}return {self.e(st.value, buf)}"]
        if isinstance(st, CallStmt):
            return [f"{ind}{self.e(st.call, buf)}"]
        if isinstance(st, Require):     # a late guard: not enabled after all
            return [f"{ind}if not {self.e(st.test, buf)}: return None"]
        raise StepError(f"internal: cannot print {st!r} as Python")

    # -- functions ---------------------------------------------------------------
    def function(self, fc, state: bool = False) -> list[str]:
        params = (["w"] if fc.uses_state or state else []) + (
            ["t"] if fc.uses_source else []) + [f"L_{p}" for p in fc.params]
        out = [f"def {fc.name}({', '.join(params)}):", f"    # {fc.source}"]
        out += self.stmts(fc.body, "    ", "w", "None")
        return out

    def step(self, sc) -> list[str]:
        out = [f"def st_{sc.index}(t):", f"    # {sc.label}  ({sc.source})"]
        for g in sc.guard:
            if isinstance(g, Require):
                out.append(f"    if not {self.e(g.test, 't')}: return None")
            else:
                out += self.stmt(g, "    ", "t", "None")
        out.append("    w = list(t)")
        out += self.stmts(sc.body, "    ", "w", "w")
        out.append("    return w")
        return out

    def accessors(self) -> list[str]:
        out = []
        for name, elems in self.layout.arrays.items():
            idx = tuple(e.index for e in elems)
            n = len(idx)
            contiguous = idx == tuple(range(idx[0], idx[0] + n))
            out.append(f"def _ix_{name}(i):")
            out.append(f"    if not 0 <= i < {n}: _bad_index({name!r}, {n}, i)")
            out.append(f"    return {idx[0]} + i" if contiguous else
                       f"    return {self.const(idx)}[i]")
        return out

    def successors(self, with_actions: bool) -> list[str]:
        name = "succ" if with_actions else "succ_states"
        out = [f"def {name}(t):", "    out = []", "    add = out.append"]
        group = None            # the first test of the open group of instances
        for sc in self.code.steps:
            tests = eq_tests(sc.guard)
            first = tests[0] if tests else None
            ind = "    "
            if first is not None:
                if first != group:
                    out.append(f"    if t[{first[0]}] == {first[1]}:")
                ind = "        "
                tests = tests[1:]
            group = first
            if tests:
                out.append(f"{ind}if " + " and ".join(f"t[{k}] == {v}" for k, v in tests)
                           + ":")
                ind += "    "
            out.append(f"{ind}u = st_{sc.index}(t)")
            act = f"({self.const(self.m.instances[sc.index].action)}, tuple(u))" \
                if with_actions else "tuple(u)"
            out.append(f"{ind}if u is not None: add({act})")
        out.append("    return out")
        return out

    def generate(self) -> str:
        code = self.code
        lines = ["# generated by rbmap.checker.pygen: do not edit"]
        lines += self.accessors()
        for fc in code.helpers:
            lines += self.function(fc)
        for _, fc in code.properties:
            lines += self.function(fc, state=True)
        if code.finished is not None:
            lines += self.function(code.finished, state=True)
        for sc in code.steps:
            lines += self.step(sc)
        lines += self.successors(True)
        lines += self.successors(False)
        return "\n".join(lines) + "\n"


def generate_python(machine) -> tuple[str, dict]:
    """The Python text of ``machine``'s steps and properties, and the constants
    it names (actions, tables), to ``exec`` it with."""
    g = _PyGen(machine.code)
    text = g.generate()
    return text, {v: k for k, v in g.consts.items()}


class FastSteps:
    """The generated functions of one machine: ``successors(t)``,
    ``successor_states(t)``, the property conditions and ``finished``."""

    def __init__(self, machine):
        self.machine = machine
        text, consts = generate_python(machine)
        self.text = text
        slots = machine.layout.slots
        where = ["a property"]

        def bad_value(k, v):
            sl = slots[k]
            raise StepError(f"{machine.name}: {where[0]}: {sl.name} = {v!r} is outside "
                            f"{sl.lo}..{sl.hi}")

        def bad_index(name, n, i):
            raise StepError(f"{machine.name}: {where[0]}: index {i!r} outside "
                            f"{name}[0..{n - 1}]")

        def tab(values, i):
            if not 0 <= i < len(values):
                raise StepError(f"{machine.name}: {where[0]}: index {i!r} outside a "
                                f"constant tuple of {len(values)}")
            return values[i]

        ns: dict[str, Any] = {"_bad_value": bad_value, "_bad_index": bad_index,
                              "_tab": tab, "__builtins__": {"range": range, "min": min,
                                                            "max": max, "int": int,
                                                            "list": list, "tuple": tuple}}
        ns.update(consts)
        exec(compile(text, f"<rbmap steps of {machine.name}>", "exec"), ns)
        self._ns = ns
        self._where = where
        self._succ = ns["succ"]
        self._succ_states = ns["succ_states"]
        self.properties = [ns[fc.name] for _, fc in machine.code.properties]
        fin = machine.code.finished
        self.finished = ns[fin.name] if fin is not None else None

    def _locate(self, t):
        """After a StepError: run the instances one by one to name the one that
        failed (errors are rare; the fast path keeps no bookkeeping)."""
        m = self.machine
        for sc in m.code.steps:
            self._where[0] = f"step {m.instances[sc.index].label}"
            try:
                self._ns[f"st_{sc.index}"](t)
            finally:
                self._where[0] = "a property"

    def successors(self, t) -> list:
        try:
            return self._succ(t)
        except StepError:
            self._locate(t)
            raise

    def successor_states(self, t) -> list:
        try:
            return self._succ_states(t)
        except StepError:
            self._locate(t)
            raise
