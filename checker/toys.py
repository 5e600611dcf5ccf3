"""Small models that test and time the checker (nothing here is about ring buffers).

Each has a known, exact state space:

- :class:`Counters` — ``n`` independent counters ``0..limit``:
  ``(limit + 1) ** n`` states.
- :class:`Clock` — one hour hand going round ``hours`` positions.
- :class:`Peterson` — Peterson's mutual exclusion for two processes, with
  a correct variant, one that sets ``turn`` before the flag (mutual exclusion
  broken) and one without ``turn`` (deadlocks).
- :class:`LostUpdate` — ``n`` processes increment a shared counter by a
  non-atomic read then write (stateright style: ``actions``/``next_state``).
- :class:`TwoPhaseCommit` — Lamport's TwoPhase specification (288 distinct
  states with 3 resource managers, as TLC reports).
- :class:`Retry` — a process that retries until done; the ``livelock``
  variant can end up looping without ever finishing.

The same two written as steps (:mod:`rbmap.checker.steps`), so that the
interpreted and the compiled engine can be held to the hand-written models:
:class:`StepPeterson` (state for state, action for action :class:`Peterson`)
and :class:`StepRetry`.
"""

from __future__ import annotations

from .properties import always, eventually, sometimes

__all__ = ["Counters", "Clock", "Peterson", "LostUpdate", "TwoPhaseCommit", "Retry",
           "StepPeterson", "StepRetry"]


class Counters:
    """``n`` counters, each incremented up to ``limit`` by its own process."""

    def __init__(self, n: int = 2, limit: int = 3) -> None:
        self.n, self.limit = n, limit

    def init_states(self):
        return [(0,) * self.n]

    def successors(self, s):
        out = []
        for i, v in enumerate(s):
            if v < self.limit:
                out.append((("inc", i), s[:i] + (v + 1,) + s[i + 1:]))
        return out

    def terminal_ok(self, s):
        return all(v == self.limit for v in s)

    def actor(self, a):
        return f"p{a[1]}"

    def view(self, s):
        return {f"count[{i}]": v for i, v in enumerate(s)}

    def properties(self):
        limit = self.limit

        @always("bounded")
        def bounded(s):
            """No counter passes its limit."""
            return max(s) <= limit

        @sometimes("all_done")
        def all_done(s):
            """Every counter reaches its limit."""
            return min(s) == limit

        return [bounded, all_done]


class Clock:
    """An hour hand: ``tick`` moves it one position, round and round."""

    def __init__(self, hours: int = 12) -> None:
        self.hours = hours

    def init_states(self):
        return [0]

    def actions(self, s):
        return [("tick",)]

    def next_state(self, s, a):
        return (s + 1) % self.hours

    def properties(self):
        hours = self.hours

        @always("in_range")
        def in_range(s):
            """The hand points at an hour of the dial."""
            return 0 <= s < hours

        @sometimes("last_hour")
        def last_hour(s):
            """The hand reaches the last hour."""
            return s == hours - 1

        @sometimes("beyond_dial")
        def beyond_dial(s):
            """The hand leaves the dial (never)."""
            return s >= hours

        return [in_range, last_hour, beyond_dial]


# Peterson program counters.
IDLE, FLAG_SET, TURN_SET, CRITICAL = 0, 1, 2, 3


