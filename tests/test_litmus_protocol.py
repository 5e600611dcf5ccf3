"""The protocol's publish/consume pairs (specs/litmus/*.litmus) under the Linux
kernel memory model: each gets the Result it states, under either local_t reading
and either system-call assumption; each is tied to model steps that exist and to
the kernel or library function it transcribes; the findings' programs and their
fixes; the rows rbmap compare shows per variant."""

import re
from pathlib import Path

import pytest

from rbmap import weakmem
from rbmap.checker.litmus import parse
from rbmap.checker.memmodel import check
from rbmap.checker.steps import Step
from rbmap.model import steps as _st
from rbmap.model.variants import load_variant, shipped_names

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "specs" / "litmus").glob("*.litmus"))
#: the model's step names (model/steps/: one module per actor)
ACTIONS = {v.name for mod in (_st.writer, _st.kernel, _st.procs, _st.admin, _st.nc,
                              _st.libtracefs)
           for v in vars(mod).values() if isinstance(v, Step)}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_pair_gets_its_stated_result(path):
    lit = parse(path.read_text())
    r = check(lit)
    assert r.agrees, (r.verdict, r.flags)
    if r.verdict != "Never":
        # the witness reaches the bad outcome with the reads the condition names
        assert r.witness and r.witness["events"]


@pytest.mark.parametrize("options", [dict(local_t="generic"),
                                     dict(syscall_barrier=False)],
                         ids=["local_t-generic", "no-syscall-barrier"])
def test_no_verdict_rests_on_an_assumption(options):
    # the programs the options can change: value-returning local_t operations,
    # system calls
    touched = [p for p in FILES if re.search(
        r"syscall|local_(add|sub|inc|dec)_return|local_cmpxchg|local_xchg", p.read_text())]
    assert touched
    for path in touched:
        lit = parse(path.read_text())
        assert check(lit, **options).verdict == check(lit).verdict, path.stem


def test_every_pair_names_model_steps_that_exist_and_the_code_it_follows():
    assert {"reserve", "commit", "publish", "ioctl", "read_event", "read_meta"} <= ACTIONS
    for path in FILES:
        doc = parse(path.read_text()).doc
        if "Model step" not in doc:
            # a variant of another program says which one
            assert re.search(r"[a-z0-9-]+\.litmus", doc), path.stem
            continue
        steps = re.findall(r"`([a-z_]+)`", doc.split("Model step", 1)[1].split(".\n")[0])
        assert steps, path.stem
        for s in steps:
            assert s in ACTIONS, (path.stem, s)
        assert re.search(r"(ring_buffer|rb_|tfs_|kbuffer_|tracing_)\w+", doc), path.stem


def _verdict(stem):
    return check(parse((ROOT / "specs" / "litmus" / f"{stem}.litmus").read_text())).verdict


def test_findings_and_their_fixes():
    # W1: rb_set_commit_to_write's first loop; smp_wmb() there fixes it
    assert _verdict("publish-left-behind") == "Sometimes"
    assert _verdict("get-reader-left-behind") == "Sometimes"
    assert _verdict("publish-left-behind-fixed") == "Never"
    assert _verdict("publish-commit") == "Never"
    # W2: libtracefs's plain loads; an acquire load of commit fixes it
    assert _verdict("libtracefs-refresh") == "Sometimes"
    assert _verdict("libtracefs-refresh-fixed") == "Never"
    # W3: the seed's first map can lose the count of an event
    assert _verdict("v2-map-meta-init") == "Sometimes"
    assert _verdict("v2-map-meta-publish") == "Never"


def test_w1_witness_is_the_first_loop_store_and_the_old_bytes():
    r = check(parse((ROOT / "specs/litmus/publish-left-behind.litmus").read_text()))
    ev = {e["code"]: e for e in r.witness["events"]}
    commit = ev["int r0 = local_read(commit);"]
    data = ev["r1 = *ev;"]
    published = next(e for e in r.witness["events"]
                     if e["code"] == "local_set(commit, w);")
    assert commit["reads_from_id"] == published["id"] and commit["value"] == 1
    assert data["value"] == 0 and data["reads_from"] == "init ev"
    assert "data-race" in r.flags


EXPECTED = {
    "v2": {"publish": "holds", "publish_left_behind": "violated",
           "get_reader": "holds", "libtracefs": "n/a", "fastpath_meta": "violated",
           "nc_reader": "violated"},
    "v2-data-index": {"publish": "holds", "publish_left_behind": "violated",
                      "get_reader": "holds", "libtracefs": "n/a",
                      "fastpath_meta": "violated", "nc_reader": "violated"},
    "v3-read": {"publish": "holds", "publish_left_behind": "violated",
                "get_reader": "holds", "libtracefs": "n/a", "fastpath_meta": "n/a",
                "nc_reader": "n/a"},
    "v3-read-param": {"publish": "holds", "publish_left_behind": "violated",
                      "get_reader": "holds", "libtracefs": "n/a",
                      "fastpath_meta": "n/a", "nc_reader": "n/a"},
    "upstream": {"publish": "holds", "publish_left_behind": "violated",
                 "get_reader": "holds", "libtracefs": "violated",
                 "fastpath_meta": "n/a", "nc_reader": "n/a"},
}


def test_rows_per_shipped_variant():
    assert set(EXPECTED) == set(shipped_names())
    cache: dict = {}
    for v in shipped_names():
        rules = dict(load_variant(v).rules)
        got = {k[3:]: c["status"] for k, c in weakmem.rows(rules, cache).items()}
        assert got == EXPECTED[v], v
    # the data-index variant's row is the counter program, the seed's the plain one
    assert weakmem._nc_reader(dict(load_variant("v2-data-index").rules)) == "v2-data-index"
    assert weakmem._nc_reader(dict(load_variant("v2").rules)) == "v2-nc-reader"


def test_a_rule_change_moves_the_rows():
    rules = dict(load_variant("upstream").rules)
    rules["writer_meta"] = "v2_fastpath"
    cache: dict = {}
    rows = weakmem.rows(rules, cache)
    assert rows["wm:fastpath_meta"]["status"] == "violated"
    rules["get_reader"] = "v2_swap"
    assert weakmem.rows(rules, cache)["wm:get_reader"]["program"].endswith(
        "v2-get-reader-page.litmus")
