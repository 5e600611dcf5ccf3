"""``rbmap abi [VARIANT] [--json]``: layout and arithmetic checks of a variant.

VARIANT is the name of a shipped variant (``specs/NAME.toml``) or the path of a
``.toml`` file; without it every shipped variant is checked.  One line per check:
``holds``, ``VIOLATED`` (with the concrete counterexample), ``n/a`` (the variant has
nothing the check applies to) or ``UNKNOWN`` (z3 gave up).  Exit 0 when nothing is
violated, 1 on a violation, 2 on a bad file, 3 when z3 gave up on a check.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..model.arith import NR_PAGES_MAX, SUBBUF_ORDER_MAX, all_checks
from ..model.errors import SpecError
from ..model.layout import locate_line
from ..model.variants import SPECS_DIR, load_variant, shipped_names


def _load(arg: str, seen: tuple = ()):
    """(name, history, layout, mapping, resolve) of a variant name or file; every
    problem is a SpecError naming file and line."""
    v = load_variant(arg)
    src = Path(v.source)
    for table in ("layout", "mapping"):
        if v.extra.get(table) is None:
            raise SpecError(f"missing table [{table}]", (table,), file=v.source)

    def resolve(base: str):
        here = src.parent / f"{base}.toml"
        chain = seen + (src.resolve(),)
        problem = None
        if here.is_file():
            target = str(here)
        elif (SPECS_DIR / f"{base}.toml").is_file():
            target = str(SPECS_DIR / f"{base}.toml")
        else:
            problem = f"extends '{base}': no {here} and no shipped variant of that name"
        if problem is None and Path(target).resolve() in chain:
            problem = f"extends '{base}': a cycle of extends"
        if problem:
            path = ("layout", "extends")
            raise SpecError(problem, path, file=v.source,
                            line=locate_line(src.read_text(encoding="utf-8"), path))
        return _load(target, chain)[2]

    return v.name, v.history, v.extra["layout"], v.extra["mapping"], resolve


def _exact_line(exc: SpecError) -> SpecError:
    """Point the error at the line of its exact key path (entries of arrays of
    tables and list items included)."""
    if exc.file and exc.path:
        try:
            line = locate_line(Path(exc.file).read_text(encoding="utf-8"), exc.path)
        except (OSError, UnicodeDecodeError):
            line = None
        exc.line = line or exc.line
    return exc


def run_variant(variant: str, only: tuple = ()) -> tuple:
    """(name, history, [CheckResult]) of one variant; raises SpecError."""
    name, history, layout, mapping, resolve = _load(variant)
    keep = (lambda c: any(c.startswith(o) for o in only)) if only else None
    return name, history, all_checks(layout, mapping, resolve, keep)


def _cex_text(cex) -> str:
    return " ".join(f"{k}={v}" for k, v in cex.items()) if cex else ""


def format_checks(name: str, history: str, checks: list) -> str:
    lines = [f"{name}: {history}"]
    width = max((len(c.name) for c in checks), default=10)
    for c in checks:
        status = c.status if c.status in ("holds", "n/a") else c.status.upper()
        line = f"  {c.name:<{width}}  {status:<8}  {c.detail}"
        if c.counterexample:
            line += f"  [counterexample: {_cex_text(c.counterexample)}]"
        lines.append(line)
    counts = {s: sum(1 for c in checks if c.status == s)
              for s in ("holds", "violated", "n/a", "unknown")}
    summary = (f"{counts['holds']} hold, {counts['violated']} VIOLATED, "
               f"{counts['n/a']} n/a")
    if counts["unknown"]:
        summary += f", {counts['unknown']} UNKNOWN"
    lines.append(f"{name}: {summary}")
    return "\n".join(lines)


@click.command("abi")
@click.argument("variant", required=False)
@click.option("--json", "as_json", is_flag=True, help="a JSON list of checks")
@click.option("--only", multiple=True, metavar="PREFIX",
              help="run only the checks whose name starts with PREFIX (repeatable)")
def abi(variant, as_json, only):
    """Prove a variant's meta-page layout and index arithmetic for all sizes.

    VARIANT is a name of specs/NAME.toml or a path to a .toml file; without it,
    every shipped variant.  One line per check: holds, VIOLATED with a concrete
    counterexample, n/a, or UNKNOWN.  Exit 0: nothing violated; 1: a violation;
    2: bad input; 3: z3 gave up on a check.

    \b
    ABI: each field at the same offset and size for ILP32 (i386) and LP64
    user space as in the x86_64 kernel; natural alignment; no hidden padding;
    `extends` keeps every old offset.
    Arithmetic (z3): meta-area sizing, page-offset translation and mmap
    validation, user-space offsets, head-index wrap-around, for nr_pages
    1..2^20, sub-buffer orders 0..7 and all 64-bit offsets and lengths.
    """
    from . import fail

    names = [variant] if variant else shipped_names()
    if not names:
        fail(f"no variant files in {SPECS_DIR}")
    results = []
    for v in names:
        try:
            results.append(run_variant(v, tuple(only)))
        except SpecError as exc:
            fail(str(_exact_line(exc)))
    if as_json:
        out = [dict(variant=name, **c.to_json())
               for name, _, checks in results for c in checks]
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo("\n\n".join(format_checks(*r) for r in results))
        click.echo(f"(nr_pages 1..{NR_PAGES_MAX}, sub-buffer orders "
                   f"0..{SUBBUF_ORDER_MAX}, PAGE_SIZE 4096)")
    statuses = {c.status for _, _, checks in results for c in checks}
    if "violated" in statuses:
        raise SystemExit(1)
    if "unknown" in statuses:
        raise SystemExit(3)