class Peterson:
    """Peterson's algorithm; state ``(pc0, pc1, flag0, flag1, turn)``.

    Each process: ``flag[i] = 1``; ``turn = other``; wait until
    ``flag[other] == 0 or turn == i``; critical section; ``flag[i] = 0``.

    Parameters
    ----------
    variant : {"ok", "turn_first", "no_turn"}
        ``turn_first`` sets ``turn`` before its flag (breaks mutual
        exclusion); ``no_turn`` waits on the flag alone (deadlocks).
    """

    VARIANTS = ("ok", "turn_first", "no_turn")

    def __init__(self, variant: str = "ok") -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown Peterson variant {variant!r}")
        self.variant = variant

    def init_states(self):
        return [(IDLE, IDLE, 0, 0, 0)]

    def _step(self, s, i):
        pc = list(s[:2])
        flag = list(s[2:4])
        turn = s[4]
        other = 1 - i
        p = pc[i]
        if p == IDLE:
            if self.variant == "turn_first":
                turn = other
            else:
                flag[i] = 1
            pc[i] = FLAG_SET if self.variant != "no_turn" else TURN_SET
            name = "set_turn" if self.variant == "turn_first" else "set_flag"
        elif p == FLAG_SET:
            if self.variant == "turn_first":
                flag[i] = 1
                name = "set_flag"
            else:
                turn = other
                name = "set_turn"
            pc[i] = TURN_SET
        elif p == TURN_SET:
            free = flag[other] == 0 if self.variant == "no_turn" else (
                flag[other] == 0 or turn == i)
            if not free:
                return None
            pc[i] = CRITICAL
            name = "enter"
        else:
            flag[i] = 0
            pc[i] = IDLE
            name = "leave"
        return (name, i), (pc[0], pc[1], flag[0], flag[1], turn)

    def successors(self, s):
        out = []
        for i in (0, 1):
            step = self._step(s, i)
            if step is not None:
                out.append(step)
        return out

    def actor(self, a):
        return f"p{a[1]}"

    def view(self, s):
        return {"pc[0]": s[0], "pc[1]": s[1], "flag[0]": s[2], "flag[1]": s[3], "turn": s[4]}

    def properties(self):
        @always("mutual_exclusion")
        def mutual_exclusion(s):
            """At most one process is in its critical section."""
            return not (s[0] == CRITICAL and s[1] == CRITICAL)

        @sometimes("p0_critical")
        def p0_critical(s):
            """Process 0 enters its critical section."""
            return s[0] == CRITICAL

        return [mutual_exclusion, p0_critical]


class LostUpdate:
    """``n`` processes each do ``tmp = x; x = tmp + 1`` once (non-atomic).

    State ``(x, pc_0, tmp_0, ..., pc_{n-1}, tmp_{n-1})``, pc 0 = before the
    read, 1 = before the write, 2 = done. The ``sometimes`` property
    ``lost_update`` finds the classic race.
    """

    def __init__(self, n: int = 2) -> None:
        self.n = n

    def init_states(self):
        return [(0,) + (0, 0) * self.n]

    def actions(self, s):
        out = []
        for i in range(self.n):
            pc = s[1 + 2 * i]
            if pc == 0:
                out.append(("read", i))
            elif pc == 1:
                out.append(("write", i))
        return out

    def next_state(self, s, a):
        name, i = a
        j = 1 + 2 * i
        if name == "read" and s[j] == 0:
            return s[:j] + (1, s[0]) + s[j + 2:]
        if name == "write" and s[j] == 1:
            return (s[j + 1] + 1,) + s[1:j] + (2, s[j + 1]) + s[j + 2:]
        return None

    def terminal_ok(self, s):
        return all(s[1 + 2 * i] == 2 for i in range(self.n))

    def actor(self, a):
        return f"p{a[1]}"

    def view(self, s):
        v = {"x": s[0]}
        for i in range(self.n):
            v[f"p{i}.pc"] = s[1 + 2 * i]
            v[f"p{i}.tmp"] = s[2 + 2 * i]
        return v

    def properties(self):
        n = self.n

        def done(s):
            return all(s[1 + 2 * i] == 2 for i in range(n))

        @sometimes("lost_update")
        def lost_update(s):
            """Every process is done but the counter is short."""
            return done(s) and s[0] < n

        @eventually("all_done")
        def all_done(s):
            """Every process finishes."""
            return done(s)

        @always("x_bounded")
        def x_bounded(s):
            """The counter never exceeds the number of processes."""
            return s[0] <= n

        return [x_bounded, lost_update, all_done]


# TwoPhase constants: resource manager and transaction manager states.
WORKING, PREPARED, COMMITTED, ABORTED = 0, 1, 2, 3
TM_INIT, TM_COMMITTED, TM_ABORTED = 0, 1, 2


