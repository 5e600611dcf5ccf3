"""Weak memory: decide litmus programs under the Linux kernel memory model, with z3.

An axiomatic checker: a litmus program (:mod:`rbmap.checker.litmus`) is turned into
*events* (each memory access and fence a thread can perform, with a symbolic
condition saying whether it happens), and z3 chooses an *execution*: which write
each read reads from (``rf``) and, per location, the order in which writes reach
memory (the coherence order ``co``).  ``fr`` (from-reads) is derived as
``rf^-1 ; co``.  The execution is allowed when it satisfies the axioms of the Linux
kernel memory model (LKMM, ``tools/memory-model/linux-kernel.cat``, ``lock.cat``,
``linux-kernel.bell``; definitions transcribed below, one Python line per ``let``,
with the .cat's names).  The verdict is herd7's:

- ``Never``: no allowed execution satisfies the condition;
- ``Sometimes``: some do, some do not;
- ``Always``: every allowed execution does;

and, when the condition is reachable, a *witness*: one allowed execution that
satisfies it (for ``forall``, one that does not), with every read's source write,
each location's coherence order and the final values.

How the encoding works: every relation is a map from event pairs to a z3 Boolean
(or ``True``); ``;`` (sequence), ``|``, ``&``, ``\\``, ``^-1``, ``[S]`` and ``?``
are computed entry by entry; ``r+`` and ``r*`` by repeated squaring (exact, not an
over-approximation, so differences and flags stay right); ``acyclic r`` by an
integer rank per event that ``r`` must increase.  Intermediate relations get named
Boolean constants so the formula stays linear in size.

What is modelled (the primitives are :data:`PRIMITIVES`):

- marked accesses: ``READ_ONCE``/``WRITE_ONCE`` ('once'), ``smp_load_acquire``,
  ``smp_store_release``, ``rcu_dereference``/``rcu_assign_pointer``,
  ``smp_store_mb``, the ``atomic_*``/``atomic_long_*`` family (plain, returning,
  fetch, ``_relaxed``/``_acquire``/``_release``, ``xchg``, ``cmpxchg``) with the
  events of ``Documentation/herd-representation.txt``: a value-returning RMW with
  full ordering is ``F[mb] R* W* F[mb]``, a void one ``R*[noreturn] W*``, and a
  *failing* ``cmpxchg`` of any flavour is a single ``R*[once]`` with no ordering;
- fences: ``smp_mb``, ``smp_rmb``, ``smp_wmb``, ``smp_mb__before_atomic``,
  ``smp_mb__after_atomic``, ``smp_mb__after_spinlock``,
  ``smp_mb__after_unlock_lock``, ``barrier``;
- locks (lock.cat): ``spin_lock``/``spin_unlock``/``spin_trylock``/
  ``spin_is_locked`` (and ``raw_``), as LKR/LKW/UL/LF/RL/RU events on the lock's
  word (0 unlocked, 1 locked: a lock-acquire reads 0 and writes 1 atomically);
- RCU: ``rcu_read_lock``/``rcu_read_unlock``/``synchronize_rcu`` with the cat's
  rcu-order, an exact least fixed point for the programs' sizes;
- plain C accesses (``*p``, ``*p = v``) with the cat's plain-access rules
  (plain-coherence) and its ``data-race`` flag;
- ``local_t`` (``local_read``, ``local_set``, ``local_inc``/``dec``/``add``/``sub``,
  ``local_*_return``, ``local_cmpxchg``, ``local_xchg``): LKMM has no local_t.
  ``local_t="relaxed"`` (default) gives each the *relaxed* event of its
  ``atomic_long_*`` counterpart: x86 and powerpc implement local_t without any
  barrier, which is the weakest any architecture gives, and local_t only promises
  atomicity against the same CPU.  ``local_t="generic"`` follows
  ``include/asm-generic/local.h`` (arm64, riscv): the ``atomic_long_*`` operation
  itself, so value-returning ones (``local_add_return``, ``local_cmpxchg``) are
  fully ordered;
- a system call boundary (``syscall()``, ``syscall_enter()``, ``syscall_exit()``):
  a full barrier, ``F[mb]`` (an assumption: ``syscall_barrier=False`` makes it no
  event at all, to check a pair both ways);
- user space, C11 (the subset): ``atomic_load_explicit`` with ``memory_order_relaxed``
  / ``_consume`` / ``_acquire``, ``atomic_store_explicit`` with ``_relaxed`` /
  ``_release``, ``atomic_thread_fence`` with ``_acquire`` / ``_release`` /
  ``_acq_rel`` / ``_seq_cst`` (and the ``__atomic_*_n`` builtins with
  ``__ATOMIC_*``).  Plain C loads are plain accesses.  seq_cst *accesses* are refused
  (they need C11's total order S, which LKMM has no counterpart for).

How user-space loads relate to kernel stores across the mapping: the mapped page
is the kernel's page; a user load and a kernel store to the same word are events
on one location, so they meet in one coherence order and one ``rf`` (the caches of
x86, arm64, riscv and powerpc are physically indexed: the two virtual addresses do
not alias; ``flush_dcache_folio``/``flush_kernel_vmap_range`` only matter on
aliasing caches, which this model does not cover).  User-space C11 orderings map
to LKMM events as the compilers' mappings map both to the same instructions
(arm64: relaxed = LDR/STR = READ_ONCE/WRITE_ONCE, acquire = LDAR/LDAPR =
smp_load_acquire, release = STLR = smp_store_release, seq_cst fence = DMB ISH =
smp_mb): relaxed = 'once', acquire load = 'acquire', release store = 'release',
seq_cst/acq_rel fence = ``F[mb]``.  C11's acquire fence orders earlier reads
before every later access (``[R] ; fencerel(acq-fence) ; [M]``, added to the
non-cumulative fences like ``acq-po``); its release fence makes every later store
a release for ordering (``[M] ; fencerel(rel-fence) ; [W]``, added where the .cat
has ``po-rel``, A-cumulative as lwsync/DMB are).  LKMM's release/acquire is
RCpc like ARMv8.3's LDAPR, so a C11 acquire compiled to either instruction is
covered.

Not modelled (refused with a reason): SRCU, loops, structs/arrays (name each
field as a location), mixed-size accesses, initial register values, ``filter``.
``ctrl`` goes from the reads an ``if`` condition depends on to the events
inside its arms, not to those after it (explanation.txt's definition).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Optional, Union

import z3

from .litmus import (AddrOf, Assign, Binary, Call, CondAnd, CondConst,
                     CondNot, CondOr, Decl, Deref, ExprStmt, If, Litmus, LitmusError,
                     Name, Num, Ternary, Unary, parse)

__all__ = ["check", "check_text", "states", "format_result", "LitmusResult",
           "LitmusIncomplete",
           "PRIMITIVES", "OPTIONS", "BREAKABLE"]

ADDR_BASE = 1 << 40            # location k has address ADDR_BASE + k
OPTIONS = {"local_t": ("relaxed", "generic"), "syscall_barrier": (True, False)}

Expr = Union[bool, z3.BoolRef]


# --- Boolean helpers that fold Python constants ----------------------------------------

# z3's Python And/Or/Not coerce every argument (a tenth of a millisecond each); the
# relations below build hundreds of thousands of them, so these go to the C API.
_CTX = z3.main_ctx()


def _mk(fn, xs):
    arr = (z3.Ast * len(xs))()
    for i, x in enumerate(xs):
        arr[i] = x.as_ast()
    return z3.BoolRef(fn(_CTX.ref(), len(xs), arr), _CTX)


def _fold(xs, absorbing: bool, fn) -> Expr:
    """And (absorbing False) or Or (absorbing True) of ``xs``, folding constants."""
    out = []
    for x in xs:
        if x is absorbing:
            return absorbing
        if x is not (not absorbing):
            out.append(x)
    if not out:
        return not absorbing
    return out[0] if len(out) == 1 else _mk(fn, out)


def AND(*xs) -> Expr:
    return _fold(xs, False, z3.Z3_mk_and)


def OR(xs) -> Expr:
    return _fold(xs, True, z3.Z3_mk_or)


def NOT(x) -> Expr:
    if x is True:
        return False
    if x is False:
        return True
    return z3.BoolRef(z3.Z3_mk_not(_CTX.ref(), x.as_ast()), _CTX)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# --- events ----------------------------------------------------------------------------

@dataclass
class Event:
    id: int
    kind: str                # "R", "W" or "F"
    thread: int              # -1 for the initial writes
    pos: int                 # program order within the thread
    tags: frozenset          # annotations (see _Exec)
    guard: Expr              # the event happens
    addr: object = None      # int address or z3 Int (memory events)
    val: object = None       # written value / the read's value
    label: str = ""
    line: int = 0
    rmw_set: bool = False    # an event of an atomic RMW instruction (the RMW set)


@dataclass
class _Val:
    """A register value: an int or z3 Int term, and the reads it depends on (event id
    -> the condition under which the dependency is real)."""
    expr: object
    deps: dict = field(default_factory=dict)


def _merge_deps(*ds) -> dict:
    out: dict = {}
    for d in ds:
        for k, c in d.items():
            out[k] = OR([out[k], c]) if k in out else c
    return out


def _guard_deps(d: dict, c) -> dict:
    return {k: AND(v, c) for k, v in d.items()}


# --- the primitives --------------------------------------------------------------------

# name -> (shape, arguments): see _Exec.call.  "lv" = an lvalue (*x), "p" = a pointer.
_LOADS = {
    "READ_ONCE": ("lv", "once"), "rcu_dereference": ("lv", "once"),
    "smp_load_acquire": ("p", "acquire"), "atomic_read": ("p", "once"),
    "atomic_read_acquire": ("p", "acquire"), "atomic_long_read": ("p", "once"),
    "atomic_long_read_acquire": ("p", "acquire"), "local_read": ("p", "once"),
}
_STORES = {
    "WRITE_ONCE": ("lv", "once"), "rcu_assign_pointer": ("lv", "release"),
    "smp_store_release": ("p", "release"), "atomic_set": ("p", "once"),
    "atomic_set_release": ("p", "release"), "atomic_long_set": ("p", "once"),
    "atomic_long_set_release": ("p", "release"), "local_set": ("p", "once"),
    "smp_store_mb": ("lv", "once+mb"),
}
_FENCES = {
    "smp_mb": "mb", "smp_rmb": "rmb", "smp_wmb": "wmb",
    "smp_mb__before_atomic": "before-atomic", "smp_mb__after_atomic": "after-atomic",
    "smp_mb__after_spinlock": "after-spinlock",
    "smp_mb__after_unlock_lock": "after-unlock-lock", "barrier": "barrier",
    "rcu_read_lock": "rcu-lock", "rcu_read_unlock": "rcu-unlock",
    "synchronize_rcu": "sync-rcu", "synchronize_rcu_expedited": "sync-rcu",
    "syscall": "syscall", "syscall_enter": "syscall", "syscall_exit": "syscall",
}
_ORDERS = {"": "mb", "_relaxed": "once", "_acquire": "acquire", "_release": "release"}
_C11_ORDERS = {
    "memory_order_relaxed": "relaxed", "memory_order_consume": "acquire",
    "memory_order_acquire": "acquire", "memory_order_release": "release",
    "memory_order_acq_rel": "acq_rel", "memory_order_seq_cst": "seq_cst",
    "__ATOMIC_RELAXED": "relaxed", "__ATOMIC_CONSUME": "acquire",
    "__ATOMIC_ACQUIRE": "acquire", "__ATOMIC_RELEASE": "release",
    "__ATOMIC_ACQ_REL": "acq_rel", "__ATOMIC_SEQ_CST": "seq_cst",
}
_UNSUPPORTED = {
    "srcu_read_lock": "SRCU is not modelled", "srcu_read_unlock": "SRCU is not modelled",
    "srcu_down_read": "SRCU is not modelled", "srcu_up_read": "SRCU is not modelled",
    "synchronize_srcu": "SRCU is not modelled",
    "synchronize_srcu_expedited": "SRCU is not modelled",
    "smp_mb__after_srcu_read_unlock": "SRCU is not modelled",
    "atomic_load": "C11 seq_cst accesses are outside the supported C11 subset "
                   "(relaxed/acquire loads, relaxed/release stores, fences)",
    "atomic_store": "C11 seq_cst accesses are outside the supported C11 subset "
                    "(relaxed/acquire loads, relaxed/release stores, fences)",
}


def _rmw_table() -> dict:
    """name -> (operands, op, result, order); operands: "VX" (value, pointer), "X",
    "XV", "XON" (cmpxchg); result: None (void), "old", "new", "zero" (new == 0),
    "neg" (new < 0); order: mb / once / acquire / release / local / local-void."""
    t: dict = {}
    for fam in ("atomic", "atomic_long"):
        for op, sym in (("add", "+"), ("sub", "-"), ("and", "&"), ("or", "|"),
                        ("xor", "^")):
            t[f"{fam}_{op}"] = ("VX", sym, None, "noreturn")
        t[f"{fam}_inc"] = ("X", "+", None, "noreturn")
        t[f"{fam}_dec"] = ("X", "-", None, "noreturn")
        for suf, order in _ORDERS.items():
            for op, sym in (("add", "+"), ("sub", "-")):
                t[f"{fam}_{op}_return{suf}"] = ("VX", sym, "new", order)
                t[f"{fam}_fetch_{op}{suf}"] = ("VX", sym, "old", order)
            for op, sym in (("inc", "+"), ("dec", "-")):
                t[f"{fam}_{op}_return{suf}"] = ("X", sym, "new", order)
                t[f"{fam}_fetch_{op}{suf}"] = ("X", sym, "old", order)
            for op, sym in (("and", "&"), ("or", "|"), ("xor", "^")):
                t[f"{fam}_fetch_{op}{suf}"] = ("VX", sym, "old", order)
            t[f"{fam}_xchg{suf}"] = ("XV", "=", "old", order)
            t[f"{fam}_cmpxchg{suf}"] = ("XON", "cas", "old", order)
        t[f"{fam}_sub_and_test"] = ("VX", "-", "zero", "mb")
        t[f"{fam}_dec_and_test"] = ("X", "-", "zero", "mb")
        t[f"{fam}_inc_and_test"] = ("X", "+", "zero", "mb")
        t[f"{fam}_add_negative"] = ("VX", "+", "neg", "mb")
        # conditional: add A unless the value is U (herd's __atomic_add_unless)
        t[f"{fam}_add_unless"] = ("XAU", "unless", "ok", "mb")
        t[f"{fam}_inc_not_zero"] = ("X", "unless", "ok", "mb")
    for suf, order in _ORDERS.items():
        t[f"xchg{suf}"] = ("XV", "=", "old", order)
        t[f"cmpxchg{suf}"] = ("XON", "cas", "old", order)
    # local_t (see the module docstring)
    for op, sym in (("add", "+"), ("sub", "-")):
        t[f"local_{op}"] = ("VX", sym, None, "local-void")
        t[f"local_{op}_return"] = ("VX", sym, "new", "local")
    for op, sym in (("inc", "+"), ("dec", "-")):
        t[f"local_{op}"] = ("X", sym, None, "local-void")
        t[f"local_{op}_return"] = ("X", sym, "new", "local")
    t["local_cmpxchg"] = ("XON", "cas", "old", "local")
    t["local_xchg"] = ("XV", "=", "old", "local")
    t["local_sub_and_test"] = ("VX", "-", "zero", "local")
    t["local_dec_and_test"] = ("X", "-", "zero", "local")
    t["local_inc_and_test"] = ("X", "+", "zero", "local")
    t["local_add_negative"] = ("VX", "+", "neg", "local")
    return t


_RMW = _rmw_table()
_LOCKS = {"spin_lock": "lock", "spin_unlock": "unlock", "spin_trylock": "trylock",
          "spin_is_locked": "islocked", "raw_spin_lock": "lock",
          "raw_spin_unlock": "unlock", "raw_spin_trylock": "trylock",
          "raw_spin_is_locked": "islocked"}
_C11 = {"atomic_load_explicit": "load", "atomic_store_explicit": "store",
        "atomic_thread_fence": "fence", "__atomic_load_n": "load",
        "__atomic_store_n": "store", "__atomic_thread_fence": "fence"}

PRIMITIVES = sorted(set(_LOADS) | set(_STORES) | set(_FENCES) | set(_RMW) | set(_LOCKS)
                    | set(_C11))


# --- symbolic execution of the threads -------------------------------------------------

class _Exec:
    """Turns a litmus program into events, dependencies and value constraints."""

    def __init__(self, lit: Litmus, local_t: str, syscall_barrier: bool,
                 broken: frozenset = frozenset()):
        self.broken = broken
        self.lit = lit
        self.local_t = local_t
        self.syscall_barrier = syscall_barrier
        self.locs = lit.locations()
        self.loc_index = {n: i for i, n in enumerate(self.locs)}
        self.events: list[Event] = []
        self.constraints: list = []
        self.data: dict = {}      # (read, write) -> condition
        self.addr: dict = {}      # (read, access) -> condition
        self.ctrl: dict = {}      # (read, event) -> condition
        self.rmw: dict = {}       # (read, write) -> condition
        self.final_regs: list[dict] = []
        self._fresh = itertools.count()
        init = dict(lit.init)
        for name in self.locs:
            v = init.get(name, 0)
            if isinstance(v, str):
                if v not in self.loc_index:
                    raise LitmusError(f"initial value of {name}: {v} is not a location")
                v = ADDR_BASE + self.loc_index[v]
            self._event("W", -1, frozenset({"IW"}), True, ADDR_BASE + self.loc_index[name],
                        v, f"init {name}={init.get(name, 0)}", 0)
        for t in lit.threads:
            self._thread(t)

    # events
    def _event(self, kind, thread, tags, guard, addr=None, val=None, label="", line=0,
               rmw_set=False) -> Event:
        pos = sum(1 for e in self.events if e.thread == thread)
        e = Event(len(self.events), kind, thread, pos, frozenset(tags), guard, addr, val,
                  label, line, rmw_set)
        self.events.append(e)
        return e

    def _read_var(self, thread: int):
        return z3.Int(f"v{thread}_{next(self._fresh)}")

    # threads
    def _thread(self, t) -> None:
        self.tid = t.index
        self.env: dict[str, _Val] = {}
        self.params = {}
        for ctype, name in t.params:
            self.params[name] = ADDR_BASE + self.loc_index[name]
        self.ctrl_deps: dict = {}
        self._block(t.body, True)
        self.final_regs.append({k: v.expr for k, v in self.env.items()})

    def _block(self, stmts, guard) -> None:
        for s in stmts:
            self._stmt(s, guard)

    def _stmt(self, s, guard) -> None:
        self.line, self.src = s.line, s.src
        if isinstance(s, Decl):
            if s.name in self.params:
                raise LitmusError(f"{s.name} is a parameter (a shared location), not a "
                                  "register", s.line)
            self.env[s.name] = self._eval(s.init, guard) if s.init is not None else _Val(0)
        elif isinstance(s, Assign):
            if isinstance(s.target, Name):
                if s.target.name in self.params or (
                        s.target.name in self.loc_index and s.target.name not in self.env):
                    raise LitmusError(f"{s.target.name} is a shared location: store to it "
                                      f"with WRITE_ONCE(*{s.target.name}, v) or "
                                      f"*{s.target.name} = v", s.line)
                self.env[s.target.name] = self._eval(s.value, guard)
            else:
                a = self._eval(s.target.arg, guard)
                v = self._eval(s.value, guard)
                self._write(a, v, guard, set(), self.src)
        elif isinstance(s, ExprStmt):
            self._eval(s.expr, guard)
        elif isinstance(s, If):
            c = self._eval(s.cond, guard)
            cb = self._truth(c.expr)
            g_then, g_else = AND(guard, cb), AND(guard, NOT(cb))
            saved_env, saved_ctrl = dict(self.env), self.ctrl_deps
            self.ctrl_deps = _merge_deps(saved_ctrl, c.deps)
            self._block(s.then, g_then)
            env_then = self.env
            self.env = dict(saved_env)
            self._block(s.other, g_else)
            env_else = self.env
            # a control dependency reaches the events inside the arms only, not
            # those after the if (explanation.txt, and its authors on the list:
            # "If Y follows the end of the if/else ... it does not have a control
            # dependency on X", A. Stern, Aug 2022)
            self.ctrl_deps = saved_ctrl
            merged = {}
            for k in set(env_then) | set(env_else):
                a = env_then.get(k, saved_env.get(k, _Val(0)))
                b = env_else.get(k, saved_env.get(k, _Val(0)))
                if a is b:
                    merged[k] = a
                    continue
                expr = a.expr if _same(a.expr, b.expr) else z3.If(cb, _z(a.expr), _z(b.expr))
                merged[k] = _Val(expr, _merge_deps(_guard_deps(a.deps, cb),
                                                   _guard_deps(b.deps, NOT(cb))))
            self.env = {k: merged[k] for k in sorted(merged)}
        else:  # pragma: no cover - the parser makes nothing else
            raise LitmusError(f"unsupported statement {s!r}", getattr(s, "line", None))

    @staticmethod
    def _truth(x):
        return x != 0 if _is_int(x) else (x != 0)

    # accesses
    def _check_addr(self, a: _Val, what: str):
        if _is_int(a.expr):
            k = a.expr - ADDR_BASE
            if not 0 <= k < len(self.locs):
                raise LitmusError(f"{what}: {a.expr} is not the address of a location",
                                  self.line)
        return a.expr

    def _deps_to(self, e: Event, addr: _Val, data: Optional[_Val]) -> None:
        for r, c in addr.deps.items():
            self.addr[(r, e.id)] = OR([self.addr.get((r, e.id), False), c])
        if data is not None:
            for r, c in data.deps.items():
                self.data[(r, e.id)] = OR([self.data.get((r, e.id), False), c])
        for r, c in self.ctrl_deps.items():
            self.ctrl[(r, e.id)] = OR([self.ctrl.get((r, e.id), False), c])

    def _read(self, a: _Val, guard, tags, label, rmw_set=False, var=None) -> tuple:
        addr = self._check_addr(a, "a load")
        v = var if var is not None else self._read_var(self.tid)
        e = self._event("R", self.tid, tags, guard, addr, v, label, self.line, rmw_set)
        self._deps_to(e, a, None)
        return e, _Val(v, {e.id: True})

    def _write(self, a: _Val, v: _Val, guard, tags, label, rmw_set=False) -> Event:
        addr = self._check_addr(a, "a store")
        e = self._event("W", self.tid, tags, guard, addr, v.expr, label, self.line, rmw_set)
        self._deps_to(e, a, v)
        return e

    def _fence(self, tag: str, guard, label: str) -> None:
        e = self._event("F", self.tid, {tag}, guard, label=label, line=self.line)
        for r, c in self.ctrl_deps.items():
            self.ctrl[(r, e.id)] = OR([self.ctrl.get((r, e.id), False), c])

    # expressions
    def _eval(self, x, guard) -> _Val:
        if isinstance(x, Num):
            return _Val(x.value)
        if isinstance(x, Name):
            if x.name in self.env:
                return self.env[x.name]
            if x.name in self.params:
                return _Val(self.params[x.name])
            if x.name in _C11_ORDERS:
                raise LitmusError(f"{x.name} outside a C11 call", self.line)
            raise LitmusError(f"unknown name {x.name} (declare registers; shared "
                              "locations are the thread's pointer parameters)", self.line)
        if isinstance(x, AddrOf):
            if x.name not in self.loc_index:
                raise LitmusError(f"&{x.name}: not a location", self.line)
            return _Val(ADDR_BASE + self.loc_index[x.name])
        if isinstance(x, Deref):
            a = self._eval(x.arg, guard)
            return self._read(a, guard, set(), self.src)[1]
        if isinstance(x, Unary):
            a = self._eval(x.arg, guard)
            return _Val(_unop(x.op, a.expr), a.deps)
        if isinstance(x, Binary):
            if x.op in ("&&", "||"):
                # C's short circuit: the right side's accesses happen only when needed
                a = self._eval(x.left, guard)
                ta = self._truth(a.expr)
                b = self._eval(x.right, AND(guard, ta if x.op == "&&" else NOT(ta)))
                tb = self._truth(b.expr)
                res = AND(ta, tb) if x.op == "&&" else OR([ta, tb])
                return _Val(_bool_int(res), _merge_deps(a.deps, b.deps))
            a = self._eval(x.left, guard)
            b = self._eval(x.right, guard)
            return _Val(_binop(x.op, a.expr, b.expr, self.line), _merge_deps(a.deps, b.deps))
        if isinstance(x, Ternary):
            c = self._eval(x.cond, guard)
            tc = self._truth(c.expr)
            a = self._eval(x.then, AND(guard, tc))
            b = self._eval(x.other, AND(guard, NOT(tc)))
            if tc is True:
                return _Val(a.expr, _merge_deps(c.deps, a.deps))
            if tc is False:
                return _Val(b.expr, _merge_deps(c.deps, b.deps))
            return _Val(z3.If(tc, _z(a.expr), _z(b.expr)),
                        _merge_deps(c.deps, _guard_deps(a.deps, tc),
                                    _guard_deps(b.deps, NOT(tc))))
        if isinstance(x, Call):
            return self.call(x, guard)
        raise LitmusError(f"unsupported expression {x!r}", self.line)

    def _lvalue(self, x, guard, fname) -> _Val:
        if isinstance(x, Deref):
            return self._eval(x.arg, guard)
        raise LitmusError(f"{fname}: the first argument is a location, written *x",
                          self.line)

    def _arity(self, c: Call, n: int) -> None:
        if len(c.args) != n:
            raise LitmusError(f"{c.func} takes {n} argument(s), {len(c.args)} given",
                              self.line)

    def call(self, c: Call, guard) -> _Val:
        f = c.func
        label = self.src
        if f in _UNSUPPORTED:
            raise LitmusError(f"{f}: {_UNSUPPORTED[f]}", self.line)
        if f in _LOADS:
            self._arity(c, 1)
            shape, ann = _LOADS[f]
            a = self._lvalue(c.args[0], guard, f) if shape == "lv" else \
                self._eval(c.args[0], guard)
            return self._read(a, guard, {ann}, label)[1]
        if f in _STORES:
            self._arity(c, 2)
            shape, ann = _STORES[f]
            a = self._lvalue(c.args[0], guard, f) if shape == "lv" else \
                self._eval(c.args[0], guard)
            v = self._eval(c.args[1], guard)
            self._write(a, v, guard, {ann.split("+")[0]}, label)
            if ann.endswith("+mb"):
                self._fence("mb", guard, label)
            return _Val(0)
        if f in _FENCES:
            self._arity(c, 0)
            tag = _FENCES[f]
            if tag == "syscall":
                if self.syscall_barrier:
                    self._fence("mb", guard, label)
                return _Val(0)
            self._fence(tag, guard, label)
            return _Val(0)
        if f in _RMW:
            return self._rmw(c, guard, *_RMW[f])
        if f in _LOCKS:
            return self._lock(c, guard, _LOCKS[f])
        if f in _C11:
            return self._c11(c, guard, _C11[f])
        raise LitmusError(f"{f}() is not a primitive rbmap knows (see rbmap litmus "
                          "--primitives)", self.line)

    def _order(self, order: str, result) -> str:
        if order == "local-void":
            return "noreturn"
        if order == "local":
            return "mb" if self.local_t == "generic" else "once"
        return order

    def _rmw(self, c: Call, guard, operands, op, result, order) -> _Val:
        label = self.src
        self._arity(c, len(operands))
        args = dict(zip(operands, c.args))
        order = self._order(order, result)
        a = self._eval(args["X"], guard)
        if "V" in operands:
            operand = self._eval(args["V"], guard)
        elif "N" in operands:
            operand = self._eval(args["N"], guard)
        elif "A" in operands:
            operand = self._eval(args["A"], guard)
        else:
            operand = _Val(1)
        old = self._eval(args["O"], guard) if "O" in operands else None
        unless = self._eval(args["U"], guard) if "U" in operands else _Val(0)
        v = self._read_var(self.tid)
        if op == "cas":
            success = v == _z(old.expr)
        elif op == "unless":
            success = v != _z(unless.expr)
        else:
            success = True
        conditional = op in ("cas", "unless")
        g_ok = AND(guard, success)
        g_fail = AND(guard, NOT(success))
        fence_guard = guard if "failing-cmpxchg-ordered" in self.broken else g_ok
        # events (Documentation/herd-representation.txt)
        r_tags_ok = {"noreturn"} if order == "noreturn" else \
            {"acquire"} if order == "acquire" else {"once"}
        w_tags = {"release"} if order == "release" else {"once"}
        if order == "mb":
            self._fence("mb", fence_guard, label)
        reads = []
        if conditional and r_tags_ok != {"once"}:
            # success and failure read with different annotations: two events, one
            # happens (both read the same value)
            r_ok, _ = self._read(a, g_ok, r_tags_ok, label, True, var=v)
            r_fail, _ = self._read(a, g_fail, {"once"}, label + " (fails)", True, var=v)
            reads = [r_ok, r_fail]
        else:
            r_ok, _ = self._read(a, guard, r_tags_ok, label, True, var=v)
            reads = [r_ok]
        new = _apply(op, v, operand.expr)
        w = self._write(a, _Val(new, operand.deps), g_ok, w_tags, label, True)
        if "rmw-atomic-values" not in self.broken:
            self.rmw[(r_ok.id, w.id)] = g_ok
        if order == "mb":
            self._fence("mb", fence_guard, label)
        deps = {r.id: True for r in reads}
        if result is None:
            return _Val(0)
        if result == "old":
            return _Val(v, deps)
        if result == "new":
            return _Val(new, deps)
        if result == "ok":
            return _Val(_bool_int(success), deps)
        if result == "zero":
            return _Val(_bool_int(new == 0 if not _is_int(new) else new == 0), deps)
        return _Val(_bool_int(new < 0), deps)

    def _lock(self, c: Call, guard, kind) -> _Val:
        label = self.src
        self._arity(c, 1)
        a = self._eval(c.args[0], guard)
        if kind == "unlock":
            self._write(a, _Val(0), guard, {"UL"}, label)
            return _Val(0)
        if kind == "islocked":
            _, v = self._read(a, guard, {"RL/RU"}, label)
            return _Val(_bool_int(v.expr != 0), v.deps)
        v = self._read_var(self.tid)
        if kind == "lock":
            r, _ = self._read(a, guard, {"LKR"}, label, var=v)
            if "lock-reads-unlocked" not in self.broken:
                self.constraints.append(z3.Implies(_b(guard), v == 0))
            w = self._write(a, _Val(1), guard, {"LKW"}, label)
            self.rmw[(r.id, w.id)] = guard
            return _Val(0)
        # trylock: LKR + LKW when the lock was free, LF otherwise
        free = v == 0
        g_ok, g_fail = AND(guard, free), AND(guard, NOT(free))
        r, _ = self._read(a, g_ok, {"LKR"}, label, var=v)
        self._read(a, g_fail, {"LF"}, label + " (fails)", var=v)
        w = self._write(a, _Val(1), g_ok, {"LKW"}, label)
        self.rmw[(r.id, w.id)] = g_ok
        return _Val(_bool_int(free), {r.id: True})

    def _c11(self, c: Call, guard, kind) -> _Val:
        label = self.src
        n = {"load": 2, "store": 3, "fence": 1}[kind]
        self._arity(c, n)
        mo_arg = c.args[-1]
        if not isinstance(mo_arg, Name) or mo_arg.name not in _C11_ORDERS:
            raise LitmusError(f"{c.func}: the last argument is a memory order "
                              "(memory_order_relaxed, ...)", self.line)
        mo = _C11_ORDERS[mo_arg.name]
        if kind == "fence":
            tag = {"relaxed": None, "acquire": "c11-acq-fence",
                   "release": "c11-rel-fence", "acq_rel": "mb", "seq_cst": "mb"}[mo]
            if tag:
                self._fence(tag, guard, label)
            return _Val(0)
        a = self._eval(c.args[0], guard)
        if kind == "load":
            if mo not in ("relaxed", "acquire"):
                raise LitmusError(f"{c.func} with {mo_arg.name}: only relaxed, consume "
                                  "and acquire loads are in the supported C11 subset",
                                  self.line)
            return self._read(a, guard, {"once" if mo == "relaxed" else "acquire"},
                              label)[1]
        if mo not in ("relaxed", "release"):
            raise LitmusError(f"{c.func} with {mo_arg.name}: only relaxed and release "
                              "stores are in the supported C11 subset", self.line)
        v = self._eval(c.args[1], guard)
        self._write(a, v, guard, {"once" if mo == "relaxed" else "release"}, label)
        return _Val(0)


def _z(x):
    return z3.IntVal(x) if _is_int(x) else x


def _b(x):
    return z3.BoolVal(x) if isinstance(x, bool) else x


def _same(a, b) -> bool:
    if _is_int(a) and _is_int(b):
        return a == b
    if _is_int(a) or _is_int(b):
        return False
    return a.eq(b)


def _bool_int(c):
    if c is True:
        return 1
    if c is False:
        return 0
    return z3.If(c, z3.IntVal(1), z3.IntVal(0))


def _unop(op, a):
    if _is_int(a):
        return {"-": -a, "!": int(a == 0), "~": ~a}[op]
    if op == "-":
        return -a
    if op == "!":
        return z3.If(a == 0, z3.IntVal(1), z3.IntVal(0))
    raise LitmusError("~ on a value read from memory is not supported (integers are "
                      "unbounded here)")


def _binop(op, a, b, line):
    if _is_int(a) and _is_int(b):
        if op in ("/", "%") and b == 0:
            raise LitmusError("division by zero", line)
        return {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
            "/": lambda: int(a / b), "%": lambda: a - b * int(a / b),
            "<<": lambda: a << b, ">>": lambda: a >> b,
            "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
            "==": lambda: int(a == b), "!=": lambda: int(a != b),
            "<": lambda: int(a < b), "<=": lambda: int(a <= b),
            ">": lambda: int(a > b), ">=": lambda: int(a >= b),
        }[op]()
    za, zb = _z(a), _z(b)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return _bool_int({"==": za == zb, "!=": za != zb, "<": za < zb, "<=": za <= zb,
                          ">": za > zb, ">=": za >= zb}[op])
    if op in ("+", "-", "*"):
        return {"+": za + zb, "-": za - zb, "*": za * zb}[op]
    if op in ("&", "|", "^", "<<", ">>", "/", "%"):
        # bit operations on values read from memory: exact over the small non-negative
        # values litmus programs use, via 32-bit vectors
        ba, bb = z3.Int2BV(za, 32), z3.Int2BV(zb, 32)
        r = {"&": lambda: ba & bb, "|": lambda: ba | bb, "^": lambda: ba ^ bb,
             "<<": lambda: ba << bb, ">>": lambda: z3.LShR(ba, bb),
             "/": lambda: z3.UDiv(ba, bb), "%": lambda: z3.URem(ba, bb)}[op]()
        return z3.BV2Int(r)
    raise LitmusError(f"operator {op} is not supported", line)


def _apply(op, old, operand):
    if op == "=":
        return operand
    if op == "cas":
        return operand
    if op == "unless":
        return _binop("+", old, operand, 0)
    return _binop(op, old, operand, 0)


# --- relations -------------------------------------------------------------------------

class Rel(dict):
    """A relation over events: (a, b) -> condition (True or a z3 Boolean)."""

    def __or__(self, other):
        out = Rel(self)
        for k, v in other.items():
            out[k] = OR([out[k], v]) if k in out else v
        return out

    def __and__(self, other):
        out = Rel()
        for k, v in self.items():
            if k in other:
                c = AND(v, other[k])
                if c is not False:
                    out[k] = c
        return out

    def __sub__(self, other):
        out = Rel()
        for k, v in self.items():
            c = AND(v, NOT(other[k])) if k in other else v
            if c is not False:
                out[k] = c
        return out

    def inv(self):
        return Rel({(b, a): v for (a, b), v in self.items()})

    def seq(self, other):
        by_src = defaultdict(list)
        for (a, b), v in other.items():
            by_src[a].append((b, v))
        acc = defaultdict(list)
        for (a, k), v in self.items():
            for b, w in by_src.get(k, ()):
                acc[(a, b)].append(AND(v, w))
        out = Rel()
        for k, vs in acc.items():
            c = OR(vs)
            if c is not False:
                out[k] = c
        return out

    def dom(self, s):
        return Rel({k: v for k, v in self.items() if k[0] in s})

    def rng(self, s):
        return Rel({k: v for k, v in self.items() if k[1] in s})

    def filter(self, pred):
        return Rel({k: v for k, v in self.items() if pred(*k)})


# Parts of the model a test can switch off, one at a time, to show that some
# litmus program notices (tests/test_litmus_teeth.py).  Never used otherwise.
BREAKABLE = ("coherence", "atomic", "happens-before", "propagation", "rcu",
             "plain-coherence", "wmb", "rmb", "mb", "acq-po", "po-rel", "ctrl", "addr",
             "data", "a-cumul", "rmw-sequence", "po-unlock-lock-po", "carry-dep",
             "lock-reads-unlocked", "failing-cmpxchg-ordered", "rmw-atomic-values")


class _Model:
    """The LKMM axioms over one program's events, in z3."""

    def __init__(self, ex: _Exec, broken: frozenset = frozenset()):
        self.ex = ex
        self.broken = broken
        self.ev = ex.events
        self.solver = z3.Solver()
        self.solver.set("random_seed", 0)
        self._names = itertools.count()
        self._atoms: set = set()          # ids of Boolean constants (no need to name)
        for c in ex.constraints:
            self.solver.add(c)
        self._build()

    # naming keeps the formula linear: every derived relation's entries become
    # Boolean constants defined by their expressions
    def name(self, r: Rel, tag: str) -> Rel:
        out = Rel()
        ctx = _CTX.ref()
        sort = z3.BoolSort(_CTX).ast
        solver = self.solver.solver
        for k, v in r.items():
            if v is True or v.get_id() in self._atoms:
                out[k] = v
                continue
            b = z3.BoolRef(z3.Z3_mk_fresh_const(ctx, tag, sort), _CTX)
            self._atoms.add(b.get_id())
            z3.Z3_solver_assert(ctx, solver, z3.Z3_mk_eq(ctx, b.as_ast(), v.as_ast()))
            out[k] = b
        return out

    def ident(self, s) -> Rel:
        return Rel({(i, i): self.ev[i].guard for i in s})

    def opt(self, r: Rel, s=None) -> Rel:
        return r | self.ident(self.all if s is None else s)

    def plus(self, r: Rel, tag: str) -> Rel:
        c = self.name(r, tag)
        nodes = {a for a, _ in c} | {b for _, b in c}
        steps = 1
        while steps < len(nodes):
            c = self.name(c | c.seq(c), tag)
            steps *= 2
        return c

    def star(self, r: Rel, tag: str) -> Rel:
        return self.opt(self.plus(r, tag))

    def acyclic(self, r: Rel, tag: str) -> None:
        rank = {}
        for (a, b), v in r.items():
            if a == b:
                self.solver.add(NOT(v) if v is not True else z3.BoolVal(False))
                continue
            for x in (a, b):
                if x not in rank:
                    rank[x] = z3.Int(f"rank_{tag}_{x}")
            self.solver.add(z3.Implies(_b(v), rank[a] < rank[b]))

    def empty(self, r: Rel) -> None:
        for v in r.values():
            self.solver.add(_b(NOT(v)))

    def irreflexive(self, r: Rel) -> None:
        for (a, b), v in r.items():
            if a == b:
                self.solver.add(_b(NOT(v)))

    # the model
    def _build(self) -> None:
        ev = self.ev
        n = len(ev)
        self.all = set(range(n))
        S = lambda pred: {e.id for e in ev if pred(e)}
        has = lambda tag: S(lambda e: tag in e.tags)
        # sets (linux-kernel.bell, lock.cat)
        R = S(lambda e: e.kind == "R")
        W = S(lambda e: e.kind == "W")
        M = R | W
        F = S(lambda e: e.kind == "F")
        IW = has("IW")
        LKR, LKW, UL, LF = has("LKR"), has("LKW"), has("UL"), has("LF")
        RLRU = has("RL/RU")
        Once, Acquire0, Release0 = has("once"), has("acquire"), has("release")
        Noreturn = has("noreturn")
        Acquire = Acquire0 | LKR
        Release = Release0 | UL
        RMW = S(lambda e: e.rmw_set)
        rmw = Rel(self.ex.rmw)
        rmw_dom = {a for a, _ in rmw}
        rmw_rng = {b for _, b in rmw}
        Marked = F | IW | Once | Release | Acquire | rmw_dom | rmw_rng | LKR | LKW | UL \
            | LF | RLRU | Noreturn
        Plain = M - Marked
        fence = lambda t: has(t)
        self.sets = dict(R=R, W=W, M=M, F=F, Marked=Marked, Plain=Plain)
        # po, int/ext, loc
        po = Rel()
        by_thread = defaultdict(list)
        for e in ev:
            by_thread[e.thread].append(e)
        for t, es in by_thread.items():
            if t < 0:
                continue
            for i, a in enumerate(es):
                for b in es[i + 1:]:
                    c = AND(a.guard, b.guard)
                    if c is not False:
                        po[(a.id, b.id)] = c
        internal = lambda a, b: ev[a].thread == ev[b].thread and ev[a].thread >= 0
        external = lambda a, b: not internal(a, b)

        def same_loc(a, b):
            x, y = ev[a].addr, ev[b].addr
            if _is_int(x) and _is_int(y):
                return x == y
            return _z(x) == _z(y)

        loc = Rel()
        for a in M:
            for b in M:
                c = same_loc(a, b)
                if c is False:
                    continue
                c = AND(ev[a].guard, ev[b].guard, c)
                if c is not False:
                    loc[(a, b)] = c
        self.loc = loc
        po_loc = po & loc
        # rf: a choice per read
        rf = Rel()
        self.rf_vars = {}
        for r in sorted(R):
            er = ev[r]
            cands = []
            for w in sorted(W):
                ew = ev[w]
                if same_loc(r, w) is False:
                    continue
                if ew.thread == er.thread and ew.pos > er.pos:
                    continue          # a read never reads a po-later write (coherence)
                v = z3.Bool(f"rf_{w}_{r}")
                self.rf_vars[(w, r)] = v
                cands.append(v)
                self.solver.add(z3.Implies(v, _b(AND(ew.guard, er.guard,
                                                     same_loc(r, w),
                                                     _z(ew.val) == er.val))))
                rf[(w, r)] = v
            self.solver.add(z3.Implies(_b(er.guard), z3.Or(*cands) if cands else
                                       z3.BoolVal(False)))
            if len(cands) > 1:
                self.solver.add(z3.AtMost(*cands, 1))
        # co: a clock per write; the initial write first
        self.clock = {}
        for w in sorted(W):
            if w in IW:
                self.clock[w] = z3.IntVal(0)
            else:
                self.clock[w] = z3.Int(f"clk_{w}")
                self.solver.add(self.clock[w] >= 1)
        co = Rel()
        ws = sorted(W)
        for i, a in enumerate(ws):
            for b in ws[i + 1:]:
                sl = same_loc(a, b)
                if sl is False:
                    continue
                both = AND(ev[a].guard, ev[b].guard, sl)
                if a in IW and b in IW:
                    continue
                self.solver.add(z3.Implies(_b(both), self.clock[a] != self.clock[b]))
                co[(a, b)] = AND(both, self.clock[a] < self.clock[b])
                co[(b, a)] = AND(both, self.clock[b] < self.clock[a])
        co = self.name(Rel({k: v for k, v in co.items() if v is not False}), "co")
        fr = self.name(rf.inv().seq(co), "fr")
        self.co, self.rf = co, rf
        rfe, rfi = rf.filter(external), rf.filter(internal)
        coe, fre = co.filter(external), fr.filter(external)
        # dependencies (linux-kernel.bell: carried through plain accesses by rfi)
        data, addr, ctrl = (Rel() if k in self.broken else Rel(d) for k, d in (
            ("data", self.ex.data), ("addr", self.ex.addr), ("ctrl", self.ex.ctrl)))
        for r in (data, addr, ctrl):     # only between events that happen
            for (a, b) in list(r):
                r[(a, b)] = AND(r[(a, b)], ev[a].guard, ev[b].guard)
        if data and rfi and "carry-dep" not in self.broken:
            carry = self.star(data.seq(rfi), "carry-dep")
            addr, ctrl, data = carry.seq(addr), carry.seq(ctrl), carry.seq(data)
        # --- linux-kernel.cat ---
        # coherence
        com = rf | co | fr
        if "coherence" not in self.broken:
            self.acyclic(po_loc | com, "coherence")
        # atomic
        if "atomic" not in self.broken:
            self.empty(rmw & fre.seq(coe))
        # release/acquire, fences
        acq_po = po.dom(Acquire).rng(M) if "acq-po" not in self.broken else Rel()
        po_rel = po.dom(M).rng(Release) if "po-rel" not in self.broken else Rel()
        po_unlock_lock_po = po.rng(UL).seq((po | rf).rng(LKR)).seq(po) if UL and LKR \
            and "po-unlock-lock-po" not in self.broken else Rel()

        def fencerel(s):
            return po.rng(s).seq(po) if s else Rel()
        R4rmb = R - Noreturn
        rmb = fencerel(fence("rmb")).dom(R4rmb).rng(R4rmb)
        wmb = fencerel(fence("wmb")).dom(W).rng(W)
        mb = fencerel(fence("mb")).dom(M).rng(M)
        rmb = Rel() if "rmb" in self.broken else rmb
        wmb = Rel() if "wmb" in self.broken else wmb
        mb = Rel() if "mb" in self.broken else mb
        if fence("before-atomic"):
            mb = mb | fencerel(fence("before-atomic")).dom(M).rng(RMW).seq(
                self.opt(po)).rng(M)
        if fence("after-atomic"):
            mb = mb | self.opt(po).dom(M).rng(RMW).seq(fencerel(fence("after-atomic"))).rng(M)
        if fence("after-spinlock"):
            mb = mb | self.opt(po).dom(M).rng(LKW).seq(
                fencerel(fence("after-spinlock"))).rng(M)
        if fence("after-unlock-lock"):
            mb = mb | po_unlock_lock_po.dom(M).rng(fence("after-unlock-lock")).seq(po).rng(M)
        mb = self.name(mb, "mb")
        gp = po.rng(fence("sync-rcu")).seq(self.opt(po)) if fence("sync-rcu") else Rel()
        strong_fence = mb | gp
        # C11 fences (user space; see the module docstring)
        acq_fence = fencerel(fence("c11-acq-fence")).dom(R).rng(M)
        rel_fence = fencerel(fence("c11-rel-fence")).dom(M).rng(W)
        nonrw_fence = strong_fence | po_rel | acq_po | acq_fence | rel_fence
        fence_rel = self.name(nonrw_fence | wmb | rmb, "fence")
        # preserved program order
        dep = addr | data
        rwdep = (dep | ctrl).rng(W)
        overwrite = co | fr
        to_w = rwdep | overwrite.filter(internal) | addr.rng(Plain).seq(wmb)
        to_r = addr.rng(R) | dep.rng(Marked).seq(rfi)
        ppo = to_r | to_w | fence_rel.filter(internal) | po_unlock_lock_po.filter(internal)
        # propagation
        def a_cumul(r):
            if "a-cumul" in self.broken:
                return r
            return self.opt(rfe.rng(Marked)).seq(r)
        rmw_sequence = self.star(rf.seq(rmw), "rmw-seq") if rmw and \
            "rmw-sequence" not in self.broken else self.ident(self.all)
        cumul_fence = self.name(
            (a_cumul(strong_fence | po_rel | rel_fence) | wmb | po_unlock_lock_po)
            .dom(Marked).rng(Marked).seq(rmw_sequence), "cumul-fence")
        cumul_star = self.star(cumul_fence, "cumul-fence*")
        prop = self.name(
            self.opt(overwrite.filter(external)).dom(Marked).seq(cumul_star).rng(Marked)
            .seq(self.opt(rfe)).rng(Marked), "prop")
        # happens-before
        hb = self.name((ppo | rfe | (prop - self.ident(self.all)).filter(internal))
                       .dom(Marked).rng(Marked), "hb")
        if "happens-before" not in self.broken:
            self.acyclic(hb, "hb")
        hb_star = self.star(hb, "hb*")
        # propagation
        pb = self.name(prop.seq(strong_fence).seq(hb_star).rng(Marked), "pb")
        if "propagation" not in self.broken:
            self.acyclic(pb, "pb")
        # RCU
        rcu_fence = Rel()
        rb = Rel()
        if fence("sync-rcu") or fence("rcu-lock"):
            pb_star = self.star(pb, "pb*")
            rcu_fence, rb = self._rcu(po, hb_star, pb_star, prop, fence)
            if "rcu" not in self.broken:
                self.irreflexive(rb)
        fence_all = fence_rel | rcu_fence
        strong_all = strong_fence | rcu_fence
        # plain accesses and data races
        self.race = Rel()
        if Plain:
            self._plain(po, rf, co, fr, rfe, hb, pb, rb, addr, fence_all, strong_all,
                        nonrw_fence, cumul_star, rmw_sequence, fencerel, Marked, Plain,
                        R4rmb, Noreturn, R, W, M, IW, external)
        self.relations = dict(po=po, rf=rf, co=co, fr=fr, hb=hb, pb=pb)

    def _rcu(self, po, hb_star, pb_star, prop, fence):
        ev = self.ev
        # rcu-rscs: match rcu_read_lock/unlock pairs per thread (nesting)
        pairs = Rel()
        by_thread = defaultdict(list)
        for e in ev:
            if e.tags & {"rcu-lock", "rcu-unlock"}:
                by_thread[e.thread].append(e)
        for es in by_thread.values():
            stack = []
            for e in es:
                if "rcu-lock" in e.tags:
                    stack.append(e)
                elif stack:
                    lk = stack.pop()
                    pairs[(lk.id, e.id)] = AND(lk.guard, e.guard)
                else:
                    raise LitmusError(f"line {e.line}: rcu_read_unlock without "
                                      "rcu_read_lock")
            if stack:
                raise LitmusError(f"line {stack[-1].line}: rcu_read_lock without "
                                  "rcu_read_unlock")
        rscsi = pairs.inv()
        gp = self.ident(fence("sync-rcu"))
        link = self.name(self.opt(po).seq(hb_star).seq(pb_star).seq(prop).seq(po),
                         "rcu-link")
        # rcu-order: its least fixed point, iterated (each round can only add a
        # derivation with more grace periods and critical sections, so the number of
        # both bounds the rounds)
        order = Rel()
        rounds = len(fence("sync-rcu")) + len(pairs) + 1
        for _ in range(rounds):
            new = gp | gp.seq(link).seq(rscsi) | rscsi.seq(link).seq(gp) \
                | gp.seq(link).seq(order).seq(link).seq(rscsi) \
                | rscsi.seq(link).seq(order).seq(link).seq(gp) \
                | order.seq(link).seq(order)
            order = self.name(new, "rcu-order")
        rcu_fence = self.name(po.seq(order).seq(self.opt(po)), "rcu-fence")
        rb = prop.seq(rcu_fence).seq(hb_star).seq(pb_star).rng(self.sets["Marked"])
        return rcu_fence, rb

    def _plain(self, po, rf, co, fr, rfe, hb, pb, rb, addr, fence_all, strong_all,
               nonrw_fence, cumul_star, rmw_sequence, fencerel, Marked, Plain, R4rmb,
               Noreturn, R, W, M, IW, external):
        notNoreturn = self.all - Noreturn
        xbstar = self.star(hb | pb | rb, "xb*")
        internal = lambda a, b: not external(a, b)
        vis = self.name(cumul_star.seq(self.opt(rfe)).rng(Marked).seq(
            strong_all.rng(Marked).seq(xbstar) | xbstar.filter(internal)), "vis")
        rmb_fr = fencerel(self.ex_fence("rmb"))
        w_pre = self.opt(addr | fence_all).dom(Marked)
        r_pre = self.opt(addr | nonrw_fence | rmb_fr.dom(R4rmb).rng(notNoreturn)).dom(Marked)
        w_post = self.opt(fence_all).rng(Marked).seq(rmw_sequence)
        r_post = self.opt(nonrw_fence | rmb_fr.dom(notNoreturn).rng(R4rmb)).rng(Marked)
        ww_vis = self.name(fence_all | strong_all.seq(xbstar).seq(w_pre)
                           | w_post.seq(vis).seq(w_pre), "ww-vis")
        wr_vis = self.name(fence_all | strong_all.seq(xbstar).seq(r_pre)
                           | w_post.seq(vis).seq(r_pre), "wr-vis")
        rw_xbstar = self.name(fence_all | r_post.seq(xbstar).seq(w_pre), "rw-xbstar")
        allM = Rel({(a, b): AND(self.ev[a].guard, self.ev[b].guard)
                    for a in M for b in M})
        pre_race = (allM.dom(Plain) | allM.dom(M - IW).rng(Plain)).filter(external)
        wr_incoh = pre_race & rf & rw_xbstar.inv()
        rw_incoh = pre_race & fr & wr_vis.inv()
        ww_incoh = pre_race & co & ww_vis.inv()
        if "plain-coherence" not in self.broken:
            self.empty(wr_incoh | rw_incoh | ww_incoh)
        # the data-race flag
        allMW = Rel({(a, b): AND(self.ev[a].guard, self.ev[b].guard)
                     for a in M for b in M})
        ww_nonrace = ww_vis & (allMW.dom(Marked).rng(W) | rw_xbstar) & \
            (allMW.dom(W).rng(Marked) | wr_vis)
        ww_race = (pre_race & co) - ww_nonrace
        wr_race = ((pre_race & self.opt(co).seq(rf)) - wr_vis) - rw_xbstar.inv()
        rw_race = (pre_race & fr) - rw_xbstar
        self.race = ww_race | wr_race | rw_race

    def ex_fence(self, tag):
        return {e.id for e in self.ev if tag in e.tags}


