"""Time the explorer: states per second on a model, and on the toy models.

``python -m rbmap.checker.bench`` prints the figures for the toy models.
Figures depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import sys
from time import process_time
from typing import Any

from .bfs import check_bfs

__all__ = ["bench", "explorer_only", "bytes_per_state", "states_per_second", "toy_benchmarks",
           "main"]


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
