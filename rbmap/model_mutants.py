"""Semantic mutants of the model and of its properties, and what kills them.

``rbmap mutants --model`` runs this catalogue: each mutant is one small, plausible
bug of the model (a counter not updated in one step, a guard off by one, a meta
field not refreshed, a fine-granularity step left merged, a property reading the
wrong flag, a liveness property that ignores part of what it should cover),
applied at run time and judged against the default checks:

- ``manifest``: ``rbmap manifest``'s fast entries (verdicts, counterexample
  lengths, liveness extent, states, transitions and the graph digest of each);
- ``tests``: the default test suite's model tests, in-process (:data:`MODEL_TESTS`);
- ``conform``: ``rbmap conform`` at its default config, for upstream and v2.

A mutant is *killed* when a check that passes on the model as it is fails with
the mutant; it is *equivalent* when it cannot change any result, which is computed,
not asserted: a step mutant explores to the same reachable graph (graph digest,
:func:`rbmap.manifest.graph_digest`) as the model at each of its small
configurations; a property mutant has the same truth value as the property in
every state the checker judges it on (every reachable state; the terminal
components for ``eventually``). A mutant claimed equivalent whose computation
differs is run against the checks like any other.

Behaviour, not source text
--------------------------
The model is about to be restructured (its steps as named units, compiled to
native code), and the mutants must keep judging it. So no mutant edits the model's
source. Each is written against what a restructuring keeps:

1. **Steps, by name.** Most mutants edit the model's transitions: for each
   ``(action, next state)`` the model lists, a mutant of step ``commit`` changes
   the next state (``keep("ENTRIES")``: the step leaves ``cpu_buffer->entries``
   as it was), drops the transition (a guard made stronger), replaces it by what
   the state would give with one slot changed (:func:`as_if`: a guard or an input
   off by one), or merges two consecutive steps of one actor (:func:`merged`: a
   fine-granularity step left merged). Step names are the trace vocabulary
   (``rbmap replay`` files carry them), so they survive a restructuring.
2. **Slots, by name.** Mutants read and write the state through :class:`Slots`,
   which maps the kernel names (``ENTRIES``, ``page.commit``, ``proc.pos``,
   ``writer.phase``...) to tuple indices. It is the one place that knows the
   layout.
3. **Shared helpers, by name.** A few bugs live in a helper several steps share
   (rb_update_meta_page, the reader swap, the first map's ID assignment, the
   last unmap's free): those mutants wrap the helper (:func:`hook`), named in
   :data:`HOOKS` with the kernel function it abstracts.
4. **Properties, by name.** A property mutant replaces the function of one entry
   of :data:`rbmap.model.properties.SPECS` (:func:`prop`) by another written like
   the properties: a ``def`` over the state's named slots (``s.flags``), in the
   step subset, so that every engine runs it as it runs the property.

A restructured model keeps these mutants working when it (a) keeps the interpreted
engine's ``successors(s)`` (a :class:`rbmap.checker.steps.StepMachine` has it; the
mutants wrap it, so a mutant's exploration runs interpreted, never compiled),
(b) keeps step and property names, (c) updates :class:`Slots` where the state
layout changes (for a step machine: the layout's slot names, one line per name)
and :data:`HOOKS` where a helper moves (a helper that becomes a step unit is
hooked by its new name; a mutant of a helper that disappears is rewritten as an
edit of the steps that used it). ``tests/test_model_mutants.py`` checks that
every mutant applies to the model as it is (its hooks and properties exist, it
changes the class and is undone), that every step the model offers (every
workload switched on, both granularities) is edited, merged away or added by
at least one mutant and every step a mutant names is one the model offers, and ``pytest -m slow`` that each one not
claimed equivalent changes the model at its configuration: a restructuring that
loses one is told which, before a kill rate can look better than it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rbmap.model import protocol as P

__all__ = ["ModelMutant", "MUTANTS", "Slots", "applied", "edited_steps",
           "equivalence", "run_model_mutants", "CHECKS", "MODEL_TESTS", "mutant"]

#: the model tests of the default suite that run the model in-process
MODEL_TESTS = ("tests/test_model_protocol.py", "tests/test_model_teeth.py",
               "tests/test_model_granularity.py", "tests/test_model_seed.py",
               "tests/test_manifest.py", "tests/test_libtracefs_client.py",
               "tests/test_readme_seed.py")
#: the checks, in the order they run (the first to fail kills the mutant)
CHECKS = ("manifest", "tests", "conform")


# ---------------------------------------------------------------------------
# the adapter: names -> the model's state layout and helpers
# ---------------------------------------------------------------------------

class Slots:
    """Kernel names of state slots, resolved for one model.

    Global slots by their protocol name (``ENTRIES``, ``M_RREAD``...); per page
    ``page.<field>`` with the page number (``next``, ``id``, ``base``, ``filled``,
    ``write``, ``commit``, ``read``); per writer level ``writer.<field>``
    (``phase``, ``r1``, ``r2``, ``r3``); per process ``proc.<field>`` (``phase``,
    ``page``, ``pos``, ``limit``, ``base``, ``child``); the non-consuming reader
    ``nc.<field>``; the libtracefs client ``ltf.<field>``; ``data_pages`` by
    index. Flag bits by name with :meth:`flag`."""

    PAGE = {"next": "NXT", "id": "IDS", "base": "PBASE", "filled": "PFILL",
            "write": "PWRITE", "commit": "PCOMMIT", "read": "PREAD"}
    WRITER = {"phase": "WPH", "r1": "WR1", "r2": "WR2", "r3": "WR3"}
    PROC = {"phase": P.PH, "page": P.PG, "pos": P.POS, "limit": P.LIM,
            "base": P.PB, "child": P.CHILD}
    NC = {"phase": P.NPH, "i": P.NI, "dph": P.NDPH, "page": P.NPG, "base": P.NPB,
          "pos": P.NPOS, "cnt": P.NCNT, "torn": P.NTORN}
    LTF = {"phase": P.LPH, "skip": P.SKIP}

    def __init__(self, m):
        self.m = m

    def __call__(self, name: str, k: int = 0) -> int:
        m = self.m
        if "." not in name:
            if name == "data_pages":
                return m.DPAGES + k
            return getattr(P, name)
        group, fld = name.split(".", 1)
        if group == "page":
            return getattr(m, self.PAGE[fld]) + k
        if group == "writer":
            return getattr(m, self.WRITER[fld]) + k
        if group == "proc":
            return m.PROC + P.NPF * k + self.PROC[fld]
        if group == "nc":
            return m.NC + (getattr(P, "NCOM") if fld == "com" else self.NC[fld])
        if group == "ltf":
            return m.LTF + P.NLF * k + self.LTF[fld]
        raise KeyError(name)

    @staticmethod
    def flag(name: str) -> int:
        return getattr(P, name)

    @staticmethod
    def const(name: str) -> int:
        """A phase or other named constant of the protocol (``W_RECHECK``...)."""
        return getattr(P, name)


#: helper name -> what it abstracts: a step helper (a function ``(m, s)`` of a
#: module of :mod:`rbmap.model.steps`, wrapped wherever the steps call it) or, for
#: ``terminal_ok``, a method of the model
HOOKS = {
    "refresh_meta": "rb_update_meta_page",
    "swap": "rb_get_reader_page's swap with the head page",
    "set_head_page": "rb_set_head_page",
    "first_map": "ring_buffer_map's first map: rb_setup_ids_meta_page",
    "free_ids_meta": "the last unmap freeing subbuf_ids and the meta page",
    "empty": "rb_per_cpu_empty",
    "terminal_ok": "the model's accepted end states (deadlock detection)",
}
#: hooks that wrap a method of the model class, not a step helper
_METHOD_HOOKS = ("terminal_ok",)


def _step_modules() -> list:
    """The modules of rbmap.model.steps (where the step helpers live)."""
    import importlib
    import pkgutil

    from rbmap.model import steps
    return [steps] + [importlib.import_module(f"{steps.__name__}.{i.name}")
                      for i in pkgutil.iter_modules(steps.__path__)]


def step_helper(name: str):
    """The step helper ``name`` (the function a hook wraps), or None."""
    for mod in _step_modules():
        fn = vars(mod).get(name)
        if callable(fn) and getattr(fn, "__module__", None) == mod.__name__:
            return fn
    return None


class Step:
    """One transition a mutant edits: the state before (``s``), the action
    (``a``), the next state as a list (``t``), the model (``m``) and its slots."""

    __slots__ = ("m", "s", "a", "t", "slot")

    def __init__(self, m, s, a, t):
        self.m, self.s, self.a, self.t = m, s, a, list(t)
        self.slot = Slots(m)

    # reading
    def before(self, name, k=0):
        return self.s[self.slot(name, k)]

    def after(self, name, k=0):
        return self.t[self.slot(name, k)]

    def set(self, name, value, k=0):
        self.t[self.slot(name, k)] = value

    def keep(self, *names, k=0):
        """The step leaves these slots as they were (``k``: the page, writer
        level or process of the per-page/-level/-process names; global names
        ignore it)."""
        for n in names:
            i = self.slot(n, k)
            self.t[i] = self.s[i]

    def keep_flag(self, name):
        """The step leaves flag bit ``name`` (``F_TORN``...) as it was."""
        bit = Slots.flag(name)
        self.set("FLAGS", self.after("FLAGS") & ~bit | self.before("FLAGS") & bit)

    def keep_pages(self, fld):
        for p in range(self.m.N + 1):
            self.keep(f"page.{fld}", k=p)

    @property
    def level(self) -> int:
        """The writer level of a writer's action."""
        return self.m.actor_names.index(self.a[0])

    @property
    def proc(self) -> int:
        return self.m.proc_names.index(self.a[0])

    def changed(self, name, k=0) -> bool:
        i = self.slot(name, k)
        return self.s[i] != self.t[i]