# --- the condition, the verdict, the witness --------------------------------------------

def _final_values(m: _Model) -> dict:
    """location name -> a z3 Int constrained to the value of its co-last write."""
    ex, ev = m.ex, m.ev
    out = {}
    for k, name in enumerate(ex.locs):
        fv = z3.Int(f"final_{name}")
        A = ADDR_BASE + k
        for w in (e for e in ev if e.kind == "W"):
            at = w.addr == A if _is_int(w.addr) else (w.addr == A)
            if at is False:
                continue
            later = [v for (a, b), v in m.co.items() if a == w.id]
            last = AND(w.guard, at, *[NOT(v) for v in later])
            m.solver.add(z3.Implies(_b(last), fv == _z(w.val)))
        out[name] = fv
    return out


def _cond_expr(c, regs: list, finals: dict, loc_index: dict):
    if isinstance(c, CondConst):
        return z3.BoolVal(c.value)
    if isinstance(c, CondNot):
        return z3.Not(_cond_expr(c.arg, regs, finals, loc_index))
    if isinstance(c, CondAnd):
        return z3.And(*[_cond_expr(a, regs, finals, loc_index) for a in c.args])
    if isinstance(c, CondOr):
        return z3.Or(*[_cond_expr(a, regs, finals, loc_index) for a in c.args])
    value = ADDR_BASE + loc_index[c.value] if isinstance(c.value, str) else c.value
    if c.thread is None:
        left = finals[c.name]
    else:
        left = _z(regs[c.thread].get(c.name, 0))
    e = left == value
    return z3.Not(e) if c.negated else e


