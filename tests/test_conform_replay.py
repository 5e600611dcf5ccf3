"""Model -> impl: every path of the BFS tree up to a depth, saved traces, the seed's
duplicate on v2 and not upstream."""

import json

import pytest
from click.testing import CliRunner

from rbmap.checker import Path, check_bfs
from rbmap.cli import main
from rbmap.conform import duplicate_demo, model_for, replay_path, replay_tree


@pytest.mark.parametrize("variant,depth", [("upstream", 12), ("v2", 11)])
def test_bfs_tree_replays_on_impl(variant, depth):
    traces, steps, mm = replay_tree(model_for(variant), depth)
    assert mm is None, mm and mm.message
    assert traces > 50 and steps > 500


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_whole_bfs_tree_replays_on_impl(variant):
    traces, steps, mm = replay_tree(model_for(variant), None)
    assert mm is None, mm and mm.message
    print(f"{variant}: {traces} paths, {steps} steps")


def test_counterexamples_replay_on_impl():
    m = model_for("v2")
    r = check_bfs(m)
    paths = [p.path for p in r.properties if p.path is not None]
    assert len(paths) >= 5
    for p in paths:
        assert replay_path(m, p.actions).mismatch is None


def test_s8_duplicate_shows_on_impl_v2_not_upstream():
    acts, rv2, got_v2, up, rup, got_up = duplicate_demo()
    assert rv2.mismatch is None and rup.mismatch is None
    # impl v2: the process decoded the same event twice from its mapping
    seqs = got_v2[0]
    assert len(seqs) != len(set(seqs)), seqs
    # impl upstream, the same user operations: it starts at reader.read
    assert rup.steps == len(up)
    assert len(got_up[0]) == len(set(got_up[0])), got_up


def test_saved_trace_round_trip(tmp_path):
    m = model_for("upstream")
    r = check_bfs(m, max_depth=9)
    path = r.exploration.path_to_id(len(r.exploration) - 1)
    f = tmp_path / "trace.json"
    cfg = m.config.to_dict()        # a saved path carries its model's config
    f.write_text(Path(0, path.actions, None, {"variant": "upstream",
                                              "config": cfg}).dumps())
    res = CliRunner().invoke(main, ["conform", "upstream", "--replay", str(f), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["traces_replayed"] == 1 and out["mismatches"] == []
    assert out["steps_checked"] == len(path.actions)


# When the writer moves off the reader page after the reader consumed all its
# events, rb_reset_tail pads the page and its commit grows to the full page:
# GET_READER then consumes the padding (reader_page->read < size) without a swap.
# Conformance found the model swapping here; the model now pads (a path from the
# model before it did, as the regression):
PADDING_PATH = [
    ("writer", "write_begin"), ("writer", "reserve"), ("writer", "commit"),
    ("writer", "write_begin"), ("writer", "move_tail"), ("writer", "end_commit_move"),
    ("writer", "reserve"), ("writer", "commit"), ("writer", "write_begin"),
    ("irq1", "write_begin"), ("p0", "map"), ("irq1", "move_tail"),
    ("irq1", "end_commit_move"), ("irq1", "reserve"), ("irq1", "commit"),
    ("p0", "read_meta"), ("p0", "ioctl"), ("writer", "move_tail"),
    ("writer", "end_commit_move"), ("p0", "read_meta"), ("p0", "read_event"),
    ("p0", "ioctl")]


def test_padding_on_the_reader_page():
    m = model_for("upstream", dict(pages=2, page_events=1, events=4, processes=1,
                                   nesting=2))
    acts = _complete(m, PADDING_PATH)
    res = replay_path(m, acts)
    assert res.mismatch is None, res.mismatch.message
    assert acts[-1] == ("p0", "ioctl") and res.steps == len(acts)


#: the steps of rb_set_commit_to_write at end_commit = "steps"
PUBLISH = ("publish_page", "commit_page_move", "walk_done", "publish_load",
           "publish", "published", "publish_again")
#: the steps the model has added since the paths below were recorded
LATER = ("commit_release", "commit_recheck", "end_commit_move", "retry",
         "publish_end", "ioctl_meta") + PUBLISH


def _complete(m, actions):
    """``actions`` with the steps the model has added since it was recorded
    inserted where the model needs them (a publish runs to its end before
    another actor's step, where the recorded path had it as one step)."""
    s = m.init_states()[0]
    out = []
    for a in actions:
        while True:
            succ = dict(m.successors(s))
            publishing = [b for b in succ if b[1] in PUBLISH and b[0] != a[0]]
            if a in succ and not publishing:
                break
            extra = publishing or [b for b in succ if b[0] == a[0] and b[1] in LATER]
            extra = extra or [b for b in succ if b[1] in LATER]
            assert extra, f"{a} is not enabled"
            out.append(extra[0])
            s = succ[extra[0]]
        out.append(a)
        s = succ[a]
    return out


LOST_EVENTS_PATH = [
    ("writer", "write_begin"), ("writer", "reserve"), ("writer", "commit"),
    ("writer", "commit_recheck"), ("p0", "map"), ("writer", "write_begin"),
    ("writer", "move_tail"), ("writer", "end_commit_move"), ("writer", "reserve"),
    ("writer", "commit"), ("writer", "commit_recheck"), ("writer", "write_begin"),
    ("writer", "move_tail"), ("writer", "end_commit_move"), ("p0", "read_meta"),
    ("p0", "ioctl")]


def test_lost_events_cut_the_padding():
    m = model_for("upstream", dict(pages=2, page_events=1, events=4, processes=1,
                                   nesting=1))
    acts = _complete(m, LOST_EVENTS_PATH)
    res = replay_path(m, acts)
    assert res.mismatch is None, res.mismatch.diff
