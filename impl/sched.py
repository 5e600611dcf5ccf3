"""A controlled scheduler for kernel-style code written as Python generators.

The idea is loom's and shuttle's: the code under test reaches shared state only
through instrumented objects (:class:`Cell`, :class:`SpinLock`, :class:`Mutex`),
and every such access first *yields* an operation descriptor to the scheduler,
which then decides which task runs next.  A task is a generator function; the
kernel-named functions in ``ringbuf.py`` and ``mapping.py`` compose with
``yield from``.

An operation descriptor is a tuple ``(label, scope, guard, obj, write)``:

``label``
    a readable name of the access about to happen (``"tail_page.write add_return"``);
    schedules record it so that a replay can check it is re-running the same program.
``scope``
    :data:`SHARED` when another CPU's task can observe or change what is accessed;
    :data:`LOCAL` when only tasks on the same CPU can (the per-CPU ``committing``
    counter, the time stamps, ...).  At a LOCAL point the scheduler offers only the
    running task and the interrupts that may start on top of it: another CPU's
    steps commute with a CPU-local access, so switching there adds no behaviour.
``guard``
    ``None`` or a callable; while it returns False the task is *blocked* (not
    runnable): a held lock, or a spin loop waiting for another task to change a
    value.  Modelling spins as blocking keeps the schedule space finite.

``obj``, ``write``
    what is accessed (the :class:`Cell`, a lock, ``(data_page, "commit")``, ...)
    and whether the access writes it; ``None`` for an access nothing else sees,
    :data:`ANY` when it must be treated as conflicting with everything.  Only
    :func:`explore_dpor` uses them: two steps of different tasks are
    *dependent* when they touch the same object and one writes (or the tasks are
    an interrupt and the task it interrupts).

Interrupts.  A task created with ``interrupts="name"`` is an interrupt (a nested
writer) on the CPU of task *name*: it may start only while that task is suspended
at one of its yield points (or after it finished, which is a plain later write),
and once started it runs to completion before the interrupted task resumes.  This
is a scheduling rule, not an independent thread.

Schedulers: :func:`explore_dfs` (exhaustive by re-execution from a fresh system each
run, optional preemption bound), :func:`explore_dpor` (exhaustive up to the order
of independent steps: dynamic partial-order reduction, Flanagan and Godefroid
2005, by re-execution), :func:`run_random` (seeded), :func:`replay` (of a
:class:`Schedule`, JSON, failing loudly on divergence) and :func:`run_plain` (drive
one generator to completion with no scheduling at all: the fast sequential mode).
An ``observer(execution, step)`` is called after every scheduled step.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable

__all__ = [
    "SHARED", "LOCAL", "Cell", "SpinLock", "Mutex", "spin_until", "HarnessError",
    "Deadlock", "ScheduleDivergence", "Task", "Execution", "Step", "Schedule",
    "ExploreResult", "run_plain", "explore_dfs", "explore_dpor", "run_random",
    "replay", "ANY", "locked",
]

SHARED = "shared"
LOCAL = "local"
#: an operation dependent with every other one (for the partial-order reduction)
ANY = "ANY"


class HarnessError(Exception):
    """A bug in the harness or in a test's setup, never a kernel outcome."""


class Deadlock(HarnessError):
    """No task can run but some have not finished."""


class ScheduleDivergence(HarnessError):
    """A replayed schedule does not match the program being run."""


# ---------------------------------------------------------------------------
# instrumented shared objects
# ---------------------------------------------------------------------------

class Cell:
    """One shared word (``local_t``, a pointer, a flag-carrying list pointer).

    Every method is a generator that yields *before* acting::

        old = yield from cell.cmpxchg(expected, new)
    """

    __slots__ = ("name", "value", "scope", "_l_load", "_l_store", "_l_cmpxchg",
                 "_l_add")

    def __init__(self, name: str, value: Any = 0, scope: str = SHARED):
        self.name = name
        self.value = value
        self.scope = scope
        self._l_load = name + " load"
        self._l_store = name + " store"
        self._l_cmpxchg = name + " cmpxchg"
        self._l_add = name + " add_return"

    def __repr__(self) -> str:
        return f"Cell({self.name}={self.value!r})"

    def load(self):
        yield (self._l_load, self.scope, None, self, False)
        return self.value

    def store(self, value):
        yield (self._l_store, self.scope, None, self, True)
        self.value = value

    def cmpxchg(self, old, new):
        """Store *new* if the value is *old*; return the value found."""
        yield (self._l_cmpxchg, self.scope, None, self, True)
        cur = self.value
        if cur == old:
            self.value = new
        return cur

    def add_return(self, delta):
        yield (self._l_add, self.scope, None, self, True)
        self.value += delta
        return self.value


