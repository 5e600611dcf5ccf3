"""``rbmap conform`` and ``rbmap mutants``: hold the model and impl to each other."""

from __future__ import annotations

import json
import sys
import textwrap

import click

from rbmap.checker.interrupt import stop_on_sigint
from rbmap.cli import check_writable, fail, interrupted
from rbmap.cli.options import progress_option, workload_config, workload_options

VARIANTS = ("upstream", "v2")
#: the config conformance runs at (the sizes impl and the model share); the
#: coarse granularity is expected to mismatch (schedules it cannot express)
CONFORM_DEFAULTS = dict(pages=2, page_events=2, events=4, processes=1, nesting=2,
                        granularity="fine")


def _config(cfg: dict) -> dict:
    from rbmap.model import Config, SpecError
    try:
        Config(**cfg)
    except SpecError as exc:
        fail(str(exc))
    return cfg


def _load_json(file):
    """The JSON document in ``file``; exits 2 when it cannot be read or is not
    JSON."""
    try:
        with open(file, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{file}: not JSON: {exc}")


def _load_paths(file):
    """Paths of an rbmap-path/1 file or an rbmap-traces/1 file (rbmap check
    --trace-out); exits 2 on bad input."""
    from rbmap.checker import Path, PathFormatError
    data = _load_json(file)
    items = data.get("paths") if isinstance(data, dict) and "paths" in data else [data]
    if not isinstance(items, list) or not items:
        fail(f"{file}: no path to replay ('paths' must be a non-empty list)")
    out = []
    for item in items:
        try:
            out.append((item.get("property") or file, Path.from_json(item)))
        except (PathFormatError, AttributeError) as exc:
            fail(f"{file}: {exc}")
    return out


@click.command("conform")
@click.argument("variant", default="upstream")
@click.option("--depth", type=int, default=12, show_default=True,
              help="Replay every model path of the BFS tree up to this depth "
                   "(0: the whole tree).")
@click.option("--preemptions", type=int, default=1, show_default=True,
              help="Preemption bound of the interleaving DFS (-1: unbounded).")
@click.option("--schedules", type=int, default=2000, show_default=True,
              help="At most this many impl schedules.")
@workload_options(defaults=CONFORM_DEFAULTS, only=tuple(CONFORM_DEFAULTS), rules=False)
@click.option("--replay", "replay_file", type=click.Path(dir_okay=False),
              help="Replay saved model paths (rbmap-path/1 or rbmap check "
                   "--trace-out) on impl, then stop.")
@click.option("--schedule", "schedule_file", type=click.Path(dir_okay=False),
              help="Re-run a saved impl schedule (written on an interleaving "
                   "mismatch) with the refinement check, then stop.")
@click.option("--trace-out", type=click.Path(dir_okay=False),
              default="rbmap-conform-mismatch.json", show_default=True,
              help="Where the first mismatching model path is saved.")
@click.option("--ring/--no-ring", default=True, show_default=True,
              help="Also the ring config (2 pages of 1 event, 3 events, no "
                   "interrupts): every model path, and the interleavings of a "
                   "process that maps then calls GET_READER 3 times, while the "
                   "writer overruns the head and a page comes back as the "
                   "reader page.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@progress_option
@click.pass_context
def conform(ctx, variant, depth, preemptions, schedules, replay_file, schedule_file,
            trace_out, ring, as_json, progress, **kw):
    """Check that impl refines the model for VARIANT (upstream or v2).

    Replays the model's counterexamples and every path of its BFS tree up to
    --depth on impl, comparing the abstracted impl state and the observations
    after every step; then explores impl's interleavings (writer, nested writer,
    a user process mapping, reading, calling GET_READER, unmapping) and checks
    that they linearize to model paths; upstream: the same with impl/userlib.py
    as the process (its promises checked at every return). At --granularity
    coarse expect a mismatch: impl has schedules the coarse model cannot express.

    \b
    Exit status: 0 conforms, 1 a mismatch (reported), 2 bad input or a
    mismatch file that cannot be written, 3 the --schedules bound stopped the
    interleavings first (no mismatch in what ran), 130 interrupted (what was
    checked so far is printed).
    """
    from rbmap.conform import format_mismatch, replay_path, replay_schedule, run_conform
    from rbmap.refinement import Unsupported
    if schedule_file:
        from rbmap.conform import SCHEDULE_FORMAT, model_for
        from rbmap.impl.sched import HarnessError
        from rbmap.model import SpecError
        doc = _load_json(schedule_file)
        if not isinstance(doc, dict) or doc.get("format") != SCHEDULE_FORMAT:
            fail(f"{schedule_file}: not an {SCHEDULE_FORMAT} file (what rbmap conform "
                 "saves on an interleaving mismatch)")
        for key, kind, what in (("variant", str, "a string"),
                                ("config", dict, "an object"),
                                ("scenario", dict, "an object"),
                                ("schedule", dict, "an object")):
            if not isinstance(doc.get(key, {} if key == "scenario" else None), kind):
                fail(f"{schedule_file}: '{key}' must be {what}")
        try:
            m = model_for(doc["variant"], doc["config"])
        except SpecError as exc:
            fail(f"{schedule_file}: {exc}")
        try:
            steps, mm = replay_schedule(doc)
        except (ValueError, TypeError, HarnessError) as exc:
            fail(f"{schedule_file}: does not replay: {exc}")
        if as_json:
            click.echo(json.dumps({"variant": doc["variant"], "traces_replayed": 0,
                                   "interleavings": 1, "steps_checked": steps,
                                   "seconds": 0.0,
                                   "mismatches": [mm.to_json()] if mm else []}, indent=1))
        else:
            click.echo(f"schedule of {steps} impl steps re-run with the refinement check")
            click.echo(format_mismatch(m, mm) if mm else "verdict: conforms")
        sys.exit(1 if mm else 0)
    if variant not in VARIANTS:
        from rbmap.model import shipped_names
        if variant in shipped_names():
            fail(f"variant {variant!r}: impl implements only {', '.join(VARIANTS)}; "
                 "a v3-read impl would need the v3 meta page and its ioctl in "
                 "impl/mapping.py")
        fail(f"unknown variant {variant!r} (conformance: {', '.join(VARIANTS)})")
    if depth < 0:
        fail(f"--depth must be >= 0 (0: the whole tree), got {depth}")
    if schedules <= 0:
        fail(f"--schedules must be positive, got {schedules}")
    if preemptions < -1:
        fail(f"--preemptions must be >= -1, got {preemptions}")
    cfg = _config(workload_config(kw))
    from click.core import ParameterSource
    if ctx.get_parameter_source("trace_out") != ParameterSource.DEFAULT:
        check_writable(trace_out, "--trace-out", create=False)
    show = progress or (progress is None and sys.stderr.isatty())
    say = (lambda text: click.echo(f"conform: {text}", err=True)) if show else None
    try:
        if replay_file:
            from rbmap.conform import model_for
            from rbmap.model import Config, SpecError
            m = model_for(variant, cfg)
            paths = _load_paths(replay_file)
            mismatches, steps = [], 0
            for name, path in paths:
                # a path saved by rbmap check carries the config it was found at
                saved = (path.model or {}).get("config")
                if saved:
                    try:
                        m = model_for(variant, Config.from_dict(saved).to_dict(),
                                      rules=(path.model or {}).get("rules") or None)
                    except (SpecError, TypeError) as exc:
                        fail(f"{replay_file}: {name}: {exc}")
                try:
                    res = replay_path(m, path.actions,
                                      f"rbmap conform {variant} --replay {replay_file}")
                except Exception as exc:  # the path does not replay on the model
                    fail(f"{replay_file}: {name}: {exc}")
                steps += res.steps
                if res.mismatch:
                    mismatches.append(res.mismatch)
                    break
            out = {"variant": variant, "traces_replayed": len(paths),
                   "interleavings": 0, "steps_checked": steps, "seconds": 0.0,
                   "mismatches": [mm.to_json() for mm in mismatches],
                   "_mismatch_objects": mismatches, "_model": m}
        else:
            with stop_on_sigint():
                out = run_conform(variant, depth or None,
                                  None if preemptions < 0 else preemptions,
                                  schedules, cfg, trace_out, progress=say,
                                  ring=ring)
    except Unsupported as exc:
        fail(str(exc))
    objs = out.pop("_mismatch_objects")
    m = out.pop("_model")
    if as_json:
        click.echo(json.dumps(out, indent=1))
    else:
        click.echo(f"conformance of impl {variant} to model {variant} "
                   f"(config {', '.join(f'{k}={v}' for k, v in cfg.items())})")
        click.echo(f"  model paths replayed on impl  {out['traces_replayed']}")
        if "interleavings" in out and not replay_file:
            comp = "" if out.get("interleavings_complete") else " (bound hit)"
            click.echo(f"  impl interleavings explored   {out['interleavings']}{comp}")
            click.echo(f"  quiescent refinement checks   {out.get('quiescent_checks', 0)}")
            if out.get("library_interleavings"):
                click.echo(f"  reader library interleavings  "
                           f"{out['library_interleavings']} (returns checked "
                           f"{out['library_returns_checked']})")
            viol = out.get("impl_property_violations") or []
            click.echo("  model properties violated by abstracted impl states: "
                       + (", ".join(viol) or "none"))
        rg = out.get("ring")
        if rg:
            click.echo("  ring config (pages=2, page_events=1, events=3, nesting=1):")
            click.echo(f"    model paths replayed        {rg['paths_replayed']} "
                       f"(overrun {rg['paths_overrun']}, page back "
                       f"{rg['paths_reader_back']})")
            comp = "" if rg["interleavings_complete"] else " (bound hit)"
            click.echo(f"    impl interleavings          {rg['interleavings']}{comp} "
                       f"(overrun {rg['interleavings_overrun']}, page back "
                       f"{rg['interleavings_reader_back']})")
        click.echo(f"  steps checked                 {out['steps_checked']}")
        click.echo(f"  seconds                       {out['seconds']}")
        if objs:
            for mm in objs:
                click.echo(format_mismatch(m, mm))
            click.echo("verdict: MISMATCH")
        elif out.get("interrupted"):
            click.echo("verdict: incomplete (interrupted)")
        elif not replay_file and not out.get("interleavings_complete"):
            click.echo("verdict: incomplete (the --schedules bound stopped the "
                       "interleavings; no mismatch in what ran)")
        else:
            click.echo("verdict: conforms")
    for problem in out.get("write_errors", []):
        click.echo(f"rbmap: --trace-out {problem} (cannot write)", err=True)
    if out.get("interrupted"):
        interrupted(f"{out['traces_replayed']} model paths and "
                    f"{out['interleavings']} interleavings checked")
    if out.get("write_errors"):
        sys.exit(2)
    if objs:
        sys.exit(1)
    sys.exit(0 if replay_file or out.get("interleavings_complete") else 3)


def _mutant_line(row) -> str:
    """A mutant's result: its status and name, then what killed it (or why it
    is equivalent, or survived), each line within 80 columns."""
    by = ", ".join(row["killed_by"][:1]) if row.get("killed_by") else ""
    head = f"  {row['status']:<10} {row['name']}"
    if by:
        head = f"{head:<48} {by}" if len(head) < 48 else f"{head} {by}"
    detail = " ".join(str(row.get("detail", "")).split())
    lines = [head[:80]]
    if detail:
        lines += textwrap.wrap(detail, 80, initial_indent=" " * 13,
                               subsequent_indent=" " * 13, max_lines=2,
                               placeholder=" ...")
    return "\n".join(lines)


def _progress(as_json):
    """Print each mutant's result as it comes (not with --json)."""
    def progress(row):
        if not as_json:
            click.echo(_mutant_line(row))
    return progress


@click.command("mutants")
@click.option("--model", is_flag=True,
              help="Mutants of the model and its properties, judged by the "
                   "default checks (manifest, model tests, conform); without it, "
                   "mutants of impl judged by conformance.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--quick", is_flag=True,
              help="impl: a representative subset: replays up to depth 10 of the "
                   "default config, the catching-up reader, the documented reader "
                   "library "
                   "(faster, weaker).")
@click.option("--impl-tests", is_flag=True,
              help="impl: also run impl's scenario tests on mutants the suite "
                   "misses.")
@click.option("--only", multiple=True, help="Run only the named mutant(s).")
@click.option("--list", "list_only", is_flag=True,
              help="Print the catalogue (name, family, one line each) and stop.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="--model: mutants judged at the same time (one process each).")
@click.option("--all-checks", is_flag=True,
              help="--model: run every check on every mutant (every killer, not "
                   "only the first).")
@click.option("--checks", default="manifest,tests,conform", show_default=True,
              help="--model: which checks, in order.")
def mutants(model, as_json, quick, impl_tests, only, list_only, jobs, all_checks,
            checks):
    """Run a catalogue of semantic mutants against the checks that should catch
    them, and print the kill rate.

    Without --model: small protocol bugs applied to impl, judged by the
    conformance suite. With --model: bugs of the model's steps and of its
    properties (described one line each by --list), judged by `rbmap manifest`'s
    fast entries, the default suite's model tests and `rbmap conform` at its
    default config; a mutant claimed equivalent is shown to be (the same
    reachable graph, or the same property values, computed at small configs).

    \b
    Exit status: 0 every mutant is killed (or shown equivalent, or not exercised
    by the impl suite), 1 a mutant survived, 2 bad input.
    """
    if model:
        _model_mutants(as_json, quick, impl_tests, only, list_only, jobs,
                       all_checks, checks)
        return
    for flag, val in (("--jobs", jobs != 1), ("--all-checks", all_checks),
                      ("--checks", checks != "manifest,tests,conform")):
        if val:
            fail(f"{flag} goes with --model")
    from rbmap.mutants import MUTANTS, run_mutants
    known = {m.name for m in MUTANTS}
    for n in only:
        if n not in known:
            fail(f"--only {n!r}: no such mutant (see rbmap mutants --list)")
    if list_only:
        _list(as_json, [{"name": m.name, "family": m.module.rsplit(".", 1)[1],
                         "doc": m.doc} for m in MUTANTS])
        return

    progress = _progress(as_json)
    if not as_json:
        click.echo(f"{len(only) or len(MUTANTS)} mutants of impl; the suite runs on "
                   "impl first (paths that already mismatch are left out)")
    res = run_mutants(set(only) or None, quick=quick, impl_tests=impl_tests,
                      progress=progress)
    if as_json:
        click.echo(json.dumps(res, indent=1))
    else:
        click.echo(f"killed {res['killed']} of {res['mutants']}; kill rate over "
                   f"exercised mutants {res['kill_rate']}; {res['seconds']} s")
        for k, v in res["baseline_failures"].items():
            click.echo(f"  note: on impl itself, {k} fails: {v[:120]}")
    exercised_alive = [r for r in res["rows"] if r["status"] == "survived"]
    sys.exit(1 if exercised_alive else 0)


def _list(as_json, rows):
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        click.echo(f"{r['name']}  ({r['family']})")
        click.echo(textwrap.fill(r["doc"], 80, initial_indent="    ",
                                 subsequent_indent="    "))


def _model_mutants(as_json, quick, impl_tests, only, list_only, jobs, all_checks,
                   checks):
    from rbmap.model_mutants import CHECKS, MUTANTS, run_model_mutants
    if quick or impl_tests:
        fail("--quick and --impl-tests are for impl's mutants (without --model)")
    if jobs < 1:
        fail(f"--jobs must be >= 1, got {jobs}")
    chosen = tuple(c.strip() for c in checks.split(",") if c.strip())
    bad = [c for c in chosen if c not in CHECKS]
    if bad or not chosen:
        fail(f"--checks {checks!r}: a comma-separated list of {', '.join(CHECKS)}")
    known = {m.name for m in MUTANTS}
    for n in only:
        if n not in known:
            fail(f"--only {n!r}: no such model mutant (see rbmap mutants --model "
                 "--list)")
    picked = [m for m in MUTANTS if not only or m.name in only]
    if list_only:
        _list(as_json, [{"name": m.name, "family": m.family, "doc": m.doc,
                         "targets": m.targets(),
                         "equivalent": m.equivalent or None} for m in picked])
        return

    progress = _progress(as_json)
    if not as_json:
        click.echo(f"{len(picked)} mutants of the model and its properties; checks: "
                   f"{', '.join(chosen)}")
    res = run_model_mutants(set(only) or None, chosen, all_checks, jobs, progress)
    if as_json:
        click.echo(json.dumps(res, indent=1))
    else:
        for name, b in res["baseline"].items():
            state = "ok" if not b["failure"] else "FAILS (left out): " + b["failure"]
            click.echo(f"  baseline {name}: {state} ({b['seconds']} s)"[:80])
        n = res["mutants"] - res["equivalent"] - len(res["stale"])
        rate = "-" if res["kill_rate"] is None else f"{res['kill_rate'] * 100:.1f} %"
        click.echo(f"killed {res['killed']} of {n} non-equivalent mutants "
                   f"({res['equivalent']} equivalent, {len(res['stale'])} stale); "
                   f"kill rate {rate}; {res['seconds']} s")
        if res["first_killer"]:
            click.echo("first killed by: " + ", ".join(
                f"{k} {v}" for k, v in sorted(res["first_killer"].items())))
    sys.exit(1 if res["survived"] else 0)
