"""Conformance between the model and impl: replay, interleavings, reports.

Two directions, both through :mod:`rbmap.refinement` (the only module that knows
both sides):

model -> impl (:func:`replay_path`, :func:`replay_tree`)
    A model path (a counterexample, a saved trace, or every path of the BFS tree up
    to a depth) runs on impl one model step at a time: each step runs the actor's
    impl code (a write up to its next model step boundary, a system call to its end,
    the loads a user process makes) and then the abstracted impl state must equal
    the model's state and the observations must agree (return codes, the sequence
    number a process decoded from its mapping).  The first mismatch is reported with
    the step, both views side by side and the command that replays it.

impl -> model (:func:`explore_interleavings`, :func:`explore_library`)
    impl's tasks (a writer, an interrupt writer nested on it, a user process that
    maps, reads, calls the get-reader ioctl and unmaps) run under
    :mod:`rbmap.impl.sched`'s DFS at impl's yield points (optionally with a
    preemption bound).  Each task's progress is cut into model steps at the boundaries
    :func:`rbmap.refinement.writer_phase` recognises.  Whenever every task is at a
    boundary (a quiescent point) the model steps completed since the previous one
    must be ordered, respecting real time (a step that ended before another began
    comes first), into a model path from the previous abstract state to the current
    one (linearizability; a single completed step is exactly "moved by the model
    action that step completes", no completed step a stutter).  The model's
    ``always`` properties are evaluated on every abstract state reached.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from rbmap.checker import Path, check_bfs
from rbmap.checker import interrupt
from rbmap.impl import sched
from rbmap.model import build
from rbmap.model import protocol as P
from rbmap.refinement import (REPEATS, Blocked, ImplSystem, LibrarySlot, Unsupported,
                              abstract, committed_unread, data_seqs, lib_seq, stack,
                              state_diff,
                              units, writer_phase)
from rbmap.refinement import impl_abi as impl_abi_of

__all__ = ["Mismatch", "ReplayResult", "replay_path", "replay_tree",
           "explore_interleavings", "run_conform", "format_mismatch",
           "DEFAULT_CONFIG", "RING_CONFIG", "run_ring", "ring_coverage",
           "model_for", "duplicate_demo", "replay_schedule",
           "save_schedule", "check_step", "explore_library", "library_tasks",
           "library_final_check", "LibraryWatch", "LibraryViolation"]

#: the default small configuration (the model's sizes)
DEFAULT_CONFIG = dict(pages=2, page_events=2, events=4, processes=1, nesting=2,
                      granularity="fine")
EBUSY, ENODEV = -16, -19


#: the ring config: three events on two one-event ring pages, so the writer
#: overruns the head page while the buffer is mapped and the third GET_READER
#: brings the first reader page back (the default config does neither)
RING_CONFIG = dict(pages=2, page_events=1, events=3, processes=1, nesting=1,
                   granularity="fine")
#: the process's GET_READER calls in the ring interleavings
RING_ROUNDS = 3


def model_for(variant: str, config: dict | None = None, rules: dict | None = None):
    """The model of ``variant`` at ``config`` (default :data:`DEFAULT_CONFIG`);
    conformance is checked at granularity "fine" unless ``config`` says
    otherwise."""
    return build(variant, rules=rules, **{"granularity": "fine",
                                          **(config or DEFAULT_CONFIG)})


@dataclass
class Mismatch:
    kind: str                  # state, return code, delivered, blocked, exception,
                               # linearization
    step: int                  # 1-based model step (replay) or impl step (schedule)
    action: object
    message: str
    diff: list = field(default_factory=list)
    model_view: dict | None = None
    impl_view: dict | None = None
    actions: list | None = None        # the model path up to the mismatch
    schedule: object = None            # impl schedule (interleavings)
    replay_command: str = ""

    def to_json(self) -> dict:
        return {"kind": self.kind, "step": self.step,
                "action": list(self.action) if isinstance(self.action, tuple)
                else self.action,
                "message": self.message,
                "diff": [[n, _j(a), _j(b)] for n, a, b in self.diff],
                "model": self.model_view, "impl": self.impl_view,
                "actions": [list(a) for a in self.actions] if self.actions else None,
                "replay": self.replay_command}


def _j(x):
    return x if isinstance(x, (int, str, list, type(None))) else str(x)


@dataclass
class ReplayResult:
    steps: int = 0
    mismatch: Mismatch | None = None
    cut: bool = False      # stopped before a crossed_retry (see replay_path)


def _expected_rc(m, before, after, action) -> int | None:
    actor, name = action
    if name == "ioctl":
        return 0 if before[P.MAPPED] > 0 else ENODEV
    if name in ("unmap", "exit"):
        newly = after[P.FLAGS] & ~before[P.FLAGS] & P.F_ENODEV
        return ENODEV if newly else 0
    if name == "resize":
        return 0 if after[P.FLAGS] & ~before[P.FLAGS] & P.F_RESIZED else EBUSY
    if name == "swap_cpu":
        return 0 if after[P.FLAGS] & ~before[P.FLAGS] & P.F_SWAPPED else EBUSY
    if name in ("map", "update_meta"):
        return 0
    return None


def _expected_delivery(m, before, after, action):
    """The sequence number the model's read_event delivers (None: a torn read)."""
    i = m.proc_names.index(action[0])
    b = m.PROC + P.NPF * i
    if after[P.FLAGS] & ~before[P.FLAGS] & P.F_TORN:
        return None
    if before[b + P.POS] >= m.K:
        return None             # the unit after the last event is padding
    return before[b + P.PB] + before[b + P.POS]