# ---------------------------------------------------------------------------
# mutation kinds
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Edit:
    """A transition edit: ``fn(step)`` for each transition of the named steps
    (``when(step)`` to narrow); it edits ``step.t`` in place, or returns False to
    drop the transition, or a ``(action, state)`` pair to replace it."""

    steps: tuple
    fn: Callable
    when: Callable | None = None
    also: tuple = ()        # steps it changes without editing them (merged)


@dataclass(frozen=True)
class Extra:
    """Transitions added to a state: ``fn(m, s)`` returns (action, state) pairs
    (a guard made weaker), listed after the model's own; ``steps`` names the
    steps they are."""

    fn: Callable
    steps: tuple = ()


@dataclass(frozen=True)
class Hook:
    """A wrapped model helper: ``wrap(orig)`` returns the new function, written
    like a step helper (``(m, s)``, in the step subset: every engine reads it
    where a step calls the helper); for ``terminal_ok`` the new method."""

    name: str
    wrap: Callable


@dataclass(frozen=True)
class Prop:
    """A property replaced: ``fn(m, s) -> bool``."""

    name: str
    fn: Callable


@dataclass(frozen=True)
class ModelMutant:
    """One mutant: a name, its step family, a one-line description, the changes
    and the configurations it must show at (``configs``: where it is checked to
    change something, or where its equivalence is computed)."""

    name: str
    family: str
    doc: str
    changes: tuple
    configs: tuple = ()
    equivalent: str = ""       # the claim, computed by :func:`equivalence`

    @property
    def kind(self) -> str:
        return "property" if any(isinstance(c, Prop) for c in self.changes) \
            else "step"

    def targets(self) -> list[str]:
        out = []
        for c in self.changes:
            if isinstance(c, Edit):
                out += list(c.steps) + list(c.also)
            elif isinstance(c, Hook):
                out.append(c.name)
            elif isinstance(c, Prop):
                out.append(c.name)
            else:
                out += list(c.steps) or ["(added steps)"]
        return out


def edit(steps, fn, when=None) -> Edit:
    return Edit(tuple(steps.split()) if isinstance(steps, str) else tuple(steps),
                fn, when)


def as_if(change: Callable, restore: tuple = ()) -> Callable:
    """An edit that replaces a step by what the model does in the state changed by
    ``change(step, state_list)`` (the same action), with the ``restore`` slots
    set back to the real state's values afterwards."""
    def fn(st: Step):
        s2 = list(st.s)
        change(st, s2)
        s2 = tuple(s2)
        for a, t in _ORIG["successors"](st.m, s2):
            if a == st.a:
                t = list(t)
                for name in restore:
                    i = st.slot(name)
                    t[i] = st.s[i]
                return (a, tuple(t))
        return False
    return fn


def as_in(rules=None, **config) -> Callable:
    """An edit that replaces a step by what the model does from the same state
    (the same action) with rules or config keys changed (``overwrite=True``:
    the step as in overwrite mode): a bug that makes the step ignore a choice."""
    key = (tuple(sorted((rules or {}).items())), tuple(sorted(config.items())))

    def fn(st: Step):
        twins = st.m.__dict__.setdefault("_mutant_twins", {})
        twin = twins.get(key)
        if twin is None:
            m = st.m
            v = m.variant.with_rules(**rules) if rules else m.variant
            twin = twins[key] = type(m)(v, dataclasses.replace(m.config, **config))
        for a, t in _ORIG["successors"](twin, st.s):
            if a == st.a:
                return (a, t)
        return False
    return fn


def merged(first: str, then: str) -> Edit:
    """``first`` followed at once by the same actor's ``then`` when the model
    offers it (a fine-grained step left merged): one step instead of two."""
    def fn(st: Step):
        t = tuple(st.t)
        for a, u in _ORIG["successors"](st.m, t):
            if a == (st.a[0], then):
                return (st.a, u)
        return None
    return Edit((first,), fn, also=(then,))


def hook(name: str, wrap: Callable) -> Hook:
    return Hook(name, wrap)


def prop(name: str, fn: Callable) -> Prop:
    return Prop(name, fn)


# ---------------------------------------------------------------------------
# applying
# ---------------------------------------------------------------------------

_ORIG: dict = {}
_INHERITED = object()    # the class had no attribute of its own


def _model_class():
    from rbmap.model.protocol import RingBufferModel
    return RingBufferModel


def _is_transition(r) -> bool:
    """An edit's return value that replaces the transition: (action, state)."""
    return (isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], tuple)
            and bool(r[0]) and isinstance(r[0][0], str) and isinstance(r[1], tuple))


def _successor_wrapper(edits: list, extras: list):
    orig = _ORIG["successors"]
    by_step: dict = {}
    for e in edits:
        for name in e.steps:
            by_step.setdefault(name, []).append(e)

    def successors(self, s):
        out = orig(self, s)
        if by_step:
            new = []
            for a, t in out:
                es = by_step.get(a[1])
                if es:
                    for e in es:
                        st = Step(self, s, a, t)
                        if e.when is not None and not e.when(st):
                            continue
                        r = e.fn(st)
                        if r is False:
                            a = None
                            break
                        if _is_transition(r):
                            a, t = r
                        else:
                            t = tuple(st.t)
                if a is not None:
                    new.append((a, t))
            out = new
        for x in extras:
            out = out + list(x.fn(self, s))
        return out

    def successor_states(self, s):
        return [t for _, t in successors(self, s)]

    return successors, successor_states


@contextlib.contextmanager
def applied(mutant: ModelMutant):
    """Apply ``mutant`` for the duration of the ``with`` block (class-level, so
    every model built meanwhile has it); the model's own behaviour comes back
    after it. The manifest's summary cache is cleared on both ends."""
    from rbmap import manifest
    from rbmap.model import properties as props
    cls = _model_class()
    _ORIG.setdefault("successors", cls.successors)
    saved = []
    edits = [c for c in mutant.changes if isinstance(c, Edit)]
    extras = [c for c in mutant.changes if isinstance(c, Extra)]
    try:
        # (always: a model whose successors are replaced in Python is explored
        # by the interpreted engine, which runs the steps as printed from what
        # they call while the mutant is applied)
        succ, states = _successor_wrapper(edits, extras)
        for attr, val in (("successors", succ), ("successor_states", states)):
            saved.append((cls, attr, cls.__dict__.get(attr, _INHERITED)))
            setattr(cls, attr, val)
        for c in mutant.changes:
            if isinstance(c, Hook) and c.name in _METHOD_HOOKS:
                orig = getattr(cls, c.name)
                saved.append((cls, c.name, cls.__dict__.get(c.name, _INHERITED)))
                setattr(cls, c.name, c.wrap(orig))
            elif isinstance(c, Hook):
                # every module of the steps that calls the helper by this name
                orig = step_helper(c.name)
                new = c.wrap(orig)
                for mod in _step_modules():
                    names = vars(mod)
                    for attr in [k for k, v in names.items() if v is orig]:
                        saved.append((names, attr, orig))
                        names[attr] = new
            elif isinstance(c, Prop):
                i = next(k for k, sp in enumerate(props.SPECS) if sp.name == c.name)
                old = props.SPECS[i]
                saved.append((props.SPECS, i, old))
                props.SPECS[i] = dataclasses.replace(old, fn=c.fn)
        manifest.clear_cache()
        yield mutant
    finally:
        for owner, key, val in reversed(saved):
            if isinstance(owner, (list, dict)):
                owner[key] = val
            elif val is _INHERITED:
                delattr(owner, key)
            else:
                setattr(owner, key, val)
        manifest.clear_cache()


# ---------------------------------------------------------------------------
# the catalogue
# ---------------------------------------------------------------------------

MUTANTS: list[ModelMutant] = []

TINY = dict(pages=2, page_events=1, events=3, processes=1, nesting=2)
SMALL = dict(pages=2, page_events=1, events=4, processes=2, nesting=1)
K2 = dict(pages=2, page_events=2, events=4, processes=1, nesting=2)
NC = dict(pages=2, page_events=1, events=3, processes=1, nesting=1, nc_readers=1)
LTF = dict(pages=2, page_events=2, events=4, processes=1, nesting=1, client="libtracefs")
RESET = dict(pages=2, page_events=1, events=4, processes=2, nesting=1, pipe_reads=1,
             resets=1)
FORK = dict(SMALL, fork=True)


def mutant(name, family, doc, *changes, configs=(), equivalent=""):
    m = ModelMutant(name, family, doc, tuple(changes), tuple(configs), equivalent)
    MUTANTS.append(m)
    return m


def _cfg(variant, rules=None, **config):
    return (variant, rules or {}, config)


def _write_on_used_page(st):
    return st.before("page.write", st.before("TAIL")) > 0


def _head_pushed(st):
    return st.after("HEAD") != st.before("HEAD") and st.a[1] == "move_tail"


def _keep_meta(st):
    st.keep("M_ENTRIES", "M_OVERRUN", "M_TOUCHED", "M_READ", "M_RID", "M_RREAD",
            "M_DPH")


# ---- writer: reserve ---------------------------------------------------------
mutant("reserve_fill_not_counted", "writer reserve",
       "a reserve on a page that holds events does not count the new one in the "
       "page's bytes (filled)",
       edit("reserve", lambda st: st.keep("page.filled", k=st.before("TAIL")),
            when=_write_on_used_page),
       configs=[_cfg("upstream", **K2)])


def _full_early(st):
    m = st.m
    T = st.before("TAIL")
    return m.K > 1 and st.before("page.write", T) == m.K - 1


