"""``eventually`` on the explored graph; BFS depths and terminal components
against networkx on random graphs (Hypothesis)."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from rbmap.checker import check_bfs, eventually, terminal_components
from rbmap.checker.toys import LostUpdate, Retry


def test_eventually_holds_when_every_terminal_component_is_good():
    r = check_bfs(Retry())
    assert r["finishes"].status == "holds"
    assert r["finishes"].path is None


def test_livelock_violates_eventually_with_shortest_path_and_note():
    r = check_bfs(Retry(livelock=True))
    f = r["finishes"]
    assert f.status == "violated"
    assert f.path.actions == [("stall",)]
    assert f.note == "stuck in a terminal component of 2 states where finishes is false"
    assert f.extent == {"terminal_components": 2, "violating_components": 1,
                        "violating_component_states": 2, "violating_states": 2}
    assert r["deadlock"].status == "holds"  # a livelock, not a deadlock


def test_eventually_on_lost_update():
    r = check_bfs(LostUpdate(3))
    assert r["all_done"].status == "holds"
    assert r["lost_update"].status == "reached"


def test_eventually_unknown_when_incomplete():
    r = check_bfs(Retry(livelock=True), max_depth=1)
    assert r["finishes"].status == "unknown"


class Graph:
    """A model over a digraph: state = node, one action per edge, sorted."""

    def __init__(self, n, edges, good=frozenset(), terminal=frozenset()):
        self.adj = {u: sorted({v for a, v in edges if a == u}) for u in range(n)}
        self.good = good
        self.terminal = terminal

    def init_states(self):
        return [0]

    def successors(self, s):
        return [(("go", t), t) for t in self.adj[s]]

    def terminal_ok(self, s):
        return s in self.terminal

    def properties(self):
        good = self.good

        @eventually("good")
        def is_good(s):
            """The node is good."""
            return s in good

        return [is_good]


graphs = st.integers(min_value=1, max_value=10).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
    st.frozensets(st.integers(0, n - 1)),
))


def _check_and_reference(n, edges, good):
    """check_bfs of the graph model, and the same graph in networkx."""
    ref = nx.DiGraph()
    ref.add_nodes_from(range(n))
    ref.add_edges_from(set(edges))
    return check_bfs(Graph(n, edges, good)), ref


@settings(max_examples=150, deadline=None)
@given(graphs)
def test_bfs_depth_is_the_true_shortest_distance(g):
    r, ref = _check_and_reference(*g)
    dist = nx.single_source_shortest_path_length(ref, 0)
    assert r.complete
    assert set(r.exploration) == set(dist)
    assert r.transitions == sum(ref.out_degree(u) for u in dist)
    assert r.max_depth == max(dist.values())
    for s, d in dist.items():
        assert r.exploration.depth(s) == d
        path = r.exploration.path_to(s)
        assert len(path) == d and path.states[-1] == s
    dead = sorted((u for u in dist if ref.out_degree(u) == 0), key=lambda u: (dist[u], u))
    assert (r["deadlock"].status == "violated") == bool(dead)
    if dead:
        assert len(r["deadlock"].path) == dist[dead[0]]


@settings(max_examples=150, deadline=None)
@given(graphs)
def test_terminal_components_and_eventually_against_networkx(g):
    r, ref = _check_and_reference(*g)
    good = g[2]
    graph = r.exploration.graph
    ours, skipped = terminal_components(graph, r.states)
    theirs, _ = terminal_components(graph, r.states, engine="networkx")
    assert ours == theirs and skipped == 0
    # Brute force, without components: u sits in a terminal component iff
    # every state reachable from u reaches u back.
    reach = {0} | nx.descendants(ref, 0)
    bottom = [u for u in reach if all(u in nx.descendants(ref, v) | {v}
                                      for v in nx.descendants(ref, u) | {u})]
    assert sorted(bottom) == sorted(r.exploration.state(i) for c in ours for i in c)
    bad = [u for u in bottom if u not in good]
    e = r["good"]
    assert e.status == ("violated" if bad else "holds")
    if bad:
        # The path ends in a bad state of a terminal component, as close as any.
        assert e.path.states[-1] == min(bad, key=r.exploration.id_of)
        assert len(e.path) == min(r.exploration.depth(u) for u in bad)
    # the extent, from networkx's attracting components
    comps = [c for c in nx.attracting_components(ref.subgraph(reach))]
    bad_comps = [c for c in comps if not c <= good]
    assert e.extent == {"terminal_components": len(comps),
                        "violating_components": len(bad_comps),
                        "violating_component_states": sum(map(len, bad_comps)),
                        "violating_states": len(bad)}


class Fenced(Graph):
    """0 -> 1 -> 2 -> 2, but state 1 lies outside the boundary."""

    def __init__(self):
        super().__init__(3, [(0, 1), (1, 2), (2, 2)], good=frozenset({2}))

    def within_boundary(self, s):
        return s != 1


def test_terminal_components_at_the_boundary_are_not_judged():
    r = check_bfs(Fenced())
    assert r.complete and r.states == 2
    e = r["good"]
    assert e.status == "holds"
    assert "1 terminal component(s) at the model boundary not judged" in e.note


@settings(max_examples=150, deadline=None)
@given(graphs, st.one_of(st.none(), st.integers(1, 12)), st.one_of(st.none(), st.integers(0, 6)))
def test_bounded_runs_never_claim_holds(g, max_states, max_depth):
    n, edges, good = g
    full = check_bfs(Graph(n, edges, good))
    r = check_bfs(Graph(n, edges, good), max_states=max_states, max_depth=max_depth)
    assert r.states <= full.states
    if max_states is not None:
        assert r.states <= max_states
    if max_depth is not None:
        assert all(r.exploration.depth(s) <= max_depth for s in r.exploration)
    if r.complete:
        assert r.states == full.states
        assert [(p.name, p.status) for p in r.properties] == [
            (p.name, p.status) for p in full.properties]
    else:
        assert r.states < full.states
        assert all(p.status in ("unknown", "violated", "reached") for p in r.properties)
        assert r.stopped_by in ("max_states", "max_depth")
