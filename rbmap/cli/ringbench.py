"""The benchmark ring in ``rbmap bench``: the compiled engine, its threads, and SPIN.

``rbmap bench`` (no VARIANTS, or ``ring`` among them) times the cross-tool
ring model (:mod:`rbmap.checker.ring`) on the compiled engine, with
``--threads T`` also on T threads, and with ``--vs-spin`` under SPIN in the
same run, and prints the ratio.
"""

from __future__ import annotations

import click

from rbmap.cli import fail

__all__ = ["ring_options", "ring_section", "RING_NAME"]

#: the name that selects the ring among ``rbmap bench``'s VARIANTS
RING_NAME = "ring"


def _ring_size(ctx, param, value):
    try:
        parts = [int(x) for x in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 1 or parts[0] > 64 or parts[1] * parts[2] > 1 << 16:
        raise click.BadParameter(f"expected N,V,D (positive; N <= 64, V*D <= 65536), "
                                 f"got {value!r}")
    return tuple(parts)


def ring_options(f):
    """``--ring``, ``--vs-spin``, ``--threads``."""
    opts = [
        click.option("--ring", "ring_size", default="4,5,3", show_default=True,
                     callback=_ring_size, metavar="N,V,D",
                     help="Size of the benchmark ring: slots, tag modulus, payloads."),
        click.option("--vs-spin", is_flag=True,
                     help="Run the ring under SPIN too (Debian's spin), in the same "
                          "run, and print rbmap's states/s over SPIN's."),
        click.option("--threads", type=click.IntRange(1, 64), default=1,
                     show_default=True,
                     help="Also time the ring's compiled search on this many "
                          "threads (the result is the same)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def ring_section(size, vs_spin: bool, threads: int, repeat: int,
                 time_limit: float | None = None) -> tuple[list, list]:
    """Measure the ring: (JSON rows, text lines <= 80 columns). Without a C
    compiler the interpreted engine is timed instead, after a one-line notice."""
    from rbmap.checker import bench, native, spin

    engine = native.engine_choice()
    if engine != "native":
        click.echo(native.notice(_why_no_compiler()), err=True)
    if vs_spin and spin.available():
        fail(f"--vs-spin: {spin.available()}")
    N, V, D = size
    try:
        f = bench.ring(N, V, D, threads=threads, vs_spin=vs_spin, repeat=repeat,
                       engine=engine, time_limit=time_limit)
    except spin.SpinError as exc:
        fail(f"--vs-spin: {exc}")
    name = f"ring {N}/{V}/{D}"
    rows = []
    for r in f["rows"]:
        rows.append({"variant": name, "engine": r["engine"], "complete": r["complete"],
                     "states": r["states"], "transitions": r["transitions"],
                     "seconds": round(r["cpu_seconds"], 3),
                     "wall_seconds": round(r["seconds"], 3),
                     "build_seconds": round(r["build_seconds"], 2),
                     "states_per_second": round(r["states_per_second"]),
                     "bytes_per_state": round(r["bytes_per_state"], 1)})
    import os
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["", f"{f['model']}: the benchmark ring (rbmap.checker.ring), the same model "
             "in", f"every engine; states/s per CPU second (machine load {load:.1f})",
             f"{'engine':<16} {'states':>9} {'transitions':>11} {'cpu s':>6} "
             f"{'wall s':>6} {'states/s':>9} {'B/state':>7} {'build s':>7}"]
    for r in rows:
        lines.append(f"{r['engine']:<16} {r['states']:>9} {r['transitions']:>11} "
                     f"{r['seconds']:>6.2f} {r['wall_seconds']:>6.2f} "
                     f"{r['states_per_second']:>9} {r['bytes_per_state']:>7.1f} "
                     f"{r['build_seconds']:>7.2f}"
                     + ("" if r["complete"] else " partial"))
    if "ratio" in f:
        lines.append(f"rbmap / SPIN: {f['ratio']:.2f}x states per CPU second "
                     "(against SPIN's faster exact run)")
    if "speedup" in f:
        one, many = f["rows"][0], f["rows"][1]
        cpu = many["cpu_seconds"] / max(one["cpu_seconds"], 1e-9)
        lines.append(f"{threads} threads: {f['speedup']:.2f}x as fast as 1 (wall time), "
                     f"{cpu:.2f}x its CPU time")
    for who, b in f["bug"].items():
        steps = "no counterexample" if not b["steps"] else f"{b['steps']}-step counterexample"
        lines.append(f"bug variant, {who}: {steps} after {b['seconds'] * 1000:.2f} ms "
                     "of search")
    return rows, lines


def _why_no_compiler() -> str:
    from rbmap.checker import native
    try:
        native.compiler()
    except native.NoCompiler as exc:
        return str(exc)
    return "RBMAP_ENGINE=interpreted"
