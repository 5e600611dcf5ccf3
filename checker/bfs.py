"""Exhaustive breadth-first exploration with exact visited-state storage.

Ids are the BFS discovery order, so the ``keys`` list is the queue itself,
and the depth of every state is known from where each level starts. The
states a state discovers get consecutive ids, so the BFS tree is stored as
one int per expanded state, the id of its first new child (``first``): the
parent of state ``c`` is the last ``p`` with ``first[p] <= c`` (a bisection).
Per distinct state that is one dict entry (state -> id: the exact key, no
lossy hashing), one list slot and 4 bytes; 4 bytes a transition more when
the model has an ``eventually`` property (the graph it is checked on).

The dict key is the state itself, or, when the model sets ``state_struct`` (a
``struct`` format such as ``"<79H"``), the state packed into bytes: 2 bytes a
field instead of 8 plus a tuple header, a third of the memory for wide states,
and bytes hash and compare faster than tuples (the packing costs about as
much as that saves). A state is unpacked once, when it leaves the queue.

Actions are not stored. A path is rebuilt by re-running the model from the
initial state: at each step the parent's successors must again discover
exactly the children ids the search gave (in the same order), otherwise the
model is not deterministic (iterating a set or dict, hidden state) and
:class:`NondeterminismError` says at which step. This is one int per state
less than storing the transition index, and a stronger check.

Properties are evaluated once per distinct state when it leaves the queue; the
queue is in BFS order, so the first violating state found has a shortest path.
The search goes on after a violation (unless ``stop_on_violation``) so every
property gets a verdict.
"""

from __future__ import annotations

import gc
import struct
import sys
from array import array
from bisect import bisect_right
from time import perf_counter
from typing import Any

from .graph import StateGraph, terminal_components, violating_component, violation_extent
from .model import ModelError, successor_function, successor_state_function
from .path import NondeterminismError, Path
from . import progress as progress_module
from .interrupt import requested as interrupt_requested
from .progress import ProgressLine, progress_reporter
from .properties import ALWAYS, DEADLOCK, DEADLOCK_DOC, EVENTUALLY, SOMETIMES, Property
from .result import CheckResult, PropertyResult

__all__ = ["check_bfs", "Exploration", "model_properties"]


def model_properties(model: Any) -> list[Property]:
    """The model's properties, checked: names unique, ``deadlock`` reserved."""
    for method in ("init_states", "properties"):
        if not callable(getattr(model, method, None)):
            raise ModelError(f"{type(model).__name__} is not a model: it needs {method}()")
    successor_function(model)  # raises ModelError when it has no transitions
    props = list(model.properties())
    names = [p.name for p in props]
    dup = {x for x in names if names.count(x) > 1}
    if dup:
        raise ValueError(f"duplicate property names: {sorted(dup)}")
    if DEADLOCK in names:
        raise ValueError(f"{DEADLOCK!r} is the built-in deadlock property's name")
    return props


