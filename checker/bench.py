"""Time the explorer: states per second on a model, and on the toy models.

``python -m rbmap.checker.bench`` prints the figures for the toy models.
Figures depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import sys
from typing import Any

from .bfs import check_bfs

__all__ = ["bench", "states_per_second", "toy_benchmarks", "main"]


def bench(model: Any, repeat: int = 1, **check_options: Any) -> dict[str, Any]:
    """Explore ``model`` with :func:`check_bfs` and return the fastest run's figures.

    Parameters
    ----------
    model : object
    repeat : int
        Number of runs; the fastest counts (the others met more noise).
    **check_options
        Passed to :func:`check_bfs` (``max_states``, ``time_limit``, ...).

    Returns
    -------
    dict
        ``states``, ``transitions``, ``depth``, ``seconds``, ``complete``,
        ``states_per_second``, ``transitions_per_second``.
    """
    check_options.setdefault("progress", False)
    best = None
    for _ in range(max(1, repeat)):
        r = check_bfs(model, **check_options)
        if best is None or r.seconds < best.seconds:
            best = r
    return {
        "states": best.states,
        "transitions": best.transitions,
        "depth": best.max_depth,
        "seconds": best.seconds,
        "complete": best.complete,
        "states_per_second": best.states_per_second,
        "transitions_per_second": best.transitions / best.seconds if best.seconds else 0.0,
    }


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
    print(f"{'model':<22} {'states':>9} {'transitions':>11} {'s':>6} "
          f"{'states/s':>10} {'trans/s':>10}")
    for name, model in toy_benchmarks(scale):
        f = bench(model, repeat=2 if scale > 0 else 1)
        print(f"{name:<22} {f['states']:>9,} {f['transitions']:>11,} {f['seconds']:>6.2f} "
              f"{f['states_per_second']:>10,.0f} {f['transitions_per_second']:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