def replay_path(m, actions, command: str = "", probe: bool = True) -> ReplayResult:
    """Run the model path ``actions`` on impl, comparing after every step.

    With ``probe``, after every step that leaves the buffer mapped, impl is also
    asked to resize and to swap the CPU buffer (the model has no such step: both are
    refused while mapped); each must return -EBUSY and change nothing."""
    from rbmap.checker import replay as model_replay
    path = Path(0, list(actions))
    states = model_replay(m, path)
    res = ReplayResult()
    sysm = ImplSystem(m)
    d = state_diff(m, states[0], abstract(sysm))
    if d:
        res.mismatch = _mk(m, "state", 0, None, "the initial states differ", d,
                           states[0], sysm, [], command)
        return res
    for k, a in enumerate(actions, 1):
        if a[1] in ("crossed_retry", "head_retry"):
            # impl takes it only when the write's reservation crossed the page's
            # end before the interrupt's did (head_retry: the write saw the head
            # page flagged before a reader swapped it out): a replay that runs each
            # model step to its end cannot stop a write there (the interleaving
            # explorer reaches it); the path is compared up to here
            res.cut = True
            return res
        if a[1] == "write_begin":
            _prefetch_for_stale_retry(m, sysm, actions, k)
        mm = check_step(m, sysm, states[k - 1], states[k], a, k, actions[:k], command,
                        probe)
        if mm is not None:
            res.mismatch = mm
            return res
        res.steps += 1
    return res


def _prefetch_for_stale_retry(m, sysm, actions, k):
    """Before an interrupt write begins: a write below it that the path later makes
    ``stale_retry`` must load tail_page now (impl retries only with a stale one)."""
    for lvl in range(m.actor_names.index(actions[k - 1][0])):
        actor = m.actor_names[lvl]
        for b in actions[k:]:
            if b[0] == actor:
                if b[1] == "stale_retry":
                    sysm.prefetch_tail(lvl)
                break


def check_step(m, sysm, before, after, a, k=1, actions=(), command="", probe=True):
    """Take model step ``a`` (``before`` -> ``after``) on impl; the Mismatch or None."""
    try:
        rc = sysm.do(a)
    except Blocked as exc:
        return _mk(m, "blocked", k, a, f"impl cannot take this step: {exc}", [], after,
                   sysm, actions, command)
    except Exception as exc:  # an impl crash is a finding, not a harness bug
        return _mk(m, "exception", k, a, f"impl raised {type(exc).__name__}: {exc}",
                   [], after, sysm, actions, command)
    exp = _expected_rc(m, before, after, a)
    if exp is not None and rc is not None and rc != exp:
        return _mk(m, "return code", k, a, f"impl returned {rc}, the model {exp}", [],
                   after, sysm, actions, command)
    if a[1] == "read_event":
        p = sysm.procs[m.proc_names.index(a[0])]
        want = _expected_delivery(m, before, after, a)
        got = p.delivered[-1] if p.delivered else None
        if want is not None and got != want:
            return _mk(m, "delivered", k, a, f"the process decoded event {got} from "
                       f"its mapping, the model delivers {want}", [], after, sysm,
                       actions, command)
    if probe and after[P.MAPPED] > 0:
        # kernel operations the model has no step for while mapped (they are
        # refused): on impl they must return -EBUSY and be a stutter
        for name, rule in (("resize", "resize_mapped"), ("swap_cpu", "swap_cpu_mapped")):
            if m.rules.get(rule) != "ebusy" or ("kernel", name) in [
                    b for b, _ in m.successors(after)]:
                continue
            rc = sysm.kernel_op(name)
            if rc != EBUSY:
                return _mk(m, "return code", k, ("kernel", name),
                           f"{name} while mapped returned {rc} on impl; the model "
                           "refuses it (-EBUSY)", [], after, sysm, actions, command)
    if probe and after[P.MAPPED] <= 0 < before[P.MAPPED] and not after[P.UNMAPW]:
        # the last unmap is done: GET_READER now must say -ENODEV and change
        # nothing (no lock left held, no page swapped)
        try:
            rc = sysm.get_reader_unmapped()
        except Blocked as exc:
            return _mk(m, "blocked", k, a, f"GET_READER after the last unmap: {exc}",
                       [], after, sysm, actions, command)
        held = [lk.name for lk in (sysm.cb.reader_lock, sysm.cb.mapping_lock)
                if lk.held]
        if rc != ENODEV or held:
            return _mk(m, "return code", k, ("kernel", "get_reader_unmapped"),
                       f"GET_READER after the last unmap returned {rc} on impl"
                       + (f" holding {', '.join(held)}" if held else "")
                       + "; the model's is -ENODEV", [], after, sysm, actions,
                       command)
    d = state_diff(m, after, abstract(sysm))
    if d:
        return _mk(m, "state", k, a, "the abstracted impl state differs", d, after,
                   sysm, actions, command)
    return None


def _mk(m, kind, step, action, msg, diff, model_state, sysm, actions, command):
    try:
        iv = m.view(abstract(sysm))
    except Exception as exc:  # pragma: no cover - a broken impl state
        iv = {"error": str(exc)}
    return Mismatch(kind, step, action, msg, diff, m.view(model_state), iv,
                    list(actions), None, command)


def _leaves(explo):
    """Ids of the BFS tree's leaves (every tree path is a prefix of a leaf's)."""
    n = len(explo)
    first = explo.first
    out = []
    for i in range(n):
        if i >= len(first):
            out.append(i)
            continue
        nxt = first[i + 1] if i + 1 < len(first) else n
        if first[i] == nxt:
            out.append(i)
    return out


def ring_coverage(states, counts: dict) -> None:
    """Count what a path (its states) covers of the ring: the writer overran the
    head page while mapped (``overrun``), and a page came back as the reader page
    after it had left it (``reader_back``)."""
    readers = []
    overran = False
    for st in states:
        if not readers or st[P.READER] != readers[-1]:
            readers.append(st[P.READER])
        overran = overran or bool(st[P.FLAGS] & P.G_OVERRUN_MAPPED)
    counts["overrun"] = counts.get("overrun", 0) + overran
    counts["reader_back"] = counts.get("reader_back", 0) + (
        len(readers) != len(set(readers)))


