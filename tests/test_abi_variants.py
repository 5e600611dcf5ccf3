"""Each shipped variant's ABI and arithmetic verdicts are what its history says
(`rbmap abi VARIANT`), cross-checked against brute force where z3 names sizes."""

import functools
import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap.cli import main
from rbmap.model import arith as A
from rbmap.model.layout import load_layout

SPECS = Path(__file__).resolve().parents[1] / "specs"
SHIPPED = ("v2", "v2-data-index", "v3-read", "v3-read-param", "upstream")


@functools.lru_cache(maxsize=None)
def run(variant, only=()):
    args = ["abi", variant, "--json"] + [x for o in only for x in ("--only", o)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, {c["name"]: c for c in json.loads(r.output)}


def statuses(variant, only=()):
    return {name: c["status"] for name, c in run(variant, only)[1].items()}


def geometry(name):
    return A.geometry(load_layout(tomllib.loads((SPECS / f"{name}.toml").read_text())))


HOLDS_SEED = ("abi_natural_alignment", "abi_no_padding", "translation_bounds",
              "validation_exact", "user_offsets", "head_index_range",
              "head_index_compose")


@pytest.mark.parametrize("variant,elem,first", [("v2", 4, 2039),
                                                ("v2-data-index", 8, 1020)])
def test_seed_variants(variant, elem, first):
    code, c = run(variant)
    assert code == 1
    st = statuses(variant)
    assert all(st[x] == "holds" for x in HOLDS_SEED), st
    assert st["abi_extends"] == "n/a"
    # ILP32: a 32-bit process reads the header 8 bytes short.
    same = c["abi_same_layout"]
    assert same["status"] == "violated"
    assert "reader_page offset 16 (kernel 24)" in same["detail"]
    assert same["counterexample"]["abi"] == "ILP32 (i386)"
    # sizing: the meta area is too small from `first` ring pages on.
    g = geometry(variant)
    sizing = c["meta_area_sizing"]
    assert sizing["status"] == "violated"
    assert sizing["counterexample"] == {
        "nr_pages": first, "meta_order": 1, "area_bytes": 8192,
        "needed_bytes": 40 + elem * first}
    runs = sizing["ranges"]
    assert runs[0][0] == first and runs[-1][1] == A.NR_PAGES_MAX
    small = lambda n: A.meta_area_bytes("seed_fls_order", g, n) < 40 + elem * n  # noqa: E731
    for a, b in runs:          # every run is maximal, checked on the reference
        assert small(a) and small(b) and not small(a - 1)
        assert b == A.NR_PAGES_MAX or not small(b + 1)
    # the brute force over the first sizes agrees with z3's first run start
    assert next(n for n in range(1, 5000) if small(n)) == first
    # ... and the consequences: an unassigned page_ids entry is faulted in, and
    # rb_meta_page_head_swap writes past the meta area.
    tgt = c["translation_target"]
    assert tgt["status"] == "violated"
    assert tgt["counterexample"]["nr_pages"] == first
    assert tgt["counterexample"]["pgoff"] == first + 2
    ref = A.seed_fault("seed_fls_order", g, first, first + 2)
    assert ref == ("page", first, False)
    # below `first`, the last page's ID is assigned (its fault is fine)
    assert all(A.seed_fault("seed_fls_order", g, n, n + 2) == ("page", n, True)
               for n in range(first - 3, first))
    head = c["head_index_in_list"]
    assert head["status"] == "violated"
    assert head["counterexample"]["nr_pages"] == first
    assert head["counterexample"]["data_page_head"] == first - 1
    assert head["counterexample"]["slot_end"] > head["counterexample"]["area_bytes"]


def test_v3_variants():
    for variant in ("v3-read", "v3-read-param"):
        code, c = run(variant)
        st = statuses(variant)
        assert code == 1
        assert st["abi_same_layout"] == "violated"        # still __BITS_PER_LONG
        assert "read offset 24 (kernel 32)" in c["abi_same_layout"]["detail"]
        assert st["abi_no_padding"] == "violated"          # 36 bytes padded to 40
        assert c["abi_no_padding"]["counterexample"] == {
            "abi": "kernel (x86_64)", "offset": 36, "bytes": 4}
        for x in ("meta_area_sizing", "translation_bounds", "translation_target",
                  "validation_exact", "user_offsets"):
            assert st[x] == "holds", x
        for x in A.HEAD_CHECKS:
            assert st[x] == "n/a"
    assert statuses("v3-read")["abi_extends"] == "n/a"
    assert statuses("v3-read-param")["abi_extends"] == "holds"


# translation_target and user_offsets of upstream cost ~6 s of z3: slow run only.
UPSTREAM_FAST = ("abi_", "meta_area", "translation_bounds", "validation_exact")


def _assert_upstream_clean(only, proved):
    code, c = run("upstream", only)
    assert code == 0
    st = statuses("upstream", only)
    for layout in ("6.10", "6.12"):
        for x in proved:
            assert st[f"{x}[{layout}]"] == "holds"
    for x in ("abi_same_layout", "abi_natural_alignment", "abi_no_padding"):
        assert st[x] == "holds"
    assert st["abi_extends"] == "n/a"
    assert all(v["counterexample"] is None for v in c.values())
    return st


def test_upstream_is_clean():
    """Fault bounds for 6.10 and 6.12: every accepted mmap range stays inside
    subbuf_ids[] and the validation is exact; the uapi struct is the same for
    32- and 64-bit user space."""
    st = _assert_upstream_clean(UPSTREAM_FAST, ("meta_area_sizing", "translation_bounds",
                                                "validation_exact"))
    assert len(st) == 4 + 2 * 3


@pytest.mark.slow
def test_upstream_is_clean_every_check():
    st = _assert_upstream_clean((), ("meta_area_sizing",) + A.TRANSLATION_CHECKS)
    assert {st[x] for x in A.HEAD_CHECKS} == {"n/a"}


def _entries(text):
    """The text output's entries: a check's first line starts with two spaces,
    its continuation lines with more."""
    out = []
    for ln in text.splitlines():
        if ln.startswith("  ") and not ln.startswith("   "):
            out.append(ln)
        elif ln.startswith("   ") and out:
            out[-1] += " " + ln.strip()
    return out


def test_text_output_one_entry_per_check():
    r = CliRunner().invoke(main, ["abi", "v3-read"])
    assert r.exit_code == 1
    lines = r.output.splitlines()
    body = _entries(r.output)
    assert [ln.split()[0] for ln in body] == list(run("v3-read")[1])
    assert "v3-read: 8 hold, 2 VIOLATED, 4 n/a" in lines
    assert max(len(ln) for ln in lines) <= 80
    r = CliRunner().invoke(main, ["abi", "v2", "--only", "meta_area", "--only", "abi_s"])
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert " ".join(r.output.split()).startswith(
        "v2: v2 patch, 22 Mar 2023, Message-ID "
        "20230322102244.3239740-2-vdonnefort@google.com")
    body = _entries(r.output)
    assert [ln.split()[:2] for ln in body] == [["abi_same_layout", "VIOLATED"],
                                               ["meta_area_sizing", "VIOLATED"]]
    assert "nr_pages 2039..3062, 4087..7158, 8183..15350" in body[1]
    assert "[counterexample: nr_pages=2039 meta_order=1 area_bytes=8192" in body[1]
    assert "v2: 0 hold, 2 VIOLATED, 0 n/a" in lines


def test_all_shipped_variants_without_argument():
    r = CliRunner().invoke(main, ["abi", "--only", "abi_", "--json"])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert [c["variant"] for c in out[::4]] == list(SHIPPED)
    assert {tuple(sorted(c)) for c in out} == {
        ("counterexample", "detail", "name", "status", "variant")}


@pytest.mark.slow
def test_whole_run_of_every_shipped_variant():
    r = CliRunner().invoke(main, ["abi"])
    assert r.exit_code == 1
    assert "upstream: 13 hold, 0 VIOLATED, 4 n/a" in r.output


def test_seed_unmap_free_loop_checks_both_ways():
    """The seed's rb_free_page_ids misses ID nr_pages for every size and reads
    never-assigned IDs wherever the meta area is too small (except one ID short);
    v3's loop (nr_pages + 1) and a one-page meta area hold; upstream has none."""
    v2 = run("v2", ("unmap_",))[1]
    assert v2["unmap_clears_every_id"]["status"] == "violated"
    assert v2["unmap_clears_every_id"]["counterexample"] == {"nr_pages": 1, "id": 1}
    touch = v2["unmap_touches_assigned_ids"]
    assert touch["status"] == "violated"
    assert touch["ranges"][0] == [2040, 3062]     # 2039 is one ID short: spared
    assert set(statuses("v3-read", ("unmap_",)).values()) == {"holds"}
    assert set(statuses("upstream", ("unmap_",)).values()) == {"n/a"}