def _move_tail_early(st):
    # rb_move_tail on the tail page with one event's room left: what move_tail
    # does on the full page, the page itself left as it is (not padded)
    T = st.before("TAIL")
    s2 = list(st.s)
    s2[st.slot("page.write", T)] = st.m.K
    for a, t in _ORIG["successors"](st.m, tuple(s2)):
        if a == st.a[:1] + ("move_tail",):
            t = list(t)
            for k in (st.slot("page.write", T), st.slot("REAL0")):
                t[k] = st.s[k]
            return (a, tuple(t))
    return False


mutant("reserve_full_one_early", "writer reserve",
       "the tail page counts as full one event early (the reserve guard is off by "
       "one: write < page_events - 1)",
       edit("reserve", _move_tail_early, when=_full_early),
       configs=[_cfg("upstream", **K2)])
mutant("reserve_keeps_generation", "writer reserve",
       "the first reserve on a reused page keeps its old generation (its old bytes "
       "are not marked overwritten)",
       edit("reserve", lambda st: st.keep("page.base", "LOSTU",
                                          k=st.before("TAIL")),
            when=lambda st: not _write_on_used_page(st)),
       configs=[_cfg("upstream", **SMALL)])

# ---- writer: move_tail -------------------------------------------------------
mutant("head_push_overrun_not_counted", "writer move_tail",
       "rb_handle_head_page pushes the head without adding its entries to overrun",
       edit("move_tail", lambda st: st.keep("OVERRUN"), when=_head_pushed),
       configs=[_cfg("upstream", **SMALL)])
mutant("head_push_loss_not_accounted", "writer move_tail",
       "the events on the pushed head page are not counted lost (history)",
       edit("move_tail", lambda st: st.keep("ACCT"), when=_head_pushed),
       configs=[_cfg("upstream", **SMALL)])
mutant("tail_move_commit_kept", "writer move_tail",
       "rb_tail_page_update does not reset the next page's commit",
       edit("move_tail", lambda st: st.keep("page.commit", k=st.after("TAIL")),
            when=lambda st: st.changed("TAIL")),
       configs=[_cfg("upstream", **SMALL)])
mutant("tail_move_not_touched", "writer move_tail",
       "rb_tail_page_update does not count pages_touched",
       edit("move_tail stale_retry crossed_retry", lambda st: st.keep("TOUCHED")),
       configs=[_cfg("v2", **SMALL)])


mutant("overwrite_flag_ignored", "writer move_tail",
       "producer/consumer mode pushes the head page like overwrite mode",
       edit("move_tail", as_in(overwrite=True)),
       configs=[_cfg("upstream", **dict(SMALL, overwrite=False))])
mutant("stale_writes_not_marked", "writer move_tail",
       "a tail move does not mark the interrupted writes' loaded tail_page stale",
       edit("move_tail", lambda st: [
           st.keep("writer.r1", "writer.r2", k=i) for i in range(st.level)]),
       configs=[_cfg("upstream", **TINY)])

# ---- writer: commit and rb_end_commit ----------------------------------------
mutant("commit_entries_not_counted", "writer commit",
       "rb_commit does not increment cpu_buffer->entries",
       edit("commit commit_inc", lambda st: st.keep("ENTRIES")),
       configs=[_cfg("upstream", **SMALL)])


def _nested_publish(st):
    if st.after("WDEPTH") < st.before("WDEPTH") and st.level > 0:
        st.m._commit_to_write(st.t)


mutant("nested_commit_publishes", "writer commit",
       "a nested writer's rb_end_commit publishes the commit page as if outermost",
       edit("commit end_commit", _nested_publish),
       configs=[_cfg("upstream", **TINY)])
mutant("commit_release_merged", "writer end_commit",
       "rb_end_commit's local_dec(&committing) and its re-check are one step",
       merged("commit_release", "commit_recheck"),
       configs=[_cfg("upstream", **TINY)])


def _recheck_no_loop(st, s2):
    s2[st.slot("writer.r2", st.level)] = 0


mutant("recheck_ignores_new_commits", "writer end_commit",
       "rb_end_commit's re-check does not loop when an interrupt wrote after its "
       "load of cpu_buffer->commits",
       edit("commit_recheck", as_if(_recheck_no_loop),
            when=lambda st: st.before("writer.r2", st.level)),
       configs=[_cfg("upstream", **TINY)])


def _begin_unseen(st):
    for i in range(st.level):
        st.keep("writer.r2", k=i)


mutant("start_commit_unseen", "writer write_begin",
       "rb_start_commit's commits++ is not seen by an outer commit in its "
       "re-check window (it does not loop)",
       edit("write_begin", _begin_unseen),
       configs=[_cfg("upstream", **TINY)])


def _move_no_publish(st):
    st.keep("COMMITP")
    st.keep_pages("commit")


mutant("tail_move_end_commit_no_publish", "writer end_commit",
       "rb_move_tail's closing rb_end_commit does not publish (coarse)",
       edit("end_commit_move", _move_no_publish),
       configs=[_cfg("upstream", **SMALL)])
mutant("retry_window_merged", "writer stale retries",
       "no window between rb_move_tail's rb_end_commit and its "
       "local_inc(&committing) (retry merged into end_commit_move)",
       merged("end_commit_move", "retry"),
       configs=[_cfg("upstream", **TINY)])
mutant("stale_retry_missing", "writer stale retries",
       "a write whose loaded tail_page an interrupt moved never takes the stale "
       "retry (it goes on as if the tail were its own)",
       edit("stale_retry", lambda st: False),
       configs=[_cfg("upstream", **TINY)])
mutant("stale_retry_no_reset_tail", "writer stale retries",
       "the stale retry's rb_reset_tail leaves the old page's padding and real_end",
       edit("stale_retry", lambda st: (st.keep("REAL0"),
                                       st.keep_pages("write"))),
       configs=[_cfg("upstream", **TINY)])

# ---- writer: the fine-grained publish ----------------------------------------
FINE = dict(TINY, granularity="fine")
mutant("publish_page_commit_not_stored", "writer publish",
       "fine: rb_set_commit_to_write's walk moves commit_page on without storing "
       "the page's commit",
       edit("publish_page", lambda st: st.keep("page.commit",
                                               k=st.before("COMMITP"))),
       configs=[_cfg("upstream", **FINE)])
mutant("publish_load_merged", "writer publish",
       "fine: the load of the tail page's write index and its store as commit are "
       "one step",
       merged("publish_load", "publish"),
       configs=[_cfg("upstream", **FINE)])


mutant("commit_page_move_merged", "writer publish",
       "fine: the walk's store of a page's commit and rb_inc_page(&commit_page) "
       "are one step (no reader between them)",
       merged("publish_page", "commit_page_move"),
       configs=[_cfg("upstream", **FINE)])


mutant("head_retry_dropped", "writer move",
       "fine: a write that saw the head page flagged before a reader swapped it "
       "out always moves the tail (no retry on rb_handle_head_page's failed "
       "cmpxchg)",
       edit("head_retry", lambda st: False),
       configs=[_cfg("upstream", **FINE)])


def _no_publish_again(st):
    st.set("writer.phase", Slots.const("W_RECHECK"), k=st.level)
    return (st.a[:1] + ("publish_end",), tuple(st.t))


mutant("publish_end_ignores_moved_tail", "writer publish",
       "fine: the final check returns although an interrupt moved the tail "
       "(no publish_again)",
       edit("publish_again", _no_publish_again),
       configs=[_cfg("upstream", **FINE)])
mutant("commit_walk_merged", "writer publish",
       "fine: the outermost commit's load of cpu_buffer->commits and its walk are "
       "one step (commit merged with walk_done)",
       merged("commit", "walk_done"),
       configs=[_cfg("upstream", **FINE)])
mutant("published_skips_tail_check", "writer publish",
       "fine: a walk that finds the tail page published returns without checking "
       "whether the tail moved on meanwhile",
       edit("published", lambda st: st.set("writer.phase", Slots.const("W_RECHECK"),
                                           k=st.level)),
       configs=[_cfg("upstream", **FINE)])
mutant("publish_end_release_merged", "writer publish",
       "fine: the walk's end and rb_end_commit's local_dec(&committing) are one "
       "step",
       merged("publish_end", "commit_release"),
       configs=[_cfg("upstream", **FINE)])

# ---- the seed's fast-path meta stores (v2) -------------------------------------
V2N = dict(pages=2, page_events=1, events=4, processes=1, nesting=2)


def _fresh_entries(st):
    if st.changed("M_ENTRIES"):
        st.set("M_ENTRIES", st.before("ENTRIES"))
        bit = Slots.flag("F_BACKWARDS")
        if not st.before("FLAGS") & bit and st.before("ENTRIES") >= st.before(
                "M_ENTRIES"):
            st.set("FLAGS", st.after("FLAGS") & ~bit)


mutant("seed_meta_store_fresh_value", "seed meta stores",
       "the seed's meta store writes the current entries, not the value it loaded",
       edit("meta_store", _fresh_entries),
       configs=[_cfg("v2", **V2N)])
mutant("seed_commit_loads_unmapped", "seed meta stores",
       "the seed's rb_commit goes to its meta store although mapped is 0",
       edit("commit_inc commit_load",
            lambda st: (st.set("writer.phase", Slots.const("W_INC"), k=st.level),
                        st.set("writer.r1", st.after("ENTRIES"), k=st.level)),
            when=lambda st: st.after("writer.phase", st.level) == Slots.const(
                "W_STORED")),
       configs=[_cfg("v2", **V2N)])
