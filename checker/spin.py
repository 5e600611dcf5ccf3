"""Run SPIN on a Promela text: generate, compile and run its verifier, read its figures.

Needs the ``spin`` program (Debian's package ``spin``) and a C compiler.
:func:`run` does ``spin -a``, ``cc -O2`` with the chosen flags and ``./pan``
in a work directory, and returns what pan printed: states stored,
transitions, errors, depth, memory, its own elapsed time, and the CPU time of
pan's process (steadier than wall time on a busy machine).

``spin -a -o2`` turns off SPIN's dead-variable elimination, which may merge
states that differ in a variable it judges dead: SPIN then stores exactly the
states rbmap counts. Flag sets (:data:`MODES`) name the usual ways to run it:
``dfs`` and ``bfs`` store every state exactly, without partial-order
reduction (so the count is the state space's); ``collapse`` compresses the stored states; ``bitstate``
keeps one bit per hashed state (lossy: it may miss states; pan's hash factor
says how well it covered); ``swarm`` is bitstate with a hash polynomial and
an order of transitions drawn from a seed (:func:`swarm` runs several). ``cores=N``
builds any of them multi-core (``-DNCORE=N``).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from time import perf_counter

__all__ = ["MODES", "SpinResult", "available", "run", "swarm", "violated", "SpinError"]

#: name -> (cc -D flags, pan flags): exact modes store every state
MODES = {
    "dfs": (["-DSAFETY", "-DNOREDUCE"], []),
    "bfs": (["-DSAFETY", "-DNOREDUCE", "-DBFS"], []),
    "collapse": (["-DSAFETY", "-DNOREDUCE", "-DCOLLAPSE"], []),
    "bitstate": (["-DSAFETY", "-DNOREDUCE", "-DBITSTATE"], ["-w28"]),
    # bitstate with a hash polynomial and an order of transitions drawn from
    # -RS's seed (-hash, -DT_RAND): the same seed, the same run
    "swarm": (["-DSAFETY", "-DNOREDUCE", "-DBITSTATE", "-DT_RAND"], ["-hash"]),
}
LOSSY = ("bitstate", "swarm")


class SpinError(RuntimeError):
    """spin or the compiler failed (the message says which and why)."""


@dataclass
class SpinResult:
    mode: str
    stored: int | None = None
    transitions: int | None = None
    errors: int | None = None
    depth: int | None = None
    vector_bytes: int | None = None
    memory_mb: float | None = None
    elapsed: float | None = None      # pan's own search time (wall clock)
    cpu: float = 0.0                  # pan's CPU time (user + system)
    build: float = 0.0                # spin -a and the compile
    hash_factor: float | None = None
    notes: list = field(default_factory=list)
    output: str = ""

    @property
    def rate(self) -> float:
        """States stored per second of pan's CPU time."""
        return self.stored / self.cpu if self.stored and self.cpu > 0 else 0.0


def swarm(promela: str, runs: int = 8, seed: int = 1, width: int = 27,
          timeout: float = 1200, expected_states: int | None = None) -> list[SpinResult]:
    """``runs`` bitstate searches of ``promela`` (``-w`` ``width``: 2**width bits),
    each with its own hash polynomial and order of transitions (pan's ``-hash
    -RS`` seed ``seed + i``, built ``-DT_RAND``: the same seed, the same run)
    and 1 to 4 bits a state (``-k``), going on after a violation (``-c0``): a
    swarm, each run lossy, together covering more of the state space than one
    of them (Holzmann's swarm verification)."""
    out = []
    for i in range(runs):
        out.append(run(promela, "swarm", timeout=timeout, expected_states=expected_states,
                       extra_flags=[
                           f"-w{width}", f"-k{1 + (i + 2) % 4}", f"-RS{seed + i}",
                           "-c0"]))
    return out


def violated(res: SpinResult) -> dict[int, int]:
    """The numbers of the properties whose assertion pan found violated, each
    with the depth pan first reported it at (the export writes property k's
    assertion as ``assert(k == 0 || ...)``; run pan with ``-c0`` to have it go
    on and report every one; breadth-first, the depth is the shortest
    counterexample's length)."""
    out: dict[int, int] = {}
    for k, d in re.findall(r"assertion violated \(\((\d+)==0\)\|\|.*\(at depth (\d+)\)",
                           res.output):
        out.setdefault(int(k), int(d))
    return out


def available() -> str | None:
    """Why SPIN cannot run here, or None when it can."""
    if not shutil.which("spin"):
        return "spin is not installed (Debian: apt-get install spin)"
    if not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")):
        return "no C compiler for pan"
    return None


def _grab(pat: str, text: str, cast=float):
    m = re.search(pat, text)
    return cast(m.group(1)) if m else None


