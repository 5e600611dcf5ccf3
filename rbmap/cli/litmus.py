"""``rbmap litmus FILE... [--json]``: litmus programs under the Linux kernel memory
model.

Each FILE is a litmus program in the kernel's C litmus format (or a directory of
``*.litmus`` files).  For one program: the verdict (herd7's words: Never,
Sometimes, Always) for its condition and, when the condition is reachable, a
witness execution (each read's source write, each location's coherence order and
the final values).  For several: one line each and a summary; programs that do not
parse are listed with the reason.

Exit status: 0 when every program's verdict agrees with the ``Result:`` its
comment states (or, without one, when its quantified condition holds: ``exists``
reachable, ``~exists`` unreachable, ``forall`` always); 1 when one does not;
2 on bad input (one file that does not parse); 3 when some files of several could
not be checked (and none disagreed), or z3 did not decide within --time-limit.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import click

from rbmap.cli import fail
from rbmap.cli.options import SECONDS

from ..checker.litmus import LitmusError, parse
from ..checker.memmodel import (PRIMITIVES, LitmusIncomplete, check, format_result,
                                states)


def _files(args) -> list[Path]:
    out = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(p.glob("*.litmus"))
            if not found:
                fail(f"{a}: a directory with no *.litmus file")
            out += found
        elif p.is_file():
            out.append(p)
        elif p.exists():
            fail(f"{a}: not a regular file")
        else:
            fail(f"{a}: no such file")
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LitmusError("not a text file (UTF-8)") from None
    except OSError as exc:
        raise LitmusError(exc.strerror or str(exc)) from None


def run_files(files, local_t: str, syscall_barrier: bool, progress=None,
              time_limit=None):
    """([(path, LitmusResult)], [(path, reason)])"""
    from rbmap.cli import interrupted
    results, failed = [], []
    for i, f in enumerate(files):
        if progress:
            progress(f"[{i + 1}/{len(files)}] {f.name}")
        try:
            lit = parse(_read(f))
            results.append((f, check(lit, local_t=local_t, syscall_barrier=syscall_barrier,
                                     time_limit=time_limit)))
        except LitmusError as exc:
            failed.append((f, str(exc)))
        except KeyboardInterrupt:
            interrupted(f"{len(results)} of {len(files)} programs checked")
    return results, failed


def _ok(r) -> bool:
    return r.agrees if r.expected is not None else r.validated


def summary_lines(results, failed, width: int = 80) -> list[str]:
    lines = [f"{'test':<47} {'verdict':<9} {'expected':<9} {'':<7} {'s':>4}"]
    lines.append("-" * width)
    for f, r in results:
        mark = ("agrees" if r.agrees else "DIFFERS") if r.expected else \
            ("holds" if r.validated else "FAILS")
        cells = f"{r.verdict:<9} {r.expected or '-':<9} {mark:<7} {r.seconds:>4.1f}"
        if len(r.name) > 47:
            lines.append(r.name)
            lines.append(f"{'':<47} {cells}")
        else:
            lines.append(f"{r.name:<47} {cells}")
    for f, why in failed:
        lines.append(f"{f.stem[:47]:<47} not checked")
        lines.append(f"    {why}"[:width])
    lines.append("-" * width)
    agree = sum(1 for _, r in results if r.expected and r.agrees)
    differ = sum(1 for _, r in results if r.expected and not r.agrees)
    free = [r for _, r in results if not r.expected]
    text = (f"{len(results) + len(failed)} programs: {agree} agree with their "
            f"Result, {differ} differ")
    if free:
        text += f", {sum(1 for r in free if r.validated)} of {len(free)} without a " \
                "Result hold"
    text += f", {len(failed)} not checked; " \
            f"{sum(r.seconds for _, r in results):.1f} s"
    lines.append(text)
    return lines


@click.command("litmus")
@click.argument("files", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--local-t", type=click.Choice(["relaxed", "generic"]), default="relaxed",
              show_default=True,
              help="local_t operations: relaxed (x86, powerpc: no barriers) or generic "
                   "(asm-generic/local.h, arm64/riscv: value-returning ones fully "
                   "ordered).")
@click.option("--syscall-barrier/--no-syscall-barrier", default=True, show_default=True,
              help="Whether syscall()/syscall_enter()/syscall_exit() is a full "
                   "barrier (the assumption) or nothing.")
@click.option("--time-limit", type=SECONDS, default=None,
              metavar="SECONDS",
              help="Give up on a program whose z3 query takes longer (exit 3: "
                   "incomplete).")
@click.option("--kernel-tests", is_flag=True,
              help="Check the kernel's own tools/memory-model/litmus-tests (fetched "
                   "once from Debian's linux-source-6.12 into ~/.cache/rbmap), and its "
                   "Documentation/litmus-tests.")
@click.option("--states", "show_states", is_flag=True,
              help="Also list every final state the allowed executions reach "
                   "(herd7's States), registers and locations (one FILE).")
@click.option("--primitives", is_flag=True, help="List the primitives and exit.")
def litmus(files, as_json, local_t, syscall_barrier, time_limit, kernel_tests,
           show_states, primitives):
    """Decide litmus programs under the Linux kernel memory model (LKMM), with z3.

    \b
    FILE: a C litmus program (the kernel's tools/memory-model format):
      C name, (* comments *) with "Result: Never|Sometimes|Always",
      { init }, P0(int *x, ...) { ... }, exists/~exists/forall (...),
      locations [...]
    or a directory of *.litmus files.

    Prints Never/Sometimes/Always (herd7's words) for the condition and a
    witness execution when it is reachable.  Exit 0 when every verdict agrees
    with the file's Result (or the condition holds, without one), 1 when not,
    2 on bad input, 3 when some of several files could not be checked or z3
    did not decide within --time-limit."""
    if primitives:
        click.echo("\n".join(PRIMITIVES))
        return
    paths = _files(files)
    source = None
    if kernel_tests:
        from rbmap.kernel import KernelError
        from rbmap.kernel_litmus import fetch, test_files
        try:
            d, info = fetch(log=lambda m: click.echo(m, err=True))
        except KernelError as exc:
            fail(str(exc))
        source = info
        paths += test_files(d, info)
    if not paths:
        fail("no litmus file given (FILE..., or --kernel-tests)")
    say = (lambda m: click.echo(m, err=True)) if sys.stderr.isatty() and \
        len(paths) > 1 else None
    if len(paths) == 1 and not kernel_tests:
        try:
            lit = parse(_read(paths[0]))
            r = check(lit, local_t=local_t, syscall_barrier=syscall_barrier,
                      time_limit=time_limit)
        except LitmusIncomplete as exc:
            fail(f"{paths[0]}: {exc} within {time_limit} s: no verdict", 3)
        except LitmusError as exc:
            fail(f"{paths[0]}: {exc}")
        finals = states(lit, local_t=local_t, syscall_barrier=syscall_barrier) \
            if show_states else None
        if as_json:
            click.echo(json.dumps(dict(r.to_json(), **(
                {"states": finals} if finals is not None else {}))))
        else:
            click.echo(format_result(r))
            if finals is not None:
                click.echo(f"States {len(finals)}")
                for st in finals:
                    click.echo("\n".join(textwrap.wrap(
                        "; ".join(f"{k}={v}" for k, v in st.items()), 80,
                        subsequent_indent="  ")))
        sys.exit(0 if _ok(r) else 1)
    results, failed = run_files(paths, local_t, syscall_barrier, progress=say,
                                time_limit=time_limit)
    if as_json:
        click.echo(json.dumps({
            "source": source,
            "results": [dict(r.to_json(), file=str(f)) for f, r in results],
            "not_checked": [{"file": str(f), "reason": why} for f, why in failed]}))
    else:
        if source:
            click.echo(f"kernel litmus tests: {source['package']} {source['version']}")
        click.echo("\n".join(summary_lines(results, failed)))
    if any(not _ok(r) for _, r in results):
        sys.exit(1)
    if failed:
        sys.exit(3)
