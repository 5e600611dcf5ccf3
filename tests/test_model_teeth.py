"""Every always-property has teeth: a broken rule or config that violates it, while
the same config without the break does not. (A property that cannot fail is a
defect.)"""

import pytest

from rbmap.checker import check_bfs
from rbmap.model import build
from rbmap.manifest import summary
from rbmap.model.properties import SPECS

SMALL = dict(pages=2, page_events=1, events=4, processes=2, nesting=1)
# the seed's reset bug needs a third ring page (with two, the head a reset restores
# is the one a swap left)
SEED_RESET = dict(pages=3, page_events=1, events=2, processes=1, nesting=1, resets=1,
                  overwrite=False)

# property -> (variant, rules that break it, config that breaks it, base variant/rules
# that hold it on the same config)
TEETH = {
    "no_duplicate_delivery": ("v2", {}, SMALL, ("upstream", {})),
    "no_unaccounted_loss": ("upstream", {}, dict(SMALL, crash=True), ("upstream", {})),
    "no_torn_read": ("upstream", {}, dict(SMALL, consumers="concurrent", events=3),
                     ("upstream", {})),
    "meta_reader_id_after_ioctl": ("upstream", {"get_reader": "no_meta_refresh"}, SMALL,
                                   ("upstream", {})),
    "page_ids_bijection": ("upstream", {"ids": "skip_reader"}, SMALL, ("upstream", {})),
    "data_pages_in_ring_order": ("v2", {}, SMALL, ("v2", {})),  # holds with --no-overwrite
    "data_pages_order_after_update": ("v2", {}, SEED_RESET,
                                      ("v2", {"reset_data_pages": "relist"})),
    "data_pages_lists_ring": ("v2", {}, SEED_RESET,
                              ("v2", {"reset_data_pages": "relist"})),
    "meta_counters_monotonic": ("v2", {}, dict(SMALL, processes=1, nesting=2),
                                ("v2", {})),  # holds with nesting 1
    "mapped_count_sane": ("upstream", {"vma_open": "ignores"}, dict(SMALL, fork=True),
                          ("upstream", {"vma_open": "counts"})),
    "resize_refused_while_mapped": ("upstream", {"resize_mapped": "allow"}, SMALL,
                                    ("upstream", {})),
    "swap_cpu_refused_while_mapped": ("upstream", {"swap_cpu_mapped": "allow"}, SMALL,
                                      ("upstream", {})),
    "mapped_pages_stay": ("upstream", {"read_page_mapped": "swap"},
                          dict(SMALL, consumers="concurrent", pipe_reads=1, events=2),
                          ("upstream", {})),
    "map_fault_in_bounds": ("upstream", {"map_fault": "off_by_one"}, SMALL,
                            ("upstream", {})),
    "non_consuming_read_detects_overwrite": (
        "v2", {}, dict(SMALL, processes=1, nc_readers=1, events=3),
        ("v2-data-index", {})),
}

# where the "holds" side needs a different config than the breaking one
HOLDS_CONFIG = {
    "data_pages_in_ring_order": dict(SMALL, overwrite=False),
    "meta_counters_monotonic": dict(SMALL, processes=1, nesting=1),
}


def _status(variant, rules, config, name):
    # one exploration per config in a test run (the manifest's entries too)
    got = summary(variant, rules or None, **config)
    assert got["complete"]
    return got["properties"][name]["status"]


def test_every_always_property_has_teeth_listed():
    always = {p.name for p in SPECS if p.kind == "always"}
    assert always == set(TEETH)


@pytest.mark.parametrize("name", sorted(TEETH))
def test_broken_variant_violates(name):
    variant, rules, config, _ = TEETH[name]
    assert _status(variant, rules, config, name) == "violated"


@pytest.mark.parametrize("name", sorted(TEETH))
def test_unbroken_variant_holds(name):
    _, _, config, (variant, rules) = TEETH[name]
    config = HOLDS_CONFIG.get(name, config)
    if name == "no_torn_read":  # concurrent consumers are the break itself
        config = SMALL
    if name == "no_unaccounted_loss":
        config = SMALL
    assert _status(variant, rules, config, name) == "holds"


def test_deadlock_never_reached_on_shipped_variants():
    for v in ("v2", "v3-read", "upstream"):
        assert _status(v, {}, SMALL, "deadlock") == "holds"


def test_deadlock_check_has_teeth():
    """A state where nothing can move but a write is still in flight is stuck."""
    m = build("upstream", **SMALL)
    s = list(m.init_states()[0])
    s[m.WPH] = 1
    s[15] = 1  # WDEPTH: a write in flight
    assert not m.terminal_ok(tuple(s))
    done = list(m.init_states()[0])
    for k in m._ph_slots:
        done[k] = 5  # P_EXITED
    assert m.terminal_ok(tuple(done))


def test_eventually_has_teeth():
    # the seed's ioctl marks events appended after the user's last look as read
    # and swaps the page away: they are never delivered
    cfg = dict(pages=2, page_events=2, events=5, processes=1, nesting=1)
    r = check_bfs(build("v2", **cfg))
    assert r["every_event_delivered_or_counted"].status == "violated"
    r = check_bfs(build("upstream", **cfg))
    assert r["every_event_delivered_or_counted"].status == "holds"
