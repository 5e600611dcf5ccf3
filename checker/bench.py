"""Time the explorer: states per second on a model, and on the toy models.

``python -m rbmap.checker.bench`` prints the figures for the toy models.
:func:`compiled` times the compiled engine on a step machine and :func:`spin`
SPIN on its Promela text, in the same process, so that :func:`ring` (what
``rbmap bench --vs-spin`` prints) compares them on the same work in the same
run. Figures depend on the machine and its load; they are printed, never
asserted.
"""

from __future__ import annotations

import sys
from time import process_time
from typing import Any

from .bfs import check_bfs

__all__ = ["bench", "explorer_only", "bytes_per_state", "states_per_second", "toy_benchmarks",
           "compiled", "interpreted", "spin", "ring", "main"]


def bench(model: Any, repeat: int = 1, **check_options: Any) -> dict[str, Any]:
    """Explore ``model`` with :func:`check_bfs` and return the fastest run's figures.

    Parameters
    ----------
    model : object
    repeat : int
        Number of runs; the one using the least CPU time counts.
    **check_options
        Passed to :func:`check_bfs` (``max_states``, ``time_limit``, ...).

    Returns
    -------
    dict
        ``states``, ``transitions``, ``depth``, ``seconds`` (wall clock),
        ``cpu_seconds`` (this process only: steadier on a shared machine),
        ``complete``, ``states_per_second``, ``states_per_cpu_second``,
        ``transitions_per_cpu_second``.
    """
    check_options.setdefault("progress", False)
    best = None
    for _ in range(max(1, repeat)):
        c0 = process_time()
        r = check_bfs(model, **check_options)
        cpu = process_time() - c0
        if best is None or cpu < best[1]:
            best = (r, cpu)
    r, cpu = best
    return {
        "states": r.states,
        "transitions": r.transitions,
        "depth": r.max_depth,
        "seconds": r.seconds,
        "cpu_seconds": cpu,
        "complete": r.complete,
        "states_per_second": r.states_per_second,
        "states_per_cpu_second": r.states / cpu if cpu > 0 else 0.0,
        "transitions_per_cpu_second": r.transitions / cpu if cpu > 0 else 0.0,
    }


class _Table:
    """A model replaying a recorded successor table: times the explorer alone."""

    def __init__(self, model: Any, states: list) -> None:
        from .model import successor_state_function

        succ = successor_state_function(model)
        # The successor lists hold fresh tuples, as a model's would, so lookups
        # compare values, not object identities.
        table = {s: list(succ(s)) for s in states}
        self._inits = list(model.init_states())
        self.successor_states = table.__getitem__

    def init_states(self) -> list:
        return self._inits

    def successors(self, s: Any) -> list:
        return [((k,), t) for k, t in enumerate(self.successor_states(s))]

    def properties(self) -> list:
        return []


def explorer_only(model: Any, repeat: int = 1) -> dict[str, Any]:
    """Figures of :func:`bench` with the model's own code taken out.

    Explores ``model`` once, records every state's successors in a table,
    then times the search over the table: the explorer's own cost (visited
    set, queue, parent arrays), the ceiling any model can reach.
    """
    first = check_bfs(model, progress=False, check_deadlock=False)
    table = _Table(model, list(first.exploration))
    del first
    return bench(table, repeat, check_deadlock=False)


def bytes_per_state(result: Any) -> float:
    """Memory of a BFS's visited storage per state (``sys.getsizeof`` based).

    Counts the dict, the states list, the BFS tree array, the graph arrays
    when recorded, and the state objects themselves (not the ints inside,
    shared by CPython's small-int cache for the small values states hold).
    """
    e = result.exploration
    n = len(e.keys)
    if not n:
        return 0.0
    total = (sys.getsizeof(e.ids) + sys.getsizeof(e.keys) + sys.getsizeof(e.first)
             + sum(sys.getsizeof(k) for k in e.keys))
    if e.graph is not None:
        total += sys.getsizeof(e.graph.offsets) + sys.getsizeof(e.graph.targets)
    return total / n


