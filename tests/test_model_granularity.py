"""Granularity "coarse" (the default) and "fine" (impl's steps, what conformance
checks) give the same verdicts; "fine" really has the extra steps."""

import pytest

from rbmap.checker import check_bfs
from rbmap.model import build, shipped_names
from rbmap.model import protocol as P

TINY = dict(pages=2, page_events=1, events=3, processes=1, nesting=2)


def _verdicts(variant, granularity):
    r = check_bfs(build(variant, granularity=granularity, **TINY))
    assert r.complete
    return ({p.name for p in r.properties if p.status == "violated"},
            {p.name for p in r.properties if p.status == "unreached"}, r.states)


# the v2 family and v3-read-param take longest; they run with -m slow
_SLOW = {"v2-data-index", "v3-read-param"}


@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=pytest.mark.slow) if v in _SLOW else v
    for v in shipped_names()])
def test_coarse_and_fine_agree(variant):
    vc, uc, nc = _verdicts(variant, "coarse")
    vf, uf, nf = _verdicts(variant, "fine")
    assert (vc, uc) == (vf, uf)
    assert nf > nc          # the fine model has states the coarse one merges


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