class SpinLock:
    """``raw_spinlock_t``: a task waiting for it is blocked (not runnable)."""

    __slots__ = ("name", "held", "_l_acquire", "_l_release")

    def __init__(self, name: str):
        self.name = name
        self.held = False
        self._l_acquire = name + " lock"
        self._l_release = name + " unlock"

    def _free(self) -> bool:
        return not self.held

    def acquire(self):
        yield (self._l_acquire, SHARED, self._free, self, True)
        if self.held:
            raise Deadlock(f"{self.name} is held (plain mode cannot wait)")
        self.held = True

    def release(self):
        if not self.held:
            raise HarnessError(f"{self.name} released while not held")
        yield (self._l_release, SHARED, None, self, True)
        self.held = False


class Mutex(SpinLock):
    """``struct mutex`` (sleeping lock); same scheduling rule as a spin lock."""

    __slots__ = ()


def locked(lock: SpinLock, gen: Generator):
    """Run *gen* holding *lock* (acquire, run, release; no ``finally``, as in C)."""
    yield from lock.acquire()
    ret = yield from gen
    yield from lock.release()
    return ret


def spin_until(label: str, condition: Callable[[], bool], obj: Any = None):
    """A spin loop (``goto spin``) as one blocking step: runnable once *condition*.

    *obj* is what the condition reads (for the partial-order reduction); None
    means "anything" (:data:`ANY`).
    """
    yield (label, SHARED, condition, ANY if obj is None else obj, False)
    if not condition():
        raise Deadlock(f"spin '{label}' cannot make progress in plain mode")


# ---------------------------------------------------------------------------
# plain mode
# ---------------------------------------------------------------------------

def run_plain(gen: Generator) -> Any:
    """Run *gen* to completion ignoring scheduling; return its return value."""
    try:
        while True:
            op = next(gen)
            guard = op[2]
            if guard is not None and not guard():
                raise Deadlock(f"plain mode would block at '{op[0]}'")
    except StopIteration as stop:
        return stop.value


# ---------------------------------------------------------------------------
# tasks, executions, schedules
# ---------------------------------------------------------------------------

@dataclass
class Task:
    """A task for the scheduler: *fn(system)* returns a generator."""

    name: str
    fn: Callable[[Any], Generator]
    interrupts: str | None = None


@dataclass
class Step:
    index: int
    task: str
    label: str


@dataclass
class Schedule:
    """A recorded run: the task chosen at each step and the label it executed."""

    steps: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"format": "rbmap-schedule", "version": 1,
                           "steps": [{"task": t, "label": l} for t, l in self.steps]},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Schedule":
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != "rbmap-schedule":
            raise ValueError("not an rbmap schedule (missing format: rbmap-schedule)")
        if data.get("version") != 1:
            raise ValueError(f"unsupported schedule version {data.get('version')!r}")
        steps = data.get("steps")
        if not isinstance(steps, list) or not all(
                isinstance(s, dict) and isinstance(s.get("task"), str)
                and isinstance(s.get("label"), str) for s in steps):
            raise ValueError("schedule steps must be objects with string task and label")
        return cls([(s["task"], s["label"]) for s in steps])

    def __len__(self) -> int:
        return len(self.steps)


class _Run:
    __slots__ = ("task", "gen", "state", "op", "result")

    def __init__(self, task: Task, gen: Generator):
        self.task = task
        self.gen = gen
        self.state = "new"        # new -> running -> done
        self.op = None
        self.result = None


def _starter(fn, system):
    # Every task's first step is "start": priming the generator runs no task code.
    yield ("start", SHARED, None, None, False)
    return (yield from fn(system))


