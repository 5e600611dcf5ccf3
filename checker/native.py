"""The compiled engine: a step machine's steps as C, explored natively.

:func:`check` explores a :class:`~rbmap.checker.steps.StepMachine` with the
machine's steps and properties translated to C (from the tree of
:mod:`rbmap.checker.stepcode`) and compiled together with the generic explorer
``native_engine.c``, and returns the same :class:`CheckResult` as
:func:`rbmap.checker.check_bfs`: the same state ids, depths, verdicts and
shortest paths (a path's actions are rebuilt by the interpreted engine, which
also checks that both engines list the same successors along it).

Build: the C is generated from the machine at its configuration (the sizes are
constants), so it is built when a machine is first explored, with the C
compiler of the machine (``$CC``, else ``cc``/``gcc``/``clang``), into a cache
(``$RBMAP_CACHE``, else ``~/.cache/rbmap``; ``native/<hash>.so``): nothing is
compiled at install time, and a second run of the same configuration loads the
library it built before (a build takes a fraction of a second). Without a
compiler :func:`check` falls back to the interpreted explorer and says so in
one line on stderr; ``RBMAP_ENGINE=interpreted`` asks for that explicitly.

State packing: every slot takes the bits its range needs, packed into 64-bit
words (a slot never straddles two words); the visited set stores the words.

Why C through ctypes (measured on the benchmark ring, N=4 V=5 D=3, 1,017,752
states, on this 2-core machine): generated C built with gcc explored 5.0-5.2M
states/s and builds in 0.2-1.1 s (once, cached); the same search under numba
ran 3.6-4.1M states/s but compiled for 4.5-5 s in every process (generated code
does not cache) and needs llvmlite and numpy; cffi's API mode needs the Python
headers and took 0.9 s more to build what ctypes loads directly. ctypes is in
the standard library: nothing to install, and ctypes releases the GIL during
a search slice, so threads and progress reports work.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from bisect import bisect_right
from pathlib import Path as FsPath
from time import perf_counter, process_time
from typing import Any

from . import progress as progress_module
from .path import NondeterminismError, Path
from .progress import ProgressLine, progress_reporter
from .bfs import _verdict
from .properties import ALWAYS, DEADLOCK, DEADLOCK_DOC, EVENTUALLY, SOMETIMES
from .result import CheckResult, PropertyResult
from .stepcode import (Assign, Binary, BoolOp, Break, Call, CallStmt, Changed, Compare,
                       Cond, Const, Continue, For, If, Local, MinMax, Read, ReadElem,
                       Require, Return, Table, Unary, While)
from .steps import StepError

__all__ = ["check", "notice", "compile_machine", "NativeModel", "NativeExploration", "NoCompiler",
           "compiler", "generate_c", "Packing", "engine_choice", "is_built"]

ENGINE_C = FsPath(__file__).with_name("native_engine.c")
CFLAGS = ["-O2", "-std=gnu11", "-shared", "-fPIC", "-w"]


class NoCompiler(RuntimeError):
    """No working C compiler: the compiled engine is not available."""


# ------------------------------------------------------------------ packing
class Packing:
    """Where each slot of a layout lives in the packed words.

    Slots are placed first-fit in declaration order; ``word[i]``, ``shift[i]``,
    ``mask[i]`` and ``lo[i]`` locate slot ``i``.
    """

    def __init__(self, layout):
        self.layout = layout
        free: list[int] = []            # bits left in each word
        self.word, self.shift, self.mask, self.lo = [], [], [], []
        for s in layout.slots:
            bits = s.bits
            if bits > 64:
                raise StepError(f"slot {s.name}: {s.lo}..{s.hi} needs {bits} bits; "
                                "the compiled engine packs at most 64")
            for k, left in enumerate(free):
                if left >= bits:
                    break
            else:
                free.append(64)
                k = len(free) - 1
            self.word.append(k)
            self.shift.append(64 - free[k])
            free[k] -= bits
            self.mask.append((1 << bits) - 1)
            self.lo.append(s.lo)
        self.words = len(free)
        self.bits = sum(s.bits for s in layout.slots)
        self._fields = list(zip(self.word, self.shift, self.mask, self.lo))

    def pack(self, t) -> list[int]:
        out = [0] * self.words
        for (k, sh, _, lo), v in zip(self._fields, t):
            out[k] |= (v - lo) << sh
        return out

    def unpack(self, words) -> tuple:
        return tuple(((words[k] >> sh) & m) + lo for k, sh, m, lo in self._fields)


# ------------------------------------------------------------------ C text
_CMP = {"==", "!=", "<", "<=", ">", ">="}
_PLAIN = {"+", "-", "*", "&", "|", "^"}
_CALLS = {"//": "rb_floordiv", "%": "rb_mod", "<<": "rb_shl", ">>": "rb_shr"}


class _CGen:
    """Prints the tree of a machine as C."""

    def __init__(self, code, packing: Packing):
        self.code = code
        self.p = packing
        self.layout = code.machine.layout
        self.tables: dict[tuple, str] = {}
        self.ntemp = 0
        self.out: list[str] = []

    # -- expressions -----------------------------------------------------------
    def read(self, slot, buf: str) -> str:
        i = slot.index
        k, sh, m, lo = self.p.word[i], self.p.shift[i], self.p.mask[i], self.p.lo[i]
        x = f"{buf}[{k}]" if sh == 0 else f"({buf}[{k}] >> {sh})"
        x = f"(int64_t)({x} & {m}ULL)" if m != (1 << 64) - 1 else f"(int64_t){x}"
        return f"({x} + {lo}LL)" if lo else x

    def table(self, values: tuple) -> str:
        name = self.tables.get(values)
        if name is None:
            name = self.tables[values] = f"rb_tab{len(self.tables)}"
        return name

    def e(self, x, buf: str) -> str:
        if isinstance(x, Const):
            v = x.value
            if not -(1 << 63) <= v < (1 << 63):
                raise StepError(f"constant {v} does not fit 64 bits")
            return f"{v}LL" if v >= -(1 << 62) else f"({v + 1}LL - 1)"
        if isinstance(x, Read):
            return self.read(x.slot, buf)
        if isinstance(x, ReadElem):
            return f"rd_{x.array}(c, {buf}, {self.e(x.index, buf)})"
        if isinstance(x, Local):
            return f"L_{x.name}"
        if isinstance(x, Unary):
            op = "!" if x.op == "not" else x.op
            return f"({op}({self.e(x.a, buf)}))"
        if isinstance(x, Binary):
            a, b = self.e(x.a, buf), self.e(x.b, buf)
            if x.op in _PLAIN:
                return f"({a} {x.op} {b})"
            return f"{_CALLS[x.op]}(c, {a}, {b})"
        if isinstance(x, Compare):
            return f"({self.e(x.a, buf)} {x.op} {self.e(x.b, buf)})"
        if isinstance(x, BoolOp):
            op = " && " if x.op == "and" else " || "
            return "(" + op.join(f"({self.e(i, buf)} != 0)" if not _boolish(i) else
                                 self.e(i, buf) for i in x.items) + ")"
        if isinstance(x, Cond):
            return f"({self.e(x.test, buf)} ? {self.e(x.a, buf)} : {self.e(x.b, buf)})"
        if isinstance(x, MinMax):
            self.ntemp += 1
            t = self.ntemp
            names = [f"m{t}_{i}" for i in range(len(x.items))]
            decl = "; ".join(f"int64_t {n} = {self.e(i, buf)}" for n, i in zip(names, x.items))
            acc = names[0]
            cmp = "<" if x.op == "min" else ">"
            for n in names[1:]:
                acc = f"({n} {cmp} {acc} ? {n} : {acc})"
            return f"({{ {decl}; {acc}; }})"
        if isinstance(x, Table):
            return f"{self.table(x.values)}(c, {self.e(x.index, buf)})"
        if isinstance(x, Call):
            return self.call(x, buf)
        if isinstance(x, Changed):
            return f"(memcmp({buf}, src, sizeof(uint64_t) * RB_W) != 0)"
        raise StepError(f"internal: cannot print {x!r} as C")

    def call(self, x: Call, buf: str) -> str:
        args = ["c"]
        if x.fn.uses_state:
            args.append(f"(uint64_t *){buf}" if buf == "src" else buf)
        if x.fn.uses_source:
            args.append("src")
        args += [self.e(a, buf) for a in x.args]
        return f"{x.fn.name}({', '.join(args)})"

    # -- statements ------------------------------------------------------------
    def write(self, target, value: str, ind: str, buf: str) -> list[str]:
        if isinstance(target, Local):
            return [f"{ind}L_{target.name} = {value};"]
        if isinstance(target, Read):
            sl = target.slot
            i = sl.index
            k, sh, m, lo = self.p.word[i], self.p.shift[i], self.p.mask[i], self.p.lo[i]
            span = sl.hi - sl.lo
            clear = f"~({m}ULL << {sh})" if sh else f"~{m}ULL"
            put = f"((uint64_t)(v_ - {lo}LL) << {sh})" if sh else f"(uint64_t)(v_ - {lo}LL)"
            return [f"{ind}{{ int64_t v_ = {value};",
                    f"{ind}  if ((uint64_t)(v_ - {lo}LL) > {span}ULL) rb_bad_value(c, {i}, v_);",
                    f"{ind}  else {buf}[{k}] = ({buf}[{k}] & {clear}) | {put}; }}"]
        if isinstance(target, ReadElem):
            return [f"{ind}wr_{target.array}(c, {buf}, {self.e(target.index, buf)}, {value});"]
        raise StepError(f"internal: cannot assign to {target!r}")

    def stmts(self, body, ind: str, buf: str, done: str) -> list[str]:
        out: list[str] = []
        for st in body:
            out += self.stmt(st, ind, buf, done)
        return out

    def stmt(self, st, ind: str, buf: str, done: str) -> list[str]:
        if isinstance(st, Assign):
            return self.write(st.target, self.e(st.value, buf), ind, buf)
        if isinstance(st, If):
            out = [f"{ind}if ({self.e(st.test, buf)}) {{"]
            out += self.stmts(st.body, ind + "    ", buf, done)
            if st.orelse:
                out.append(f"{ind}}} else {{")
                out += self.stmts(st.orelse, ind + "    ", buf, done)
            out.append(f"{ind}}}")
            return out
        if isinstance(st, For):
            self.ntemp += 1
            k, end = f"k{self.ntemp}", f"e{self.ntemp}"
            cmp = "<" if st.step > 0 else ">"
            out = [f"{ind}for (int64_t {k} = {self.e(st.start, buf)}, {end} = "
                   f"{self.e(st.stop, buf)}; {k} {cmp} {end} && !c->err; {k} += {st.step}) {{",
                   f"{ind}    L_{st.var} = {k};"]
            out += self.stmts(st.body, ind + "    ", buf, done)
            out.append(f"{ind}}}")
            return out
        if isinstance(st, While):
            out = [f"{ind}while (({self.e(st.test, buf)}) && !c->err) {{"]
            out += self.stmts(st.body, ind + "    ", buf, done)
            out.append(f"{ind}}}")
            return out
        if isinstance(st, Break):
            return [f"{ind}break;"]
        if isinstance(st, Continue):
            return [f"{ind}continue;"]
        if isinstance(st, Return):
            if st.value is None:
                return [f"{ind}return 0;" if done == "rb_never" else f"{ind}goto {done};"]
            return [f"{ind}return {self.e(st.value, buf)};"]
        if isinstance(st, CallStmt):
            return [f"{ind}{self.call(st.call, buf)};"]
        if isinstance(st, Require):     # a late guard: not enabled after all
            return [f"{ind}if (!({self.e(st.test, buf)}) || c->err) goto "
                    f"{done.replace('done', 'skip')};"]
        raise StepError(f"internal: cannot print {st!r} as C")

    # -- functions ---------------------------------------------------------------
    def locals_decl(self, names, ind: str, skip=()) -> list[str]:
        names = [n for n in dict.fromkeys(names) if n not in skip]
        if not names:
            return []
        return [f"{ind}int64_t " + ", ".join(f"L_{n} = 0" for n in names) + ";"]

    def accessors(self) -> list[str]:
        out = []
        for name, elems in self.layout.arrays.items():
            n = len(elems)
            first = elems[0]
            idx = [e.index for e in elems]
            words = ", ".join(str(self.p.word[i]) for i in idx)
            shifts = ", ".join(str(self.p.shift[i]) for i in idx)
            m, lo, span = self.p.mask[idx[0]], first.lo, first.hi - first.lo
            slots = ", ".join(str(i) for i in idx)
            out += [
                f"static const uint32_t rb_{name}_k[{n}] = {{{slots}}};",
                f"static const uint16_t rb_{name}_w[{n}] = {{{words}}};",
                f"static const uint8_t rb_{name}_s[{n}] = {{{shifts}}};",
                f"static inline int64_t rd_{name}(rb_ctx *c, const uint64_t *w, int64_t i) {{",
                f"    if ((uint64_t)i >= {n}ULL) return rb_bad_index(c, {first.index}, i);",
                f"    return (int64_t)((w[rb_{name}_w[i]] >> rb_{name}_s[i]) & {m}ULL) + {lo}LL;",
                "}",
                f"static inline void wr_{name}(rb_ctx *c, uint64_t *w, int64_t i, int64_t v) {{",
                f"    if ((uint64_t)i >= {n}ULL) {{ rb_bad_index(c, {first.index}, i); return; }}",
                f"    if ((uint64_t)(v - {lo}LL) > {span}ULL) {{ rb_bad_value(c, (int)rb_{name}_k[i], v); return; }}",
                f"    int s = rb_{name}_s[i];",
                f"    w[rb_{name}_w[i]] = (w[rb_{name}_w[i]] & ~({m}ULL << s)) | ((uint64_t)(v - {lo}LL) << s);",
                "}",
            ]
        return out

    def function(self, fc) -> list[str]:
        params = ["rb_ctx *c"] + (["uint64_t *w"] if fc.uses_state else []) + (
            ["const uint64_t *src"] if fc.uses_source else []) + [
            f"int64_t L_{p}" for p in fc.params]
        out = [f"/* {fc.source} */",
               f"static int64_t {fc.name}({', '.join(params)}) {{"]
        out += self.locals_decl(fc.locals, "    ", skip=fc.params)
        out += self.stmts(fc.body, "    ", "w", "rb_never")
        out += ["    return 0;", "}"]
        return out

    def step(self, sc) -> list[str]:
        k = sc.index
        skip, done = f"skip{k}", f"done{k}"
        out = [f"    /* {k}: {sc.label}  ({sc.source}) */", "    {"]
        out += self.locals_decl(sc.locals, "        ")
        for g in sc.guard:
            if isinstance(g, Require):
                out.append(f"        if (!({self.e(g.test, 'src')}) || c->err) goto {skip};")
            else:
                out += self.stmt(g, "        ", "src", done)
        out.append("        memcpy(w, src, sizeof w);")
        out += self.stmts(sc.body, "        ", "w", done)
        out += [f"    {done}:",
                f"        if (c->err) {{ c->err_step = {k}; return RB_ERR_STEP; }}",
                f"        if ((r = rb_put(c, w, id, n)) < 0) return r;",
                "        n++;",
                f"    {skip}:",
                f"        if (c->err) {{ c->err_step = {k}; return RB_ERR_STEP; }}",
                "    }"]
        return out

    def dispatch(self, name: str, funcs: list, err_base: int) -> list[str]:
        out = [f"static int {name}(rb_ctx *c, int k, const uint64_t *w) {{",
               "    int64_t v = 0;", "    switch (k) {"]
        for i, fc in enumerate(funcs):
            arg = ", (uint64_t *)w" if fc.uses_state else ""
            out.append(f"    case {i}: v = {fc.name}(c{arg}); break;")
        out += ["    }",
                f"    if (c->err && !c->err_step) c->err_step = {err_base} - k;",
                "    return v != 0;", "}"]
        return out

    def generate(self) -> str:
        code = self.code
        kinds = {ALWAYS: [], SOMETIMES: [], EVENTUALLY: []}
        for p, fc in code.properties:
            kinds[p.kind].append(fc)
        body: list[str] = []
        body += self.accessors()
        fns: list[str] = []
        for fc in code.helpers:
            fns += self.function(fc)
        for lst in kinds.values():
            for fc in lst:
                fns += self.function(fc)
        if code.finished is not None:
            fns += self.function(code.finished)
        succ = ["static int rb_succ(rb_ctx *c, const uint64_t *src, int64_t id) {",
                "    uint64_t w[RB_W];", "    int n = 0, r;", "    (void)r;"]
        for sc in code.steps:
            succ += self.step(sc)
        succ += ["    return n;", "}"]
        disp = []
        disp += self.dispatch("rb_always", kinds[ALWAYS], -1000)
        disp += self.dispatch("rb_some", kinds[SOMETIMES], -2000)
        disp += self.dispatch("rb_event", kinds[EVENTUALLY], -3000)
        fin = code.finished
        disp += ["static int rb_finished(rb_ctx *c, const uint64_t *w) {",
                 "    (void)c; (void)w;",
                 (f"    return {fin.name}(c{', (uint64_t *)w' if fin.uses_state else ''}) != 0;"
                  if fin is not None else "    return 0;"), "}"]
        key, key_size = self.key_function()
        tabs = []
        for values, name in self.tables.items():
            n = len(values)
            vals = ", ".join(f"{v}LL" for v in values)
            tabs += [f"static const int64_t {name}_v[{n}] = {{{vals}}};",
                     f"static inline int64_t {name}(rb_ctx *c, int64_t i) {{",
                     f"    if ((uint64_t)i >= {n}ULL) return rb_bad_index(c, -1, i);",
                     f"    return {name}_v[i];", "}"]
        m = code.machine
        head = [f"/* generated by rbmap.checker.native from {type(m).__module__}."
                f"{type(m).__qualname__} ({m.name}): do not edit */",
                f"#define RB_W {self.p.words}",
                f"#define RB_NALWAYS {max(1, len(kinds[ALWAYS]))}",
                f"#define RB_NSOME {max(1, len(kinds[SOMETIMES]))}",
                f"#define RB_NEVENT {max(1, len(kinds[EVENTUALLY]))}",
                f"#define RB_KEY {key_size}",
                ENGINE_C.read_text(),
                "/* ---- the model ---- */",
                f"static const int rb_nalways = {len(kinds[ALWAYS])}, "
                f"rb_nsome = {len(kinds[SOMETIMES])}, rb_nevent = {len(kinds[EVENTUALLY])};"]
        # helpers may call each other: declare them all first
        protos = []
        for line in fns:
            if line.startswith("static int64_t "):
                protos.append(line[:-2] + ";")
        return "\n".join(head + tabs + body + protos + fns + succ + disp + key) + "\n"

    def key_function(self) -> tuple[list[str], int]:
        """``rb_key``: a state as the interpreted explorer's key (the machine's
        ``state_struct``, little-endian), and its size (0: a format it does not
        print, whose keys Python packs)."""
        sizes = _struct_sizes(getattr(self.code.machine, "state_struct", ""),
                              len(self.layout.slots))
        out = ["static void rb_key(const uint64_t *w, uint8_t *out) {"]
        if sizes is None:
            return out + ["    (void)w; (void)out;", "}"], 0
        at = 0
        for sl, size in zip(self.layout.slots, sizes):
            out.append(f"    {{ uint64_t v = (uint64_t){self.read(sl, 'w')};")
            out += [f"      out[{at + k}] = (uint8_t)(v >> {8 * k});" for k in range(size)]
            out.append("    }")
            at += size
        return out + ["}"], at


_STRUCT_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 4, "L": 4,
                 "q": 8, "Q": 8}


def _struct_sizes(fmt: str, nslots: int) -> list[int] | None:
    """The byte size of each slot in a little-endian ``struct`` format of integer
    codes (``"<h3q"``), or None for any other format or another slot count."""
    import re
    if not fmt or fmt[0] != "<":
        return None
    sizes: list[int] = []
    for count, code in re.findall(r"(\d*)(.)", fmt[1:]):
        if code not in _STRUCT_SIZES:
            return None
        sizes += [_STRUCT_SIZES[code]] * (int(count) if count else 1)
    return sizes if len(sizes) == nslots else None


def _boolish(x) -> bool:
    from .stepcode import is_bool
    return is_bool(x)


def generate_c(machine) -> str:
    """The C source of ``machine``: the explorer with its steps and properties."""
    return _CGen(machine.code, Packing(machine.layout)).generate()


# ------------------------------------------------------------------ building
_compiler_cache: dict = {}
_lock = threading.Lock()


def compiler() -> list[str]:
    """The C compiler command (``$CC``, else cc/gcc/clang), checked once.

    Raises
    ------
    NoCompiler
        None found, or it cannot build a shared library.
    """
    with _lock:
        if "cc" in _compiler_cache:
            cc = _compiler_cache["cc"]
            if isinstance(cc, NoCompiler):
                raise cc
            return cc
        cands = []
        env = os.environ.get("CC")
        if env:
            cands.append(env.split())
        cfg = (sysconfig.get_config_var("CC") or "").split()
        if cfg:
            cands.append(cfg[:1])
        cands += [["cc"], ["gcc"], ["clang"]]
        why = "no C compiler (cc, gcc, clang or $CC)"
        for cand in cands:
            if not shutil.which(cand[0]):
                continue
            with tempfile.TemporaryDirectory() as d:
                src = os.path.join(d, "probe.c")
                FsPath(src).write_text("#include <pthread.h>\nint rb_probe(void){return 1;}\n")
                try:
                    r = subprocess.run(cand + CFLAGS + ["-o", os.path.join(d, "p.so"), src,
                                                        "-lpthread"],
                                       capture_output=True, text=True, timeout=120)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    why = f"{cand[0]} failed: {exc}"
                    continue
                if r.returncode == 0:
                    _compiler_cache["cc"] = cand
                    return cand
                why = f"{cand[0]} cannot build a shared library: " + (
                    r.stderr.strip().splitlines() or ["?"])[0]
        exc = NoCompiler(why)
        _compiler_cache["cc"] = exc
        raise exc


def cache_dir() -> FsPath:
    """Where built libraries are kept (``$RBMAP_CACHE/native``, else ``~/.cache/rbmap/native``)."""
    base = os.environ.get("RBMAP_CACHE")
    root = FsPath(base) if base else FsPath(os.environ.get("XDG_CACHE_HOME")
                                            or FsPath.home() / ".cache") / "rbmap"
    return root / "native"


def _library(source: str, create: bool = True) -> FsPath:
    """Where the library built from ``source`` is (or goes) in the cache."""
    cc = compiler()
    digest = hashlib.sha256((" ".join(cc + CFLAGS) + "\0" + source).encode()).hexdigest()[:24]
    d = cache_dir()
    try:
        if create:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / ".w"
            probe.touch()
    except OSError:
        d = FsPath(tempfile.gettempdir()) / f"rbmap-native-{os.getuid()}"
        d.mkdir(parents=True, exist_ok=True)
    return d / f"{digest}.so"


def is_built(machine) -> bool:
    """Whether the library of ``machine``'s configuration is in the cache (a run
    loads it without compiling). Raises :class:`NoCompiler` without a compiler."""
    if machine.__dict__.get("_native") is not None:
        return True
    source = _CGen(machine.code, Packing(machine.layout)).generate()
    lib = _library(source, create=False)
    if lib.exists():
        return True
    alt = FsPath(tempfile.gettempdir()) / f"rbmap-native-{os.getuid()}" / lib.name
    return alt.exists()


def _build(source: str) -> tuple[FsPath, float]:
    """Compile ``source`` into the cache (once per text): the library and the
    seconds the build took (0 when it was cached)."""
    lib = _library(source)
    if lib.exists():
        return lib, 0.0
    d = lib.parent
    cc = compiler()
    t0 = perf_counter()
    fd, tmp_src = tempfile.mkstemp(suffix=".c", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(source)
    tmp_lib = tmp_src[:-2] + ".so"
    try:
        r = subprocess.run(cc + CFLAGS + ["-o", tmp_lib, tmp_src, "-lpthread"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise StepError("the compiled engine did not build (a bug of rbmap's C "
                            "generator): " + " | ".join(r.stderr.strip().splitlines()[:3]))
        os.replace(tmp_lib, lib)
    finally:
        for p in (tmp_src, tmp_lib):
            try:
                os.unlink(p)
            except OSError:
                pass
    return lib, perf_counter() - t0


_I64 = ctypes.c_int64
_P64 = ctypes.POINTER(ctypes.c_uint64)
_PI64 = ctypes.POINTER(ctypes.c_int64)
_STATS = 20


def _load(path: FsPath):
    lib = ctypes.CDLL(str(path))
    sig = {
        "rb_words": (ctypes.c_int, []),
        "rb_new": (ctypes.c_void_p, [_I64, _I64, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                     ctypes.c_int]),
        "rb_free": (None, [ctypes.c_void_p]),
        "rb_set_chunk": (None, [ctypes.c_void_p, _I64, _I64]),
        "rb_add_init": (_I64, [ctypes.c_void_p, _P64]),
        "rb_run": (ctypes.c_int, [ctypes.c_void_p, _I64]),
        "rb_run_parallel": (ctypes.c_int, [ctypes.c_void_p, _I64]),
        "rb_stats": (None, [ctypes.c_void_p, _PI64]),
        "rb_found": (None, [ctypes.c_void_p, _PI64, _PI64]),
        "rb_levels": (None, [ctypes.c_void_p, _PI64]),
        "rb_state": (ctypes.c_int, [ctypes.c_void_p, _I64, _P64]),
        "rb_parent": (_I64, [ctypes.c_void_p, _I64]),
        "rb_lookup": (_I64, [ctypes.c_void_p, _P64]),
        "rb_bytes": (_I64, [ctypes.c_void_p]),
        "rb_successors_of": (_I64, [ctypes.c_void_p, _P64, _P64, _I64]),
        "rb_eval": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, _P64]),
        "rb_scc": (_I64, [ctypes.c_void_p]),
        "rb_terminal": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, _PI64]),
        "rb_graph": (None, [ctypes.c_void_p, _PI64, ctypes.POINTER(ctypes.c_uint32)]),
        "rb_keys": (ctypes.c_int, [ctypes.c_void_p, _I64, _I64, ctypes.c_char_p]),
        "rb_key_size": (ctypes.c_int, []),
        "rb_digest": (ctypes.c_int, [ctypes.c_void_p, _P64]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args
    return lib


class NativeModel:
    """A step machine compiled: its library and its packing.

    Attributes
    ----------
    machine : StepMachine
    packing : Packing
    build_seconds : float
        Time the C build took (0 when the library came from the cache).
    """

    def __init__(self, machine):
        self.machine = machine
        self.packing = Packing(machine.layout)
        self.source = _CGen(machine.code, self.packing).generate()
        self.path, self.build_seconds = _build(self.source)
        self.lib = _load(self.path)
        if self.lib.rb_words() != self.packing.words:
            raise StepError("internal: the library's state width differs from the packing")
        code = machine.code
        self.props = {ALWAYS: [], SOMETIMES: [], EVENTUALLY: []}
        for p, _ in code.properties:
            self.props[p.kind].append(p)

    def words(self, t):
        return (ctypes.c_uint64 * self.packing.words)(*self.packing.pack(t))

    def successors_of(self, t, ctx) -> list[tuple]:
        """The compiled engine's successor states of ``t``, in order."""
        w = self.words(t)
        cap = len(self.machine.instances)
        out = (ctypes.c_uint64 * (self.packing.words * max(1, cap)))()
        k = self.lib.rb_successors_of(ctx, w, out, cap)
        if k < 0:
            raise _error(self, ctx, "successors")
        W = self.packing.words
        return [self.packing.unpack(out[i * W:(i + 1) * W]) for i in range(k)]


