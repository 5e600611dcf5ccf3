"""The model's mutant catalogue: every mutant applies to the model as it is, is
undone, and is told apart from the model; the runner and ``rbmap mutants
--model``."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from rbmap.checker import check_bfs
from rbmap.cli import main
from rbmap.model import build
from rbmap.model import properties as props
from rbmap.model.protocol import RingBufferModel
from rbmap.model_mutants import (_METHOD_HOOKS, MUTANTS, Hook, Prop, _applies,
                                 _step_modules, applied, edited_steps, equivalence,
                                 run_one)

BY_NAME = {m.name: m for m in MUTANTS}


def test_catalogue_names_are_unique_and_described():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names)) and len(names) >= 60
    for m in MUTANTS:
        assert m.doc and "\n" not in m.doc and len(m.doc) < 160, m.name
        assert m.family and m.changes, m.name


def test_every_property_has_a_mutant():
    mutated = {c.name for m in MUTANTS for c in m.changes if isinstance(c, Prop)}
    assert {sp.name for sp in props.SPECS} <= mutated


# small configs that, together, offer every step of the model: the kernel gates
# let through, trace_pipe_raw reads and resets, the seed's writer and unmap and
# its non-consuming reader at fine granularity, stale retries, libtracefs, fork,
# the text reader, root's calls a mapping refuses
STEP_CONFIGS = [
    ("upstream", {"resize_mapped": "allow", "swap_cpu_mapped": "allow"},
     dict(pages=2, page_events=2, events=2, processes=1, nesting=2,
          granularity="fine", pipe_reads=1, resets=1, consumers="concurrent")),
    ("v2", {}, dict(pages=2, page_events=1, events=2, processes=1, nesting=1,
                    granularity="fine", nc_readers=1)),
    ("v2", {}, dict(pages=2, page_events=1, events=3, processes=1, nesting=2,
                    granularity="fine")),
    ("upstream", {}, dict(pages=2, page_events=2, events=3, processes=1, nesting=1,
                          client="libtracefs")),
    ("upstream", {"vma_open": "counts"},
     dict(pages=2, page_events=1, events=2, processes=2, nesting=1, fork=True)),
    ("upstream", {}, dict(pages=2, page_events=1, events=3, processes=1, nesting=1,
                          text_reads=2)),
    # (a refusal is listed where it changes something: a broken error path)
    ("upstream", {"map_error": "keep_resize_disabled"},
     dict(pages=2, page_events=1, events=2, processes=1, nesting=1, refusals=True)),
]


def _offered_steps():
    from test_model_granularity import _actions     # every step reached
    names = set()
    for variant, rules, config in STEP_CONFIGS:
        names |= _actions(build(variant, rules=rules or None, **config))
    return names


def test_every_step_has_a_mutant():
    """Every step the model offers is edited, merged away or added by a mutant
    (a new step without one is named here), and every step a mutant edits is
    one the model offers (a renamed step would leave its mutants editing
    nothing)."""
    offered = _offered_steps()
    edited = edited_steps()
    assert offered - edited == set(), "steps without a mutant"
    assert edited - offered == set(), "mutants of steps the model does not offer"


def _helper_names():
    return {mod.__name__: dict(vars(mod)) for mod in _step_modules()}


@pytest.mark.parametrize("mt", MUTANTS, ids=lambda m: m.name)
def test_mutant_applies_and_is_undone(mt):
    """A mutant changes what it names (the successors it edits, the step helper
    it wraps in every module of the steps that calls it, the property it
    replaces), the model's exploration goes interpreted, and all of it is undone."""
    assert _applies(mt) is None
    before = dict(RingBufferModel.__dict__)
    specs = list(props.SPECS)
    helpers = _helper_names()
    with applied(mt):
        now = RingBufferModel.__dict__
        assert now["successors"] is not before.get("successors")
        for c in mt.changes:
            if isinstance(c, Hook) and c.name not in _METHOD_HOOKS:
                where = [mod for mod, names in _helper_names().items()
                         if c.name in names and names[c.name] is not helpers[mod][c.name]]
                assert where, c.name
            elif isinstance(c, Hook):
                assert now[c.name] is not before.get(c.name)
            elif isinstance(c, Prop):
                assert next(p.fn for p in props.SPECS if p.name == c.name) is c.fn
    assert dict(RingBufferModel.__dict__) == before
    assert props.SPECS == specs
    assert _helper_names() == helpers