def replay_tree(m, depth: int | None, command: str = "", time_limit=None,
                skip=frozenset(), failing: set | None = None, progress=None,
                counts: dict | None = None, coverage: dict | None = None):
    """Replay every path of the model's BFS tree up to ``depth`` on impl.

    Returns (paths replayed, steps compared, first Mismatch or None).  Leaves (BFS
    ids) in ``skip`` are not replayed; with a ``failing`` set the run goes on after
    a mismatch and collects the ids of every leaf whose path mismatches.
    ``progress(text)`` is told how far it got about every 2 s; ``counts`` (a dict)
    holds ``paths`` and ``steps`` so far, for a caller that is interrupted
    (:class:`rbmap.checker.interrupt.Interrupted`, raised between two paths);
    with a ``coverage`` dict, :func:`ring_coverage` counts the paths."""
    r = check_bfs(m, max_depth=depth)
    explo = r.exploration
    counts = {} if counts is None else counts
    counts.update(paths=0, steps=0)
    first = None
    t0 = last = time.perf_counter()
    leaves = _leaves(explo)
    for i in leaves:
        interrupt.check()
        if i in skip:
            continue
        path = explo.path_to_id(i)
        if coverage is not None:
            ring_coverage(path.states, coverage)
        res = replay_path(m, path.actions, command)
        counts["paths"] += 1
        counts["steps"] += res.steps
        if res.mismatch is not None:
            first = first or res.mismatch
            if failing is None:
                break
            failing.add(i)
        now = time.perf_counter()
        if progress is not None and now - last >= 2.0:
            last = now
            progress(f"replayed {counts['paths']} of {len(leaves)} model paths")
        if time_limit is not None and now - t0 > time_limit:
            break
    return counts["paths"], counts["steps"], first


# ---------------------------------------------------------------------------
# interleavings
# ---------------------------------------------------------------------------

@dataclass
class _Op:
    task: str
    action: tuple
    start: int
    end: int = -1
    alts: list | None = None     # model actions the step may be (default: action)


class _Tracker:
    """Cuts each task's impl steps into model steps and checks at quiescent points."""

    def __init__(self, m, sysm, tasks):
        self.m = m
        self.sysm = sysm
        self.state = m.init_states()[0]
        self.phase = {t: 0 for t in tasks}
        self.cur: dict[str, _Op | None] = {t: None for t in tasks}
        self.pending: list[_Op] = []
        self.step = 0
        self.checks = 0
        self.violations: set[str] = set()
        self.props = [p for p in m.properties() if p.kind == "always"]
        self.begun: dict[str, bool] = {}
        self.seen = [self.state]      # the abstract states it linearized to

    def level(self, ex, task: str) -> int:
        """Nesting level of a write: an interrupt is nested when the write it
        interrupted has started its commit (rb_start_commit's committing++)."""
        if task == "irq1" and self.begun.get("writer"):
            w = ex.by_name.get("writer")
            if w is not None and w.state != "done" and self._wphase(w) != 0:
                return 1
        return 0

    def _wphase(self, run):
        if run.state == "done":
            return 0
        label = run.op[0] if run.op else None
        if label == "start":
            return 0
        return writer_phase(run.gen, label, self.sysm.v2, self.sysm.fine_commit)

    def _user_boundary(self, run) -> str | None:
        """'' when a user task is between two model steps (or not started/finished),
        None when it is inside one."""
        if run.state == "done" or run.op is None:
            return ""
        label = run.op[0]
        if label == "start":
            return ""
        inner = stack(run.gen)[-1]
        if inner.gi_code.co_name == "user_gen" and label.startswith(run.task.name + " "):
            return ""
        return None

    def observe(self, ex, st):
        self.step += 1
        run = ex.by_name[st.task]
        task = st.task
        sysm = self.sysm
        is_writer = task in ("writer", "irq1")
        if is_writer:
            if st.label == "write begins":
                self.begun[task] = False
            elif st.label == "committing add_return":
                self.begun[task] = True
        lvl = self.level(ex, task) if is_writer else None
        if is_writer and self.cur[task] is None:
            op = _Op(task, ("?", "?"), self.step)
            op.level = lvl
            self.cur[task] = op
        sysm.observe(run.gen if run.state != "done" else None, st.label, lvl)
        if is_writer:
            self._writer_progress(run, task)
        elif task in sysm.libs:
            self._library_progress(run, task, st)
        else:
            self._user_progress(run, task, st)
        if all(self._at_boundary(r) for r in ex.runs):
            self._check(ex)

    def _at_boundary(self, r) -> bool:
        if r.task.name in ("writer", "irq1"):
            ph = self._wphase(r)
            # (rb_end_commit's re-check loop back to W_RECHECK completes the model's
            # commit_recheck step: a point to compare at like any other)
            return ph is not None
        if r.task.name in self.sysm.libs:
            return self._library_boundary(r)
        return self._user_boundary(r) is not None

    def _library_boundary(self, run) -> bool:
        """A process run by the reader library is between two model steps at each
        of its step marks (and, at granularity fine, inside GET_READER right before
        its rb_update_meta_page: the model's ioctl / ioctl_meta)."""
        if run.state == "done" or run.op is None:
            return True
        label = run.op[0]
        if label == "start" or label.startswith(run.task.name + " "):
            return True
        op = self.cur.get(run.task.name)
        return (label == "rb_update_meta_page" and self.m.ioctl_refresh
                and op is not None and op.lib == "get_reader")

    def _library_progress(self, run, task, st):
        slot = self.sysm.libs[task]
        op = self.cur[task]
        if op is None:
            if st.label.startswith(task + " "):
                step = st.label.split(" ", 1)[1]
            elif st.label == "rb_update_meta_page":
                step = "ioctl_meta"
            else:
                return          # open/close: no step of the model
            lib = slot.reader
            op = self.cur[task] = _Op(task, (task, step), self.step)
            op.lib = step
            op.before = (lib.pos, len(lib.log.seqs), self.sysm.cb.reader_page.value)
        if not self._library_boundary(run):
            return
        split = op.lib == "get_reader" and run.state != "done" and \
            run.op[0] == "rb_update_meta_page"
        action = self.sysm.library_step(slot, op.lib, op.before, split)
        self.cur[task] = None
        if action is not None:
            op.action = (task, action)
            op.end = self.step
            self.pending.append(op)

    def _writer_progress(self, run, task):
        ph = self._wphase(run)
        if ph is None:
            return
        prev = self.phase[task]
        op = self.cur[task]
        self.cur[task] = None
        if (prev == 0 and ph == 0) or (prev == ph and ph in REPEATS):
            return              # the harness's marker, or still before the reservation
        actor = self.m.actor_names[op.level]
        name = _writer_action(prev, ph, self.sysm.v2)
        op.action = (actor, name)
        names = [name, "stale_retry", "crossed_retry", "head_retry"] \
            if name == "move_tail" else [name]
        # An interrupt that starts while the write it interrupts is inside its
        # rb_end_commit (its commit already published) is nested for the kernel
        # (committing > 1) but may linearize after that write: both levels are
        # tried; the model's stack decides which is enabled.
        actors = [actor] + [a for a in self.m.actor_names[:2] if a != actor]
        op.alts = [(a, n) for a in actors for n in names]
        op.end = self.step
        self.pending.append(op)
        self.phase[task] = ph
        self.sysm.set_phase(op.level, ph)

    def _user_progress(self, run, task, st):
        op = self.cur[task]
        if op is None and st.label.startswith(task + " "):
            op = self.cur[task] = _Op(task, (task, st.label.split(" ", 1)[1]), self.step)
        if op is not None and self._user_boundary(run) is not None:
            op.end = self.step
            self.pending.append(op)
            self.cur[task] = None

    def _check(self, ex):
        if not self.pending:
            return
        alpha = abstract(self.sysm, self._writer_gens(ex))
        ops = sorted(self.pending, key=lambda o: o.end)
        found = _linearize(self.m, self.state, ops, alpha)
        self.checks += 1
        if found is None:
            d = state_diff(self.m, _apply_all(self.m, self.state, ops) or self.state,
                           alpha)
            self.last_error = _LinearizationError(self.m, self.state, ops, alpha, d)
            raise self.last_error
        self.state = found
        self.seen.append(found)
        self.pending = []
        for p in self.props:
            if not p.condition(found):
                self.violations.add(p.name)

    def _writer_gens(self, ex):
        out = []
        w = ex.by_name.get("writer")
        i = ex.by_name.get("irq1")
        for r in (w, i):
            if r is None:
                continue
            if r.state == "done" or self._wphase(r) == 0:
                continue
            out.append((r.gen, r.op[0]))
        return out + [None] * (self.m.D - len(out))