def compile_machine(machine) -> NativeModel:
    """The compiled form of ``machine``, kept with it (the library itself is built
    once per configuration and cached on disk).

    Raises
    ------
    NoCompiler
        No C compiler (see :func:`compiler`).
    """
    nm = machine.__dict__.get("_native")
    if nm is None:
        nm = machine.__dict__["_native"] = NativeModel(machine)
    return nm


# ------------------------------------------------------------------ results
def _error(nm: NativeModel, ctx, where: str) -> StepError:
    st = (_I64 * _STATS)()
    nm.lib.rb_stats(ctx, st)
    err, step, slot, value, sid = st[7], st[8], st[9], st[10], st[15]
    m = nm.machine
    if step >= 0 and step < len(m.instances):
        who = f"step {m.instances[step].label}"
    elif step <= -3000:
        who = f"property {nm.props[EVENTUALLY][-3000 - step].name}"
    elif step <= -2000:
        who = f"property {nm.props[SOMETIMES][-2000 - step].name}"
    elif step <= -1000:
        who = f"property {nm.props[ALWAYS][-1000 - step].name}"
    elif step == -2:
        who = "finished()"
    else:
        who = where
    slots = m.layout.slots
    sname = slots[slot].name if 0 <= slot < len(slots) else "a constant tuple"
    if err == 2:
        what = f"{sname} = {value} is outside {slots[slot].lo}..{slots[slot].hi}"
    elif err == 3:
        arr = slots[slot].array if 0 <= slot < len(slots) else None
        what = f"index {value} outside {arr or sname}"
    else:
        what = "division by zero or a shift out of range"
    state = f" (from state {sid})" if sid >= 0 else ""
    return StepError(f"{m.name}: {who}: {what}{state}")


