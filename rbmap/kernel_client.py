"""libtracefs's memory-mapped reader on the real kernel (``rbmap kernel client``).

``setup_client()`` fetches libtracefs 1.8.3 and libtraceevent from Debian's
unstable suite through an apt configuration of its own (a sources list, lists and
package cache under ``<cache>/apt-unstable``: the host's apt sources are never
changed), downloads the ``-dev`` packages (they ship the static archives
``libtracefs.a`` and ``libtraceevent.a`` and the headers) without installing
them, unpacks them with ``dpkg-deb -x`` and links ``libtracefs_client.c``
statically against them: the guest runs Debian's own object code of the library.
Everything is cached next to the kernel (``$RBMAP_KERNEL_CACHE``), keyed by the
package versions and the program's source.

``run(conf_text)`` boots the kernel with ``-smp 2`` and the program as ``/init``;
``analyse(obj)`` decides, for one free-running configuration, exactly-once
delivery and loss accounting from what the guest reported raw (per sequence
number, how often each consumer delivered it; which writes the kernel refused;
the kernel's counters).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rbmap import kernel as k

CLIENT_SOURCE = Path(__file__).with_name("libtracefs_client.c")
UNSTABLE_SOURCE = "deb http://deb.debian.org/debian unstable main\n"
PACKAGES = ("libtracefs-dev", "libtraceevent-dev")
WANT = "1.8.3"  # the libtracefs version the model's client rule was read from
PREFIX = "RBMAPC "
CONTROL = "RBMAPC-"


@dataclass
class ClientState:
    """What ``setup_client`` produced (``client.json`` in the kernel cache)."""

    libtracefs: str      # Debian version of libtracefs-dev, e.g. 1.8.3-1+b1
    libtraceevent: str
    binary: str
    sha256: str          # of the source and both package versions


def _state_path(cache: Path) -> Path:
    return cache / "client.json"


def load_client(cache: Path | None = None) -> ClientState | None:
    cache = cache or k.cache_dir()
    try:
        st = ClientState(**json.loads(_state_path(cache).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return st if Path(st.binary).is_file() else None


def _fetch(cache: Path, log) -> dict[str, Path]:
    """The -dev packages from unstable, downloaded (not installed); name -> .deb."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise k.KernelError("no apt-get/dpkg-deb: a Debian host is needed to fetch libtracefs")
    opts = k.apt_options(cache, "apt-unstable", UNSTABLE_SOURCE)
    debs = cache / "client-debs"
    debs.mkdir(exist_ok=True)
    have = {p: sorted(debs.glob(p + "_*.deb")) for p in PACKAGES}
    if all(have.values()):
        return {p: v[-1] for p, v in have.items()}
    log("fetching libtracefs and libtraceevent from Debian unstable (private apt "
        f"lists in {cache / 'apt-unstable'}; the host's sources are not changed)")
    k._run(["apt-get", *opts, "update", "-q"], "apt-get update (unstable)")
    out = {}
    for p in PACKAGES:
        for old in debs.glob(p + "_*.deb"):
            old.unlink()
        k._run(["apt-get", *opts, "download", "-q", p], f"apt-get download {p} (unstable)",
               cwd=debs)
        got = sorted(debs.glob(p + "_*.deb"))
        if not got:
            raise k.KernelError(f"apt-get download {p} gave no .deb")
        out[p] = got[-1]
    return out


def _version(deb: Path) -> str:
    return k._run(["dpkg-deb", "-f", str(deb), "Version"], "dpkg-deb -f").stdout.strip()


