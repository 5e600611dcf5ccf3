"""``rbmap scenario --on model``: the model run step by step on scenario files.

Every scenario of the corpus either runs on the model and agrees with the real
kernel's recording on everything the model observes, or is refused naming what the
model cannot express (the list below, each with its reason). The refusals are
exit 2 with one line, never a silent skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rbmap import kernel as k
from rbmap import kernel_compare as kc
from rbmap.impl.scenario import load, parse
from rbmap.scenario_model import ModelUnsupported, _run_one, run_on_model

SCEN_DIR = Path(__file__).resolve().parent.parent / "specs" / "scenarios"
RECORDINGS = sorted(SCEN_DIR.glob("*.kernel.jsonl"))

# (file stem, scenario) -> what the refusal names
REFUSED = {
    ("multi_page", "big_events"): "the model's events have one size",
    ("raw_read_before_map", "raw_subbuf8_halves"): "the model reads whole pages",
    ("read_pipe", "pipe_leftover"): "the model's events have one size",
    ("refusals", "refused_vma_changes"): "'partial_munmap': VMA splitting",
    ("vma_edges", "vma_edges"): "'partial_munmap': VMA splitting is not in the model",
    ("dofork_snapshot", "dofork_snapshot"): "swapped the buffer a process maps",
    ("reset_head", "reset_head_fill"): "the model's events have one size",
    ("seed_memory", "meta_tail"): "'meta_tail': not in the model",
    ("subbuf_max_event", "subbuf_max_event_4k"): "do not fit",
    ("subbuf_max_event", "subbuf_max_event_8k"): "do not fit",
    ("subbuf_max_event", "subbuf_max_event_16k"): "do not fit",
    ("blocking_wait", "blocking_wait"): "the model's events have one size",
    ("blocking_wait", "nonblocking_no_wait"): "the model's events have one size",
    ("partial_read_lost_count", "partial_read_lost_count"): "do not fit",
    ("refused_cpu_boot", "refused_cpu1"): "'trymap_cpu1': not in the model",
    ("refused_cpu_boot", "refused_boot"): "'trymap_boot': not in the model",
}


def _scn_of(rec: Path) -> Path:
    return rec.with_name(rec.name[: -len(".kernel.jsonl")] + ".scn")


def _pairs():
    return [pytest.param(rec, sc, id=f"{_scn_of(rec).stem}:{sc.name}")
            for rec in RECORDINGS for sc in load(_scn_of(rec))]


@pytest.mark.parametrize("rec,sc", _pairs())
def test_model_agrees_with_kernel_recording_or_refuses(rec, sc):
    scn = _scn_of(rec)
    key = (scn.stem, sc.name)
    if key in REFUSED:
        with pytest.raises(ModelUnsupported, match=REFUSED[key]):
            _run_one(sc, str(scn), "6.12")
        return
    got = _run_one(sc, str(scn), "6.12")
    _, kobjs = k.read_recording(rec)
    want = kc.split_by_scenario(kobjs).get(sc.name, [])
    unexplained, _ = kc.compare(scn, want, got)
    assert not unexplained, "\n".join(kc.describe(r) for r in unexplained)


def test_most_of_the_corpus_runs_on_the_model():
    runs = [p for p in _pairs()
            if (_scn_of(p.values[0]).stem, p.values[1].name) not in REFUSED]
    assert len(runs) >= 55


TEXT = """\
scenario lost
buffer_size_kb 8
open nonblock
map
markers 600
ioctl
page
"""


def test_model_reports_the_loss_in_the_page_and_not_in_the_meta_page():
    objs = run_on_model(TEXT)
    ioctl, page = objs[-2], objs[-1]
    assert ioctl["meta"]["overrun"] == 254 and ioctl["meta"]["reader"]["lost_events"] == 0
    assert page["page"]["missed_events"] and page["page"]["lost"] == 254
    assert all(o.get("warn") == [] for o in objs if "warn" in o)


def test_model_warns_where_the_kernel_does():
    # put_snapshot_map's WARN_ON(!tr->mapped), inlined into the close callback
    objs = run_on_model("scenario fork\nopen nonblock\nmap\ndofork_fork\nunmap\n")
    unmap = objs[-1]
    assert unmap["op"] == "unmap"
    assert unmap["warn"] == [{"kind": "WARNING", "function": "tracing_buffers_mmap_close",
                              "message": ""}]
    # left mapped, the warning comes with the clean-up: the kmsg object
    objs = run_on_model("scenario fork\nopen nonblock\nmap\ndofork_fork\n")
    assert objs[-1] == {"scenario": "fork", "op": "kmsg", "warn": unmap["warn"]}


def test_model_lets_the_snapshot_swap_the_mapped_buffer_as_the_kernel_does():
    """README K8: up to the snapshot the model agrees with the recording (the
    second one, after two MADV_DOFORK children, is accepted); it refuses to go on
    from there (one buffer)."""
    scn = SCEN_DIR / "dofork_snapshot.scn"
    lines = scn.read_text().splitlines()
    cut = [i for i, x in enumerate(lines) if x.strip() == "snapshot"][1]
    got = run_on_model("\n".join(lines[:cut + 1]) + "\n")
    _, kobjs = k.read_recording(SCEN_DIR / "dofork_snapshot.kernel.jsonl")
    rc = [(o["op"], o["rc"]) for o in kobjs if o.get("step", 99) <= len(got)]
    assert [(o["op"], o["rc"]) for o in got] == rc
    assert rc[-3:] == [("snapshot", -16), ("dofork_fork", 0), ("snapshot", 0)]


def test_refusal_names_every_operation_and_line():
    text = "scenario a\nopen\nmap\npartial_munmap\nmremap_grow\n"
    with pytest.raises(ModelUnsupported) as exc:
        run_on_model(text)
    msg = str(exc.value)
    assert "<scenario>:4: 'partial_munmap'" in msg and "<scenario>:5: 'mremap_grow'" in msg
    assert "\n" not in msg


def test_cli_on_model_exit_codes(tmp_path):
    good = tmp_path / "g.scn"
    good.write_text(TEXT)
    bad = tmp_path / "b.scn"
    bad.write_text("scenario b\nopen\nmap\nmprotect_write\n")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", "scenario",
                               *args], capture_output=True, text=True)

    r = run(str(good), "--on", "model")
    assert r.returncode == 0 and "flags=MS lost=254" in r.stdout
    r = run(str(bad), "--on", "model")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("rbmap: ") and r.stderr.count("\n") == 1
    assert "'mprotect_write'" in r.stderr
    r = run(str(good), "--on", "model,impl")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 differing" in r.stdout


def test_layout_and_abi_options():
    objs = run_on_model(TEXT, layout="6.10")
    assert objs[3]["meta"]["meta_page_size"] == 4096
    assert run_on_model(TEXT)[3]["meta"]["meta_page_size"] == 4096  # 4 KiB subbufs
    with pytest.raises(ModelUnsupported, match="upstream ABI only"):
        run_on_model(TEXT, abi="v2")
    assert parse(TEXT)  # the text is a valid scenario for every back end