class Execution:
    """One run of a system built by a factory, stepped by a chooser."""

    def __init__(self, factory: Callable[[], tuple[Any, list[Task]]]):
        self.system, tasks = factory()
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise HarnessError(f"task names must be unique: {names}")
        self.runs = []
        for t in tasks:
            r = _Run(t, _starter(t.fn, self.system))
            r.op = next(r.gen)
            self.runs.append(r)
        self.by_name = {r.task.name: r for r in self.runs}
        for r in self.runs:
            if r.task.interrupts is not None and r.task.interrupts not in self.by_name:
                raise HarnessError(f"{r.task.name} interrupts unknown task "
                                   f"{r.task.interrupts}")
        self.trace: list[Step] = []
        self.last: _Run | None = None
        self.preemptions = 0

    # -- enabled set --------------------------------------------------------
    def _interrupted(self, r: _Run) -> bool:
        for o in self.runs:
            if o.task.interrupts == r.task.name and o.state == "running":
                return True
        return False

    def _may_run(self, r: _Run) -> bool:
        if r.state == "done" or self._interrupted(r):
            return False
        if r.state == "new" and r.task.interrupts is not None:
            if self.by_name[r.task.interrupts].state == "new":
                return False
        guard = r.op[2]
        return guard is None or bool(guard())

    def enabled(self) -> list[_Run]:
        """Runnable tasks, in task order, after the LOCAL-scope reduction."""
        cand = [r for r in self.runs if self._may_run(r)]
        last = self.last
        if last is not None and last in cand and last.op[1] == LOCAL:
            # Only the running task or an interrupt starting on top of it.
            cand = [r for r in cand if r is last or
                    (r.state == "new" and r.task.interrupts == last.task.name)]
        return cand

    def done(self) -> bool:
        return all(r.state == "done" for r in self.runs)

    def is_preemption(self, r: _Run) -> bool:
        last = self.last
        return (last is not None and r is not last and last.state != "done"
                and self._may_run(last))

    # -- stepping -------------------------------------------------------------
    def step(self, r: _Run) -> Step:
        if self.is_preemption(r):
            self.preemptions += 1
        label = r.op[0]
        st = Step(len(self.trace), r.task.name, label)
        r.state = "running"
        self.last = r
        try:
            r.op = r.gen.send(None)
        except StopIteration as stop:
            r.state = "done"
            r.result = stop.value
            r.op = None
        self.trace.append(st)
        return st

    def schedule(self) -> Schedule:
        return Schedule([(s.task, s.label) for s in self.trace])

    def results(self) -> dict[str, Any]:
        return {r.task.name: r.result for r in self.runs}

    def describe_blocked(self) -> str:
        return ", ".join(f"{r.task.name} at '{r.op[0]}'" for r in self.runs
                         if r.state != "done")


Observer = Callable[[Execution, Step], None]


def _drive(ex: Execution, choose, observer: Observer | None):
    while not ex.done():
        cand = ex.enabled()
        if not cand:
            raise Deadlock(f"deadlock after {len(ex.trace)} steps: "
                           f"{ex.describe_blocked()}")
        r = choose(ex, cand)
        st = ex.step(r)
        if observer is not None:
            observer(ex, st)


# ---------------------------------------------------------------------------
# schedulers
# ---------------------------------------------------------------------------

@dataclass
class ExploreResult:
    """What an exploration did; ``failure`` holds the first failing schedule."""

    schedules: int = 0
    steps: int = 0
    max_depth: int = 0
    elapsed: float = 0.0
    complete: bool = True
    failure: str | None = None
    failing_schedule: Schedule | None = None
    finals: list[Any] = field(default_factory=list)


Check = Callable[[Execution], "str | None"]


def _check_final(ex: Execution, check: Check | None, res: ExploreResult) -> bool:
    msg = check(ex) if check is not None else None
    if msg:
        res.failure = msg
        res.failing_schedule = ex.schedule()
        return False
    return True


def _account(res: ExploreResult, ex: Execution, check: Check | None,
             exc: Exception | None) -> bool:
    """Count one finished run; False when it failed (exploration stops)."""
    res.schedules += 1
    if exc is not None:
        res.failure = f"{type(exc).__name__}: {exc}"
        res.failing_schedule = ex.schedule()
        return False
    res.steps += len(ex.trace)
    res.max_depth = max(res.max_depth, len(ex.trace))
    return _check_final(ex, check, res)