mutant("seed_overrun_not_stored", "seed meta stores",
       "the seed's rb_handle_head_page never stores overrun into the meta page",
       edit("meta_store_tail", lambda st: st.keep("M_OVERRUN")),
       configs=[_cfg("v2", **V2N)])
mutant("seed_tail_meta_load_merged", "seed meta stores",
       "fine: the seed's load of mapped after the tail move is part of the move",
       merged("move_tail", "tail_meta_load"),
       configs=[_cfg("v2", **FINE)])


def _push_store_needs_tail_load(st):
    if st.after("writer.phase", st.level) == P.W_MOVED:
        st.keep("M_OVERRUN", "FLAGS")


mutant("seed_push_overrun_store_lost", "seed meta stores",
       "fine: the head push's overrun store is dropped when the tail move's "
       "load finds the buffer unmapped (one mapped load for both stores)",
       edit("tail_meta_load", _push_store_needs_tail_load),
       configs=[_cfg("v2", **dict(NC, nc_readers=0, processes=1, nesting=1,
                                  events=3, granularity="fine"))])


def _unmap_no_wait(st):
    if st.after("UNMAPW"):
        st.set("UNMAPW", 0)
        st.m._free_ids_meta(st.t)


mutant("seed_unmap_does_not_wait", "seed meta stores",
       "fine: the seed's last unmap frees the meta page without synchronize_rcu",
       edit("unmap exit", _unmap_no_wait),
       configs=[_cfg("v2", **FINE)])


def _sync_early(m, s):
    # unmap_sync listed although a write is in flight (the model waits for d == 0)
    if not s[P.UNMAPW] or not s[P.WDEPTH]:
        return []
    t = list(s)
    t[P.UNMAPW] = 0
    m._free_ids_meta(t)
    return [((m.proc_names[s[P.UNMAPW] - 1], "unmap_sync"), tuple(t))]


mutant("seed_sync_ignores_writes", "seed meta stores",
       "fine: the seed's synchronize_rcu returns while a write that may have seen "
       "mapped != 0 is still in flight",
       Extra(_sync_early, steps=("unmap_sync",)),
       configs=[_cfg("v2", **FINE)])

# ---- GET_READER ----------------------------------------------------------------
mutant("get_reader_does_not_consume", "GET_READER",
       "GET_READER swaps but does not consume the reader page (read and "
       "cpu_buffer->read stay)",
       edit("ioctl", lambda st: (st.keep("READCNT"), st.keep_pages("read"),
                                 st.keep("M_RREAD", "M_READ")),
            when=lambda st: st.m.get_reader == "consume_to_commit"),
       configs=[_cfg("upstream", **SMALL)])


def _lost_kept(st):
    if st.after("READER") != st.before("READER"):
        ov, last = st.before("OVERRUN"), st.before("LASTOV")
        st.set("LOSTEV", ov - last if ov != last else st.before("LOSTEV"))


mutant("get_reader_keeps_lost_events", "GET_READER",
       "GET_READER leaves cpu_buffer->lost_events set after the swap",
       edit("ioctl", _lost_kept,
            when=lambda st: st.m.get_reader == "consume_to_commit"),
       configs=[_cfg("upstream", **SMALL)])


def _no_cut(st):
    R = st.after("READER")
    K = st.m.K
    if R != st.before("READER") and st.after("page.commit", R) == K and \
            st.before("page.commit", R) > K:
        st.set("page.commit", st.before("page.commit", R), k=R)
        st.set("page.read", st.before("page.commit", R), k=R)
        if st.after("M_RREAD") == K and not st.after("IOCTLP"):
            st.set("M_RREAD", st.after("page.read", R))


mutant("get_reader_no_real_end_cut", "GET_READER",
       "GET_READER does not cut a page with lost events back to real_end",
       edit("ioctl", _no_cut),
       configs=[_cfg("upstream", **dict(K2, nesting=1, events=7, pages=2))])
mutant("seed_get_reader_read_not_set", "GET_READER",
       "the seed's ioctl does not set reader_page->read to the page size",
       edit("ioctl", lambda st: st.keep("page.read", k=st.before("READER")),
            when=lambda st: st.m.get_reader == "v2_swap"),
       configs=[_cfg("v2", **SMALL)])


def _declared_all(st, s2):
    R = st.before("READER")
    s2[st.slot("proc.pos", st.proc)] = st.before("page.commit", R)


mutant("read_param_consumes_all", "GET_READER",
       "the read_param ioctl consumes to the commit whatever amount was declared",
       edit("ioctl", as_if(_declared_all),
            when=lambda st: st.m.get_reader == "read_param"),
       configs=[_cfg("v3-read-param", **dict(SMALL, crash=True))])
mutant("ioctl_meta_merged", "GET_READER",
       "fine: GET_READER's closing rb_update_meta_page is part of its reader-page "
       "step (the fine split left merged)",
       merged("ioctl", "ioctl_meta"),
       configs=[_cfg("upstream", **FINE)])


#: the slots a :func:`_keeping` wrap can give back (global slots of every layout)
_KEEPABLE = ("meta_entries", "meta_overrun", "meta_read", "meta_reader_id",
             "meta_reader_read", "meta_data_page_head", "last_overrun")


def _keeping(*names):
    """A wrap for a step helper ``f(m, s)`` that updates the state: the helper
    runs, then the named slots (of :data:`_KEEPABLE`) get their old values back
    (the helper "does not update" them). In the step subset: which slots are
    kept is a constant of the wrap."""
    bad = set(names) - set(_KEEPABLE)
    if bad:
        raise ValueError(f"_keeping: {sorted(bad)} not in {_KEEPABLE}")
    k_ent, k_ov, k_rd, k_rid, k_rrd, k_dph, k_lov = (int(n in names) for n in _KEEPABLE)

    def wrap(orig):
        def keeping(m, s):
            ent, ov, rd, rid = s.meta_entries, s.meta_overrun, s.meta_read, s.meta_reader_id
            rrd, dph, lov = s.meta_reader_read, s.meta_data_page_head, s.last_overrun
            orig(m, s)
            if k_ent:
                s.meta_entries = ent
            if k_ov:
                s.meta_overrun = ov
            if k_rd:
                s.meta_read = rd
            if k_rid:
                s.meta_reader_id = rid
            if k_rrd:
                s.meta_reader_read = rrd
            if k_dph:
                s.meta_data_page_head = dph
            if k_lov:
                s.last_overrun = lov
        return keeping
    return wrap


mutant("meta_refresh_entries_stale", "GET_READER",
       "rb_update_meta_page does not refresh meta entries",
       hook("refresh_meta", _keeping("meta_entries")),
       configs=[_cfg("upstream", **SMALL)])
mutant("meta_refresh_reader_read_stale", "GET_READER",
       "rb_update_meta_page does not refresh meta reader.read",
       hook("refresh_meta", _keeping("meta_reader_read")),
       configs=[_cfg("upstream", **SMALL)])
mutant("meta_refresh_read_stale", "GET_READER",
       "rb_update_meta_page does not refresh meta read (events consumed)",
       hook("refresh_meta", _keeping("meta_read")),
       configs=[_cfg("upstream", **SMALL)])


mutant("swap_last_overrun_kept", "GET_READER",
       "the reader swap computes lost_events but does not update last_overrun",
       hook("swap", _keeping("last_overrun")),
       configs=[_cfg("upstream", **SMALL)])
mutant("seed_swap_reader_id_stale", "GET_READER",
       "the seed's rb_meta_page_head_swap leaves meta reader_page at the old ID",
       hook("swap", _keeping("meta_reader_id")),
       configs=[_cfg("v2", **SMALL)])


mutant("seed_set_head_page_dph_kept", "GET_READER",
       "the seed's rb_set_head_page does not move data_page_head",
       hook("set_head_page", _keeping("meta_data_page_head")),
       configs=[_cfg("v2", **SMALL)])


mutant("reader_buffer_always_empty", "GET_READER",
       "rb_per_cpu_empty always finds the buffer empty (the reader never swaps)",
       hook("empty", lambda orig: _always_empty),
       configs=[_cfg("upstream", **SMALL)])


def _always_empty(m, s):
    return 1


def _mapped_for_ioctl(st, s2):
    s2[P.MAPPED] = 1


mutant("get_reader_ignores_unmapped", "GET_READER",
       "GET_READER on a buffer whose mapped count is 0 does the reader work "
       "(no -ENODEV)",
       edit("ioctl", as_if(_mapped_for_ioctl, restore=("MAPPED",)),
            when=lambda st: st.before("MAPPED") <= 0),
       # (mapped is 0 under a live VMA only where a fork's copy is not counted)
       configs=[_cfg("upstream", {"vma_open": "ignores"}, **dict(FORK, events=2))])

# ---- ring_buffer_read_page (trace_pipe_raw) --------------------------------------
PIPE = dict(SMALL, pipe_reads=1, events=2, consumers="concurrent")
mutant("read_page_not_counted", "read_page",
       "ring_buffer_read_page does not count the events it copies in "
       "cpu_buffer->read",
       edit("read_page", lambda st: st.keep("READCNT")),
       configs=[_cfg("upstream", **RESET)])


mutant("read_page_swaps_while_mapped", "read_page",
       "ring_buffer_read_page swaps the reader page out while mapped (no copy)",
       edit("read_page", as_in(rules={"read_page_mapped": "swap"})),
       configs=[_cfg("upstream", **PIPE)])
mutant("read_page_budget_kept", "read_page",
       "a trace_pipe_raw read does not use up one of the reads the config allows",
       edit("read_page", lambda st: st.keep("PIPEB")),
       configs=[_cfg("upstream", **RESET)])


