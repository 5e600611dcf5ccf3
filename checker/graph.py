"""``eventually`` properties on the explored state graph.

The breadth-first search records the graph compactly: state ids are the BFS
discovery order, ``offsets[u]:offsets[u + 1]`` slices ``targets`` to give the
successor ids of state ``u`` (compressed sparse rows: 4 bytes a transition).
A ``networkx.DiGraph`` with integer nodes is built only when asked for
(:meth:`StateGraph.to_networkx`), the reference the tests hold
:func:`terminal_components` to.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # networkx is imported where it is used (it costs 70 ms)
    import networkx as nx

__all__ = ["StateGraph", "scc_ids", "terminal_components", "violating_component",
           "violation_extent"]


class StateGraph:
    """Successor ids of each explored state, in compressed sparse rows.

    Attributes
    ----------
    offsets : array('q')
        ``offsets[u]`` is where state ``u``'s successors start in ``targets``;
        one entry more than expanded states.
    targets : array('i')
        Successor ids, one per transition.
    unexpanded : set of int
        States recorded without expanding them (outside the model's boundary):
        their lack of successors says nothing about the model.
    """

    __slots__ = ("offsets", "targets", "unexpanded")

    def __init__(self) -> None:
        self.offsets = array("q", [0])
        self.targets = array("i")
        self.unexpanded: set[int] = set()

    def successors(self, u: int) -> array:
        """Successor ids of state ``u``."""
        return self.targets[self.offsets[u]:self.offsets[u + 1]]

    def to_networkx(self, n: int) -> nx.DiGraph:
        """The graph over states ``0 .. n-1`` as a networkx DiGraph."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(range(n))
        offsets, targets = self.offsets, self.targets
        expanded = len(offsets) - 1
        g.add_edges_from((u, targets[e]) for u in range(expanded)
                         for e in range(offsets[u], offsets[u + 1]))
        return g


def scc_ids(graph: StateGraph, n: int) -> tuple[array, int]:
    """Strongly connected component id of every state (iterative Tarjan).

    Returns
    -------
    comp : array('i')
        Component id by state id.
    count : int
        Number of components.
    """
    offsets, targets = graph.offsets, graph.targets
    expanded = len(offsets) - 1
    index = array("i", [-1]) * n
    low = array("i", [0]) * n
    comp = array("i", [-1]) * n
    onstack = bytearray(n)
    stack: list[int] = []
    counter = 0
    ncomp = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        onstack[root] = 1
        call = [root]
        pos = [offsets[root] if root < expanded else 0]
        while call:
            v = call[-1]
            p = pos[-1]
            end = offsets[v + 1] if v < expanded else 0
            descended = False
            while p < end:
                w = targets[p]
                p += 1
                if index[w] < 0:
                    pos[-1] = p
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    onstack[w] = 1
                    call.append(w)
                    pos.append(offsets[w] if w < expanded else 0)
                    descended = True
                    break
                if onstack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            call.pop()
            pos.pop()
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    onstack[w] = 0
                    comp[w] = ncomp
                    if w == v:
                        break
                ncomp += 1
            if call and low[v] < low[call[-1]]:
                low[call[-1]] = low[v]
    return comp, ncomp


def terminal_components(graph: StateGraph, n: int,
                        engine: str = "csr") -> tuple[list[list[int]], int]:
    """Terminal strongly connected components of the explored graph.

    The default engine works on the compressed rows directly: building a
    ``networkx.DiGraph`` costs about 1 KB and several microseconds per edge
    (4 s for 120k states, most of a check's time), so networkx
    (``engine="networkx"``, ``attracting_components``) serves as the
    reference the tests compare against.

    Parameters
    ----------
    graph : StateGraph
    n : int
        Number of states.
    engine : {"csr", "networkx"}

    Returns
    -------
    components : list of list of int
        Each component's state ids, sorted, components ordered by their
        smallest id (so by BFS depth). Components with an unexpanded state
        are left out.
    skipped : int
        How many terminal components were left out for that reason.
    """
    if engine == "networkx":
        import networkx as nx

        found = [sorted(c) for c in nx.attracting_components(graph.to_networkx(n))]
    elif engine == "csr":
        comp, ncomp = scc_ids(graph, n)
        leaves = bytearray(b"\x01") * ncomp
        offsets, targets = graph.offsets, graph.targets
        for u in range(len(offsets) - 1):
            cu = comp[u]
            if leaves[cu]:
                for e in range(offsets[u], offsets[u + 1]):
                    if comp[targets[e]] != cu:
                        leaves[cu] = 0
                        break
        members: dict[int, list[int]] = {}
        for u in range(n):
            if leaves[comp[u]]:
                members.setdefault(comp[u], []).append(u)
        found = list(members.values())
    else:
        raise ValueError(f"unknown engine {engine!r}")
    comps: list[list[int]] = []
    skipped = 0
    unexpanded = graph.unexpanded
    for c in found:
        if unexpanded and not unexpanded.isdisjoint(c):
            skipped += 1
        else:
            comps.append(c)
    comps.sort(key=lambda c: c[0])
    return comps, skipped


def violating_component(comps: Iterable[list[int]], holds) -> tuple[int, int, int] | None:
    """The first component with a state where ``holds(id)`` is False.

    Returns
    -------
    tuple or None
        ``(smallest violating state id, component size, number of violating
        components)``, or None when every component satisfies ``holds``.
    """
    best = None
    count = 0
    for comp in comps:
        bad = [u for u in comp if not holds(u)]
        if bad:
            count += 1
            if best is None or bad[0] < best[0]:
                best = (bad[0], len(comp))
    return None if best is None else (best[0], best[1], count)


def violation_extent(comps: Iterable[list[int]], holds) -> dict:
    """How much of the terminal graph violates an ``eventually`` condition.

    Every figure is a count over sets (not over an exploration order), so two
    explorations of the same graph give the same extent.

    Returns
    -------
    dict
        ``terminal_components`` (all judged), ``violating_components`` (those
        with a state where ``holds(id)`` is False), ``violating_component_states``
        (the states of those components) and ``violating_states`` (the states
        where ``holds`` is False).
    """
    total = bad_comps = comp_states = bad_states = 0
    for comp in comps:
        total += 1
        bad = sum(1 for u in comp if not holds(u))
        if bad:
            bad_comps += 1
            comp_states += len(comp)
            bad_states += bad
    return {"terminal_components": total, "violating_components": bad_comps,
            "violating_component_states": comp_states, "violating_states": bad_states}