def states_per_second(model: Any, repeat: int = 1, **check_options: Any) -> float:
    """Distinct states per second of a full :func:`check_bfs` of ``model``."""
    return bench(model, repeat, **check_options)["states_per_second"]


def compiled(machine: Any, threads: int = 1, repeat: int = 1,
             **check_options: Any) -> dict[str, Any]:
    """Figures of the compiled engine on ``machine`` (the run with the least CPU
    time of the exploration counts; the C build is timed apart).

    Returns
    -------
    dict
        ``engine``, ``threads``, ``states``, ``transitions``, ``depth``,
        ``complete``, ``build_seconds`` (0 when the library was cached),
        ``cpu_seconds`` and ``seconds`` (the exploration's CPU time, all threads,
        and wall time), ``states_per_second`` (per CPU second),
        ``bytes_per_state`` (the visited set: table, packed states, parents),
        ``result``: the CheckResult.
    """
    from .native import check_native

    check_options.setdefault("progress", False)
    best = None
    for _ in range(max(1, repeat)):
        r = check_native(machine, threads=threads, **check_options)
        if best is None or r.explore_cpu < best.explore_cpu:
            best = r
    r = best
    cpu = max(r.explore_cpu, 1e-9)
    return {"engine": "rbmap" if threads == 1 else f"rbmap {threads} threads",
            "threads": threads, "states": r.states, "transitions": r.transitions,
            "depth": r.max_depth, "complete": r.complete,
            "build_seconds": r.build_seconds, "cpu_seconds": cpu,
            "seconds": r.explore_seconds, "states_per_second": r.states / cpu,
            "bytes_per_state": r.exploration.bytes / max(1, r.states), "result": r}


def interpreted(machine: Any, repeat: int = 1, **check_options: Any) -> dict[str, Any]:
    """:func:`compiled`'s figures from the interpreted explorer (``check_bfs``)."""
    f = bench(machine, repeat, **check_options)
    r = check_bfs(machine, progress=False, **check_options)
    return {"engine": "rbmap interpreted", "threads": 1, "states": f["states"],
            "transitions": f["transitions"], "depth": f["depth"],
            "complete": f["complete"], "build_seconds": 0.0,
            "cpu_seconds": f["cpu_seconds"], "seconds": f["seconds"],
            "states_per_second": f["states_per_cpu_second"],
            "bytes_per_state": bytes_per_state(r), "result": r}


def spin(machine: Any, mode: str = "dfs", expected_states: int | None = None) -> dict[str, Any]:
    """Figures of SPIN (:mod:`rbmap.checker.spin`) on ``machine``'s Promela.

    ``states`` is SPIN's count less the states the export adds
    (:func:`rbmap.checker.promela.extra_states`), so it compares with the
    explorers' counts; ``states_per_second`` is per CPU second of pan.
    """
    from . import spin as spin_module
    from .promela import extra_states, to_promela

    r = spin_module.run(to_promela(machine), mode, expected_states=expected_states)
    stored = (r.stored or 0) - extra_states(machine)
    cpu = max(r.cpu, 1e-9)
    return {"engine": f"SPIN {mode}", "threads": 1, "states": stored,
            "transitions": r.transitions, "depth": r.depth, "complete": not r.notes,
            "errors": r.errors, "build_seconds": r.build, "cpu_seconds": cpu,
            "seconds": r.elapsed or 0.0, "states_per_second": stored / cpu,
            "bytes_per_state": (r.memory_mb or 0) * 1048576 / max(1, stored),
            "result": r}