def _allow_hidden(build: FsPath) -> None:
    """Let pan run breadth-first and multi-core on a model with hidden variables.

    pan refuses hidden variables with -DBFS and -DNCORE: it cannot carry them
    from state to state there (they are not in the state vector). The export's
    hidden variables are scratch (a step's locals and its saved slots, written
    before they are read within one d_step), so they carry nothing between
    states; the lines that refuse them (pan.h's ``#define HAS_HIDDEN`` and its
    ``#error``) are dropped. By hand: ``sed -i '/HAS_HIDDEN/d;/#error cannot use
    .*hidden/d' pan.h``."""
    h = build / "pan.h"
    lines = h.read_text().splitlines(keepends=True)
    keep = [x for x in lines if "HAS_HIDDEN" not in x
            and not re.search(r"#error cannot use .*hidden", x)]
    if len(keep) != len(lines):
        h.write_text("".join(keep))


def _pan(promela: str, cflags: list, timeout: float) -> tuple[FsPath, float]:
    """SPIN's verifier for ``promela`` with ``cflags``, built once and kept in
    the cache (``$RBMAP_CACHE/spin``, else ``~/.cache/rbmap/spin``), and the
    seconds its build took (0 when cached)."""
    from .native import cache_dir

    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    version = subprocess.run(["spin", "-V"], capture_output=True, text=True).stdout
    key = hashlib.sha256("\0".join([promela, " ".join(cflags), version, cc or ""])
                         .encode()).hexdigest()[:24]
    root = cache_dir().parent / "spin"
    pan = root / key / "pan"
    if pan.exists():
        return pan, 0.0
    t0 = perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    build = FsPath(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        (build / "model.pml").write_text(promela)
        r = subprocess.run(["spin", "-a", "-o2", "model.pml"], cwd=build,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise SpinError("spin -a: " + " | ".join((r.stdout + r.stderr).strip()
                                                     .splitlines()[:3]))
        _allow_hidden(build)
        r = subprocess.run([cc, "-O2", "-DMEMLIM=16000", *cflags, "-o", "pan", "pan.c"],
                           cwd=build, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise SpinError("compiling pan: " + " | ".join(r.stderr.strip().splitlines()[:3]))
        (root / key).mkdir(exist_ok=True)
        os.replace(build / "pan", pan)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return pan, perf_counter() - t0


def run(promela: str, mode: str = "dfs", workdir: str | None = None,
        expected_states: int | None = None, extra_cflags=(), extra_flags=(),
        timeout: float = 1200, cores: int = 1) -> SpinResult:
    """Verify ``promela`` with SPIN in ``mode`` (see :data:`MODES`).

    ``expected_states`` sizes pan's hash table and depth limit (so pan's
    up-front allocation does not dominate small runs). ``cores`` > 1 builds
    pan multi-core (``-DNCORE``; its workers share the hash table, so the
    count stays exact in an exact mode).
    """
    why = available()
    if why:
        raise SpinError(why)
    cflags, flags = MODES[mode]
    if cores > 1:
        cflags = list(cflags) + [f"-DNCORE={cores}"]
    own = workdir is None
    d = FsPath(tempfile.mkdtemp(prefix="rbmap-spin-") if own else workdir)
    d.mkdir(parents=True, exist_ok=True)
    try:
        pan_path, build = _pan(promela, list(cflags) + list(extra_cflags), timeout)
        if cores > 1:   # the workers' shared memory is keyed on the source (ftok)
            (d / "model.pml").write_text(promela)
        est = expected_states or (1 << 22)
        pan = list(flags) + list(extra_flags)
        if not any(f.startswith("-w") for f in pan):
            pan.append(f"-w{max(18, est.bit_length() + 1)}")
        if "-DBFS" not in cflags and not any(f.startswith("-m") for f in pan):
            pan.append(f"-m{max(100_000, est + 1000)}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([str(pan_path), *pan], cwd=d, capture_output=True, text=True,
                           timeout=timeout)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = r.stdout
        res = SpinResult(
            mode=mode,
            stored=_grab(r"(\d+) states, stored", out, int),
            transitions=_grab(r"(\d+) transitions", out, int),
            errors=_grab(r"errors: (\d+)", out, int),
            depth=_grab(r"depth reached (\d+)", out, int),
            vector_bytes=_grab(r"State-vector (\d+) byte", out, int),
            memory_mb=_grab(r"([\d.]+)\s+total actual memory usage", out),
            elapsed=_grab(r"elapsed time ([\d.e+-]+) seconds", out),
            cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            build=build,
            hash_factor=_grab(r"hash factor:? ([\d.e+-]+)", out),
            output=out)
        if "max search depth too small" in out:
            res.notes.append("depth limit hit")
        if res.stored is None:
            raise SpinError("pan printed no state count: " + " | ".join(
                (out + r.stderr).strip().splitlines()[-3:]))
        return res
    finally:
        if own:
            shutil.rmtree(d, ignore_errors=True)