def _writer_action(prev: int, ph: int, v2: bool) -> str:
    if prev == 0:
        return "write_begin"
    if prev == P.W_MOVED:
        return "end_commit_move"
    if prev == P.W_COMMITTING:
        return "publish_page" if ph == P.W_PAGE_SET else "walk_done"
    if prev == P.W_PAGE_SET:
        return "commit_page_move"
    if prev == P.W_WALKED:
        return "publish_load" if ph == P.W_STORING else "published"
    if prev == P.W_STORING:
        return "publish"
    if prev == P.W_PUBLISHING:
        return "publish_again" if ph == P.W_COMMITTING else "publish_end"
    if prev == P.W_RECHECK:
        return "commit_release"
    if prev == P.W_RELEASED:
        return "commit_recheck"
    if prev == P.W_WINDOW:
        return "retry"
    if prev == P.W_BEGUN:
        return "reserve" if ph == P.W_RESERVED else "move_tail"
    if prev == P.W_RESERVED:
        return "commit_inc" if v2 else "commit"
    if prev == P.W_COUNTED:
        return "commit_load"
    if prev == P.W_INC:
        return "meta_store"
    if prev == P.W_STORED:
        return "end_commit"
    if prev == P.W_TMOVED:
        return "tail_meta_load"
    if prev == P.W_MTSTORE:
        return "meta_store_tail"
    return "?"


def _step_model(m, s, action):
    for a, t in m.successors(s):
        if a == action:
            return t
    return None


def _apply_all(m, s, ops):
    for o in ops:
        s = _step_model(m, s, o.action)
        if s is None:
            return None
    return s


def _linearize(m, s, ops, alpha):
    """A model state reached from ``s`` by the ops in an order respecting real time
    that equals ``alpha`` (on the compared slots), or None."""
    n = len(ops)

    def rec(state, done):
        if len(done) == n:
            return state if not state_diff(m, state, alpha) else None
        for i, o in enumerate(ops):
            if i in done:
                continue
            # every op that ended before o began must already be placed
            if any(j not in done and ops[j].end < o.start for j in range(n)):
                continue
            for a in o.alts or [o.action]:
                t = _step_model(m, state, a)
                if t is None:
                    continue
                r = rec(t, done | {i})
                if r is not None:
                    return r
        return None

    return rec(s, frozenset())


class _LinearizationError(AssertionError):
    def __init__(self, m, s, ops, alpha, diff):
        self.m, self.s, self.ops, self.alpha, self.diff = m, s, ops, alpha, diff
        acts = ", ".join(" ".join(o.action) for o in ops)
        super().__init__(f"no order of the completed model steps [{acts}] leads from "
                         "the previous abstract state to the current one")


@dataclass
class ExploreOutcome:
    schedules: int
    steps: int
    checks: int
    complete: bool
    mismatch: Mismatch | None
    violations: set
    #: what the schedules exercised (explore_library: see LibraryWatch;
    #: explore_interleavings: the schedules whose abstract states overran the
    #: head while mapped, or brought a page back as the reader page,
    #: :func:`ring_coverage`)
    coverage: dict = field(default_factory=dict)


def scenario_tasks(m, writes: int | None = None, irq_writes: int = 1, rounds: int = 1,
                   final_unmap: bool = True, map_first: bool = False):
    """The tasks of the interleaving exploration (a factory for sched).

    ``rounds``: GET_READER calls of the process (each followed by a read of the
    new reader page); ``map_first``: the writer starts once the process has
    mapped the buffer (its first map is then never in flight under a write)."""
    E = m.E
    irq = irq_writes if m.D > 1 else 0
    w = max(0, (writes if writes is not None else E - irq))
    w = min(w, E - irq)

    def factory():
        sysm = ImplSystem(m)

        def writer(system):
            if map_first:
                yield ("start", sched.SHARED, lambda: system.procs[0].has_mapped,
                       None, False)
            for _ in range(w):
                yield from system.write_gen()

        def irq1(system):
            for _ in range(irq):
                yield from system.write_gen()

        def p0(system):
            yield from _user_program(system, 0, rounds, final_unmap)

        tasks = [sched.Task("writer", writer)]
        if irq:
            tasks.append(sched.Task("irq1", irq1, interrupts="writer"))
        if m.P:
            tasks.append(sched.Task("p0", p0))
        return sysm, tasks

    return factory


