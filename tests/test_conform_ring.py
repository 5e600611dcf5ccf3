"""The ring config: conformance where the writer overruns the head page while
the buffer is mapped and a page comes back as the reader page (the default
config does neither)."""

import pytest

from rbmap.conform import (RING_CONFIG, explore_interleavings, model_for, run_ring,
                           scenario_tasks)

# a schedule stopped at a failure leaves impl generators suspended inside
# try/finally blocks; their clean-up at garbage collection is not a finding
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_ring_config_conforms_and_covers_the_ring(variant):
    out = run_ring(variant)
    assert out["mismatches"] == [], out["mismatches"][0]["message"]
    # every model path of the whole BFS tree, among them paths that overrun
    # while mapped and paths where a page is the reader page a second time
    assert out["paths_overrun"] > 0 and out["paths_reader_back"] > 0
    # every impl interleaving with one preemption; the writer overruns in most
    assert out["interleavings_complete"] and out["interleavings_overrun"] > 0


def test_first_map_is_one_model_step():
    """What the ring found and the model leaves out: impl's (and the kernel's)
    first map assigns the page IDs, then takes the meta snapshot, then counts
    mapped++ (reader_lock held around the first two, not against the writer).
    A head push between them is in no model order: the model's map is one step.
    So the ring interleavings start the writer after the map; without that, the
    interleavings show it (a fix of the model makes this test fail: then drop
    map_first)."""
    m = model_for("upstream", RING_CONFIG)
    out = explore_interleavings(m, 1, 2000,
                                factory=scenario_tasks(m, rounds=3, map_first=False))
    assert out.mismatch is not None
    assert "p0 map" in out.mismatch.message and "writer move_tail" in \
        out.mismatch.message
    assert {n for n, _, _ in out.mismatch.diff} <= {"FLAGS", "M_OVERRUN", "IDS",
                                                     "page0.id", "page1.id",
                                                     "page2.id"}


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["upstream", "v2"])
def test_larger_ring_conforms(variant):
    """Four events: every model path (about 5,600 upstream) replayed on impl."""
    out = run_ring(variant, config=dict(RING_CONFIG, events=4))
    assert out["mismatches"] == [], out["mismatches"][0]["message"]
    assert out["paths_reader_back"] > 0
