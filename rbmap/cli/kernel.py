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
        return k.run_scenarios(path_or_text, timeout=float(timeout))
    except k.KernelError as exc:
        raise BackendError(str(exc)) from None


if register_backend is not None:
    register_backend("kernel", run_on_kernel)


def fail(message: str) -> None:
    from rbmap.cli import fail as _fail  # the group module imports this one

    _fail(message)


@click.group("kernel", cls=Group)
def kernel() -> None:
    """Run scenario files on a real Linux 6.12 kernel under qemu.

    \b
    rbmap kernel setup              fetch the kernel, qemu, build the guest init
    rbmap kernel run FILE...        run scenario files in one boot
    rbmap kernel run --record ...   write NAME.kernel.jsonl next to each file
    """


@kernel.command("setup")
def setup_cmd() -> None:
    """Fetch a Debian 6.12 kernel (not installed), qemu, gcc, zstd; build the init.

    Everything is cached in ~/.cache/rbmap/kernel ($RBMAP_KERNEL_CACHE overrides).
    Exit 2 when something cannot be had.
    """
    from rbmap import kernel as k

    try:
        st, did = k.setup(log=lambda m: click.echo(m, err=True))
    except k.KernelError as exc:
        fail(str(exc))
    if did:
        click.echo(f"set up: {st.short_version} ({st.package} {st.package_version}) in {k.cache_dir()}")
    else:
        click.echo(f"already set up: {st.short_version} ({st.package} {st.package_version})")


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
    click.echo(f"kernel {res.uname_r} ({st.package_version}): {len(paths)} file(s), "
               f"{sum(1 for objs in res.files for o in objs if o.get('op') == 'scenario')} "
               f"scenario(s) in one boot, {res.seconds:.1f} s boot-to-result", err=True)
    sys.exit(0)
