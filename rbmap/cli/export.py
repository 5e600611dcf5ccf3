"""``rbmap export promela``: a model as Promela, for SPIN."""

from __future__ import annotations

import textwrap
from time import perf_counter

import click

from rbmap.cli import Group, fail
from rbmap.cli.options import parse_rules, workload_config, workload_options
from rbmap.cli.ringbench import RING_NAME, _ring_size

__all__ = ["export"]


@click.group("export", cls=Group)
def export() -> None:
    """Write a model in another tool's language (Promela for SPIN)."""


def _machine(model: str, ring_size, bug: bool, rules: dict, config: dict):
    if model == RING_NAME:
        from rbmap.checker.ring import Ring
        return Ring(*ring_size, bug=bug)
    if bug:
        fail("export promela: --bug is the ring's (a variant's bugs are --rule's)")
    from rbmap.checker.steps import StepMachine
    from rbmap.cli.check import model_from
    m = model_from(model, rules, config)
    if not isinstance(m, StepMachine):
        fail(f"export promela: {model}: this model is not written as steps "
             "(checker/steps.py), so it has no Promela form")
    return m


@export.command("promela")
@click.argument("model", default="upstream")
@workload_options()
@click.option("--ring", "ring_size", default="4,5,3", show_default=True,
              callback=_ring_size, metavar="N,V,D",
              help="The ring's slots, tag modulus and payloads (MODEL ring).")
@click.option("--bug", is_flag=True, help="The ring's bug variant (head published early).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE instead of stdout.")
@click.option("--spin", "run_spin", is_flag=True,
              help="Also run SPIN on it (Debian's spin) and rbmap, and compare their "
                   "state counts and verdicts (exit 1 when they differ).")
@click.option("--cores", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --spin: SPIN's multi-core depth-first search (pan built "
                   "-DNCORE=N; exact, the same count).")
@click.option("--swarm", "swarm_runs", type=click.IntRange(0, 1000), default=0,
              show_default=True, metavar="RUNS",
              help="With --spin: also RUNS bitstate searches, each with its own hash "
                   "polynomial, order of transitions (seeds 1..RUNS) and bits per "
                   "state: lossy, so each prints how many states it stored.")
@click.option("--width", type=click.IntRange(10, 36), default=27, show_default=True,
              help="--swarm's bit array: 2**WIDTH bits (2**27 = 16 MB).")
def promela(model, ring_size, bug, output, run_spin, cores, swarm_runs, width, **kw):
    """Print MODEL as Promela: one process, one d_step per step, from the same
    step functions rbmap explores (the same states, so SPIN's count of states
    equals rbmap's). MODEL: a variant (upstream, v2, ... or a .toml file; the
    same options as rbmap check) or ``ring``, the benchmark ring.
    Always-properties are assertions (``assert(k == 0 || ...)``, k the
    property's number), goals (sometimes) assertions that they are never
    reached; SPIN checks them in every state and reports each once.
    Eventually-properties stay rbmap's (they need its fairness).

    A step that a late require disables (its guard needs the step's own
    changes) is, in Promela, run and undone: a transition back to the same
    state, so SPIN counts more transitions than rbmap, never more states.

    With --spin, runs ``spin -a``, ``cc`` and ``pan`` (exhaustive,
    breadth-first, no partial order reduction, -c0: every property reported)
    and rbmap's engine, and prints both counts and, for each property violated
    or goal reached, rbmap's shortest path against the depth SPIN found it at."""
    from rbmap.checker.promela import PromelaError, to_promela

    if (cores > 1 or swarm_runs) and not run_spin:
        fail("--cores and --swarm go with --spin")
    rules = parse_rules(kw.pop("rules"))
    config = workload_config(kw)
    m = _machine(model, ring_size, bug, rules, config)
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
    if run_spin:
        raise SystemExit(_compare(m, _name(m, model, rules, config), text, cores,
                                  swarm_runs, width))


def _name(m, model: str, rules: dict, config: dict) -> str:
    """The model in one line: the ring's label, or the variant and what its
    options change."""
    if model == RING_NAME:
        return getattr(m, "label", None) or m.name
    from rbmap.model import Config
    base = Config().to_dict()
    opts = [f"{k}={v}" for k, v in config.items() if base.get(k) != v and v is not None]
    opts += [f"{k}={v}" for k, v in sorted((rules or {}).items())]
    return model + (f" ({', '.join(opts)})" if opts else " (default config)")