class TwoPhaseCommit:
    """Lamport's TwoPhase specification with ``n`` resource managers.

    Flat state: ``rm_state[0..n-1], tm_state, tm_prepared[0..n-1],
    msg_prepared[0..n-1], msg_commit, msg_abort``. As in TLC, an action
    whose effect leaves the state unchanged (receiving a message twice) is
    still an enabled transition, a self loop.
    """

    def __init__(self, n: int = 3) -> None:
        self.n = n
        self.TM = n
        self.TP = n + 1
        self.MP = 2 * n + 1
        self.MC = 3 * n + 1
        self.MA = 3 * n + 2

    def init_states(self):
        return [(WORKING,) * self.n + (TM_INIT,) + (0,) * (2 * self.n) + (0, 0)]

    def successor_states(self, s):
        return [t for _, t in self.successors(s)]

    def successors(self, s):
        n, TM, TP, MP, MC, MA = self.n, self.TM, self.TP, self.MP, self.MC, self.MA
        out = []
        tm = s[TM]
        if tm == TM_INIT:
            for r in range(n):
                if s[MP + r]:
                    out.append((("tm_rcv_prepared", r), s[:TP + r] + (1,) + s[TP + r + 1:]))
            if all(s[TP:TP + n]):
                out.append((("tm_commit",), s[:TM] + (TM_COMMITTED,) + s[TM + 1:MC] + (1, s[MA])))
            out.append((("tm_abort",), s[:TM] + (TM_ABORTED,) + s[TM + 1:MA] + (1,)))
        for r in range(n):
            if s[r] == WORKING:
                out.append((("rm_prepare", r),
                            s[:r] + (PREPARED,) + s[r + 1:MP + r] + (1,) + s[MP + r + 1:]))
                out.append((("rm_choose_to_abort", r), s[:r] + (ABORTED,) + s[r + 1:]))
            if s[MC]:
                out.append((("rm_rcv_commit", r), s[:r] + (COMMITTED,) + s[r + 1:]))
            if s[MA]:
                out.append((("rm_rcv_abort", r), s[:r] + (ABORTED,) + s[r + 1:]))
        return out

    def actor(self, a):
        return "tm" if a[0].startswith("tm") else f"rm{a[1]}"

    def view(self, s):
        v = {f"rm[{r}]": ("working", "prepared", "committed", "aborted")[s[r]]
             for r in range(self.n)}
        v["tm"] = ("init", "committed", "aborted")[s[self.TM]]
        v["tm_prepared"] = "".join(str(b) for b in s[self.TP:self.TP + self.n])
        v["msgs.prepared"] = "".join(str(b) for b in s[self.MP:self.MP + self.n])
        v["msgs.commit"] = s[self.MC]
        v["msgs.abort"] = s[self.MA]
        return v

    def check_state(self, s):
        rms = s[:self.n]
        return 0 if COMMITTED in rms and ABORTED in rms else -1

    def properties(self):
        n = self.n

        @always("consistent")
        def consistent(s):
            """No resource manager commits while another aborts (TPConsistent)."""
            rms = s[:n]
            return not (COMMITTED in rms and ABORTED in rms)

        @sometimes("all_committed")
        def all_committed(s):
            """Every resource manager commits."""
            return all(v == COMMITTED for v in s[:n])

        return [consistent, all_committed]


class Retry:
    """A task that tries, may fail and retry, and finishes; state ``(where,)``.

    ``0`` idle, ``1`` trying, ``2`` done (terminal). ``try`` goes 0 -> 1,
    ``fail`` 1 -> 0, ``succeed`` 1 -> 2. With ``livelock=True`` a ``stall``
    goes 0 -> 3 and the task then bounces between 3 and 4 forever.
    """

    def __init__(self, livelock: bool = False) -> None:
        self.livelock = livelock

    def init_states(self):
        return [(0,)]

    def successors(self, s):
        w = s[0]
        if w == 0:
            out = [(("try",), (1,))]
            if self.livelock:
                out.append((("stall",), (3,)))
            return out
        if w == 1:
            return [(("fail",), (0,)), (("succeed",), (2,))]
        if w == 3:
            return [(("bounce",), (4,))]
        if w == 4:
            return [(("bounce",), (3,))]
        return []

    def terminal_ok(self, s):
        return s[0] == 2

    def properties(self):
        @eventually("finishes")
        def finishes(s):
            """The task ends done."""
            return s[0] == 2

        return [finishes]