def explore_dfs(factory, *, check: Check | None = None,
                preemption_bound: int | None = None,
                max_schedules: int | None = None,
                observer: Observer | None = None,
                keep_finals: Callable[[Execution], Any] | None = None) -> ExploreResult:
    """Run every schedule of *factory*'s tasks (re-executing from scratch each time).

    *check(execution)* runs after each complete schedule and returns ``None`` or a
    failure message; an exception raised by a task or an observer is a failure too.
    Exploration stops at the first failure.  With *preemption_bound* only schedules
    with at most that many preemptions (switching away from a runnable task) are
    explored.  ``keep_finals(execution)`` collects a value per schedule (e.g. the
    final state) into ``result.finals``.
    """
    res = ExploreResult()
    t0 = time.perf_counter()
    prefix: list[int] = []
    while True:
        if max_schedules is not None and res.schedules >= max_schedules:
            res.complete = False
            break
        ex = Execution(factory)
        taken: list[tuple[int, int]] = []

        def choose(ex_, cand):
            if preemption_bound is not None and ex_.preemptions >= preemption_bound:
                last = ex_.last
                if last is not None and last in cand:
                    cand = [last]
            i = len(taken)
            idx = prefix[i] if i < len(prefix) else 0
            if idx >= len(cand):
                raise HarnessError("DFS replay diverged: the system is not "
                                   "deterministic (step %d)" % i)
            taken.append((idx, len(cand)))
            return cand[idx]

        try:
            _drive(ex, choose, observer)
        except HarnessError:
            raise
        except Exception as exc:  # a task's assertion: a failing schedule
            err = exc
        else:
            err = None
        if err is None and keep_finals is not None:
            res.finals.append(keep_finals(ex))
        if not _account(res, ex, check, err):
            break
        # backtrack
        while taken and taken[-1][0] + 1 >= taken[-1][1]:
            taken.pop()
        if not taken:
            break
        prefix = [c for c, _ in taken]
        prefix[-1] += 1
    res.elapsed = time.perf_counter() - t0
    return res


def _interrupts(ex: Execution, a: str, b: str) -> bool:
    """True when task *a* interrupts *b* (directly or through a chain)."""
    t = ex.by_name[a].task.interrupts
    while t is not None:
        if t == b:
            return True
        t = ex.by_name[t].task.interrupts
    return False


def _related(ex: Execution, a: str, b: str) -> bool:
    """True when one task interrupts the other (directly or through a chain)."""
    for x, y in ((a, b), (b, a)):
        t = ex.by_name[x].task.interrupts
        while t is not None:
            if t == y:
                return True
            t = ex.by_name[t].task.interrupts
    return False


def _dependent(ex, ta, oa, wa, tb, ob, wb) -> bool:
    if ta == tb or _related(ex, ta, tb):
        return True
    if oa is ANY or ob is ANY:
        return True
    if oa is None or ob is None:
        return False
    return (wa or wb) and oa == ob


class _Frame:
    __slots__ = ("enabled", "backtrack", "done", "chosen")

    def __init__(self, enabled: list[str], first: str):
        self.enabled = set(enabled)
        self.backtrack = {first}
        self.done = {first}
        self.chosen = first