class Exploration:
    """The states a breadth-first search visited, with their BFS tree.

    Iterating gives the states in id order; :meth:`state` gives one.

    Attributes
    ----------
    keys : list
        Stored key by id (ids are the discovery order): the state, or its
        packed bytes when the model has ``state_struct``.
    ids : dict
        Id by key.
    first : array('i')
        For each expanded state (by id), the id its first new child got.
    init_index : list of int
        For each initial state id, its index in ``init_states()``.
    level_starts : list of int
        Id of the first state of each depth.
    dropped : bool
        A bound kept some successors out of ``keys``.
    graph : StateGraph or None
        The transitions between ids, recorded only when the model has an
        ``eventually`` property.
    """

    def __init__(self, model, inits, keys, ids, first, init_index, level_starts,
                 dropped=False, graph=None):
        self.model = model
        self.inits = inits
        self.keys = keys
        self.ids = ids
        codec = _codec(model)
        self.pack, self.unpack = codec if codec else (None, None)
        self.first = first
        self.init_index = init_index
        self.level_starts = level_starts
        self.dropped = dropped
        self.graph = graph

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self):
        unpack = self.unpack
        return iter(self.keys) if unpack is None else (unpack(k) for k in self.keys)

    def __contains__(self, state) -> bool:
        return self.key(state) in self.ids

    def key(self, state):
        """The stored key of ``state``."""
        return state if self.pack is None else self.pack(*state)

    def state(self, i: int):
        """The state with id ``i``."""
        k = self.keys[i]
        return k if self.unpack is None else self.unpack(k)

    def id_of(self, state) -> int:
        """The id of ``state`` (KeyError if it was not seen)."""
        return self.ids[self.key(state)]

    def depth(self, state) -> int:
        """BFS depth (shortest distance from an initial state) of ``state``."""
        return self.depth_of_id(self.id_of(state))

    def depth_of_id(self, i: int) -> int:
        """BFS depth of the state with id ``i``."""
        return bisect_right(self.level_starts, i) - 1

    def parent_of_id(self, i: int) -> int:
        """Id of the state that discovered state ``i`` (-1 for an initial state)."""
        if i < len(self.init_index):
            return -1
        return bisect_right(self.first, i) - 1

    def path_to(self, state, prop: str | None = None) -> Path:
        """A shortest path to ``state`` (rebuilt by replay)."""
        return self.path_to_id(self.id_of(state), prop)

    def path_to_id(self, i: int, prop: str | None = None) -> Path:
        """A shortest path to the state with id ``i``, rebuilt by replay.

        Raises
        ------
        NondeterminismError
            When the model's successors differ from what the search saw.
        """
        chain = [i]
        while chain[-1] >= len(self.init_index):
            chain.append(self.parent_of_id(chain[-1]))
        chain.reverse()
        what = f"the path to {prop}" if prop else "the path"
        start = self.init_index[chain[0]]
        s = list(self.model.init_states())[start]
        if s != self.state(chain[0]):
            raise NondeterminismError(
                f"{what}: init_states()[{start}] changed between calls; the model's "
                "initial states are not deterministic")
        actions, states = [], [s]
        for step, (p, c) in enumerate(zip(chain, chain[1:]), 1):
            a, s = self._replay_step(p, c, f"step {step} of {what}")
            actions.append(a)
            states.append(s)
        return Path(init=start, actions=actions, property=prop, states=states)

    def _replay_step(self, p: int, c: int, where: str):
        # Re-run the parent's successors: its first occurrences of states with
        # ids from first[p] on must be exactly its children, in id order.
        s = self.state(p)
        pairs = list(successor_function(self.model)(s))
        fast = getattr(self.model, "successor_states", None)
        if fast is not None and list(fast(s)) != [t for _, t in pairs]:
            raise NondeterminismError(
                f"{where}: successor_states() lists other states, or in another order, "
                "than successors()")
        lo = self.first[p]
        hi = self.first[p + 1] if p + 1 < len(self.first) else len(self.keys)
        new, k_child = [], -1
        for k, (_, t) in enumerate(pairs):
            i = self.ids.get(self.key(t))
            if i is None and not self.dropped:
                raise NondeterminismError(
                    f"{where}: a successor the search never saw appeared; the model's "
                    "successors are not deterministic (iterating a set or dict? keeping "
                    "hidden state?)")
            if i is not None and i >= lo and i not in new:
                new.append(i)
                if i == c:
                    k_child = k
        if new != list(range(lo, hi)) or k_child < 0:
            raise NondeterminismError(
                f"{where}: re-running successors() discovers other states, or in another "
                "order, than the search did; the model's successors are not deterministic "
                "(iterating a set or dict? keeping hidden state?)")
        return pairs[k_child]


def _codec(model: Any):
    """``(pack, unpack)`` from the model's ``state_struct`` format, or None."""
    fmt = getattr(model, "state_struct", None)
    if not fmt:
        return None
    st = struct.Struct(fmt)
    return st.pack, st.unpack


def _first_false(conds, s):
    for c in conds:
        if not c(s):
            return True
    return False


def check_bfs(model: Any, max_states: int | None = None, max_depth: int | None = None,
              time_limit: float | None = None, progress: Any = None,
              stop_on_violation: bool = False, check_deadlock: bool = True) -> CheckResult:
    """Explore every reachable state breadth-first and check the properties.

    Parameters
    ----------
    model : object
        See :mod:`rbmap.checker.model`.
    max_states : int, optional
        Stop discovering new states once this many are known.
    max_depth : int, optional
        Do not discover states deeper than this (initial states are depth 0).
    time_limit : float, optional
        Seconds; stop when exceeded.
    progress : None, bool or callable, optional
        See :func:`rbmap.checker.progress.progress_reporter`.
    stop_on_violation : bool
        Stop at the first violated property instead of exploring on.
    check_deadlock : bool
        Report states without successors as the ``deadlock`` property.

    Returns
    -------
    CheckResult
        ``complete`` is False when a bound stopped the search; then no
        property is reported as holding or unreached ("unknown" instead).

    Examples
    --------
    >>> from rbmap.checker.toys import Counters
    >>> r = check_bfs(Counters(2, 3))
    >>> r.states, r.transitions, r.max_depth, r.complete
    (16, 24, 6, True)
    """
    # The search allocates millions of long-lived tuples and no cycles; the
    # cyclic garbage collector would rescan them over and over.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_bfs(model, max_states, max_depth, time_limit, progress,
                          stop_on_violation, check_deadlock)
    finally:
        if gc_was_enabled:
            gc.enable()