def _compare(m, name: str, text: str, cores: int, swarm_runs: int, width: int) -> int:
    from rbmap.checker import engine, spin
    from rbmap.checker.promela import extra_states
    why = spin.available()
    if why:
        fail(f"--spin: {why}")
    props = [p for p, _ in m.code.properties]
    kinds = {p.name: p.kind for p in props if p.kind in ("always", "sometimes")}
    t0 = perf_counter()
    r = engine.explore(m, progress=False)
    t_rbmap = perf_counter() - t0
    # what each finds: an always-property violated, a goal (sometimes) reached
    hit = {p.name: (len(p.path) if p.path else None) for p in r.properties
           if p.name in kinds and p.status in ("violated", "reached")}
    broken = {n for n in hit if kinds[n] == "always"}
    try:
        s = spin.run(text, "dfs" if cores > 1 else "bfs", expected_states=r.states,
                     cores=cores, extra_flags=["-c0"])
    except spin.SpinError as exc:
        fail(f"--spin: {exc}")
    extra = extra_states(m)
    depth = {props[k - 1].name: d for k, d in spin.violated(s).items()}
    same = s.stored == r.states + extra
    click.echo(textwrap.fill(name, 80, subsequent_indent="  "))
    click.echo(f"  rbmap: {r.states:,} states, {r.transitions:,} transitions, "
               f"{t_rbmap:.1f} s")
    how = f"-DNCORE={cores}" if cores > 1 else "breadth-first"
    click.echo(f"  SPIN ({how}): {s.stored:,} states, {s.transitions:,} transitions, "
               f"{s.elapsed or 0:.1f} s" + ("" if same else ": DIFFERENT"))
    if extra:
        click.echo(f"    (states: +{extra}, the one before the initial assignments)")
    if s.transitions != r.transitions:
        click.echo("    (transitions: also steps a late guard undoes and failed "
                   "assertions)")
    if s.notes:
        click.echo(f"  SPIN: {'; '.join(s.notes)}")
    for name in sorted(set(hit) | set(depth)):
        what = "violated" if kinds[name] == "always" else "reached"
        a = f"{what} in {hit[name]} steps" if hit.get(name) is not None else (
            what if name in hit else "no")
        b = ((f"at depth {depth[name]}" if cores == 1 else what) if name in depth
             else "no")
        agree = (name in hit) == (name in depth) and (
            cores > 1 or hit.get(name) is None or hit[name] == depth.get(name))
        same = same and agree
        line = f"rbmap {a}; SPIN {b}" + ("" if agree else " (DIFFERENT)")
        if len(name) + len(line) + 4 <= 80:
            click.echo(f"  {name}: {line}")
        else:
            click.echo(f"  {name}:\n    {line}")
    quiet = len(kinds) - len(set(hit) | set(depth))
    click.echo(f"  {quiet} more always/sometimes properties: holds/unreached in both")
    if swarm_runs:
        union: set = set()
        try:
            runs = spin.swarm(text, runs=swarm_runs, width=width,
                              expected_states=r.states + extra)
        except spin.SpinError as exc:
            fail(f"--swarm: {exc}")
        click.echo(f"  swarm: {swarm_runs} bitstate runs, 2**{width} bits each")
        for i, x in enumerate(runs):
            got = {props[k - 1].name for k in spin.violated(x)
                   if props[k - 1].kind == "always"}
            union |= got
            cover = 100.0 * x.stored / (r.states + extra)
            hf = f", hash factor {x.hash_factor:.0f}" if x.hash_factor else ""
            click.echo(f"    run {i + 1:>2}: {x.stored:,} states ({cover:.1f}%), "
                       f"{x.elapsed or 0:.1f} s{hf}, {len(got)} violated")
        missed = sorted(broken - union)
        click.echo(f"  swarm found {len(union & broken)} of rbmap's {len(broken)} "
                   "violated properties"
                   + (f"; missed: {', '.join(missed)}" if missed else ""))
        same = same and not (union - broken)
    return 0 if same else 1
