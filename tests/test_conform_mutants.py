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
