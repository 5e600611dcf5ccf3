"""``rbmap compare``: the variant x property matrix.

Columns are design variants, rows are the model's properties (each checked by an
exhaustive exploration at one config) and the ABI checks of ``rbmap abi``. A cell
is ``holds``, ``VIOL n`` (violated; the shortest counterexample has n steps),
``reached`` / ``UNREACHED`` for goals, or ``n/a`` where the property means nothing for
the variant. Plain text fits 80 columns (an email reply); ``--markdown`` and
``--json`` too.

The non-consuming reader rows (variants with ``data_pages[]``) come from a second,
smaller run with one non-consuming reader, since that reader multiplies the state
space; the footer gives both configs. So do the rows of the other consumers and the
refused calls (:data:`EXTRA_RUNS`): ``text:`` rows from a small run with one
trace_pipe read, ``refusals:`` rows from one that tries every refused call and lets
a process fork after MADV_DOFORK.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
from pathlib import Path as FsPath

import click

from rbmap.checker import Path
from rbmap.checker.engine import explore
from rbmap.checker.interrupt import request as interrupt_request
from rbmap.checker.interrupt import requested as interrupt_requested
from rbmap.checker.interrupt import stop_on_sigint
from rbmap.cli import check_writable, fail, interrupted
from rbmap.cli.check import command_line, model_from, model_info
from rbmap.cli.options import (bound_options, bounds, parse_rules, workload_config,
                               workload_options)
from rbmap.model import SpecError, shipped_names
from rbmap.model.properties import SPECS

COMPARE_DEFAULT = dict(pages=2, page_events=2, events=5, processes=2, nesting=2)
NC_CONFIG = dict(pages=2, page_events=1, events=3, processes=1, nesting=1, nc_readers=1)
NC_ROWS = ("non_consuming_read_detects_overwrite", "non_consuming_reader_drops_page")
#: (prefix, config of its run, the properties it adds as PREFIX:NAME rows)
EXTRA_RUNS = (
    ("text", dict(pages=2, page_events=1, events=5, processes=1, nesting=1,
                  text_reads=1),
     ("lost_events_reported_once", "no_kernel_warning", "meta_reader_lost_events",
      "text_read_leaves_loss_pending")),
    ("refusals", dict(pages=2, page_events=1, events=2, processes=1, nesting=1,
                      refusals=True, fork=True),
     ("refused_call_changes_nothing", "refusal_lifted_after_unmap",
      "snapshot_excludes_mapping", "swap_cpu_refused_while_mapped",
      "no_kernel_warning")),
)
CELL = {"holds": "holds", "violated": "VIOL", "reached": "reached",
        "unreached": "UNREACHED", "unknown": "unknown", "n/a": "n/a"}


def _model_rows(m, variant: str, config: dict, rules: dict, traces: dict,
                rows, bound: dict, tag: str = ""):
    """Cells of one exploration: ``rows`` is "main" (every property but the
    non-consuming reader's), "nc" (only those), "all", or a tuple of names;
    ``tag`` prefixes the trace keys (the extra runs)."""
    t = time.perf_counter()
    r = explore(m, **bound)
    dt = time.perf_counter() - t
    info = model_info(variant, rules, config, m)

    def wanted(name):
        if isinstance(rows, tuple):
            return name in rows
        return rows == "all" or (name in NC_ROWS) == (rows == "nc")
    cells = {}
    for p in r.properties:
        if not wanted(p.name):
            continue
        cell = {"status": p.status}
        if p.path is not None and p.status == "violated":
            key = f"{variant}:{tag}{p.name}"
            cell["steps"] = len(p.path)
            cell["trace"] = key
            traces[key] = {"command": command_line(info),
                           "file": trace_file_name(variant, tag + p.name),
                           "path": Path(p.path.init, list(p.path.actions), p.name,
                                        info).to_json(),
                           "model": m}
        cells[p.name] = cell
    for name in m.not_applicable():
        if wanted(name):
            cells[name] = {"status": "n/a"}
    return cells, {"states": r.states, "seconds": round(dt, 2),
                   "complete": r.complete, "stopped_by": r.stopped_by}


def trace_file_name(variant: str, prop: str) -> str:
    """The base name (no suffix) a cell's trace and reports are saved under:
    VARIANT.PROPERTY, the variant's file stem when it is a path."""
    from rbmap.cli.report import safe_name
    return f"{safe_name(variant)}.{prop}"


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


def nc_config(config: dict) -> dict:
    """The non-consuming reader rows' config: :data:`NC_CONFIG`'s sizes with the
    assumptions of ``config``."""
    return {**config, **NC_CONFIG}


def build_matrix(variants, config: dict, rules: dict, abi: bool, nc: bool,
                 progress=None, bound: dict | None = None,
                 weak_memory: bool = False, extra: bool = False) -> dict:
    """The matrix of ``variants`` at ``config``. With ``config["nc_readers"]`` the
    non-consuming rows come from the main run (every variant must have
    ``data_pages[]``); otherwise, with ``nc``, from a second, small run of the
    variants that have it (:func:`nc_config`)."""
    bound = dict(bound or {})
    traces: dict = {}
    columns = {}
    stats = {}
    missing = {}      # the status of a cell a column lacks: n/a, or unknown
    nc_in_main = bool(config.get("nc_readers"))
    wm_cache: dict = {}
    stopped = {"main": 0, "seconds": 0.0, "complete": False,
               "stopped_by": "interrupted"}
    for v in variants:
        if interrupt_requested():   # Ctrl-C: the columns not started are unknown
            columns[v], missing[v] = {}, "unknown"
            stats[v] = {"main": dict(stopped, states=0), "nc": None}
            continue
        if progress:
            progress(f"checking {v} ...")
        m = model_from(v, rules, config)
        cells, st = _model_rows(m, v, config, rules, traces,
                                "all" if nc_in_main else "main", bound)
        missing[v] = "n/a"
        st_nc = None
        if nc and not nc_in_main:
            if not m.has_data_pages:
                cells.update({name: {"status": "n/a"} for name in NC_ROWS})
            elif not interrupt_requested():
                m_nc = model_from(v, rules, nc_config(config))
                nc_cells, st_nc = _model_rows(m_nc, v, nc_config(config), rules,
                                              traces, "nc", bound)
                cells.update(nc_cells)
        extra_stats = {}
        for prefix, over, names in (EXTRA_RUNS if extra else ()):
            if interrupt_requested():
                break
            if progress:
                progress(f"checking {v} ({prefix} rows) ...")
            cfg = {**config, **over}
            x_cells, extra_stats[prefix] = _model_rows(
                model_from(v, rules, cfg), v, cfg, rules, traces, names, bound,
                tag=f"{prefix}.")
            cells.update({f"{prefix}:{k}": c for k, c in x_cells.items()})
        if abi and not interrupt_requested():
            if progress:
                progress(f"proving {v}'s ABI ...")
            try:
                cells.update(_abi_rows(v))
            except SpecError as exc:
                fail(str(exc))
            except KeyboardInterrupt:   # z3 took the Ctrl-C (checker.symbolic)
                interrupt_request()
        if weak_memory and not interrupt_requested():
            if progress:
                progress(f"weak memory: {v}'s litmus pairs ...")
            from rbmap import weakmem
            try:
                cells.update(weakmem.rows(m.rules, wm_cache))
            except KeyboardInterrupt:   # z3 took the Ctrl-C (checker.symbolic)
                interrupt_request()
        if interrupt_requested():
            missing[v] = "unknown"
        columns[v] = cells
        stats[v] = {"main": st, "nc": st_nc, **extra_stats}
    nc = nc or nc_in_main
    order = [p.name for p in SPECS if p.name not in NC_ROWS]
    if nc:
        order += list(NC_ROWS)
    if extra:
        order += [f"{prefix}:{k}" for prefix, _, names in EXTRA_RUNS for k in names]
    abi_names = []
    for cells in columns.values():
        abi_names += [k for k in cells if k.startswith(("abi:", "wm:"))
                      and k not in abi_names]
    rows = []
    for name in order + abi_names:
        cells = {v: columns[v].get(name, {"status": missing[v]}) for v in variants}
        rows.append({"name": name, "status": {v: c["status"] for v, c in cells.items()},
                     "cells": cells})
    cells = {v: columns[v].get("deadlock", {"status": missing[v]}) for v in variants}
    rows.append({"name": "deadlock", "status": {v: c["status"] for v, c in cells.items()},
                 "cells": cells})
    return {"variants": list(variants), "config": config,
            "nc_config": nc_config(config) if nc and not nc_in_main else None,
            "extra_configs": {prefix: {**config, **over}
                              for prefix, over, _ in EXTRA_RUNS} if extra else {},
            "rules": rules, "rows": rows, "traces": traces, "stats": stats}


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
        + "".join(f" (+{s[p]['states']} {p})" for p, _, _ in EXTRA_RUNS if s.get(p))
        for v, s in mx["stats"].items())
    lines += textwrap.wrap(st, width)
    cfg = ", ".join(f"{k}={v}" for k, v in mx["config"].items())
    lines += textwrap.wrap(f"config: {cfg}", width)
    if mx["nc_config"]:
        cfg = ", ".join(f"{k}={mx['nc_config'][k]}" for k in NC_CONFIG)
        lines += textwrap.wrap(f"non-consuming rows: the same with {cfg}", width)
    for prefix, over, _ in EXTRA_RUNS:
        if prefix in mx.get("extra_configs", {}):
            cfg = ", ".join(f"{k}={v}" for k, v in over.items())
            lines += textwrap.wrap(f"{prefix}: rows: the same with {cfg}", width)
    lines.append("VIOL n: violated, shortest counterexample n steps; abi: rows are "
                 "proofs")
    lines.append("for all sizes (rbmap abi); n/a: not meaningful for the variant.")
    if any(r["name"].startswith("wm:") for r in mx["rows"]):
        lines.append("wm: rows are litmus programs under the Linux kernel memory model "
                     "(LKMM),")
        lines.append("specs/litmus/ (rbmap litmus FILE shows the witness).")
    return "\n".join(lines)