def _gate_anyway(name, bit):
    def fn(m, s):
        # ring_buffer_resize / ring_buffer_swap_cpu let through while mapped (the
        # model lists them only under the rule that allows it)
        if s[P.MAPPED] <= 0 or s[P.IOCTLP] or not m.config.kernel_ops or any(
                n == name for n, _ in m._gate_steps):
            return []
        return [(("kernel", name), tuple(s[:P.FLAGS]) + (s[P.FLAGS] | bit,)
                 + tuple(s[P.FLAGS + 1:]))]
    return fn


mutant("resize_not_refused_while_mapped", "kernel gates",
       "ring_buffer_resize goes ahead while the buffer is mapped (no -EBUSY)",
       Extra(_gate_anyway("resize", P.F_RESIZED), steps=("resize",)),
       configs=[_cfg("upstream", **SMALL)])
mutant("swap_cpu_not_refused_while_mapped", "kernel gates",
       "ring_buffer_swap_cpu goes ahead while either buffer is mapped (no -EBUSY)",
       Extra(_gate_anyway("swap_cpu", P.F_SWAPPED), steps=("swap_cpu",)),
       configs=[_cfg("upstream", **SMALL)])

# ---- reset -------------------------------------------------------------------------
mutant("reset_loss_not_counted", "reset",
       "rb_reset_cpu discards unread events without counting them",
       edit("reset", lambda st: st.keep("ACCT")),
       configs=[_cfg("upstream", **RESET)])
mutant("reset_meta_kept", "reset",
       "rb_reset_cpu leaves the meta page as it was while mapped",
       edit("reset", _keep_meta, when=lambda st: st.before("MAPPED") > 0),
       configs=[_cfg("upstream", **RESET)])
mutant("reset_read_counter_kept", "reset",
       "rb_reset_cpu does not reset cpu_buffer->read",
       edit("reset", lambda st: st.keep("READCNT")),
       configs=[_cfg("upstream", **RESET)])
mutant("seed_reset_relist_ignored", "reset",
       "the relist fix of rb_reset_cpu leaves data_pages[] and data_page_head",
       edit("reset", lambda st: ([st.keep("data_pages", k=i) for i in range(st.m.N)],
                                 st.keep("M_DPH"))),
       configs=[_cfg("v2", {"reset_data_pages": "relist"},
                     pages=3, page_events=1, events=2, processes=1, nesting=1,
                     resets=1, overwrite=False)])

# ---- map, unmap, the first map and the IDs ------------------------------------------


def _first(st):
    return st.before("MAPPED") <= 0


def _reader_id_one(st):
    R = st.after("READER")
    st.set("page.id", 1, k=R)
    if st.after("M_RID") == 0:
        st.set("M_RID", 1)


mutant("first_map_reader_id_shared", "map/IDs",
       "the first map gives the reader page ID 1, the head page's",
       edit("map", _reader_id_one, when=_first),
       configs=[_cfg("upstream", **SMALL)])


mutant("first_map_meta_not_refreshed", "map/IDs",
       "the first map assigns IDs but leaves the meta counters and reader.read",
       hook("first_map", _keeping("meta_entries", "meta_overrun", "meta_read",
                                  "meta_reader_read")),
       configs=[_cfg("upstream", **SMALL)])
mutant("second_map_not_counted", "map/IDs",
       "a mapping made while the buffer is mapped does not increment mapped",
       edit("map", lambda st: st.keep("MAPPED"), when=lambda st: not _first(st)),
       configs=[_cfg("upstream", **dict(SMALL, consumers="concurrent", events=3))])
def _frees_nothing(m, s):
    return


mutant("last_unmap_keeps_ids", "map/IDs",
       "the last unmap does not free subbuf_ids and the meta page",
       hook("free_ids_meta", lambda orig: _frees_nothing),
       configs=[_cfg("upstream", **SMALL)])
mutant("unmap_not_counted", "map/IDs",
       "munmap does not decrement mapped",
       edit("unmap", lambda st: st.keep("MAPPED")),
       configs=[_cfg("upstream", **SMALL)])


def _map_anyway(m, s):
    # ring_buffer_map for a process while another holds a mapping, with
    # sequential consumers (the rule it breaks)
    if m.config.consumers != "sequential" or s[P.MAPPED] <= 0 or s[P.IOCTLP] \
            or s[P.UNMAPW]:
        return []
    out = []
    sl = Slots(m)
    for i in range(m.P):
        if s[sl("proc.phase", i)] == P.P_IDLE:
            t = list(s)
            t[P.MAPPED] += 1
            t[sl("proc.phase", i)] = P.P_MAPPED
            out.append(((m.proc_names[i], "map"), tuple(t)))
    return out


mutant("map_while_other_holds", "map/IDs",
       "a process maps while another holds a mapping, consumers sequential",
       Extra(_map_anyway, steps=("map",)),
       configs=[_cfg("upstream", **SMALL)])

# ---- user processes ---------------------------------------------------------------
mutant("mapper_starts_at_page_start", "process read_meta",
       "a new mapper starts at offset 0 of the reader page, not at reader.read",
       edit("read_meta", lambda st: st.set("proc.pos", 0, k=st.proc),
            when=lambda st: st.before("proc.phase", st.proc) == P.P_MAPPED),
       configs=[_cfg("upstream", **SMALL)])
mutant("read_meta_limit_kept", "process read_meta",
       "after its ioctl the process keeps its old limit (reader.read not reloaded)",
       edit("read_meta", lambda st: st.keep("proc.limit", k=st.proc),
            when=lambda st: st.before("proc.phase", st.proc) == P.P_IOCTLED),
       configs=[_cfg("upstream", **SMALL)])
mutant("read_event_not_delivered", "process read_event",
       "an event the process loads is not recorded as delivered",
       edit("read_event", lambda st: st.keep("DELIV", "DUPS")),
       configs=[_cfg("upstream", **SMALL)])


def _no_torn_flag(st):
    st.keep_flag("F_TORN")


mutant("read_event_no_generation_check", "process read_event",
       "the process does not notice it loads from a page the writer overwrote",
       edit("read_event", _no_torn_flag),
       configs=[_cfg("upstream", **dict(SMALL, consumers="concurrent", events=3))])
mutant("page_done_merged", "process page_done",
       "a reader up to the live commit calls the ioctl in the same step as it "
       "sees the page end (page_done merged into ioctl)",
       merged("page_done", "ioctl"),
       configs=[_cfg("v2", **SMALL)])


def _ioctl_phase_kept(st):
    st.keep("proc.phase", k=st.proc)


mutant("ioctl_leaves_phase", "process ioctl",
       "after GET_READER the process does not reload the meta page (it goes on "
       "reading where it was)",
       edit("ioctl", lambda st: st.set("proc.phase", P.P_READING, k=st.proc),
            when=lambda st: st.a[0].startswith("p") and not st.m.ltf),
       configs=[_cfg("upstream", **SMALL)])


_UNMAP_SLOTS = ("MAPPED", "UNMAPW", "M_ENTRIES", "M_OVERRUN", "M_TOUCHED", "M_READ",
                "M_RID", "M_RREAD", "M_DPH")


def _exit_no_unmap(st):
    st.keep(*_UNMAP_SLOTS)
    for p in range(st.m.N + 1):
        st.keep("page.id", k=p)
    for i in range(st.m.N):
        st.keep("data_pages", k=i)
    st.keep_flag("F_ENODEV")


mutant("exit_does_not_unmap", "process exit",
       "a process exiting with a mapping does not unmap it",
       edit("exit", _exit_no_unmap,
            when=lambda st: st.before("proc.phase", st.proc) not in (
                P.P_IDLE, P.P_EXITED)),
       configs=[_cfg("upstream", **SMALL)])
mutant("processes_never_exit", "process exit",
       "a process never exits (exit refused: it can only unmap)",
       edit("exit", lambda st: False),
       configs=[_cfg("upstream", **SMALL)])
mutant("fork_copy_counted_twice", "process fork",
       "the VMA open callback counts a MADV_DOFORK copy twice",
       edit("dofork", lambda st: st.set("MAPPED", st.after("MAPPED") + 1),
            when=lambda st: st.changed("MAPPED")),
       configs=[_cfg("upstream", {"vma_open": "counts"}, **FORK)])
mutant("child_exit_keeps_copy", "process fork",
       "the child's exit does not close its copy of the mapping",
       edit("child_exit", _exit_no_unmap),
       configs=[_cfg("upstream", {"vma_open": "counts"}, **FORK)])

# ---- the non-consuming reader (seed) ------------------------------------------------
mutant("nc_update_without_head_fix", "non-consuming reader",
       "the update ioctl does not run rb_set_head_page",
       edit("update_meta", lambda st: (st.keep("HCACHE", "M_DPH", "FLAGS")),
            when=lambda st: st.a[0] == "nc0"),
       configs=[_cfg("v2", **NC)])


def _next_slot(st, s2):
    i = st.slot("nc.i")
    s2[i] = s2[i] + 1


mutant("nc_reads_next_slot", "non-consuming reader",
       "the non-consuming reader opens data_pages[data_page_head + i + 1]",
       edit("open_page", as_if(_next_slot, restore=("nc.i",))),
       configs=[_cfg("v2", **NC)])
mutant("nc_counter_not_bumped", "non-consuming reader",
       "rb_tail_page_update does not bump data_index[next].cnt",
       edit("move_tail", lambda st: st.keep("nc.cnt"),
            when=lambda st: st.m.nc),
       configs=[_cfg("v2-data-index", **NC)])


def _nc_no_torn(st):
    st.keep_flag("F_NC_TORN")


mutant("nc_keeps_torn_page", "non-consuming reader",
       "page_end keeps a page the writer overwrote without noticing",
       edit("page_end", _nc_no_torn),
       configs=[_cfg("v2", **NC)])


