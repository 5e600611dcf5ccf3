"""``rbmap explore``: walk the model by hand in a browser."""

from __future__ import annotations

import sys

import click

from rbmap.cli import fail
from rbmap.cli.options import SECONDS, parse_rules, workload_config, workload_options


@click.command("explore")
@click.argument("variant", required=False)
@workload_options()
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False), default=None,
              help="Open a saved trace (rbmap check --trace-out): its own model, at "
                   "its path.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765,
              show_default=True, help="The port on 127.0.0.1 (0: any free one).")
@click.option("--check-time-limit", type=SECONDS, default=300.0, show_default=True,
              help="Seconds the Counterexamples button's full check may take.")
def explore(variant, trace_file, port, check_time_limit, **kw):
    """Walk VARIANT's model by hand in a web browser, step by step.

    Serves a page on http://127.0.0.1:PORT/ (this machine only) showing the
    current state as the page list and the meta page, the enabled actions as
    buttons (each marked with the option that dropped an assumption when only
    that allows it), Back and Forward, each property's verdict along the path,
    the sequence diagram of the path so far, and the state after any step on
    click. Counterexamples runs the full check and jumps to any shortest
    counterexample; Open trace file jumps to a saved trace. The address bar
    holds the path (#path=...): copy it to share, or Download trace for a file
    anyone can replay (rbmap replay) or report (rbmap report).

    VARIANT and the workload options are those of rbmap check (default
    upstream at check's default config); --trace FILE opens the model the
    trace describes instead. Ctrl-C stops the server (exit 130).
    """
    from rbmap.evidence import TraceError
    from rbmap.explore import Explorer, explorer_for_trace, serve
    rules = parse_rules(kw.pop("rules"))
    config = workload_config(kw)
    if trace_file:
        if variant:
            fail("give VARIANT or --trace FILE, not both (a trace names its model)")
        try:
            ex, notes = explorer_for_trace(trace_file, check_time_limit)
        except TraceError as exc:
            fail(f"{trace_file}: {exc}")
        except ValueError as exc:   # its path does not replay here
            fail(f"{trace_file}: does not replay on the current model: {exc}")
        for n in notes:
            click.echo(f"note: {n}")
    else:
        from rbmap.cli.check import command_line, model_from, model_info
        variant = variant or "upstream"
        m = model_from(variant, rules, config)
        info = model_info(variant, rules, config, m)
        cmd = command_line(info).replace("rbmap check", "rbmap explore", 1)
        ex = Explorer(m, info, cmd, [], check_time_limit)
    try:
        serve(ex, port, say=_say)
    except OSError as exc:
        fail(f"--port {port}: cannot listen on 127.0.0.1:{port}: "
             f"{exc.strerror or exc} (--port 0 takes any free port)")


def _say(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()   # the address, at once, also into a pipe
