"""The protocol exported to Promela: SPIN's counts and verdicts are the manifest's.

For a manifest entry, SPIN (breadth-first, every assertion reported: pan -c0)
stores the recorded number of states (plus the one before the initial
assignments, when there is one), reaches the recorded depth, and fails the
assertion of exactly the always-properties recorded violated and the goals
recorded reached, each first at the recorded shortest counterexample's
(example's) length. Three small entries run by default; every other entry is
marked slow here (a pan build each, ~2 s: the 62 others take about 4 minutes,
v2's default config 20-35 s of it).
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
#: run by default (a pan build each, ~2.5 s with nothing cached): refusals (late
#: guards, changed(s)); v2's writer, data_pages[] and the non-consuming reader;
#: the fine granularity with nested writers
DEFAULT = ("teeth-map-error-keeps-resize-disabled", "v2-nc-small", "upstream-tiny-fine")


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