def render_markdown(mx: dict, trace_dir: str | None,
                    report_dir: str | None = None) -> str:
    """The matrix as a Markdown table; with ``trace_dir`` (or ``report_dir``) each
    violated cell links to its saved trace (and to its HTML report)."""
    vs = mx["variants"]
    out = ["| property | " + " | ".join(vs) + " |",
           "|---|" + "---|" * len(vs)]
    for row in mx["rows"]:
        cells = []
        for v in vs:
            c = row["cells"][v]
            text = _cell_text(c).replace("VIOL ", "VIOLATED (") + (
                " steps)" if c["status"] == "violated" and "steps" in c else "")
            if "trace" in c and (trace_dir or report_dir):
                base = mx["traces"][c["trace"]]["file"]
                text = f"[{text}]({trace_dir or report_dir}/{base}.json)"
                if report_dir:
                    text += f" ([report]({report_dir}/{base}.html))"
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
        cfg = ", ".join(f"{k}={mx['nc_config'][k]}" for k in NC_CONFIG)
        out.append(f"Non-consuming reader rows: the same with {cfg}.")
    for prefix, over, _ in EXTRA_RUNS:
        if prefix in mx.get("extra_configs", {}):
            cfg = ", ".join(f"{k}={v}" for k, v in over.items())
            out.append(f"`{prefix}:` rows: the same with {cfg}.")
    return "\n".join(out)


