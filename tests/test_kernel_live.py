"""Live runs on Linux 6.12 under qemu (``pytest -m kernel``; needs ``rbmap kernel setup``).

One boot runs every recorded scenario file (files with a `# kernel-bug:` note
last) and each file's output must equal its recording after the documented
normalisation; a second, small boot goes through ``rbmap scenario --on kernel``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rbmap import kernel as k

pytestmark = pytest.mark.kernel

SCEN_DIR = Path(__file__).resolve().parent.parent / "specs" / "scenarios"


def _scn_of(rec: Path) -> Path:
    return rec.with_name(rec.name[: -len(".kernel.jsonl")] + ".scn")


@pytest.fixture(scope="module")
def state():
    st = k.load_state()
    if st is None:
        pytest.skip(f"kernel not set up in {k.cache_dir()}: run `rbmap kernel setup`")
    return st


@pytest.fixture(scope="module")
def corpus_run(state):
    recs = sorted(SCEN_DIR.glob("*.kernel.jsonl"))
    files = k.order_for_boot([_scn_of(r) for r in recs])
    t0 = time.monotonic()
    res = k.run_files(files)
    n_scn = sum(1 for objs in res.files for o in objs if o["op"] == "scenario")
    print(f"\nkernel {res.uname_r} ({state.package_version}): {len(files)} files, "
          f"{n_scn} scenarios in one boot, boot-to-result {res.seconds:.1f} s "
          f"(wall {time.monotonic() - t0:.1f} s)")
    return state, res, dict(zip(files, res.files))


def test_live_kernel_version_is_recorded(corpus_run):
    state, res, _ = corpus_run
    assert res.uname_r == state.release
    for rec in SCEN_DIR.glob("*.kernel.jsonl"):
        header, _ = k.read_recording(rec)
        if header["uname_r"] != res.uname_r:
            pytest.fail(f"{rec.name} was recorded on {header['uname_r']}, the kernel set up "
                        f"is {res.uname_r}: compare, then re-record with "
                        f"`rbmap kernel run --record {_scn_of(rec)}`")


@pytest.mark.parametrize("rec", sorted(SCEN_DIR.glob("*.kernel.jsonl")), ids=lambda p: p.stem)
def test_live_run_equals_recording(corpus_run, rec):
    from rbmap.cli.scenario import diff_results, normalise

    _, _, by_file = corpus_run
    header, recorded = k.read_recording(rec)
    live = by_file[_scn_of(rec)]
    bad = [r for r in diff_results(normalise(recorded), normalise(live)) if r["differences"]]
    assert not bad, "\n".join(f"{r['scenario']} step {r['step']} {r['op']}: {r['differences']}"
                              for r in bad)
    # the guest reports warnings deterministically: their text (and the
    # source line of a WARNING) must match too
    assert [normalise([o])[0].get("warn") for o in live] == \
        [normalise([o])[0].get("warn") for o in recorded]


def test_scenario_command_on_kernel(state, tmp_path):
    from click.testing import CliRunner

    from rbmap.cli import main

    scn = tmp_path / "small.scn"
    scn.write_text("scenario small\nopen nonblock\nmarkers 16\nmap\nioctl\nunmap\nclose\n")
    res = CliRunner().invoke(main, ["scenario", str(scn), "--on", "kernel", "--json"])
    assert res.exit_code == 0, res.output
    import json

    objs = [json.loads(x) for x in res.output.splitlines() if x.startswith("{")]
    ioctl = [o for o in objs if o["op"] == "ioctl"][0]
    # the kernel selftest's meta_page_check: 16 writes, then GET_READER
    assert ioctl["meta"]["entries"] == 16 and ioctl["meta"]["read"] == 16
    assert ioctl["meta"]["reader"]["id"] == 1