def _user_program(system, i, rounds, final_unmap=True):
    m = system.model
    p = system.procs[i]

    def more():
        if m.live_limit:
            c = p.dpage.commit() & 0x3FFFFFFF
            return p.pos < units(p.dpage.buf, c, system.geo.capacity,
                                 getattr(m, "padding", False))
        return p.pos < p.lim

    yield from system.user_gen(i, "map")
    p.has_mapped = True
    for r in range(rounds + 1):
        yield from system.user_gen(i, "read_meta")
        while more():
            yield from system.user_gen(i, "read_event")
        if m.live_limit:
            yield from system.user_gen(i, "page_done")
        if r < rounds:
            yield from system.user_gen(i, "ioctl")
            if p.ioctl_rest is not None:
                yield from system.user_gen(i, "ioctl_meta")
    if final_unmap:
        yield from system.user_gen(i, "unmap")
        if p.unmap_rest is not None:
            yield from system.user_gen(i, "unmap_sync")


def explore_interleavings(m, preemptions: int | None = 2, schedules: int | None = None,
                          factory=None, final_check=None,
                          seed: int | None = None, progress=None) -> ExploreOutcome:
    """DFS over impl's interleavings with the refinement check (see module doc).
    ``final_check(execution)``: more checks after each schedule (a message or
    None).  With ``seed``: ``schedules`` seeded random schedules instead (no
    preemption bound). ``progress(n)`` is called after each schedule with the
    number run so far; a stop request (:mod:`rbmap.checker.interrupt`) raises
    Interrupted."""
    factory = factory or scenario_tasks(m)
    trackers = []

    def fac():
        system, tasks = factory()
        trackers.append(_Tracker(m, system, [t.name for t in tasks]))
        return system, tasks

    def observer(ex, st):
        interrupt.check()
        trackers[-1].observe(ex, st)

    def final(ex):
        t = trackers[-1]
        if t.pending:
            t._check(ex)
        if progress is not None:
            progress(len(trackers))
        return final_check(ex) if final_check is not None else None

    if seed is not None:
        res = sched.run_random(fac, seed=seed, runs=schedules or 1, check=final,
                               observer=observer, stay=0.95)
    else:
        res = sched.explore_dfs(fac, check=final, preemption_bound=preemptions,
                                max_schedules=schedules, observer=observer)
    checks = sum(t.checks for t in trackers)
    viol = set().union(*(t.violations for t in trackers)) if trackers else set()
    mm = None
    if res.failure:
        mm = _schedule_mismatch(m, trackers[-1], res.failure, res.failing_schedule)
    cov: dict = {}
    for t in trackers:
        ring_coverage(t.seen, cov)
    return ExploreOutcome(res.schedules, res.steps, checks, res.complete, mm, viol,
                          cov)


def _schedule_mismatch(m, tracker, failure, schedule):
    sched_json = schedule.to_json() if schedule is not None else None
    mm = Mismatch("linearization", len(schedule or []), None, failure, [], None, None,
                  None, sched_json)
    err = getattr(tracker, "last_error", None)
    if err is not None:
        mm.diff = err.diff
        mm.model_view = m.view(err.s)
        mm.impl_view = m.view(err.alpha)
        mm.message = (f"{failure}\n  the model steps completed since the last "
                      "quiescent point (impl steps):\n" + "\n".join(
                          f"    {o.action[0]:<7} {o.action[1]:<16} {o.start}-{o.end}"
                          for o in err.ops)
                      + "\n  (model view: the state before them; impl view: the "
                      "abstracted impl state after them)")
    return mm


SCHEDULE_FORMAT = "rbmap-conform-schedule/1"


def replay_schedule(doc: dict, finish: bool = False):
    """Re-run a saved impl schedule (:data:`SCHEDULE_FORMAT`) with the refinement
    check; returns (impl steps, Mismatch or None)."""
    if not isinstance(doc, dict) or doc.get("format") != SCHEDULE_FORMAT:
        raise ValueError(f"not an {SCHEDULE_FORMAT} file")
    m = model_for(doc["variant"], doc["config"])
    sc = doc.get("scenario", {})
    factory = scenario_tasks(m, **sc)
    schedule = sched.Schedule.from_json(json.dumps(doc["schedule"]))
    holder = {}

    def fac():
        system, tasks = factory()
        holder["t"] = _Tracker(m, system, [t.name for t in tasks])
        return system, tasks

    def observer(ex, st):
        holder["t"].observe(ex, st)

    try:
        ex = sched.replay(fac, schedule, observer=observer, finish=finish)
        if holder["t"].pending:
            holder["t"]._check(ex)
    except _LinearizationError as exc:
        return len(schedule), _schedule_mismatch(m, holder["t"], str(exc), schedule)
    return len(schedule), None


def save_schedule(path: str, variant, config, mm: Mismatch,
                  scenario: dict | None = None) -> None:
    doc = {"format": SCHEDULE_FORMAT, "variant": variant, "config": config,
           "scenario": scenario or {},
           "schedule": json.loads(mm.schedule)}
    with open(path, "w") as fh:
        fh.write(json.dumps(doc, indent=1) + "\n")


# ---------------------------------------------------------------------------
# the reader library under a concurrent writer
# ---------------------------------------------------------------------------

class LibraryViolation(AssertionError):
    """The reader library broke one of its promises at a return."""


