"""Printed speed figures of the explorer on toy models (never asserted), and
the doctests of the checker's modules."""

from __future__ import annotations

import doctest
import importlib

import pytest

from rbmap.checker.bench import bench, toy_benchmarks

MODULES = ["rbmap.checker", "rbmap.checker.model", "rbmap.checker.properties",
           "rbmap.checker.bfs", "rbmap.checker.steps", "rbmap.checker.interrupt"]


def test_printed_benchmark():
    expected = {"counters(3 x 0..20)": 21 ** 3, "two_phase_commit(5)": 8832,
                "lost_update(4)": 755}
    print()
    for name, model in toy_benchmarks(scale=0):
        f = bench(model)
        assert f["complete"] and f["states"] == expected[name]
        print(f"bench {name:<22} {f['states']:>7,} states {f['transitions']:>8,} transitions "
              f"{f['cpu_seconds']:.3f} cpu s {f['states_per_cpu_second']:>9,.0f} states/s")


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
