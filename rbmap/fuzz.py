"""Differential fuzzing of impl against the real kernel (``rbmap fuzz``).

A Hypothesis strategy (:func:`programs`) writes scenario programs
(specs/scenarios/FORMAT.md) over every operation a scenario can do, steered by a
small abstract state so that the programs stay meaningful: an fd is usually open
before it is used, mappings are pushed and popped, ``trymap`` lengths and offsets
are drawn around the current geometry's edges (meta area, sub-buffer bounds, the
end of the mapping, one page past it, unaligned), ``markers`` lengths include the
sizes that fill a sub-buffer exactly, leave 4 or 8 bytes, or cross into the next
one, and resizes / sub-buffer order changes / snapshots come both while mapped
(refused) and between mappings.  ``trymap_cpu1`` and ``trymap_boot`` draw the same
numbers against the two files the guest has for mmap checks 3 and 5 (a
boot-mapped instance, a CPU without a ``cpu_buffer``).

Each batch of programs runs on impl (one fresh instance per program, with the
kernel-side checks of :mod:`rbmap.impl.invariants` after every operation and
every refused system call checked to change nothing) and, when the kernel is
asked for, on the real kernel in *one* boot (every program is a scenario of its
own tracefs instance).  Outputs are compared after the documented normalisation
(:func:`rbmap.cli.scenario.normalise`).  A program that differs is run once more
on the kernel (a difference that does not come back is *unstable*, e.g. a time
extend that moved an event to the next page on a slow host) and is then shrunk.
A program is first cut after the step that differs (each scenario starts from a
fresh instance, so what follows cannot matter); :func:`shrink_many` then runs a
batched delta debugging of all the differences at once, each round one boot
holding the candidates of every difference still shrinking (chunks of
operations removed, numbers made smaller, never the differing last step),
keeping for each the smallest candidate that still shows the same *signature*
(the operation and the fields of the first differing step), cut again where it
differs.  Everything is deterministic for a seed: the programs of batch *b*
depend only on (seed, b) and the Hypothesis version (not on what the process
imported before: :func:`_no_local_constants`), and shrinking only on the outputs.

Not reachable on the guest's kernel, so not generated: ``tr->mapped`` at
UINT_MAX (2^32 - 1 live mappings; impl's test_impl_mapping_limits), mmap's
-ENOMEM (no fault injection in Debian's build), ``ring_buffer_swap_cpu``
(CONFIG_RING_BUFFER_ALLOW_SWAP is off: a per-CPU ``snapshot`` write is -EINVAL
before any buffer is looked at).

Not generated, on purpose: ``dofork_fork`` (a known 6.12.117 accounting bug,
specs/scenarios/dofork_fork.scn, whose WARN breaks the instance's counts for
whatever runs after it in the same boot), ``snapshot_trigger on`` (an armed
trigger swaps the buffers at context switches) and ``trymap`` of a private
writable mapping beyond the guest's memory (VM accounting refuses it first).
Blocking fds are drawn now and then: a blocking wait ends after the guest
runner's 20 ms timer (FORMAT.md, "Blocking calls").
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

from rbmap.impl import scenario as _scn

__all__ = ["programs", "generate", "program_text", "run_impl", "run_kernel",
           "compare_outputs", "signature", "shrink", "Fuzzer", "FuzzReport",
           "Difference", "MAX_MAPS"]

PAGE = 4096
BUF_PAGE_HDR = 16
MAX_MAPS = 8            # live `map`s the guest runner holds at once
MAX_OPS = 30
STALL_SECONDS = 60.0        # a guest silent this long is stopped (it hangs)
_MACHINE_BYTES = 512 << 20  # the guest's memory (rbmap.kernel.qemu_command: -m 512)


# --------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------

def _order_for_kb(kb: int) -> int | None:
    pages = -(-(kb * 1024) // PAGE)
    if pages <= 0:
        return None
    order = (pages - 1).bit_length()
    return order if order <= 7 else None


def marker_event_size(nchars: int) -> int:
    """Bytes a ``trace_marker`` write of ``nchars`` characters takes (UPSTREAM §2)."""
    payload = 16 + 2 + max(nchars, 9)
    if payload > 112:
        payload += 4
    size = (payload + 4 + 3) // 4 * 4
    return 16 if size == 12 else size


def _chars_for_size(size: int) -> int | None:
    """A marker length whose event takes exactly ``size`` bytes, if there is one."""
    for n in range(max(0, size - 40), size + 1):
        if marker_event_size(n) == size:
            return n
    return None


@dataclass
class _Sim:
    """What the generator assumes about the buffer (an approximation is enough:
    it only steers the choice of numbers)."""

    fd: str | None = None           # None, "nonblock" or "block"
    maps: int = 0
    order: int = 0
    nr_pages: int = 5
    used: int = 0                   # bytes written on the current tail page

    @property
    def subbuf(self) -> int:
        return PAGE << self.order

    @property
    def capacity(self) -> int:
        return self.subbuf - BUF_PAGE_HDR

    @property
    def total(self) -> int:         # bytes of meta area + sub-buffers (6.12 layout)
        return (self.nr_pages + 2) * self.subbuf

    def resize(self, kb: int) -> None:
        if kb and not self.maps:
            self.nr_pages = max(2, -(-(kb * 1024) // self.capacity))
            self.used = 0

    def set_order(self, kb: int) -> None:
        order = _order_for_kb(kb)
        if order is not None and not self.maps and order != self.order:
            old = self.capacity * self.nr_pages
            self.order = order
            self.nr_pages = max(2, -(-old // self.capacity))
            self.used = 0

    def write(self, n: int, nchars: int) -> None:
        size = marker_event_size(min(nchars, 4096))
        if size > self.capacity - 8:
            return
        for _ in range(min(n, 2 * self.capacity)):
            if self.used + size > self.capacity:
                self.used = 0
            self.used += size


_SPECIAL_CHARS = (0, 1, 8, 9, 10, 22, 23, 26, 27, 94, 95, 96, 100, 200, 1000, 4000,
                  4064, 4080, 4096, 5000)
_SPECIAL_COUNTS = (1, 2, 3, 5, 10, 16, 50, 84, 85, 86, 100, 126, 127, 128, 200, 254,
                   255, 300, 600)
_KB = (1, 2, 4, 7, 8, 16, 17, 20, 32, 64)
_SUBBUF_KB = (1, 2, 3, 4, 5, 8, 9, 16)
# Commands tracing_buffers_ioctl sees; not the ones the VFS answers itself
# (FIBMAP 1, FIGETBSZ 2, FIONBIO, FIOCLEX, ...: do_vfs_ioctl), which impl does
# not model.
_IOCTLS = (0, 0x5220, 0x5221, 0x5401, 0x1234)


def _num(draw, value: int) -> str:
    """A number as a word; now and then in hex (FORMAT.md allows both)."""
    if value > 0 and draw(st.integers(0, 15)) == 0:
        return hex(value)
    return str(value)


def _markers(draw, sim: _Sim) -> str:
    how = draw(st.sampled_from(("plain", "special", "fill", "fill", "leave", "any")))
    n = draw(st.one_of(st.sampled_from(_SPECIAL_COUNTS), st.integers(0, 700)))
    if how == "plain":
        sim.write(n, 8)
        return f"markers {_num(draw, n)}"
    if how == "special":
        nchars = draw(st.sampled_from(_SPECIAL_CHARS))
    elif how in ("fill", "leave"):
        # one event that fills the rest of the tail page exactly, or leaves 4 or 8
        # bytes (too few for a padding event / just enough), or crosses the end
        left = sim.capacity - sim.used
        delta = draw(st.sampled_from((0, 4, 8, -4))) if how == "leave" else 0
        nchars = _chars_for_size(left - delta)
        if nchars is None or nchars > 4096:
            nchars = draw(st.integers(0, 120))
        n = draw(st.sampled_from((1, 1, 2)))
    else:
        nchars = draw(st.integers(0, 300))
    sim.write(n, nchars)
    return f"markers {_num(draw, n)} {_num(draw, nchars)}"


def _trymap(draw, sim: _Sim) -> str:
    sub, total = sim.subbuf, sim.total
    lengths = (0, 1, PAGE - 1, PAGE, sub, 2 * sub, total - sub, total - PAGE, total,
               total + PAGE, total + sub, 1 << 30)
    offsets = (0, 100, PAGE, sub, 2 * sub, total - sub, total - PAGE, total, total + sub,
               PAGE + 1)
    length = draw(st.sampled_from(lengths))
    offset = draw(st.sampled_from(offsets))
    prot = draw(st.sampled_from(("r", "r", "r", "rw", "rx")))
    share = draw(st.sampled_from(("shared", "shared", "shared", "private")))
    if prot == "rw" and share == "private" and length > _MACHINE_BYTES // 4:
        # VM accounting charges a private writable mapping before the file sees
        # it (-ENOMEM beyond the machine's memory): not ring-buffer behaviour
        length = total + sub
    return f"trymap {length} {offset} {prot} {share}"


def _trymap_other(op: str) -> Callable:
    """``trymap_cpu1`` / ``trymap_boot``: the same numbers as ``trymap`` (what is
    refused first: the VFS, the snapshot check, the cpumask or boot check, the
    ring buffer's own checks)."""
    def gen(draw, sim: _Sim) -> str:
        return op + _trymap(draw, sim)[len("trymap"):]
    return gen


def _open(draw, sim: _Sim) -> str:
    flags = draw(st.sampled_from(("nonblock",) * 8 + ("nonblock rdwr",) * 2 +
                                 ("", "rdwr")))
    sim.fd = "nonblock" if "nonblock" in flags else "block"
    return ("open " + flags).strip()


def _close(draw, sim: _Sim) -> str:
    sim.fd = None
    return "close"


def _map(draw, sim: _Sim) -> str:
    if sim.fd is not None:
        sim.maps += 1
    return "map"


def _unmap(draw, sim: _Sim) -> str:
    sim.maps = max(0, sim.maps - 1)
    return "unmap"


def _resize(draw, sim: _Sim) -> str:
    op = draw(st.sampled_from(("buffer_size_kb", "resize_kb")))
    kb = draw(st.one_of(st.sampled_from(_KB), st.integers(0, 64)))
    sim.resize(kb)
    return f"{op} {_num(draw, kb)}"


def _subbuf(draw, sim: _Sim) -> str:
    op = draw(st.sampled_from(("subbuf_size_kb", "subbuf_resize_kb")))
    kb = draw(st.one_of(st.sampled_from(_SUBBUF_KB), st.sampled_from((0, 32, 600))))
    sim.set_order(kb)
    return f"{op} {_num(draw, kb)}"


def _page(draw, sim: _Sim) -> str:
    nr = sim.nr_pages + 1
    which = draw(st.one_of(st.none(), st.integers(0, nr), st.sampled_from((nr, nr + 1))))
    return "page" if which is None else f"page {which}"


def _read_raw(draw, sim: _Sim) -> str:
    n = draw(st.sampled_from((0, 1, 16, 100, PAGE, sim.subbuf, 2 * sim.subbuf, 8192)))
    return f"read_raw {n}"


def _reset(draw, sim: _Sim) -> str:
    sim.used = 0
    return "reset"


def _fixed(text: str) -> Callable:
    def gen(draw, sim: _Sim) -> str:
        return text
    return gen


def _read_pipe(draw, sim: _Sim) -> str:
    n = draw(st.sampled_from((0, 1, 10, 40, 41, 60, 100, 200, 1000, 4096, 8192)))
    return f"read_pipe {n}"


def _ioctl_raw(draw, sim: _Sim) -> str:
    return f"ioctl_raw {_num(draw, draw(st.sampled_from(_IOCTLS)))}"


# op -> (weight, generator).  An op added to the scenario format gets a line here.
GENERATORS: dict[str, tuple[int, Callable]] = {
    "markers": (14, _markers),
    "map": (8, _map),
    "unmap": (5, _unmap),
    "ioctl": (12, _fixed("ioctl")),
    "meta": (4, _fixed("meta")),
    "page": (7, _page),
    "open": (3, _open),
    "close": (1, _close),
    "trymap": (6, _trymap),
    "trymap_cpu1": (1, _trymap_other("trymap_cpu1")),
    "trymap_boot": (1, _trymap_other("trymap_boot")),
    "read_raw": (3, _read_raw),
    "resize": (3, _resize),
    "subbuf": (2, _subbuf),
    "snapshot": (2, _fixed("snapshot")),
    "reset": (2, _reset),
    "ioctl_raw": (1, _ioctl_raw),
    "partial_munmap": (1, _fixed("partial_munmap")),
    "mprotect_write": (1, _fixed("mprotect_write")),
    "mremap_grow": (1, _fixed("mremap_grow")),
    "fork": (1, _fixed("fork")),
    "snapshot_trigger": (1, lambda draw, sim: "snapshot_trigger off"),
    "read_pipe": (4, _read_pipe),
}

_CHOICES = tuple(name for name, (w, _) in GENERATORS.items() for _ in range(w))


@st.composite
def programs(draw, max_ops: int = MAX_OPS) -> list[str]:
    """A scenario program: a list of operation lines (no ``scenario`` line)."""
    sim = _Sim()
    ops: list[str] = []
    if draw(st.integers(0, 9)):
        ops.append(_open(draw, sim) if draw(st.integers(0, 5)) == 0 else "open nonblock")
        sim.fd = sim.fd or "nonblock"
    n = draw(st.integers(1, max_ops))
    for _ in range(n):
        name = draw(st.sampled_from(_CHOICES))
        if name == "map" and sim.maps >= MAX_MAPS:
            name = "unmap"
        ops.append(GENERATORS[name][1](draw, sim))
    return ops


def program_text(name: str, ops: Iterable[str], comments: Iterable[str] = ()) -> str:
    """The scenario file text of one program."""
    lines = [f"scenario {name}"] + [f"# {c}" if c else "#" for c in comments]
    return "\n".join(lines + list(ops)) + "\n"


def _derive(seed: int, batch: int) -> int:
    return int.from_bytes(hashlib.sha256(f"rbmap-fuzz {seed} {batch}".encode()).digest()[:8],
                          "little")


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis (6.131 on) now and then draws a number from the literals of the
    *local modules loaded so far* (``providers._get_local_constants``, cached per
    draw kind in ``CONSTANTS_CACHE``): the programs of a seed would then depend
    on what the process has imported before (a batch after impl ran differs from
    the same batch in a fresh process) and on every literal in the project's
    source.  During :func:`generate` the local pool is empty and the cache is
    set aside.  Versions without the pool have nothing to set aside."""
    try:
        from hypothesis.internal.conjecture import providers as prov
        empty = type(prov._local_constants)()
        saved = prov._get_local_constants, prov.CONSTANTS_CACHE
    except (ImportError, AttributeError, TypeError):
        yield
        return
    prov._get_local_constants, prov.CONSTANTS_CACHE = (lambda: empty), {}
    try:
        yield
    finally:
        prov._get_local_constants, prov.CONSTANTS_CACHE = saved


def generate(seed: int, batch: int, count: int, max_ops: int = MAX_OPS) -> list[list[str]]:
    """The programs of batch ``batch`` for ``seed``, at most ``count``:
    deterministic for a Hypothesis version, whatever ran before in the process."""
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @hyp_seed(_derive(seed, batch))
    @given(programs(max_ops))
    def collect(ops):
        key = tuple(ops)
        if key not in seen:
            seen.add(key)
            out.append(list(ops))

    with _no_local_constants():
        collect()
    return out


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------

@dataclass
class ImplRun:
    """One program on impl: its output, or the exception; the kernel-side checks.

    ``problems`` are ``(key, detail)`` pairs: ``key`` names the kind of problem
    without numbers (what shrinking keeps), ``detail`` says what happened."""

    objs: list[dict]
    problems: list[tuple[str, str]] = field(default_factory=list)
    first_step: int | None = None     # step of the first problem (None: clean-up, crash)


def run_impl(name: str, ops: list[str], check: bool = True) -> ImplRun:
    """Run one program on impl (fresh instance), checking invariants after each op."""
    from rbmap import kernel_compare as kc
    from rbmap.impl.invariants import CheckedInstance, check_invariants

    insts: list = []

    def factory(**kw):
        inst = CheckedInstance(**kw)
        insts.append(inst)
        return inst

    bad: list[tuple[str, str]] = []
    seen_atomicity = [0]
    first = [None]

    def observe(inst, op, obj):
        before = len(bad)
        _observe(inst, op, obj)
        if len(bad) > before and not before and op is not None and obj is not None:
            first[0] = obj["step"]

    def _observe(inst, op, obj):
        where = f"step {obj['step']} {op.name}" if op is not None else "after clean-up"
        opname = op.name if op is not None else "clean-up"
        if obj is not None:
            # a read_raw shorter than a sub-buffer shows part of one (the next
            # read continues it; FORMAT.md): what lies past it, the kernel's too
            partial = opname == "read_raw" and obj["rc"] < inst.array_buffer.subbuf_bytes
            if "page" in obj and "error" in obj["page"] and not partial:
                bad.append((f"{opname}: page_decodes",
                            f"{where}: page_decodes: {obj['page']['error']}"))
            bad.extend((f"{opname}: output_shape", f"{where}: output_shape: {e}")
                       for e in kc.shape_errors(obj))
        bad.extend((f"{opname}: {v.split(':', 1)[0]}", f"{where}: {v}")
                   for v in check_invariants(inst))
        new = inst.atomicity_violations[seen_atomicity[0]:]
        seen_atomicity[0] = len(inst.atomicity_violations)
        for call, diff in new:
            fields = sorted({_INDEX.sub("[]", d.split(":", 1)[0]) for d in diff})
            bad.append((f"{opname}: refused {call.split('(', 1)[0]} changed "
                        f"{', '.join(fields[:4])}",
                        f"{where}: {call} changed {'; '.join(diff[:4])}"))

    text = program_text(name, ops)
    try:
        objs = _scn.run_parsed(_scn.parse(text, name), instance_factory=factory,
                               observer=observe if check else None)
    except Exception as exc:  # an impl bug: report it, go on with the next program
        tb = exc.__traceback__
        where = ""
        while tb is not None:
            where = f"{tb.tb_frame.f_code.co_name}"
            tb = tb.tb_next
        return ImplRun([], [(f"crash: {type(exc).__name__} in {where}",
                             f"impl raised {type(exc).__name__} in {where}: {exc}")])
    return ImplRun(objs, bad, first[0] if bad else None)


@dataclass
class KernelBatch:
    """Outputs of one boot: per program its objects, or None when it did not run."""

    outputs: list[list[dict] | None]
    seconds: float
    uname_r: str
    stopped_in: int | None = None      # index of the program the guest died in
    guest_warnings: list[str] = field(default_factory=list)   # RBMAPK-WARN lines


def run_kernel(named: list[tuple[str, list[str]]], timeout: float | None = None
               ) -> KernelBatch:
    """Run programs on the kernel in one boot (one scenario each, in order)."""
    from rbmap import kernel as k

    text = "".join(program_text(n, ops) for n, ops in named)
    timeout = timeout or 120.0 + 0.5 * sum(len(ops) for _, ops in named)
    res = k.boot([text], timeout=timeout, partial=True, stall=STALL_SECONDS)
    by_name: dict[str, list[dict]] = {}
    for o in res.files[0]:
        by_name.setdefault(o.get("scenario"), []).append(o)
    outputs: list[list[dict] | None] = []
    stopped = None
    for i, (n, _ops) in enumerate(named):
        if res.complete or (n in by_name and i + 1 < len(named)
                            and named[i + 1][0] in by_name):
            outputs.append(by_name.get(n, []))
        else:
            if stopped is None and n in by_name:
                stopped = i
            outputs.append(None)
    warns = [ln[ln.find(k.CONTROL + "WARN") + len(k.CONTROL):].strip()
             for ln in res.console.replace("\r", "").splitlines()
             if k.CONTROL + "WARN" in ln]
    return KernelBatch(outputs, res.seconds, res.uname_r, stopped, warns)


# --------------------------------------------------------------------------
# comparing
# --------------------------------------------------------------------------

def compare_outputs(kernel: list[dict], impl: list[dict]) -> list[dict]:
    """Differing step records (kernel first), after the documented normalisation."""
    from rbmap.cli.scenario import diff_results, normalise

    return [r for r in diff_results(normalise(kernel), normalise(impl)) if r["differences"]]


_INDEX = re.compile(r"\[\d+\]")


def signature(records: list[dict]) -> str:
    """What kind of difference: the first differing step's op and field paths."""
    if not records:
        return ""
    r = records[0]
    paths = sorted({_INDEX.sub("[]", p) for p, _a, _b in r["differences"]})
    return f"{r['op']}: {', '.join(paths)}"


def describe(records: list[dict], limit: int = 6) -> list[str]:
    out = []
    for r in records[:limit]:
        for p, a, b in r["differences"][:4]:
            out.append(f"step {r['step']} {' '.join([r['op']] + list(r['args']))}: "
                       f"{p}: kernel={_short(a)} impl={_short(b)}")
    return out


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


# --------------------------------------------------------------------------
# shrinking
# --------------------------------------------------------------------------

_NUM_WORD = re.compile(r"^(0x[0-9a-fA-F]+|\d+)$")


def _smaller_numbers(line: str) -> list[str]:
    words = line.split()
    out = []
    for i, w in enumerate(words[1:], 1):
        if not _NUM_WORD.match(w):
            continue
        v = int(w, 0)
        for nv in sorted({0, 1, v // 2, 8, 16, v}):
            if 0 <= nv < v or (w.startswith("0x") and nv == v):
                out.append(" ".join(words[:i] + [str(nv)] + words[i + 1:]))
    if words[0] == "open" and len(words) > 1:
        out.append("open nonblock")
    return [x for x in dict.fromkeys(out) if x != line]


def _edits(ops: list[str], keep_last: bool = False) -> list[tuple[tuple, list[str]]]:
    """The candidates of :func:`candidates`, each with its edit: ``(dropped
    indices, {index: new line})``."""
    n = len(ops)
    out: list[tuple[tuple, list[str]]] = []

    def drop(idx: range) -> None:
        cand = [x for i, x in enumerate(ops) if i not in idx]
        if cand:
            out.append(((frozenset(idx), ()), cand))

    if keep_last:
        drop(range(0, n - 1))
    else:
        for k in range(1, n):
            drop(range(k, n))
    body = n - 1 if keep_last else n
    size = max(body // 2, 1 if keep_last else 0)
    while size >= 1:
        for start in range(0, body, size):
            drop(range(start, min(start + size, body)))
        size //= 2
    for i, line in enumerate(ops):
        for repl in _smaller_numbers(line):
            out.append(((frozenset(), ((i, repl),)), ops[:i] + [repl] + ops[i + 1:]))
    seen: set[tuple[str, ...]] = set()
    uniq = []
    for e, c in out:
        if tuple(c) not in seen and c != ops:
            seen.add(tuple(c))
            uniq.append((e, c))
    return uniq


def candidates(ops: list[str], keep_last: bool = False) -> list[list[str]]:
    """Smaller programs: every proper prefix, contiguous chunks removed (halves
    down to single operations), one number made smaller; no duplicates.

    With ``keep_last`` (the difference shows in the program's last operation,
    so a program without that operation cannot show it) no candidate drops the
    last operation: no prefixes, no chunk that covers it, but that operation
    alone."""
    return [c for _e, c in _edits(ops, keep_last)]


def _merged(ops: list[str], edits: list[tuple]) -> list[str] | None:
    """Every edit at once (all the drops, the smallest new line per index): the
    next round tries it first, so that independent reductions found in one
    round need not take one round each."""
    if len(edits) < 2:
        return None
    dropped = frozenset().union(*(d for d, _r in edits))
    repl: dict[int, str] = {}
    for _d, rs in edits:
        for i, line in rs:
            if i not in repl or _cost([line]) < _cost([repl[i]]):
                repl[i] = line
    out = [repl.get(i, x) for i, x in enumerate(ops) if i not in dropped]
    return out or None


def _cost(ops: list[str]) -> tuple:
    numbers = sum(int(w, 0) for x in ops for w in x.split()[1:] if _NUM_WORD.match(w))
    return (len(ops), numbers, sum(len(x) for x in ops), ops)


def _kept(cand: list[str], verdict) -> list[str] | None:
    """A test verdict as the program to go on with: ``None``/``False`` the
    candidate does not show the difference, ``True`` it does, an int ``k`` it
    does already in its first ``k`` operations (the rest can go)."""
    if verdict is None or verdict is False:
        return None
    if verdict is True:
        return cand
    return cand[:max(1, int(verdict))]


@dataclass
class _Shrinking:
    cur: list[str]
    keep_last: bool
    cands: list[tuple[tuple | None, list[str]]] = field(default_factory=list)
    pos: int = 0
    rounds: int = 0
    done: bool = False

    def refill(self, first: list[str] | None = None) -> None:
        self.cands = sorted(_edits(self.cur, self.keep_last), key=lambda ec: _cost(ec[1]))
        if first is not None and _cost(first) < _cost(self.cur) and \
                all(c != first for _e, c in self.cands):
            self.cands.insert(0, (None, first))
        self.pos = 0
        self.done = not self.cands


def shrink_many(programs: list[tuple[list[str], bool]],
                test: Callable[[list[tuple[int, list[str]]]], list],
                max_rounds: int = 40, per_round: int = 120,
                progress: Callable[[str], None] | None = None
                ) -> list[tuple[list[str], int]]:
    """Batched delta debugging of several programs at once.

    ``programs`` are ``(ops, keep_last)`` (see :func:`candidates`).  Each round
    makes *one* call ``test([(index, candidate), ...])`` (one kernel boot) with
    up to ``per_round`` candidates of every program still shrinking, smallest
    first; the verdicts are as :func:`_kept` reads them.  The smallest
    candidate that still differs (cut to where it differs) becomes that
    program's current one; a program stops when none of its candidates differs
    or after ``max_rounds`` rounds.  Returns, per program, (the minimal
    program, rounds it took part in)."""
    states = [_Shrinking(list(ops), keep) for ops, keep in programs]
    for stt in states:
        stt.refill()
    rnd = 0
    while True:
        active = [i for i, stt in enumerate(states)
                  if not stt.done and stt.rounds < max_rounds]
        if not active:
            break
        rnd += 1
        chunk: list[tuple[int, list[str]]] = []
        edits: list[tuple | None] = []
        for i in active:
            stt = states[i]
            part = stt.cands[stt.pos:stt.pos + per_round]
            chunk += [(i, c) for _e, c in part]
            edits += [e for e, _c in part]
            stt.rounds += 1
        verdicts = test(chunk)
        hits: dict[int, list[str]] = {}
        whole: dict[int, list[tuple]] = {}    # edits whose candidate differs as it is
        for (i, c), e, v in zip(chunk, edits, verdicts):
            kept = _kept(c, v)
            if kept is None:
                continue
            if i not in hits or _cost(kept) < _cost(hits[i]):
                hits[i] = kept
            if kept == c and e is not None:
                whole.setdefault(i, []).append(e)
        for i in active:
            stt = states[i]
            if i in hits:
                before = stt.cur
                stt.cur = hits[i]
                stt.refill(_merged(before, whole.get(i, [])))
            else:
                stt.pos += per_round
                stt.done = stt.pos >= len(stt.cands)
        if progress:
            progress(f"shrink round {rnd}: {len(chunk)} candidates of {len(active)} "
                     f"program(s) in one run; now " +
                     ", ".join(f"{len(states[i].cur)}" + ("" if i in hits else "=")
                               for i in active) + " ops")
    return [(stt.cur, stt.rounds) for stt in states]


def shrink(ops: list[str], test: Callable[[list[list[str]]], list],
           max_rounds: int = 40, per_round: int = 120,
           progress: Callable[[str], None] | None = None,
           keep_last: bool = False) -> tuple[list[str], int]:
    """:func:`shrink_many` of one program; ``test(cands)`` gets the candidates
    only.  Returns (the minimal program, calls made)."""
    [(small, rounds)] = shrink_many(
        [(ops, keep_last)], lambda chunk: test([c for _i, c in chunk]),
        max_rounds, per_round, progress)
    return small, rounds


# --------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------

@dataclass
class Difference:
    kind: str                  # "kernel" (impl differs from the kernel) or "impl"
    signature: str
    programs: int              # programs that showed it
    first: str                 # name of the first program that showed it
    original: list[str]
    minimal: list[str] | None = None
    details: list[str] = field(default_factory=list)
    shrink_rounds: int = 0
    keep: int | None = None    # operations up to the step that shows it (None: the end)

    def scenario_text(self, name: str) -> str:
        head = [f"found by rbmap fuzz ({self.kind}): {self.signature}"]
        head += [f"expect: {d}" for d in self.details]
        return program_text(name, self.minimal or self.original, head)


@dataclass
class FuzzReport:
    seed: int
    on: list[str]
    programs: int = 0
    ops: int = 0
    boots: int = 0
    kernel_programs: int = 0
    unstable: int = 0
    skipped: int = 0           # programs the guest did not get to (re-queued or lost)
    seconds: float = 0.0
    shrink_seconds: float = 0.0
    uname_r: str = ""
    differences: list[Difference] = field(default_factory=list)
    guest_warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "seed": self.seed, "on": self.on, "programs": self.programs, "ops": self.ops,
            "kernel_programs": self.kernel_programs, "boots": self.boots,
            "unstable": self.unstable, "skipped": self.skipped,
            "seconds": round(self.seconds, 1),
            "shrink_seconds": round(self.shrink_seconds, 1), "uname_r": self.uname_r,
            "guest_warnings": self.guest_warnings,
            "differences": [{
                "kind": d.kind, "signature": d.signature, "programs": d.programs,
                "first": d.first, "original": d.original, "minimal": d.minimal,
                "shrink_rounds": d.shrink_rounds, "details": d.details,
                "scenario": d.scenario_text(f"fuzz_{self.seed}_{i + 1}")}
                for i, d in enumerate(self.differences)],
        }


class Fuzzer:
    """Generate, run, compare, shrink; see the module docstring."""

    def __init__(self, seed: int, on: list[str], budget: float, batch: int = 200,
                 max_programs: int | None = None, max_ops: int = MAX_OPS,
                 shrink_rounds: int = 40, log: Callable[[str], None] = lambda m: None,
                 kernel_runner: Callable | None = None):
        self.seed = seed
        self.on = on
        self.kernel = "kernel" in on
        self.budget = budget
        self.batch = batch
        self.max_programs = max_programs
        self.max_ops = max_ops
        self.shrink_rounds = shrink_rounds
        self.log = log
        self.run_kernel = kernel_runner or run_kernel
        self.report = FuzzReport(seed, on)
        self._by_sig: dict[tuple[str, str], Difference] = {}

    # -- kernel plumbing --------------------------------------------------
    def _kernel_outputs(self, named: list[tuple[str, list[str]]]) -> list[list[dict] | None]:
        """Outputs for every program, re-booting after a guest that stopped early."""
        out: list[list[dict] | None] = [None] * len(named)
        todo = list(range(len(named)))
        while todo:
            res = self.run_kernel([named[i] for i in todo])
            self.report.boots += 1
            self.report.uname_r = res.uname_r or self.report.uname_r
            for w in res.guest_warnings:
                self.log(f"guest runner: {w}")
                self.report.guest_warnings.append(w)
            done_any = False
            for j, objs in zip(todo, res.outputs):
                if objs is not None:
                    out[j] = objs
                    done_any = True
            rest = [j for j, objs in zip(todo, res.outputs) if objs is None]
            if res.stopped_in is not None:
                bad = todo[res.stopped_in]
                self.log(f"the guest stopped in {named[bad][0]}: counted as a difference "
                         f"({'; '.join(named[bad][1])})")
                out[bad] = [{"scenario": named[bad][0], "op": "guest", "step": 0,
                             "stopped": True}]
                rest = [j for j in rest if j != bad]
            if not done_any and res.stopped_in is None:
                self.report.skipped += len(rest)
                break
            todo = rest
        return out

    def _diff(self, name: str, ops: list[str], kobjs, irun: ImplRun
              ) -> tuple[str, str, list[str], int | None] | None:
        """(kind, signature, details, ops) of a program's problem, or None;
        ``ops`` is how many of its operations run up to the first step that shows
        it (None: it shows only at the end, in the clean-up's kmsg or a crash)."""
        if irun.problems:
            keep = irun.first_step - 1 if irun.first_step else None
            return "impl", irun.problems[0][0], [d for _k, d in irun.problems[:6]], keep
        if kobjs is None:
            return None
        recs = compare_outputs(kobjs, irun.objs)
        if not recs:
            return None
        step = recs[0].get("step")
        keep = step - 1 if isinstance(step, int) and step > 1 else None
        return "kernel", signature(recs), describe(recs), keep

    def _evaluate(self, named: list[tuple[str, list[str]]], kernel: bool):
        impl_runs = [run_impl(n, ops) for n, ops in named]
        kouts = self._kernel_outputs(named) if kernel else [None] * len(named)
        return [self._diff(n, ops, k, i) for (n, ops), k, i in zip(named, kouts, impl_runs)], kouts

    # -- the loop ---------------------------------------------------------
    def run(self) -> FuzzReport:
        t0 = time.monotonic()
        rep = self.report
        b = 0
        while True:
            elapsed = time.monotonic() - t0
            if elapsed >= self.budget:
                break
            if self.max_programs is not None and rep.programs >= self.max_programs:
                break
            count = self.batch
            if self.max_programs is not None:
                count = min(count, self.max_programs - rep.programs)
            progs = generate(self.seed, b, count, self.max_ops)
            named = [(f"f{self.seed}_{b}_{i}", ops) for i, ops in enumerate(progs)]
            found, kouts = self._evaluate(named, self.kernel)
            rep.programs += len(named)
            rep.ops += sum(len(ops) for _, ops in named)
            if self.kernel:
                rep.kernel_programs += sum(1 for k in kouts if k is not None)
            differing = [(nm, f, k) for nm, f, k in zip(named, found, kouts) if f]
            if differing and self.kernel:
                differing = self._confirm(differing)
            for (n, ops), (kind, sig, details, keep), _k in differing:
                key = (kind, sig)
                if key in self._by_sig:
                    self._by_sig[key].programs += 1
                else:
                    d = Difference(kind, sig, 1, n, ops, details=details, keep=keep)
                    self._by_sig[key] = d
                    rep.differences.append(d)
            self.log(f"batch {b}: {len(named)} programs ({rep.programs} in all), "
                     f"{len(differing)} differing, {len(rep.differences)} kinds, "
                     f"{time.monotonic() - t0:.0f}/{self.budget:.0f} s")
            b += 1
        if rep.differences:
            self._shrink_all(rep.differences)
        rep.seconds = time.monotonic() - t0
        return rep

    def _confirm(self, differing):
        """Keep the kernel differences that the kernel shows again, the same way."""
        kernel_side = [x for x in differing if x[1][0] == "kernel"]
        keep = [x for x in differing if x[1][0] != "kernel"]
        if not kernel_side:
            return keep
        again = self._kernel_outputs([nm for nm, _f, _k in kernel_side])
        from rbmap.cli.scenario import normalise
        for (nm, f, k), k2 in zip(kernel_side, again):
            if k2 is not None and normalise(k2) == normalise(k):
                keep.append((nm, f, k))
            else:
                self.report.unstable += 1
                self.log(f"{nm[0]}: the kernel answered differently the second time "
                         f"(unstable, not counted)")
        return keep

    def _shrink_all(self, diffs: list[Difference]) -> None:
        """Shrink every difference at once: each round is one boot holding the
        candidates of all the kernel differences (the impl ones need no boot).

        A program is first cut after the step that shows its difference (what
        follows cannot matter: each scenario starts from a fresh instance and the
        steps before it agreed); from then on no candidate drops that last step."""
        for i, d in enumerate(diffs):
            self.log(f"shrinking difference {i + 1} ({d.kind}): {d.signature}")
        t0 = time.monotonic()
        counter = [0]
        found_by: dict[tuple[str, ...], tuple] = {}

        def test(chunk: list[tuple[int, list[str]]]) -> list:
            verdicts: list = [None] * len(chunk)
            for kind in ("kernel", "impl"):
                idx = [j for j, (i, _c) in enumerate(chunk) if diffs[i].kind == kind]
                if not idx:
                    continue
                named = []
                for j in idx:
                    counter[0] += 1
                    named.append((f"s{self.seed}_{chunk[j][0]}_{counter[0]}", chunk[j][1]))
                found, _ = self._evaluate(named, kind == "kernel")
                for j, f in zip(idx, found):
                    d = diffs[chunk[j][0]]
                    if f is not None and (f[0], f[1]) == (d.kind, d.signature):
                        keep = f[3] if f[3] is not None else len(chunk[j][1])
                        verdicts[j] = keep
                        found_by[tuple(chunk[j][1][:keep])] = f
            return verdicts

        start = [(d.original[:d.keep] if d.keep else list(d.original), d.keep is not None)
                 for d in diffs]
        results = shrink_many(start, test, self.shrink_rounds, progress=self.log)
        for d, (small, rounds) in zip(diffs, results):
            d.minimal, d.shrink_rounds = small, rounds
            f = found_by.get(tuple(small))
            if f is not None:       # else: only cut, the original's details hold
                d.details = f[2]
        self.report.shrink_seconds = time.monotonic() - t0
