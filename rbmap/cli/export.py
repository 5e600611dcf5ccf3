"""``rbmap export promela``: a model as Promela, for SPIN."""

from __future__ import annotations

import click

from rbmap.cli import Group, fail
from rbmap.cli.ringbench import RING_NAME, _ring_size

__all__ = ["export"]


@click.group("export", cls=Group)
def export() -> None:
    """Write a model in another tool's language (Promela for SPIN)."""


def _machine(model: str, ring_size, bug: bool):
    if model != RING_NAME:
        fail(f"export promela: unknown model {model!r}; models written as steps: "
             f"{RING_NAME} (the benchmark ring)")
    from rbmap.checker.ring import Ring
    return Ring(*ring_size, bug=bug)


@export.command("promela")
@click.argument("model")
@click.option("--ring", "ring_size", default="4,5,3", show_default=True,
              callback=_ring_size, metavar="N,V,D",
              help="The ring's slots, tag modulus and payloads.")
@click.option("--bug", is_flag=True, help="The ring's bug variant (head published early).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE instead of stdout.")
@click.option("--spin", "run_spin", is_flag=True,
              help="Also run SPIN on it (Debian's spin) and rbmap's compiled engine, "
                   "and compare their state counts (exit 1 when they differ).")
def promela(model, ring_size, bug, output, run_spin):
    """Print MODEL as Promela: one process, one d_step per step, from the same
    step functions rbmap explores (the same states, so SPIN's count of states
    equals rbmap's). MODEL: ``ring``, the benchmark ring. Always-properties are
    assertions; SPIN checks them in every state.

    With --spin, runs ``spin -a``, ``cc`` and ``pan`` (exhaustive, no partial
    order reduction) and prints both counts."""
    from rbmap.checker.promela import PromelaError, extra_states, to_promela

    m = _machine(model, ring_size, bug)
    try:
        text = to_promela(m)
    except PromelaError as exc:
        fail(f"export promela: {exc}")
    if output:
        try:
            with open(output, "w") as f:
                f.write(text)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    elif not run_spin:
        click.echo(text, nl=False)
    if not run_spin:
        return
    from rbmap.checker import native, spin
    why = spin.available()
    if why:
        fail(f"--spin: {why}")
    r = native.check(m, progress=False)
    try:
        # the count without assertions (SPIN goes no deeper than a failed one)
        s = spin.run(to_promela(m, assertions=False), "dfs", expected_states=r.states)
        v = spin.run(text, "bfs", expected_states=r.states)
    except spin.SpinError as exc:
        fail(f"--spin: {exc}")
    extra = extra_states(m)
    same = s.stored == r.states + extra
    engine = "compiled" if getattr(r, "engine", "") == "native" else "interpreted"
    click.echo(f"{getattr(m, 'label', m.name)}")
    click.echo(f"  rbmap ({engine} engine): {r.states} states")
    click.echo(f"  SPIN: {s.stored} states stored"
               + (f" ({extra} before the initial assignments)" if extra else "")
               + (": the same" if same else ": DIFFERENT"))
    broken = [p for p in r.properties if p.kind == "always" and p.status == "violated"
              and p.name != "deadlock"]
    for p in broken:
        click.echo(f"  rbmap: {p.name} violated, shortest counterexample {len(p.path)} "
                   "steps")
    if v.errors:
        click.echo(f"  SPIN (breadth-first): assertion violated at depth {v.depth}")
    elif not broken:
        click.echo("  SPIN: no assertion violated; rbmap: every always-property holds")
    raise SystemExit(0 if same and bool(v.errors) == bool(broken) else 1)