class LibraryWatch:
    """The library's promises, checked at every return of one of its calls.

    - the kernel's consumed position is at least the library's: on the reader
      page it reads, ``reader_page->read`` >= its position (a page it reads that
      is no longer the reader page was consumed whole);
    - it says "no more data" (a step returns ``more=False``) only when every
      event committed and unread when that step's GET_READER began has since been
      delivered by one of the process's readers or counted lost;
    - (at the end of the schedule, :func:`library_final_check`) no event is
      delivered twice by the readers that took over from each other, and every
      event was delivered or counted lost.
    """

    def __init__(self, sysm, slot, coverage: dict | None = None):
        self.sysm = sysm
        self.slot = slot
        self.readers: list = []
        self.unread_at_ioctl: set = set()
        self.ioctls = 0
        #: events written onto the reader page after a GET_READER of the library
        self.landed: set = set()
        self.coverage = coverage if coverage is not None else {}
        slot.port.on_mark = self.on_mark

    def count(self, what: str, n: int = 1) -> None:
        self.coverage[what] = self.coverage.get(what, 0) + n

    def after_write(self, seq: int) -> None:
        """A write (sequence number ``seq``) returned: did it land on the reader
        page while the library, having called GET_READER, was mapped?"""
        cb = self.sysm.cb
        rp = cb.reader_page.value
        if self.ioctls and cb.user_mapped and seq in data_seqs(
                rp.page.buf, rp.page.commit() & 0x3FFFFFFF, self.sysm.geo.capacity):
            self.landed.add(seq)

    def on_mark(self, step: str) -> None:
        if step == "get_reader":
            self.ioctls += 1
            self.unread_at_ioctl = committed_unread(self.sysm)

    def delivered(self) -> list[int]:
        return [q for r in self.readers for q in r.log.seqs]

    def check(self, lib, call: str, result) -> None:
        self.count("returns checked")
        cb = self.sysm.cb
        if lib.mapped and not lib.fresh:
            rp = cb.reader_page.value
            mine = self.slot.port.data_page(lib._data_vma, lib.id, lib.subbuf_size)
            if rp.page is mine and rp.read < lib.pos:
                raise LibraryViolation(
                    f"after {call}: the library has read {lib.pos} bytes of "
                    f"sub-buffer {lib.id}, the kernel consumed {rp.read}")
        if call == "step" and result is False:
            lost = set(P._bits(self.sysm.ghost.acct))
            missing = sorted(self.unread_at_ioctl - set(self.delivered()) - lost)
            if missing:
                raise LibraryViolation(
                    f"a step said no more data, but events {missing} were "
                    "committed and unread when its GET_READER began")
            self.count("no-more returns checked")


def _library_program(sysm, slot, client, calls, takeover):
    """The process: reader A maps, takes ``calls`` steps, leaves (finish, unmap);
    with ``takeover`` reader B maps, reads until it says no more, and leaves."""
    from rbmap.impl.userlib import TraceReader
    watch = sysm.watch

    def reader():
        r = TraceReader(slot.port, client=client, seq_of=lib_seq)
        slot.reader = r
        watch.readers.append(r)
        return r

    def session(r, steps):
        if (yield from r.open_gen()) != 0:
            raise LibraryViolation("open failed")
        rc = yield from r.map_gen()
        watch.check(r, "map", rc)
        if rc:
            raise LibraryViolation(f"map returned {rc}")
        more = True
        k = 0
        while more if steps is None else k < steps:
            _, more = yield from r.step_gen()
            watch.check(r, "step", more)
            k += 1
        rc = yield from r.unmap_gen()
        watch.check(r, "unmap", rc)
        yield from r.close_gen()

    yield from session(reader(), calls)
    if takeover:
        yield from session(reader(), None)


def library_tasks(m, client: str = "documented", calls: int = 1,
                  takeover: bool = True, writes: int | None = None,
                  irq_writes: int = 1, coverage: dict | None = None):
    """The tasks of the library exploration (a factory for sched): the writer and
    an interrupt write as in :func:`scenario_tasks`, and process p0 run by the
    reader library (:func:`_library_program`)."""
    from rbmap.impl.systems import LibraryPort
    if impl_abi_of(m) != "upstream" or not m.P:
        raise Unsupported("the reader library needs the upstream ABI and a process")
    E = m.E
    irq = irq_writes if m.D > 1 else 0
    w = min(max(0, writes if writes is not None else E - irq), E - irq)

    def factory():
        sysm = ImplSystem(m)
        slot = LibrarySlot(0, LibraryPort(sysm.cb, sysm.mapping, "p0"))
        sysm.libs["p0"] = slot
        watch = sysm.watch = LibraryWatch(sysm, slot, coverage)

        def writes_of(n):
            def task(system):
                for _ in range(n):
                    seq = system.ghost.seq
                    yield from system.write_gen()
                    watch.after_write(seq)
            return task

        def p0(system):
            yield from _library_program(system, slot, client, calls, takeover)

        writer, irq1 = writes_of(w), writes_of(irq)

        tasks = [sched.Task("writer", writer)]
        if irq:
            tasks.append(sched.Task("irq1", irq1, interrupts="writer"))
        tasks.append(sched.Task("p0", p0))
        return sysm, tasks

    return factory


def library_final_check(ex, last_reader: bool = True) -> str | None:
    """After a schedule (the writer done): one more reader (documented) reads what
    is left; then no event was delivered twice and every event was delivered or
    counted lost.  Without ``last_reader``: only no event delivered twice by the
    process's readers."""
    from rbmap.impl.sched import run_plain
    from rbmap.impl.userlib import TraceReader
    sysm = ex.system
    slot = sysm.libs["p0"]
    last = TraceReader(slot.port, seq_of=lib_seq)
    if last_reader:
        try:
            for gen in (last.open_gen(), last.map_gen(), last.drain_gen(),
                        last.unmap_gen(), last.close_gen()):
                run_plain(gen)
        except Exception as exc:  # a reader error is a finding too
            return f"the last reader failed: {type(exc).__name__}: {exc}"
    got = sysm.watch.delivered() + last.log.seqs
    twice = sorted({q for q in got if got.count(q) > 1})
    if twice:
        return (f"events {twice} were delivered twice by readers taking over from "
                "each other")
    lost = set(P._bits(sysm.ghost.acct))
    missing = sorted(set(range(sysm.ghost.seq)) - set(got) - lost)
    if missing and last_reader:
        return f"events {missing} were neither delivered nor counted lost"
    w = sysm.watch
    if w.landed:
        w.count("schedules with writes onto the reader page after GET_READER")
        w.count("of them read by the library",
                bool(w.landed & set(w.delivered())))
    return None