class NativeExploration:
    """The compiled search's visited states: the interface of
    :class:`rbmap.checker.bfs.Exploration` (ids, depths, paths)."""

    def __init__(self, nm: NativeModel, ctx, n: int, levels: list, init_index: list,
                 dropped: bool, edges: bool):
        self.nm = nm
        self.model = nm.machine
        self._ctx = ctx
        self._n = n
        self.level_starts = levels
        self.init_index = init_index
        self.dropped = dropped
        self.edges = edges

    def __del__(self):
        ctx, self._ctx = getattr(self, "_ctx", None), None
        if ctx:
            self.nm.lib.rb_free(ctx)

    def __len__(self) -> int:
        return self._n

    # -- what rbmap.checker.bfs.Exploration has besides (for code written for it)
    @property
    def pack(self):
        """Packs a state as the interpreted explorer's visited set does."""
        import struct
        return struct.Struct(self.model.state_struct).pack

    @property
    def unpack(self):
        import struct
        return struct.Struct(self.model.state_struct).unpack

    @property
    def keys(self) -> list:
        """Every state packed like the interpreted explorer's keys, by id (built on
        first use: a Python loop over all states)."""
        keys = self.__dict__.get("_keys")
        if keys is None:
            size = self.nm.lib.rb_key_size()
            if size:
                buf = ctypes.create_string_buffer(size * max(1, self._n))
                if self.nm.lib.rb_keys(self._ctx, 0, self._n, buf) < 0:
                    raise RuntimeError("internal: the compiled engine gave no keys")
                raw = buf.raw
                keys = [raw[i:i + size] for i in range(0, size * self._n, size)]
            else:
                pack = self.pack
                keys = [pack(*s) for s in self]
            self.__dict__["_keys"] = keys
        return keys

    @property
    def graph(self):
        """The recorded graph as a :class:`rbmap.checker.graph.StateGraph` (None
        when the search recorded none: a model without eventually properties)."""
        if not self.edges:
            return None
        g = self.__dict__.get("_graph")
        if g is None:
            from array import array

            from .graph import StateGraph
            st = (_I64 * _STATS)()
            self.nm.lib.rb_stats(self._ctx, st)
            noff, ntarg = st[18], st[14]
            offs = (_I64 * (noff + 1))()
            targ = (ctypes.c_uint32 * max(1, ntarg))()
            self.nm.lib.rb_graph(self._ctx, offs, targ)
            g = StateGraph()
            g.offsets = array("q", offs)
            g.targets = array("i", targ[:ntarg])
            self.__dict__["_graph"] = g
        return g

    def graph_digest(self) -> str | None:
        """:func:`rbmap.manifest.graph_digest` of this exploration, computed in C
        (None when the machine's ``state_struct`` is not one the C prints)."""
        out = ctypes.c_uint64()
        r = self.nm.lib.rb_digest(self._ctx, ctypes.byref(out))
        if r == -2:
            raise MemoryError("the compiled engine ran out of memory in the digest")
        return None if r < 0 else f"{out.value:016x}"

    def state(self, i: int) -> tuple:
        W = self.nm.packing.words
        buf = (ctypes.c_uint64 * W)()
        if self.nm.lib.rb_state(self._ctx, i, buf) < 0:
            raise IndexError(f"no state {i}")
        return self.nm.packing.unpack(buf)

    def __iter__(self):
        return (self.state(i) for i in range(self._n))

    def id_of(self, state) -> int:
        i = self.nm.lib.rb_lookup(self._ctx, self.nm.words(state))
        if i < 0:
            raise KeyError(state)
        return i

    def __contains__(self, state) -> bool:
        try:
            self.id_of(state)
        except (KeyError, ValueError, TypeError):
            return False
        return True

    def depth_of_id(self, i: int) -> int:
        return bisect_right(self.level_starts, i) - 1

    def depth(self, state) -> int:
        return self.depth_of_id(self.id_of(state))

    def parent_of_id(self, i: int) -> int:
        return self.nm.lib.rb_parent(self._ctx, i)

    def path_to(self, state, prop: str | None = None) -> Path:
        return self.path_to_id(self.id_of(state), prop)

    def path_to_id(self, i: int, prop: str | None = None) -> Path:
        """A shortest path to state ``i``; the actions come from the interpreted
        engine, which must list, from every state on the path, exactly the
        successors the compiled engine lists (else :class:`NondeterminismError`)."""
        chain = [i]
        while True:
            p = self.parent_of_id(chain[-1])
            if p < 0:
                break
            chain.append(p)
        chain.reverse()
        m = self.model
        what = f"the path to {prop}" if prop else "the path"
        first = self.state(chain[0])
        inits = m.init_states()
        start = inits.index(first)
        states, actions = [first], []
        for step, c in enumerate(chain[1:], 1):
            s = states[-1]
            pairs = m.successors(s)
            compiled = self.nm.successors_of(s, self._ctx)
            if [t for _, t in pairs] != compiled:
                raise NondeterminismError(
                    f"step {step} of {what}: the compiled and the interpreted engine list "
                    "different successors (a bug of rbmap's compiler, or a step that "
                    "depends on something outside the state)")
            target = self.state(c)
            for a, t in pairs:
                if t == target:
                    break
            else:
                raise NondeterminismError(f"step {step} of {what}: no step leads there")
            actions.append(a)
            states.append(t)
        return Path(init=start, actions=actions, property=prop, states=states)


