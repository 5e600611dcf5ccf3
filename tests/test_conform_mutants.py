"""The mutant catalogue: every mutant applies to impl as it is and is undone."""

import inspect

import pytest

from rbmap.mutants import MUTANTS, applied, run_mutants


def test_at_least_20_distinct_mutants():
    names = [m.name for m in MUTANTS]
    assert len(names) >= 20 and len(set(names)) == len(names)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_applies_and_is_undone(mutant):
    import importlib
    mod = importlib.import_module(mutant.module)
    cls, _, name = mutant.target.rpartition(".")
    owner = getattr(mod, cls) if cls else mod
    attr = f"_{cls}{name}" if name.startswith("__") else name
    before = getattr(owner, attr)
    with applied(mutant):
        during = getattr(owner, attr)
        assert during is not before
        assert mutant.old in inspect.getsource(before)
    assert getattr(owner, attr) is before


@pytest.mark.slow
def test_full_mutation_run():
    res = run_mutants()
    print({k: v for k, v in res.items() if k != "rows"})
    assert res["killed"] >= 20


def test_quick_run_kills_the_new_paths_mutants():
    """The quick suite (rbmap mutants --quick) with the catching-up reader and the
    reader library: a mutant of each is killed, by the check meant for it."""
    res = run_mutants(["swap_commit_page", "lib_no_more_on_same_page"], quick=True)
    rows = {r["name"]: r for r in res["rows"]}
    assert res["killed"] == 2 and not res["baseline_failures"]
    assert rows["swap_commit_page"]["killed_by"] == ["catching-up reader preemptions 1"]
    assert rows["lib_no_more_on_same_page"]["killed_by"] == [
        "library documented (40 schedules)"]