@dataclass
class LitmusResult:
    """What :func:`check` decided for one program."""
    name: str
    verdict: str                 # Never / Sometimes / Always
    expected: Optional[str]      # from the file's "Result:" line
    quantifier: str
    condition: str
    validated: bool              # herd's Ok: the quantified condition holds
    witness: Optional[dict]      # one execution (see _witness), or None
    flags: list                  # e.g. ["data-race"]
    events: int
    seconds: float
    options: dict
    no_execution: bool = False   # no allowed execution at all (herd: Never 0 0)
    expected_race: bool = False  # the Result line says DATARACE
    race: Optional[list] = None  # two racing accesses of one allowed execution

    @property
    def agrees(self) -> Optional[bool]:
        """Whether the verdict is the file's stated Result (judgelitmus.sh's rule:
        DEADLOCK = no allowed execution; the data-race flag must be raised exactly
        when the Result line says DATARACE)."""
        if self.expected is None:
            return None
        if self.expected == "DEADLOCK":
            return self.no_execution
        return self.expected == self.verdict and \
            self.expected_race == ("data-race" in self.flags)

    def to_json(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "expected": self.expected,
                "expected_race": self.expected_race, "no_execution": self.no_execution,
                "agrees": self.agrees, "condition": self.condition,
                "validated": self.validated, "witness": self.witness,
                "flags": self.flags, "race": self.race, "events": self.events,
                "seconds": round(self.seconds, 3), "options": self.options}