def ring(N: int = 4, V: int = 5, D: int = 3, threads: int = 1, vs_spin: bool = False,
         repeat: int = 1, engine: str = "native",
         time_limit: float | None = None) -> dict[str, Any]:
    """The benchmark ring (:mod:`rbmap.checker.ring`) on the compiled engine
    (1 and ``threads`` threads) and, with ``vs_spin``, on SPIN (dfs, bfs), in
    this run; and the CPU time to the bug variant's shortest counterexample
    (the compiled engine stops at it; SPIN's breadth-first search at its
    first error).

    Returns
    -------
    dict
        ``rows`` (the figures of :func:`compiled` / :func:`spin`, ``result``
        left out), ``bug`` (``steps`` and ``seconds`` per engine), ``ratio``
        (rbmap's states per CPU second over the best exact SPIN run's), and
        ``speedup`` (wall time of 1 thread over ``threads`` threads).
        ``engine="interpreted"`` (no C compiler) times the interpreted explorer
        instead (one thread, ``time_limit`` seconds at most).
    """
    from .ring import Ring

    m = Ring(N, V, D)
    if engine == "native":
        rows = [compiled(m, 1, repeat)]
        if threads > 1:
            rows.append(compiled(m, threads, repeat))
    else:
        threads = 1
        rows = [interpreted(m, repeat, time_limit=time_limit)]
    expected = rows[0]["states"]
    bug = Ring(N, V, D, bug=True)
    if engine == "native":
        b = compiled(bug, 1, repeat, stop_on_violation=True)
    else:
        b = interpreted(bug, repeat, stop_on_violation=True, time_limit=time_limit)
    fifo = b["result"]["fifo"]
    bugs = {"rbmap": {"steps": len(fifo.path) if fifo.path else None,
                      "seconds": b["cpu_seconds"]}}
    if vs_spin:
        for mode in ("dfs", "bfs"):
            rows.append(spin(m, mode, expected))
        sb = spin(bug, "bfs", expected)
        bugs["SPIN bfs"] = {"steps": sb["result"].depth, "seconds": sb["cpu_seconds"],
                            "errors": sb["errors"]}
    for r in rows:
        r.pop("result", None)
    out: dict[str, Any] = {"model": f"ring N={N} V={V} D={D}", "rows": rows, "bug": bugs}
    spins = [r for r in rows if r["engine"].startswith("SPIN")]
    if spins:
        best = max(r["states_per_second"] for r in spins)
        out["ratio"] = rows[0]["states_per_second"] / best if best else None
    if threads > 1:
        out["speedup"] = rows[0]["seconds"] / max(rows[1]["seconds"], 1e-9)
    return out


def toy_benchmarks(scale: int = 1) -> list[tuple[str, Any]]:
    """The toy models timed by :func:`main`; ``scale`` 0 makes them small (tests)."""
    from .toys import Counters, LostUpdate, TwoPhaseCommit

    if scale <= 0:
        return [("counters(3 x 0..20)", Counters(3, 20)),
                ("two_phase_commit(5)", TwoPhaseCommit(5)),
                ("lost_update(4)", LostUpdate(4))]
    return [("counters(3 x 0..80)", Counters(3, 80)),
            ("two_phase_commit(7)", TwoPhaseCommit(7)),
            ("lost_update(6)", LostUpdate(6))]


def main(argv: list[str] | None = None) -> int:
    """Print states/s and transitions/s of the toy models."""
    argv = sys.argv[1:] if argv is None else argv
    scale = int(argv[0]) if argv else 1
    repeat = 2 if scale > 0 else 1
    print("CPU time of this process (wall clock in brackets), best of", repeat)
    print(f"{'model':<22} {'states':>9} {'transitions':>11} {'cpu s':>6} "
          f"{'states/s':>10} {'trans/s':>10} {'B/state':>8}")
    for name, model in toy_benchmarks(scale):
        r = check_bfs(model, progress=False)
        size = bytes_per_state(r)
        del r
        for label, f in ((name, bench(model, repeat=repeat)),
                         ("  explorer alone", explorer_only(model, repeat=repeat))):
            print(f"{label:<22} {f['states']:>9,} {f['transitions']:>11,} "
                  f"{f['cpu_seconds']:>6.2f} {f['states_per_cpu_second']:>10,.0f} "
                  f"{f['transitions_per_cpu_second']:>10,.0f} "
                  f"{size:>8.0f}  ({f['seconds']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
