"""The model protocol the checker explores, and the adapter to one calling style.

A model is any object with these methods (duck typed; :class:`Model` documents
them for readers and type checkers):

``init_states() -> Sequence[S]``
    The initial states. States are immutable and hashable (flat tuples of small
    ints are the fast choice).
``successors(s) -> Iterable[tuple[A, S]]``
    The enabled transitions of ``s`` as ``(action, next_state)`` pairs, in a
    deterministic order. Actions are hashable tuples of str/int/bool.
``properties() -> Sequence[Property]``
    Named properties (:mod:`rbmap.checker.properties`).

Instead of ``successors`` a model may use the stateright style:
``actions(s) -> Sequence[A]`` and ``next_state(s, a) -> S | None`` (``None``:
the action is disabled in ``s``). If both are present ``successors`` wins.

Optional methods, used when present:

``successor_states(s) -> Iterable[S]``
    The next states only, in exactly the order of ``successors(s)``. The search
    needs only the states (actions are rebuilt by replay when a path is
    printed), so a model can skip building action tuples on the hot path. Path
    replay checks that both orders agree.
``check_state(s) -> int``
    Index (among the ``always`` properties, in ``properties()`` order) of the
    first one violated in ``s``, or -1: one call instead of one per property.
``state_struct: str`` (an attribute)
    A ``struct`` format (``"<79H"``) that packs every state, a tuple of
    ints, into bytes: the visited set then stores those bytes (a third of
    the memory of a wide tuple). States come back from ``struct.unpack``.
``within_boundary(s) -> bool``
    States outside are checked but not expanded (a TLA+ state constraint).
``terminal_ok(s) -> bool``
    A state without successors is a deadlock unless this returns True.
``format_action(a) -> str``, ``actor(a) -> str``, ``view(s) -> dict``
    Readable output: a named flat view of a state (``"meta.reader_page"``).
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Protocol, Sequence, runtime_checkable

__all__ = [
    "Model",
    "ModelError",
    "successor_function",
    "successor_state_function",
    "format_action",
    "actor_of",
    "view_of",
]

State = Hashable
Action = tuple


class ModelError(TypeError):
    """The object given as a model lacks a required method."""


@runtime_checkable
class Model(Protocol):
    """What the checker needs from a model (see the module docstring)."""

    def init_states(self) -> Sequence[State]: ...

    def successors(self, s: State) -> Iterable[tuple[Action, State]]: ...

    def properties(self) -> Sequence[Any]: ...


def successor_function(model: Any) -> Callable[[State], Iterable[tuple[Action, State]]]:
    """Return ``s -> iterable of (action, next_state)`` for either model style.

    Parameters
    ----------
    model : object
        Has ``successors``, or ``actions`` and ``next_state``.

    Returns
    -------
    callable
        The model's own bound ``successors`` when it has one, else an adapter
        over ``actions``/``next_state`` that skips disabled actions.

    Examples
    --------
    >>> class Flip:
    ...     def actions(self, s): return [("flip",)]
    ...     def next_state(self, s, a): return 1 - s
    >>> list(successor_function(Flip())(0))
    [(('flip',), 1)]
    """
    succ = getattr(model, "successors", None)
    if succ is not None:
        return succ
    actions = getattr(model, "actions", None)
    next_state = getattr(model, "next_state", None)
    if actions is None or next_state is None:
        raise ModelError(
            f"{type(model).__name__} is not a model: it needs successors(s), "
            "or actions(s) and next_state(s, a)"
        )

    def successors(s: State) -> list[tuple[Action, State]]:
        out = []
        for a in actions(s):
            t = next_state(s, a)
            if t is not None:
                out.append((a, t))
        return out

    return successors


def successor_state_function(model: Any) -> Callable[[State], Iterable[State]]:
    """Return ``s -> iterable of next states``, the search's hot path.

    Uses the model's ``successor_states`` when present, else drops the actions
    of :func:`successor_function`.
    """
    fast = getattr(model, "successor_states", None)
    if fast is not None:
        return fast
    succ = successor_function(model)

    def successor_states(s: State) -> list[State]:
        return [t for _, t in succ(s)]

    return successor_states


def format_action(model: Any, a: Action) -> str:
    """Readable text of action ``a``: the model's ``format_action`` or ``name(args)``."""
    fmt = getattr(model, "format_action", None)
    if fmt is not None:
        return str(fmt(a))
    if isinstance(a, tuple) and a and isinstance(a[0], str):
        return f"{a[0]}({', '.join(map(str, a[1:]))})"
    return str(a)


def actor_of(model: Any, a: Action) -> str | None:
    """The actor performing ``a`` (``model.actor``), or None when the model has none."""
    actor = getattr(model, "actor", None)
    return None if actor is None else str(actor(a))


def view_of(model: Any, s: State) -> dict[str, object]:
    """A flat named view of ``s``: the model's ``view`` or ``{"[i]": s[i]}``."""
    view = getattr(model, "view", None)
    if view is not None:
        return dict(view(s))
    if isinstance(s, tuple):
        return {f"[{i}]": v for i, v in enumerate(s)}
    return {"state": s}