def _commit_low(st, s2):
    s2[st.slot("nc.com")] = 0


mutant("nc_commit_check_blind", "non-consuming reader",
       "the commit-field check never sees the commit go down",
       edit("page_end", as_if(_commit_low),
            when=lambda st: st.m.nc_check != "none"),
       configs=[_cfg("v2", {"nc_check": "commit"}, **NC)])
mutant("nc_ignores_data_page_head", "non-consuming reader",
       "the non-consuming reader starts at data_pages[0], not at data_page_head",
       edit("read_head", lambda st: st.set("nc.dph", 0)),
       configs=[_cfg("v2", **NC)])

# ---- the text reader (trace_pipe) ------------------------------------------------------
TEXT = dict(pages=2, page_events=1, events=5, processes=1, nesting=1, text_reads=1)


def _offers(st, step):
    return any(a == (st.a[0], step) for a, _ in _ORIG["successors"](st.m, st.s))


def _no_lost_line(st):
    st.keep("GAP")
    st.keep_flag("F_LOSS_MISREPORT")


mutant("text_read_no_lost_line", "text reader",
       "a read's first line goes out without the [LOST n EVENTS] line its peek "
       "returned (lost_events cleared unreported)",
       edit("text_read", _no_lost_line),
       configs=[_cfg("upstream", **TEXT)])
mutant("text_line_not_counted", "text reader",
       "rb_advance_reader does not count a read's next line in cpu_buffer->read",
       edit("text_line", lambda st: st.keep("READCNT")),
       configs=[_cfg("upstream", **TEXT)])
mutant("text_full_drops_lost_events", "text reader",
       "a read that stops at a full trace_seq clears the loss its peek set "
       "(never reported)",
       edit("text_full", lambda st: st.set("LOSTEV", 0)),
       configs=[_cfg("upstream", **TEXT)])
mutant("text_read_ignores_count", "text reader",
       "a read ignores the user's count: it returns only when the trace_seq is "
       "full or the buffer empty",
       edit("text_done", lambda st: False,
            when=lambda st: _offers(st, "text_line")),
       configs=[_cfg("upstream", **TEXT)])

# ---- refused calls (--refusals) --------------------------------------------------------
REFUSE = dict(pages=2, page_events=1, events=2, processes=1, nesting=1,
              refusals=True)


def _as_if_added(step, change, restore=()):
    """Transitions of ``step`` the model would list in the state changed by
    ``change(m, state_list)`` (a guard dropped), with the ``restore`` slots put
    back; only those the model does not list itself."""
    def fn(m, s):
        s2 = list(s)
        if not change(m, s2):
            return []
        own = {a for a, _ in _ORIG["successors"](m, s) if a[1] == step}
        out = []
        for a, t in _ORIG["successors"](m, tuple(s2)):
            if a[1] == step and a not in own:
                t = list(t)
                for name in restore:
                    t[getattr(P, name)] = s[getattr(P, name)]
                out.append((a, tuple(t)))
        return out
    return fn


def _tr_unmapped(m, s2):
    if s2[P.TRMAP] <= 0:
        return False
    s2[P.TRMAP] = 0
    return True


mutant("snapshot_arm_ignores_mapped", "refused calls",
       "echo 1 > snapshot: tracing_arm_snapshot_locked does not refuse while "
       "tr->mapped",
       Extra(_as_if_added("snapshot", _tr_unmapped, restore=("TRMAP",)),
             steps=("snapshot",)),
       configs=[_cfg("upstream", **REFUSE)])
mutant("trigger_arm_ignores_mapped", "refused calls",
       "a snapshot trigger: tracing_arm_snapshot does not refuse while tr->mapped",
       Extra(_as_if_added("trigger_on", _tr_unmapped, restore=("TRMAP",)),
             steps=("trigger_on",)),
       configs=[_cfg("upstream", **REFUSE)])


def _no_swap_warning(st):
    st.keep_flag("K_SWAP_CPU_MAPPED")


mutant("swap_cpu_refusal_without_warning", "refused calls",
       "ring_buffer_swap_cpu refuses a mapped buffer without its WARN_ON_ONCE",
       edit("snapshot_cpu", _no_swap_warning),
       configs=[_cfg("upstream", **dict(REFUSE, fork=True))])
mutant("trigger_never_removed", "refused calls",
       "a snapshot trigger is never removed (no tracing_disarm_snapshot)",
       edit("trigger_off", lambda st: False),
       configs=[_cfg("upstream", **REFUSE)])


mutant("subbuf_order_ignores_resize_disabled", "refused calls",
       "ring_buffer_subbuf_order_set does not check resize_disabled (never "
       "refused)",
       edit("subbuf_order", lambda st: False),
       configs=[_cfg("upstream", {"map_error": "keep_resize_disabled"}, **REFUSE)])


def _bad_range_maps(m, s):
    # an idle process's mmap past the end accepted: the map the model lists,
    # with the out-of-range page inserted (F_FAULT)
    if not m.config.refusals:
        return []
    out = []
    for a, t in _ORIG["successors"](m, s):
        if a[1] == "map" and a[0] in m.proc_names:
            t = list(t)
            t[P.FLAGS] |= P.F_FAULT
            out.append(((a[0], "trymap_bad"), tuple(t)))
    return out


mutant("mmap_range_unchecked", "refused calls",
       "__rb_map_vma accepts a length or offset past the end of the buffer",
       Extra(_bad_range_maps, steps=("trymap_bad",)),
       configs=[_cfg("upstream", **REFUSE)])

# ---- libtracefs ---------------------------------------------------------------------
mutant("libtracefs_setup_skip_ignored", "libtracefs client",
       "tfs_mmap's setup does not move its kbuffer past reader.read",
       edit("mmap_setup", lambda st: st.set("ltf.skip", 0, k=st.proc)),
       configs=[_cfg("upstream", **LTF)])


def _exact_check(st):
    if st.after("ltf.phase", st.proc) == P.L_IOCTL_MORE and \
            st.before("proc.pos", st.proc) + 1 == st.before("M_RREAD"):
        st.set("ltf.phase", P.L_ITER, k=st.proc)


mutant("libtracefs_exact_offset_check", "libtracefs client",
       "tfs_mmap_load_subbuf's GET_READER check without the header (pos >= read)",
       edit("read_buf", _exact_check),
       configs=[_cfg("upstream", **LTF)])


def _reload_same(st):
    m = st.m
    i = st.proc
    b = m.PROC + P.NPF * i
    lb = m.LTF + P.NLF * i
    page = m._meta_reader_page(st.s)
    if page == st.before("proc.page", i):
        m._ltf_load(st.t, b, lb, page, 0)


mutant("libtracefs_reload_same_subbuf", "libtracefs client",
       "after its no-more-events GET_READER the library reloads the same "
       "sub-buffer from offset 0",
       edit("reload", _reload_same),
       configs=[_cfg("upstream", **LTF)])

# ---- deadlock (the checker's built-in) ------------------------------------------------
mutant("every_end_accepted", "deadlock",
       "terminal_ok accepts every state without successors as a proper end",
       hook("terminal_ok", lambda orig: (lambda self, s: True)),
       configs=[])

# ---- equivalent mutants (each computed, see equivalence()) ----------------------------


def _unclamped_map(st):
    if st.before("MAPPED") < 0:
        st.set("MAPPED", st.before("MAPPED") + 1)


mutant("map_count_unclamped", "map/IDs",
       "ring_buffer_map adds one to mapped without clamping a negative count at 0",
       edit("map", _unclamped_map),
       configs=[_cfg("upstream", **SMALL), _cfg("upstream", **FORK),
                _cfg("v2", **NC)],
       equivalent="mapped is never negative in a reachable state (an unmap of an "
                  "unmapped buffer is refused), so the clamp never acts")


def _idle_exit_forgets(st):
    if st.before("proc.phase", st.proc) == P.P_IDLE:
        for f in ("page", "pos", "limit", "base"):
            st.set(f"proc.{f}", 0, k=st.proc)


mutant("idle_exit_clears_fields", "process exit",
       "an idle process's exit also clears its reading position",
       edit("exit", _idle_exit_forgets),
       configs=[_cfg("upstream", **SMALL), _cfg("v2", **SMALL)],
       equivalent="an idle process has no reading position: unmap already "
                  "cleared it")

# ---- properties ------------------------------------------------------------------------


def _p(name):
    from rbmap.model import properties as props
    return next(sp.fn for sp in props.SPECS if sp.name == name)


# (written in attribute form, like the properties they replace, so that every
# engine compiles them: no lambdas)
def _reads_flag(name):
    """A property that holds while flag ``name`` (a sticky bit) is clear."""
    bit = getattr(P, name)

    def reads_flag(m, s):
        return not s.flags & bit
    return reads_flag


def _dups_reads_lostu(m, s):
    return s.lost_uncounted == 0


def _loss_at_end_only(m, s):
    return s.seq < m.E or s.lost_uncounted == 0


def _ids_in_range_only(m, s):
    if s.mapped <= 0:
        return True
    for p in range(m.N + 1):
        if s.page_id[p] < 0 or s.page_id[p] > m.N:
            return False
    return True


mutant("prop_duplicates_reads_loss_mask", "property always",
       "no_duplicate_delivery reads the lost-uncounted mask",
       prop("no_duplicate_delivery", _dups_reads_lostu))
mutant("prop_loss_judged_at_end_only", "property always",
       "no_unaccounted_loss is judged only once every event was written",
       prop("no_unaccounted_loss", _loss_at_end_only))
mutant("prop_torn_reads_nc_flag", "property always",
       "no_torn_read reads the non-consuming reader's flag",
       prop("no_torn_read", _reads_flag("F_NC_TORN")))
