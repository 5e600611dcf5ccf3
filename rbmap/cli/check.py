"""``rbmap check``, ``rbmap replay``, ``rbmap list`` and ``rbmap bench``."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path as FsPath

import click

from rbmap.checker import (NondeterminismError, Path, PathFormatError, ReplayError,
                           simulate)
from rbmap.checker.engine import explore
from rbmap.checker import replay as replay_path
from rbmap.checker.report import STATUS_WORDS, result_to_json, step_table
from rbmap.checker.interrupt import requested as interrupt_requested
from rbmap.checker.interrupt import stop_on_sigint
from rbmap.cli import check_writable, fail, interrupted, write_file
from rbmap.cli.ringbench import RING_NAME, ring_options, ring_section
from rbmap.cli.options import (SECONDS, bound_options, bounds, default_events,
                               parse_rules, progress_option, workload_config,
                               workload_options)
from rbmap.model import RULES, Config, SpecError, build, load_variant, shipped_names
from rbmap.model.properties import SPECS

DEFAULT_VARIANT = "upstream"


def model_from(variant: str, rules: dict, config: dict):
    """Build the model or exit 2 with the problem named."""
    try:
        return build(variant, rules=rules or None, **config)
    except SpecError as exc:
        fail(str(exc))


def variant_label(arg: str, declared: str) -> str:
    """How every command names a variant: as the user gave it (a shipped name or
    the path), with the file's ``[variant] name`` when that says something else."""
    if arg in shipped_names() or FsPath(arg).stem == declared:
        return arg
    return f"{arg} ([variant] name {declared})"


def model_info(variant: str, rules: dict, config: dict, m=None) -> dict:
    """What a saved path records of its model: everything needed to rebuild it
    anywhere (:func:`rbmap.evidence.describe`: the variant's text, every rule,
    the whole config, the assumptions, the rbmap version)."""
    from rbmap.evidence import describe
    return describe(variant, rules, m if m is not None else model_from(
        variant, rules, config))


def command_line(info: dict) -> str:
    """The ``rbmap check`` command that rebuilds the model described by ``info``."""
    parts = ["rbmap check", info["variant"]]
    c = info["config"]
    for key, default in Config().to_dict().items():
        val = c.get(key, default)
        if key == "events" and val == default_events(c["pages"], c["page_events"]):
            continue
        if val == default and key != "events":
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(val, bool):
            parts.append(flag if val else "--no-" + key.replace("_", "-"))
        else:
            parts.append(f"{flag} {val}")
    for k, v in sorted(info.get("rule_overrides", info.get("rules", {})).items()):
        parts.append(f"--rule {k}={v}")
    return " ".join(parts)


@click.command("check")
@click.argument("variant", default=DEFAULT_VARIANT)
@workload_options()
@bound_options
@click.option("--simulate", "sim_runs", type=int, default=None, metavar="RUNS",
              help="Instead of exhausting, run RUNS seeded random walks.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of --simulate.")
@click.option("--walk-depth", type=int, default=200, show_default=True,
              help="Steps per --simulate walk.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--trace-out", type=click.Path(dir_okay=False), default=None,
              help="Save every counterexample and example path (replayable JSON, "
                   "self-contained: rbmap replay / rbmap report FILE).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              default=None, metavar="DIR",
              help="Write each counterexample to DIR as PROPERTY.json (its trace), "
                   ".txt (for a mail), .svg (a sequence diagram) and .html.")
@click.option("--stop-on-violation", is_flag=True,
              help="Stop at the first violated property: print its (shortest) "
                   "counterexample and exit 1; the other properties stay unknown.")
