"""Kernel recordings (specs/scenarios/*.kernel.jsonl) without booting anything.

Each recording must match its scenario file (same scenarios, same operation lines
in order), have the output shape of FORMAT.md, and record the kernel it came from.
impl's output for the same file must agree with the recording after the documented
normalisation (time events only); a known difference is an explicit xfail below.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from rbmap import kernel as k
from rbmap import kernel_compare as kc
from rbmap.impl.scenario import load

SCEN_DIR = Path(__file__).resolve().parent.parent / "specs" / "scenarios"
RECORDINGS = sorted(SCEN_DIR.glob("*.kernel.jsonl"))


def _scn_of(rec: Path) -> Path:
    return rec.with_name(rec.name[: -len(".kernel.jsonl")] + ".scn")


def _pairs():
    out = []
    for rec in RECORDINGS:
        for sc in load(_scn_of(rec)):
            out.append(pytest.param(rec, sc.name, id=f"{_scn_of(rec).stem}:{sc.name}"))
    return out


def test_there_is_a_corpus():
    names = {p.stem for p in SCEN_DIR.glob("*.scn")}
    for theme in ("raw_read_before_map", "overflow_lost_events", "multi_page", "subbuf_8k",
                  "mmap_errors", "refused_while_mapped", "ioctl_errors", "vma_edges",
                  "dofork_fork", "geometry"):
        assert theme in names
        assert (SCEN_DIR / f"{theme}.kernel.jsonl").is_file(), f"{theme} has no recording"


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.stem)
def test_recording_matches_its_scenario_file(rec):
    header, objs = k.read_recording(rec)
    assert header["package"].startswith("linux-image-6.12.")
    assert header["package_version"].startswith("6.12.")
    assert header["uname_r"].startswith("6.12.")
    scenarios = load(_scn_of(rec))
    by_scn = kc.split_by_scenario(objs)
    assert list(by_scn) == [sc.name for sc in scenarios]
    for sc in scenarios:
        got = by_scn[sc.name]
        ops = [o for o in got if o["op"] != "kmsg"]
        want = [("scenario", [sc.name])] + [(op.name, op.args) for op in sc.ops]
        assert [(o["op"], o["args"]) for o in ops] == want, f"{rec.name}: {sc.name} is stale"
        assert [o["step"] for o in ops] == list(range(1, len(want) + 1))
        kmsg = [o for o in got if o["op"] == "kmsg"]
        if any(step is None for step, _ in sc.kernel_bugs):
            assert kmsg, f"{sc.name}: kernel-bug note but the recording shows no warning"
        # a kernel WARNING or BUG is a defect report: the corpus keeps one only
        # with a kernel-bug note on its step (or, after the clean-up, at the end)
        noted = {step for step, _ in sc.kernel_bugs}
        for o in got:
            bad = [w for w in o.get("warn", []) if w["kind"] != "info"]
            assert not bad or o.get("step") in noted, \
                f"{sc.name}: unexplained kernel warning in {o}"


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda p: p.stem)
def test_recording_shape(rec):
    _, objs = k.read_recording(rec)
    for o in objs:
        assert kc.shape_errors(o) == [], o
        if o["op"] in ("map",) and o["rc"] == 0:
            assert "meta" in o
        if o["op"] == "ioctl" and o["rc"] == 0:
            assert "meta" in o
        if o["op"] == "page" and o["rc"] == 0:
            assert o["page"]["id"] is not None
        if o["op"] in ("buffer_size_kb", "subbuf_size_kb", "resize_kb", "subbuf_resize_kb"):
            assert isinstance(o["value"], int)
        if o["op"] == "fork":
            assert isinstance(o["child_mapped"], bool)


def test_recorded_facts_of_the_corpus():
    """A few facts of UPSTREAM.md, as the recordings show them (guards re-recording)."""
    _, objs = k.read_recording(SCEN_DIR / "mmap_errors.kernel.jsonl")
    rc = {(o["scenario"], tuple(o["args"])): o["rc"] for o in objs if o["op"] == "trymap"}
    assert rc[("mmap_errors_rdonly", ("4096", "0", "rw", "shared"))] == -13  # EACCES (VFS)
    assert rc[("mmap_errors_rdwr", ("4096", "0", "rw", "shared"))] == -1  # EPERM
    assert rc[("mmap_errors_rdonly", ("4096", "0", "r", "private"))] == -1
    assert rc[("mmap_errors_rdonly", ("32768", "0", "r", "shared"))] == -22
    _, objs = k.read_recording(SCEN_DIR / "overflow_lost_events.kernel.jsonl")
    flagged = [o["page"] for o in objs if o["op"] == "page" and o["page"]["missed_events"]]
    assert flagged and all(p["missed_stored"] == (p["lost"] is not None) for p in flagged)


# ---------------------------------------------------------------- impl vs kernel

# (file stem, scenario) -> reason; each entry a difference listed in the report for
# the impl side to fix.  Never widen the comparison instead.
IMPL_XFAIL: dict[tuple[str, str], str] = {
    # (scenario file, scenario name) -> why impl differs from the kernel
}


@functools.lru_cache(maxsize=None)
def _impl_output(scn: Path) -> tuple:
    from rbmap.impl.scenario import run_scenarios

    return tuple(run_scenarios(scn))


def _impl_available() -> str | None:
    try:
        import rbmap.impl.tracefs  # noqa: F401
    except ImportError as exc:
        return f"impl back end not importable yet: {exc}"
    return None


@pytest.mark.parametrize("rec,name", _pairs())
def test_impl_agrees_with_kernel_recording(rec, name, request):
    why = _impl_available()
    if why:
        pytest.skip(why)
    key = (_scn_of(rec).stem, name)
    if key in IMPL_XFAIL:
        request.applymarker(pytest.mark.xfail(reason=IMPL_XFAIL[key], strict=True))
    _, kobjs = k.read_recording(rec)
    iobjs = list(_impl_output(_scn_of(rec)))
    kpart = kc.split_by_scenario(kobjs).get(name, [])
    ipart = kc.split_by_scenario(iobjs).get(name, [])
    unexplained, _explained = kc.compare(_scn_of(rec), kpart, ipart)
    assert not unexplained, "\n".join(kc.describe(r) for r in unexplained)