def setup_client(log=print, cache: Path | None = None) -> tuple[ClientState, bool]:
    """Fetch the libraries and build the guest program (cached). Raises KernelError."""
    cache = cache or k.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    debs = _fetch(cache, log)
    vt = _version(debs["libtracefs-dev"])
    ve = _version(debs["libtraceevent-dev"])
    if not vt.startswith(WANT):
        raise k.KernelError(
            f"Debian unstable has libtracefs-dev {vt}, the client rule was read from "
            f"{WANT}: compare the mapped reader (tracefs-mmap.c) before using it")
    digest = hashlib.sha256(CLIENT_SOURCE.read_bytes() + f"{vt} {ve}".encode()).hexdigest()
    st = load_client(cache)
    if st is not None and st.sha256 == digest:
        return st, False
    if shutil.which("gcc") is None or not k._has_static_libc():
        raise k.KernelError("gcc and a static libc (libc6-dev) are needed: "
                            "run `rbmap kernel setup` as root or install them")
    root = cache / "client-root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    for deb in debs.values():
        k._run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
    inc = root / "usr" / "include"
    lib = root / "usr" / "lib" / "x86_64-linux-gnu"
    binary = cache / "libtracefs-client"
    log(f"building the guest program against libtracefs {vt}, libtraceevent {ve} (static)")
    k._run(["gcc", "-static", "-O2", "-Wall", "-o", str(binary), str(CLIENT_SOURCE),
            f"-I{inc / 'tracefs'}", f"-I{inc / 'traceevent'}", f"-L{lib}",
            "-ltracefs", "-ltraceevent"], "building the libtracefs client")
    st = ClientState(libtracefs=vt, libtraceevent=ve, binary=str(binary), sha256=digest)
    _state_path(cache).write_text(json.dumps(st.__dict__, indent=1) + "\n")
    return st, True


# ---------------------------------------------------------------- boot

def build_initramfs(binary: Path, conf_text: str) -> bytes:
    """An uncompressed newc archive: /init (the client), /dev/console, /client.conf."""
    entries = []
    for ino, (name, mode, data, rdev) in enumerate([
            ("dev", 0o040755, b"", (0, 0)), ("proc", 0o040755, b"", (0, 0)),
            ("sys", 0o040755, b"", (0, 0)), ("dev/console", 0o020600, b"", (5, 1)),
            ("init", 0o100755, Path(binary).read_bytes(), (0, 0)),
            ("client.conf", 0o100644, conf_text.encode(), (0, 0))], start=1):
        entries.append(k._newc_entry(name, mode, data, ino=ino, rdev=rdev,
                                     nlink=2 if mode & 0o040000 else 1))
    entries.append(k._newc_entry("TRAILER!!!", 0, ino=0, nlink=1))
    return b"".join(entries)


@dataclass
class ClientBoot:
    uname_r: str
    ncpu: int
    objects: list[dict]
    seconds: float


def parse_console(text: str) -> tuple[str, int, list[dict]]:
    uname, ncpu, objs, ended = "", 0, [], False
    for raw in text.replace("\r", "").splitlines():
        pos = raw.find("RBMAPC")
        if pos < 0:
            continue
        line = raw[pos:]
        if line.startswith(PREFIX):
            try:
                objs.append(json.loads(line[len(PREFIX):]))
            except ValueError:
                raise k.KernelError(f"garbled guest output line: {line[:120]!r}") from None
        elif line.startswith(CONTROL + "UNAME "):
            uname = line.split(" ", 1)[1].strip()
        elif line.startswith(CONTROL + "NCPU "):
            ncpu = int(line.split()[1])
        elif line.startswith(CONTROL + "END"):
            ended = True
    if not ended:
        tail = "\n".join(text.replace("\r", "").splitlines()[-15:])
        raise k.KernelError("the libtracefs client did not finish; console tail:\n" + tail)
    return uname, ncpu, objs