def check(variant, sim_runs, seed, walk_depth, as_json, trace_out, report_dir,
          stop_on_violation, **kw):
    """Explore VARIANT and check its properties.

    VARIANT is a shipped design (v2, v2-data-index, v3-read, v3-read-param,
    upstream; default upstream) or a path to a variant .toml file. The exploration
    is exhaustive breadth-first, so each counterexample printed is a shortest one.

    \b
    Exit status: 0 every property holds (and every goal is reached) on a complete
    exploration; 1 a property is violated or a goal is not reached; 2 bad input;
    3 a bound (--max-states, --max-depth, --time-limit) or --simulate ended the
    run before completion with no violation.
    """
    rules = parse_rules(kw.pop("rules"))
    config = workload_config(kw)
    bound = bounds(kw)
    m = model_from(variant, rules, config)
    if sim_runs is not None and sim_runs <= 0:
        fail(f"--simulate must be positive, got {sim_runs}")
    if sim_runs and walk_depth <= 0:
        fail(f"--walk-depth must be positive, got {walk_depth}")
    if trace_out:
        check_writable(trace_out, "--trace-out")
    if report_dir:
        check_writable(report_dir, "--report", directory=True)
    info = model_info(variant, rules, config, m)
    with stop_on_sigint():
        if sim_runs:
            result = simulate(m, seed=seed, runs=sim_runs, depth=walk_depth,
                              time_limit=bound["time_limit"],
                              progress=bound["progress"])
        else:
            result = explore(m, stop_on_violation=stop_on_violation, **bound)
        stopped = interrupt_requested()
    ok = report(m, result, info, as_json, trace_out, report_dir)
    if stopped:
        interrupted(f"explored {result.states} states; the verdict is incomplete"
                    if not result.complete else "after the exploration completed")
    sys.exit(exit_code(result) if ok else 2)


def exit_code(result) -> int:
    if any(p.status == "violated" for p in result.properties):
        return 1
    if not result.complete:
        return 3
    if any(p.status == "unreached" for p in result.properties):
        return 1
    return 0


def save_traces(m, result, info: dict, file: str) -> bool:
    """Write every path of ``result`` to ``file``; False (said on stderr) when it
    cannot be written."""
    from rbmap.evidence import traces_text
    paths = [Path(p.path.init, list(p.path.actions), p.name)
             for p in result.properties if p.path is not None]
    return write_file(file, traces_text(m, paths, info), "--trace-out")


def report(m, result, info: dict, as_json: bool, trace_out: str | None,
           report_dir: str | None = None) -> bool:
    """Print the result, then save the traces and the reports; False when a file
    could not be written (said on stderr; the result is printed anyway)."""
    _print_result(m, result, info, as_json, trace_out, report_dir)
    ok = save_traces(m, result, info, trace_out) if trace_out else True
    if report_dir:
        ok = write_check_reports(m, result, info, report_dir, not as_json) and ok
    return ok


def write_check_reports(m, result, info: dict, report_dir: str, say: bool) -> bool:
    """``--report DIR``: each counterexample as PROPERTY.{json,txt,svg,html}."""
    from rbmap.cli.report import safe_name, write_reports
    done = []
    for p in result.properties:
        if p.status != "violated" or p.path is None:
            continue
        path = Path(p.path.init, list(p.path.actions), p.name)
        try:
            files = write_reports(report_dir, safe_name(p.name), m, path, info)
        except OSError as exc:
            click.echo(f"rbmap: --report {report_dir}: cannot write: "
                       f"{exc.strerror or exc}", err=True)
            return False
        done.append(files)
    if say:
        click.echo("")
        if done:
            click.echo(f"reports in {report_dir} (each: .json trace, .txt, .svg, "
                       ".html):")
            for f in done:
                click.echo(f"  {f['html'][:-5]}")
        else:
            click.echo(f"no counterexample: nothing written to {report_dir}")
    return True


