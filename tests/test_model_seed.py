"""The seed's data_pages[] contract and its non-consuming reader checks.

The strict ``data_pages_in_ring_order`` is a design weakness the thread agrees on;
the seed's own contract (in order when the update ioctl returns) and the list's
integrity hold without a reset and fail with one; the thread's second proposal
for a non-consuming reader (the page's commit field / time stamp) is checked both
ways."""

from rbmap.checker import check_bfs
from rbmap.manifest import summary
from rbmap.model import build

SMALL = dict(pages=2, page_events=1, events=4, processes=1, nesting=1)
RESET = dict(pages=3, page_events=1, events=2, processes=1, nesting=1, resets=1,
             overwrite=False)
NC = dict(pages=2, page_events=1, events=3, processes=1, nesting=1, nc_readers=1)
DP = ("data_pages_in_ring_order", "data_pages_order_after_update",
      "data_pages_lists_ring")


def _run(variant, config, **rules):
    r = check_bfs(build(variant, rules=rules or None, **config))
    assert r.complete
    return r


def _verdicts(r, names):
    return {n: (r[n].status, len(r[n].path) if r[n].path is not None
                and r[n].status == "violated" else None) for n in names}


def test_stale_head_breaks_only_the_strict_reading():
    # overwrite pushes the head under the list: the strict reading fails; the
    # contract (after the update ioctl) and the list's integrity hold
    r = _run("v2", SMALL)
    v = _verdicts(r, DP)
    assert v["data_pages_in_ring_order"][0] == "violated"
    assert v["data_pages_order_after_update"] == ("holds", None)
    assert v["data_pages_lists_ring"] == ("holds", None)


def test_reset_while_mapped_breaks_the_seeds_contract():
    r = _run("v2", RESET)
    assert _verdicts(r, DP) == {
        "data_pages_in_ring_order": ("violated", 11),       # the reset itself
        "data_pages_order_after_update": ("violated", 14),  # an update after it
        "data_pages_lists_ring": ("violated", 19),          # the next swap
    }
    # the last step of each is the step the docstrings name
    assert r["data_pages_in_ring_order"].path.actions[-1] == ("kernel", "reset")
    assert r["data_pages_order_after_update"].path.actions[-1][1] == "update_meta"
    assert r["data_pages_lists_ring"].path.actions[-1][1] == "ioctl"


def test_reset_that_lists_the_ring_again_keeps_the_contract():
    r = _run("v2", RESET, reset_data_pages="relist")
    assert {n: s for n, (s, _) in _verdicts(r, DP).items()} == dict.fromkeys(
        DP, "holds")


def test_two_ring_pages_hide_the_reset_bug():
    # with two ring pages, the page a reset makes the head is the head already
    r = _run("v2", dict(RESET, pages=2))
    assert r["data_pages_order_after_update"].status == "holds"
    assert r["data_pages_lists_ring"].status == "holds"


def test_non_consuming_reader_checks_both_ways():
    # (the manifest's v2-nc-small, v2-nc-commit and v2-nc-commit-stamp: one
    # exploration each in a test run)
    name = "non_consuming_read_detects_overwrite"
    goal = "non_consuming_reader_drops_page"
    m = build("v2", **NC)
    assert goal in m.not_applicable()   # the seed's reader never drops a page
    seed = summary("v2", **NC)["properties"]
    assert seed[name]["status"] == "violated"
    assert seed[goal]["status"] == "n/a"
    commit = summary("v2", {"nc_check": "commit"}, **NC)["properties"]
    # the page was refilled to the commit the reader had seen (ABA on commit)
    assert commit[name] == {"status": "violated", "steps": 31}
    assert commit[goal]["status"] == "reached"
    stamp = summary("v2", {"nc_check": "commit_stamp"}, **NC)["properties"]
    assert stamp[name]["status"] == "holds"
    assert stamp[goal]["status"] == "reached"
