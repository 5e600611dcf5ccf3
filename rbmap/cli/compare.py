"""``rbmap compare``: the variant x property matrix.

Columns are design variants, rows are the model's properties (each checked by an
exhaustive exploration at one config) and the ABI checks of ``rbmap abi``. A cell
is ``holds``, ``VIOL n`` (violated; the shortest counterexample has n steps),
``reached`` / ``UNREACHED`` for goals, or ``n/a`` where the property means nothing for
the variant. Plain text fits 80 columns (an email reply); ``--markdown`` and
``--json`` too.

The non-consuming reader rows (variants with ``data_pages[]``) come from a second,
smaller run with one non-consuming reader, since that reader multiplies the state
space; the footer gives both configs.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
from pathlib import Path as FsPath

import click

from rbmap.checker import Path, check_bfs
from rbmap.cli import fail
from rbmap.cli.check import command_line, model_from
from rbmap.model import SpecError, shipped_names
from rbmap.model.properties import SPECS

COMPARE_DEFAULT = dict(pages=2, page_events=2, events=5, processes=2, nesting=2)
NC_CONFIG = dict(pages=2, page_events=1, events=3, processes=1, nesting=1, nc_readers=1)
NC_ROWS = ("non_consuming_read_detects_overwrite", "non_consuming_reader_drops_page")
CELL = {"holds": "holds", "violated": "VIOL", "reached": "reached",
        "unreached": "UNREACHED", "unknown": "unknown", "n/a": "n/a"}


def _model_rows(variant: str, config: dict, rules: dict, traces: dict, nc: bool):
    m = model_from(variant, rules, config)
    t = time.perf_counter()
    r = check_bfs(m)
    dt = time.perf_counter() - t
    info = {"variant": variant, "rules": dict(rules), "config": dict(config)}
    cells = {}
    for p in r.properties:
        if nc and p.name not in NC_ROWS:
            continue
        if not nc and p.name in NC_ROWS:
            continue
        cell = {"status": p.status if r.complete or p.status in (
            "violated", "reached") else "unknown"}
        if p.path is not None and p.status == "violated":
            key = f"{variant}:{p.name}"
            cell["steps"] = len(p.path)
            cell["trace"] = key
            traces[key] = {"command": command_line(info),
                           "path": Path(p.path.init, list(p.path.actions), p.name,
                                        info).to_json()}
        cells[p.name] = cell
    for name in m.not_applicable():
        if (name in NC_ROWS) == nc:
            cells[name] = {"status": "n/a"}
    return cells, {"states": r.states, "seconds": round(dt, 2),
                   "complete": r.complete}


def _abi_rows(variant: str) -> dict:
    from rbmap.cli.abi import run_variant
    _, _, checks = run_variant(variant)
    merged: dict = {}
    for c in checks:
        base = re.sub(r"\[.*\]$", "", c.name)
        cur = merged.setdefault(base, {"status": "n/a", "details": []})
        if c.status == "violated":
            cur["status"] = "violated"
            cur["details"].append(c.detail)
        elif c.status == "holds" and cur["status"] == "n/a":
            cur["status"] = "holds"
        elif c.status not in ("holds", "n/a", "violated"):
            cur["status"] = "unknown"
    return {f"abi:{k}": {"status": v["status"],
                         **({"detail": " | ".join(v["details"])} if v["details"] else {})}
            for k, v in merged.items()}


def build_matrix(variants, config: dict, rules: dict, abi: bool, nc: bool,
                 progress=None) -> dict:
    traces: dict = {}
    columns = {}
    stats = {}
    for v in variants:
        if progress:
            progress(f"checking {v} ...")
        cells, st = _model_rows(v, config, rules, traces, nc=False)
        st_nc = None
        if nc:
            nc_cells, st_nc = _model_rows(v, NC_CONFIG, rules, traces, nc=True)
            cells.update(nc_cells)
        if abi:
            if progress:
                progress(f"proving {v}'s ABI ...")
            try:
                cells.update(_abi_rows(v))
            except SpecError as exc:
                fail(str(exc))
        columns[v] = cells
        stats[v] = {"main": st, "nc": st_nc}
    order = [p.name for p in SPECS if p.name not in NC_ROWS]
    if nc:
        order += list(NC_ROWS)
    abi_names = []
    for cells in columns.values():
        abi_names += [k for k in cells if k.startswith("abi:") and k not in abi_names]
    rows = []
    for name in order + abi_names:
        rows.append({"name": name,
                     "status": {v: columns[v].get(name, {"status": "n/a"})["status"]
                                for v in variants},
                     "cells": {v: columns[v].get(name, {"status": "n/a"})
                               for v in variants}})
    rows.append({"name": "deadlock",
                 "status": {v: columns[v].get("deadlock", {})
                            .get("status", "n/a") for v in variants},
                 "cells": {v: columns[v].get("deadlock", {"status": "n/a"})
                           for v in variants}})
    return {"variants": list(variants), "config": config, "nc_config": NC_CONFIG if nc
            else None, "rules": rules, "rows": rows, "traces": traces, "stats": stats}


def _cell_text(cell: dict) -> str:
    word = CELL.get(cell["status"], cell["status"])
    if cell["status"] == "violated" and "steps" in cell:
        return f"{word} {cell['steps']}"
    if cell["status"] == "violated":
        return "VIOLATED"
    return word


def render_text(mx: dict, width: int = 80) -> str:
    vs = mx["variants"]
    cw = 10
    longest = max(len(r["name"]) for r in mx["rows"]) + 1
    nw = max(16, min(longest, 30, width - cw * len(vs)))
    lines = []
    head = [textwrap.wrap(v, cw - 1) or [""] for v in vs]
    depth = max(len(h) for h in head)
    for i in range(depth):
        label = "property" if i == 0 else ""
        lines.append(f"{label:<{nw}}" + "".join(
            f"{(h[i] if i < len(h) else ''):<{cw}}" for h in head).rstrip())
    lines.append("-" * min(width, nw + cw * len(vs)))
    for row in mx["rows"]:
        cells = "".join(f"{_cell_text(row['cells'][v]):<{cw}}" for v in vs).rstrip()
        name = row["name"]
        if len(name) >= nw:
            lines.append(name)
            lines.append(" " * nw + cells)
        else:
            lines.append(f"{name:<{nw}}{cells}")
    lines.append("-" * min(width, nw + cw * len(vs)))
    st = "states/time: " + "; ".join(
        f"{v} {s['main']['states']} in {s['main']['seconds']} s"
        + (f" (+{s['nc']['states']} nc)" if s["nc"] else "")
        for v, s in mx["stats"].items())
    lines += textwrap.wrap(st, width)
    cfg = ", ".join(f"{k}={v}" for k, v in mx["config"].items())
    lines += textwrap.wrap(f"config: {cfg}", width)
    if mx["nc_config"]:
        cfg = ", ".join(f"{k}={v}" for k, v in mx["nc_config"].items())
        lines += textwrap.wrap(f"non-consuming rows: {cfg}", width)
    lines.append("VIOL n: violated, shortest counterexample n steps; abi: rows are "
                 "proofs")
    lines.append("for all sizes (rbmap abi); n/a: not meaningful for the variant.")
    return "\n".join(lines)


def render_markdown(mx: dict, trace_dir: str | None) -> str:
    vs = mx["variants"]
    out = ["| property | " + " | ".join(vs) + " |",
           "|---|" + "---|" * len(vs)]
    for row in mx["rows"]:
        cells = []
        for v in vs:
            c = row["cells"][v]
            text = _cell_text(c).replace("VIOL ", "VIOLATED (") + (
                " steps)" if c["status"] == "violated" and "steps" in c else "")
            if trace_dir and "trace" in c:
                text = f"[{text}]({trace_dir}/{c['trace'].replace(':', '.')}.json)"
            cells.append(text)
        out.append(f"| `{row['name']}` | " + " | ".join(cells) + " |")
    out.append("")
    out.append("| | " + " | ".join(vs) + " |")
    out.append("|---|" + "---|" * len(vs))
    out.append("| states | " + " | ".join(
        str(mx["stats"][v]["main"]["states"]) for v in vs) + " |")
    out.append("| seconds | " + " | ".join(
        str(mx["stats"][v]["main"]["seconds"]) for v in vs) + " |")
    cfg = ", ".join(f"{k}={v}" for k, v in mx["config"].items())
    out.append(f"\nConfig: {cfg}.")
    if mx["nc_config"]:
        cfg = ", ".join(f"{k}={v}" for k, v in mx["nc_config"].items())
        out.append(f"Non-consuming reader rows: {cfg}.")
    return "\n".join(out)


@click.command("compare")
@click.argument("variants", nargs=-1)
@click.option("--pages", type=int, default=COMPARE_DEFAULT["pages"], show_default=True)
@click.option("--page-events", type=int, default=COMPARE_DEFAULT["page_events"],
              show_default=True)
@click.option("--events", type=int, default=COMPARE_DEFAULT["events"], show_default=True)
@click.option("--processes", type=int, default=COMPARE_DEFAULT["processes"],
              show_default=True)
@click.option("--nesting", type=int, default=COMPARE_DEFAULT["nesting"],
              show_default=True)
@click.option("--overwrite/--no-overwrite", default=True, show_default=True)
@click.option("--consumers", type=click.Choice(["sequential", "concurrent"]),
              default="sequential", show_default=True)
@click.option("--client", type=click.Choice(["documented", "greedy"]),
              default="documented", show_default=True)
@click.option("--crash/--no-crash", default=False, show_default=True)
@click.option("--rule", "rule_pairs", multiple=True, metavar="NAME=VALUE",
              help="Override a protocol rule in every column.")
@click.option("--abi/--no-abi", default=True, show_default=True,
              help="Add the ABI and arithmetic proof rows (rbmap abi).")
@click.option("--nc/--no-nc", "nc", default=True, show_default=True,
              help="Add the non-consuming reader rows (a second, small run).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--markdown", is_flag=True, help="A Markdown table.")
@click.option("--trace-dir", type=click.Path(file_okay=False), default=None,
              help="Write each counterexample to DIR/VARIANT.PROPERTY.json "
                   "(replay with rbmap replay).")
def compare(variants, pages, page_events, events, processes, nesting, overwrite,
            consumers, client, crash, rule_pairs, abi, nc, as_json, markdown,
            trace_dir):
    """Check VARIANTS side by side: properties and ABI checks as rows.

    VARIANTS are shipped names or paths to variant files (default: every shipped
    variant). Exit 0 when the matrix was computed (violations are results, not
    errors); 2 on bad input."""
    from rbmap.cli.check import _parse_rules
    rules = _parse_rules(rule_pairs)
    variants = list(variants) or shipped_names()
    config = dict(pages=pages, page_events=page_events, events=events,
                  processes=processes, nesting=nesting, overwrite=overwrite,
                  consumers=consumers, client=client, crash=crash)
    for v in variants:  # fail early on a bad name or file
        model_from(v, rules, dict(config, events=1))
    say = (lambda msg: click.echo(msg, err=True)) if sys.stderr.isatty() else None
    mx = build_matrix(variants, config, rules, abi, nc, progress=say)
    if trace_dir:
        d = FsPath(trace_dir)
        d.mkdir(parents=True, exist_ok=True)
        for key, t in mx["traces"].items():
            (d / f"{key.replace(':', '.')}.json").write_text(
                json.dumps(t["path"], indent=1) + "\n")
    if as_json:
        click.echo(json.dumps(mx))
    elif markdown:
        click.echo(render_markdown(mx, trace_dir))
    else:
        click.echo(render_text(mx))
        if mx["traces"]:
            click.echo("\ncounterexamples (" + ("in " + trace_dir if trace_dir else
                       "add --trace-dir DIR to save them") + "):")
            for key, t in mx["traces"].items():
                steps = len(t["path"]["actions"])
                if trace_dir:
                    v, p = key.split(":")
                    click.echo(f"  {key} ({steps} steps): rbmap replay "
                               f"{trace_dir}/{v}.{p}.json")
                else:
                    click.echo(f"  {key} ({steps} steps)")
