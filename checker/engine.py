"""Which engine explores a model: the one path every exploring command takes.

:func:`explore` is :func:`rbmap.checker.check_bfs` with the engine chosen for
the model: a :class:`~rbmap.checker.steps.StepMachine` is explored by the
compiled engine (:mod:`rbmap.checker.native`) where a C compiler works, any
other model (and a step machine whose Python behaviour the C cannot see, see
:func:`compile_blocker`) by the interpreted explorer. Both give the same
:class:`~rbmap.checker.result.CheckResult`: the same states, transitions,
depth, verdicts and shortest paths, also when a bound or ``stop_on_violation``
ends the search (a path's actions always come from the interpreted engine).

The compiled engine's C is generated at the model's configuration and built
once per configuration (cached, :mod:`rbmap.checker.native`); a build takes
about a second, longer than the interpreted engine takes for a small
configuration. So where the configuration's library is not built yet, ``auto``
first explores interpreted, up to :data:`PROBE_STATES` states: a configuration
that small is done (the answer is the same); a larger one is then built and
explored compiled, from the start.

Without a compiler a step machine is explored interpreted, after one line on
stderr (once per process); ``RBMAP_ENGINE=interpreted`` asks for the
interpreted engine without a notice, ``RBMAP_ENGINE=native`` for the compiled
one without the interpreted start. The compiled engine is imported only when
a step machine is explored.
"""

from __future__ import annotations

import os
import sys
from time import perf_counter
from typing import Any

from .bfs import check_bfs
from .result import CheckResult

__all__ = ["explore", "compile_blocker", "requested_engine", "ENGINES", "PROBE_STATES"]

#: states the interpreted engine explores, for a configuration whose compiled
#: library is not built yet, before that is built (about 0.5 s of exploring, the
#: time a build takes)
PROBE_STATES = 50_000

#: what ``engine=`` (and ``RBMAP_ENGINE``) may ask for
ENGINES = ("auto", "native", "interpreted")

#: methods a step machine gets from StepMachine; overriding one in Python changes
#: what the interpreted engine runs, which the C generated from the steps cannot see
_STEP_METHODS = ("successors", "successor_states", "terminal_ok", "init_states")
#: hooks the interpreted explorer honours and the compiled one has no equivalent of
_PYTHON_HOOKS = ("within_boundary",)

_notice_shown = False


def requested_engine(engine: str = "auto") -> str:
    """The engine asked for: ``engine``, or for ``"auto"`` the ``RBMAP_ENGINE``
    environment variable when set (ValueError on an unknown name)."""
    if engine == "auto":
        engine = os.environ.get("RBMAP_ENGINE", "").strip() or "auto"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} ({', '.join(ENGINES)})")
    return engine


def compile_blocker(model: Any) -> str | None:
    """Why the compiled engine cannot explore ``model`` (None: it can).

    It can explore a :class:`~rbmap.checker.steps.StepMachine` whose
    successors, initial states and end states are the ones its steps define:
    a subclass (or instance) that replaces ``successors``, ``terminal_ok``...
    in Python (a mutant wrapping a helper, say), whose ``fast()`` gives other
    than the steps printed as Python, or has ``within_boundary``, is explored
    interpreted; so is one whose ``properties()`` gives other
    properties than its ``property_list()`` (the compiled ones) as printed by
    StepMachine (an override that only adds bookkeeping is fine).
    """
    from .steps import StepMachine
    if not isinstance(model, StepMachine):
        return f"{type(model).__name__} is not written as steps"
    cls = type(model)
    for name in _STEP_METHODS:
        if name in vars(model) or getattr(cls, name) is not getattr(StepMachine, name):
            return f"{cls.__name__} replaces {name}() in Python"
    for name in _PYTHON_HOOKS:
        if getattr(model, name, None) is not None:
            return f"{cls.__name__} has {name}(), which the compiled engine lacks"
    if "fast" in vars(model) or cls.fast is not StepMachine.fast:
        from .pygen import FastSteps
        if type(model.fast()) is not FastSteps:
            return f"{cls.__name__} runs its steps through Python hooks"
    if "properties" in vars(model) or cls.properties is not StepMachine.properties:
        mine = [(p.name, p.kind, p.condition) for p in model.properties()]
        steps = [(p.name, p.kind, p.condition) for p in StepMachine.properties(model)]
        if mine != steps:
            return f"{cls.__name__}.properties() differs from its property_list()"
    return None


def explore(model: Any, engine: str = "auto", threads: int = 1,
            **options: Any) -> CheckResult:
    """Explore ``model`` exhaustively with the engine chosen for it.

    Parameters
    ----------
    model : object
        Any checker model (:mod:`rbmap.checker.model`).
    engine : {"auto", "native", "interpreted"}
        ``auto``: compiled for a step machine when a C compiler works (else
        interpreted, with a one-line notice on stderr), interpreted for any
        other model; ``RBMAP_ENGINE`` overrides ``auto`` (for a model the
        compiled engine can explore). ``native`` on a model the compiled engine
        cannot explore raises :class:`~rbmap.checker.steps.StepError`.
    threads : int
        Threads of the compiled search (the result does not depend on it; the
        interpreted engine has one).
    **options
        :func:`~rbmap.checker.check_bfs`'s options (``max_states``,
        ``max_depth``, ``time_limit``, ``progress``, ``stop_on_violation``,
        ``check_deadlock``).

    Returns
    -------
    CheckResult
        With ``engine`` set to ``"native"`` or ``"interpreted"``.
    """
    global _notice_shown
    if threads < 1:
        raise ValueError(f"threads must be positive, got {threads}")
    want = requested_engine(engine)
    if want != "interpreted":
        blocker = compile_blocker(model)
        if blocker is not None:
            if engine == "native":      # asked in code, not by RBMAP_ENGINE
                from .steps import StepError
                raise StepError(f"the compiled engine cannot explore it: {blocker}")
        else:
            from . import native
            try:
                native.compiler()
            except native.NoCompiler as exc:
                if want == "native":
                    raise
                if not _notice_shown:
                    _notice_shown = True
                    print(native.notice(exc), file=sys.stderr)
            else:
                if want == "auto" and not native.is_built(model):
                    t0 = perf_counter()
                    probe = _probe(model, options)
                    if probe is not None:
                        return probe
                    limit = options.get("time_limit")
                    if limit is not None:
                        options = dict(options, time_limit=max(0.0, limit - (
                            perf_counter() - t0)))
                return native.check_native(model, threads=threads, **options)
    result = check_bfs(model, **options)
    result.engine = "interpreted"
    return result


def _probe(model: Any, options: dict) -> CheckResult | None:
    """The interpreted search up to :data:`PROBE_STATES` states: its result when
    that is the answer (it ended for another reason than the probe's bound),
    else None."""
    bound = options.get("max_states")
    probe = dict(options, max_states=PROBE_STATES if bound is None else min(
        bound, PROBE_STATES))
    r = check_bfs(model, **probe)
    if r.stopped_by == "max_states" and (bound is None or bound > PROBE_STATES):
        return None
    r.engine = "interpreted"
    return r
