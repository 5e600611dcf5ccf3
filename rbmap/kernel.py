"""Ground truth: run scenario files on a real Linux 6.12 kernel under qemu.

``setup()`` fetches a Debian 6.12 cloud kernel package (bookworm-security)
without installing it, extracts an uncompressed ``vmlinux`` (qemu boots it
through its PVH note, skipping the slow decompressor under TCG), installs
qemu/gcc/zstd from Debian when missing and builds the guest runner
``kernel_init.c`` as a static ``/init``.  Everything lives in a cache
directory (``~/.cache/rbmap/kernel``, or ``$RBMAP_KERNEL_CACHE``).  When the
host's apt sources do not carry bookworm-security, setup writes its own sources
file ``apt/security.list`` in the cache and points apt at it (with its own lists
and package cache there) for the look-up and the download only; the host's apt
configuration is never changed.  Nothing is installed as the host's kernel: the
package is only unpacked with ``dpkg-deb``.

``run_scenarios(path_or_text)`` packs the scenario file(s) into a newc
initramfs, boots once (``-accel tcg -smp 2``, CPU 1 offline: :func:`qemu_command`), and returns the JSON objects
that the guest printed, one per operation, in the shape of
specs/scenarios/FORMAT.md: each with its ``warn`` list (what the kernel logged
during the operation), plus ``{"op": "kmsg", "warn": [...]}`` after a scenario
whose clean-up made the kernel log something.

``setup()`` fetches the package version the recordings were made on
(:data:`DEFAULT_VERSION`) unless told otherwise.

Recordings (``NAME.kernel.jsonl`` next to ``NAME.scn``) start with a header
line ``{"recorded_on": "kernel", "package": ..., "package_version": ...,
"uname_r": ...}`` followed by the objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "RBMAPK "
CONTROL = "RBMAPK-"
INIT_SOURCE = Path(__file__).with_name("kernel_init.c")
PACKAGE_RE = re.compile(r"^linux-image-(6\.12\.(\d+)\+deb12-cloud-amd64)-unsigned$")
#: the Debian package version the scenario recordings were made on
DEFAULT_VERSION = "6.12.117-1~deb12u1"
VERSION_RE = re.compile(r"^6\.12\.(\d+)-\d+~deb12u\d+$")
SECURITY_SOURCE = (
    "deb http://deb.debian.org/debian-security bookworm-security main\n"
)
HOST_TOOLS = {  # command -> Debian package providing it
    "qemu-system-x86_64": "qemu-system-x86",
    "gcc": "gcc",
    "zstd": "zstd",
}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_TIMEOUT = 300.0


class KernelError(Exception):
    """Something the kernel back end needs cannot be had (message for the user)."""


def cache_dir() -> Path:
    env = os.environ.get("RBMAP_KERNEL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "rbmap" / "kernel"


@dataclass
class KernelState:
    """What ``setup`` produced (``state.json`` in the cache)."""

    package: str
    package_version: str
    release: str  # e.g. 6.12.117+deb12-cloud-amd64
    vmlinux: str
    init: str
    init_sha256: str
    extra: dict = field(default_factory=dict)

    @property
    def short_version(self) -> str:
        return self.release.split("+", 1)[0]


def _state_path(cache: Path) -> Path:
    return cache / "state.json"


def load_state(cache: Path | None = None) -> KernelState | None:
    """The cached setup, or None when it is missing or incomplete."""
    cache = cache or cache_dir()
    try:
        data = json.loads(_state_path(cache).read_text())
        st = KernelState(**data)
    except (OSError, ValueError, TypeError):
        return None
    if not (Path(st.vmlinux).is_file() and Path(st.init).is_file()):
        return None
    return st


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise KernelError(f"{what}: command not found: {cmd[0]}") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise KernelError(f"{what} failed ({' '.join(cmd[:3])} ...): " + " | ".join(tail))
    return res


def _ensure_host_tools(log) -> None:
    missing = sorted({pkg for cmd, pkg in HOST_TOOLS.items() if shutil.which(cmd) is None})
    if not Path("/usr/include/stdio.h").exists() or not _has_static_libc():
        missing.append("libc6-dev")
    if not missing:
        return
    if os.geteuid() != 0:
        raise KernelError(
            "missing host packages " + ", ".join(missing) + " and not root: "
            "install them (apt-get install " + " ".join(missing) + ") and run again"
        )
    if shutil.which("apt-get") is None:
        raise KernelError("missing " + ", ".join(missing) + " and no apt-get to install them")
    log("installing " + " ".join(missing) + " from Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-q"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
         "apt-get install", env=env)


def _has_static_libc() -> bool:
    return any(Path(d, "libc.a").exists()
               for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"))


def _apt_options(cache: Path, own_sources: bool) -> list[str]:
    """apt options; with own_sources, a private bookworm-security list in the cache
    (the host's apt configuration is left alone)."""
    if not own_sources:
        return []
    return apt_options(cache, "apt", SECURITY_SOURCE, "security.list")


def apt_options(cache: Path, dirname: str, source: str,
                list_name: str = "sources.list") -> list[str]:
    """apt options that use only a sources list of our own, with its own lists and
    package cache, in ``cache/dirname`` (the host's apt configuration is never
    read for sources nor changed)."""
    apt = cache / dirname
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    src = apt / list_name
    src.write_text(source)
    return [
        "-o", f"Dir::Etc::SourceList={src}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", f"Dir::Cache={apt / 'cache'}",
    ]


def _newest_package(opts: list[str]) -> tuple[str, str] | None:
    res = subprocess.run(
        ["apt-cache", *opts, "search", "--names-only", r"^linux-image-6\.12\..*-cloud-amd64-unsigned$"],
        capture_output=True, text=True,
    )
    best = None
    for line in res.stdout.splitlines():
        m = PACKAGE_RE.match(line.split(" - ", 1)[0].strip())
        if m and (best is None or int(m.group(2)) > best[0]):
            best = (int(m.group(2)), line.split(" - ", 1)[0].strip(), m.group(1))
    return (best[1], best[2]) if best else None


def package_for(version: str) -> tuple[str, str]:
    """``6.12.117-1~deb12u1`` -> (package name, kernel release)."""
    m = VERSION_RE.match(version)
    if not m:
        raise KernelError(f"bad kernel version {version!r} (a Debian version like "
                          f"{DEFAULT_VERSION}, or 'newest')")
    release = f"6.12.{m.group(1)}+deb12-cloud-amd64"
    return f"linux-image-{release}-unsigned", release


def _has_version(opts: list[str], package: str, version: str) -> bool:
    res = subprocess.run(["apt-cache", *opts, "show", "--no-all-versions",
                          f"{package}={version}"], capture_output=True, text=True)
    return res.returncode == 0 and "Package:" in res.stdout


def _lookup(opts: list[str], version: str):
    """(package, release, apt version) available with these apt options, or None."""
    if version == "newest":
        found = _newest_package(opts)
        return (*found, None) if found else None
    package, release = package_for(version)
    return (package, release, version) if _has_version(opts, package, version) else None


def _find_package(cache: Path, log, version: str = DEFAULT_VERSION
                  ) -> tuple[str, str, str | None, list[str]]:
    """Where to get the kernel package of *version* ('newest': the newest 6.12):
    (package, release, apt version or None for any, apt options)."""
    if shutil.which("apt-cache") is None or shutil.which("apt-get") is None:
        raise KernelError("no apt-get/apt-cache: a Debian host is needed to fetch the kernel")
    if version != "newest":
        package_for(version)                  # a bad version is bad input
    found = _lookup([], version)
    if found:
        return (*found, [])
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        found = _lookup([], version)
        if found:
            return (*found, [])
    log("bookworm-security not in the host's apt sources: using a private list in " + str(cache / "apt"))
    opts = _apt_options(cache, True)
    _run(["apt-get", *opts, "update", "-q"], "apt-get update (bookworm-security)")
    found = _lookup(opts, version)
    if not found:
        what = "any linux-image-6.12.*-cloud-amd64-unsigned package" if version == "newest" \
            else f"{package_for(version)[0]} version {version}"
        raise KernelError(f"no {what} in bookworm-security")
    return (*found, opts)


def extract_vmlinux(vmlinuz: Path, out: Path) -> None:
    """Cut the zstd payload out of a bzImage and decompress it (an ELF with a PVH note)."""
    blob = vmlinuz.read_bytes()
    start = blob.find(ZSTD_MAGIC)
    if start < 0:
        raise KernelError(f"{vmlinuz}: no zstd payload found")
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".zst", delete=False) as tmp:
        tmp.write(blob[start:])
    try:
        with open(out, "wb") as fh:
            # zstd complains about the bytes after the frame; the output is complete
            subprocess.run(["zstd", "-dc", tmp.name], stdout=fh, stderr=subprocess.DEVNULL)
    finally:
        os.unlink(tmp.name)
    head = out.read_bytes()[:4] if out.exists() else b""
    if head != b"\x7fELF":
        raise KernelError(f"{vmlinuz}: the zstd payload is not an ELF vmlinux")