# ---------------------------------------------------------------- as steps
from .steps import StepMachine, require, step  # noqa: E402


@step("p", name="set_flag")
def _set_flag(m, s, i):
    """Process i raises its flag (after turn in turn_first, first otherwise)."""
    require(s.pc[i] == (FLAG_SET if m.turn_first else IDLE))
    s.flag[i] = 1
    s.pc[i] = TURN_SET if m.turn_first or m.no_turn else FLAG_SET


@step("p", name="set_turn")
def _set_turn(m, s, i):
    """Process i gives the turn to the other one."""
    require(not m.no_turn)
    require(s.pc[i] == (IDLE if m.turn_first else FLAG_SET))
    s.turn = 1 - i
    s.pc[i] = FLAG_SET if m.turn_first else TURN_SET


@step("p", name="enter")
def _enter(m, s, i):
    """Process i enters once the other's flag is down (or the turn is its own)."""
    require(s.pc[i] == TURN_SET)
    require(s.flag[1 - i] == 0 or (not m.no_turn and s.turn == i))
    s.pc[i] = CRITICAL


@step("p", name="leave")
def _leave(m, s, i):
    """Process i leaves and lowers its flag."""
    require(s.pc[i] == CRITICAL)
    s.flag[i] = 0
    s.pc[i] = IDLE


@always("mutual_exclusion")
def _mutual_exclusion(m, s):
    """At most one process is in its critical section."""
    return not (s.pc[0] == CRITICAL and s.pc[1] == CRITICAL)


@sometimes("p0_critical")
def _p0_critical(m, s):
    """Process 0 enters its critical section."""
    return s.pc[0] == CRITICAL


class StepPeterson(StepMachine):
    """:class:`Peterson` written as steps (the same states, ids and actions)."""

    name = "peterson"
    VARIANTS = Peterson.VARIANTS

    def __init__(self, variant: str = "ok") -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown Peterson variant {variant!r}")
        self.variant = variant
        self.turn_first = variant == "turn_first"
        self.no_turn = variant == "no_turn"
        super().__init__()

    def declare(self, st) -> None:
        st.array("pc", 2, 4, doc="idle, flag set, turn set, critical")
        st.array("flag", 2, 2)
        st.slot("turn", 2)

    def steps(self):
        out = []
        for i in (0, 1):
            for st in (_set_flag, _set_turn, _enter, _leave):
                out.append(self.bind(st, i, actor=f"p{i}", action=(st.name, i)))
        return out

    def actor(self, a):
        return f"p{a[1]}"

    def format_action(self, a):
        return f"{a[0]}({a[1]})"

    def property_list(self):
        return [_mutual_exclusion, _p0_critical]


@step("task", name="try")
def _try(m, s):
    """Start an attempt."""
    require(s.where == 0)
    s.where = 1


@step("task")
def stall(m, s):
    """The livelock variant's way into the loop it never leaves."""
    require(m.livelock and s.where == 0)
    s.where = 3


@step("task")
def fail(m, s):
    """The attempt fails: idle again."""
    require(s.where == 1)
    s.where = 0


@step("task")
def succeed(m, s):
    """The attempt succeeds: done."""
    require(s.where == 1)
    s.where = 2


@step("task")
def bounce(m, s):
    """Between the two states of the livelock."""
    require(s.where >= 3)
    s.where = 7 - s.where


@eventually("finishes")
def _finishes(m, s):
    """The task ends done."""
    return s.where == 2


class StepRetry(StepMachine):
    """:class:`Retry` written as steps."""

    name = "retry"

    def __init__(self, livelock: bool = False) -> None:
        self.livelock = livelock
        super().__init__()

    def declare(self, st) -> None:
        st.slot("where", 5, doc="0 idle, 1 trying, 2 done, 3/4 the livelock")

    def steps(self):
        return [_try, stall, fail, succeed, bounce]

    def finished(self, s):
        """Done is a proper end."""
        return s.where == 2

    def property_list(self):
        return [_finishes]
