"""Seeded random walks, for configurations too big to explore exhaustively.

Each run starts at a randomly chosen initial state and takes up to ``depth``
uniformly chosen enabled transitions. Properties are checked on every state
of every walk. A walk proves nothing about the states it did not visit, so
nothing is ever reported as "holds" or "unreached": only "violated" /
"reached" (with the walk's path, the shortest found) or "unknown". The same
seed gives the same walks and the same result.
"""

from __future__ import annotations

import random
from time import perf_counter
from typing import Any

from .bfs import model_properties
from .model import successor_function
from .path import Path
from . import progress as progress_module
from .interrupt import requested as interrupt_requested
from .progress import ProgressLine, progress_reporter
from .properties import ALWAYS, DEADLOCK, DEADLOCK_DOC, SOMETIMES
from .result import CheckResult, PropertyResult

__all__ = ["simulate"]


def simulate(model: Any, seed: int, runs: int, depth: int, time_limit: float | None = None,
             progress: Any = None, check_deadlock: bool = True) -> CheckResult:
    """Check properties along ``runs`` random walks of up to ``depth`` steps.

    Parameters
    ----------
    model : object
        See :mod:`rbmap.checker.model`.
    seed : int
        Seed of the ``random.Random`` that picks initial states and steps.
    runs : int
        Number of walks.
    depth : int
        Maximum number of steps per walk.
    time_limit : float, optional
        Seconds; no new walk starts after that (the result says so).
    progress : None, bool or callable, optional
        See :func:`rbmap.checker.progress.progress_reporter`.
    check_deadlock : bool
        Report a state without successors (not ``terminal_ok``) as ``deadlock``.

    Returns
    -------
    CheckResult
        ``strategy`` "simulation", never complete.
    """
    t0 = perf_counter()
    rng = random.Random(seed)
    props = model_properties(model)
    succ = successor_function(model)
    within = getattr(model, "within_boundary", None)
    terminal_ok = getattr(model, "terminal_ok", None)
    report = progress_reporter(progress)
    inits = list(model.init_states())
    watched = [p for p in props if p.kind in (ALWAYS, SOMETIMES)]
    best: dict[str, Path] = {}  # property -> shortest path found so far
    seen: set = set()
    transitions = 0
    longest = 0
    stopped_by = ""
    last_report = t0

    def record(name: str, init: int, actions: list, states: list) -> None:
        old = best.get(name)
        if old is None or len(actions) < len(old.actions):
            best[name] = Path(init=init, actions=list(actions), property=name,
                              states=list(states))

    for run in range(runs):
        now = perf_counter()
        if time_limit is not None and now - t0 > time_limit:
            stopped_by = "time_limit"
            break
        if interrupt_requested():
            stopped_by = "interrupted"
            break
        if report is not None and now - last_report >= progress_module.INTERVAL:
            last_report = now
            report({"seconds": now - t0, "states": len(seen), "transitions": transitions,
                    "depth": longest, "queue": runs - run})
        k = rng.randrange(len(inits))
        s = inits[k]
        actions: list = []
        states = [s]
        while True:
            seen.add(s)
            step = len(actions)
            for p in watched:
                old = best.get(p.name)
                if old is not None and len(old.actions) <= step:
                    continue
                if bool(p.condition(s)) != (p.kind == ALWAYS):
                    record(p.name, k, actions, states)
            if step >= depth or (within is not None and not within(s)):
                break
            pairs = succ(s)
            if not isinstance(pairs, list):
                pairs = list(pairs)
            if not pairs:
                if check_deadlock and (terminal_ok is None or not terminal_ok(s)):
                    record(DEADLOCK, k, actions, states)
                break
            a, s = pairs[rng.randrange(len(pairs))]
            actions.append(a)
            states.append(s)
            transitions += 1
        longest = max(longest, len(actions))
    if isinstance(report, ProgressLine):
        report.close()

    note = "random simulation: states off the walks were not checked"
    results = []
    for p in props:
        if p.name in best:
            status = "violated" if p.kind == ALWAYS else "reached"
            results.append(PropertyResult(p.name, p.kind, status, best[p.name], doc=p.doc))
        else:
            why = "not checked by simulation" if p.kind not in (ALWAYS, SOMETIMES) else note
            results.append(PropertyResult(p.name, p.kind, "unknown", note=why, doc=p.doc))
    if check_deadlock:
        if DEADLOCK in best:
            results.append(PropertyResult(DEADLOCK, ALWAYS, "violated", best[DEADLOCK],
                                          "a state without successors", DEADLOCK_DOC))
        else:
            results.append(PropertyResult(DEADLOCK, ALWAYS, "unknown", note=note,
                                          doc=DEADLOCK_DOC))
    return CheckResult("simulation", len(seen), transitions, longest, perf_counter() - t0,
                       False, results, stopped_by)
