"""The refinement map: geometry, the initial state, and a wrong map or a one-line
impl bug caught with a readable report."""

import pytest

from rbmap.conform import format_mismatch, model_for, replay_path
from rbmap.impl import event as ev
from rbmap.model import protocol as P
from rbmap.mutants import MUTANTS, applied
from rbmap.refinement import (ImplSystem, Unsupported, abstract, choose_geometry,
                              data_seqs, state_diff)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_geometry_fits_exactly_k_events(k):
    g = choose_geometry(k)
    assert ev.rb_calculate_event_length(g.payload_len) == g.event_len
    # k events fit even when each carries an 8-byte absolute time stamp ...
    assert k * (g.event_len + ev.RB_LEN_TIME_EXTEND) <= g.capacity
    # ... and k + 1 never fit
    assert (k + 1) * g.event_len > g.capacity
    assert g.page_size >= 256 and g.page_size & (g.page_size - 1) == 0


@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_initial_states_agree(variant):
    m = model_for(variant)
    sysm = ImplSystem(m)
    assert state_diff(m, m.init_states()[0], abstract(sysm)) == []


#: one write by the outermost writer, start to end, at end_commit = "steps"
WRITE = [("writer", a) for a in (
    "write_begin", "reserve", "commit", "walk_done", "publish_load", "publish",
    "published", "publish_end", "commit_release", "commit_recheck")]


def test_events_carry_their_sequence_numbers():
    m = model_for("upstream")
    sysm = ImplSystem(m)
    s = m.init_states()[0]
    for a in WRITE + WRITE[:3]:
        s = dict(m.successors(s))[a]
        sysm.do(a)
    assert state_diff(m, s, abstract(sysm)) == []
    page = sysm.cb.tail_page.value.page
    assert data_seqs(page.buf, sysm.geo.capacity, sysm.geo.capacity) == [0, 1]
    s = abstract(sysm)
    assert s[P.SEQ] == 2 and s[P.ENTRIES] == 2


def test_v3_read_is_not_implemented():
    with pytest.raises(Unsupported, match="v3-read"):
        ImplSystem(model_for("v3-read"))


PATH = WRITE + [("p0", "map"), ("p0", "read_meta"), ("p0", "ioctl"),
                ("p0", "ioctl_meta"), ("p0", "read_meta"), ("p0", "read_event")]
IOCTL = PATH.index(("p0", "ioctl")) + 1      # its 1-based step number


def test_path_conforms():
    res = replay_path(model_for("upstream"), PATH)
    assert res.mismatch is None and res.steps == len(PATH)


def test_one_line_impl_bug_is_caught_with_a_readable_report():
    m = model_for("upstream")
    bug = next(x for x in MUTANTS if x.name == "advance_reader_no_count")
    with applied(bug):
        res = replay_path(m, PATH, "rbmap conform upstream --replay t.json")
    mm = res.mismatch
    assert mm is not None and mm.kind == "state"
    assert mm.step == IOCTL and mm.action == ("p0", "ioctl")
    names = {n for n, _, _ in mm.diff}
    assert "READCNT" in names
    text = format_mismatch(m, mm)
    assert f"MISMATCH (state) at step {IOCTL}: p0 ioctl" in text
    assert f">> {IOCTL:2d}  p0      ioctl" in text
    assert "* read " in text and "replay: rbmap conform upstream --replay t.json" in text
    # the patch is gone again
    assert replay_path(m, PATH).mismatch is None


def test_wrong_refinement_is_caught(monkeypatch):
    import rbmap.conform as C
    import rbmap.refinement as R
    real = R.abstract

    def wrong(sysm, writer_gens=None):
        # a map that reads cpu_buffer->read where it should read entries
        s = list(real(sysm, writer_gens))
        s[P.ENTRIES] = sysm.cb.read
        return tuple(s)

    monkeypatch.setattr(C, "abstract", wrong)
    m = model_for("upstream")
    mm = replay_path(m, PATH).mismatch
    assert mm is not None and mm.step == 3 and mm.action == ("writer", "commit")
    assert ("ENTRIES", 1, 0) in mm.diff
