"""Named properties: ``always``, ``sometimes`` and ``eventually``.

A property is data: a name, a kind, a condition ``f(state) -> bool`` and a
doc string. The kinds:

always
    Holds in every reachable state; a state where the condition is False is a
    counterexample (the checker reports a shortest path to it).
sometimes
    Some reachable state satisfies the condition; the path to it is the
    example. Not found on a complete exploration means the property, or the
    bound, is vacuous ("unreached").
eventually
    Checked on the explored state graph under fair scheduling: every terminal
    strongly connected component (one a run can never leave, see
    ``networkx.attracting_components``) consists only of states where the
    condition holds. A fair run ends up looping through every state of such a
    component, so this reads "eventually, and from then on, the condition
    holds"; write conditions that stay true once reached ("every written event
    was delivered").

The checker adds a built-in property ``deadlock`` (kind ``always``): a state
without successors where the model's ``terminal_ok`` is absent or False.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "ALWAYS",
    "SOMETIMES",
    "EVENTUALLY",
    "KINDS",
    "DEADLOCK",
    "DEADLOCK_DOC",
    "Property",
    "always",
    "sometimes",
    "eventually",
]

ALWAYS = "always"
SOMETIMES = "sometimes"
EVENTUALLY = "eventually"
KINDS = (ALWAYS, SOMETIMES, EVENTUALLY)
DEADLOCK = "deadlock"
DEADLOCK_DOC = "A state without successors that the model does not accept as terminal."


@dataclass(frozen=True)
class Property:
    """A named property of a model.

    Parameters
    ----------
    name : str
        Unique among the model's properties; used in reports and path files.
    kind : {"always", "sometimes", "eventually"}
    condition : callable
        ``condition(state) -> bool``.
    doc : str
        What the property means (the condition's docstring by default).
    """

    name: str
    kind: str
    condition: Callable[[Any], bool]
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"property {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if not self.name:
            raise ValueError("a property needs a non-empty name")

    def __call__(self, state: Any) -> bool:
        return bool(self.condition(state))


def _decorator(kind: str, name: str | Callable | None) -> Any:
    def wrap(fn: Callable[[Any], bool]) -> Property:
        doc = " ".join((fn.__doc__ or "").split())
        return Property(name=label or fn.__name__, kind=kind, condition=fn, doc=doc)

    if callable(name):  # used bare: @always
        label = None
        return wrap(name)
    label = name
    return wrap


def always(name: str | None = None) -> Callable[[Callable[[Any], bool]], Property]:
    """Make an ``always`` property of a function (name defaults to its name).

    Examples
    --------
    >>> @always("small")
    ... def small(s):
    ...     "The counter stays below 3."
    ...     return s < 3
    >>> small.kind, small.doc, small(2), small(3)
    ('always', 'The counter stays below 3.', True, False)
    """
    return _decorator(ALWAYS, name)


def sometimes(name: str | None = None) -> Callable[[Callable[[Any], bool]], Property]:
    """Make a ``sometimes`` (reachability) property of a function."""
    return _decorator(SOMETIMES, name)


def eventually(name: str | None = None) -> Callable[[Callable[[Any], bool]], Property]:
    """Make an ``eventually`` (checked on the state graph) property of a function."""
    return _decorator(EVENTUALLY, name)
