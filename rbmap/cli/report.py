"""``rbmap report``: a saved counterexample as text for a mail, a sequence diagram
(SVG) or one self-contained HTML page; and the writer behind ``--report DIR``."""

from __future__ import annotations

import re
import sys
from pathlib import Path as FsPath

import click

from rbmap.cli import fail

FORMATS = ("text", "svg", "html")
SUFFIX = {"text": "txt", "svg": "svg", "html": "html"}


def render(ev, fmt: str, trace_name: str | None = None) -> str:
    if fmt == "text":
        from rbmap.report import text_report
        return text_report(ev, trace_name=trace_name)
    if fmt == "svg":
        from rbmap.svg import sequence_svg
        return sequence_svg(ev)
    from rbmap.report_html import html_report
    return html_report(ev, trace_name)


def safe_name(text: str) -> str:
    """A file-name part for a variant argument or a property name."""
    stem = FsPath(text).name
    if stem.endswith(".toml"):
        stem = stem[:-5]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "variant"


def write_reports(directory: str, base: str, model, path, desc: dict) -> dict:
    """Write ``base``.json (the trace, one path), .txt, .svg and .html into
    ``directory``; return {kind: file name}. OSError propagates."""
    from rbmap.evidence import evidence, traces_text
    d = FsPath(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = {"trace": f"{base}.json"}
    (d / files["trace"]).write_text(traces_text(model, [path], desc))
    ev = evidence(model, path, desc, trace_file=files["trace"])
    for fmt in FORMATS:
        files[fmt] = f"{base}.{SUFFIX[fmt]}"
        (d / files[fmt]).write_text(render(ev, fmt))
    return files


def choose(entries: list, prop: str | None, file: str):
    """The one path to report: ``--property``, or the file's only counterexample,
    or its only path."""
    from rbmap.evidence import _property_info
    if prop:
        hits = [e for e in entries if e.path.property == prop]
        if not hits:
            fail(f"{file}: no path for property {prop!r} (the file has: "
                 f"{', '.join(str(e.path.property) for e in entries)})")
        return hits[0]
    if len(entries) == 1:
        return entries[0]
    bad = [e for e in entries if (e.record.get("kind") or _property_info(
        e.path.property or "")[0]) in ("always", "eventually")]
    if len(bad) == 1:
        return bad[0]
    names = ", ".join(str(e.path.property) for e in (bad or entries))
    fail(f"{file}: the file has {len(bad or entries)} "
         f"{'counterexamples' if bad else 'paths'} ({names}): choose one with "
         "--property NAME")


@click.command("report")
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text",
              show_default=True,
              help="text: plain ASCII, 80 columns, for a mailing list; svg: a "
                   "sequence diagram; html: one self-contained page with both and "
                   "the state after every step.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE instead of stdout.")
@click.option("--property", "prop", default=None,
              help="Which path of a file that has several.")
@click.option("--current", is_flag=True,
              help="Replay on the shipped variant file as it is now, not on the "
                   "trace's own copy of it.")
def report(trace, fmt, output, prop, current):
    """Render a saved counterexample (TRACE.json) for a review.

    TRACE is what `rbmap check --trace-out` / `--report`, or `rbmap compare
    --trace-dir` wrote. The path is replayed on the model the trace describes
    (its own copy of the variant); one this rbmap's model no longer replays is
    drawn from the steps the trace recorded, and says so.

    \b
    text  a one-paragraph summary (variant, property, config, the assumptions
          in force and dropped), the step table (a step that exists only
          because an assumption was dropped is marked with the option that
          dropped it), the page list and meta page before and after the
          violating step, and one line to replay it;
    svg   a sequence diagram: a lane per actor, the cpu_buffer, the meta page,
          each page and the history; each step a box on its actor's lane with
          the values it read or wrote; the violating step in red;
    html  both in one file (no network), and the state after every step on
          click.

    Exit status: 0 written; 1 written, but the path no longer shows its
    property on this rbmap's model (or no longer replays: drawn from the
    recorded steps); 2 bad input or a failed write.
    """
    from rbmap.evidence import TraceError, read_trace, replay_entry
    try:
        entries, _ = read_trace(trace)
    except TraceError as exc:
        fail(f"{trace}: {exc}")
    entry = choose(entries, prop, trace)
    try:
        ev = replay_entry(entry, trace, current, allow_recorded=True)
    except TraceError as exc:
        fail(f"{trace}: {exc}")
    text = render(ev, fmt, FsPath(trace).name)
    if output:
        try:
            FsPath(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"-o {output}: cannot write: {exc.strerror or exc}")
    else:
        click.echo(text, nl=False)
    sys.exit(0 if ev.reproduced else 1)