class _Trace:
    """Steps of one execution indexed for dependence queries (vector clocks).

    Dependence for backtracking: two steps of unrelated tasks conflict when they
    touch the same object and one writes (or one is :data:`ANY`).  An interrupt
    and the task it interrupts are co-enabled only at the interrupt's start, so
    between them only the start step conflicts (with every step of the other).
    Happens-before additionally has the object conflicts between related tasks
    and the resume edge (the interrupted task continues after the interrupt's
    last step).
    """

    __slots__ = ("ex", "task", "start", "vc", "last_of", "acc", "any_steps",
                 "related", "by_task", "starts", "interrupters", "obj", "write",
                 "any_set")

    def __init__(self, ex: Execution):
        self.ex = ex
        self.task: list[str] = []
        self.start: list[bool] = []
        self.obj: list = []
        self.write: list[bool] = []
        self.any_set: set[int] = set()
        self.vc: list[dict] = []
        self.last_of: dict[str, int] = {}
        self.acc: dict = {}                # obj -> [(step, write)]
        self.any_steps: list[int] = []
        names = list(ex.by_name)
        self.by_task: dict[str, list[int]] = {n: [] for n in names}
        self.starts: dict[str, int] = {}
        self.related = {a: [b for b in names if b != a and _related(ex, a, b)]
                        for a in names}
        self.interrupters = {a: {b for b in self.related[a]
                                 if _interrupts(ex, b, a)} for a in names}

    def candidates(self, q: str, obj, write: bool, is_start: bool) -> list[int]:
        """Earlier steps of other tasks that conflict with q's next operation."""
        rel = self.related[q]
        out = {j for j in self.any_steps if self.task[j] not in rel}
        for t in rel:
            if is_start:
                out.update(self.by_task[t])
            elif t in self.starts:
                out.add(self.starts[t])
        if obj is ANY:
            out.update(j for j in range(len(self.task)) if self.task[j] not in rel)
        elif obj is not None:
            for j, w in self.acc.get(obj, ()):
                if (write or w) and self.task[j] not in rel:
                    out.add(j)
        out.discard(-1)
        return sorted((j for j in out if self.task[j] != q), reverse=True)

    def conflicts(self, j: int, q: str, obj, write: bool, is_start: bool) -> bool:
        """Whether step *j* conflicts with q's next operation (see candidates)."""
        tj = self.task[j]
        if tj == q:
            return False
        if tj in self.related[q]:
            return is_start or self.start[j]
        if obj is ANY or j in self.any_set:
            return True
        if obj is None:
            return False
        return self.obj[j] == obj and (write or self.write[j])

    def clock(self, name: str, obj=None, write: bool = False,
              is_start: bool = False) -> dict:
        """The vector clock *name*'s next step would have."""
        mine = self.last_of.get(name, -1)
        vc = dict(self.vc[mine]) if mine >= 0 else {}
        deps = list(self.any_steps)
        for t in self.related[name]:
            lt = self.last_of.get(t, -1)
            if lt < 0:
                continue
            if is_start or (lt > mine and t in self.interrupters[name]):
                deps.append(lt)           # start after it, or resume after it
        if obj is ANY:
            deps += list(self.last_of.values())
        elif obj is not None:
            for j, w in reversed(self.acc.get(obj, ())):
                if w:
                    deps.append(j)      # the last write (earlier ones precede it)
                    break
                if write:
                    deps.append(j)      # a write follows every read since
        for j in deps:
            for t, v in self.vc[j].items():
                if v > vc.get(t, -1):
                    vc[t] = v
        return vc

    def add(self, name: str, obj, write: bool, is_start: bool) -> None:
        k = len(self.task)
        vc = self.clock(name, obj, write, is_start)
        vc[name] = k
        self.task.append(name)
        self.start.append(is_start)
        self.obj.append(obj)
        self.write.append(write)
        self.vc.append(vc)
        self.last_of[name] = k
        self.by_task[name].append(k)
        if is_start:
            self.starts[name] = k
        if obj is ANY:
            self.any_steps.append(k)
            self.any_set.add(k)
        elif obj is not None:
            self.acc.setdefault(obj, []).append((k, write))


def explore_dpor(factory, *, check: Check | None = None,
                 max_schedules: int | None = None,
                 observer: Observer | None = None) -> ExploreResult:
    """Every schedule up to reordering of independent steps (stateless DPOR).

    Each execution re-runs *factory* from scratch.  Before every step, for each
    unfinished task *q*, the latest earlier step that is dependent with *q*'s
    next operation and does not happen-before it (vector clocks) gets *q* added
    to its backtrack set (or, when *q* was not enabled there, every task enabled
    there).  Exploration ends when no frame has an untried backtrack choice.
    Every reachable final state and every assertion that some interleaving
    violates is found (blocking guards are treated conservatively).  *check* as
    in :func:`explore_dfs`.
    """
    res = ExploreResult()
    t0 = time.perf_counter()
    frames: list[_Frame] = []
    while True:
        if max_schedules is not None and res.schedules >= max_schedules:
            res.complete = False
            break
        ex = Execution(factory)
        tr = _Trace(ex)
        depth = 0
        replay_len = len(frames)
        try:
            while not ex.done():
                runs = [r for r in ex.runs if ex._may_run(r)]
                if not runs:
                    raise Deadlock(f"deadlock after {depth} steps: "
                                   f"{ex.describe_blocked()}")
                # Backtrack points (incremental form of the rule: the task that
                # just ran has a new next operation, so scan all earlier steps
                # for it; every other task's next operation is unchanged, so
                # only the newest step can be a new latest conflict for it).
                k = depth - 1
                for r in ex.runs:
                    if r.state == "done":
                        continue
                    q = r.task.name
                    is_start = r.state == "new"
                    if k < 0:
                        break
                    if q == tr.task[k]:
                        cands = tr.candidates(q, r.op[3], r.op[4], is_start)
                    elif tr.conflicts(k, q, r.op[3], r.op[4], is_start):
                        cands = [k]
                    else:
                        continue
                    vcq = tr.clock(q)
                    for j in cands:
                        if j <= vcq.get(tr.task[j], -1):
                            continue      # j happens-before q's next step
                        fr = frames[j]
                        if q in fr.enabled:
                            fr.backtrack.add(q)
                        else:
                            fr.backtrack |= fr.enabled
                        break
                names = [r.task.name for r in runs]
                if depth < replay_len:
                    name = frames[depth].chosen
                    if name not in names:
                        raise HarnessError(f"DPOR replay diverged at step {depth}: "
                                           f"{name} is not runnable")
                else:
                    last = ex.last.task.name if ex.last is not None else None
                    name = last if last in names else names[0]
                    frames.append(_Frame(names, name))
                r = ex.by_name[name]
                tr.add(name, r.op[3], r.op[4], r.state == "new")
                st = ex.step(r)
                if observer is not None:
                    observer(ex, st)
                depth += 1
        except HarnessError:
            raise
        except Exception as exc:  # a task's assertion: a failing schedule
            err = exc
        else:
            err = None
        if not _account(res, ex, check, err):
            break
        del frames[depth:]
        while frames:
            fr = frames[-1]
            todo = sorted(fr.backtrack - fr.done)
            if todo:
                fr.chosen = todo[0]
                fr.done.add(todo[0])
                break
            frames.pop()
        if not frames:
            break
    res.elapsed = time.perf_counter() - t0
    return res