def run(conf_text: str, timeout: float = k.DEFAULT_TIMEOUT) -> ClientBoot:
    """Boot once (``-smp 2``) with the client as /init and ``conf_text`` as its
    configuration; return what it printed."""
    st = k.load_state()
    if st is None:
        raise k.KernelError("kernel not set up: run `rbmap kernel setup` first")
    cl = load_client(Path(st.init).parent)
    if cl is None:
        raise k.KernelError("libtracefs client not set up: run `rbmap kernel setup` "
                            "(it needs libtracefs 1.8.3 from Debian unstable)")
    with tempfile.TemporaryDirectory(prefix="rbmap-client-") as tmp:
        initrd = Path(tmp) / "initrd.cpio"
        initrd.write_bytes(build_initramfs(Path(cl.binary), conf_text))
        cmd = k.qemu_command(st.vmlinux, str(initrd))
        cmd[cmd.index("-smp") + 1] = "2"
        t0 = time.monotonic()
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=timeout)
        except FileNotFoundError:
            raise k.KernelError("qemu-system-x86_64 not found: run `rbmap kernel setup`") \
                from None
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace")
            raise k.KernelError(f"qemu did not power off within {timeout:.0f} s; console "
                                "tail:\n" + "\n".join(out.splitlines()[-15:])) from None
        seconds = time.monotonic() - t0
    console = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    uname, ncpu, objs = parse_console(console)
    return ClientBoot(uname, ncpu, objs, seconds)


# ---------------------------------------------------------------- configurations

#: the free-running configurations of ``rbmap kernel client`` (name, guest keys).
#: The writer is always on vCPU 0 and writes per_cpu/cpu0; bursts of markers
#: with pauses let the reader both fall behind (overrun, or drops without
#: overwrite) and catch up.  kb=4: two ring pages (255 short markers).
CONFIGS: list[tuple[str, str]] = [
    ("same-cpu", "reader_cpu=0 overwrite=1 kb=4 burst=400 pause_us=3000"),
    ("other-cpu", "reader_cpu=1 overwrite=1 kb=4 burst=400 pause_us=3000 sleep_us=300"),
    ("same-cpu-no-overw", "reader_cpu=0 overwrite=0 kb=4 burst=400 pause_us=3000"),
    ("other-cpu-no-overw",
     "reader_cpu=1 overwrite=0 kb=4 burst=400 pause_us=3000 sleep_us=300"),
    ("read-api-other-cpu", "reader_cpu=1 overwrite=1 kb=4 burst=400 pause_us=3000 "
     "sleep_us=300 api=read"),
    ("exact-fill-other-cpu", "reader_cpu=1 overwrite=1 kb=4 len=26 burst=300 pause_us=3000"),
    ("takeover-libtracefs", "reader_cpu=1 overwrite=1 kb=8 second=tracefs mode=takeover "
     "hand_ms=20 burst=64 pause_us=1000"),
    # hand-overs only where tracefs_cpu_read_buf returned no data, a writer that
    # keeps coming back, no overrun: what is lost was consumed by a GET_READER
    ("takeover-at-no-data", "reader_cpu=1 overwrite=1 kb=64 second=tracefs "
     "mode=takeover nodata_handoff=1 hand_ms=2 burst=4 pause_us=100"),
    ("takeover-exact-fill", "reader_cpu=1 overwrite=1 kb=8 len=26 second=tracefs "
     "mode=takeover hand_ms=20 burst=64 pause_us=1000"),
    ("interleave-tracefs", "reader_cpu=1 overwrite=1 kb=8 second=tracefs "
     "mode=interleave burst=64 pause_us=1000"),
    ("takeover-raw", "reader_cpu=1 overwrite=1 kb=8 second=raw mode=takeover "
     "hand_ms=20 burst=64 pause_us=1000"),
    ("interleave-raw", "reader_cpu=1 overwrite=1 kb=8 second=raw mode=interleave "
     "burst=64 pause_us=1000"),
    ("takeover-pipe", "reader_cpu=1 overwrite=1 kb=8 second=pipe mode=takeover "
     "hand_ms=20 burst=64 pause_us=1000"),
    ("interleave-pipe", "reader_cpu=1 overwrite=1 kb=8 second=pipe "
     "mode=interleave burst=64 pause_us=1000"),
]


def conf_text(seconds: float, configs=None) -> str:
    ms = max(50, int(seconds * 1000))
    return "".join(f"run {name} {keys} ms={ms}\n" for name, keys in (configs or CONFIGS))


def _unrle(pairs: list) -> list[int]:
    out: list[int] = []
    for val, n in pairs:
        out.extend([val] * n)
    return out


_LOGGED_LOST = re.compile(r"commit overrun lost (\d+) events")


