"""What a check returns: statistics and a verdict per property."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from .path import Path

__all__ = ["STATUSES", "PropertyResult", "CheckResult"]

#: holds / violated (always, eventually), reached / unreached (sometimes),
#: unknown (the run was bounded or not exhaustive, so no verdict).
STATUSES = ("holds", "violated", "reached", "unreached", "unknown")


@dataclass
class PropertyResult:
    """The verdict on one property.

    Attributes
    ----------
    name, kind : str
    status : str
        One of :data:`STATUSES`.
    path : Path or None
        The counterexample (violated) or example (reached).
    note : str
        Why the status is what it is, when that needs saying.
    doc : str
        The property's description.
    extent : dict or None
        ``eventually`` on a complete exploration: how much of the terminal graph
        violates it (:func:`rbmap.checker.graph.violation_extent`: terminal and
        violating components, their states), so a change in the extent shows
        even when the verdict stays the same.
    """

    name: str
    kind: str
    status: str
    path: Path | None = None
    note: str = ""
    doc: str = ""
    extent: dict | None = None


@dataclass
class CheckResult:
    """Statistics of a run and the verdict on every property.

    Attributes
    ----------
    strategy : str
        ``"bfs"`` or ``"simulation"``.
    states : int
        Distinct states seen.
    transitions : int
        Transitions generated (edges, including ones to known states).
    max_depth : int
        Length of the longest shortest path found (BFS) or longest walk.
    seconds : float
    complete : bool
        True only when every reachable state (within the model's boundary)
        was explored; a bounded or random run is incomplete.
    properties : list of PropertyResult
        In the model's order, then ``deadlock``.
    stopped_by : str
        Why the run ended early (``"max_states"``, ``"max_depth"``,
        ``"time_limit"``, ``"violation"``), empty when it did not.
    exploration : object or None
        The BFS's visited states (see :class:`rbmap.checker.bfs.Exploration`).
    """

    strategy: str
    states: int
    transitions: int
    max_depth: int
    seconds: float
    complete: bool
    properties: list[PropertyResult] = field(default_factory=list)
    stopped_by: str = ""
    exploration: Any = field(default=None, repr=False)

    @property
    def states_per_second(self) -> float:
        """Distinct states per second of the run."""
        return self.states / self.seconds if self.seconds > 0 else 0.0

    def get(self, name: str) -> PropertyResult:
        """The result for property ``name`` (KeyError if none)."""
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(f"no property named {name!r}; have {[p.name for p in self.properties]}")

    def __getitem__(self, name: str) -> PropertyResult:
        return self.get(name)

    def violations(self) -> list[PropertyResult]:
        """The violated properties."""
        return [p for p in self.properties if p.status == "violated"]

    @property
    def ok(self) -> bool:
        """True when complete, nothing violated and every ``sometimes`` reached."""
        return self.complete and all(p.status in ("holds", "reached") for p in self.properties)

    def assert_properties(self) -> None:
        """Raise AssertionError unless :attr:`ok`, listing what is wrong."""
        bad = [f"{p.name}: {p.status}" + (f" ({p.note})" if p.note else "")
               for p in self.properties if p.status not in ("holds", "reached")]
        if not self.complete:
            bad.insert(0, f"exploration incomplete (stopped by {self.stopped_by or 'bound'})")
        if bad:
            raise AssertionError("; ".join(bad))

    def assert_discovery(self, name: str, actions: list) -> None:
        """Raise AssertionError unless property ``name`` has a path with ``actions``."""
        p = self.get(name)
        got = None if p.path is None else list(p.path.actions)
        if got != [tuple(a) if isinstance(a, list) else a for a in actions]:
            raise AssertionError(f"{name}: status {p.status}, path {got}, expected {actions}")

    def summary(self, width: int = 80) -> str:
        """The statistics in a line (two if longer than ``width``)."""
        text = (f"{self.strategy}: {self.states} states, {self.transitions} transitions, "
                f"depth {self.max_depth}, {self.seconds:.2f} s, "
                f"{self.states_per_second:,.0f} states/s, "
                + ("complete" if self.complete else f"INCOMPLETE ({self.stopped_by})"))
        return textwrap.fill(text, width, subsequent_indent="    ")
