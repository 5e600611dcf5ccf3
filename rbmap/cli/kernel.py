"""``rbmap kernel setup`` and ``rbmap kernel run``: the real Linux 6.12 back end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rbmap.cli import Group

try:
    from rbmap.cli.scenario import BackendError, register_backend
except ModuleNotFoundError as _exc:  # `rbmap scenario` not there: nothing to plug into
    if _exc.name != "rbmap.cli.scenario":
        raise
    BackendError = RuntimeError  # noqa: N816
    register_backend = None


def run_on_kernel(path_or_text, abi: str = "upstream", layout: str = "6.12",
                  timeout: float = 300.0, **opts) -> list[dict]:
    """The ``kernel`` back end of ``rbmap scenario --on kernel``: one boot."""
    if opts:
        raise BackendError(f"kernel: unknown option(s) {', '.join(sorted(opts))}")
    if abi != "upstream" or layout != "6.12":
        raise BackendError("kernel: the real kernel is the upstream ABI with the 6.12 layout")
    from rbmap import kernel as k

    try:
        st = k.load_state()
        res = k.boot([k._as_text(path_or_text)], timeout=float(timeout), state=st)
    except k.KernelError as exc:
        raise BackendError(str(exc)) from None
    click.echo(version_line(st, res.uname_r), err=True)
    return res.files[0]


def version_line(st, uname_r: str) -> str:
    """The kernel a result came from (printed with every kernel result)."""
    line = f"kernel {uname_r or st.release} (Debian {st.package_version})"
    from rbmap.kernel import DEFAULT_VERSION

    if st.package_version != DEFAULT_VERSION:
        line += f"; the recordings are from {DEFAULT_VERSION}"
    return line


if register_backend is not None:
    register_backend("kernel", run_on_kernel)


def fail(message: str) -> None:
    from rbmap.cli import fail as _fail  # the group module imports this one

    _fail(message)


@click.group("kernel", cls=Group)
def kernel() -> None:
    """Run scenario files on a real Linux 6.12 kernel under qemu.

    \b
    rbmap kernel setup              install qemu/gcc/zstd (apt-get, as root),
                                    fetch the kernel, build the guest init
    rbmap kernel run FILE...        run scenario files in one boot
    rbmap kernel run --record ...   write NAME.kernel.jsonl next to each file
    rbmap kernel client             libtracefs's mapped reader: exactly once?
    """


@kernel.command("setup")
@click.option("--version", "version", default=None, metavar="VERSION",
              help="Debian version of the kernel package, e.g. 6.12.118-1~deb12u1, "
                   "or 'newest' (default: the version the recordings were made on, "
                   "6.12.117-1~deb12u1)")
def setup_cmd(version: str | None) -> None:
    """Install the host tools, fetch the Debian 6.12 kernel, build the guest init.

    This changes the host: when qemu-system-x86_64, gcc, zstd or a static libc
    are missing it runs `apt-get update` and `apt-get install` of their Debian
    packages (qemu-system-x86, gcc, zstd, libc6-dev) as root; not as root, it
    stops and names them. The kernel package (linux-image-6.12.*-cloud-amd64-
    unsigned) is fetched with `apt-get download` and unpacked in the cache: it
    is never installed as the host's kernel.

    The kernel is the one rbmap's recordings were made on (Debian
    6.12.117-1~deb12u1) unless --version says otherwise; a cache holding another
    version is set up again.  Then fetch libtracefs 1.8.3 and libtraceevent from
    Debian unstable (a private apt configuration in the cache; downloaded, not
    installed) and build the guest program of `rbmap kernel client`.
    Everything is cached in ~/.cache/rbmap/kernel ($RBMAP_KERNEL_CACHE
    overrides).  Exit 2 when something cannot be had (when only libtracefs
    cannot, the kernel set-up is kept).
    """
    from rbmap import kernel as k

    try:
        st, did = k.setup(log=lambda m: click.echo(m, err=True),
                          version=version or k.DEFAULT_VERSION)
    except k.KernelError as exc:
        fail(str(exc))
    if did:
        click.echo(f"set up: {st.short_version} ({st.package} {st.package_version}) in {k.cache_dir()}")
    else:
        click.echo(f"already set up: {st.short_version} ({st.package} {st.package_version})")
    from rbmap import kernel_client as kc

    try:
        cl, did = kc.setup_client(log=lambda m: click.echo(m, err=True))
    except k.KernelError as exc:
        fail(f"libtracefs client (for `rbmap kernel client`) not set up: {exc}")
    click.echo(f"{'set up' if did else 'already set up'}: libtracefs {cl.libtracefs}, "
               f"libtraceevent {cl.libtraceevent} (Debian unstable, static guest program)")


@kernel.command("client")
@click.option("--seconds", type=float, default=1.0, show_default=True,
              help="How long the writer writes in each configuration.")
@click.option("--only", default=None, metavar="NAME",
              help="Run only the configurations whose name contains NAME.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--timeout", default=600.0, show_default=True,
              help="seconds before qemu is killed")
def client_cmd(seconds: float, only: str | None, as_json: bool, timeout: float) -> None:
    """libtracefs 1.8.3's mapped reader on the real kernel (-smp 2, one boot).

    \b
    For each configuration (the reader on the writer's vCPU or the other one,
    overwrite on and off, a second consumer: another libtracefs reader, a raw
    GET_READER reader or the text trace_pipe, taking turns or at the same time),
    a writer writes sequence-numbered trace_marker events on vCPU 0 for SECONDS
    while libtracefs (tracefs_cpu_open_mapped, tracefs_cpu_read_buf) reads
    per_cpu/cpu0, then every consumer drains.  Columns: written, delivered
    (distinct), dups (delivered more than once), lost (nobody delivered),
    count (the kernel's overrun + commit overrun + dropped), uncnt (lost and
    not counted), told (loss reported to the consumers: missed events on the
    sub-buffers, trace_pipe's LOST lines).  Exit 0 when every configuration
    is exactly-once with its loss counted, 1 otherwise, 2 when the kernel or
    the library cannot be had (`rbmap kernel setup`).
    """
    import math

    from rbmap import kernel as k
    from rbmap import kernel_client as kc

    if not (seconds > 0 and math.isfinite(seconds)) or seconds > 60:
        fail(f"--seconds {seconds}: must be > 0 and <= 60")
    configs = [c for c in kc.CONFIGS if only is None or only in c[0]]
    if not configs:
        fail(f"--only {only!r}: no configuration matches (names: "
             f"{', '.join(c[0] for c in kc.CONFIGS)})")
    st = k.load_state()
    if st is None:
        fail("kernel not set up: run `rbmap kernel setup` first")
    cl = kc.load_client()
    if cl is None:
        fail("libtracefs client not set up: run `rbmap kernel setup` (it fetches "
             "libtracefs 1.8.3 from Debian unstable)")
    click.echo(f"booting {st.short_version} with libtracefs {cl.libtracefs}: "
               f"{len(configs)} configuration(s), {seconds:g} s each", err=True)
    try:
        boot = kc.run(kc.conf_text(seconds, configs), timeout=timeout)
    except k.KernelError as exc:
        fail(str(exc))
    results = [kc.analyse(o) for o in boot.objects if o.get("op") == "run"]
    bad = [o for o in boot.objects if o.get("op") == "run" and "error" in o]
    if bad or len(results) != len(configs):
        fail(f"the guest did not run every configuration: {bad[:1]}")
    ok = all(r["exactly_once"] for r in results)
    if as_json:
        click.echo(json.dumps({"kernel": boot.uname_r, "package_version": st.package_version,
                               "libtracefs": cl.libtracefs,
                               "libtraceevent": cl.libtraceevent, "vcpus": boot.ncpu,
                               "seconds": seconds, "boot_seconds": round(boot.seconds, 1),
                               "exactly_once": ok, "runs": results}, indent=1))
    else:
        import textwrap

        click.echo(f"kernel {boot.uname_r} ({st.package_version}), {boot.ncpu} vCPUs")
        click.echo(f"libtracefs {cl.libtracefs}, libtraceevent {cl.libtraceevent}")
        for line in kc.table(results):
            click.echo(line)
        for r in results:
            if not r["exactly_once"]:
                text = (f"{r['name']}: {r['duplicates']} duplicate(s) "
                        f"{r['duplicate_examples']}, {r['uncounted']} uncounted "
                        f"loss(es); not delivered: {r['missing_examples']}...")
                click.echo(textwrap.fill(text, 80, subsequent_indent="    "))
        click.echo(f"boot-to-result {boot.seconds:.1f} s")
    sys.exit(0 if ok else 1)


@kernel.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--record", is_flag=True, help="write NAME.kernel.jsonl next to each NAME.scn")
@click.option("--timeout", default=300.0, show_default=True, help="seconds before qemu is killed")
def run_cmd(files: tuple[str, ...], record: bool, timeout: float) -> None:
    """Run FILES in one boot (files with `# kernel-bug:` last); print JSON lines."""
    from rbmap import kernel as k
    from rbmap.impl.scenario import ScenarioError, load

    paths = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            fail(f"{f}: no such file")
        try:
            load(p)
        except ScenarioError as exc:
            fail(str(exc))
        paths.append(p)
    st = k.load_state()
    if st is None:
        fail("kernel not set up: run `rbmap kernel setup` first")
    ordered = k.order_for_boot(paths)
    try:
        res = k.run_files(ordered, timeout=timeout)
    except k.KernelError as exc:
        fail(str(exc))
    header = k.recording_header(st, res.uname_r)
    for p, objs in zip(ordered, res.files):
        if record:
            out = k.write_recording(p, header, objs)
            click.echo(f"recorded {out} ({len(objs)} objects)", err=True)
        else:
            for o in objs:
                click.echo(json.dumps(o))
    click.echo(f"{version_line(st, res.uname_r)}: {len(paths)} file(s), "
               f"{sum(1 for objs in res.files for o in objs if o.get('op') == 'scenario')} "
               f"scenario(s) in one boot, {res.seconds:.1f} s boot-to-result", err=True)
    sys.exit(0)
