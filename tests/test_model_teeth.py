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
TEXT = dict(SMALL, processes=1, events=5, text_reads=1)
REFUSE = dict(SMALL, processes=1, events=2, refusals=True)

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
    "mapped_count_sane": ("upstream", {"vma_open": "ignores"},
                          dict(SMALL, fork=True, events=2),   # a twentieth of events 4
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
    # a 6.12 VMA copy that is not counted: its close unmaps an unmapped buffer
    # upstream itself (a finding): the 6.12.117 VMA copy's close, put_snapshot_map
    "no_kernel_warning": ("upstream", {}, dict(SMALL, processes=1, events=2, fork=True),
                          ("upstream", {"vma_open": "counts"})),
    # upstream itself (a finding): GET_READER racing the writer's page crossing
    "no_silent_commit_overrun": ("upstream", {}, SMALL,
                                 ("upstream", {"commit_page_loss": "warns"})),
    # upstream itself (a finding): 0 after every ioctl that swapped across a loss
    "meta_reader_lost_events": ("upstream", {}, SMALL,
                                ("upstream", {"meta_lost_events": "at_swap"})),
    # upstream itself (a finding): a trace_pipe read leaves the count pending
    "lost_events_reported_once": ("upstream", {}, TEXT,
                                  ("upstream", {"swap_lost_events": "always"})),
    # an mmap __rb_map_vma refuses, whose error path keeps resize_disabled
    "refused_call_changes_nothing": ("upstream", {"map_error": "keep_resize_disabled"},
                                     REFUSE, ("upstream", {})),
    "refusal_lifted_after_unmap": ("upstream", {"map_error": "keep_tr_mapped"},
                                   REFUSE, ("upstream", {})),
    # upstream itself (a finding): the 6.12.117 VMA copy is not in tr->mapped
    "snapshot_excludes_mapping": ("upstream", {}, dict(REFUSE, fork=True),
                                  ("upstream", {"vma_open": "counts"})),
    # a refresh that leaves one field alone (each meaning its own property)
    "meta_entries": ("upstream", {"meta_update": "no_entries"}, SMALL, ("upstream", {})),
    "meta_overrun": ("upstream", {"meta_update": "no_overrun"}, SMALL, ("upstream", {})),
    "meta_read": ("upstream", {"meta_update": "no_read"}, SMALL, ("upstream", {})),
    "meta_reader_id": ("upstream", {"meta_update": "no_reader_id"}, SMALL,
                       ("upstream", {})),
    "meta_reader_read": ("upstream", {"meta_update": "no_reader_read"}, SMALL,
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


# ------------------------------------------------------------- sometimes goals
# goal -> (a break under which it must be unreached, a setup where it is reached).
# A break is a (variant, rules, config) or the name of a model mutant (a broken
# step of rbmap.model_mutants) where no config or rule makes the goal impossible;
# an unreached goal at the break shows the goal's condition can be false
# everywhere, so a vacuous pass (a goal met by a condition that is always true)
# would show.
TINY = dict(pages=2, page_events=1, events=3, processes=1, nesting=2)
NC_ONE = dict(SMALL, processes=1, nc_readers=1, events=1)
GOAL_TEETH = {
    "event_delivered": (("upstream", {"get_reader": "no_meta_refresh"}, SMALL),
                        ("upstream", {}, SMALL)),
    "reader_swap_by_ioctl": ("reader_buffer_always_empty", ("upstream", {}, SMALL)),
    # (not applicable without overwrite; nothing is overwritten with two events
    # on two pages of one)
    "overrun_while_mapped": (("upstream", {}, dict(SMALL, events=2)),
                             ("upstream", {}, SMALL)),
    "second_process_maps_after_first": ("processes_never_exit",
                                        ("upstream", {}, SMALL)),
    "nested_write": (("upstream", {}, dict(TINY, events=1)), ("upstream", {}, TINY)),
    "writer_on_reader_page": ("reader_buffer_always_empty", ("upstream", {}, SMALL)),
    "non_consuming_reader_drops_page": (("v2-data-index", {}, NC_ONE),
                                        ("v2-data-index", {}, dict(NC_ONE, events=3))),
    # nothing is overwritten with two events on two pages of one
    "loss_flagged_in_page": (("upstream", {}, dict(SMALL, events=2)),
                             ("upstream", {}, SMALL)),
    "text_read_leaves_loss_pending": (("upstream", {}, dict(TEXT, events=2)),
                                      ("upstream", {}, TEXT)),
}


def _goal_status(setup, name):
    if isinstance(setup, str):       # a model mutant, at its own config
        from rbmap.model_mutants import MUTANTS, applied
        mt = next(x for x in MUTANTS if x.name == setup)
        variant, rules, config = mt.configs[0]
        with applied(mt):
            r = check_bfs(build(variant, rules=rules or None, **config))
        assert r.complete
        return r[name].status
    return _status(*setup, name)


def test_every_goal_has_teeth_listed():
    goals = {p.name for p in SPECS if p.kind == "sometimes"}
    assert goals == set(GOAL_TEETH)


@pytest.mark.parametrize("name", sorted(GOAL_TEETH))
def test_goal_unreached_under_its_break(name):
    assert _goal_status(GOAL_TEETH[name][0], name) == "unreached"


@pytest.mark.parametrize("name", sorted(GOAL_TEETH))
def test_goal_reached_without_the_break(name):
    assert _goal_status(GOAL_TEETH[name][1], name) == "reached"


# --------------------------------------------------------- eventually (liveness)
# property -> manifest entries under which it must be violated (a broken rule or
# an assumption dropped) and entries under which it must hold. The manifest
# records each one's extent (terminal components, violating components and
# states, counterexample length), so a change of the extent alone (a liveness
# property that covers less, a step that strands fewer events) shows there.
EVENTUALLY_TEETH = {
    "every_event_delivered_or_counted": {
        # the seed's ioctl marks events appended after the user's last look as
        # read and swaps the page away; a process exits with consumed events
        # unread; two consumers at once; libtracefs's "no data" GET_READER (L2)
        "violated": ["v2-stranded", "upstream-crash", "upstream-concurrent-small",
                     "upstream-libtracefs"],
        "holds": ["upstream-stranded", "upstream-small", "upstream-tiny",
                  "upstream-tiny-fine"],
    },
}


def _entries():
    from rbmap.manifest import load_entries
    return {e["name"]: e for e in load_entries()}


def test_every_liveness_property_has_teeth_listed():
    live = {p.name for p in SPECS if p.kind == "eventually"}
    assert live == set(EVENTUALLY_TEETH)


@pytest.mark.parametrize("name", sorted(EVENTUALLY_TEETH))
def test_liveness_violated_with_its_extent(name):
    entries = _entries()
    for e in EVENTUALLY_TEETH[name]["violated"]:
        got = summary(entries[e]["variant"], entries[e].get("rules"),
                      **entries[e]["config"])["properties"][name]
        assert got["status"] == "violated", e
        # the extent: a shortest path into a terminal component that never
        # delivers or counts everything, and how much of the terminal graph
        assert got["steps"] > 0 and got["violating_components"] >= 1, e
        assert got["violating_states"] >= got["violating_components"], e
        assert got["terminal_components"] >= got["violating_components"], e
        # ... as the manifest records it (rbmap manifest names a change of it)
        rec = entries[e]["properties"][name]
        assert {"steps", "violating_components", "terminal_components"} <= set(rec)


@pytest.mark.parametrize("name", sorted(EVENTUALLY_TEETH))
def test_liveness_holds_without_the_break(name):
    entries = _entries()
    for e in EVENTUALLY_TEETH[name]["holds"]:
        got = summary(entries[e]["variant"], entries[e].get("rules"),
                      **entries[e]["config"])["properties"][name]
        # judged on terminal components that exist (not a vacuous hold)
        assert got["status"] == "holds" and got["terminal_components"] > 0, e
        assert got["violating_components"] == 0 == got["violating_states"], e