def test_merged_fine_step_is_one_step():
    cfg = dict(pages=2, page_events=1, events=3, processes=1, nesting=2,
               granularity="fine")
    m = build("upstream", **cfg)
    base = check_bfs(m)
    with applied(BY_NAME["ioctl_meta_merged"]):
        mut = check_bfs(build("upstream", **cfg))
        names = {a[1] for s in list(mut.exploration)[:3000]
                 for a, _ in mut.exploration.model.successors(s)}
    assert "ioctl_meta" not in names and mut.states < base.states


def test_run_one_kills_by_the_manifest_and_names_what_moved():
    row = run_one(BY_NAME["seed_reset_relist_ignored"], checks=("manifest",))
    assert row["status"] == "killed" and row["killed_by"] == ["manifest"]
    assert row["detail"].startswith("v2-reset-relisted: states 1887 -> ")


def test_property_mutant_equivalence_is_computed():
    mt = BY_NAME["liveness_without_writer_done"]
    res = equivalence(mt)
    assert res["equivalent"] and all(r["judged_states"] > 0 for r in res["configs"])
    # the same computation tells a real change apart
    ltf = ("upstream", {}, dict(pages=2, page_events=2, events=4, processes=1,
                                nesting=1, client="libtracefs"))
    other = dataclasses.replace(BY_NAME["liveness_ignores_last_event"],
                                configs=(ltf,))
    res = equivalence(other)
    assert not res["equivalent"] and res["configs"][0]["differ"] > 0


def test_cli_lists_and_refuses_bad_input():
    r = CliRunner().invoke(main, ["mutants", "--model", "--list", "--json"])
    assert r.exit_code == 0
    rows = json.loads(r.output)
    assert len(rows) == len(MUTANTS)
    r = CliRunner().invoke(main, ["mutants", "--model", "--only", "nosuch"])
    assert r.exit_code == 2 and "no such model mutant" in r.output
    r = CliRunner().invoke(main, ["mutants", "--model", "--checks", "kernel"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["mutants", "--jobs", "2"])
    assert r.exit_code == 2 and "--model" in r.output


@pytest.mark.slow
@pytest.mark.parametrize("mt", [m for m in MUTANTS if m.configs],
                         ids=lambda m: m.name)
def test_mutant_changes_the_model_at_its_configs(mt):
    """A mutant not claimed equivalent changes the reachable graph (or the
    property's values) at one of its configs: it still bites after the model
    changes; one claimed equivalent is."""
    res = equivalence(mt)
    assert res["equivalent"] == bool(mt.equivalent), res


@pytest.mark.slow
def test_full_model_mutation_run():
    from rbmap.model_mutants import run_model_mutants
    res = run_model_mutants(jobs=2)
    assert res["survived"] == [] and res["kill_rate"] == 1.0, res["survived"]


def test_the_model_tests_run_where_the_mutant_is_applied():
    """check_tests runs pytest in this process (pytest-xdist's workers, -n auto
    in pyproject.toml, would import the model afresh, without the mutant): a
    mutant the seed tests catch fails them, the model as it is passes."""
    from rbmap.model_mutants import MUTANTS, applied, check_tests
    mut = next(x for x in MUTANTS if x.name == "reader_buffer_always_empty")
    with applied(mut):
        failed = check_tests(("tests/test_model_seed.py",))
    assert failed is not None and failed.startswith("tests/test_model_seed.py::")
    assert check_tests(("tests/test_model_seed.py",)) is None