def explore_library(m, client: str = "documented", calls: int = 1,
                    takeover: bool = True, preemptions: int | None = 1,
                    schedules: int | None = None, seed: int | None = None,
                    last_reader: bool = True) -> ExploreOutcome:
    """impl's interleavings of the writer and the reader library, each library
    step held to the model's process step (linearizability, as for
    :func:`explore_interleavings`) and the library's promises checked at every
    return (:class:`LibraryWatch`) and at the end (:func:`library_final_check`)."""
    coverage: dict = {}
    out = explore_interleavings(
        m, preemptions, schedules,
        factory=library_tasks(m, client, calls, takeover, coverage=coverage),
        final_check=lambda ex: library_final_check(ex, last_reader), seed=seed)
    out.coverage = coverage
    return out


# ---------------------------------------------------------------------------
# the seed's duplicate read (Steven Rostedt, reply #11 of its review)
# ---------------------------------------------------------------------------

def duplicate_demo(config: dict | None = None):
    """The model's shortest v2 ``no_duplicate_delivery`` counterexample, replayed on
    impl v2 (the duplicate shows in what the process decoded) and the same user
    operations on impl upstream (where the process starts at reader.read).

    Returns (v2 actions, v2 replay, events decoded on v2 per process, upstream
    actions, upstream replay, events decoded on upstream)."""
    cfg = config or DEFAULT_CONFIG
    mv2 = model_for("v2", cfg)
    r = check_bfs(mv2)
    pr = r.get("no_duplicate_delivery")
    if pr.path is None:
        raise Unsupported("the v2 model shows no duplicate delivery at this config")
    acts = list(pr.path.actions)
    rv2 = replay_path(mv2, acts)
    sysm = ImplSystem(mv2)
    for a in acts:
        sysm.do(a)
    got_v2 = [list(p.delivered) for p in sysm.procs]
    # the same user operations upstream: v2-only steps (page_done: the seed's
    # reader reads to the live commit; update_meta) have no upstream counterpart
    mup = model_for("upstream", cfg)
    up = _upstream_writes(acts)
    # the same operations upstream: a documented reader reads only up to
    # reader.read, so a read_event the model does not enable (nothing left
    # below reader.read) is not made
    sysu = ImplSystem(mup)
    st = mup.init_states()[0]
    rup = ReplayResult()
    done = []
    for k, a in enumerate(up, 1):
        nxt = [t for b, t in mup.successors(st) if b == a]
        if not nxt:
            if a[1] == "read_event":
                continue
            break
        mm = check_step(mup, sysu, st, nxt[0], a, k, done + [a])
        done.append(a)
        if mm is not None:
            rup.mismatch = mm
            break
        rup.steps += 1
        st = nxt[0]
    got_up = [list(p.delivered) for p in sysu.procs]
    return acts, rv2, got_v2, done, rup, got_up


def _upstream_writes(acts):
    """v2 writer steps as upstream ones (commit_inc ... end_commit = commit)."""
    out = []
    for a in acts:
        if a[1] == "commit_inc":
            out.append((a[0], "commit"))
        elif a[1] in ("meta_store", "end_commit", "meta_store_tail", "page_done",
                      "update_meta"):
            continue
        else:
            out.append(a)
    return out


# ---------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------

def format_mismatch(m, mm: Mismatch, width: int = 80) -> str:
    lines = [f"MISMATCH ({mm.kind}) at step {mm.step}"
             + (f": {mm.action[0]} {mm.action[1]}" if isinstance(mm.action, tuple) else ""),
             f"  {mm.message}"]
    if mm.actions:
        lines.append("  model path:")
        for i, a in enumerate(mm.actions, 1):
            mark = ">>" if i == mm.step else "  "
            lines.append(f"  {mark}{i:3d}  {a[0]:<7} {a[1]}")
    if mm.diff:
        lines.append("  differing slots (model | impl):")
        for n, a, b in mm.diff:
            lines.append(f"    {n:<24} {str(a):>18} | {b}")
    if mm.model_view is not None and mm.impl_view is not None:
        lines.append("  views after the step (model | impl, * = differs):")
        keys = list(mm.model_view) + [k for k in mm.impl_view if k not in mm.model_view]
        for k in keys:
            a, b = mm.model_view.get(k, "-"), mm.impl_view.get(k, "-")
            mark = "*" if a != b else " "
            lines.append(f"  {mark} {k:<20} {str(a)[:24]:<24} | {str(b)[:24]}")
    if mm.schedule:
        steps = json.loads(mm.schedule)["steps"]
        lines.append(f"  impl schedule: {len(steps)} steps; the last 30 (task, "
                     "operation about to run):")
        for i, st in enumerate(steps[-30:], max(0, len(steps) - 30)):
            lines.append(f"    {i:4d} {st['task']:<7} {st['label']}")
    if mm.replay_command:
        lines.append(f"  replay: {mm.replay_command}")
    return "\n".join(lines)


def run_ring(variant: str, preemptions: int | None = 1,
             schedules: int | None = 2000, config: dict | None = None,
             trace_file: str | None = None) -> dict:
    """The ring config (:data:`RING_CONFIG`): every path of the model's BFS tree
    replayed on impl, and impl's interleavings of a process that maps, then
    calls GET_READER :data:`RING_ROUNDS` times (reading the new reader page each
    time) while the writer, started once the process has mapped, overruns the
    ring. Returns a JSON-able summary with what the runs covered and the
    mismatches (``_mismatch_objects``)."""
    t0 = time.perf_counter()
    cfg = dict(config or RING_CONFIG)
    m = model_for(variant, cfg)
    cov: dict = {}
    paths, steps, mm = replay_tree(m, None, f"rbmap conform {variant} --ring",
                                   coverage=cov)
    scenario = {"rounds": RING_ROUNDS, "map_first": True}
    out = explore_interleavings(m, preemptions, schedules,
                                factory=scenario_tasks(m, **scenario))
    if out.mismatch and trace_file and out.mismatch.schedule:
        sched_file = trace_file.rsplit(".json", 1)[0] + ".ring.schedule.json"
        save_schedule(sched_file, variant, cfg, out.mismatch, scenario)
        out.mismatch.replay_command = f"rbmap conform --schedule {sched_file}"
    mms = [x for x in (mm, out.mismatch) if x is not None]
    return {
        "config": cfg,
        "paths_replayed": paths,
        "paths_overrun": cov.get("overrun", 0),
        "paths_reader_back": cov.get("reader_back", 0),
        "model_steps_compared": steps,
        "interleavings": out.schedules,
        "interleavings_complete": out.complete and out.mismatch is None,
        "interleavings_overrun": out.coverage.get("overrun", 0),
        "interleavings_reader_back": out.coverage.get("reader_back", 0),
        "impl_steps": out.steps,
        "seconds": round(time.perf_counter() - t0, 3),
        "mismatches": [x.to_json() for x in mms],
        "_mismatch_objects": mms,
    }


