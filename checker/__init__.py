"""Generic explicit-state model checking: knows nothing about ring buffers.

A model is any object with ``init_states()``, ``successors(s)`` (or
``actions(s)`` and ``next_state(s, a)``) and ``properties()``; see
:mod:`rbmap.checker.model`. Explore it exhaustively with :func:`check_bfs` or
by seeded random walks with :func:`simulate`; print or save what was found
with :mod:`rbmap.checker.report` and :class:`Path`; time it with
:mod:`rbmap.checker.bench` (``python -m rbmap.checker.bench``).

A model written as steps (:class:`StepMachine`, :mod:`rbmap.checker.steps`)
also compiles to native code (:mod:`rbmap.checker.native`, whose ``check``
explores it with the compiled engine where a C compiler is present) and to
Promela for SPIN (:mod:`rbmap.checker.promela`, :mod:`rbmap.checker.spin`).

Examples
--------
>>> from rbmap.checker import check_bfs
>>> from rbmap.checker.toys import Peterson
>>> r = check_bfs(Peterson("turn_first"))
>>> r["mutual_exclusion"].status, len(r["mutual_exclusion"].path)
('violated', 6)
"""

from .bfs import Exploration, check_bfs
from .graph import StateGraph, terminal_components
from .model import Model, ModelError, format_action, successor_function, view_of
from .path import (PATH_FORMAT, NondeterminismError, Path, PathFormatError, ReplayError,
                   check_path, replay)
from .properties import (ALWAYS, DEADLOCK, EVENTUALLY, SOMETIMES, Property, always,
                         eventually, sometimes)
from .report import (diff_views, format_property, format_result, result_to_json, step_table,
                     trace_steps)
from .result import STATUSES, CheckResult, PropertyResult
from .simulation import simulate
from .steps import StepError, StepMachine, require, step

__all__ = [
    # model protocol
    "Model", "ModelError", "successor_function", "format_action", "view_of",
    # properties
    "Property", "always", "sometimes", "eventually",
    "ALWAYS", "SOMETIMES", "EVENTUALLY", "DEADLOCK",
    # models written as steps (compiled: rbmap.checker.native)
    "StepMachine", "step", "require", "StepError",
    # exploration
    "check_bfs", "simulate", "Exploration", "StateGraph", "terminal_components",
    # results
    "CheckResult", "PropertyResult", "STATUSES",
    # paths
    "Path", "PATH_FORMAT", "replay", "check_path",
    "ReplayError", "NondeterminismError", "PathFormatError",
    # reports
    "step_table", "trace_steps", "diff_views", "format_property", "format_result",
    "result_to_json",
]