def analyse(obj: dict) -> dict:
    """Exactly-once delivery and loss accounting of one free-running run.

    ``written`` sequence numbers were attempted; the kernel refused ``failed`` of
    them (no room without overwrite: counted in ``dropped_events``).  Over all
    consumers: ``duplicates`` (sequence numbers delivered more than once),
    ``missing`` (accepted writes nobody delivered).  The kernel counts lost
    events in ``overrun`` (and ``commit_overrun``); ``uncounted`` is what is
    missing beyond that (a loss nobody was told of), ``counted_not_missing``
    the other way round (an event counted lost that a consumer had delivered).
    ``reported`` is what the consumers were told: the missed-events counts on the
    sub-buffers libtracefs handed out (``missed_unknown`` pages flagged without
    a count) and trace_pipe's ``[LOST n EVENTS]`` lines; ``logged_lost`` what
    the kernel logged instead of telling them (``loss_reported``: the two add
    up to the kernel's count)."""
    n = obj["written"]
    failed = _unrle(obj["failed_rle"])
    total = [0] * n
    per = []
    for c in obj["consumers"]:
        counts = _unrle(c["counts"])
        for i, v in enumerate(counts):
            total[i] += v
        per.append({"role": c["role"], "kind": c["kind"],
                    "delivered": sum(1 for v in counts if v),
                    "duplicates": sum(1 for v in counts if v > 1),
                    "reported": c["missed_sum"], "reported_unknown": c["missed_unknown"],
                    "calls": c["calls"], "opens": c["opens"], "errors": c["errors"]})
    dup_seqs = [i for i, v in enumerate(total) if v > 1]
    missing_seqs = [i for i, v in enumerate(total) if v == 0 and not failed[i]]
    st = obj["stats"]
    counted = st["overrun"] + st["commit_overrun"]
    missing = len(missing_seqs)
    out = {
        "name": obj["name"], "conf": obj["conf"], "written": n,
        "failed": sum(failed), "delivered": sum(1 for v in total if v),
        "delivered_refused": sum(1 for i, v in enumerate(total) if v and failed[i]),
        "duplicates": len(dup_seqs), "duplicate_examples": dup_seqs[:5],
        "missing": missing, "missing_examples": missing_seqs[:5],
        "kernel_counted": counted, "uncounted": max(0, missing - counted),
        "counted_not_missing": max(0, counted - missing),
        "dropped_events": st["dropped_events"],
        "reported": sum(p["reported"] for p in per),
        "reported_unknown": sum(p["reported_unknown"] for p in per),
        "handoffs": obj.get("handoffs", 0), "consumers": per,
        "stats": st, "meta": obj.get("meta"), "warnings": obj.get("warnings", []),
    }
    # 6.12 tells the kernel log, not the reader, of events lost while the reader
    # page was the commit page ("Ring buffer [N] commit overrun lost M events")
    out["logged_lost"] = sum(int(m.group(1)) for w in out["warnings"]
                             for m in [_LOGGED_LOST.search(w)] if m)
    out["exactly_once"] = (out["duplicates"] == 0 and missing == counted
                           and out["delivered_refused"] == 0
                           and st["dropped_events"] == out["failed"])
    out["loss_reported"] = (out["reported"] + out["logged_lost"] == counted
                            and not out["reported_unknown"])
    return out


def table(results: list[dict]) -> list[str]:
    """The <= 80-column text table of analysed runs."""
    lines = [f"{'configuration':<20}{'written':>8}{'deliv':>8}{'dups':>6}{'lost':>7}"
             f"{'count':>7}{'uncnt':>6}{'told':>7}  verdict"]
    lines.append("-" * 79)
    for r in results:
        verdict = "once" if r["exactly_once"] else "VIOLATED"
        lines.append(f"{r['name'][:19]:<20}{r['written']:>8}{r['delivered']:>8}"
                     f"{r['duplicates']:>6}{r['missing'] + r['failed']:>7}"
                     f"{r['kernel_counted'] + r['dropped_events']:>7}{r['uncounted']:>6}"
                     f"{r['reported']:>7}  {verdict}")
    return lines
