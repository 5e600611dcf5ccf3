"""Scenario files (specs/scenarios/FORMAT.md): parser and the impl runner.

A scenario is what a tracefs user does to one per-CPU buffer and its mapping, one
operation per line.  :func:`parse` turns a file into :class:`Scenario` objects (or
raises :class:`ScenarioError` naming the file, the line and the problem);
:func:`run_scenarios` runs them on :class:`rbmap.impl.tracefs.Instance` and returns
one JSON-ready dict per operation, exactly as FORMAT.md specifies.  The runner uses
only the facade and the mapped bytes, like a user-space program would.
"""

from __future__ import annotations

import errno as _errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import decode

__all__ = [
    "ScenarioError",
    "Op",
    "Scenario",
    "OPS",
    "parse",
    "load",
    "run_scenarios",
    "run_parsed",
]

PAGE_SIZE = 4096
GET_READER = 0x5220  # TRACE_MMAP_IOCTL_GET_READER, _IO('R', 0x20)


class ScenarioError(ValueError):
    """A scenario file is malformed: the message names file, line and problem."""


# --------------------------------------------------------------------------
# syntax
# --------------------------------------------------------------------------

_NAME_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
_PROTS = ("r", "rw", "rx")
_SHARES = ("shared", "private")

# op -> (argument kinds of the required args, kinds of the optional args)
# kinds: "int" (decimal or 0x hex, >= 0), "name", a tuple of allowed words,
# "flags" (any of nonblock / rdwr, each at most once; only for open)
OPS: dict[str, tuple[tuple, tuple]] = {
    "scenario": (("name",), ()),
    "buffer_size_kb": (("int",), ()),
    "subbuf_size_kb": (("int",), ()),
    "resize_kb": (("int",), ()),
    "subbuf_resize_kb": (("int",), ()),
    "open": ((), ("flags", "flags")),
    "close": ((), ()),
    "markers": (("int",), ("int",)),
    "map": ((), ()),
    "unmap": ((), ()),
    "ioctl": ((), ()),
    "ioctl_raw": (("int",), ()),
    "meta": ((), ()),
    "page": ((), ("int",)),
    "read_raw": (("int",), ()),
    "read_pipe": (("int",), ()),
    "trymap": (("int", "int", _PROTS, _SHARES), ()),
    "trymap_cpu1": (("int", "int", _PROTS, _SHARES), ()),
    "trymap_boot": (("int", "int", _PROTS, _SHARES), ()),
    "snapshot": ((), ()),
    "snapshot_trigger": ((("on", "off"),), ()),
    "reset": ((), ()),
    "partial_munmap": ((), ()),
    "mprotect_write": ((), ()),
    "mremap_grow": ((), ()),
    "fork": ((), ()),
    "dofork_fork": ((), ()),
    "meta_tail": ((), ()),
}


#: The largest value each numeric argument may have (FORMAT.md, "Limits"): sizes
#: a real system can hold (a 64 MiB buffer, a 1 MiB read), counts a run finishes
#: (100000 markers), and the widths the system calls take (32-bit ioctl numbers
#: and sub-buffer IDs, 64-bit mmap lengths and offsets). op -> per argument.
U32, U64 = 2**32 - 1, 2**64 - 1
LIMITS: dict[str, tuple[int, ...]] = {
    "buffer_size_kb": (65536,),
    "subbuf_size_kb": (65536,),
    "resize_kb": (65536,),
    "subbuf_resize_kb": (65536,),
    "markers": (100000, 8192),
    "ioctl_raw": (U32,),
    "page": (U32,),
    "read_raw": (1048576,),
    "read_pipe": (1048576,),
    "trymap": (U64, U64),
    "trymap_cpu1": (U64, U64),
    "trymap_boot": (U64, U64),
}


@dataclass
class Op:
    """One operation line: ``name``, the argument words and their parsed values."""

    name: str
    args: list[str]
    values: list
    line: int


@dataclass
class Scenario:
    name: str
    line: int
    source: str
    ops: list[Op] = field(default_factory=list)
    description: list[str] = field(default_factory=list)
    # (step or None, text): "# kernel-bug: TEXT" explains a difference in the step
    # of the next operation line, or (no operation follows) in the kmsg object.
    kernel_bugs: list[tuple[int | None, str]] = field(default_factory=list)