def build_init(cache: Path) -> tuple[Path, str]:
    """Compile kernel_init.c into a static binary in the cache (if the source changed)."""
    digest = _sha256(INIT_SOURCE)
    init = cache / "init"
    stamp = cache / "init.sha256"
    if init.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return init, digest
    if shutil.which("gcc") is None:
        raise KernelError("gcc not found: run `rbmap kernel setup`")
    _run(["gcc", "-static", "-O2", "-Wall", "-o", str(init), str(INIT_SOURCE)], "building the guest init")
    stamp.write_text(digest + "\n")
    return init, digest


def setup(log=print, cache: Path | None = None, version: str = DEFAULT_VERSION
          ) -> tuple[KernelState, bool]:
    """Fetch and prepare everything; returns (state, did_work). Raises KernelError.

    *version* is the Debian version of the kernel package (default: the one the
    recordings were made on, :data:`DEFAULT_VERSION`), or ``"newest"`` for the
    newest 6.12 on the mirror.  A cache holding another version is set up again."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    st = load_state(cache)
    wanted = st is not None and (version == "newest" or st.package_version == version)
    if wanted and all(shutil.which(c) for c in HOST_TOOLS):
        init, digest = build_init(cache)
        if digest != st.init_sha256:
            st.init_sha256 = digest
            _state_path(cache).write_text(json.dumps(st.__dict__, indent=1) + "\n")
            return st, True
        return st, False
    _ensure_host_tools(log)
    package, release, apt_version, opts = _find_package(cache, log, version)
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    log(f"downloading {package} {apt_version or '(newest)'}")
    for old in debs.glob("*.deb"):
        if not old.name.startswith(package + "_"):
            old.unlink()
    if not list(debs.glob(package + "_*.deb")):
        spec = f"{package}={apt_version}" if apt_version else package
        _run(["apt-get", *opts, "download", "-q", spec], "apt-get download", cwd=debs)
    deb = sorted(debs.glob(package + "_*.deb"))[-1]
    version = _run(["dpkg-deb", "-f", str(deb), "Version"], "dpkg-deb -f").stdout.strip()
    boot = cache / "boot"
    if boot.exists():
        shutil.rmtree(boot)
    boot.mkdir()
    log(f"unpacking {deb.name} (not installing it)")
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    _run(["tar", "-x", "-C", str(boot), "./boot"], "unpacking the kernel package", stdin=tar.stdout)
    tar.wait()
    vmlinuz = boot / "boot" / f"vmlinuz-{release}"
    if not vmlinuz.is_file():
        raise KernelError(f"{deb.name} has no boot/vmlinuz-{release}")
    vmlinux = cache / f"vmlinux-{release}"
    log("extracting the uncompressed vmlinux")
    extract_vmlinux(vmlinuz, vmlinux)
    init, digest = build_init(cache)
    st = KernelState(package=package, package_version=version, release=release,
                     vmlinux=str(vmlinux), init=str(init), init_sha256=digest)
    _state_path(cache).write_text(json.dumps(st.__dict__, indent=1) + "\n")
    return st, True


# ---------------------------------------------------------------- initramfs

def _newc_entry(name: str, mode: int, data: bytes = b"", ino: int = 1,
                rdev: tuple[int, int] = (0, 0), nlink: int = 1) -> bytes:
    nameb = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = hdr + nameb
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def build_initramfs(init: Path, scenario_texts: list[str]) -> bytes:
    """An uncompressed newc archive: /init, /dev/console, /scn/N.scn, mount points."""
    entries = []
    ino = 1

    def add(name, mode, data=b"", rdev=(0, 0)):
        nonlocal ino
        entries.append(_newc_entry(name, mode, data, ino=ino, rdev=rdev,
                                   nlink=2 if mode & 0o040000 else 1))
        ino += 1

    for d in ("dev", "proc", "sys", "scn"):
        add(d, 0o040755)
    add("dev/console", 0o020600, rdev=(5, 1))
    add("init", 0o100755, init.read_bytes())
    for i, text in enumerate(scenario_texts):
        add(f"scn/{i}.scn", 0o100644, text.encode())
    entries.append(_newc_entry("TRAILER!!!", 0, ino=0, nlink=1))
    return b"".join(entries)


# ---------------------------------------------------------------- boot

@dataclass
class BootResult:
    uname_r: str
    files: list[list[dict]]  # per scenario text, the objects in order
    seconds: float
    console: str  # the whole console log (for diagnostics)
    complete: bool = True  # False: the guest stopped early (boot(partial=True) only)


def qemu_command(vmlinux: str, initrd: str) -> list[str]:
    """Two CPUs, of which the guest runner takes CPU 1 offline before it makes
    any instance (tracefs has per_cpu/cpu1, no scenario's ring buffer a
    cpu_buffer for it: ``trymap_cpu1``), and a boot-mapped instance
    ``rbmap_boot`` on 1 MiB of reserved memory (TRACE_ARRAY_FL_BOOT:
    ``trymap_boot``)."""
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "2",
        "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
        "-serial", "stdio",
        "-kernel", vmlinux, "-initrd", initrd,
        "-append", "console=ttyS0 panic=-1 quiet nokaslr norandmaps "
                   "reserve_mem=1M:4096:rbmap_boot trace_instance=rbmap_boot@rbmap_boot",
    ]


def parse_console(text: str, n_files: int, partial: bool = False
                  ) -> tuple[str, list[list[dict]]]:
    """Split the guest's console output into per-file object lists.

    A guest that did not reach its end line is an error, unless ``partial``: then
    what it printed is returned (``rbmap fuzz`` re-runs the rest)."""
    uname = ""
    files: list[list[dict]] = [[] for _ in range(n_files)]
    cur = None
    ended = False
    for raw in text.replace("\r", "").splitlines():
        pos = raw.find("RBMAPK")
        if pos < 0:
            continue
        line = raw[pos:]
        if line.startswith(PREFIX):
            if cur is None:
                raise KernelError(f"guest output before any file: {line!r}")
            try:
                files[cur].append(json.loads(line[len(PREFIX):]))
            except ValueError:
                if partial:  # the line the guest was writing when it stopped
                    continue
                raise KernelError(f"garbled guest output line: {line!r}") from None
        elif line.startswith(CONTROL + "UNAME "):
            uname = line.split(" ", 1)[1].strip()
        elif line.startswith(CONTROL + "FILE "):
            cur = int(line.split()[1])
        elif line.startswith(CONTROL + "END"):
            ended = True
        elif line.startswith(CONTROL + "WARN"):
            if partial:  # rbmap fuzz: reported through BootResult.console
                continue
            raise KernelError("guest runner: " + line[len(CONTROL):])
    if not ended and not partial:
        tail = "\n".join(text.replace("\r", "").splitlines()[-15:])
        raise KernelError("the guest did not finish its scenarios; console tail:\n" + tail)
    return uname, files


def _run_qemu(cmd: list[str], timeout: float, stall: float | None
              ) -> tuple[str, bool, float]:
    """Run qemu with its console on a pipe: (console, powered off, seconds).

    qemu is killed after ``timeout`` seconds, or after ``stall`` seconds in
    which the console printed nothing (a guest that hangs: the runner prints a
    line per operation, and its own waits end after ALARM_SECONDS)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    chunks: list[bytes] = []
    last = [time.monotonic()]

    def pump() -> None:
        for chunk in iter(lambda: proc.stdout.read1(1 << 16), b""):
            chunks.append(chunk)
            last[0] = time.monotonic()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    t0 = time.monotonic()
    done = True
    while True:
        try:
            proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            now = time.monotonic()
            if now - t0 > timeout or (stall is not None and now - last[0] > stall):
                proc.kill()
                proc.wait()
                done = False
                break
    seconds = time.monotonic() - t0
    reader.join(5)              # the rest of the pipe (a killed qemu: at once)
    if not reader.is_alive():
        proc.stdout.close()
    return b"".join(chunks).decode(errors="replace"), done, seconds


