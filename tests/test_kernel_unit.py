"""The kernel back end's host side, without booting: initramfs, console parsing,
vmlinux extraction, cache state, the CLI's refusals, the comparison helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap import kernel as k
from rbmap import kernel_compare as kc


def _read_newc(blob: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    out = {}
    pos = 0
    while True:
        assert blob[pos:pos + 6] == b"070701"
        f = [int(blob[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = f[1], f[6], f[9], f[10], f[11]
        pos += 110
        name = blob[pos:pos + namesize - 1].decode()
        pos += namesize
        pos += -pos % 4
        data = blob[pos:pos + size]
        pos += size
        pos += -pos % 4
        if name == "TRAILER!!!":
            assert pos == len(blob)
            return out
        out[name] = (mode, data, (rmaj, rmin))


def test_initramfs_has_console_init_and_scenarios(tmp_path):
    init = tmp_path / "init"
    init.write_bytes(b"\x7fELF-fake")
    blob = k.build_initramfs(init, ["scenario a\nopen\n", "scenario b\n"])
    files = _read_newc(blob)
    assert files["dev/console"][0] == 0o020600 and files["dev/console"][2] == (5, 1)
    assert files["init"] == (0o100755, b"\x7fELF-fake", (0, 0))
    assert files["scn/0.scn"][1] == b"scenario a\nopen\n"
    assert files["scn/1.scn"][1] == b"scenario b\n"
    for d in ("dev", "proc", "sys", "scn"):
        assert files[d][0] == 0o040755


CONSOLE = (
    "SeaBIOS noise\r\n"
    "RBMAPK-UNAME 6.12.117+deb12-cloud-amd64\r\n"
    "RBMAPK-FILE 0\r\n"
    'RBMAPK {"step": 1, "scenario": "a", "op": "scenario", "args": ["a"], "rc": 0}\r\n'
    "[    3.1] some kernel line\r\n"
    "RBMAPK-FILE 1\r\n"
    'RBMAPK {"step": 1, "scenario": "b", "op": "scenario", "args": ["b"], "rc": 0}\r\n'
    'RBMAPK {"scenario": "b", "op": "kmsg", "warn": [{"kind": "info", "message": "W"}]}\r\n'
    "RBMAPK-END\r\n"
    "reboot: Power down\r\n"
)


def test_parse_console_splits_files():
    uname, files = k.parse_console(CONSOLE, 2)
    assert uname == "6.12.117+deb12-cloud-amd64"
    assert [o["scenario"] for o in files[0]] == ["a"]
    assert [o["op"] for o in files[1]] == ["scenario", "kmsg"]


def test_parse_console_refuses_an_unfinished_boot():
    with pytest.raises(k.KernelError, match="did not finish"):
        k.parse_console(CONSOLE.replace("RBMAPK-END", "Kernel panic"), 2)
    with pytest.raises(k.KernelError, match="garbled"):
        k.parse_console(CONSOLE.replace('"rc": 0}\r\n[', '"rc": \r\n['), 2)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd not installed")
def test_extract_vmlinux_cuts_the_zstd_payload(tmp_path):
    payload = b"\x7fELF" + bytes(range(256)) * 64
    comp = subprocess.run(["zstd", "-c", "-q"], input=payload, capture_output=True).stdout
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(b"MZ setup code" + b"\0" * 500 + comp + b"trailing bytes")
    out = tmp_path / "vmlinux"
    k.extract_vmlinux(vmlinuz, out)
    assert out.read_bytes() == payload
    vmlinuz.write_bytes(b"no payload here")
    with pytest.raises(k.KernelError, match="no zstd payload"):
        k.extract_vmlinux(vmlinuz, out)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_guest_runner_compiles_cleanly(tmp_path):
    res = subprocess.run(["gcc", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                          str(k.INIT_SOURCE)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_state_missing_or_incomplete(tmp_path):
    assert k.load_state(tmp_path) is None
    (tmp_path / "state.json").write_text(json.dumps({
        "package": "p", "package_version": "v", "release": "6.12.1+x",
        "vmlinux": str(tmp_path / "nope"), "init": str(tmp_path / "nope2"),
        "init_sha256": "0"}))
    assert k.load_state(tmp_path) is None
    (tmp_path / "nope").write_bytes(b"x")
    (tmp_path / "nope2").write_bytes(b"x")
    st = k.load_state(tmp_path)
    assert st is not None and st.short_version == "6.12.1"


def test_bug_files_go_last(tmp_path):
    a = tmp_path / "a.scn"
    a.write_text("scenario a\n# kernel-bug: x\n")
    b = tmp_path / "b.scn"
    b.write_text("scenario b\n")
    c = tmp_path / "c.scn"
    c.write_text("scenario c\n")
    assert k.order_for_boot([a, c, b]) == [b, c, a]


def test_recording_round_trip(tmp_path):
    scn = tmp_path / "x.scn"
    scn.write_text("scenario x\n")
    st = k.KernelState("linux-image-6.12.9+deb12-cloud-amd64-unsigned", "6.12.9-1",
                       "6.12.9+deb12-cloud-amd64", "v", "i", "h")
    objs = [{"step": 1, "scenario": "x", "op": "scenario", "args": ["x"], "rc": 0}]
    path = k.write_recording(scn, k.recording_header(st, "6.12.9+deb12-cloud-amd64"), objs)
    assert path.name == "x.kernel.jsonl"
    header, back = k.read_recording(path)
    assert header["package_version"] == "6.12.9-1" and back == objs


# ---------------------------------------------------------------- CLI refusals

def _cli(args, env=None):
    from rbmap.cli import main

    return CliRunner().invoke(main, args, env=env)


def test_cli_run_refuses_missing_and_malformed_files(tmp_path):
    res = _cli(["kernel", "run", str(tmp_path / "none.scn")])
    assert res.exit_code == 2 and "no such file" in res.output
    bad = tmp_path / "bad.scn"
    bad.write_text("scenario x\nfrobnicate 3\n")
    res = _cli(["kernel", "run", str(bad)])
    assert res.exit_code == 2 and "frobnicate" in res.output
    assert "Traceback" not in res.output


def test_cli_run_without_setup_says_so(tmp_path):
    good = tmp_path / "good.scn"
    good.write_text("scenario x\nopen nonblock\n")
    res = _cli(["kernel", "run", str(good)], env={"RBMAP_KERNEL_CACHE": str(tmp_path / "c")})
    assert res.exit_code == 2 and "rbmap kernel setup" in res.output


def test_kernel_backend_is_registered_for_rbmap_scenario(tmp_path, monkeypatch):
    scenario_cli = pytest.importorskip("rbmap.cli.scenario")
    import rbmap.cli.kernel  # noqa: F401  (registers at import)

    assert "kernel" in scenario_cli.BACKENDS
    monkeypatch.setenv("RBMAP_KERNEL_CACHE", str(tmp_path / "empty"))
    with pytest.raises(scenario_cli.BackendError, match="not set up"):
        scenario_cli.run_backend("kernel", "scenario x\nopen nonblock\n")
    with pytest.raises(scenario_cli.BackendError, match="upstream ABI"):
        scenario_cli.run_backend("kernel", "scenario x\n", abi="v2")


# ---------------------------------------------------------------- comparison helpers

GOOD = {"step": 3, "scenario": "s", "op": "ioctl", "args": [], "rc": 0,
        "meta": {"meta_page_size": 4096, "meta_struct_len": 80, "subbuf_size": 4096,
                 "nr_subbufs": 6, "reader": {"lost_events": 0, "id": 1, "read": 64},
                 "flags": 0, "entries": 2, "overrun": 0, "read": 2}}


def test_shape_errors_accepts_format_and_rejects_drift():
    assert kc.shape_errors(GOOD) == []
    bad = json.loads(json.dumps(GOOD))
    bad["meta"]["reader_page"] = 1
    assert kc.shape_errors(bad)
    bad = dict(GOOD, rc=5)
    assert kc.shape_errors(bad)
    bad = dict(GOOD, op="frob")
    assert kc.shape_errors(bad)
    bad = dict(GOOD)
    del bad["args"]
    assert kc.shape_errors(bad)
    assert kc.shape_errors({"scenario": "s", "op": "kmsg", "warn": []})
    assert kc.shape_errors({"scenario": "s", "op": "kmsg", "warn": ["W"]})
    w = {"kind": "WARNING", "function": "f", "message": "", "at": "x.c:1"}
    assert kc.shape_errors({"scenario": "s", "op": "kmsg", "warn": [w]}) == []
    assert kc.shape_errors(dict(GOOD, warn=[w])) == []
    assert kc.shape_errors(dict(GOOD, warn=[dict(w, kind="oops")]))
    pipe = dict(GOOD, op="read_pipe", rc=90, pipe={"lines": [80], "partial": 10,
                                                   "lost": []})
    assert kc.shape_errors(pipe) == []
    assert kc.shape_errors(dict(pipe, rc=91))


def test_compare_explains_only_noted_steps(tmp_path):
    pytest.importorskip("rbmap.cli.scenario")
    scn = tmp_path / "s.scn"
    scn.write_text("scenario s\nopen nonblock\nioctl\n# kernel-bug: noted\n")
    kern = [{"step": 1, "scenario": "s", "op": "scenario", "args": ["s"], "rc": 0},
            {"step": 2, "scenario": "s", "op": "open", "args": ["nonblock"], "rc": 0},
            dict(GOOD, step=3),
            {"scenario": "s", "op": "kmsg",
             "warn": [{"kind": "WARNING", "function": "x", "message": ""}]}]
    other = [dict(o) for o in kern[:3]]
    un, ex = kc.compare(scn, kern, other)
    assert un == [] and len(ex) == 1 and ex[0]["explained_by"] == ["noted"]
    other[2] = json.loads(json.dumps(GOOD))
    other[2]["meta"]["reader"]["read"] = 96
    un, ex = kc.compare(scn, kern, other)
    assert len(un) == 1 and "meta.reader.read" in kc.describe(un[0])


# ---------------------------------------------------------------- the guest's decoder

def _hdr(word: int) -> bytes:
    import struct

    return struct.pack("<Qq", 123456, word - (1 << 64) if word >= 1 << 63 else word)


def _ev(type_len: int, delta: int = 0, array0: int | None = None, body: int = 0) -> bytes:
    import struct

    out = struct.pack("<I", (delta << 5) | type_len)
    if array0 is not None:
        out += struct.pack("<I", array0)
    return out + bytes(body)


def _crafted_pages() -> list[bytes]:
    import struct

    pages = []
    small = _ev(7, body=28)                       # 32-byte data event
    # plain page: 3 small events
    pages.append(_hdr(96) + small * 3)
    # time extend between events, then a big (type_len 0) event of 132 bytes
    big = _ev(0, array0=128, body=124)
    pages.append(_hdr(32 + 8 + 132) + small + _ev(30, 5, array0=1) + big)
    # padding with a length, then the null padding (rest of the page)
    pages.append(_hdr(4080) + small + _ev(29, 1, array0=12, body=8) + _ev(29, 0) )
    # missed events with the count stored after the data (sign-extended commit word)
    data = small * 2
    pages.append(_hdr(0xFFFFFFFFC0000000 | len(data)) + data + struct.pack("<Q", 77))
    # missed events without room for the count
    pages.append(_hdr(0xFFFFFFFF80000000 | 64) + small * 2)
    # inconsistent pages: event past the commit, bad length, commit past the bytes
    pages.append(_hdr(40) + small + _ev(7, body=28))
    pages.append(_hdr(40) + _ev(0, array0=2, body=40))
    pages.append(_hdr(5000) + small)
    return [p + bytes(max(0, 4096 - len(p))) if len(p) < 4096 and i != 7 else p
            for i, p in enumerate(pages)]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_guest_decoder_agrees_with_impl_decoder(tmp_path):
    """The C runner decodes pages exactly as impl's decoder (FORMAT.md `page`),
    including the `error` of an inconsistent page; its fault guard reports SIGSEGV."""
    import struct

    from rbmap.impl.decode import decode_subbuf

    exe = tmp_path / "selftest"
    res = subprocess.run(["gcc", "-O1", "-DRBMAP_SELFTEST", "-o", str(exe), str(k.INIT_SOURCE)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    pages = _crafted_pages()
    blob = b"".join(struct.pack("<I", len(p)) + p for p in pages)
    out = subprocess.run([str(exe)], input=blob, capture_output=True, timeout=30).stdout
    lines = out.decode().splitlines()
    got = [json.loads(x)["page"] for x in lines[:-1]]
    want = [decode_subbuf(p, i) for i, p in enumerate(pages)]
    assert got == want
    assert [("error" in g) for g in got] == [False] * 5 + [True] * 3
    assert got[1]["events"][1]["type"] == "time_extend" and got[3]["lost"] == 77
    assert lines[-1] == "guard -14 SIGSEGV"


def test_setup_without_tools_or_apt_exits_2(tmp_path):
    env = {"PATH": str(tmp_path / "empty-bin"), "RBMAP_KERNEL_CACHE": str(tmp_path / "c")}
    res = _cli(["kernel", "setup"], env=env)
    assert res.exit_code == 2
    assert "missing" in res.output and "qemu-system-x86" in res.output
    assert "Traceback" not in res.output


def test_setup_is_pinned_to_the_recorded_version():
    """rbmap targets Debian 6.12.117-1~deb12u1: setup fetches that package unless
    told otherwise, and names it exactly."""
    assert k.DEFAULT_VERSION == "6.12.117-1~deb12u1"
    assert k.package_for(k.DEFAULT_VERSION) == (
        "linux-image-6.12.117+deb12-cloud-amd64-unsigned", "6.12.117+deb12-cloud-amd64")
    assert k.package_for("6.12.118-1~deb12u1")[1] == "6.12.118+deb12-cloud-amd64"
    with pytest.raises(k.KernelError, match="bad kernel version"):
        k.package_for("6.12.117")
    # every recording was made on it
    for rec in sorted((Path(k.__file__).parent.parent / "specs" / "scenarios")
                      .glob("*.kernel.jsonl")):
        header, _ = k.read_recording(rec)
        assert header["package_version"] == k.DEFAULT_VERSION, rec.name


def test_setup_of_another_version_sets_up_again(tmp_path, monkeypatch):
    """A cache holding the pinned version is reused; asking for another version
    (or a cache of another version) goes and fetches it."""
    vm, init = tmp_path / "vmlinux", tmp_path / "init"
    vm.write_bytes(b"x")
    init.write_bytes(b"x")
    (tmp_path / "state.json").write_text(json.dumps({
        "package": "linux-image-6.12.117+deb12-cloud-amd64-unsigned",
        "package_version": k.DEFAULT_VERSION, "release": "6.12.117+deb12-cloud-amd64",
        "vmlinux": str(vm), "init": str(init), "init_sha256": "0"}))
    fetched = []

    def fake_find(cache, log, version):
        fetched.append(version)
        raise k.KernelError("stop here")

    monkeypatch.setattr(k, "_find_package", fake_find)
    monkeypatch.setattr(k, "_ensure_host_tools", lambda log: None)
    monkeypatch.setattr(k, "build_init", lambda cache: (init, "0"))
    monkeypatch.setattr(k.shutil, "which", lambda c: "/bin/" + c)
    st, did = k.setup(log=lambda m: None, cache=tmp_path)
    assert st.package_version == k.DEFAULT_VERSION and not did and fetched == []
    with pytest.raises(k.KernelError, match="stop here"):
        k.setup(log=lambda m: None, cache=tmp_path, version="6.12.118-1~deb12u1")
    assert fetched == ["6.12.118-1~deb12u1"]


def test_run_qemu_stops_a_guest_that_prints_nothing_for_stall_seconds():
    """A guest that hangs costs ``stall`` seconds, not the whole boot timeout
    (rbmap fuzz gives a boot of thousands of operations a long timeout)."""
    out, done, secs = k._run_qemu(["sh", "-c", "echo RBMAPK-a; sleep 60; echo late"],
                                  timeout=120, stall=1.0)
    assert (out, done) == ("RBMAPK-a\n", False) and secs < 30
    out, done, secs = k._run_qemu(["sh", "-c", "echo a; sleep 0.5; echo b >&2"],
                                  timeout=60, stall=5.0)
    assert (out, done) == ("a\nb\n", True)
    out, done, secs = k._run_qemu(["sh", "-c", "while :; do echo x; sleep 0.2; done"],
                                  timeout=1.0, stall=5.0)
    assert not done and out.startswith("x\n") and secs < 30
