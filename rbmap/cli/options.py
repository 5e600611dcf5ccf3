"""The options every command that builds and explores a model shares.

One definition, used by ``rbmap check`` and ``rbmap compare`` (and by any command
that explores a model): a new workload option or assumption goes into
:data:`WORKLOAD` (with the :class:`~rbmap.model.Config` key it sets), a new bound
into :func:`bound_options`; every such command then takes it, with the same name,
help and validation.

- :func:`workload_options`: the sizes, the assumptions and ``--rule``; a command
  may give other defaults for the sizes (``compare`` uses a smaller config), or take
  only some of them (``only=``).
- :func:`bound_options`: ``--max-states``, ``--max-depth``, ``--time-limit`` (seconds:
  a positive, finite number), ``--progress`` and ``--threads`` (of the compiled
  engine, :func:`rbmap.checker.engine.explore`).
- :func:`workload_config` / :func:`parse_rules`: turn what click parsed into the
  config dict and the rule overrides :func:`rbmap.model.build` takes.
"""

from __future__ import annotations

import math

import click

from rbmap.model import Config

DEFAULTS = Config()


def _positive_int(ctx, param, value):
    if value is not None and value <= 0:
        raise click.UsageError(f"{param.opts[0]} must be positive, got {value}", ctx)
    return value


class Seconds(click.ParamType):
    """A positive, finite number of seconds (``nan``, ``inf``, 0 and negative
    numbers are refused: none of them is a time limit)."""

    name = "SECONDS"

    def convert(self, value, param, ctx):
        opt = param.opts[0] if param is not None else "seconds"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            try:
                seconds = float(str(value).strip())
            except ValueError:
                raise click.UsageError(f"{opt} must be a number of seconds, got "
                                       f"{value!r}", ctx) from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise click.UsageError(f"{opt} must be positive and finite (seconds), got "
                                   f"{value!r}", ctx)
        return seconds


SECONDS = Seconds()


def default_events(pages: int, page_events: int) -> int:
    """The default ``--events``: enough to overrun the ring once."""
    return (pages + 1) * page_events


# (Config key, option factory(default) -> click decorator), in --help order.
WORKLOAD = [
    ("pages", lambda d: click.option(
        "--pages", type=int, default=d, show_default=True,
        help="nr_pages: ring pages (the reader page is one more).")),
    ("page_events", lambda d: click.option(
        "--page-events", type=int, default=d, show_default=True,
        help="Events a page holds.")),
    ("events", lambda d: click.option(
        "--events", type=int, default=d, show_default=d is not None,
        help="Events the writer attempts in total"
             + (" [default: (pages + 1) * page-events, enough to overrun the ring]."
                if d is None else "."))),
    ("processes", lambda d: click.option(
        "--processes", type=int, default=d, show_default=True,
        help="User-space processes.")),
    ("nesting", lambda d: click.option(
        "--nesting", type=int, default=d, show_default=True,
        help="How deep writers nest (1: no interrupt writes).")),
    ("overwrite", lambda d: click.option(
        "--overwrite/--no-overwrite", default=d, show_default=True,
        help="Overwrite mode (push the head) or producer/consumer (drop).")),
    ("consumers", lambda d: click.option(
        "--consumers", type=click.Choice(["sequential", "concurrent"]), default=d,
        show_default=True,
        help="Assumption: one consumer at a time, or overlapping ones.")),
    ("client", lambda d: click.option(
        "--client", type=click.Choice(["documented", "greedy", "libtracefs"]),
        default=d, show_default=True,
        help="Assumption: the reader reads up to meta reader.read (documented), "
             "up to the live commit (greedy), or as libtracefs 1.8.3's "
             "tracefs_cpu_read_buf does (libtracefs; upstream ABI only).")),
    ("crash", lambda d: click.option(
        "--crash/--no-crash", default=d, show_default=True,
        help="Assumption: processes may exit mid-protocol.")),
    ("reader_stays", lambda d: click.option(
        "--reader-stays/--no-reader-stays", default=d, show_default=True,
        help="Assumption: the last live process never exits.")),
    ("pipe_reads", lambda d: click.option(
        "--pipe-reads", type=int, default=d, show_default=True,
        help="trace_pipe_raw reads to interleave.")),
    ("text_reads", lambda d: click.option(
        "--text-reads", type=int, default=d, show_default=True,
        help="trace_pipe (text) reads to interleave; each may stop on a line that "
             "does not fit, peeked but not consumed.")),
    ("resets", lambda d: click.option(
        "--resets", type=int, default=d, show_default=True,
        help="Resets (echo > trace) to interleave.")),
    ("refusals", lambda d: click.option(
        "--refusals/--no-refusals", default=d, show_default=True,
        help="Try, in every state, the calls a mapping refuses (resize, order "
             "change, snapshot, trigger, GET_READER unmapped, refused mmaps).")),
    ("order_change", lambda d: click.option(
        "--order-change/--no-order-change", default=d, show_default=True,
        help="Let root change the sub-buffer order while nothing maps the buffer "
             "(every page replaced, the counters kept: finding K1).")),
    ("fork", lambda d: click.option(
        "--fork/--no-fork", default=d, show_default=True,
        help="Let processes fork after MADV_DOFORK.")),
    ("nc_readers", lambda d: click.option(
        "--nc-readers", type=int, default=d, show_default=True,
        help="Non-consuming readers (0 or 1; only variants with data_pages[], "
             "others refuse it).")),
    ("padding", lambda d: click.option(
        "--padding/--no-padding", default=d, show_default=True,
        help="The writer pads the rest of a page it leaves (events do not fill "
             "pages exactly).")),
    ("granularity", lambda d: click.option(
        "--granularity", type=click.Choice(["coarse", "fine"]), default=d,
        show_default=True,
        help="fine: the writer's publish, GET_READER's meta refresh and the seed's "
             "mapped loads and unmap wait at impl's steps (what rbmap conform "
             "checks); coarse: each one step.")),
]