def check_text(text: str, **options) -> LitmusResult:
    return check(parse(text), **options)


class LitmusIncomplete(LitmusError):
    """z3 did not decide within the time limit: no verdict."""


def check(lit: Litmus, local_t: str = "relaxed", syscall_barrier: bool = True,
          flags: bool = True, broken: frozenset = frozenset(),
          time_limit: Optional[float] = None) -> LitmusResult:
    """Decide ``lit`` under LKMM; see the module docstring for the options.
    ``time_limit`` (seconds) bounds each z3 query: past it, LitmusIncomplete.
    ``broken`` (tests only) switches off parts of the model, see BREAKABLE."""
    unknown = set(broken) - set(BREAKABLE)
    if unknown:
        raise LitmusError(f"unknown model parts {sorted(unknown)}")
    if local_t not in OPTIONS["local_t"]:
        raise LitmusError(f"local_t must be one of {OPTIONS['local_t']}")
    t0 = time.perf_counter()
    ex = _Exec(lit, local_t, syscall_barrier, frozenset(broken))
    m = _Model(ex, frozenset(broken))
    finals = _final_values(m)
    cond = _cond_expr(lit.condition, ex.final_regs, finals, ex.loc_index)
    s = m.solver
    if time_limit is not None:
        s.set("timeout", max(1, int(time_limit * 1000)))
    if lit.filter is not None:
        s.add(_cond_expr(lit.filter, ex.final_regs, finals, ex.loc_index))
    s.push()
    s.add(cond)
    r_pos = s.check()
    model_pos = s.model() if r_pos == z3.sat else None
    s.pop()
    s.push()
    s.add(z3.Not(cond))
    r_neg = s.check()
    model_neg = s.model() if r_neg == z3.sat else None
    s.pop()
    if z3.unknown in (r_pos, r_neg):
        raise LitmusIncomplete(f"z3 did not decide it ({s.reason_unknown()})")
    none = r_pos == z3.unsat and r_neg == z3.unsat
    verdict = "Never" if r_pos == z3.unsat else "Always" if r_neg == z3.unsat else \
        "Sometimes"
    if lit.quantifier == "exists":
        validated = verdict != "Never"
    elif lit.quantifier == "~exists":
        validated = verdict == "Never"
    else:
        validated = verdict == "Always"
    wmodel = model_neg if lit.quantifier == "forall" else model_pos
    witness = _witness(m, wmodel, finals, lit) if wmodel is not None else None
    found = []
    race = None
    if (flags or lit.expected_race) and m.race and not none:
        s.push()
        s.add(z3.Or(*[_b(v) for v in m.race.values()]))
        if s.check() == z3.sat:
            found.append("data-race")
            mod = s.model()
            a, b = next((k for k, v in sorted(m.race.items())
                         if v is True or z3.is_true(mod.eval(v, model_completion=True))))
            race = [{"id": e.id, "thread": e.thread, "line": e.line, "code": e.label}
                    for e in (ex.events[a], ex.events[b])]
        s.pop()
    return LitmusResult(lit.name, verdict, lit.expected, lit.quantifier,
                        lit.condition_text(), validated, witness, found, len(ex.events),
                        time.perf_counter() - t0,
                        {"local_t": local_t, "syscall_barrier": syscall_barrier},
                        none, lit.expected_race, race)