mutant("prop_meta_reader_id_reads_enodev", "property always",
       "meta_reader_id_after_ioctl reads the -ENODEV flag",
       prop("meta_reader_id_after_ioctl", _reads_flag("F_ENODEV")))
mutant("prop_ids_subset_only", "property always",
       "page_ids_bijection checks only that the IDs are in range",
       prop("page_ids_bijection", _ids_in_range_only))


def _dp_from_next(m, s):
    if s.mapped <= 0:
        return True
    N = m.N
    p = s.head
    dph = s.meta_data_page_head + 1
    for i in range(N):
        if s.data_pages[(dph + i) % N] != s.page_id[p]:
            return False
        p = s.page_next[p]
    return True


def _always_holds(m, s):
    return True


def _never_reached(m, s):
    return False


mutant("prop_data_pages_from_next_slot", "property always",
       "data_pages_in_ring_order starts one slot after data_page_head",
       prop("data_pages_in_ring_order", _dp_from_next))
mutant("prop_update_order_unchecked", "property always",
       "data_pages_order_after_update always holds",
       prop("data_pages_order_after_update", _always_holds))
mutant("prop_lists_ring_reads_update_flag", "property always",
       "data_pages_lists_ring reads the update-order flag",
       prop("data_pages_lists_ring", _reads_flag("F_UPDATE_ORDER")))
mutant("prop_monotonic_reads_resize_flag", "property always",
       "meta_counters_monotonic reads the resize flag",
       prop("meta_counters_monotonic", _reads_flag("F_RESIZED")))


def _mapped_no_children(m, s):
    mapped = s.mapped
    if mapped < 0:
        return False
    vmas = 0
    if m.nc:
        if s.nc_phase != P.NC_IDLE:
            vmas = 1
    for i in range(m.P):
        if P.P_MAPPED <= s.proc_phase[i] <= P.P_IOCTLED:
            vmas += 1
    return mapped == vmas


mutant("prop_mapped_count_ignores_fork", "property always",
       "mapped_count_sane does not count the forked children's copies",
       prop("mapped_count_sane", _mapped_no_children))
mutant("prop_resize_reads_swap_flag", "property always",
       "resize_refused_while_mapped reads the swap_cpu flag",
       prop("resize_refused_while_mapped", _reads_flag("F_SWAPPED")))
mutant("prop_swap_cpu_reads_resize_flag", "property always",
       "swap_cpu_refused_while_mapped reads the resize flag",
       prop("swap_cpu_refused_while_mapped", _reads_flag("F_RESIZED")))
mutant("prop_pages_stay_unchecked", "property always",
       "mapped_pages_stay always holds",
       prop("mapped_pages_stay", _always_holds))
mutant("prop_fault_reads_torn_flag", "property always",
       "map_fault_in_bounds reads the torn-read flag",
       prop("map_fault_in_bounds", _reads_flag("F_TORN")))
mutant("prop_nc_reads_drop_goal", "property always",
       "non_consuming_read_detects_overwrite reads the page-dropped goal flag",
       prop("non_consuming_read_detects_overwrite", _reads_flag("G_NC_DISCARD")))
mutant("prop_warning_reads_reader_on_commit_only", "property always",
       "no_kernel_warning reads only the Reader-on-commit warning",
       prop("no_kernel_warning", _reads_flag("K_READER_ON_COMMIT")))
mutant("prop_commit_overrun_reads_warning", "property always",
       "no_silent_commit_overrun reads the Reader-on-commit warning",
       prop("no_silent_commit_overrun", _reads_flag("K_READER_ON_COMMIT")))
mutant("prop_meta_lost_unchecked", "property always",
       "meta_reader_lost_events always holds",
       prop("meta_reader_lost_events", _always_holds))
mutant("prop_meta_entries_reads_overrun_flag", "property always",
       "meta_entries reads the overrun field's flag",
       prop("meta_entries", _reads_flag("F_META_OVERRUN")))
mutant("prop_meta_overrun_reads_read_flag", "property always",
       "meta_overrun reads the read field's flag",
       prop("meta_overrun", _reads_flag("F_META_READ")))
mutant("prop_meta_read_reads_entries_flag", "property always",
       "meta_read reads the entries field's flag",
       prop("meta_read", _reads_flag("F_META_ENTRIES")))
mutant("prop_meta_reader_id_reads_read_flag", "property always",
       "meta_reader_id reads reader.read's flag",
       prop("meta_reader_id", _reads_flag("F_META_RREAD")))
mutant("prop_meta_reader_read_reads_id_flag", "property always",
       "meta_reader_read reads reader.id's flag",
       prop("meta_reader_read", _reads_flag("F_META_RID")))
mutant("prop_reported_once_reads_flagged_goal", "property always",
       "lost_events_reported_once is violated by any flagged page",
       prop("lost_events_reported_once", _reads_flag("G_LOSS_FLAGGED")))
mutant("prop_refused_change_unchecked", "property always",
       "refused_call_changes_nothing always holds",
       prop("refused_call_changes_nothing", _always_holds))
mutant("prop_refusal_lifted_unchecked", "property always",
       "refusal_lifted_after_unmap always holds",
       prop("refusal_lifted_after_unmap", _always_holds))
mutant("prop_snapshot_exclusion_unchecked", "property always",
       "snapshot_excludes_mapping always holds",
       prop("snapshot_excludes_mapping", _always_holds))


def _any_text_read(m, s):
    return s.text_reads_left < m.config.text_reads


def _delivered_reads_dups(m, s):
    return s.delivered_twice != 0


def _swap_reads_overrun_goal(m, s):
    return (s.flags & P.G_OVERRUN_MAPPED) != 0


def _any_overrun(m, s):
    return s.overrun > 0


mutant("goal_loss_flagged_never", "property sometimes",
       "loss_flagged_in_page is never reached",
       prop("loss_flagged_in_page", _never_reached))
mutant("goal_text_left_loss_any_read", "property sometimes",
       "text_read_leaves_loss_pending is reached by any trace_pipe read",
       prop("text_read_leaves_loss_pending", _any_text_read))
mutant("goal_delivered_reads_duplicates", "property sometimes",
       "event_delivered reads the delivered-twice mask",
       prop("event_delivered", _delivered_reads_dups))
mutant("goal_swap_reads_overrun_flag", "property sometimes",
       "reader_swap_by_ioctl reads the overrun goal flag",
       prop("reader_swap_by_ioctl", _swap_reads_overrun_goal))
mutant("goal_overrun_ignores_mapped", "property sometimes",
       "overrun_while_mapped is reached by any overrun, mapped or not",
       prop("overrun_while_mapped", _any_overrun))


def _second_map_any(m, s):
    for i in range(m.P):
        if P.P_MAPPED <= s.proc_phase[i] <= P.P_IOCTLED:
            return True
    return False


def _any_write(m, s):
    return s.depth >= 1


def _writer_on_reader_any(m, s):
    return s.tail_page == s.reader_page


def _live_delivered_only(m, s):
    return s.seq == m.E and s.delivered == m.ALL


def _live_but_last(m, s):
    return s.seq == m.E and (s.delivered | s.lost_counted | (1 << (m.E - 1))) == m.ALL


def _live_no_writer_done(m, s):
    return (s.delivered | s.lost_counted) == m.ALL


mutant("goal_second_map_ignores_exit", "property sometimes",
       "second_process_maps_after_first is reached by any mapping",
       prop("second_process_maps_after_first", _second_map_any))
mutant("goal_nested_any_write", "property sometimes",
       "nested_write is reached by any write in flight",
       prop("nested_write", _any_write))
mutant("goal_writer_on_reader_ignores_mapped", "property sometimes",
       "writer_on_reader_page is reached mapped or not",
       prop("writer_on_reader_page", _writer_on_reader_any))
mutant("goal_nc_drop_never", "property sometimes",
       "non_consuming_reader_drops_page is never reached",
       prop("non_consuming_reader_drops_page", _never_reached))
mutant("liveness_requires_delivery", "property eventually",
       "every_event_delivered_or_counted ignores the events counted lost",
       prop("every_event_delivered_or_counted", _live_delivered_only))
mutant("liveness_ignores_last_event", "property eventually",
       "every_event_delivered_or_counted ignores the last event",
       prop("every_event_delivered_or_counted", _live_but_last))
mutant("liveness_without_writer_done", "property eventually",
       "every_event_delivered_or_counted without its 'writer done' conjunct",
       prop("every_event_delivered_or_counted", _live_no_writer_done),
       configs=[_cfg("upstream", **SMALL), _cfg("v2", **SMALL),
                _cfg("upstream", **dict(SMALL, crash=True))],
       equivalent="in a terminal component the writer has written everything "
                  "(a write is always possible before), where the conjunct holds")


def edited_steps(mutants=None) -> set:
    """The step names the catalogue's mutants edit, merge away or add."""
    out = set()
    for mt in MUTANTS if mutants is None else mutants:
        for c in mt.changes:
            if isinstance(c, Edit):
                out |= set(c.steps) | set(c.also)
            elif isinstance(c, Extra):
                out |= set(c.steps)
    return out


# ---------------------------------------------------------------------------
# equivalence, computed
# ---------------------------------------------------------------------------

#: a mutant's exploration stops at this many times the model's states (a
#: mutant can make the state space unbounded: an incomplete run differs)
GROWTH = 8


def _explore(variant, rules, config, max_states=None):
    from rbmap.checker import check_bfs
    from rbmap.model import build
    m = build(variant, rules=rules or None, **config)
    return m, check_bfs(m, max_states=max_states)


