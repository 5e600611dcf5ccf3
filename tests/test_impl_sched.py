"""The controlled scheduler: plain mode, interrupts, DFS, DPOR, random, replay."""

from __future__ import annotations

import json
import random

import pytest

from rbmap.impl import systems
from rbmap.impl.sched import (Cell, Deadlock, Schedule, ScheduleDivergence, SpinLock,
                              Task, explore_dfs, explore_dpor, replay, run_plain,
                              run_random, spin_until)


# ---------------------------------------------------------------------------
# toy programs over cells, for the explorers themselves
# ---------------------------------------------------------------------------

def toy(progs: dict, irq_of: str | None = None):
    """A factory for tasks running tiny programs of cell operations."""

    def factory():
        cells = [Cell(f"c{i}", 0) for i in range(4)]
        lock = SpinLock("L")
        tasks = []
        for name, prog in progs.items():
            def fn(s, prog=prog):
                reg = 0
                for op, ci, v in prog:
                    c = s["cells"][ci]
                    if op == "ld":
                        reg = reg * 7 + (yield from c.load())
                    elif op == "st":
                        yield from c.store(v + reg % 3)
                    elif op == "add":
                        reg += yield from c.add_return(v)
                    elif op == "cas":
                        reg += yield from c.cmpxchg(v, v + 1)
                    elif op == "lock":
                        yield from lock.acquire()
                    elif op == "unlock":
                        yield from lock.release()
                    elif op == "spin":
                        yield from spin_until("spin", lambda c=c: c.value >= 1, c)
                return reg
            tasks.append(Task(name, fn, interrupts=irq_of if name == "irq" else None))
        return {"cells": cells}, tasks

    return factory


def final(ex):
    return json.dumps([[c.value for c in ex.system["cells"]], ex.results()],
                      sort_keys=True)


def test_plain_mode_runs_a_generator_and_refuses_to_block():
    c = Cell("x", 1)
    assert run_plain(c.cmpxchg(1, 5)) == 1 and c.value == 5
    assert run_plain(c.add_return(2)) == 7
    lock = SpinLock("L")
    run_plain(lock.acquire())
    with pytest.raises(Deadlock):
        run_plain(lock.acquire())
    with pytest.raises(Deadlock):
        run_plain(spin_until("never", lambda: False))


def test_dfs_counts_interleavings_exactly():
    # two tasks of two steps each (plus a start step each): C(6,3) = 20 orders
    f = toy({"a": [("st", 0, 1), ("st", 1, 1)], "b": [("ld", 0, 0), ("ld", 1, 0)]})
    res = explore_dfs(f)
    assert res.complete and res.schedules == 20


def test_interrupt_runs_to_completion_before_the_interrupted_task_resumes():
    f = toy({"a": [("st", 0, 1), ("st", 1, 1), ("st", 2, 1)],
             "irq": [("ld", 0, 0), ("ld", 1, 0)]}, irq_of="a")
    orders = []
    res = explore_dfs(f, keep_finals=lambda ex: "".join(s.task[0] for s in ex.trace))
    assert res.complete
    orders = set(res.finals)
    for o in orders:
        i = o.index("i")
        assert o[i:i + 3] == "iii", o        # start + 2 steps, uninterrupted
        assert "a" in o[:i], o               # only after a started
    # it may start at each of a's 4 yield points (before each store, or after a)
    assert len(orders) == 4


def test_locks_block():
    f = toy({"a": [("lock", 0, 0), ("st", 0, 1), ("st", 0, 2), ("unlock", 0, 0)],
             "b": [("lock", 0, 0), ("ld", 0, 0), ("unlock", 0, 0)]})
    res = explore_dfs(f, keep_finals=final)
    # b reads 0 (before a) or a's final value, never the intermediate 1
    regs = {json.loads(x)[1]["b"] for x in res.finals}
    assert regs == {0, 2}


def test_dpor_finds_the_same_final_states_as_dfs_on_random_programs():
    rng = random.Random(7)
    ops = ["ld", "st", "add", "cas"]
    total_dfs = total_dpor = 0
    for trial in range(20):
        progs = {}
        names = ("a", "b", "irq") if trial % 2 else ("a", "b", "c")
        for name in names:
            prog = [(rng.choice(ops), rng.randrange(3), rng.randrange(3))
                    for _ in range(rng.randint(1, 3))]
            if trial % 5 == 0 and name in ("a", "b", "c"):
                prog = [("lock", 0, 0)] + prog + [("unlock", 0, 0)]
            if trial % 7 == 0 and name == "b":
                prog = [("spin", 3, 0)] + prog
            if trial % 7 == 0 and name == "a":
                prog = prog + [("st", 3, 1)]
            progs[name] = prog
        f = toy(progs, "a" if trial % 2 else None)
        dfs = explore_dfs(f, keep_finals=final)
        seen = set()
        dpor = explore_dpor(f, check=lambda ex: seen.add(final(ex)))
        assert dfs.complete and dpor.complete
        assert seen == set(dfs.finals), progs
        total_dfs += dfs.schedules
        total_dpor += dpor.schedules
    print(f"\n20 random programs: DFS {total_dfs} schedules, DPOR {total_dpor}")
    assert total_dpor < total_dfs