@click.command("compare")
@click.argument("variants", nargs=-1)
@workload_options(defaults=COMPARE_DEFAULT)
@bound_options
@click.option("--abi/--no-abi", default=True, show_default=True,
              help="Add the ABI and arithmetic proof rows (rbmap abi).")
@click.option("--weak-memory/--no-weak-memory", "weak_memory", default=True,
              show_default=True,
              help="Add the weak-memory rows (wm:): the protocol's publish/consume "
                   "pairs as litmus programs under the Linux kernel memory model "
                   "(specs/litmus/, rbmap litmus).")
@click.option("--nc/--no-nc", "nc", default=True, show_default=True,
              help="Add the non-consuming reader rows (a second, small run of the "
                   "variants with data_pages[]).")
@click.option("--extra/--no-extra", "extra", default=True, show_default=True,
              help="Add the text: rows (a small run with one trace_pipe read) and "
                   "the refusals: rows (one trying every refused call, with fork).")
@click.option("--expect", type=click.Path(dir_okay=False), default=None,
              metavar="FILE",
              help="A matrix saved with --json: exit 0 when every cell is as in FILE, "
                   "1 when one differs (listed).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--markdown", is_flag=True, help="A Markdown table.")
@click.option("--trace-dir", type=click.Path(file_okay=False), default=None,
              help="Write each counterexample to DIR/VARIANT.PROPERTY.json "
                   "(self-contained: rbmap replay / rbmap report FILE).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              default=None, metavar="DIR",
              help="Write each counterexample to DIR as VARIANT.PROPERTY.json (its "
                   "trace), .txt (for a mail), .svg (a sequence diagram) and .html; "
                   "--markdown links each violated cell to them.")