def boot(scenario_texts: list[str], timeout: float = DEFAULT_TIMEOUT,
         state: KernelState | None = None, partial: bool = False,
         stall: float | None = None) -> BootResult:
    """Boot once with all the given scenario texts; return what the guest printed.

    With ``partial``, a guest that stops early (or qemu killed at the timeout, or
    after ``stall`` seconds without console output) gives what it printed so
    far, ``complete`` False, instead of an error."""
    st = state or load_state()
    if st is None:
        raise KernelError("kernel not set up: run `rbmap kernel setup` first")
    cache = Path(st.init).parent
    init, _ = build_init(cache)
    with tempfile.TemporaryDirectory(prefix="rbmap-kernel-") as tmp:
        initrd = Path(tmp) / "initrd.cpio"
        initrd.write_bytes(build_initramfs(init, scenario_texts))
        cmd = qemu_command(st.vmlinux, str(initrd))
        try:
            console, done, seconds = _run_qemu(cmd, timeout, stall)
        except FileNotFoundError:
            raise KernelError("qemu-system-x86_64 not found: run `rbmap kernel setup`") from None
    if not done:
        if partial:
            uname, files = parse_console(console, len(scenario_texts), partial=True)
            return BootResult(uname_r=uname, files=files, seconds=seconds,
                              console=console, complete=False)
        why = (f"printed nothing for {stall:.0f} s" if seconds < timeout
               else f"did not power off within {timeout:.0f} s")
        raise KernelError(f"qemu {why}; console tail:\n"
                          + "\n".join(console.splitlines()[-15:]))
    uname, files = parse_console(console, len(scenario_texts), partial=partial)
    complete = CONTROL + "END" in console
    return BootResult(uname_r=uname, files=files, seconds=seconds, console=console,
                      complete=complete)


