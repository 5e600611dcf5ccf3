"""Every field of uapi ``struct trace_buffer_meta`` is checked, or README says why not.

The fields whose value changes with the protocol (``reader.*``, ``entries``,
``overrun``, ``read``) are model properties with teeth in test_model_teeth.py. The
fields fixed for a mapping (``meta_page_size``, ``meta_struct_len``,
``subbuf_size``, ``nr_subbufs``) and ``flags`` ("0 until new features are
supported") are the ``abi:`` proofs' constants and are compared, in every meta
snapshot of every recorded scenario, with what Linux 6.12.117 wrote: here each of
them has teeth of its own (a value got wrong is a difference naming the field).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from rbmap import kernel as k
from rbmap import kernel_compare as kc
from rbmap.impl.mapping import META_FIELDS
from rbmap.impl.scenario import load
from rbmap.scenario_model import _run_one

ROOT = Path(__file__).resolve().parents[1]
SUBBUF_8K = ROOT / "specs" / "scenarios" / "subbuf_8k.scn"


def _kernel(scn: Path, name: str) -> list[dict]:
    _, objs = k.read_recording(scn.with_name(scn.stem + ".kernel.jsonl"))
    return kc.split_by_scenario(objs)[name]


def _differences(scn: Path, name: str, got: list[dict]) -> set[str]:
    unexplained, _ = kc.compare(scn, _kernel(scn, name), got)
    return {p for rec in unexplained for p, _a, _b in rec["differences"]}


@pytest.fixture(scope="module")
def geometry():
    sc = next(s for s in load(SUBBUF_8K) if s.name == "subbuf8_geometry")
    return sc, _run_one(sc, str(SUBBUF_8K), "6.12")


def test_model_agrees_with_the_kernel_on_every_meta_field(geometry):
    _, got = geometry
    assert _differences(SUBBUF_8K, "subbuf8_geometry", got) == set()
    metas = [o["meta"] for o in got if "meta" in o]
    assert metas and all(m["flags"] == 0 and m["meta_page_size"] == 8192 and
                         m["subbuf_size"] == 8192 and m["meta_struct_len"] == 80
                         for m in metas)


def test_meta_page_size_teeth_the_6_10_layout_on_8k_subbufs(geometry):
    """6.10's meta area is one page; 6.12.117 gives it one sub-buffer."""
    sc, _ = geometry
    got = _run_one(sc, str(SUBBUF_8K), "6.10")
    assert _differences(SUBBUF_8K, "subbuf8_geometry", got) == {"meta.meta_page_size"}


@pytest.mark.parametrize("field,wrong", [
    ("meta_struct_len", lambda m: 72),                    # the struct without Reserved2
    ("subbuf_size", lambda m: m["subbuf_size"] - 16),     # the data part only
    ("nr_subbufs", lambda m: m["nr_subbufs"] - 1),        # the reader page left out
    ("flags", lambda m: 1),                               # a feature bit set
])
def test_constant_field_teeth(geometry, field, wrong):
    """A back end that writes the field wrong in one meta snapshot differs from the
    kernel there, and the difference names the field."""
    _, got = geometry
    bad = copy.deepcopy(got)
    first = next(o for o in bad if "meta" in o)
    first["meta"][field] = wrong(first["meta"])
    assert _differences(SUBBUF_8K, "subbuf8_geometry", bad) == {f"meta.{field}"}


def test_readme_has_a_row_for_every_uapi_field():
    text = (ROOT / "README.md").read_text()
    start = text.index("| uapi field |")
    table = text[start:text.index("\n\n", start)]
    rows = {m.group(1) for m in re.finditer(r"^\| `([A-Za-z0-9_.]+)`", table, re.M)}
    assert rows == set(META_FIELDS)