def compare(variants, abi, weak_memory, nc, extra, expect, as_json, markdown,
            trace_dir, report_dir, **kw):
    """Check VARIANTS side by side: properties and ABI checks as rows.

    VARIANTS are shipped names or paths to variant files (default: every shipped
    variant). Each column is one exhaustive exploration at the config the options
    give (the same options as rbmap check; smaller defaults).

    \b
    Exit status: 0 every property holds, every goal is reached and every ABI
    check holds, all explorations complete; 1 a property or ABI check is violated
    (or a goal unreached): the seed's known bugs make this the usual result, so
    give --expect FILE (a matrix saved with --json) to exit 0 when the matrix is
    what FILE says and 1 when a cell differs; 2 bad input; 3 a bound
    (--max-states, --max-depth, --time-limit) left a cell unknown."""
    rules = parse_rules(kw.pop("rules"))
    config = workload_config(kw)
    bound = bounds(kw)
    variants = list(variants) or shipped_names()
    for v in variants:  # fail early on a bad name, file or config
        model_from(v, rules, config)
    expected = _load_expect(expect) if expect else None
    if trace_dir:
        check_writable(trace_dir, "--trace-dir", directory=True)
    if report_dir:
        check_writable(report_dir, "--report", directory=True)
    progress = bound["progress"]
    say = ((lambda msg: click.echo(msg, err=True))
           if progress or (progress is None and sys.stderr.isatty()) else None)
    with stop_on_sigint():
        mx = build_matrix(variants, config, rules, abi, nc, progress=say, bound=bound,
                          weak_memory=weak_memory, extra=extra)
        stopped = interrupt_requested()
    written = _write_traces(mx, trace_dir, report_dir)
    for t in mx["traces"].values():
        t.pop("model", None)    # the built model: not part of the output
    diffs = expect_differences(mx, expected) if expected is not None else None
    if diffs is not None:
        mx["expect"] = {"file": expect, "differences": diffs}
    if as_json:
        click.echo(json.dumps(mx))
    elif markdown:
        click.echo(render_markdown(mx, trace_dir, report_dir))
    else:
        click.echo(render_text(mx))
        if mx["traces"]:
            where = trace_dir or report_dir
            click.echo("\ncounterexamples (" + ("in " + where if where else
                       "add --trace-dir DIR or --report DIR to save them") + "):")
            for key, t in mx["traces"].items():
                steps = len(t["path"]["actions"])
                if where:
                    line = (f"  {key} ({steps} steps): rbmap replay "
                            f"{where}/{t['file']}.json")
                    if len(line) > 80:
                        line = (f"  {key} ({steps} steps):\n    rbmap replay "
                                f"{where}/{t['file']}.json")
                    click.echo(line)
                else:
                    click.echo(f"  {key} ({steps} steps)")
            if report_dir:
                click.echo(f"  (each also as .txt, .svg and .html in {report_dir})")
    if diffs is not None and not as_json:
        click.echo("")
        click.echo(_expect_text(expect, diffs))
    if stopped:
        done = sum(s["main"]["complete"] for s in mx["stats"].values())
        interrupted(f"{done} of {len(variants)} columns explored completely; the "
                    "matrix is incomplete")
    sys.exit(matrix_exit_code(mx, diffs) if written else 2)


