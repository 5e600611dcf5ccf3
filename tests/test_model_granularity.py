"""Granularity "coarse" (the default) and "fine" (impl's steps, what conformance
checks) give the same verdicts; "fine" really has the extra steps."""

import pytest

from rbmap.manifest import summary
from rbmap.model import build, shipped_names
from rbmap.model import protocol as P

TINY = dict(pages=2, page_events=1, events=3, processes=1, nesting=2)


def _verdicts(variant, granularity):
    # the manifest's <variant>-tiny and <variant>-tiny-fine entries (one
    # exploration serves both in a test run)
    got = summary(variant, granularity=granularity, **TINY)
    assert got["complete"]
    return set(got["violated"]), set(got["unreached"]), got["states"]


@pytest.mark.parametrize("variant", shipped_names())
def test_coarse_and_fine_agree(variant):
    vc, uc, nc = _verdicts(variant, "coarse")
    vf, uf, nf = _verdicts(variant, "fine")
    assert (vc, uc) == (vf, uf)
    assert nf > nc          # the fine model has states the coarse one merges


def test_manifest_has_fast_fine_entries_for_every_variant():
    """Each shipped variant has a fine-granularity entry in the default run of
    ``rbmap manifest`` with a coarse twin (the same config otherwise) that
    records the same verdicts."""
    from rbmap.manifest import load_entries
    fast = [e for e in load_entries() if not e.get("slow")]

    def coarse(e):
        return (e["variant"], e.get("rules"),
                sorted(dict(e["config"], granularity="coarse").items()))
    for v in shipped_names():
        fine = [e for e in fast if e["variant"] == v
                and e["config"].get("granularity") == "fine"]
        assert fine, v
        for e in fine:
            twins = [c for c in fast if c.get("config", {}).get(
                "granularity", "coarse") == "coarse" and coarse(c) == coarse(e)]
            assert twins, e["name"]
            assert (twins[0]["violated"], twins[0]["unreached"]) == (
                e["violated"], e["unreached"]), e["name"]


def _actions(m, limit=200000):
    seen, todo, names = set(), list(m.init_states()), set()
    while todo and len(seen) < limit:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        for a, t in m.successors(s):
            names.add(a[1])
            todo.append(t)
    return names


def test_fine_steps_exist_only_when_fine():
    fine_only = {"walk_done", "publish_load", "publish", "published", "publish_end",
                 "ioctl_meta"}
    up = dict(TINY, page_events=2, events=4)
    assert fine_only <= _actions(build("upstream", granularity="fine", **up))
    assert not fine_only & _actions(build("upstream", granularity="coarse", **up))
    v2_only = {"commit_load", "tail_meta_load", "unmap_sync"}
    v2 = dict(TINY, page_events=1, events=4)
    assert v2_only <= _actions(build("v2", granularity="fine", **v2))
    assert not v2_only & _actions(build("v2", granularity="coarse", **v2))


def test_granularity_is_validated():
    from rbmap.model import SpecError
    with pytest.raises(SpecError, match="--granularity 'medium'"):
        build("upstream", granularity="medium")
    assert P.W_COMMITTING in P.END_COMMIT_PHASES