RULE_OPTION = click.option(
    "--rule", "rules", multiple=True, metavar="NAME=VALUE",
    help="Override one protocol rule of the variant (repeatable; the catalogue: "
         "rbmap list).")


def workload_options(defaults: dict | None = None, only: tuple | None = None,
                     rules: bool = True):
    """A decorator adding the workload options (sizes, assumptions) and ``--rule``.

    ``defaults`` overrides :class:`Config`'s defaults by key (``events`` None means
    "(pages + 1) * page_events"); ``only`` keeps just those keys."""
    base = DEFAULTS.to_dict()
    base["events"] = None
    base.update(defaults or {})
    opts = [make(base[key]) for key, make in WORKLOAD if only is None or key in only]
    if rules:
        opts.append(RULE_OPTION)

    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


#: ``--progress/--no-progress`` (None: when stderr is a terminal).
progress_option = click.option(
    "--progress/--no-progress", default=None,
    help="Live progress on stderr [default: when stderr is a terminal].")


def bound_options(f):
    """``--max-states``, ``--max-depth``, ``--time-limit``, ``--progress``: bounds of
    each exploration (a bounded run is incomplete: verdict ``unknown``, exit 3);
    ``--threads``: of the compiled search (the result does not depend on it)."""
    opts = [
        click.option("--max-states", type=int, default=None, callback=_positive_int,
                     help="Stop each exploration after this many distinct states "
                          "(verdict: incomplete)."),
        click.option("--max-depth", type=int, default=None, callback=_positive_int,
                     help="Do not explore deeper than this (verdict: incomplete)."),
        click.option("--time-limit", type=SECONDS, default=None,
                     help="Stop each exploration after SECONDS (verdict: "
                          "incomplete)."),
        progress_option,
        click.option("--threads", type=click.IntRange(1, 64), default=1,
                     show_default=True,
                     help="Threads of the compiled engine's search (the same "
                          "result; the interpreted engine has one)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def workload_config(kw: dict) -> dict:
    """Pop the workload options out of ``kw`` into a config dict for
    :func:`rbmap.model.build` (``events`` defaulted from the sizes)."""
    config = {key: kw.pop(key) for key, _ in WORKLOAD if key in kw}
    if "events" in config and config["events"] is None:
        config["events"] = default_events(config["pages"], config["page_events"])
    return config


def bounds(kw: dict) -> dict:
    """Pop the bound options out of ``kw`` (keyword arguments of
    :func:`rbmap.checker.engine.explore`)."""
    return {key: kw.pop(key) for key in ("max_states", "max_depth", "time_limit",
                                         "progress", "threads")}


def parse_rules(pairs) -> dict:
    """``("a=b", ...)`` -> ``{"a": "b"}``; a pair without ``=`` is bad input."""
    rules = {}
    for item in pairs:
        if "=" not in item:
            raise click.UsageError(f"--rule {item!r}: expected NAME=VALUE (see "
                                   "`rbmap list`)")
        k, v = item.split("=", 1)
        rules[k.strip()] = v.strip()
    return rules