def states(lit: Litmus, local_t: str = "relaxed", syscall_barrier: bool = True,
           limit: int = 10_000, broken: frozenset = frozenset()) -> list[dict]:
    """Every final state the allowed executions reach (herd7's "States"): each a
    dict ``{"T:reg": value, "loc": value}`` over every register and location,
    sorted.  Enumerated by blocking each state found; at most ``limit``."""
    ex = _Exec(lit, local_t, syscall_barrier, frozenset(broken))
    m = _Model(ex, frozenset(broken))
    finals = _final_values(m)
    s = m.solver
    if lit.filter is not None:
        s.add(_cond_expr(lit.filter, ex.final_regs, finals, ex.loc_index))
    terms = []
    for t, regs in enumerate(ex.final_regs):
        for k in sorted(regs):
            terms.append((f"{t}:{k}", _z(regs[k])))
    for name in ex.locs:
        terms.append((name, finals[name]))
    out = []
    while len(out) < limit and s.check() == z3.sat:
        mod = s.model()
        vals = {k: mod.eval(t, model_completion=True).as_long() for k, t in terms}
        out.append(vals)
        s.add(z3.Or(*[t != vals[k] for k, t in terms]))
    return sorted(out, key=lambda d: sorted(d.items()))


def _witness(m: _Model, model, finals: dict, lit: Litmus) -> dict:
    ex, ev = m.ex, m.ev

    def val(x):
        if _is_int(x):
            return x
        return model.eval(_z(x), model_completion=True).as_long()

    def happens(e):
        return e.guard is True or z3.is_true(model.eval(_b(e.guard), model_completion=True))

    def show(v):
        if ADDR_BASE <= v < ADDR_BASE + len(ex.locs):
            return "&" + ex.locs[v - ADDR_BASE]
        return v

    def where(e):
        return ex.locs[val(e.addr) - ADDR_BASE]

    names = {}
    for e in ev:
        if e.thread < 0:
            names[e.id] = f"init {where(e)}"
    events = []
    for e in ev:
        if e.thread < 0 or not happens(e):
            continue
        tags = sorted(e.tags)
        if "RL/RU" in e.tags:      # spin_is_locked: RL when it saw the lock held
            tags = ["RL" if val(e.val) != 0 else "RU"]
        kind = e.kind + ("[" + ",".join(tags) + "]" if tags else "[plain]")
        item = {"id": e.id, "thread": e.thread, "kind": kind, "line": e.line,
                "code": e.label}
        if e.kind in "RW":
            item["location"] = where(e)
            item["value"] = show(val(e.val))
        if e.kind == "R":
            src = next((w for (w, r), v in m.rf_vars.items()
                        if r == e.id and z3.is_true(model.eval(v, model_completion=True))),
                       None)
            item["reads_from"] = names.get(src) or f"e{src}"
            item["reads_from_id"] = src
        names.setdefault(e.id, f"e{e.id}")
        events.append(item)
    co = {}
    for k, name in enumerate(ex.locs):
        ws = [e for e in ev if e.kind == "W" and happens(e) and val(e.addr) == ADDR_BASE + k]
        ws.sort(key=lambda e: val(m.clock[e.id]))
        co[name] = [{"write": names[e.id] if e.thread < 0 else f"e{e.id}",
                     "value": show(val(e.val))} for e in ws]
    final = {name: show(model.eval(finals[name], model_completion=True).as_long())
             for name in ex.locs}
    regs = []
    for t, rs in enumerate(ex.final_regs):
        regs.append({k: show(val(v)) for k, v in sorted(rs.items())})
    return {"events": events, "coherence": co, "final": final, "registers": regs}