def equivalence(mt: ModelMutant) -> dict:
    """Compute whether ``mt`` changes anything at its configurations: for a step
    mutant the graph digests (and state/transition counts) with and without it;
    for a property mutant the property's value on every judged state. Returns
    ``{"equivalent": bool, "configs": [...]}`` with the figures per config."""
    from rbmap.checker.steps import StepError
    from rbmap.manifest import graph_digest
    rows = []
    same = True
    for variant, rules, config in mt.configs:
        label = f"{variant} " + " ".join(f"{k}={v}" for k, v in sorted(
            {**config, **rules}.items()))
        if mt.kind == "step":
            m0, r0 = _explore(variant, rules, config)
            d0 = (r0.states, r0.transitions, graph_digest(r0.exploration))
            with applied(mt):
                try:
                    m1, r1 = _explore(variant, rules, config,
                                      max_states=GROWTH * r0.states + 1000)
                    d1 = (r1.states, r1.transitions,
                          graph_digest(r1.exploration) if r1.complete else "incomplete")
                except StepError as exc:
                    # the mutant writes a value outside its slot's range
                    d1 = (None, None, f"StepError: {exc}")
            eq = d0 == d1
            rows.append({"config": label, "states": [d0[0], d1[0]],
                         "transitions": [d0[1], d1[1]], "graph": [d0[2], d1[2]],
                         "same": eq})
        else:
            name = next(c.name for c in mt.changes if isinstance(c, Prop))
            m0, r0 = _explore(variant, rules, config)
            explo = r0.exploration
            kind = next(p.kind for p in m0.properties() if p.name == name)
            orig = _p(name)
            new = next(c.fn for c in mt.changes if isinstance(c, Prop))
            if kind == "eventually":
                from rbmap.checker.bfs import _components
                comps, _ = _components(explo, explo.graph, len(explo))
                judged = (explo.state(u) for c in comps for u in c)
            else:
                judged = iter(explo)
            n = differ = 0
            for s in judged:
                n += 1
                v = m0.reader(s)
                if bool(orig(m0, v)) != bool(new(m0, v)):
                    differ += 1
            eq = differ == 0
            rows.append({"config": label, "judged_states": n, "differ": differ,
                         "same": eq})
        same = same and eq
    return {"equivalent": same and bool(rows), "configs": rows}


# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------

def _repo_root() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    return root if (root / "tests").is_dir() else None


def check_manifest(all_entries: bool = False) -> str | None:
    """The manifest's fast entries, smallest first; the first that differs."""
    from rbmap.manifest import compare, load_entries, run_entry
    entries = [e for e in load_entries() if not e.get("slow")]
    entries.sort(key=lambda e: e.get("states") or 0)
    found = []
    for e in entries:
        bound = GROWTH * e["states"] + 1000 if e.get("states") else None
        diffs = compare(e, run_entry(e, bound))
        if diffs:
            found.append(f"{e['name']}: " + "; ".join(diffs[:3]))
            if not all_entries:
                break
    return " | ".join(found) or None


def check_tests(paths=MODEL_TESTS) -> str | None:
    """The default suite's model tests (``paths``), in this process, where the
    mutant is applied: the first test that fails, or None."""
    root = _repo_root()
    if root is None:
        return None
    import pytest

    from rbmap.mutants import in_process

    class Collect:
        def __init__(self):
            self.failed = []

        def pytest_runtest_logreport(self, report):
            if report.failed:
                self.failed.append(report.nodeid)

    col = Collect()
    buf = open(os.devnull, "w")
    cwd = os.getcwd()
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = pytest.main(["-q", "-x", "-p", "no:cacheprovider", *in_process(),
                              "-m", "not slow and not kernel and not kernelsrc",
                              *paths], plugins=[col])
    finally:
        os.chdir(cwd)
        buf.close()
    if rc == 0:
        return None
    return (col.failed[0] if col.failed else f"pytest exit {int(rc)}")


def check_conform() -> str | None:
    """``rbmap conform`` at its default config, upstream then v2."""
    from rbmap.conform import run_conform
    for variant in ("upstream", "v2"):
        out = run_conform(variant, trace_file=None)
        if out["mismatches"]:
            mm = out["mismatches"][0]
            act = mm.get("action")
            where = f" at step {mm['step']} {act[0]} {act[1]}" if isinstance(
                act, list) else ""
            return f"{variant}: {mm['kind']} mismatch{where}"
    return None


_CHECK_FNS = {"manifest": check_manifest, "tests": check_tests,
              "conform": check_conform}


def _applies(mt: ModelMutant) -> str | None:
    """Why ``mt`` cannot apply to the model as it is (None: it can)."""
    from rbmap.model import properties as props
    cls = _model_class()
    names = {sp.name for sp in props.SPECS}
    for c in mt.changes:
        if isinstance(c, Hook) and not (
                callable(getattr(cls, c.name, None)) if c.name in _METHOD_HOOKS
                else step_helper(c.name) is not None):
            return f"no model helper {c.name}"
        if isinstance(c, Prop) and c.name not in names:
            return f"no property {c.name}"
    return None


def run_one(mt: ModelMutant, checks=CHECKS, all_checks: bool = False) -> dict:
    """Judge one mutant (in this process): equivalence where claimed, then the
    checks in order (all of them with ``all_checks``)."""
    t0 = time.perf_counter()
    row = {"name": mt.name, "family": mt.family, "kind": mt.kind, "doc": mt.doc,
           "targets": mt.targets(), "status": "survived", "killed_by": [],
           "detail": ""}
    stale = _applies(mt)
    if stale:
        row.update(status="stale", detail=stale)
        return row
    if mt.equivalent:
        eq = equivalence(mt)
        row["equivalence"] = eq
        if eq["equivalent"]:
            row.update(status="equivalent", detail=mt.equivalent)
            row["seconds"] = round(time.perf_counter() - t0, 2)
            return row
    with applied(mt):
        for name in checks:
            try:
                msg = _CHECK_FNS[name]() if name != "manifest" else \
                    check_manifest(all_checks)
            except Exception as exc:  # the mutant broke the model outright
                msg = f"{type(exc).__name__}: {exc}"
            if msg:
                row["killed_by"].append(name)
                row.setdefault("details", {})[name] = msg[:300]
                if not row["detail"]:
                    row["detail"] = msg[:300]
                if not all_checks:
                    break
    if row["killed_by"]:
        row["status"] = "killed"
    elif mt.equivalent:
        row["detail"] = ("claimed equivalent, but the graphs differ: "
                         "not caught")
    else:
        row["detail"] = "not caught: a hole in the checks"
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


def baseline(checks=CHECKS) -> dict:
    """The checks on the model as it is (each must pass for its kills to count)."""
    out = {}
    for name in checks:
        t = time.perf_counter()
        out[name] = {"failure": _CHECK_FNS[name](),
                     "seconds": round(time.perf_counter() - t, 2)}
    return out


def _worker_cmd(names, checks, all_checks):
    cmd = [sys.executable, "-m", "rbmap.model_mutants", "--worker",
           "--checks", ",".join(checks)]
    if all_checks:
        cmd.append("--all-checks")
    return cmd + list(names)


def run_model_mutants(names=None, checks=CHECKS, all_checks: bool = False,
                      jobs: int = 1, progress=None, skip_baseline: bool = False
                      ) -> dict:
    """Run the catalogue, each mutant in a process of its own (``jobs`` at a
    time); a JSON-able summary with one row per mutant."""
    t0 = time.perf_counter()
    chosen = [m for m in MUTANTS if names is None or m.name in names]
    base = {} if skip_baseline else baseline(checks)
    broken = [k for k, v in base.items() if v["failure"]]
    run_checks = tuple(c for c in checks if c not in broken)
    rows: dict = {}
    pending = list(chosen)
    running: list = []
    env = dict(os.environ, PYTHONHASHSEED="0")
    while pending or running:
        while pending and len(running) < max(1, jobs):
            mt = pending.pop(0)
            p = subprocess.Popen(_worker_cmd([mt.name], run_checks, all_checks),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
            running.append((mt, p))
        mt, p = running.pop(0)
        out, err = p.communicate()
        try:
            row = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            row = {"name": mt.name, "family": mt.family, "kind": mt.kind,
                   "doc": mt.doc, "targets": mt.targets(), "status": "error",
                   "killed_by": [], "detail": (err.strip().splitlines() or
                                               ["no output"])[-1][:300]}
        rows[mt.name] = row
        if progress:
            progress(row)
    ordered = [rows[m.name] for m in chosen]
    killed = sum(r["status"] == "killed" for r in ordered)
    equiv = sum(r["status"] == "equivalent" for r in ordered)
    considered = [r for r in ordered if r["status"] in ("killed", "survived",
                                                       "error")]
    by = {}
    for r in ordered:
        for c in r.get("killed_by", [])[:1]:
            by[c] = by.get(c, 0) + 1
    return {
        "mutants": len(ordered),
        "killed": killed,
        "equivalent": equiv,
        "survived": [r["name"] for r in ordered if r["status"] in ("survived",
                                                                  "error")],
        "stale": [r["name"] for r in ordered if r["status"] == "stale"],
        "kill_rate": round(killed / len(considered), 4) if considered else None,
        "first_killer": by,
        "baseline": base,
        "seconds": round(time.perf_counter() - t0, 2),
        "rows": ordered,
    }


def _worker(argv) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m rbmap.model_mutants")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--checks", default=",".join(CHECKS))
    ap.add_argument("--all-checks", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args(argv)
    checks = tuple(c for c in a.checks.split(",") if c)
    byname = {m.name: m for m in MUTANTS}
    for n in a.names:
        row = run_one(byname[n], checks, a.all_checks)
        sys.stdout.write(json.dumps(row) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - the worker process
    sys.exit(_worker(sys.argv[1:]))
