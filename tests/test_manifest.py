"""The manifest's records: the graph digest ignores exploration order and sees any
change of states or edges; a difference is named by what moved."""

import copy

from rbmap.checker import check_bfs, eventually
from rbmap.checker.toys import Counters
from rbmap.manifest import compare, graph_digest, summarize, summary
from rbmap.model import build

TINY = dict(pages=2, page_events=1, events=3, processes=1, nesting=2)


class Reordered:
    """The same model, successors listed in reverse (another BFS order)."""

    def __init__(self, m):
        self.m = m
        self.state_struct = m.state_struct

    def init_states(self):
        return self.m.init_states()

    def successors(self, s):
        return list(reversed(self.m.successors(s)))

    def properties(self):
        return self.m.properties()

    def terminal_ok(self, s):
        return self.m.terminal_ok(s)


class Stutter(Reordered):
    """The same model with one more transition: a self-loop in the states where
    the writer has written ``seq`` events (no new state, one edge more)."""

    def __init__(self, m, seq):
        super().__init__(m)
        self.seq = seq

    def successors(self, s):
        out = self.m.successors(s)
        if s[0] == self.seq:
            out = out + [(("kernel", "stutter"), s)]
        return out


class Digraph:
    """A model over a digraph given as edges (state = node)."""

    state_struct = "<h"

    def __init__(self, edges):
        self.edges = sorted(edges)

    def init_states(self):
        return [(0,)]

    def successors(self, s):
        return [(("go", v), (v,)) for u, v in self.edges if u == s[0]]

    def properties(self):
        return [eventually("settles")(lambda s: True)]

    def terminal_ok(self, s):
        return True


def test_digest_does_not_depend_on_exploration_order():
    m = build("upstream", **TINY)
    a = check_bfs(m)
    b = check_bfs(Reordered(m))
    ids_a = [a.exploration.state(i) for i in range(20)]
    ids_b = [b.exploration.state(i) for i in range(20)]
    assert ids_a != ids_b                     # the orders really differ
    assert a.states == b.states
    assert graph_digest(a.exploration) == graph_digest(b.exploration)


def test_digest_sees_one_edge_more():
    m = build("upstream", **TINY)
    full = check_bfs(m)
    more = check_bfs(Stutter(m, 3))
    assert more.states == full.states and more.transitions > full.transitions
    assert graph_digest(more.exploration) != graph_digest(full.exploration)


def test_digest_sees_an_edge_moved_when_the_counts_stay():
    a = check_bfs(Digraph([(0, 1), (0, 2), (1, 2), (2, 1)]))
    b = check_bfs(Digraph([(0, 1), (0, 2), (1, 1), (2, 2)]))
    c = check_bfs(Digraph([(0, 2), (2, 1), (1, 2), (0, 1)]))
    assert (a.states, a.transitions) == (b.states, b.transitions)
    assert graph_digest(a.exploration) != graph_digest(b.exploration)
    assert graph_digest(a.exploration) == graph_digest(c.exploration)


def test_digest_of_a_toy_model_without_a_graph():
    a = check_bfs(Counters(2, 3))
    assert a.exploration.graph is None
    d = graph_digest(a.exploration)
    assert d == graph_digest(check_bfs(Counters(2, 3)).exploration)
    assert d != graph_digest(check_bfs(Counters(3, 2)).exploration)


def test_summary_records_every_property():
    m = build("v2", **TINY)
    got = summarize(m, check_bfs(m))
    names = {p.name for p in m.properties()} | set(m.not_applicable()) | {"deadlock"}
    assert set(got["properties"]) == names
    dup = got["properties"]["no_duplicate_delivery"]
    assert dup == {"status": "violated", "steps": 17}
    ev = got["properties"]["every_event_delivered_or_counted"]
    assert ev["status"] == "holds" and ev["terminal_components"] > 0
    assert ev["violating_components"] == 0
    assert got["properties"]["non_consuming_read_detects_overwrite"] == {"status": "n/a"}
    # the cached summary is the same run's
    assert {k: v for k, v in summary("v2", **TINY).items() if k != "seconds"} == got


def test_compare_names_what_moved():
    # the manifest's upstream-crash entry (the same exploration)
    got = summary("upstream", pages=2, page_events=1, events=4, processes=2,
                  nesting=1, crash=True)
    rec = copy.deepcopy(got)
    assert compare(rec, got) == []
    rec["states"] = int(got["states"] / 1.03)
    rec["graph"] = "0" * 16
    rec["properties"]["no_unaccounted_loss"]["steps"] -= 2
    ev = rec["properties"]["every_event_delivered_or_counted"]
    ev["violating_components"] += 1
    rec["properties"]["event_delivered"] = {"status": "unreached"}
    del rec["properties"]["deadlock"]
    diffs = compare(rec, got)
    n = got["properties"]["no_unaccounted_loss"]["steps"]
    assert f"no_unaccounted_loss: counterexample {n - 2} -> {n} steps" in diffs
    assert any(d.startswith("states ") and "(+3.0%)" in d for d in diffs)
    assert any(d.startswith("graph digest changed") for d in diffs)
    assert any(d.startswith("every_event_delivered_or_counted: violating terminal "
                            "components") for d in diffs)
    assert any(d.startswith("event_delivered: unreached -> reached in ") for d in diffs)
    assert "deadlock: new, holds" in diffs
    assert compare({"name": "old", "states": 1}, got) == [
        "not recorded in this format (rbmap manifest --update)"]
