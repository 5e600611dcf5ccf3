"""impl -> model: impl's interleavings linearize to model paths."""

import json

import pytest

from rbmap.conform import (explore_interleavings, model_for, replay_schedule,
                           save_schedule, scenario_tasks)
from rbmap.impl import sched
from rbmap.mutants import MUTANTS, applied

# a schedule stopped at a failure leaves impl generators suspended inside
# try/finally blocks; their clean-up at garbage collection is not a finding
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_sequential_schedules_linearize(variant):
    out = explore_interleavings(model_for(variant), preemptions=0)
    assert out.mismatch is None, out.mismatch and out.mismatch.message
    assert out.complete and out.schedules >= 3 and out.checks > 50


@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_all_preemption_bound_1_schedules_linearize(variant):
    """The acceptance check: every schedule with at most one preemption (writer,
    a nested write, a process mapping, reading, calling GET_READER, unmapping)."""
    out = explore_interleavings(model_for(variant), preemptions=1, schedules=3000)
    assert out.mismatch is None, out.mismatch and out.mismatch.message
    assert out.complete and out.schedules > 500


def test_coarse_model_cannot_express_impl():
    """With the publish as one step (granularity "coarse") the model lacks impl's
    schedules: an interrupt after the outermost commit loaded cpu_buffer->commits
    is nested, and its event reaches the reader through the outer writer's walk
    (the reason for granularity "fine", the one conformance is checked at)."""
    cfg = dict(model_for("upstream").config.to_dict(), granularity="coarse")
    out = explore_interleavings(model_for("upstream", cfg), preemptions=1,
                                schedules=3000)
    assert out.mismatch is not None
    assert "no order of the completed model steps" in out.mismatch.message
    assert "irq1 commit" in out.mismatch.message and "writer commit" in \
        out.mismatch.message


def test_an_impl_bug_breaks_linearizability():
    m = model_for("upstream")
    bug = next(x for x in MUTANTS if x.name == "pages_touched_not_counted")
    with applied(bug):
        out = explore_interleavings(m, preemptions=0)
    assert out.mismatch is not None
    assert "no order of the completed model steps" in out.mismatch.message


def test_failing_schedule_round_trip(tmp_path):
    m = model_for("upstream")
    bug = next(x for x in MUTANTS if x.name == "pages_touched_not_counted")
    with applied(bug):
        out = explore_interleavings(m, preemptions=0)
        f = tmp_path / "s.json"
        save_schedule(str(f), "upstream", dict(m.config.to_dict()), out.mismatch)
        doc = json.loads(f.read_text())
        steps, mm = replay_schedule(doc)
    assert mm is not None and steps == len(json.loads(out.mismatch.schedule)["steps"])
    assert mm.diff == out.mismatch.diff


def test_scenario_tasks_follow_the_config():
    m = model_for("upstream")
    system, tasks = scenario_tasks(m)()
    assert [t.name for t in tasks] == ["writer", "irq1", "p0"]
    assert tasks[1].interrupts == "writer"
    assert all(isinstance(t, sched.Task) for t in tasks)
