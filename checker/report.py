"""Counterexamples and results for people (80-column text) and for tools (JSON).

A step table lists a path one step a row: the step number, the actor, the
action and what changed between the model's ``view()`` of the states before
and after (``meta.reader_page: 1 -> 3``), more changes on continuation lines,
the violating step marked ``>>``::

       #  actor  action          changes
       0         (initial state 0)
       1  p0     set_turn(0)     turn: 0 -> 1
                                 pc[0]: 0 -> 1
    >> 2  p1     ...
"""

from __future__ import annotations

import textwrap
from typing import Any

from .model import actor_of, format_action, view_of
from .path import Path, replay
from .result import CheckResult, PropertyResult

__all__ = ["diff_views", "step_table", "format_steps", "change_text", "jsonable", "trace_steps", "format_property", "format_result",
           "result_to_json"]

MARK = ">>"
ABSENT = "(absent)"


def diff_views(before: dict, after: dict) -> list[tuple[str, object, object]]:
    """Fields whose value differs, as ``(field, before, after)`` in view order.

    A field missing on one side is reported with :data:`ABSENT`.
    """
    out = []
    for k, v in after.items():
        old = before.get(k, ABSENT)
        if old != v or k not in before:
            out.append((k, old, v))
    for k, old in before.items():
        if k not in after:
            out.append((k, old, ABSENT))
    return out


def _states(model: Any, path: Path) -> list:
    if path.states is not None and len(path.states) == len(path.actions) + 1:
        return path.states
    return replay(model, path)


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    if not text:
        return [""]
    return textwrap.wrap(text, width=max(width, 4), subsequent_indent=indent,
                         break_long_words=True, break_on_hyphens=False) or [""]


def step_table(model: Any, path: Path, violating_index: int | None = None,
               width: int = 80, notes: dict | None = None) -> str:
    """The path as numbered steps, one row each, fitting ``width`` columns.

    Parameters
    ----------
    model : object
    path : Path
        Replayed if its states are not attached.
    violating_index : int, optional
        The state (0 = initial, ``i`` = after step ``i``) to mark ``>>``.
    width : int
        Maximum line length.
    notes : dict, optional
        Step index -> a short note shown under the step's action.

    Returns
    -------
    str
        The table, lines joined by newlines (no trailing newline).
    """
    states = _states(model, path)
    views = [view_of(model, s) for s in states]
    has_actor = getattr(model, "actor", None) is not None
    rows = [("", f"(initial state {path.init})", [], None)]
    for i, a in enumerate(path.actions, 1):
        changes = [f"{k}: {_text(old)} -> {_text(new)}"
                   for k, old, new in diff_views(views[i - 1], views[i])]
        rows.append((actor_of(model, a) or "" if has_actor else "",
                     format_action(model, a), changes, (notes or {}).get(i)))
    return format_steps(rows, violating_index, width, has_actor)


