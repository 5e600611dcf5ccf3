"""Paths: an initial state and a list of actions, stored as plain JSON and replayed.

The JSON form (``format`` ``rbmap-path/1``)::

    {"format": "rbmap-path/1",
     "model": {...free dict from the caller, e.g. variant and config...},
     "init": 0,                      # index into model.init_states()
     "actions": [["reserve", 0], ...],
     "property": "no_duplicate_read" | null}

Actions are tuples of str/int/bool; JSON turns them into lists and
:meth:`Path.from_json` turns them back into tuples, so a path round-trips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from .model import format_action, successor_function

__all__ = [
    "PATH_FORMAT",
    "Path",
    "PathFormatError",
    "ReplayError",
    "NondeterminismError",
    "replay",
    "check_path",
]

PATH_FORMAT = "rbmap-path/1"


class PathFormatError(ValueError):
    """A path file is not valid ``rbmap-path/1`` JSON."""


class ReplayError(RuntimeError):
    """A path's action is not enabled (or is ambiguous) in the replayed state."""


class NondeterminismError(RuntimeError):
    """The model gave different successors for the same state on two calls."""


def _to_tuple(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_to_tuple(v) for v in x)
    return x


def _to_list(x: Any) -> Any:
    if isinstance(x, tuple):
        return [_to_list(v) for v in x]
    return x


@dataclass
class Path:
    """An execution of a model: ``init`` indexes ``init_states()``, then ``actions``.

    Parameters
    ----------
    init : int
        Index of the initial state in ``model.init_states()``.
    actions : list of tuple
        The actions taken, in order.
    property : str or None
        The property this path is a counterexample (or example) for.
    model : dict
        Free description of the model (variant, config) saved with the path.
    states : list or None
        The states visited, ``len(actions) + 1`` of them, when known (not saved).
    """

    init: int
    actions: list = field(default_factory=list)
    property: str | None = None
    model: dict = field(default_factory=dict)
    states: list | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.actions)

    def to_json(self) -> dict:
        """The JSON-able dict of this path (states are not saved: they replay)."""
        return {
            "format": PATH_FORMAT,
            "model": dict(self.model),
            "init": self.init,
            "actions": [_to_list(a) for a in self.actions],
            "property": self.property,
        }

    def dumps(self) -> str:
        """This path as a JSON text."""
        return json.dumps(self.to_json(), indent=1)

    @classmethod
    def from_json(cls, data: dict | str) -> "Path":
        """Build a path from :meth:`to_json` output (a dict or its JSON text).

        Raises
        ------
        PathFormatError
            With a message naming what is wrong.
        """
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise PathFormatError(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise PathFormatError("a path is a JSON object")
        if data.get("format") != PATH_FORMAT:
            raise PathFormatError(f"format is {data.get('format')!r}, expected {PATH_FORMAT!r}")
        init = data.get("init")
        if not isinstance(init, int) or isinstance(init, bool) or init < 0:
            raise PathFormatError(f"init must be a non-negative integer, got {init!r}")
        actions = data.get("actions")
        if not isinstance(actions, list) or not all(isinstance(a, list) for a in actions):
            raise PathFormatError("actions must be a list of lists")
        prop = data.get("property")
        if prop is not None and not isinstance(prop, str):
            raise PathFormatError(f"property must be a string or null, got {prop!r}")
        model = data.get("model", {})
        if not isinstance(model, dict):
            raise PathFormatError("model must be an object")
        return cls(init=init, actions=[_to_tuple(a) for a in actions], property=prop, model=model)

    @classmethod
    def loads(cls, text: str) -> "Path":
        """Same as :meth:`from_json` on a JSON text."""
        return cls.from_json(text)


def replay(model: Any, path: Path) -> list:
    """Re-run ``path`` on ``model`` and return its states (``len(path) + 1``).

    Raises
    ------
    ReplayError
        Naming the step, when the initial index is out of range, an action is
        not enabled in the replayed state, or one action leads to two
        different states (the path would not say which).
    """
    succ = successor_function(model)
    inits = list(model.init_states())
    if not 0 <= path.init < len(inits):
        raise ReplayError(f"init index {path.init} out of range: the model has {len(inits)} initial states")
    s = inits[path.init]
    states = [s]
    for step, a in enumerate(path.actions, 1):
        targets = [t for b, t in succ(s) if b == a]
        if not targets:
            enabled = ", ".join(format_action(model, b) for b, _ in succ(s)) or "none"
            raise ReplayError(
                f"step {step}: action {format_action(model, a)} is not enabled; "
                f"enabled actions: {enabled}"
            )
        if any(t != targets[0] for t in targets[1:]):
            raise ReplayError(
                f"step {step}: action {format_action(model, a)} leads to "
                f"{len(set(targets))} different states; the model must label "
                "transitions uniquely for paths to replay"
            )
        s = targets[0]
        states.append(s)
    path.states = states
    return states


def check_path(model: Any, path: Path, properties: Sequence | None = None) -> dict[str, int]:
    """Replay ``path`` and evaluate properties along it.

    Returns
    -------
    dict
        ``always`` property name -> index of the first state (0 = initial)
        where it is violated, and ``sometimes`` property name -> index of the
        first state where it is reached. Properties with neither are absent.
    """
    states = replay(model, path)
    props = list(model.properties() if properties is None else properties)
    found: dict[str, int] = {}
    for i, s in enumerate(states):
        for p in props:
            if p.name in found:
                continue
            value = bool(p.condition(s))
            if (p.kind == "always" and not value) or (p.kind == "sometimes" and value):
                found[p.name] = i
    return found