def _print_result(m, result, info: dict, as_json: bool, trace_out: str | None,
                  report_dir: str | None) -> None:
    na = m.not_applicable()
    if as_json:
        out = result_to_json(result, m, info)
        out = {"variant": info["variant"], "config": info["config"],
               "rules": dict(m.variant.rules), **out}
        out["properties"] += [{"name": n, "kind": _kind(n), "status": "n/a", "note": "",
                               "doc": "", "trace": None, "path": None} for n in na]
        click.echo(json.dumps(out))
        return
    click.echo(f"variant {variant_label(info['variant'], m.variant.name)}")
    c = info["config"]
    for line in textwrap.wrap(", ".join(f"{k}={val}" for k, val in c.items()), 72):
        click.echo(("config: " if line.startswith("pages") else "        ") + line)
    for k, val in sorted(info.get("rule_overrides", info["rules"]).items()):
        click.echo(f"rule override: {k}={val}")
    click.echo(result.summary())
    wn = max(len(p.name) for p in result.properties)
    for p in result.properties:
        word = STATUS_WORDS.get(p.status, p.status)
        extra = f"  ({len(p.path)} steps)" if p.status == "violated" and p.path else ""
        click.echo(f"  {word:<11} {p.name:<{wn}}  {p.kind}{extra}")
    for n in na:
        click.echo(f"  {'n/a':<11} {n:<{wn}}  {_kind(n)}")
    cmd = command_line(info)
    for p in result.properties:
        if p.status != "violated" or p.path is None:
            continue
        click.echo("")
        click.echo("\n".join(textwrap.wrap(
            f"{p.name} VIOLATED in {info['variant']} ({len(p.path)} steps)"
            + (f": {p.note}" if p.note else ""), 80, subsequent_indent="    ")))
        from rbmap.evidence import evidence
        from rbmap.report import step_table as ev_table
        ev = evidence(m, p.path, info)
        if any(st.needs for st in ev.steps):
            click.echo("[--option]: a step that exists only because that option "
                       "dropped an assumption")
        click.echo(ev_table(ev))
        if trace_out:
            click.echo(shell_lines(f"replay: rbmap replay {trace_out} --property {p.name}"))
        elif report_dir:
            click.echo(f"replay: rbmap replay {report_dir}/{p.name}.json")
        else:
            click.echo(shell_lines(f"replay: {cmd} --trace-out trace.json && "
                                   f"rbmap replay trace.json --property {p.name}"))


def shell_lines(cmd: str, width: int = 80) -> str:
    """A shell command folded with backslashes before an option (kept with its value)
    or ``&&`` so that each line fits ``width`` where it can."""
    words = cmd.split(" ")
    tokens: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if (w.startswith("-") and i + 1 < len(words)
                and not words[i + 1].startswith("-") and words[i + 1] != "&&"):
            w = f"{w} {words[i + 1]}"
            i += 1
        tokens.append(w)
        i += 1
    lines, cur = [], ""
    for t in tokens:
        joined = f"{cur} {t}" if cur else t
        if len(joined) + 2 > width and cur.strip() and (t.startswith("-") or t == "&&"):
            lines.append(cur + " \\")
            cur = "    " + t
        else:
            cur = joined
    lines.append(cur)
    return "\n".join(lines)


def _kind(name: str) -> str:
    for s in SPECS:
        if s.name == name:
            return s.kind
    return "always"


@click.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--property", "prop", default=None,
              help="Which path of a multi-path file (default: every violated one).")
