"""Conformance at page_events 1 (every event fills a page: the head is pushed and
the reader swaps on almost every write), where rb_move_tail and GET_READER race.

The recorded schedules (tests/schedules/*.json, rbmap-conform-schedule/1) are the
schedules ``rbmap conform --page-events 1`` stopped on, up to the mismatch; each
is replayed and then run to its end without preemption."""

import json
from pathlib import Path

import pytest

from rbmap.conform import explore_interleavings, model_for, replay_schedule
from rbmap.model_mutants import MUTANTS
from rbmap.model_mutants import applied as model_applied

pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")

SCHEDULES = Path(__file__).with_name("schedules")


def _doc(name):
    return json.loads((SCHEDULES / f"{name}.json").read_text())


@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_a_swap_inside_rb_move_tail_retries(variant):
    """The write on the full tail page sees the next page flagged HEAD, then
    GET_READER on another CPU swaps that page out: rb_handle_head_page's cmpxchg
    fails (RB_PAGE_MOVED), rb_move_tail resets the tail and the write retries with
    no tail move (the model's head_retry). Without the step the schedule has no
    linearization."""
    doc = _doc(f"head_retry.{variant}")
    steps, mm = replay_schedule(doc, finish=True)
    assert mm is None, mm.message
    assert steps == len(doc["schedule"]["steps"])
    bug = next(x for x in MUTANTS if x.name == "head_retry_dropped")
    with model_applied(bug):
        _, mm = replay_schedule(doc, finish=True)
    assert mm is not None and "writer move_tail" in mm.message


def test_first_map_ids_then_snapshot():
    """What the model leaves out (open): the first map numbers the pages from the
    head it finds (rb_set_head_page), and its rb_update_meta_page snapshot comes
    later, with a whole interrupt write (head push, tail move, commit) between
    them. The model's map is one step: no order gives the IDs from the old head
    and the snapshot's entries. (A model with the map split makes this fail.)"""
    _, mm = replay_schedule(_doc("first_map_split.upstream"), finish=True)
    assert mm is not None and "p0 map" in mm.message
    assert {n for n, _, _ in mm.diff} <= {"M_ENTRIES", "M_OVERRUN", "HCACHE", "FLAGS",
                                          "page1.id", "page2.id"}


def test_swap_reads_overrun_before_its_cmpxchg():
    """What the model leaves out (open): rb_get_reader_page loads
    cpu_buffer->overrun, then rb_head_page_replace's cmpxchg wants the HEAD flag
    on the pointer it finds (not the page it chose): a writer that pushes the head
    all the way round meanwhile (2 pages, 2 pushes) lets the swap succeed with
    the stale overrun, so last_overrun and lost_events miss the pushes. The
    model's swap reads the overrun it swaps with. (A model with the load as a
    step of its own makes this fail.)"""
    _, mm = replay_schedule(_doc("swap_overrun_aba.upstream"), finish=True)
    assert mm is not None and "p0 ioctl" in mm.message
    assert "LASTOV" in {n for n, _, _ in mm.diff}


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_page_events_1_interleavings(variant):
    """The interleavings at page_events 1 with one preemption run until one of the
    two open gaps above (the ring config, tests/test_conform_ring.py, starts the
    writer after the map)."""
    m = model_for(variant, dict(model_for(variant).config.to_dict(), page_events=1))
    out = explore_interleavings(m, 1, 3000)
    assert out.schedules > 40
    if out.mismatch is not None:
        assert "p0 map" in out.mismatch.message or "p0 ioctl" in out.mismatch.message