def _as_text(path_or_text) -> str:
    """A path (os.PathLike, or a one-line string naming a file) or the text itself."""
    if isinstance(path_or_text, os.PathLike):
        return Path(path_or_text).read_text()
    s = str(path_or_text)
    if "\n" not in s and Path(s).is_file():
        return Path(s).read_text()
    return s


def run_scenarios(path_or_text, timeout: float = DEFAULT_TIMEOUT, **_opts) -> list[dict]:
    """Run one scenario file (path or text) on the real kernel; one boot.

    Options of other back ends (``abi``, ``layout``) are accepted and ignored: the
    kernel is what it is (upstream ABI, 6.12 layout).
    """
    return boot([_as_text(path_or_text)], timeout=timeout).files[0]


def run_files(paths: list[Path], timeout: float = DEFAULT_TIMEOUT) -> BootResult:
    """Run several scenario files in one boot (see ``order_for_boot``)."""
    return boot([Path(p).read_text() for p in paths], timeout=timeout)


def order_for_boot(paths: list[Path]) -> list[Path]:
    """Files that record a kernel bug (`# kernel-bug:`) go last: their warning
    leaves the buffer's accounting broken, so nothing should run after them."""
    return sorted(paths, key=lambda p: (bool(KERNEL_BUG_RE.search(Path(p).read_text())), str(p)))


KERNEL_BUG_RE = re.compile(r"^\s*#\s*kernel-bug:\s*(.+)$", re.M)


# ---------------------------------------------------------------- recordings

def recording_path(scn: Path) -> Path:
    scn = Path(scn)
    return scn.with_name(scn.name[: -len(".scn")] + ".kernel.jsonl")


def recording_header(state: KernelState, uname_r: str) -> dict:
    return {"recorded_on": "kernel", "package": state.package,
            "package_version": state.package_version, "uname_r": uname_r}


def write_recording(scn: Path, header: dict, objects: list[dict]) -> Path:
    out = recording_path(scn)
    lines = [json.dumps(header, sort_keys=True)]
    lines += [json.dumps(o, separators=(", ", ": ")) for o in objects]
    out.write_text("\n".join(lines) + "\n")
    return out


def read_recording(path: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    if not lines or lines[0].get("recorded_on") != "kernel":
        raise ValueError(f"{path}: no recording header")
    return lines[0], lines[1:]
