"""A reader catching up with the writer (impl interleavings).

A mapped buffer whose reader page is the commit page; a writer (and an interrupt
write) reserving and committing on it; a reader on another CPU running several
GET_READER calls and trace_pipe_raw reads.  At every step: no reader swap takes
the page the writer is committing to (SwapWatch).  After each schedule: nothing
read twice, and every event read or counted lost, except the events the finding
below discards.

Finding: ``rb_get_reader_page`` compares ``reader_page->read`` with the commit size
it loaded, then loads ``commit_page``.  A writer on another CPU that fills the
reader page and moves its commit to the next page in between makes it swap out a
reader page holding committed, unread events: they are discarded, neither read
nor counted in overrun (``entries - overrun - read`` stays above 0).  GET_READER
is not exposed (its rb_per_cpu_empty loads commit_page first); trace_pipe_raw
reads (ring_buffer_read_page) are.
"""

from functools import partial

import pytest

from rbmap.impl import sched
from rbmap.impl.systems import SwapWatch, catching_up, drain_check
from rbmap.mutants import MUTANTS, applied

pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


def explore(pb=1, discarded_ok=True, **kw):
    watch = SwapWatch()
    res = sched.explore_dfs(catching_up(**kw), preemption_bound=pb, observer=watch,
                            check=partial(drain_check, discarded_ok=discarded_ok))
    return res, watch


def test_every_bound_1_schedule_keeps_the_swap_invariant():
    res, watch = explore()
    assert res.failure is None, res.failure
    assert res.complete and res.schedules > 400
    assert watch.swaps > 200 and watch.swaps_beside_writer > 20


TEXT = dict(ops=("read_pipe", "get_reader", "read_pipe"), size=1200, unread=1)


def test_get_reader_and_text_reads_lose_nothing():
    """GET_READER (rb_per_cpu_empty loads commit_page before the size) and the
    text reader (ring_buffer_empty_cpu before every peek) are not exposed: three
    events a page, one unread on the reader page when the text read starts."""
    res, watch = explore(discarded_ok=False, **TEXT)
    assert res.failure is None, res.failure
    assert res.complete and res.schedules > 600 and watch.schedules_discarding == 0


def test_the_text_readers_empty_check_is_what_protects_it():
    m = next(x for x in MUTANTS if x.name == "pipe_peeks_without_empty_check")
    with applied(m):
        res, watch = explore(discarded_ok=False, **TEXT)
    assert res.failure and "events lost by a reader swap" in res.failure


def test_text_reads_see_every_line():
    """The text reader's lines carry the events' numbers: the first schedule (the
    writes first, then the reader) reads every event as a trace_pipe line."""
    res = sched.explore_dfs(catching_up(ops=("read_pipe", "read_pipe")),
                            preemption_bound=0, max_schedules=1,
                            keep_finals=lambda ex: list(ex.system["seen"]))
    assert res.failure is None
    assert res.finals == [[0, 1000, 1001, 1002, 2000]]


def test_finding_a_pipe_read_discards_committed_events():
    """The shortest schedule: the read loads the reader page's commit (all of it
    read), the writer fills the page and moves on, the read swaps the page out."""
    res, watch = explore(discarded_ok=False, ops=("read_page",), nested=False,
                         writes=2)
    assert res.failure is not None
    assert "events lost by a reader swap: [1000]" in res.failure
    assert len(res.failing_schedule) == 136 and res.schedules <= 60
    labels = [f"{t} {lab}" for t, lab in res.failing_schedule.steps]
    first_commit = labels.index("reader buffer.bp1.commit load")
    swap = labels.index("reader reader_page store")
    between = labels[first_commit + 1:swap]
    assert "writer buffer.bp1.commit store" in between
    assert "writer commit_page store" in between
    ex = sched.replay(catching_up(ops=("read_page",), nested=False, writes=2),
                      res.failing_schedule)
    cb = ex.system["cb"]
    assert cb.entries.value - cb.overrun.value - cb.read == 1


def test_swap_commit_page_mutant_is_killed():
    """The catalogue's swap_commit_page (the reader swaps even when the reader
    page is the commit page): a pipe read while a write has counted its entry
    but not published it."""
    m = next(x for x in MUTANTS if x.name == "swap_commit_page")
    with applied(m):
        res, _ = explore()
    assert res.failure and "a reader swap took the commit page" in res.failure


@pytest.mark.slow
def test_bound_2():
    res, watch = explore(pb=2, ops=("read_page", "get_reader"))
    assert res.failure is None, res.failure
    assert res.complete and res.schedules > 10000
    print(res.schedules, watch.swaps, watch.schedules_discarding)
