"""The scenario file parser: accepted syntax and clear errors (FORMAT.md)."""

import pytest

from rbmap.impl.scenario import OPS, ScenarioError, load, parse


GOOD = """\
# top comment
scenario first
# checks the thing
# expect: reader.id 1
buffer_size_kb 16   # trailing comment
subbuf_size_kb 0x8
open nonblock rdwr
markers 10
markers 3 22
map
# kernel-bug: 6.12.1 warns here
ioctl
ioctl_raw 0x5220
page
page 3
read_raw 4096
trymap 4096 0 rw private
unmap
close

scenario second-2
meta
# kernel-bug: warning at teardown (6.12.1)
"""


def test_good_file():
    scs = parse(GOOD, "good.scn")
    assert [s.name for s in scs] == ["first", "second-2"]
    a, b = scs
    assert a.description == ["checks the thing", "expect: reader.id 1"]
    assert [o.name for o in a.ops][:4] == ["buffer_size_kb", "subbuf_size_kb", "open",
                                           "markers"]
    assert a.ops[1].values == [8] and a.ops[1].args == ["0x8"]
    assert a.ops[2].values == ["nonblock", "rdwr"]
    assert a.ops[4].values == [3, 22]
    assert a.ops[11].values == [4096, 0, "rw", "private"]
    # the kernel-bug line explains the step of the next operation: the `ioctl`
    # (scenario line = step 1, so the 7th operation is step 8)
    assert a.ops[6].name == "ioctl" and a.kernel_bugs == [(8, "6.12.1 warns here")]
    # at the end of a scenario it explains the kmsg object (step None)
    assert b.kernel_bugs == [(None, "warning at teardown (6.12.1)")]
    assert a.ops[0].line == 5


def test_description_before_the_scenario_line():
    (s,) = parse("# what it checks\n# second line\nscenario x\nmap\n")
    assert s.description == ["what it checks", "second line"]


@pytest.mark.parametrize("text, fragment", [
    ("scenario a\nfrobnicate\n", "f.scn:2: unknown operation 'frobnicate'"),
    ("map\nscenario a\n", "f.scn:1: 'map' before the first 'scenario' line"),
    ("scenario a\nmarkers\n", "f.scn:2: 'markers' takes 1 to 2 argument(s), got 0"),
    ("scenario a\nmap now\n", "f.scn:2: 'map' takes 0 argument(s), got 1"),
    ("scenario a\nmarkers ten\n", "f.scn:2: 'markers': bad number 'ten'"),
    ("scenario a\nmarkers -1\n", "bad number '-1'"),
    ("scenario a\nioctl_raw 0xZZ\n", "bad number '0xZZ'"),
    ("scenario a\nopen wronly\n", "unknown flag 'wronly'"),
    ("scenario a\nopen rdwr rdwr\n", "flag 'rdwr' given twice"),
    ("scenario a\ntrymap 4096 0 w shared\n", "'w' is not one of r, rw, rx"),
    ("scenario a\ntrymap 4096 0 r public\n", "'public' is not one of shared, private"),
    ("scenario a/b\n", "bad scenario name 'a/b'"),
    ("scenario a\nscenario a\n", "f.scn:2: scenario 'a' defined twice"),
    ("# nothing\n", "f.scn: no 'scenario' line"),
    ("# kernel-bug: x\nscenario a\n", "outside a scenario"),
    ("scenario a\n# kernel-bug:\n", "needs a text"),
])
def test_errors_name_file_line_and_problem(text, fragment):
    with pytest.raises(ScenarioError) as exc:
        parse(text, "f.scn")
    assert fragment in str(exc.value)


def test_every_format_op_is_known():
    import pathlib
    fmt = pathlib.Path(__file__).parents[1] / "specs" / "scenarios" / "FORMAT.md"
    ops_in_doc = set()
    for line in fmt.read_text().splitlines():
        if line.startswith("| `"):
            ops_in_doc.add(line.split("`")[1].split()[0])
    assert ops_in_doc and ops_in_doc <= set(OPS)


def test_load_path_and_text(tmp_path):
    p = tmp_path / "x.scn"
    p.write_text("scenario x\nmap\n")
    assert load(p)[0].source == str(p)
    assert load(str(p))[0].ops[0].name == "map"
    assert load("scenario y\n")[0].name == "y"
    bad = tmp_path / "bad.scn"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ScenarioError, match="cannot read"):
        load(bad)
