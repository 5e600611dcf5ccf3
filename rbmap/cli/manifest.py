"""``rbmap manifest``: the recorded verdicts, state counts and depths per shipped config.

specs/manifest.json lists configurations with what checking them must give (the
violated properties, the unreached goals, distinct states and BFS depth), as TLA+'s
Examples repository does: a regression test for the model itself. Some configs are
*expected to fail* (the seed's races); ``slow`` ones run only with ``--slow``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from rbmap.checker import check_bfs
from rbmap.cli import fail
from rbmap.model import SpecError, build
from rbmap.model.variants import SPECS_DIR

MANIFEST = SPECS_DIR / "manifest.json"


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{path}: {exc}")
    return data["configs"]


def run_entry(entry: dict) -> dict:
    """Check one manifest entry; return what it gave."""
    m = build(entry["variant"], rules=entry.get("rules") or None, **entry["config"])
    t = time.perf_counter()
    r = check_bfs(m)
    dt = time.perf_counter() - t
    return {
        "violated": sorted(p.name for p in r.properties if p.status == "violated"),
        "unreached": sorted(p.name for p in r.properties if p.status == "unreached"),
        "states": r.states,
        "depth": r.max_depth,
        "complete": r.complete,
        "seconds": round(dt, 2),
    }


def compare(entry: dict, got: dict) -> list[str]:
    diffs = []
    for key in ("violated", "unreached", "states", "depth"):
        if entry.get(key) != got[key]:
            diffs.append(f"{key}: expected {entry.get(key)}, got {got[key]}")
    if not got["complete"]:
        diffs.append("exploration incomplete")
    return diffs


@click.command("manifest")
@click.option("--slow", is_flag=True, help="Also run the configs marked slow.")
@click.option("--update", is_flag=True,
              help="Rewrite specs/manifest.json with what the runs give.")
@click.option("--only", multiple=True, help="Run only the named entries.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def manifest(slow, update, only, as_json):
    """Check the model against its recorded results (specs/manifest.json).

    Exit 0 when every run config gives its recorded verdicts, states and depth; 1
    when one differs (it is listed)."""
    entries = load_manifest()
    names = {e["name"] for e in entries}
    for n in only:
        if n not in names:
            fail(f"no manifest entry {n!r} (known: {', '.join(sorted(names))})")
    rows = []
    bad = 0
    for e in entries:
        if only and e["name"] not in only:
            continue
        if e.get("slow") and not slow and not only:
            rows.append({"name": e["name"], "skipped": "slow (use --slow)"})
            continue
        try:
            got = run_entry(e)
        except SpecError as exc:
            fail(f"manifest entry {e['name']}: {exc}")
        diffs = compare(e, got)
        bad += bool(diffs)
        rows.append({"name": e["name"], **got, "diffs": diffs})
        if update:
            e.update({k: got[k] for k in ("violated", "unreached", "states", "depth")})
    if update:
        MANIFEST.write_text(json.dumps({"format": "rbmap-manifest/1", "configs": entries},
                                       indent=1) + "\n")
    if as_json:
        click.echo(json.dumps(rows))
    else:
        for r in rows:
            if "skipped" in r:
                click.echo(f"  skipped  {r['name']}: {r['skipped']}")
                continue
            status = "ok" if not r["diffs"] else "DIFFERS"
            click.echo(f"  {status:<8} {r['name']}: {r['states']} states, depth "
                       f"{r['depth']}, {r['seconds']} s; violated: "
                       f"{', '.join(r['violated']) or '-'}")
            for d in r["diffs"]:
                click.echo(f"           {d}")
    sys.exit(1 if bad and not update else 0)