def test_dpor_all_interleavings_writer_nested_writer_get_reader_2_pages():
    """The acceptance run: one writer with one nested writer and one GET_READER
    on a mapped 2-page buffer, every interleaving up to independent steps."""
    f = systems.writer_reader(prefill=0, nested=True)
    res = explore_dpor(f, check=systems.drain_check)
    print(f"\nDPOR writer+irq+get_reader, 2 pages: {res.schedules} schedules, "
          f"depth {res.max_depth}, {res.elapsed:.1f} s")
    assert res.failure is None, res.failure
    assert res.complete and res.schedules > 100


def test_dpor_reaches_the_commit_overrun_notice_on_a_2_page_ring():
    """A writer crossing into the head page of a full 2-page ring pushes the head
    onto its own (commit) page; a GET_READER in that window swaps it in with
    missed events on the commit page while the tail has moved on.  6.12.117
    (ring_buffer_map_get_reader's commit-page branch) only logs a commit
    overrun: the lost events are counted in overrun, no page is flagged."""
    f = systems.writer_reader(prefill=8, nested=False)
    res = explore_dpor(f, check=lambda ex: systems.drain_check(ex, allow=()))
    assert res.failure and "commit overrun lost 4 events" in res.failure
    print(f"\nnotice reached after {res.schedules} DPOR schedules, "
          f"{len(res.failing_schedule)} steps")
    ex = replay(f, res.failing_schedule)
    recs = ex.system["buffer"].kmsg.records
    assert [(r["kind"], r["function"]) for r in recs] == \
        [("info", "ring_buffer_map_get_reader")]
    assert recs[0]["message"].startswith("Ring buffer [0] commit overrun lost 4 ")
    # with the notice allowed, the accounting still holds (sampled schedules)
    res = run_random(f, seed=1, runs=200, check=systems.drain_check)
    assert res.failure is None


def test_dpor_reaches_the_commit_page_warning_on_6_10():
    """The same window on 6.10: WARN_ON_ONCE(missed_events) whenever the new
    reader page is the commit page."""
    f = systems.writer_reader(prefill=8, nested=False, kernel="6.10")
    res = explore_dpor(f, check=lambda ex: systems.drain_check(ex, allow=()))
    assert res.failure and "WARNING: ring_buffer_map_get_reader" in res.failure
    ex = replay(f, res.failing_schedule)
    assert list(ex.system["buffer"].kmsg) == ["WARNING: ring_buffer_map_get_reader"]


def test_preemption_bounded_dfs():
    f = systems.writer_reader(prefill=7, nested=True)
    counts = {}
    for bound in (0, 1):
        res = explore_dfs(f, check=systems.drain_check, preemption_bound=bound)
        assert res.failure is None, res.failure
        assert res.complete
        counts[bound] = res.schedules
        print(f"\npreemption bound {bound}: {res.schedules} schedules, "
              f"{res.elapsed:.1f} s")
    assert counts[0] < counts[1]


def test_seeded_random_runs_are_deterministic():
    f = systems.writer_reader(prefill=7, nested=True)
    a = run_random(f, seed=3, runs=30, check=systems.drain_check)
    b = run_random(f, seed=3, runs=30, check=systems.drain_check)
    assert a.failure is None
    assert [s.steps for s in a.finals] == [s.steps for s in b.finals]
    c = run_random(f, seed=4, runs=30, check=systems.drain_check)
    assert [s.steps for s in a.finals] != [s.steps for s in c.finals]


def test_schedule_record_json_replay_round_trip(tmp_path):
    f = systems.writer_reader(prefill=7, nested=True)
    res = run_random(f, seed=11, runs=1)
    sched = res.finals[0]
    path = tmp_path / "schedule.json"
    path.write_text(sched.to_json())
    loaded = Schedule.from_json(path.read_text())
    assert loaded.steps == sched.steps
    ex1 = replay(f, loaded)
    ex2 = replay(f, loaded)
    assert ex1.schedule().steps == sched.steps
    assert ex1.system["cb"].state() == ex2.system["cb"].state()
    assert systems.drain_check(ex1) is None


def test_replay_fails_loudly_naming_the_step():
    f = systems.writer_reader(prefill=7, nested=True)
    sched = run_random(f, seed=5, runs=1).finals[0]
    bad = Schedule(list(sched.steps))
    t, _ = bad.steps[5]
    bad.steps[5] = (t, "something else")
    with pytest.raises(ScheduleDivergence, match="step 5"):
        replay(f, bad)
    with pytest.raises(ScheduleDivergence, match="schedule ended"):
        replay(f, Schedule(sched.steps[:-3]))
    with pytest.raises(ValueError):
        Schedule.from_json('{"steps": []}')