def run_conform(variant: str, depth: int | None = 12, preemptions: int | None = 1,
                schedules: int | None = 2000, config: dict | None = None,
                trace_file: str | None = None, traces=None, progress=None,
                ring: bool = True) -> dict:
    """Everything ``rbmap conform`` runs; a JSON-able summary. ``ring``: also
    :func:`run_ring` (its mismatches count as the run's).

    ``progress(text)`` hears about each phase and how far it got. A stop request
    (:mod:`rbmap.checker.interrupt`, the first Ctrl-C in ``rbmap conform``) ends
    the run early: ``interrupted`` is True and the counts say what was checked.
    A mismatch file that cannot be written is named in ``write_errors``."""
    t0 = time.perf_counter()
    say = progress or (lambda text: None)
    cfg = dict(config or DEFAULT_CONFIG)
    m = model_for(variant, cfg)
    ImplSystem(m)  # raises Unsupported early
    mismatches = []
    write_errors = []
    n_traces = steps = 0
    counts = {"paths": 0, "steps": 0}
    schedules_run = [0]
    out = None
    interrupted = False
    cmd_base = f"rbmap conform {variant}"
    try:
        # 1. saved traces, then the model's counterexamples, then the BFS tree
        say(f"exploring the {variant} model for its counterexamples")
        r = check_bfs(m)
        interrupt.check()
        cex = [(p.name, p.path) for p in r.properties if p.path is not None]
        say(f"replaying {len(list(traces or [])) + len(cex)} saved paths and "
            "counterexamples on impl")
        for name, path in list(traces or []) + cex:
            interrupt.check()
            res = replay_path(m, path.actions, f"{cmd_base} --replay FILE")
            n_traces += 1
            steps += res.steps
            if res.mismatch:
                mismatches.append(res.mismatch)
                break
        if not mismatches:
            say("replaying the model's BFS tree on impl"
                + (f" (depth {depth})" if depth else " (all of it)"))
            _, _, mm = replay_tree(m, depth, f"{cmd_base} --replay FILE",
                                   progress=say, counts=counts)
            if mm:
                mismatches.append(mm)
        for mm in mismatches:
            if mm.actions is not None and trace_file:
                p = Path(0, list(mm.actions), None,
                         {"variant": variant, "rules": {}, "config": cfg})
                try:
                    with open(trace_file, "w") as fh:
                        fh.write(p.dumps() + "\n")
                    mm.replay_command = f"{cmd_base} --replay {trace_file}"
                except OSError as exc:
                    write_errors.append(f"{trace_file}: {exc.strerror or exc}")
        # 2. interleavings
        say("exploring impl's interleavings")
        last = [time.perf_counter()]

        def tick(n):
            schedules_run[0] = n
            now = time.perf_counter()
            if now - last[0] >= 2.0:
                last[0] = now
                say(f"explored {n} interleavings")
        out = explore_interleavings(m, preemptions, schedules, progress=tick)
    except interrupt.Interrupted:
        interrupted = True
    n_traces += counts["paths"]
    steps += counts["steps"]
    if out is not None and out.mismatch:
        if trace_file and out.mismatch.schedule:
            sched_file = trace_file.rsplit(".json", 1)[0] + ".schedule.json"
            try:
                save_schedule(sched_file, variant, cfg, out.mismatch)
                out.mismatch.replay_command = f"rbmap conform --schedule {sched_file}"
            except OSError as exc:
                write_errors.append(f"{sched_file}: {exc.strerror or exc}")
        mismatches.append(out.mismatch)
    # 3. the reader library as the process (upstream: the ABI it reads)
    lib = None
    if not interrupted and impl_abi_of(m) == "upstream" and m.config.client in (
            "documented", "greedy") and m.P:
        try:
            say("exploring impl's interleavings with the reader library")
            lib = explore_library(m, m.config.client, 1, True, preemptions, schedules)
        except interrupt.Interrupted:
            interrupted = True
        if lib is not None and lib.mismatch:
            mismatches.append(lib.mismatch)
    # 4. the ring config: overrun while mapped, a page back as the reader page
    ring_out = None
    if ring and not interrupted:
        try:
            say("the ring config: the whole model tree and impl's interleavings")
            ring_out = run_ring(variant, preemptions, schedules,
                                trace_file=trace_file)
            mismatches.extend(ring_out.pop("_mismatch_objects"))
        except interrupt.Interrupted:
            interrupted = True
    return {
        "variant": variant,
        "config": cfg,
        "traces_replayed": n_traces,
        "model_steps_compared": steps,
        "interleavings": out.schedules if out else schedules_run[0],
        "interleavings_complete": bool(out and out.complete and out.mismatch is None),
        "impl_steps": out.steps if out else 0,
        "quiescent_checks": out.checks if out else 0,
        "steps_checked": steps + (out.steps if out else 0),
        "impl_property_violations": sorted(out.violations) if out else [],
        "library_interleavings": lib.schedules if lib else 0,
        "library_returns_checked": lib.coverage.get("returns checked", 0) if lib
        else 0,
        "ring": ring_out,
        "seconds": round(time.perf_counter() - t0, 3),
        "interrupted": interrupted,
        "mismatches": [mm.to_json() for mm in mismatches],
        "write_errors": write_errors,
        "_mismatch_objects": mismatches,
        "_model": m,
    }
