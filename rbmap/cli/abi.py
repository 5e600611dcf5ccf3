"""``rbmap abi [VARIANT] [--json]``: layout and arithmetic checks of a variant.

VARIANT is the name of a shipped variant (``specs/NAME.toml``) or the path of a
``.toml`` file; without it every shipped variant is checked.  One line per check:
``holds``, ``VIOLATED`` (with the concrete counterexample), ``n/a`` (the variant has
nothing the check applies to) or ``UNKNOWN`` (z3 gave up).  Exit 0 when nothing is
violated, 1 on a violation, 2 on a bad file, 3 when z3 gave up on a check.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from ..model.arith import NR_PAGES_MAX, SUBBUF_ORDER_MAX, all_checks
from ..model.errors import SpecError
from ..model.layout import locate_line
from ..model.variants import SPECS_DIR, load_variant, shipped_names
from .check import variant_label


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


def run_variant(variant: str, only: tuple = (), out: list | None = None) -> tuple:
    """(name, history, [CheckResult]) of one variant; raises SpecError. The
    results are appended to ``out`` as they come (kept when interrupted)."""
    name, history, layout, mapping, resolve = _load(variant)
    keep = (lambda c: any(c.startswith(o) for o in only)) if only else None
    return name, history, all_checks(layout, mapping, resolve, keep, out)


def _cex_text(cex) -> str:
    return " ".join(f"{k}={v}" for k, v in cex.items()) if cex else ""


def format_checks(name: str, history: str, checks: list, width: int = 80,
                  summary: bool = True) -> str:
    """The text block of one variant: a header, one entry per check (its name and
    status on the entry's first line, the detail and counterexample wrapped under
    it), a summary line; every line at most ``width`` columns."""
    # a file path in the name stays whole (a hyphen in it is not a break)
    lines = textwrap.wrap(f"{name}: {history}" if history else name, width,
                          subsequent_indent="    ", break_on_hyphens=False,
                          break_long_words=False)
    nw = max((len(c.name) for c in checks), default=10)
    for c in checks:
        status = c.status if c.status in ("holds", "n/a") else c.status.upper()
        text = f"  {c.name:<{nw}}  {status:<8}  {c.detail}"
        if c.counterexample:
            text += f" [counterexample: {_cex_text(c.counterexample)}]"
        lines += textwrap.wrap(text, width, subsequent_indent=" " * 6,
                               break_on_hyphens=False)
    if summary:
        counts = {s: sum(1 for c in checks if c.status == s)
                  for s in ("holds", "violated", "n/a", "unknown")}
        text = (f"{counts['holds']} hold, {counts['violated']} VIOLATED, "
                f"{counts['n/a']} n/a")
        if counts["unknown"]:
            text += f", {counts['unknown']} UNKNOWN"
        lines.append(f"{name}: {text}")
    return "\n".join(lines)


@click.command("abi")
@click.argument("variant", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of checks.")
@click.option("--only", multiple=True, metavar="PREFIX",
              help="Run only the checks whose name starts with PREFIX (repeatable; "
                   "each must match a check).")
def abi(variant, as_json, only):
    """Prove a variant's meta-page layout and index arithmetic for all sizes.

    VARIANT is a name of specs/NAME.toml or a path to a .toml file; without it,
    every shipped variant.  One entry per check: holds, VIOLATED with a concrete
    counterexample, n/a, or UNKNOWN.  Exit 0: nothing violated; 1: a violation;
    2: bad input (an --only that matches no check too); 3: z3 gave up on a check;
    130: interrupted (Ctrl-C; the checks done are printed).

    \b
    ABI: each field at the same offset and size for ILP32 (i386) and LP64
    user space as in the x86_64 kernel; natural alignment; no hidden padding;
    `extends` keeps every old offset.
    Arithmetic (z3): meta-area sizing, page-offset translation and mmap
    validation, user-space offsets, head-index wrap-around, for nr_pages
    1..2^20, sub-buffer orders 0..7 and all 64-bit offsets and lengths.
    """
    from . import fail, interrupted

    names = [variant] if variant else shipped_names()
    if not names:
        fail(f"no variant files in {SPECS_DIR}")
    for v in names:  # every file is read before anything is proved
        try:
            _load(v)
        except SpecError as exc:
            fail(str(_exact_line(exc)))
    results = []
    current: list = []
    label = ""
    printed = 0
    try:
        for v in names:
            current = []
            label = variant_label(v, _load(v)[0])
            _, history, _ = run_variant(v, tuple(only), current)
            results.append((label, history, current))
            if as_json or (only and not current):
                continue
            click.echo(("\n" if printed else "") + format_checks(*results[-1]))
            printed += 1
    except KeyboardInterrupt:  # z3's answer to Ctrl-C too (checker.symbolic)
        done = list(results)
        if current and (not done or done[-1][2] is not current):
            done.append((label, "", current))
            if not as_json:
                click.echo(("\n" if printed else "")
                           + format_checks(label, "(interrupted)", current,
                                           summary=False))
        if as_json:
            _print_json(done)
        interrupted(f"{sum(len(c) for _, _, c in done)} checks done")
    except SpecError as exc:
        fail(str(_exact_line(exc)))
    ran = [c.name for _, _, checks in results for c in checks]
    for prefix in only:
        if not any(n.startswith(prefix) for n in ran):
            fail(f"--only {prefix}: no check's name starts with it (the checks: "
                 + ", ".join(_all_names()) + ")")
    if as_json:
        _print_json(results)
    else:
        click.echo(f"(nr_pages 1..{NR_PAGES_MAX}, sub-buffer orders "
                   f"0..{SUBBUF_ORDER_MAX}, PAGE_SIZE 4096)")
    statuses = {c.status for _, _, checks in results for c in checks}
    if "violated" in statuses:
        raise SystemExit(1)
    if "unknown" in statuses:
        raise SystemExit(3)


def _print_json(results) -> None:
    out = [dict(variant=name, **c.to_json())
           for name, _, checks in results for c in checks]
    click.echo(json.dumps(out, indent=2))


def _all_names() -> list:
    """The names of the checks (without the [6.10]/[6.12] suffixes)."""
    from ..model.arith import HEAD_CHECKS, TRANSLATION_CHECKS
    return ["abi_same_layout", "abi_natural_alignment", "abi_no_padding",
            "abi_extends", "meta_area_sizing", *TRANSLATION_CHECKS, *HEAD_CHECKS]