def _check_bfs(model, max_states, max_depth, time_limit, progress, stop_on_violation,
               check_deadlock):
    t0 = perf_counter()
    props = model_properties(model)
    succ = successor_state_function(model)
    within = getattr(model, "within_boundary", None)
    terminal_ok = getattr(model, "terminal_ok", None)
    check_state = getattr(model, "check_state", None)
    report = progress_reporter(progress)

    always_props = [p for p in props if p.kind == ALWAYS]
    some_props = [p for p in props if p.kind == SOMETIMES]
    ev_props = [p for p in props if p.kind == EVENTUALLY]
    found: dict[str, int] = {}  # property name -> state id (violation or example)
    always_conds = [p.condition for p in always_props]
    some_conds = [p.condition for p in some_props]
    if not always_conds:
        check_state = None

    def record_always(s, i):
        # Evaluate the not yet violated always properties one by one.
        nonlocal always_conds
        before = len(found)
        for p in always_props:
            if p.name not in found and not p.condition(s):
                found[p.name] = i
        always_conds = [p.condition for p in always_props if p.name not in found]
        return len(found) > before

    def record_sometimes(s, i):
        nonlocal some_conds
        for p in some_props:
            if p.name not in found and p.condition(s):
                found[p.name] = i
        some_conds = [p.condition for p in some_props if p.name not in found]

    codec = _codec(model)
    pack, unpack = codec if codec else (None, None)
    inits = list(model.init_states())
    keys: list = []
    ids: dict = {}
    init_index: list[int] = []
    limit = sys.maxsize if max_states is None else max_states
    dropped = False
    for k, s in enumerate(inits):
        key = s if pack is None else pack(*s)
        if key not in ids:
            if len(keys) >= limit:
                dropped = True
                break
            ids[key] = len(keys)
            keys.append(key)
            init_index.append(k)

    graph = StateGraph() if ev_props else None
    record_edges = graph is not None
    if record_edges:
        offsets_append = graph.offsets.append
        targets = graph.targets
        targets_append = targets.append
    first = array("i")  # ids: 4 bytes a state (2**31 states is far beyond memory)
    first_append = first.append
    setdefault = ids.setdefault
    append = keys.append

    n = len(keys)
    depth = 0  # depth of the states being expanded
    level_starts = [0]
    level_end = n
    depth_frozen = max_depth is not None and max_depth <= 0
    if depth_frozen:
        limit = n
    transitions = 0
    stopped_by = drop_reason = "max_states" if dropped else ""
    exhausted = False
    next_tick = 512
    # The next cursor at which the slow bookkeeping (new level, clock) runs.
    checkpoint = min(level_end, next_tick)
    last_report = t0
    checked_at, checked_count = t0, 0
    deadlock_id = -1
    cursor = 0

    # The list of keys is the queue: iterating a list while appending to it
    # visits the appended keys too, in order.
    for cursor, s in enumerate(keys):
        if unpack is not None:
            s = unpack(s)
        if cursor == checkpoint:
            if cursor == level_end:
                depth += 1
                level_starts.append(cursor)
                level_end = n
                if max_depth is not None and depth >= max_depth:
                    limit = n
                    depth_frozen = True
            if cursor >= next_tick:
                now = perf_counter()
                # Aim at one clock reading about every 0.05 s.
                rate = (cursor - checked_count) / max(now - checked_at, 1e-6)
                next_tick = cursor + max(64, min(1 << 16, int(rate * 0.05)))
                checked_at, checked_count = now, cursor
                if time_limit is not None and now - t0 > time_limit:
                    stopped_by = "time_limit"
                    break
                if interrupt_requested():
                    stopped_by = "interrupted"
                    break
                if report is not None and now - last_report >= progress_module.INTERVAL:
                    last_report = now
                    report({"seconds": now - t0, "states": n, "transitions": transitions,
                            "depth": depth, "queue": n - cursor})
            checkpoint = min(level_end, next_tick)
        if check_state is not None:
            if check_state(s) >= 0:
                hit = record_always(s, cursor)
                if not always_conds:
                    check_state = None
                if hit and stop_on_violation:
                    stopped_by = "violation"
                    break
        elif always_conds and _first_false(always_conds, s):
            if record_always(s, cursor) and stop_on_violation:
                stopped_by = "violation"
                break
        if some_conds:
            for c in some_conds:
                if c(s):
                    record_sometimes(s, cursor)
                    break
        first_append(n)
        if within is not None and not within(s):
            if record_edges:
                graph.unexpanded.add(cursor)
                offsets_append(len(targets))
            continue
        succs = succ(s)
        try:
            m = len(succs)
        except TypeError:  # a generator
            succs = list(succs)
            m = len(succs)
        transitions += m
        # The hot loop: one dict operation per transition (setdefault hashes
        # the state once whether it is new or known), one append per new
        # state. The branch on record_edges costs less than the timing noise.
        for t in succs:
            if pack is not None:
                t = pack(*t)
            i = setdefault(t, n)
            if i == n:
                if n >= limit:
                    del ids[t]
                    if not dropped:
                        dropped = True
                        drop_reason = "max_depth" if depth_frozen else "max_states"
                    continue
                append(t)
                n += 1
            if record_edges:
                targets_append(i)
        if record_edges:
            offsets_append(len(targets))
        if not m and check_deadlock and deadlock_id < 0:
            if terminal_ok is None or not terminal_ok(s):
                deadlock_id = cursor
                if stop_on_violation:
                    stopped_by = "violation"
                    break
    else:
        exhausted = True

    if report is not None and isinstance(report, ProgressLine):
        report.close()
    if dropped and not stopped_by:
        stopped_by = drop_reason
    complete = exhausted and not dropped
    if level_end < n:
        # The last discovered level was never reached by the cursor.
        level_starts.append(level_end)
    max_depth_seen = len(level_starts) - 1

    explo = Exploration(model, inits, keys, ids, first, init_index, level_starts, dropped,
                        graph)
    results = []
    for p in props:
        results.append(_verdict(p, found, complete, explo, graph, n))
    if check_deadlock:
        doc = DEADLOCK_DOC
        if deadlock_id >= 0:
            results.append(PropertyResult(DEADLOCK, ALWAYS, "violated",
                                          explo.path_to_id(deadlock_id, DEADLOCK),
                                          "a state without successors", doc))
        else:
            results.append(PropertyResult(DEADLOCK, ALWAYS, "holds" if complete else "unknown",
                                          doc=doc))
    return CheckResult("bfs", n, transitions, max_depth_seen, perf_counter() - t0, complete,
                       results, stopped_by, explo)