# ------------------------------------------------------------------ the search
def engine_choice(engine: str = "auto") -> str:
    """``"native"`` or ``"interpreted"`` for an engine request (``auto``: native
    when a compiler works; ``RBMAP_ENGINE`` overrides ``auto``)."""
    from .engine import requested_engine
    engine = requested_engine(engine)
    if engine == "auto":
        try:
            compiler()
            return "native"
        except NoCompiler:
            return "interpreted"
    return engine


def notice(why) -> str:
    """The one line saying the interpreted engine runs instead, and why (<= 80
    columns)."""
    text = f"rbmap: {why}: interpreted engine (slower)"
    return text if len(text) <= 80 else text[:76] + "..."


def check(machine, engine: str = "auto", threads: int = 1, **options) -> CheckResult:
    """Explore ``machine`` exhaustively: :func:`rbmap.checker.engine.explore`
    (compiled when it can be, else interpreted, with a one-line notice when no
    C compiler works)."""
    from .engine import explore
    return explore(machine, engine=engine, threads=threads, **options)


def check_native(machine, max_states: int | None = None, max_depth: int | None = None,
                 time_limit: float | None = None, progress: Any = None,
                 stop_on_violation: bool = False, check_deadlock: bool = True,
                 threads: int = 1, chunk: tuple[int, int] | None = None) -> CheckResult:
    """:func:`check` with the compiled engine (raises :class:`NoCompiler`).

    ``chunk``: (most, least) states a parallel chunk expands (smaller ones are
    expanded serially); the default suits large explorations, tests make
    small models take the parallel path with small values."""
    t0 = perf_counter()
    nm = compile_machine(machine)
    lib = nm.lib
    props = machine.properties()
    events = nm.props[EVENTUALLY]
    if threads < 1:
        raise ValueError(f"threads must be positive, got {threads}")
    ctx = lib.rb_new(-1 if max_states is None else max_states,
                     -1 if max_depth is None else max_depth,
                     int(stop_on_violation), int(check_deadlock), int(bool(events)),
                     threads)
    if not ctx:
        raise MemoryError("the compiled engine could not start")
    if chunk is not None:
        lib.rb_set_chunk(ctx, chunk[0], chunk[1])
    explo = None
    try:
        inits = machine.init_states()
        init_index = []
        for k, s in enumerate(inits):
            r = lib.rb_add_init(ctx, nm.words(s))
            if r == -5:
                break
            if r < 0:
                raise _error(nm, ctx, "initial state")
            if r == len(init_index):
                init_index.append(k)
        report = progress_reporter(progress)
        run = lib.rb_run_parallel if threads > 1 else lib.rb_run
        st = (_I64 * _STATS)()
        budget = 4096
        stopped_by = ""
        last_report = t0
        rc = 0
        explore_wall = explore_cpu = 0.0
        while True:
            c0, p0 = perf_counter(), process_time()
            rc = run(ctx, budget)
            now = perf_counter()
            explore_wall += now - c0
            explore_cpu += process_time() - p0
            if rc < 0:
                if rc == -2:
                    stopped_by = "out_of_memory"
                    break
                if rc == -3:
                    raise StepError(f"{machine.name}: more than 2**31 - 2 states")
                if rc == -4:
                    raise RuntimeError("the compiled engine could not start its threads")
                raise _error(nm, ctx, "search")
            if rc != 1:
                break
            # aim at about 0.05 s a call
            dt = now - c0
            budget = max(1024, min(1 << 22, int(budget * 0.05 / dt) if dt > 0 else budget * 2))
            if time_limit is not None and now - t0 > time_limit:
                stopped_by = "time_limit"
                break
            if _interrupt_requested():
                stopped_by = "interrupted"
                break
            if report is not None and now - last_report >= progress_module.INTERVAL:
                last_report = now
                lib.rb_stats(ctx, st)
                report({"seconds": now - t0, "states": st[0], "transitions": st[2],
                        "depth": st[3] - 1, "queue": st[0] - st[1]})
        if report is not None and isinstance(report, ProgressLine):
            report.close()
        lib.rb_stats(ctx, st)
        n, cursor, transitions, nlevels = st[0], st[1], st[2], st[3]
        dropped, drop_reason, deadlock = bool(st[4]), st[5], st[6]
        if rc == 2:
            stopped_by = "violation"
        exhausted = rc == 0
        if dropped and not stopped_by:
            stopped_by = "max_depth" if drop_reason == 2 else "max_states"
        complete = exhausted and not dropped
        levels = (_I64 * max(1, nlevels))()
        lib.rb_levels(ctx, levels)
        level_starts = list(levels[:nlevels])
        level_end = st[13]
        if level_end < n and (not level_starts or level_starts[-1] < level_end):
            level_starts.append(level_end)
        na, ns = max(1, len(nm.props[ALWAYS])), max(1, len(nm.props[SOMETIMES]))
        fa, fs = (_I64 * na)(), (_I64 * ns)()
        lib.rb_found(ctx, fa, fs)
        # The compiled search checks a state when it finds it, the interpreted one
        # when it leaves the queue. Stopped at a violation, both stop when the queue
        # gets to it (or to a deadlock before it): what the compiled search found
        # beyond that point the interpreted one never looked at, so it is left out.
        always_end = some_end = n
        if rc == 2:
            stop_at = st[19]
            if deadlock >= 0 and (stop_at < 0 or deadlock < stop_at):
                always_end = some_end = deadlock + 1
            else:
                always_end, some_end = stop_at + 1, stop_at
        found = {}
        for k, p in enumerate(nm.props[ALWAYS]):
            if 0 <= fa[k] < always_end:
                found[p.name] = fa[k]
        for k, p in enumerate(nm.props[SOMETIMES]):
            if 0 <= fs[k] < some_end:
                found[p.name] = fs[k]
        explo = NativeExploration(nm, ctx, n, level_starts, init_index, dropped,
                                  bool(events))
        ctx = None
        explo.bytes = lib.rb_bytes(explo._ctx)
        explo.threads = threads
        explo.parallel_chunks, explo.serial_chunks = st[16], st[17]
        results = []
        event_index = {p.name: k for k, p in enumerate(events)}
        scc_done = False
        for p in props:
            if p.kind == EVENTUALLY:
                if not complete:
                    results.append(PropertyResult(p.name, p.kind, "unknown",
                                                  note="the exploration was incomplete",
                                                  doc=p.doc))
                    continue
                if not scc_done:
                    if lib.rb_scc(explo._ctx) < 0:
                        raise MemoryError("the compiled engine ran out of memory in the "
                                          "eventually check")
                    scc_done = True
                results.append(_eventually(nm, explo, p, event_index[p.name]))
                continue
            results.append(_verdict(p, found, complete, explo, None, n))
        if check_deadlock:
            if deadlock >= 0:
                results.append(PropertyResult(DEADLOCK, ALWAYS, "violated",
                                              explo.path_to_id(deadlock, DEADLOCK),
                                              "a state without successors", DEADLOCK_DOC))
            else:
                results.append(PropertyResult(DEADLOCK, ALWAYS,
                                              "holds" if complete else "unknown",
                                              doc=DEADLOCK_DOC))
        res = CheckResult("bfs", n, transitions, len(level_starts) - 1, perf_counter() - t0,
                          complete, results, stopped_by, explo)
        res.engine = "native"
        res.build_seconds = nm.build_seconds
        res.explore_seconds, res.explore_cpu = explore_wall, explore_cpu
        return res
    finally:
        if ctx:
            lib.rb_free(ctx)


