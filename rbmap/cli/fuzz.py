"""``rbmap fuzz``: differential fuzzing of impl against the real kernel."""

from __future__ import annotations

import json
import sys

import click

from rbmap.cli import fail
from rbmap.cli.options import SECONDS

BACKENDS = ("impl", "kernel")


def _parse_on(on: str) -> list[str]:
    names = [s.strip() for s in on.split(",") if s.strip()]
    if not names:
        fail("--on names no back end")
    for n in names:
        if n not in BACKENDS:
            fail(f"--on: unknown back end '{n}' (rbmap fuzz knows impl, kernel)")
    if "impl" not in names:
        fail("--on must include impl (the kernel is compared with impl)")
    return sorted(set(names), key=BACKENDS.index)


@click.command("fuzz")
@click.option("--on", "on", default="impl", show_default=True,
              help="impl (impl's own checks only) or impl,kernel (compare with "
                   "Linux 6.12 under qemu; needs `rbmap kernel setup`)")
@click.option("--budget", type=SECONDS, default=60.0, show_default=True,
              help="seconds of generating and running programs; shrinking the "
                   "differences found comes after (bounded by --shrink-rounds)")
@click.option("--seed", type=int, default=0, show_default=True,
              help="the programs depend only on the seed and the batch number")
@click.option("--batch", type=click.IntRange(1, 2000), default=200, show_default=True,
              help="programs per batch (one kernel boot runs a whole batch)")
@click.option("--programs", "max_programs", type=click.IntRange(1, None), default=None,
              help="stop after this many programs (even with budget left)")
@click.option("--max-ops", type=click.IntRange(1, 200), default=30, show_default=True,
              help="at most this many operations per program")
@click.option("--shrink-rounds", type=click.IntRange(0, 1000), default=40,
              show_default=True, help="at most this many shrink rounds (boots) per "
                                      "difference; one boot serves all of them")
@click.option("--json", "as_json", is_flag=True, help="one JSON object on stdout")
def fuzz(on, budget, seed, batch, max_programs, max_ops, shrink_rounds, as_json):
    """Generate scenario programs; run them on impl (and the kernel); compare.

    \b
    rbmap fuzz --on impl --budget 30             impl's invariants only
    rbmap fuzz --on impl,kernel --budget 600 --seed 1

    Every program runs on impl with its kernel-side invariants checked after each
    operation and every refused system call checked to change nothing; with
    kernel, each batch also runs in one boot and the outputs are compared after
    the normalisation of `rbmap scenario --on impl,kernel`.  A difference the
    kernel shows twice is cut after its differing step, shrunk (delta debugging;
    each round is one boot for all the differences) and printed as a scenario
    ready for specs/scenarios/.  Progress goes to stderr.

    Exit status: 0 no difference, 1 differences found, 2 bad input (or the
    kernel is not set up), 130 interrupted.
    """
    from rbmap import fuzz as fz

    backends = _parse_on(on)
    kernel = "kernel" in backends
    if kernel:
        from rbmap import kernel as k
        if k.load_state() is None:
            fail(f"kernel not set up in {k.cache_dir()}: run `rbmap kernel setup`")

    def log(msg: str) -> None:
        click.echo(f"fuzz: {msg}", err=True)

    fuzzer = fz.Fuzzer(seed, backends, budget, batch=batch, max_programs=max_programs,
                       max_ops=max_ops, shrink_rounds=shrink_rounds, log=log)
    try:
        rep = fuzzer.run()
    except KeyboardInterrupt:
        click.echo("rbmap: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the kernel back end failing (qemu, setup)
        from rbmap.kernel import KernelError
        if isinstance(exc, KernelError):
            fail(str(exc))
        raise
    if as_json:
        click.echo(json.dumps(rep.to_json(), indent=1))
    else:
        _print_text(rep)
    sys.exit(1 if rep.differences else 0)


def _print_text(rep) -> None:
    where = "impl" + (f" and {rep.uname_r or 'the kernel'}" if "kernel" in rep.on else "")
    click.echo(f"rbmap fuzz --seed {rep.seed}: {rep.programs} programs "
               f"({rep.ops} operations) on {where}")
    if "kernel" in rep.on:
        click.echo(f"kernel: {rep.kernel_programs} programs in {rep.boots} boots; "
                   f"{rep.unstable} unstable, {rep.skipped} not run")
    click.echo(f"differences: {len(rep.differences)} kind(s)")
    for i, d in enumerate(rep.differences, 1):
        click.echo("")
        click.echo(f"[{i}] {d.kind}: {d.signature}"[:80])
        click.echo(f"    {d.programs} program(s); first {d.first}; minimal "
                   f"{len(d.minimal or d.original)} ops after {d.shrink_rounds} "
                   f"round(s)")
        for line in d.scenario_text(f"fuzz_{rep.seed}_{i}").splitlines():
            click.echo(f"    {line}"[:80] if not line.startswith("# expect") else
                       f"    {line}")
