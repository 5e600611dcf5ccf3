"""The model's ``--client libtracefs`` rule held to the real library.

A client script (``specs/libtracefs/NAME.lts``) is what the guest program
``libtracefs_client.c`` runs in its ``script`` mode: writes of sequence-numbered
markers, and libtracefs readers A, B, ... that open (tracefs_cpu_open_mapped),
read (one tracefs_cpu_read_buf call and the walk of the kbuffer it returns),
drain (read until it returns no data) and close, all on one CPU, so the run is
deterministic::

    script NAME kb=4 len=1974 [overwrite=0]
    write 1
    open A
    read A
    hook 1
    read A
    close A
    end

``hook N`` makes the library's next GET_READER write N markers first (the guest
program's ioctl() is the one the static library calls): a writer committing
between the library's last load of the commit and its ioctl, which on a real
system is a writer on another CPU; in the model the same writes are taken just
before the reader's ``ioctl`` step.

``kb`` gives the ring's pages (``max(2, ceil(kb * 1024 / 4080))``), ``len`` the
marker's length and so how many events fill a sub-buffer (``page_events``) and
whether padding is left (``padding``); reader X is process pN of the model.
``run_model`` takes the same operations on the model (the writer's steps for a
write; ``map`` and ``mmap_setup`` for open; the reader's steps until it is
between calls again for a read; ``unmap`` for close) and returns, per operation,
what the guest prints: the sequence numbers a read delivered and whether the
call returned no data.  ``compare`` lists the operations where they differ.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rbmap.model import build
from rbmap.model import protocol as P

DATA = 4080  # bytes of a 4 KiB sub-buffer after its 16-byte header


class ScriptError(ValueError):
    pass


def event_size(length: int) -> int:
    """Bytes of a trace_marker event for a ``length``-character string (x86_64):
    the 16-byte print_entry head, the string, its newline and NUL; the payload
    rounded up to 4 bytes, with a 4-byte length word above 112 bytes."""
    payload = 16 + max(length, 9) + 2
    words = (payload + 3) // 4 * 4
    return words + (8 if words > 112 else 4)


def parse(text: str) -> tuple[dict, list[list[str]]]:
    """(header keys, operations) of one script."""
    lines = [ln.split() for ln in text.splitlines()]
    lines = [w for w in lines if w and not w[0].startswith("#")]
    if not lines or lines[0][0] != "script" or len(lines[0]) < 2:
        raise ScriptError("a client script starts with `script NAME key=value ...`")
    head = {"name": lines[0][1], "kb": 16, "len": 9, "overwrite": 1}
    for kv in lines[0][2:]:
        if "=" not in kv:
            raise ScriptError(f"script header: {kv!r} is not key=value")
        key, val = kv.split("=", 1)
        if key not in ("kb", "len", "overwrite"):
            raise ScriptError(f"script header: unknown key {key!r}")
        head[key] = int(val)
    ops = []
    for w in lines[1:]:
        if w[0] == "end":
            break
        if w[0] not in ("write", "open", "read", "drain", "close", "hook"):
            raise ScriptError(f"unknown operation {w[0]!r}")
        if len(w) != 2:
            raise ScriptError(f"{' '.join(w)}: one argument expected")
        ops.append(w)
    return head, ops


def model_config(head: dict, ops: list[list[str]]) -> dict:
    size = event_size(head["len"])
    k = DATA // size
    pages = max(2, math.ceil(head["kb"] * 1024 / DATA))
    readers = sorted({w[1] for w in ops if w[0] not in ("write", "hook")})
    events = sum(int(w[1]) for w in ops if w[0] in ("write", "hook"))
    if not 1 <= k <= 8 or pages > 8 or not 1 <= len(readers) <= 4 or not 1 <= events <= 40:
        raise ScriptError(f"{head['name']}: beyond the model's bounds (page_events {k}, "
                          f"pages {pages}, {len(readers)} readers, {events} events)")
    return dict(pages=pages, page_events=k, events=events, processes=len(readers),
                nesting=1, overwrite=bool(head["overwrite"]), client="libtracefs",
                padding=DATA - k * size > 0)


def run_model(text: str, variant: str = "upstream") -> list[dict]:
    """The operations of a script on the model: one object per operation."""
    head, ops = parse(text)
    cfg = model_config(head, ops)
    m = build(variant, **cfg)
    readers = sorted({w[1] for w in ops if w[0] not in ("write", "hook")})
    proc = {r: i for i, r in enumerate(readers)}
    s = m.init_states()[0]
    pending = 0  # hook: writes in front of the library's next GET_READER

    def take(actor: str, names) -> tuple:
        nonlocal s
        for a, t in m.successors(s):
            if a[0] == actor and a[1] in names:
                prev, s = s, t
                return a, prev
        raise ScriptError(f"model: {actor} cannot take {'/'.join(names)} here")

    def write(n: int) -> None:
        for _ in range(n):
            take("writer", ("write_begin",))
            while s[P.WDEPTH]:
                a = next(a for a, _ in m.successors(s) if a[0] == "writer")
                take("writer", (a[1],))

    out = []
    for step, (op, arg) in enumerate(ops, start=1):
        obj = {"op": op, "step": step}
        if op == "write":
            write(int(arg))
            obj["n"] = int(arg)
        elif op == "hook":
            pending = int(arg)
            obj["n"] = pending
        else:
            name = f"p{proc[arg]}"
            obj["who"] = arg
            b = m.PROC + P.NPF * proc[arg]
            lb = m.LTF + P.NLF * proc[arg]
            if op == "open":
                take(name, ("map",))
                take(name, ("mmap_setup",))
            elif op == "close":
                take(name, ("unmap",))
            else:
                seqs, calls, nodata = [], 0, 0
                while True:
                    calls += 1
                    take(name, ("read_buf",))
                    returned_zero = False
                    while s[lb + P.LPH] != P.L_CALL:
                        if pending and s[lb + P.LPH] in (P.L_IOCTL_MORE, P.L_IOCTL_NEXT):
                            write(pending)
                            obj["hook_wrote"] = obj.get("hook_wrote", 0) + pending
                            pending = 0
                        a, prev = take(name, ("ioctl", "ioctl_meta", "reload", "read_event"))
                        if a[1] == "read_event":
                            page, pos, base = prev[b + P.PG], prev[b + P.POS], prev[b + P.PB]
                            torn = prev[m.PBASE + page] != base or pos >= prev[m.PFILL + page]
                            seqs.append(-1 if torn else base + pos)
                        elif a[1] == "reload":
                            # the same sub-buffer: tfs_mmap_load_subbuf returned 0
                            returned_zero = s[b + P.PG] == prev[b + P.PG]
                    if returned_zero:
                        nodata = 1
                        break
                    if op == "read" or calls >= 1000:
                        break
                obj.update(calls=calls, nodata=nodata, seqs=seqs)
        out.append(obj)
    return out


def kernel_objects(objs: list[dict]) -> list[dict]:
    """The operation objects of one script run on the guest (header, stats dropped)."""
    return [o for o in objs
            if o.get("op") in ("write", "open", "read", "drain", "close", "hook")]


def compare(model: list[dict], kernel: list[dict]) -> list[str]:
    """The differences in what was delivered, one line each (empty: they agree)."""
    diffs = []
    if len(model) != len(kernel):
        diffs.append(f"{len(model)} operations on the model, {len(kernel)} on the kernel")
    for mo, ko in zip(model, kernel):
        for key in ("op", "who", "seqs", "nodata", "hook_wrote"):
            if key in mo and mo.get(key) != ko.get(key):
                diffs.append(f"step {mo['step']} {mo['op']} {mo.get('who', '')}: {key} "
                             f"model {mo.get(key)} kernel {ko.get(key)}")
    return diffs


SCRIPT_DIR = Path(__file__).resolve().parent.parent / "specs" / "libtracefs"


def recording_path(script: Path) -> Path:
    """NAME.kernel.jsonl next to NAME.lts (the scenario corpus' naming)."""
    from rbmap import kernel as k

    return k.recording_path(script)


def read_recording(path: Path) -> tuple[dict, list[dict]]:
    from rbmap import kernel as k

    return k.read_recording(path)


def run_kernel(paths: list[Path]):
    """Run the scripts on the guest in one boot; (boot, objects per script)."""
    from rbmap import kernel_client as kc

    text = "".join(Path(p).read_text().rstrip("\n") + "\n" for p in paths)
    boot = kc.run(text)
    per: list[list[dict]] = []
    for o in boot.objects:
        if o.get("op") == "script":
            per.append([])
        elif per:
            per[-1].append(o)
    if len(per) != len(paths):
        from rbmap.kernel import KernelError

        raise KernelError(f"the guest ran {len(per)} of {len(paths)} scripts")
    return boot, per


def write_recording(script: Path, header: dict, objects: list[dict]) -> Path:
    from rbmap import kernel as k

    return k.write_recording(script, header, objects)
