"""``rbmap manifest``: the recorded results of every shipped config.

specs/manifest.json lists configurations with what checking them must give: per
config the verdict and the shortest counterexample length of every property, the
extent of each liveness violation, distinct states, transitions, BFS depth and a
digest of the reachable graph (:mod:`rbmap.manifest`). A difference is printed as
what moved. Some configs are *expected to fail* (the seed's races); ``slow`` ones
run only with ``--slow``.
"""

from __future__ import annotations

import json
import sys
import textwrap

import click

from rbmap.checker.interrupt import requested as interrupt_requested
from rbmap.checker.interrupt import stop_on_sigint
from rbmap.cli import fail, interrupted
from rbmap.manifest import MANIFEST, RECORDED, compare, load_entries, run_entry, \
    write_entries
from rbmap.model import SpecError

__all__ = ["manifest", "load_manifest", "run_entry", "compare"]


def load_manifest(path=MANIFEST) -> list[dict]:
    """The manifest's entries; a bad file is bad input (exit 2)."""
    try:
        return load_entries(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        fail(f"{path}: {exc}")


@click.command("manifest")
@click.option("--slow", is_flag=True, help="Also run the configs marked slow.")
@click.option("--update", is_flag=True,
              help="Rewrite specs/manifest.json with what the runs give (the "
                   "entries run; with --slow, all).")
@click.option("--only", multiple=True, help="Run only the named entries.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def manifest(slow, update, only, as_json):
    """Check the model against its recorded results (specs/manifest.json).

    Per config: every property's verdict and shortest counterexample length, the
    extent of each liveness violation (terminal components), states, transitions,
    depth and a digest of the reachable graph. A difference names what moved.

    \b
    Exit status: 0 every config run gives what is recorded, 1 one differs (listed),
    2 bad input or a failed write, 130 interrupted (Ctrl-C: the entries done are
    printed, the manifest is not updated).
    """
    entries = load_manifest()
    names = {e["name"] for e in entries}
    for n in only:
        if n not in names:
            fail(f"no manifest entry {n!r} (known: {', '.join(sorted(names))})")
    rows = []
    bad = 0
    stopped = False
    with stop_on_sigint():
        for e in entries:
            if only and e["name"] not in only:
                continue
            if e.get("slow") and not slow and not only:
                rows.append({"name": e["name"], "skipped": "slow (use --slow)"})
            else:
                try:
                    got = run_entry(e)
                except SpecError as exc:
                    fail(f"manifest entry {e['name']}: {exc}")
                if interrupt_requested():       # Ctrl-C: this entry is incomplete
                    stopped = True
                    rows.append({"name": e["name"], "skipped": "interrupted"})
                else:
                    diffs = compare(e, got)
                    bad += bool(diffs)
                    rows.append({"name": e["name"], **got, "diffs": diffs})
                    if update:
                        e.update({k: got[k] for k in RECORDED})
            if not as_json:        # each row as it is done
                _print_row(rows[-1], update)
            if stopped:
                break
    if as_json:
        click.echo(json.dumps(rows))
    if stopped:
        interrupted(f"{sum('diffs' in r for r in rows)} entries checked"
                    + ("; the manifest was not updated" if update else ""))
    if update:
        try:
            write_entries(entries)
        except OSError as exc:
            fail(f"{MANIFEST}: {exc.strerror or exc}")
    sys.exit(1 if bad and not update else 0)


def _print_row(r: dict, update: bool) -> None:
    if "skipped" in r:
        click.echo(f"  skipped  {r['name']}: {r['skipped']}")
        return
    status = "ok" if not r["diffs"] else ("updated" if update else "DIFFERS")
    click.echo(f"  {status:<8} {r['name']}: {r['states']} states, depth "
               f"{r['depth']}, {r['seconds']} s")
    click.echo(textwrap.fill(
        f"violated: {', '.join(r['violated']) or '-'}", 80,
        initial_indent=" " * 11, subsequent_indent=" " * 13))
    for d in r["diffs"]:
        click.echo(textwrap.fill(d, 80, initial_indent=" " * 11,
                                 subsequent_indent=" " * 13))
