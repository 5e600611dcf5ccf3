"""Prove claims over bounded integers with z3, or refute them with a concrete
counterexample.

Nothing here knows what the variables mean.  A caller builds z3 bit-vector terms
(usually 64-bit, to follow C ``unsigned long`` wrap-around exactly), states what it
assumes about the inputs, and asks:

- :func:`prove`: does ``claim`` hold for every assignment allowed by the
  assumptions?  The answer is :class:`Proved`, or :class:`Refuted` carrying one
  concrete assignment (the smallest one in the order of ``minimize`` when asked, so
  that answers are reproducible and readable), or :class:`Unknown` when z3 gave up
  (a timeout).
- :func:`enumerate_values`: every value one variable takes over all satisfying
  assignments, up to a limit, by blocking each value found.
- :func:`value_ranges`: the maximal runs of consecutive values of one variable for
  which a predicate holds, for predicates too dense to enumerate value by value.

Example
-------
>>> x = bv("x", 8)
>>> prove(ULE(x & 0x0F, 15), assumptions=[], variables=[x])
Proved(claim='')
>>> prove(ULE(x, 100), assumptions=[ULE(x, 200)], variables=[x], minimize=[x])
Refuted(claim='', counterexample={'x': 101})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence, Union

import signal
import threading

import z3

from . import interrupt

__all__ = [
    "bv", "integer", "const", "ULE", "ULT", "UGE", "UGT", "If", "And", "Or", "Not", "Implies",
    "in_range", "Proved", "Refuted", "Unknown", "Result", "prove",
    "enumerate_values", "value_ranges", "free_constants", "evaluate",
]

# Re-exported so that callers build terms without importing z3 themselves.
ULE, ULT, UGE, UGT = z3.ULE, z3.ULT, z3.UGE, z3.UGT
If, And, Or, Not, Implies = z3.If, z3.And, z3.Or, z3.Not, z3.Implies

DEFAULT_TIMEOUT_MS = 60_000


def _solve(s: z3.Solver):
    """``s.check()``, with Ctrl-C honoured at once.

    z3's own SIGINT handling is off (``ctrl_c``): it took the signal itself and
    answered ``unknown``, or lost it when the check finished anyway. The check
    runs in a worker thread instead (started with SIGINT blocked, so the signal
    always reaches this thread) while this thread waits: a Ctrl-C
    (KeyboardInterrupt, or a stop request of :mod:`rbmap.checker.interrupt`)
    interrupts z3's context, waits for the worker and raises Interrupted, never
    passing for a check z3 gave up on."""
    interrupt.check()
    s.set("ctrl_c", False)
    box: dict = {}
    done = threading.Event()

    def work():
        try:
            box["result"] = s.check()
        except z3.Z3Exception as exc:  # what an interrupted check may raise
            box["error"] = exc
        finally:
            done.set()

    # (waited for with an Event: Thread.join interrupted by KeyboardInterrupt can
    # mark a running thread as stopped)
    worker = threading.Thread(target=work, daemon=True)
    main = threading.current_thread() is threading.main_thread()
    with interrupt.on_request(s.ctx.interrupt):
        try:
            if main:
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    worker.start()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            else:
                worker.start()
            # a timed wait: the main thread then runs Python's signal handlers
            # even when the signal was delivered to another thread
            while not done.wait(0.1):
                pass
        except KeyboardInterrupt:
            while worker.ident is not None and not done.is_set():
                s.ctx.interrupt()
                try:
                    done.wait(0.1)
                except KeyboardInterrupt:
                    continue
            raise interrupt.Interrupted("z3 interrupted") from None
    interrupt.check()
    if "error" in box:
        raise box["error"]
    r = box["result"]
    if r == z3.unknown:
        reason = str(s.reason_unknown())
        if "interrupt" in reason or "cancel" in reason:
            raise interrupt.Interrupted(f"z3: {reason}")
    return r


def bv(name: str, bits: int = 64) -> z3.BitVecRef:
    """A free unsigned integer variable of ``bits`` bits."""
    return z3.BitVec(name, bits)


def integer(name: str) -> z3.ArithRef:
    """A free mathematical integer (for arithmetic a caller has shown does not
    wrap)."""
    return z3.Int(name)


def const(value: int, bits: int = 64) -> z3.BitVecRef:
    """The constant ``value`` as a ``bits``-bit vector (wrapped modulo 2**bits)."""
    return z3.BitVecVal(value, bits)


def in_range(x: z3.BitVecRef, lo: int, hi: int) -> z3.BoolRef:
    """``lo <= x <= hi``, unsigned."""
    return z3.And(z3.UGE(x, lo), z3.ULE(x, hi))


@dataclass(frozen=True)
class Proved:
    """The claim holds for every assignment the assumptions allow."""

    claim: str = ""
    holds = True


@dataclass(frozen=True)
class Refuted:
    """The claim fails; ``counterexample`` maps each variable name to its value."""

    claim: str = ""
    counterexample: dict = field(default_factory=dict)
    holds = False


@dataclass(frozen=True)
class Unknown:
    """z3 could not decide (``reason`` says why, usually a timeout)."""

    claim: str = ""
    reason: str = ""
    holds = None


Result = Union[Proved, Refuted, Unknown]


def _value(model: z3.ModelRef, term) -> int:
    v = model.eval(term, model_completion=True)
    if z3.is_bv_value(v) or z3.is_int_value(v):
        return v.as_long()
    if z3.is_true(v):
        return 1
    if z3.is_false(v):
        return 0
    raise TypeError(f"cannot read a value for {term} from the model: {v}")


def _counterexample(model: z3.ModelRef, variables: Sequence) -> dict:
    cex = {}
    for v in variables:
        label, term = v if isinstance(v, tuple) else (str(v), v)
        cex[label] = _value(model, term)
    return cex


def prove(claim: z3.BoolRef, *, assumptions: Iterable[z3.BoolRef] = (),
          variables: Sequence = (), minimize: Sequence = (), name: str = "",
          timeout_ms: int = DEFAULT_TIMEOUT_MS, split=None) -> Result:
    """Prove ``assumptions => claim`` for all values of the free constants.

    ``variables`` are the terms reported in a counterexample (by their z3 name, or
    a ``(label, term)`` pair to report a derived quantity).  ``minimize`` lists
    terms to minimise lexicographically in the counterexample (unsigned
    bit-vectors or integers bounded below by 0); minimising only runs on a
    refutation.

    ``split=(var, values)`` proves the claim once per value of ``var`` (which the
    assumptions must confine to ``values``; checked), with the value substituted:
    a shift by a symbolic amount becomes a shift by a constant, which is much
    cheaper to bit-blast.  The first value (in the given order) that refutes
    gives the counterexample.
    """
    assumptions = list(assumptions)
    if split is not None:
        var, values = split
        values = list(values)
        outside = prove(Or(*[var == v for v in values]), assumptions=assumptions,
                        variables=[var], timeout_ms=timeout_ms)
        if not isinstance(outside, Proved):
            raise ValueError(f"split: the assumptions let {var} take values outside "
                             f"{values}")
        labelled = [v_ if isinstance(v_, tuple) else (str(v_), v_) for v_ in variables]
        for v in values:
            val = z3.BitVecVal(v, var.size()) if z3.is_bv(var) else z3.IntVal(v)

            def fix(t):
                return z3.simplify(z3.substitute(t, (var, val)))
            r = prove(fix(claim), assumptions=[fix(a) for a in assumptions],
                      variables=[(lbl, fix(t)) for lbl, t in labelled],
                      minimize=[fix(m) for m in minimize if not m.eq(var)],
                      name=name, timeout_ms=timeout_ms)
            if not isinstance(r, Proved):
                return r
        return Proved(name)
    s = z3.Solver()
    s.set("timeout", int(timeout_ms))
    s.add(*assumptions)
    s.add(z3.Not(claim))
    r = _solve(s)
    if r == z3.unsat:
        return Proved(name)
    if r == z3.unknown:
        return Unknown(name, str(s.reason_unknown()))
    if minimize:
        # Lexicographic: the least first term, then the least second one given
        # the first, ... each found by bisection.
        fixed = assumptions + [z3.Not(claim)]
        for m in minimize:
            v = _min_value(m, fixed, 0, timeout_ms)
            fixed.append(m == v)
        s = z3.Solver()
        s.add(*fixed)
        _solve(s)
    return Refuted(name, _counterexample(s.model(), variables))


def evaluate(term, assignment: dict):
    """Evaluate ``term`` with its free constants replaced by ``assignment``
    (name -> int); returns a Python int or bool."""
    subs = []
    for c in free_constants(term):
        if c.decl().name() in assignment:
            subs.append((c, z3.BitVecVal(assignment[c.decl().name()], c.size())
                         if z3.is_bv(c) else z3.IntVal(assignment[c.decl().name()])))
    v = z3.simplify(z3.substitute(term, *subs)) if subs else z3.simplify(term)
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_bv_value(v) or z3.is_int_value(v):
        return v.as_long()
    raise ValueError(f"term still has free constants after substitution: {v}")


def free_constants(*terms) -> list:
    """The uninterpreted constants (free variables) occurring in ``terms``,
    in first-seen order."""
    seen, out, stack = set(), [], list(reversed(terms))
    while stack:
        t = stack.pop()
        if z3.is_const(t) and t.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            if t.get_id() not in seen:
                seen.add(t.get_id())
                out.append(t)
            continue
        stack.extend(reversed(t.children()))
    return out


def enumerate_values(formula: z3.BoolRef, var, *, assumptions: Iterable = (),
                     limit: int = 100, timeout_ms: int = DEFAULT_TIMEOUT_MS):
    """All values of ``var`` in assignments satisfying ``assumptions`` and
    ``formula``, found one by one with a blocking clause each.

    Returns ``(values, complete)``: ``values`` sorted; ``complete`` is False when
    the limit stopped the search before z3 reported no further value.
    """
    s = z3.Solver()
    s.set("timeout", int(timeout_ms))
    for a in assumptions:
        s.add(a)
    s.add(formula)
    values = []
    while len(values) < limit:
        r = _solve(s)
        if r == z3.unknown:
            raise TimeoutError(f"z3 gave up enumerating {var}: {s.reason_unknown()}")
        if r == z3.unsat:
            return sorted(values), True
        v = _value(s.model(), var)
        values.append(v)
        s.add(var != v)
    # The limit is reached: complete only if nothing else is possible.
    r = _solve(s)
    return sorted(values), r == z3.unsat


def _min_value(var, constraints, lo: int, timeout_ms):
    """The least value ``>= lo`` of ``var`` satisfying ``constraints`` (None if
    none), by galloping then bisection with an incremental solver: cheaper here
    than z3's optimiser, and exact (every bound tried is decided by the solver)."""
    s = z3.Solver()
    s.set("timeout", int(timeout_ms))
    s.add(*constraints)
    ge, le = ((z3.UGE, z3.ULE) if z3.is_bv(var) else
              (lambda a, b: a >= b, lambda a, b: a <= b))
    s.add(ge(var, lo))

    def check():
        r = _solve(s)
        if r == z3.unknown:
            raise TimeoutError(f"z3 gave up minimising {var}: {s.reason_unknown()}")
        return r == z3.sat

    if not check():
        return None
    best = _value(s.model(), var)
    # Gallop up from lo (small answers are common and cheap to confirm), then
    # bisect the last step.
    step = 0
    while lo < best:
        bound = min(lo + step, best - 1)
        s.push()
        s.add(le(var, bound))
        if check():
            best = _value(s.model(), var)
            s.pop()
            break
        s.pop()
        lo = bound + 1
        step = step * 2 + 1
    while lo < best:
        mid = (lo + best - 1) // 2
        s.push()
        s.add(le(var, mid))
        if check():
            best = _value(s.model(), var)
        else:
            lo = mid + 1
        s.pop()
    return best


