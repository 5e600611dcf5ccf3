"""C struct layout per ABI, the [layout]/[mapping] loaders, and the ABI checks
on deliberately broken copies of specs/upstream.toml."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap.cli import main
from rbmap.model.errors import SpecError
from rbmap.model.layout import (KERNEL_ABI, USER_ABIS, LongChoice, Scalar,
                                abi_checks, load_layout, load_mapping, locate_line,
                                parse_type, struct_layout)

SPECS = Path(__file__).resolve().parents[1] / "specs"
LP64, ILP32 = USER_ABIS


def doc(name):
    return tomllib.loads((SPECS / f"{name}.toml").read_text())


def offsets(layout, abi):
    sl = struct_layout(layout, abi)
    return {p.name: (p.offset, p.size) for p in sl.leaves}, sl


def test_upstream_layout_is_the_uapi_table():
    # UPSTREAM.md 1.1: offsets of struct trace_buffer_meta, sizeof 80.
    want = {"meta_page_size": (0, 4), "meta_struct_len": (4, 4), "subbuf_size": (8, 4),
            "nr_subbufs": (12, 4), "reader.lost_events": (16, 8), "reader.id": (24, 4),
            "reader.read": (28, 4), "flags": (32, 8), "entries": (40, 8),
            "overrun": (48, 8), "read": (56, 8), "Reserved1": (64, 8),
            "Reserved2": (72, 8)}
    layout = load_layout(doc("upstream"))
    for abi in (KERNEL_ABI,) + USER_ABIS:
        got, sl = offsets(layout, abi)
        assert got == want and sl.size == 80 and sl.padding == ()


def test_seed_header_as_kernel_and_i386_see_it():
    layout = load_layout(doc("v2"))
    kern, ks = offsets(layout, KERNEL_ABI)
    user, us = offsets(layout, ILP32)
    assert kern["reader_page"] == (24, 4) and user["reader_page"] == (16, 4)
    assert kern["entries"] == (0, 8) and user["entries"] == (0, 4)
    assert (ks.size, us.size) == (40, 32)
    assert (ks.trailing.offset, us.trailing.offset) == (40, 32)
    assert offsets(layout, LP64)[0] == kern


def test_i386_aligns_u64_to_4_and_long_is_4():
    d = {"layout": {"struct": "s", "fields": [
        {"name": "a", "type": "__u32", "written_by": ["map"]},
        {"name": "b", "type": "__u64", "written_by": ["map"]},
        {"name": "c", "type": "long", "written_by": ["map"]}]}}
    layout = load_layout(d)
    k, ks = offsets(layout, KERNEL_ABI)
    u, us = offsets(layout, ILP32)
    assert k == {"a": (0, 4), "b": (8, 8), "c": (16, 8)} and ks.size == 24
    assert u == {"a": (0, 4), "b": (4, 8), "c": (12, 4)} and us.size == 16
    assert ks.padding == ((4, 4, "before b"),)
    names = {c.name: c for c in abi_checks(layout)}
    assert names["abi_same_layout"].status == "violated"
    assert names["abi_natural_alignment"].counterexample == {
        "abi": "ILP32 (i386)", "field": "b", "offset": 4, "size": 8}
    assert names["abi_no_padding"].counterexample == {
        "abi": "kernel (x86_64)", "offset": 4, "bytes": 4}


def test_parse_type_notation():
    assert parse_type("__u32") == Scalar("__u32")
    assert parse_type("unsigned   long") == Scalar("unsigned long")
    assert parse_type("__BITS_PER_LONG == 64 ? __u64 : __u32") == \
        LongChoice(Scalar("__u64"), Scalar("__u32"))
    assert parse_type("__BITS_PER_LONG == 32 ? __u32 : __u64") == \
        LongChoice(Scalar("__u64"), Scalar("__u32"))
    for bad in ("__u23", "__BITS_PER_LONG ? __u64 : __u32", "struct foo", 3):
        with pytest.raises(ValueError):
            parse_type(bad)


def test_shipped_mappings_load():
    assert [c.label for c in load_mapping(doc("upstream")).configs] == ["6.10", "6.12"]
    m = load_mapping(doc("v2"), load_layout(doc("v2")))
    assert (m.configs[0].meta_area, m.configs[0].translate, m.head_index) == \
        ("seed_fls_order", "seed_fault", "data_page_head")
    assert load_mapping(doc("v3-read")).configs[0].meta_area == "page"


# --------------------------------------------------------------- bad tables


def _edit(text, old, new, count=1):
    assert old in text, old
    return text.replace(old, new, count)


UPSTREAM = (SPECS / "upstream.toml").read_text()
BAD = [
    # (edit, key path, message fragment)
    (lambda t: _edit(t, 'type = "__u32"', 'type = "__u23"'),
     ("layout", "fields", 0, "type"), "unknown type '__u23'"),
    (lambda t: _edit(t, 'name = "flags"', 'name = "entries"'),
     ("layout", "fields", 6, "name"), "duplicate field 'entries'"),
    (lambda t: _edit(t, 'written_by = ["map"]\ndoc = "always 0"',
                     'written_by = ["mapp"]\ndoc = "always 0"'),
     ("layout", "fields", 5, "written_by", 0), "unknown written_by 'mapp'"),
    (lambda t: _edit(t, 'name = "id"\ntype = "__u32"', 'name = "id"\ntype = "u32"'),
     ("layout", "fields", 4, "fields", 1, "type"), "unknown type 'u32'"),
    (lambda t: _edit(t, 'layouts = ["6.10", "6.12"]', 'layouts = ["6.10", "6.13"]'),
     ("mapping", "layouts", 1), "unknown layout '6.13'"),
    (lambda t: _edit(t, 'translate = "upstream_insert"', 'translate = "vm_fault"'),
     ("mapping", "translate"), "unknown translate 'vm_fault'"),
    (lambda t: _edit(t, 'layouts = ["6.10", "6.12"]', 'meta_area = "seed_fls_order"'),
     ("mapping", "meta_area"), "does not go with translate"),
    (lambda t: re.sub(r'translate = "upstream_insert".*\n', "", t),
     ("mapping",), "missing key 'translate'"),
    (lambda t: _edit(t, 'name = "meta_struct_len"\n', ''),
     ("layout", "fields", 1), "missing key 'name'"),
    (lambda t: _edit(t, 'struct = "trace_buffer_meta"',
                     'struct = "trace_buffer_meta"\nextends = "no such"'),
     ("layout", "extends"), "extends must name a variant"),
    (lambda t: _edit(t, 'struct = "trace_buffer_meta"',
                     'struct = "trace_buffer_meta"\nalign = 8'),
     ("layout", "align"), "unknown key 'align'"),
]


@pytest.mark.parametrize("edit,path,fragment", BAD, ids=[b[2] for b in BAD])
def test_loader_names_the_key_path(edit, path, fragment):
    d = tomllib.loads(edit(UPSTREAM))
    with pytest.raises(SpecError) as e:
        load_mapping(d, load_layout(d))
    assert e.value.path == path and fragment in e.value.message


@pytest.mark.parametrize("edit,path,fragment", BAD[:5] + BAD[9:10],
                         ids=[b[2] for b in BAD[:5] + BAD[9:10]])
def test_cli_names_file_line_and_problem(tmp_path, edit, path, fragment):
    text = edit(UPSTREAM)
    f = tmp_path / "broken.toml"
    f.write_text(text)
    r = CliRunner().invoke(main, ["abi", str(f)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    line = locate_line(text, path)
    key = ".".join(map(str, path))
    assert f"{f}:{line}: {key}: " in r.output and fragment in r.output
    # the line really holds the offending entry
    last = [p for p in path if isinstance(p, str)][-1]
    assert last in text.splitlines()[line - 1] or "[[" in text.splitlines()[line - 1]


def test_cli_bad_toml_syntax_and_unknown_names(tmp_path):
    f = tmp_path / "syntax.toml"
    f.write_text(UPSTREAM.replace("[mapping]", "[mapping", 1))
    r = CliRunner().invoke(main, ["abi", str(f)])
    line = UPSTREAM.splitlines().index("[mapping]") + 1
    assert r.exit_code == 2 and f"{f}:{line}:" in r.output
    r = CliRunner().invoke(main, ["abi", "no-such-variant"])
    assert r.exit_code == 2 and "unknown variant 'no-such-variant'" in r.output
    r = CliRunner().invoke(main, ["abi", str(tmp_path / "missing.toml")])
    assert r.exit_code == 2 and "no such variant file" in r.output


def test_locate_line_nested_arrays_of_tables():
    text = UPSTREAM
    lines = text.splitlines()
    assert lines[locate_line(text, ("layout", "fields", 4, "fields", 2, "name")) - 1] \
        == 'name = "read"'
    assert lines[locate_line(text, ("layout", "fields", 8, "name")) - 1] == 'name = "read"'
    assert lines[locate_line(text, ("mapping", "layouts", 1)) - 1].startswith("layouts")
    assert locate_line(text, ("nothing",)) is None


# ------------------------------------------------ the ABI checks have teeth


def _abi(tmp_path, text, name="edited.toml"):
    f = tmp_path / name
    f.write_text(text)
    r = CliRunner().invoke(main, ["abi", str(f), "--only", "abi_", "--json"])
    return r.exit_code, {c["name"]: c for c in json.loads(r.output)}


def test_upstream_copy_is_clean(tmp_path):
    code, checks = _abi(tmp_path, UPSTREAM)
    assert code == 0 and {c["status"] for c in checks.values()} == {"holds", "n/a"}


def test_a_u32_inserted_before_reader_misaligns_it_on_i386(tmp_path):
    text = UPSTREAM.replace('[[layout.fields]]\nname = "reader"',
                            '[[layout.fields]]\nname = "extra"\ntype = "__u32"\n'
                            'written_by = ["map"]\n\n[[layout.fields]]\nname = "reader"')
    code, c = _abi(tmp_path, text)
    assert code == 1
    assert c["abi_same_layout"]["status"] == "violated"
    assert c["abi_same_layout"]["counterexample"] == {
        "abi": "ILP32 (i386)", "field": "reader.lost_events", "kernel_offset": 24,
        "user_offset": 20, "kernel_size": 8, "user_size": 8}
    assert c["abi_natural_alignment"]["counterexample"]["field"] == "reader.lost_events"
    assert c["abi_no_padding"]["counterexample"] == {
        "abi": "kernel (x86_64)", "offset": 20, "bytes": 4}


def test_a_retyped_field_leaves_hidden_padding(tmp_path):
    text = UPSTREAM.replace('name = "meta_struct_len"\ntype = "__u32"',
                            'name = "meta_struct_len"\ntype = "__u16"')
    code, c = _abi(tmp_path, text)
    assert code == 1
    assert c["abi_no_padding"]["counterexample"]["offset"] == 6
    assert c["abi_same_layout"]["status"] == "holds"      # same on both ABIs
    assert c["abi_natural_alignment"]["status"] == "holds"


def test_a_long_field_differs_between_ilp32_and_lp64(tmp_path):
    text = UPSTREAM.replace('name = "flags"\ntype = "__u64"',
                            'name = "flags"\ntype = "unsigned long"')
    code, c = _abi(tmp_path, text)
    assert code == 1
    cex = c["abi_same_layout"]["counterexample"]
    assert cex["field"] == "entries" and cex["user_offset"] == 36
    assert "flags size 4 (kernel 8)" in c["abi_same_layout"]["detail"]


def test_extends_keeps_old_offsets_when_appending_only(tmp_path):
    (tmp_path / "base.toml").write_text(UPSTREAM)
    ext = UPSTREAM.replace('struct = "trace_buffer_meta"',
                           'struct = "trace_buffer_meta"\nextends = "base"')
    new = ('[[layout.fields]]\nname = "new_counter"\ntype = "__u64"\n'
           'written_by = ["ioctl"]\n\n')
    appended = ext.replace("[mapping]", new + "[mapping]")
    code, c = _abi(tmp_path, appended, "appended.toml")
    assert code == 0 and c["abi_extends"]["status"] == "holds"
    inserted = ext.replace('[[layout.fields]]\nname = "Reserved1"',
                           new + '[[layout.fields]]\nname = "Reserved1"')
    code, c = _abi(tmp_path, inserted, "inserted.toml")
    assert code == 1 and c["abi_extends"]["status"] == "violated"
    assert c["abi_extends"]["counterexample"]["field"] == "Reserved1"
    assert c["abi_extends"]["counterexample"]["new_offset"] == 72
    # a missing base and a cycle are bad input, with the line of `extends`
    for fname, target, why in (("x.toml", "nowhere", "no shipped variant"),
                               ("cycle.toml", "cycle", "a cycle of extends")):
        text = UPSTREAM.replace('struct = "trace_buffer_meta"',
                                f'struct = "trace_buffer_meta"\nextends = "{target}"')
        f = tmp_path / fname
        f.write_text(text)
        line = locate_line(text, ("layout", "extends"))
        assert text.splitlines()[line - 1].startswith("extends")
        r = CliRunner().invoke(main, ["abi", str(f), "--only", "abi_"])
        assert r.exit_code == 2
        assert f"{f}:{line}: layout.extends: extends '{target}'" in r.output
        assert why in r.output