# --- text -------------------------------------------------------------------------------

def format_result(r: LitmusResult, width: int = 80) -> str:
    """The verdict and the witness as plain text, at most ``width`` columns."""
    lines = [_clip(f"{r.name}: {r.condition}", width)]
    herd = "Ok" if r.validated else "No"
    head = f"{r.verdict}"
    if r.no_execution:
        head += " (no allowed execution at all)"
    if r.expected is not None:
        exp = r.expected + (" DATARACE" if r.expected_race else "")
        head += f" (expected {exp}: " + ("agrees" if r.agrees else "DISAGREES") + ")"
    head += f"  [herd: {herd}]"
    lines.append(head)
    if r.flags:
        lines.append("flag: " + ", ".join(r.flags) + " (LKMM: plain accesses race in "
                     "some allowed execution)")
        for e in r.race or ():
            lines.append(_clip(f"  P{e['thread']} line {e['line']}: {e['code']}", width))
    w = r.witness
    if w is not None:
        what = "violates the condition" if r.quantifier == "forall" else \
            "reaches the condition"
        lines.append(f"witness: an allowed execution that {what}")
        ids = {}
        for e in w["events"]:
            ids[e["id"]] = f"e{e['id']}"
        thread = None
        for e in w["events"]:
            lead = f"P{e['thread']}" if e["thread"] != thread else ""
            thread = e["thread"]
            access = ""
            if "location" in e:
                access = f"{e['location']}={e['value']}"
            if "reads_from" in e:
                src = e["reads_from"]
                access += " (init)" if src.startswith("init") else f" (from {src})"
            left = f"  {lead:<3} e{e['id']:<3} {e['kind']:<14} {access:<22} "
            lines.append(_clip(left + e["code"], width))
        co = "; ".join(f"{loc}: " + " -> ".join(
            ("init" if x["write"].startswith("init") else x["write"]) + f"={x['value']}"
            for x in ws) for loc, ws in w["coherence"].items() if len(ws) > 1)
        if co:
            lines += _wrap_text("coherence: " + co, width, "  ")
        final = " ".join(f"{k}={v}" for k, v in w["final"].items())
        regs = "; ".join(f"P{t}: " + " ".join(f"{k}={v}" for k, v in rs.items())
                         for t, rs in enumerate(w["registers"]) if rs)
        lines += _wrap_text("final: " + final + (f"; {regs}" if regs else ""), width, "  ")
    opts = r.options
    lines.append(f"{r.events} events, {r.seconds:.2f} s (LKMM; local_t "
                 f"{opts['local_t']}; syscall "
                 f"{'= smp_mb' if opts['syscall_barrier'] else 'no barrier'})")
    return "\n".join(lines)


def _clip(s: str, width: int) -> str:
    return s if len(s) <= width else s[:width - 3] + "..."


def _wrap_text(s: str, width: int, indent: str) -> list:
    import textwrap
    return textwrap.wrap(s, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False) or [indent]