def _number(word: str) -> int | None:
    try:
        if word.lower().startswith("0x"):
            return int(word[2:], 16)
        if word.isdigit():
            return int(word, 10)
    except ValueError:
        pass
    return None


def _parse_args(op: str, words: list[str], where: str) -> list:
    required, optional = OPS[op]
    if not (len(required) <= len(words) <= len(required) + len(optional)):
        if optional:
            want = f"{len(required)} to {len(required) + len(optional)}"
        else:
            want = str(len(required))
        raise ScenarioError(f"{where}: '{op}' takes {want} argument(s), got {len(words)}")
    values = []
    limits = LIMITS.get(op, ())
    for i, (word, kind) in enumerate(zip(words, required + optional)):
        if kind == "int":
            v = _number(word)
            if v is None:
                raise ScenarioError(f"{where}: '{op}': bad number '{word}'")
            if i < len(limits) and v > limits[i]:
                raise ScenarioError(f"{where}: '{op}': {word} is too large (at most "
                                    f"{limits[i]}; FORMAT.md, Limits)")
            values.append(v)
        elif kind == "name":
            if not _NAME_RE.match(word):
                raise ScenarioError(
                    f"{where}: bad scenario name '{word}' (letters, digits, _ and -)")
            values.append(word)
        elif kind == "flags":
            if word not in ("nonblock", "rdwr"):
                raise ScenarioError(
                    f"{where}: 'open': unknown flag '{word}' (nonblock, rdwr)")
            if word in values:
                raise ScenarioError(f"{where}: 'open': flag '{word}' given twice")
            values.append(word)
        else:
            if word not in kind:
                raise ScenarioError(
                    f"{where}: '{op}': '{word}' is not one of {', '.join(kind)}")
            values.append(word)
    return values


def parse(text: str, source: str = "<scenario>") -> list[Scenario]:
    """Parse scenario text; ``source`` names the file in error messages.

    A scenario's ``description`` is the comment block right after its
    ``scenario`` line or, when there is none, the block right before it.
    """
    scenarios: list[Scenario] = []
    block: list[str] = []        # the comment block being read
    pending_bugs: list[str] = []
    cur: Scenario | None = None
    after_header = False          # only comments since the `scenario` line
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{lineno}"
        body, hashmark, comment = raw.partition("#")
        words = body.split()
        if not words:
            ctext = comment.strip() if hashmark else None
            if ctext is None:
                if after_header and cur is not None and block:
                    cur.description = _trim(block)
                    after_header = False
                block = []
            elif ctext.startswith("kernel-bug:"):
                bug = ctext[len("kernel-bug:"):].strip()
                if cur is None:
                    raise ScenarioError(f"{where}: 'kernel-bug:' outside a scenario")
                if not bug:
                    raise ScenarioError(f"{where}: 'kernel-bug:' needs a text")
                pending_bugs.append(bug)
            else:
                block.append(ctext)
            continue
        op, rest = words[0], words[1:]
        if op not in OPS:
            raise ScenarioError(f"{where}: unknown operation '{op}'")
        values = _parse_args(op, rest, where)
        if op == "scenario":
            if cur is not None:
                if after_header and block:
                    cur.description = _trim(block)
                _close_bugs(cur, pending_bugs)
            if any(s.name == values[0] for s in scenarios):
                raise ScenarioError(f"{where}: scenario '{values[0]}' defined twice")
            cur = Scenario(values[0], lineno, source)
            cur.description = _trim(block)
            block = []
            after_header = True
            scenarios.append(cur)
            continue
        if cur is None:
            raise ScenarioError(f"{where}: '{op}' before the first 'scenario' line")
        if after_header and block:
            cur.description = _trim(block)
        after_header = False
        block = []
        cur.ops.append(Op(op, rest, values, lineno))
        step = len(cur.ops) + 1  # the `scenario` line is step 1
        cur.kernel_bugs.extend((step, b) for b in pending_bugs)
        pending_bugs = []
    if cur is not None:
        if after_header and block:
            cur.description = _trim(block)
        _close_bugs(cur, pending_bugs)
    if not scenarios:
        raise ScenarioError(f"{source}: no 'scenario' line")
    return scenarios