def format_steps(rows: list, violating_index: int | None = None, width: int = 80,
                 has_actor: bool = True) -> str:
    """Lay out step rows as :func:`step_table` does.

    ``rows[0]`` is the initial state; each row is ``(actor, action, changes,
    note)``: ``changes`` a list of lines (``field: before -> after``; empty:
    "(no change)"), ``note`` None or a short text shown under the action."""
    rows = [(r[0], r[1], list(r[2]) or (["(no change)"] if i else []),
             r[3] if len(r) > 3 else None) for i, r in enumerate(rows)]
    n = len(rows) - 1
    wn = max(1, len(str(n)))
    wa = min(12, max(len("actor"), *(len(r[0]) for r in rows))) if has_actor else 0
    fixed = len(MARK) + 1 + wn + 2 + (wa + 2 if wa else 0)
    longest_action = max(len("action"), *(len(r[1]) for r in rows[1:])) if n else 6
    wact = min(longest_action, max(12, (width - fixed) // 2 - 2))
    wc = width - fixed - wact - 2
    # Too narrow a changes column: list the changes under the step instead.
    stacked = wc < 28
    if stacked:
        wc = width - len(MARK) - 1 - wn - 4
        wact = max(12, width - fixed)

    def line(mark, num, actor, action, change):
        parts = [f"{mark:<{len(MARK)}} {num:>{wn}}"]
        if wa:
            parts.append(f"{actor:<{wa}}")
        parts.append(f"{action:<{wact}}")
        parts.append(change)
        return "  ".join(parts).rstrip()

    out = [line("", "#", "actor", "action", "" if stacked else "changes")]
    for i, (actor, action, changes, note) in enumerate(rows):
        actor_lines = _wrap(actor, wa) if wa else [""]
        action_lines = _wrap(action, wact) if i else [action]
        if note:
            action_lines += _wrap(note, wact, " ")
        change_lines = [piece for c in changes for piece in _wrap(c, wc, "    ")]
        mark = MARK if violating_index is not None and i == violating_index else ""
        if stacked:
            pad = " " * (len(MARK) + 1 + wn + 4)
            out.extend(line(mark if j == 0 else "", str(i) if j == 0 else "",
                            actor_lines[j] if j < len(actor_lines) else "",
                            action_lines[j] if j < len(action_lines) else "", "")
                       for j in range(max(len(actor_lines), len(action_lines))))
            out.extend(pad + c for c in change_lines if i)
            continue
        for j in range(max(len(actor_lines), len(action_lines), len(change_lines))):
            out.append(line(mark if j == 0 else "", str(i) if j == 0 else "",
                            actor_lines[j] if j < len(actor_lines) else "",
                            action_lines[j] if j < len(action_lines) else "",
                            change_lines[j] if j < len(change_lines) else ""))
    return "\n".join(out)


def _text(v: object) -> str:
    return v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)


def change_text(field: str, before: object, after: object) -> str:
    """One change as the step table shows it: ``field: before -> after``."""
    return f"{field}: {_text(before)} -> {_text(after)}"


def jsonable(v: Any) -> Any:
    """``v`` with tuples as lists and anything else not JSON as its text."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return str(v)


def trace_steps(model: Any, path: Path, violating_index: int | None = None) -> list[dict]:
    """The path as a list of JSON-able steps.

    Step 0 is the initial state (``state``: its full view); step ``i`` has
    ``actor``, ``action`` (text), ``args`` (the action tuple as a list, as in
    the path file) and ``changes`` (``[{field, before, after}]``);
    ``violating`` marks the step at ``violating_index``.
    """
    states = _states(model, path)
    views = [view_of(model, s) for s in states]
    steps = [{"step": 0, "actor": None, "action": "init", "args": None, "changes": [],
              "state": jsonable(views[0]), "violating": violating_index == 0}]
    for i, a in enumerate(path.actions, 1):
        steps.append({
            "step": i,
            "actor": actor_of(model, a),
            "action": format_action(model, a),
            "args": jsonable(a),
            "changes": [{"field": k, "before": jsonable(old), "after": jsonable(new)}
                        for k, old, new in diff_views(views[i - 1], views[i])],
            "violating": violating_index == i,
        })
    return steps


def _marked_index(pr: PropertyResult) -> int | None:
    if pr.path is None:
        return None
    return len(pr.path.actions) if pr.status == "violated" else None


STATUS_WORDS = {"holds": "holds", "violated": "VIOLATED", "reached": "reached",
                "unreached": "NOT REACHED", "unknown": "unknown"}


def format_property(model: Any, pr: PropertyResult, width: int = 80) -> str:
    """A property's verdict line, then its path as a step table if it has one."""
    head = f"{pr.name} ({pr.kind}): {STATUS_WORDS.get(pr.status, pr.status)}"
    if pr.note:
        head += f" - {pr.note}"
    lines = _wrap(head, width, "    ")
    if pr.path is not None:
        lines.append(step_table(model, pr.path, _marked_index(pr), width))
    return "\n".join(lines)


def format_result(result: CheckResult, model: Any, width: int = 80) -> str:
    """Human summary: statistics, one line per property, then each path."""
    lines = [result.summary()]
    wn = max(len(p.name) for p in result.properties) if result.properties else 0
    for p in result.properties:
        lines.append(f"  {STATUS_WORDS.get(p.status, p.status):<11} {p.name:<{wn}}  {p.kind}")
    for p in result.properties:
        if p.path is not None:
            lines.append("")
            lines.append(format_property(model, p, width))
    return "\n".join(lines)


def result_to_json(result: CheckResult, model: Any, model_info: dict | None = None) -> dict:
    """The result as one JSON-able dict.

    Keys: ``strategy``, ``complete``, ``stopped_by``, ``states``,
    ``transitions``, ``depth``, ``seconds``, ``states_per_second`` and
    ``properties``: a list of ``{name, kind, status, note, doc, trace,
    path}`` (``eventually`` ones also ``extent``), ``trace`` being :func:`trace_steps` (or null) and ``path`` the
    replayable ``rbmap-path/1`` object (or null) carrying ``model_info``.
    """
    props = []
    for p in result.properties:
        path = None
        if p.path is not None:
            saved = Path(p.path.init, list(p.path.actions), p.name, dict(model_info or {}),
                         p.path.states)
            path = saved.to_json()
        props.append({
            "name": p.name,
            "kind": p.kind,
            "status": p.status,
            "note": p.note,
            "doc": p.doc,
            "trace": None if p.path is None else trace_steps(model, p.path, _marked_index(p)),
            "path": path,
        })
        if p.extent is not None:
            props[-1]["extent"] = dict(p.extent)
    return {
        "strategy": result.strategy,
        "complete": result.complete,
        "stopped_by": result.stopped_by,
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.max_depth,
        "seconds": round(result.seconds, 6),
        "states_per_second": round(result.states_per_second, 1),
        "properties": props,
    }