def _interrupt_requested() -> bool:
    try:
        from .interrupt import requested
    except ImportError:
        return False
    return requested()


def _eventually(nm: NativeModel, explo: NativeExploration, p, k: int) -> PropertyResult:
    out = (_I64 * 7)()
    if nm.lib.rb_terminal(explo._ctx, k, out) < 0:
        raise _error(nm, explo._ctx, f"property {p.name}")
    terminal, bad, size, count, skipped = out[0], out[1], out[2], out[3], out[6]
    # the same figures as rbmap.checker.graph.violation_extent
    extent = {"terminal_components": terminal, "violating_components": count,
              "violating_component_states": out[4], "violating_states": out[5]}
    if skipped:
        extent["skipped_components"] = skipped
    skip_note = (f"; {skipped} terminal component(s) at the model boundary not judged"
                 if skipped else "")
    if bad < 0:
        return PropertyResult(p.name, p.kind, "holds",
                              note=f"{terminal} terminal component(s) checked{skip_note}",
                              doc=p.doc, extent=extent)
    note = f"stuck in a terminal component of {size} states where {p.name} is false"
    if count > 1:
        note += f" ({count} such components)"
    return PropertyResult(p.name, p.kind, "violated", explo.path_to_id(bad, p.name),
                          note + skip_note, p.doc, extent)