def _trim(block: list[str]) -> list[str]:
    """A comment block without leading/trailing empty lines (inner ones separate
    paragraphs)."""
    lines = list(block)
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _close_bugs(cur: Scenario, pending: list[str]) -> None:
    cur.kernel_bugs.extend((None, b) for b in pending)
    pending.clear()


def _looks_like_path(text_or_path) -> bool:
    if isinstance(text_or_path, os.PathLike):
        return True
    return "\n" not in text_or_path and os.path.exists(text_or_path)


def load(text_or_path) -> list[Scenario]:
    """Parse a scenario file (a path) or scenario text."""
    if _looks_like_path(text_or_path):
        path = Path(text_or_path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot read: {exc}") from None
        return parse(text, str(path))
    return parse(str(text_or_path))


# --------------------------------------------------------------------------
# running on impl
# --------------------------------------------------------------------------


@dataclass
class _Mapping:
    meta_vma: object
    meta_len: int
    data_vma: object
    data_len: int
    subbuf_size: int   # stride of sub-buffers in the data mapping


class _Runner:
    """Runs one scenario on a fresh :class:`Instance` (plain mode)."""

    def __init__(self, sc: Scenario, abi: str, layout: str, instance_factory):
        self.sc = sc
        self.abi = abi
        self.layout = layout
        self.factory = instance_factory
        self.inst = instance_factory(abi=abi, layout=layout)
        self.boot = None                    # the boot-mapped instance, for trymap_boot
        self.fd: int | None = None          # the one trace_pipe_raw fd
        self.pipe_fd: int | None = None     # trace_pipe, opened by the first read_pipe
        self.maps: list[_Mapping] = []      # live mappings, the last is current

    # ---- helpers -------------------------------------------------------

    def _fd(self) -> int | None:
        return self.fd

    def _read_meta(self, m: _Mapping) -> dict:
        if self.abi == "v2":
            return decode.decode_v2_meta(m.meta_vma.read(0, m.meta_len))
        return decode.decode_meta(m.meta_vma.read(0, decode.TRACE_BUFFER_META_SIZE))

    def _meta_geometry(self, vma) -> tuple[int, int, int]:
        """(meta_page_size, subbuf_size, nr_subbufs) from a meta mapping."""
        if self.abi == "v2":
            hdr = decode.decode_v2_meta(vma.read(0, decode.v2_header_size()))
            return hdr["meta_page_size"], PAGE_SIZE, hdr["nr_data_pages"] + 1
        hdr = decode.decode_meta(vma.read(0, decode.TRACE_BUFFER_META_SIZE))
        return hdr["meta_page_size"], hdr["subbuf_size"], hdr["nr_subbufs"]

    # ---- operations: each returns (rc, extra fields) ---------------------

    def op_write_file(self, fname: str, value: int) -> tuple[int, dict]:
        rc = self.inst.write_file(fname, str(value))
        return rc, {"value": _int_or_str(self.inst.read_file(fname))}

    def op_open(self, flags: list[str]):
        if self.fd is not None:          # a new open replaces the current fd
            self.inst.close(self.fd)
            self.fd = None
        fd = self.inst.open(nonblock="nonblock" in flags, rdwr="rdwr" in flags)
        if fd < 0:
            return fd, {}
        self.fd = fd
        return 0, {}

    def op_close(self):
        if self.fd is None:
            return -_errno.EBADF, {}
        rc = self.inst.close(self.fd)
        self.fd = None
        return rc, {}

    def op_markers(self, n: int, length: int = 8):
        for i in range(n):
            text = _marker_text(i, length)
            rc = self.inst.write_marker(text)
            if rc < 0:
                return rc, {}
        return 0, {}

    def op_map(self):
        fd = self._fd()
        if fd is None:
            return -_errno.EBADF, {}
        inst = self.inst
        rc, mvma = inst.mmap(fd, PAGE_SIZE, 0)
        if rc:
            return rc, {}
        meta_len, subbuf, nr = self._meta_geometry(mvma)
        meta_len = max(meta_len, PAGE_SIZE)
        if meta_len > PAGE_SIZE:
            # the meta area is larger than a page: map all of it before the
            # one-page probe goes away (so the mapping count never drops to 0)
            rc, whole = inst.mmap(fd, meta_len, 0)
            inst.munmap(mvma)
            if rc:
                return rc, {}
            mvma = whole
        rc, dvma = inst.mmap(fd, subbuf * nr, meta_len)
        if rc:
            inst.munmap(mvma)
            return rc, {}
        m = _Mapping(mvma, meta_len, dvma, subbuf * nr, subbuf)
        self.maps.append(m)
        return 0, {"meta": self._read_meta(m)}

    def op_unmap(self):
        if not self.maps:
            return -_errno.EINVAL, {}   # munmap of nothing: length 0
        m = self.maps.pop()
        rc = self.inst.munmap(m.data_vma)
        rc2 = self.inst.munmap(m.meta_vma)
        return rc or rc2, {}

    def op_ioctl(self, cmd: int | None = None):
        fd = self._fd()
        if fd is None:
            return -_errno.EBADF, {}
        if cmd is None:
            cmd = getattr(self.inst, "GET_READER", GET_READER)
            rc = self.inst.ioctl(fd, cmd)
            if rc == 0 and self.maps:
                return rc, {"meta": self._read_meta(self.maps[-1])}
            return rc, {}
        return self.inst.ioctl(fd, cmd), {}

    def op_meta(self):
        if not self.maps:
            return -_errno.EFAULT, {}
        return 0, {"meta": self._read_meta(self.maps[-1])}

    def op_meta_tail(self):
        """The meta area after what the ABI defines, up to meta_page_size: how many
        of those bytes are not zero (the selftest's data_mmap check; on the seed,
        bytes the kernel never wrote)."""
        if not self.maps:
            return -_errno.EFAULT, {}
        m = self.maps[-1]
        meta = self._read_meta(m)
        if self.abi == "v2":
            start = meta["data_start"] + 4 * meta["nr_data_pages"]
        else:
            start = meta["meta_struct_len"]
        size = meta["meta_page_size"]
        tail = m.meta_vma.read(start, size - start) if size > start else b""
        return 0, {"tail": {"from": start, "bytes": len(tail),
                            "nonzero": sum(1 for b in tail if b)}}

    def op_page(self, sub_id: int | None = None):
        if not self.maps:
            return -_errno.EFAULT, {}
        m = self.maps[-1]
        if sub_id is None:
            meta = self._read_meta(m)
            sub_id = meta["reader_page"] if self.abi == "v2" else meta["reader"]["id"]
        off = sub_id * m.subbuf_size
        if off + m.subbuf_size > m.data_len:
            return -_errno.EINVAL, {}
        return 0, {"page": decode.decode_subbuf(m.data_vma.read(off, m.subbuf_size),
                                                sub_id)}

    def op_read_raw(self, nbytes: int):
        fd = self._fd()
        if fd is None:
            return -_errno.EBADF, {}
        rc, data = self.inst.read(fd, nbytes)
        if rc >= decode.BUF_PAGE_HDR_SIZE:
            return rc, {"page": decode.decode_subbuf(bytes(data[:rc]), None)}
        return rc, {}

    def op_read_pipe(self, nbytes: int):
        if self.pipe_fd is None:
            fd = self.inst.open_pipe(nonblock=True)
            if fd < 0:
                return fd, {}
            self.pipe_fd = fd
        rc, data = self.inst.read(self.pipe_fd, nbytes)
        if rc < 0:
            return rc, {}
        return rc, {"pipe": pipe_summary(bytes(data[:rc]))}

    def op_trymap(self, length: int, offset: int, prot: str, share: str):
        fd = self._fd()
        if fd is None:
            return -_errno.EBADF, {}
        return self._trymap(self.inst, fd, length, offset, prot, share), {}

    @staticmethod
    def _trymap(inst, fd: int, length: int, offset: int, prot: str, share: str) -> int:
        from .tracefs import PROT_EXEC, PROT_READ, PROT_WRITE
        p = {"r": PROT_READ, "rw": PROT_READ | PROT_WRITE,
             "rx": PROT_READ | PROT_EXEC}[prot]
        rc, vma = inst.mmap(fd, length, offset, prot=p, shared=share == "shared")
        if rc == 0:
            inst.munmap(vma)
        return rc

    def op_trymap_cpu1(self, length: int, offset: int, prot: str, share: str):
        """``trymap`` on a fresh O_RDONLY|O_NONBLOCK fd of per_cpu/cpu1/trace_pipe_raw
        (a possible CPU that never came up: no cpu_buffer), closed afterwards."""
        fd = self.inst.open(nonblock=True, cpu=1)
        if fd < 0:
            return fd, {}
        rc = self._trymap(self.inst, fd, length, offset, prot, share)
        self.inst.close(fd)
        return rc, {}

    def op_trymap_boot(self, length: int, offset: int, prot: str, share: str):
        """``trymap`` on a fresh O_RDONLY|O_NONBLOCK fd of cpu0's trace_pipe_raw of
        the boot-mapped instance (TRACE_ARRAY_FL_BOOT), closed afterwards."""
        if self.boot is None:
            self.boot = self.factory(abi=self.abi, layout=self.layout)
            self.boot.boot_mapped = True
        fd = self.boot.open(nonblock=True)
        rc = self._trymap(self.boot, fd, length, offset, prot, share)
        self.boot.close(fd)
        return rc, {}

    def op_snapshot(self):
        return self.inst.write_file("snapshot", "1"), {}

    def op_snapshot_trigger(self, how: str):
        value = "snapshot" if how == "on" else "!snapshot"
        return self.inst.write_file("events/sched/sched_switch/trigger", value), {}

    def op_reset(self):
        return self.inst.write_file("trace", ""), {}

    def op_partial_munmap(self):
        if not self.maps:
            return -_errno.EFAULT, {}
        return self.inst.munmap(self.maps[-1].data_vma, 0, PAGE_SIZE), {}

    def op_mprotect_write(self):
        if not self.maps:
            return -_errno.EFAULT, {}
        from .tracefs import PROT_READ, PROT_WRITE
        return self.inst.mprotect(self.maps[-1].meta_vma, PROT_READ | PROT_WRITE), {}

    def op_mremap_grow(self):
        if not self.maps:
            return -_errno.EFAULT, {}
        m = self.maps[-1]
        return self.inst.mremap(m.meta_vma, m.meta_len + PAGE_SIZE), {}

    def op_fork(self):
        child = self.inst.fork()
        mapped = bool(self.maps) and _child_has(child, self.maps[-1].meta_vma)
        child.exit()
        return 0, {"child_mapped": mapped}

    def op_dofork_fork(self):
        if not self.maps:
            return -_errno.EFAULT, {}
        rc = self.inst.madvise_dofork(self.maps[-1].meta_vma)
        if rc:
            return rc, {}
        child = self.inst.fork()
        child.exit()
        return 0, {}

    def cleanup(self) -> None:
        """Unmap and close what the scenario left open, as the process exit would."""
        while self.maps:
            self.op_unmap()
        if self.fd is not None:
            self.op_close()
        if self.pipe_fd is not None:
            self.inst.close(self.pipe_fd)
            self.pipe_fd = None
        # the kernel runner removes the instance (rmdir), which frees its pages
        rmdir = getattr(self.inst, "rmdir", None)
        if rmdir is not None:
            rmdir()

    def dispatch(self, op: Op) -> tuple[int, dict]:
        name, v = op.name, op.values
        # FORMAT.md: the per-CPU file (a resize of all CPUs is refused while any CPU
        # is mapped, even to the same size; a per-CPU one to the same size is a no-op)
        files = {"buffer_size_kb": "per_cpu/cpu0/buffer_size_kb",
                 "resize_kb": "per_cpu/cpu0/buffer_size_kb",
                 "subbuf_size_kb": "buffer_subbuf_size_kb",
                 "subbuf_resize_kb": "buffer_subbuf_size_kb"}
        if name in files:
            return self.op_write_file(files[name], v[0])
        if name == "ioctl_raw":
            return self.op_ioctl(v[0])
        handler: Callable = getattr(self, f"op_{name}")
        try:
            if name == "open":
                return handler(v)
            return handler(*v)
        except Exception as exc:  # a signal on a user memory access
            signal = getattr(exc, "signal", None)
            if signal is None:
                raise
            return -_errno.EFAULT, {"signal": signal}


_LOST_LINE = re.compile(rb"CPU:\d+ \[LOST (\d+) EVENTS\]\n\Z")


def pipe_summary(data: bytes) -> dict:
    """What a ``read_pipe`` returned, as compared across back ends (FORMAT.md):
    ``lines`` the byte length of every newline-terminated line, ``partial`` the
    bytes after the last newline, ``lost`` the counts of its
    ``CPU:N [LOST n EVENTS]`` lines, in order."""
    lines = data.split(b"\n")
    tail = lines.pop()
    lines = [x + b"\n" for x in lines]
    lost = []
    for x in lines:
        m = _LOST_LINE.match(x)
        if m:
            lost.append(int(m.group(1)))
    return {"lines": [len(x) for x in lines], "partial": len(tail), "lost": lost}


def _marker_text(i: int, length: int) -> bytes:
    """A ``length``-character marker string, numbered so events are told apart."""
    base = f"m{i:07d}-"
    return (base * (length // len(base) + 1))[:length].encode()


def _int_or_str(s: str):
    s = s.strip()
    return int(s) if s.lstrip("-").isdigit() else s


def _default_factory(**kw):
    from .tracefs import Instance
    if kw.get("abi") == "v2":
        kw.pop("layout", None)
    return Instance(**kw)


def run_parsed(scenarios: list[Scenario], abi: str = "upstream", layout: str = "6.12",
               instance_factory=None, observer=None) -> list[dict]:
    """Run parsed scenarios; one dict per operation (FORMAT.md).

    ``observer(inst, op, obj)``, when given, is called after every operation with
    the scenario's :class:`~rbmap.impl.tracefs.Instance`, the :class:`Op` and its
    output object, and once more after the scenario's clean-up with ``op`` and
    ``obj`` None (tests and ``rbmap fuzz`` check kernel-side invariants there).
    """
    if abi not in ("upstream", "v2"):
        raise ValueError(f"abi must be 'upstream' or 'v2', not {abi!r}")
    if layout not in ("6.12", "6.10"):
        raise ValueError(f"layout must be '6.12' or '6.10', not {layout!r}")
    factory = instance_factory or _default_factory
    out: list[dict] = []
    for sc in scenarios:
        runner = _Runner(sc, abi, layout, factory)
        out.append({"step": 1, "scenario": sc.name, "op": "scenario",
                    "args": [sc.name], "rc": 0})
        out[-1]["warn"] = _new_records(runner)
        for step, op in enumerate(sc.ops, 2):
            rc, extra = runner.dispatch(op)
            obj = {"step": step, "scenario": sc.name, "op": op.name,
                   "args": list(op.args), "rc": rc}
            obj.update(extra)
            obj["warn"] = _new_records(runner)
            out.append(obj)
            if observer is not None:
                observer(runner.inst, op, obj)
        runner.cleanup()
        if observer is not None:
            observer(runner.inst, None, None)
        warn = _new_records(runner)
        if warn:
            out.append({"scenario": sc.name, "op": "kmsg", "warn": warn})
    return out


def _new_records(runner) -> list[dict]:
    """The kernel log records printed since the last call (the step's ``warn``)."""
    records = getattr(runner.inst, "kmsg_records", None)
    if records is None:       # a facade without structured records: lines only
        lines = list(runner.inst.kmsg())
        new, runner.kmsg_seen = lines[getattr(runner, "kmsg_seen", 0):], len(lines)
        return [{"kind": "WARNING", "function": "", "message": x} for x in new]
    new = records(getattr(runner, "kmsg_seen", 0))
    runner.kmsg_seen = getattr(runner, "kmsg_seen", 0) + len(new)
    return new


def run_scenarios(text_or_path, abi: str = "upstream", layout: str = "6.12",
                  instance_factory=None) -> list[dict]:
    """Parse and run a scenario file (path) or text on impl."""
    return run_parsed(load(text_or_path), abi, layout, instance_factory)


def _child_has(child, meta_vma) -> bool:
    """Whether a forked child holds a copy of the meta mapping (MADV_DOFORK)."""
    for v in getattr(child, "vmas", ()):
        if v is meta_vma or getattr(v, "offset", None) == getattr(meta_vma, "offset", 0):
            return True
    return False
