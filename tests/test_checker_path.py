"""Paths: JSON round trip, replay, loud errors on bad paths and nondeterminism."""

from __future__ import annotations

import json

import pytest

from rbmap.checker import (NondeterminismError, Path, PathFormatError, ReplayError, check_bfs,
                           check_path, replay, sometimes)
from rbmap.checker.toys import LostUpdate, Peterson


def test_json_round_trip_of_a_found_counterexample():
    model = Peterson("turn_first")
    path = check_bfs(model)["mutual_exclusion"].path
    path.model = {"variant": "turn_first", "config": {"processes": 2}}
    text = path.dumps()
    data = json.loads(text)
    assert data["format"] == "rbmap-path/1"
    assert data["actions"][0] == ["set_turn", 0]
    assert data["property"] == "mutual_exclusion"
    back = Path.loads(text)
    assert back == path
    assert back.actions == [tuple(a) for a in data["actions"]]
    assert all(isinstance(a, tuple) for a in back.actions)
    assert back.model == {"variant": "turn_first", "config": {"processes": 2}}
    assert replay(model, back) == path.states
    assert Path.from_json(back.to_json()) == back


def test_nested_action_arguments_round_trip():
    p = Path(init=1, actions=[("map", 0, True, ("a", 2)), ("exit",)], property=None)
    back = Path.from_json(json.loads(json.dumps(p.to_json())))
    assert back.actions == [("map", 0, True, ("a", 2)), ("exit",)]
    assert back.property is None and back.init == 1


def test_check_path_re_checks_properties():
    model = Peterson("turn_first")
    path = check_bfs(model)["mutual_exclusion"].path
    found = check_path(model, Path.from_json(path.to_json()))
    assert found["mutual_exclusion"] == 6
    assert found["p0_critical"] == 6  # p0 enters at the last step of this path


def test_replay_fails_loudly_on_a_disabled_action():
    model = Peterson("ok")
    bad = Path(init=0, actions=[("set_flag", 0), ("enter", 0)])
    with pytest.raises(ReplayError, match=r"step 2: action enter\(0\) is not enabled.*set_turn\(0\)"):
        replay(model, bad)
    with pytest.raises(ReplayError, match="init index 3 out of range"):
        replay(model, Path(init=3, actions=[]))


class SameLabel:
    """One action label leading to two different states."""

    def init_states(self):
        return [0]

    def successors(self, s):
        return [(("move",), s + 1), (("move",), s + 2)] if s == 0 else []

    def properties(self):
        return []


def test_replay_refuses_an_ambiguous_action():
    with pytest.raises(ReplayError, match="leads to 2 different states"):
        replay(SameLabel(), Path(init=0, actions=[("move",)]))


@pytest.mark.parametrize("data,message", [
    ("not json", "not JSON"),
    ("[]", "JSON object"),
    ({"format": "other"}, "format is 'other'"),
    ({"format": "rbmap-path/1", "init": -1, "actions": []}, "init must be"),
    ({"format": "rbmap-path/1", "init": True, "actions": []}, "init must be"),
    ({"format": "rbmap-path/1", "init": 0, "actions": ["x"]}, "list of lists"),
    ({"format": "rbmap-path/1", "init": 0, "actions": [], "property": 3}, "property must"),
    ({"format": "rbmap-path/1", "init": 0, "actions": [], "model": []}, "model must"),
])
def test_bad_path_files_are_named(data, message):
    with pytest.raises(PathFormatError, match=message):
        Path.from_json(data)


class Rotating:
    """Successor order changes on every call: a nondeterministic model."""

    def __init__(self):
        self.calls = 0

    def init_states(self):
        return [0]

    def successors(self, s):
        self.calls += 1
        targets = [t for t in (s + 1, s + 2) if t <= 6]
        if self.calls % 2:
            targets.reverse()
        return [(("to", t), t) for t in targets]

    def terminal_ok(self, s):
        return True

    def properties(self):
        @sometimes("six")
        def six(s):
            """Reach 6."""
            return s == 6

        return [six]


def test_nondeterministic_model_fails_loudly():
    with pytest.raises(NondeterminismError, match=r"step \d+ of the path to six.*not deterministic"):
        check_bfs(Rotating())


class OrderMismatch(LostUpdate):
    """successor_states lists the states in another order than successors."""

    def successor_states(self, s):
        return [t for _, t in reversed(self.successors(s))]

    def successors(self, s):
        return [(a, t) for a in self.actions(s) if (t := self.next_state(s, a)) is not None]


def test_successor_states_order_mismatch_is_caught():
    with pytest.raises(NondeterminismError, match="another order"):
        check_bfs(OrderMismatch(2))