def run_random(factory, *, seed: int, runs: int = 1, check: Check | None = None,
               observer: Observer | None = None, stay: float = 0.0) -> ExploreResult:
    """*runs* seeded random schedules; deterministic for a given seed.

    ``stay``: the probability of letting the task that ran last run on when it
    can (0: every step a uniform choice; near 1: few preemptions, long runs of
    one task, like the schedules a small preemption bound explores)."""
    res = ExploreResult()
    rng = random.Random(seed)
    t0 = time.perf_counter()

    def choose(ex_, cand):
        last = ex_.last
        if stay and last in cand and rng.random() < stay:
            return last
        return cand[rng.randrange(len(cand))]

    for _ in range(runs):
        ex = Execution(factory)
        try:
            _drive(ex, choose, observer)
        except HarnessError:
            raise
        except Exception as exc:  # a task's assertion: a failing schedule
            err = exc
        else:
            err = None
        if not _account(res, ex, check, err):
            break
        res.finals.append(ex.schedule())
    res.elapsed = time.perf_counter() - t0
    return res


def replay(factory, schedule: Schedule, *, observer: Observer | None = None,
           finish: bool = False) -> Execution:
    """Re-run *schedule* exactly; raise :class:`ScheduleDivergence` naming the step.
    With *finish*, a schedule that ends with tasks left (a recorded prefix) goes on
    without preemption: the first runnable task in task order, to its end."""
    ex = Execution(factory)
    steps = schedule.steps
    for i, (name, label) in enumerate(steps):
        if ex.done():
            raise ScheduleDivergence(
                f"step {i}: all tasks finished but the schedule continues with "
                f"{name} '{label}'")
        r = ex.by_name.get(name)
        if r is None:
            raise ScheduleDivergence(f"step {i}: no task named {name!r}")
        if r.state == "done":
            raise ScheduleDivergence(f"step {i}: task {name} already finished "
                                     f"(schedule wants '{label}')")
        if r not in [c for c in ex.runs if ex._may_run(c)]:
            raise ScheduleDivergence(f"step {i}: task {name} is not runnable at "
                                     f"'{r.op[0]}' (schedule wants '{label}')")
        if r.op[0] != label:
            raise ScheduleDivergence(f"step {i}: task {name} is at '{r.op[0]}', "
                                     f"the schedule says '{label}'")
        st = ex.step(r)
        if observer is not None:
            observer(ex, st)
    while finish and not ex.done():
        ready = [c for c in ex.runs if c.state != "done" and ex._may_run(c)]
        if not ready:
            break
        st = ex.step(ready[0])
        if observer is not None:
            observer(ex, st)
    if not ex.done():
        raise ScheduleDivergence(f"step {len(steps)}: the schedule ended but tasks "
                                 f"remain: {ex.describe_blocked()}")
    return ex


def iter_labels(schedule: Schedule) -> Iterable[str]:
    for i, (t, l) in enumerate(schedule.steps):
        yield f"{i:4d} {t:<10} {l}"
