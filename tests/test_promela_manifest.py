"""The protocol exported to Promela: SPIN's counts and verdicts are the manifest's.

For a manifest entry, SPIN (breadth-first, every assertion reported: pan -c0)
stores the recorded number of states (plus the one before the initial
assignments, when there is one), reaches the recorded depth, and fails the
assertion of exactly the always-properties recorded violated and the goals
recorded reached, each first at the recorded shortest counterexample's
(example's) length. A few small entries run by default; every other entry is
marked slow here (a pan build each, ~2 s: 54 entries take about 2 minutes),
the manifest's slow ones (up to 10.4M states) too.
"""

import pytest

from rbmap.checker import spin
from rbmap.checker.promela import extra_states, to_promela
from rbmap.checker.steps import StepMachine
from rbmap.manifest import load_entries
from rbmap.model import build

needs_spin = pytest.mark.skipif(spin.available() is not None,
                                reason=f"SPIN cannot run here: {spin.available()}")

ENTRIES = {e["name"]: e for e in load_entries()}
#: run by default (a pan build each, ~2 s): refusals (late guards, changed(s)),
#: a reset on v2, libtracefs, the fine granularity, the non-consuming reader, fork
DEFAULT = ("teeth-map-error-keeps-resize-disabled", "v2-reset-relisted",
           "upstream-libtracefs", "upstream-tiny-fine", "v3-read-param-tiny",
           "teeth-vma-open-ignores", "v2-nc-small")


def spin_agrees_with(entry: dict) -> None:
    m = build(entry["variant"], rules=entry["rules"] or None, **entry["config"])
    if not isinstance(m, StepMachine):
        pytest.skip("the protocol model is not written as steps")
    extra = extra_states(m)
    s = spin.run(to_promela(m), "bfs", expected_states=entry["states"],
                 extra_flags=["-c0"])
    assert s.stored == entry["states"] + extra
    assert s.depth == entry["depth"] + extra
    props = [p for p, _ in m.code.properties]
    kinds = {p.name: p.kind for p in m.properties()}
    exported = {p.name for p in props if p.kind in ("always", "sometimes")}
    # every always/sometimes property the entry records is exported
    assert {name for name, rec in entry["properties"].items() if rec["status"] != "n/a"
            and kinds.get(name) in ("always", "sometimes")} <= exported
    found = {props[k - 1].name: d - extra for k, d in spin.violated(s).items()}
    want = {name: rec.get("steps") for name, rec in entry["properties"].items()
            if rec["status"] in ("violated", "reached") and name in exported}
    assert found == want


@needs_spin
@pytest.mark.parametrize("name", DEFAULT)
def test_spin_agrees_with_the_manifest(name):
    spin_agrees_with(ENTRIES[name])


@pytest.mark.slow
@needs_spin
@pytest.mark.parametrize("name", [n for n in ENTRIES if n not in DEFAULT])
def test_spin_agrees_with_the_manifest_everywhere(name):
    spin_agrees_with(ENTRIES[name])