def _verdict(p: Property, found: dict, complete: bool, explo: Exploration,
             graph: StateGraph | None, n: int) -> PropertyResult:
    incomplete_note = "the exploration was incomplete"
    if p.kind == ALWAYS:
        if p.name in found:
            return PropertyResult(p.name, p.kind, "violated",
                                  explo.path_to_id(found[p.name], p.name), doc=p.doc)
        if complete:
            return PropertyResult(p.name, p.kind, "holds", doc=p.doc)
        return PropertyResult(p.name, p.kind, "unknown", note=incomplete_note, doc=p.doc)
    if p.kind == SOMETIMES:
        if p.name in found:
            return PropertyResult(p.name, p.kind, "reached",
                                  explo.path_to_id(found[p.name], p.name), doc=p.doc)
        if complete:
            return PropertyResult(p.name, p.kind, "unreached",
                                  note="no reachable state satisfies it", doc=p.doc)
        return PropertyResult(p.name, p.kind, "unknown", note=incomplete_note, doc=p.doc)
    if not complete:
        return PropertyResult(p.name, p.kind, "unknown", note=incomplete_note, doc=p.doc)
    return _eventually(p, explo, graph, n)


def _eventually(p: Property, explo: Exploration, graph: StateGraph, n: int) -> PropertyResult:
    comps, skipped = _components(explo, graph, n)
    state, cond = explo.state, p.condition
    verdicts: dict[int, bool] = {}

    def holds(u):
        v = verdicts.get(u)
        if v is None:
            v = verdicts[u] = bool(cond(state(u)))
        return v

    bad = violating_component(comps, holds)
    extent = violation_extent(comps, holds)
    if skipped:
        extent["skipped_components"] = skipped
    skip_note = (f"; {skipped} terminal component(s) at the model boundary not judged"
                 if skipped else "")
    if bad is None:
        return PropertyResult(p.name, p.kind, "holds",
                              note=f"{len(comps)} terminal component(s) checked{skip_note}",
                              doc=p.doc, extent=extent)
    target, size, count = bad
    note = f"stuck in a terminal component of {size} states where {p.name} is false"
    if count > 1:
        note += f" ({count} such components)"
    return PropertyResult(p.name, p.kind, "violated", explo.path_to_id(target, p.name),
                          note + skip_note, p.doc, extent)


def _components(explo: Exploration, graph: StateGraph, n: int):
    # Computed once per exploration, shared by all eventually properties.
    cached = getattr(explo, "_terminal_components", None)
    if cached is None:
        cached = terminal_components(graph, n)
        explo._terminal_components = cached
    return cached