def value_ranges(pred: z3.BoolRef, var: z3.BitVecRef, lo: int, hi: int, *,
                 assumptions: Iterable = (), limit: int = 1000,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS):
    """Maximal runs ``(first, last)`` of values ``lo <= var <= hi`` for which
    ``pred`` holds, in increasing order.

    ``pred`` and the assumptions must mention no free constant but ``var`` (so
    that "pred is false at v" is meaningful); a ValueError says otherwise.  Each
    run costs two minimisations.  Returns ``(runs, complete)``; ``complete`` is
    False when ``limit`` runs were found before reaching ``hi``.
    """
    assumptions = list(assumptions)
    others = [c for c in free_constants(pred, *assumptions) if not c.eq(var)]
    if others:
        raise ValueError(f"value_ranges: predicate depends on {others} besides {var}")
    runs, cursor = [], lo
    while cursor <= hi:
        if len(runs) >= limit:
            return runs, False
        first = _min_value(var, assumptions + [pred, z3.ULE(var, hi)], cursor,
                           timeout_ms)
        if first is None:
            break
        after = _min_value(var, assumptions + [z3.Not(pred), z3.ULE(var, hi)], first,
                           timeout_ms)
        last = hi if after is None else after - 1
        runs.append((first, last))
        cursor = last + 1
    return runs, True