def _write_traces(mx: dict, trace_dir: str | None, report_dir: str | None) -> bool:
    """Each violated cell's trace into ``trace_dir`` and its trace and reports
    into ``report_dir``; False (said on stderr) when a file could not be written."""
    from rbmap.cli.report import write_reports
    from rbmap.evidence import traces_text
    for key, t in mx["traces"].items():
        m = t["model"]
        path = Path.from_json(t["path"])
        desc = path.model
        path.model = {}
        try:
            if trace_dir:
                d = FsPath(trace_dir)
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{t['file']}.json").write_text(traces_text(m, [path], desc))
            if report_dir:
                write_reports(report_dir, t["file"], m, path, desc)
        except OSError as exc:
            opt = "--report" if report_dir and not trace_dir else "--trace-dir"
            click.echo(f"rbmap: {opt}: cannot write: {exc.strerror or exc}",
                       err=True)
            return False
    return True


def _cells(mx: dict):
    for row in mx["rows"]:
        for v in mx["variants"]:
            yield row["name"], v, row["status"][v]


def matrix_exit_code(mx: dict, diffs: list | None = None) -> int:
    """0 all hold / as expected, 1 a violation / a difference, 3 incomplete."""
    unknown = any(st == "unknown" for _, _, st in _cells(mx)) or any(
        not run["complete"] for s in mx["stats"].values() for run in s.values()
        if run is not None)
    if diffs is not None:
        if any(d["got"] != "unknown" for d in diffs):
            return 1
        return 3 if unknown else 0
    if any(st in ("violated", "unreached") for _, _, st in _cells(mx)):
        return 1
    return 3 if unknown else 0


def _load_expect(file: str) -> dict:
    """{(row, variant): status} of a matrix saved with ``compare --json``."""
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        fail(f"--expect {file}: {exc.strerror}")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"--expect {file}: not JSON: {exc}")
    try:
        return {(row["name"], v): st for row in data["rows"]
                for v, st in row["status"].items()}
    except (TypeError, KeyError, AttributeError):
        fail(f"--expect {file}: not a matrix saved with rbmap compare --json "
             "(rows of name and status)")


def expect_differences(mx: dict, expected: dict) -> list[dict]:
    """The cells whose status is not the expected one (a cell FILE does not have
    is a difference too)."""
    out = []
    for name, v, st in _cells(mx):
        want = expected.get((name, v), "absent")
        if st != want:
            out.append({"property": name, "variant": v, "expected": want, "got": st})
    return out


def _expect_text(file: str, diffs: list[dict]) -> str:
    if not diffs:
        return f"every cell as expected ({file})"
    lines = [f"{len(diffs)} cell(s) differ from {file}:"]
    for d in diffs:
        lines += textwrap.wrap(f"{d['property']} {d['variant']}: expected "
                               f"{d['expected']}, got {d['got']}", 78,
                               initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)