@click.option("--current", is_flag=True,
              help="Replay on the shipped variant file as it is now, not on the "
                   "trace's own copy of it.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def replay_cmd(file, prop, current, as_json):
    """Re-run a saved trace on the model and re-check the properties along it.

    FILE is what `rbmap check --trace-out` or `rbmap compare --trace-dir` wrote.
    It carries its variant (the file's whole text), every rule, the config and
    the assumptions, so it replays from any directory; a shipped variant that has
    changed since the trace was made is said so (the trace's copy is replayed;
    --current replays on the file as it is now). Prints the config and the
    assumptions, then each path as a step table: a step that exists only because
    an assumption was dropped is marked with the option that dropped it.

    \b
    Exit 0 when every replayed path shows the property it was saved for (a
    counterexample still violates, an example still reaches); 1 when not; 2 when
    the file is malformed or no longer replays.
    """
    from rbmap.evidence import TraceError, read_trace, replay_entry
    try:
        entries, fmt = read_trace(file)
    except TraceError as exc:
        fail(f"{file}: {exc}")
    if prop:
        entries = [e for e in entries if e.path.property == prop]
        if not entries:
            fail(f"{file}: no path for property {prop!r}")
    elif len(entries) > 1:
        entries = [e for e in entries
                   if _kind(e.path.property or "") in ("always", "eventually")]
    known = {s.name for s in SPECS} | {"deadlock"}
    for e in entries:
        if e.path.property not in known:
            fail(f"{file}: the path is for property {e.path.property!r}, which rbmap "
                 "does not have (see rbmap list)")
    ok = True
    outputs = []
    shown_header = False
    for entry in entries:
        try:
            ev = replay_entry(entry, file, current)
        except TraceError as exc:
            fail(f"{file}: {exc}")
        m_desc = entry.desc
        shows = ev.reproduced
        if shows is None:
            fail(f"{file}: property {entry.path.property!r} does not apply to "
                 f"{m_desc.get('variant')}")
        violated_along = ev.violated_along
        ok &= bool(shows)
        outputs.append({"property": entry.path.property, "steps": ev.length,
                        "shows": shows, "violated_along": violated_along,
                        "notes": ev.notes,
                        "needs": {st.index: list(st.needs) for st in ev.steps
                                  if st.needs},
                        "model": {k: v for k, v in m_desc.items()
                                  if k != "variant_text"}})
        if as_json:
            continue
        if not shown_header:
            _replay_header(file, fmt, ev)
            shown_header = True
        click.echo("")
        click.echo(f"{entry.path.property}: "
                   f"{'reproduced' if shows else 'NOT reproduced'}"
                   f" in {ev.length} steps on {m_desc['variant']}")
        from rbmap.report import step_table as ev_table
        if not shows:
            ev.violating = None
        click.echo(ev_table(ev))
        if violated_along:
            click.echo("\n".join(textwrap.wrap(
                "always-properties violated along the path: "
                + ", ".join(violated_along), 80)))
    if as_json:
        click.echo(json.dumps({"file": file, "paths": outputs, "reproduced": ok}))
    sys.exit(0 if ok else 1)


def _replay_header(file: str, fmt: str, ev) -> None:
    """What the trace is: its variant (and whether it changed), config,
    assumptions, and the notes of the replay."""
    from rbmap.report import assumption_lines, config_items, variant_label
    made = ev.desc.get("rbmap")
    if made and ev.desc.get("rbmap_git"):
        made += f", git {ev.desc['rbmap_git']}"
    for line in textwrap.wrap(f"trace {file} ({fmt}" + (
            f", made by rbmap {made}" if made else "") + ")", 80,
            subsequent_indent="    ", break_on_hyphens=False, break_long_words=False):
        click.echo(line)
    for line in textwrap.wrap(f"variant {variant_label(ev.desc)}", 80,
                              subsequent_indent="    ", break_on_hyphens=False,
                              break_long_words=False):
        click.echo(line)
    rules = ev.desc.get("rule_overrides", ev.desc.get("rules")) or {}
    for k, val in sorted(rules.items()):
        click.echo(f"rule override: {k}={val}")
    for line in textwrap.wrap("config: " + ", ".join(config_items(ev)), 80,
                              subsequent_indent="        "):
        click.echo(line)
    held, dropped = assumption_lines(ev)
    for label, items in (("assumptions in force", held), ("assumptions dropped",
                                                           dropped)):
        for line in textwrap.wrap(f"{label}: " + ("; ".join(items) or "none"), 80,
                                  subsequent_indent="    ", break_on_hyphens=False):
            click.echo(line)
    if any(st.needs for st in ev.steps):
        click.echo("[--option]: a step that exists only because that option "
                   "dropped an assumption")
    for n in ev.notes:
        for line in textwrap.wrap(f"note: {n}", 80, subsequent_indent="    ",
                                  break_on_hyphens=False):
            click.echo(line)


replay = replay_cmd


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def list_cmd(as_json):
    """List the shipped variants, the properties, the protocol rules and defaults."""
    variants = []
    for name in shipped_names():
        try:
            v = load_variant(name)
            variants.append({"name": name, "description": " ".join(v.description.split()),
                             "history": v.history, "rules": dict(v.rules)})
        except SpecError as exc:
            variants.append({"name": name, "error": str(exc)})
    props = [{"name": p.name, "kind": p.kind, "doc": " ".join(p.doc.split())}
             for p in SPECS]
    rules = [{"name": r.name, "doc": r.doc, "default": r.default, "values": r.values}
             for r in RULES.values()]
    defaults = Config().to_dict()
    defaults["events"] = default_events(defaults["pages"], defaults["page_events"])
    if as_json:
        click.echo(json.dumps({"variants": variants, "properties": props,
                               "rules": rules, "defaults": defaults}))
        return
    def out(text: str, indent: int) -> None:
        click.echo(textwrap.fill(text, 80, subsequent_indent=" " * indent,
                                 break_on_hyphens=False))

    click.echo("variants (specs/NAME.toml, or give a path to your own file):")
    for v in variants:
        out(f"  {v['name']:<15} {v.get('history', v.get('error', ''))}", 18)
    click.echo("\nproperties:")
    for p in props:
        click.echo(f"  {p['name']:<34} {p['kind']}")
    click.echo("\nprotocol rules ([model] table of a variant file; --rule NAME=VALUE):")
    for r in rules:
        out(f"  {r['name']}: {r['doc']}", 4)
        for val, what in r["values"].items():
            mark = "*" if val == r["default"] else " "
            out(f"    {mark} {val}: {what}", 8)
    click.echo("")
    out("defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()), 4)


@click.command("bench")
@click.argument("variants", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--repeat", type=int, default=1, show_default=True,
              help="Runs per variant (the best is kept).")
@click.option("--time-limit", type=SECONDS, default=20.0, show_default=True,
              help="Seconds per run; a run cut short still measures states/s "
                   "(marked 'partial').")
@click.option("--vs-interpreted", is_flag=True,
              help="Also time each variant on the interpreted engine (within "
                   "--time-limit) and print the compiled engine's speed-up.")
@ring_options
@progress_option
def bench(variants, as_json, repeat, time_limit, vs_interpreted, ring_size, vs_spin,
          threads, progress):
    """Print states/s of the exhaustive explorer on the default configs.

    Default VARIANTS: every shipped variant, and the benchmark ring (``ring``:
    a small producer/consumer model written once for every engine, so that
    rbmap's compiled engine and SPIN can be compared on the same work in the
    same run, ``--vs-spin``). Each variant is explored by the engine `rbmap
    check` uses (compiled for a model written as steps, where a C compiler
    works); ``--threads T`` adds a row with T threads, ``--vs-interpreted`` one
    on the interpreted engine. Times are CPU seconds of this process (steadier
    than wall time on a busy machine; the compiled engine's C build is left
    out). Also prints bytes per state of the visited set. Ctrl-C prints the rows
    measured so far (the current one marked 'interrupted'), exit 130."""
    if repeat <= 0:
        fail(f"--repeat must be positive, got {repeat}")
    with_ring = not variants or RING_NAME in variants
    protocol = [v for v in variants if v != RING_NAME] if variants else shipped_names()
    models = [(name, model_from(name, {}, workload_config(_default_kw())))
              for name in protocol]
    rows = []
    lines = []
    with stop_on_sigint():
        for name, m in models:
            done = _bench_variant(name, m, repeat, time_limit, progress, threads,
                                  vs_interpreted)
            rows += done
            if done[-1]["stopped_by"] == "interrupted":
                break
        if with_ring and not interrupt_requested():
            ring_rows, lines = ring_section(ring_size, vs_spin, threads, repeat,
                                            time_limit)
            rows += ring_rows
        stopped = interrupt_requested()
    if as_json:
        click.echo(json.dumps(rows))
    else:
        if protocol:
            click.echo(f"{'variant':<13} {'engine':<11} {'states':>9} {'cpu s':>6} "
                       f"{'wall s':>6} {'states/s':>9} {'B/state':>7}")
        for r in rows:
            if r["variant"] not in protocol:
                continue
            part = ("" if r["complete"] else " interrupted"
                    if r["stopped_by"] == "interrupted" else " partial")
            click.echo(f"{r['variant']:<13} {r['engine']:<11} {r['states']:>9} "
                       f"{r['seconds']:>6.2f} {r['wall_seconds']:>6.2f} "
                       f"{r['states_per_second']:>9} {r['bytes_per_state']:>7}{part}")
        for name in protocol:
            mine = {r["engine"]: r for r in rows if r["variant"] == name}
            fast, slow = mine.get("compiled"), mine.get("interpreted")
            if fast and slow and slow["states_per_second"]:
                click.echo(f"{name}: compiled {fast['states_per_second'] / slow['states_per_second']:.1f}x "
                           "the interpreted engine's states per CPU second")
        for line in lines[0 if protocol else 1:]:
            click.echo(line)
    if stopped:
        interrupted(f"{len({r['variant'] for r in rows if r['variant'] in protocol})} "
                    f"of {len(models)} variants measured")


def _bench_variant(name: str, m, repeat: int, time_limit: float, progress,
                   threads: int, vs_interpreted: bool) -> list[dict]:
    """The rows of one variant: the engine `rbmap check` uses, then (compiled)
    ``threads`` threads and ``vs_interpreted`` the interpreted engine; the run
    with the least CPU time of each."""
    from rbmap.checker.engine import explore
    runs = [("auto", 1)]
    rows: list[dict] = []
    while runs:
        engine, t = runs.pop(0)
        best = None
        for _ in range(repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            r = explore(m, engine=engine, threads=t, time_limit=time_limit,
                        progress=progress)
            cpu = getattr(r, "explore_cpu", time.process_time() - c0)
            wall = getattr(r, "explore_seconds", time.perf_counter() - w0)
            if best is None or cpu < best[0]:
                best = (max(cpu, 1e-9), wall, r)
            if r.stopped_by == "interrupted":
                break
        rows.append(_bench_row(name, m, *best, t))
        if best[2].stopped_by == "interrupted":
            break
        if engine == "auto" and best[2].engine == "native":
            runs += [("native", threads)] if threads > 1 else []
            runs += [("interpreted", 1)] if vs_interpreted else []
    return rows


def _bench_row(name: str, m, dt: float, wall: float, r, threads: int) -> dict:
    import struct
    if r.engine == "native":
        per_state = round(r.exploration.bytes / max(1, r.states), 1)
        engine = "compiled" if threads == 1 else f"compiled x{threads}"
    else:
        # packed key + its dict slot + the BFS tree entry
        per_state = (sys.getsizeof(b"x" * struct.calcsize(m.state_struct)) + 8 * 3)
        engine = "interpreted"
    return {"variant": name, "engine": engine, "threads": threads,
            "complete": r.complete, "stopped_by": r.stopped_by,
            "states": r.states, "transitions": r.transitions,
            "seconds": round(dt, 3), "wall_seconds": round(wall, 3),
            "build_seconds": round(getattr(r, "build_seconds", 0.0), 2),
            "states_per_second": round(r.states / dt),
            "transitions_per_second": round(r.transitions / dt),
            "bytes_per_state": per_state}


def _default_kw() -> dict:
    d = Config().to_dict()
    d["events"] = None
    d.pop("kernel_ops")
    return d
