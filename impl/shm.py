"""The kernel-side process of a real mapping: an Instance whose mapped memory is a file.

``Instance(backing=path)`` keeps the meta area and the sub-buffers in a file laid
out as the ABI lays them out (the meta area at 0, sub-buffer ``k`` at
``meta_page_size + k * subbuf_size``), so a separate OS process maps that file
read-only with :mod:`mmap` at the offsets it would pass to ``mmap(2)`` on
``trace_pipe_raw``.  This module is the process that owns the Instance: it serves
the system calls a reader process sends over a socket (the part of the kernel a
user reaches through ``open``, ``mmap``, ``munmap``, ``ioctl``, ``close``) and, in
between, runs a writer that writes numbered ``trace_marker`` events.

Wire protocol: one JSON object per line in each direction, a request then its
reply.  Requests: ``{"call": "open", "nonblock": bool}``, ``{"call": "mmap", "fd",
"length", "offset"}`` (reply ``rc`` and a ``vma`` handle), ``{"call": "munmap",
"vma"}``, ``{"call": "ioctl", "fd", "cmd"}``, ``{"call": "close", "fd"}``, and two
harness messages: ``{"call": "start"}`` (the writer begins) and ``{"call":
"status"}`` (how many events were written, whether the writer is done).  Every
reply has ``rc`` as the system call returns it (0, a count, or a negative errno).
``{"call": "bye"}`` ends the session.
"""

from __future__ import annotations

import json
import os
import select
import socket
from dataclasses import dataclass

__all__ = ["Channel", "WriterConfig", "KernelSide", "marker_text", "MARKER_RE",
           "serve", "spawn_kernel_side"]

#: a marker payload carries "#" and its sequence number in 8 digits (9 characters:
#: a short trace_marker event, 32 bytes on x86_64)
MARKER_DIGITS = 8
MARKER_RE = rb"#(\d{8})"


def marker_text(seq: int) -> bytes:
    return b"#%08d" % seq


class Channel:
    """JSON lines over a stream socket (no buffering beyond one's own lines)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = b""

    def send(self, obj: dict) -> None:
        self.sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def recv(self) -> dict | None:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def pending(self) -> bool:
        """Whether a message (or EOF) can be read without blocking."""
        if b"\n" in self._buf:
            return True
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)

    def call(self, **req) -> dict:
        self.send(req)
        rep = self.recv()
        if rep is None:
            raise ConnectionError("kernel side closed the connection")
        return rep

    def close(self) -> None:
        self.sock.close()


@dataclass
class WriterConfig:
    events: int = 1000           # trace_marker writes, numbered 0..events-1
    batch: int = 16              # writes between two looks at the socket
    overwrite: bool = False
    buffer_size_kb: int = 16
    subbuf_size_kb: int = 4
    layout: str = "6.12"


class KernelSide:
    """Owns the Instance (upstream ABI, backing file) and serves one reader."""

    def __init__(self, backing: str, cfg: WriterConfig, instance_factory=None):
        if instance_factory is None:
            from .tracefs import Instance as instance_factory
        self.cfg = cfg
        self.inst = instance_factory(abi="upstream", layout=cfg.layout,
                                     buffer_size_kb=cfg.buffer_size_kb,
                                     subbuf_size_kb=cfg.subbuf_size_kb,
                                     overwrite=cfg.overwrite, backing=backing)
        self.vmas: dict[int, object] = {}
        self._next_vma = 1
        self.next_seq = 0
        self.started = False
        self.failed_writes = 0   # writes refused because the buffer was full

    # ---- the writer --------------------------------------------------------

    def writing(self) -> bool:
        return self.started and self.next_seq < self.cfg.events

    def write_some(self) -> int:
        """Up to ``batch`` writes; stops at the first refused one (buffer full in
        producer/consumer mode: the same event is retried after the next request)."""
        done = 0
        while done < self.cfg.batch and self.next_seq < self.cfg.events:
            rc = self.inst.write_marker(marker_text(self.next_seq))
            if rc < 0:
                self.failed_writes += 1
                break
            self.next_seq += 1
            done += 1
        return done

    # ---- system calls ------------------------------------------------------

    def handle(self, req: dict) -> dict:
        call = req.get("call")
        inst = self.inst
        if call == "open":
            return {"rc": inst.open(nonblock=bool(req.get("nonblock")))}
        if call == "close":
            return {"rc": inst.close(req["fd"])}
        if call == "mmap":
            rc, vma = inst.mmap(req["fd"], req["length"], req["offset"])
            if rc:
                return {"rc": rc}
            handle = self._next_vma
            self._next_vma += 1
            self.vmas[handle] = vma
            return {"rc": 0, "vma": handle}
        if call == "munmap":
            vma = self.vmas.pop(req["vma"], None)
            if vma is None:
                return {"rc": -22}
            return {"rc": inst.munmap(vma)}
        if call == "ioctl":
            return {"rc": inst.ioctl(req["fd"], req["cmd"])}
        if call == "start":
            self.started = True
            return {"rc": 0}
        if call == "status":
            return {"rc": 0, "written": self.next_seq, "events": self.cfg.events,
                    "done": self.next_seq >= self.cfg.events,
                    "failed_writes": self.failed_writes, "pid": os.getpid()}
        if call == "bye":
            return {"rc": 0}
        return {"rc": -38}  # ENOSYS: not a call this process serves

    def serve(self, chan: Channel) -> None:
        """Serve requests until ``bye`` or EOF, writing between requests."""
        while True:
            if self.writing():
                wrote = self.write_some()
                if wrote and not chan.pending():
                    continue
                # nothing written (full, producer/consumer mode): wait for the
                # reader, whose next ioctl frees a page
            req = chan.recv()
            if req is None:
                return
            chan.send(self.handle(req))
            if req.get("call") == "bye":
                return


def serve(sock: socket.socket, backing: str, cfg: WriterConfig,
          instance_factory=None) -> None:
    """Entry point of the kernel-side process."""
    chan = Channel(sock)
    try:
        KernelSide(backing, cfg, instance_factory).serve(chan)
    finally:
        chan.close()


def spawn_kernel_side(backing: str, cfg: WriterConfig, instance_factory=None):
    """Start the kernel-side process; returns ``(process, Channel)`` for the reader.

    The process is a separate OS process (multiprocessing, fork start method on
    Linux, so ``instance_factory`` need not be picklable); the two talk over a Unix
    stream socket pair.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = ctx.Process(target=_child, args=(theirs, ours, backing, cfg, instance_factory),
                       daemon=True)
    proc.start()
    theirs.close()
    return proc, Channel(ours)


def _child(sock, other, backing, cfg, instance_factory):
    other.close()
    serve(sock, backing, cfg, instance_factory)
