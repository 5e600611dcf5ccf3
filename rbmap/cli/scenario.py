"""``rbmap scenario FILE --on BACKEND[,BACKEND...]``: run a scenario file, compare back ends.

Back ends plug in by name through :data:`BACKENDS`, a dict mapping a name to a
function ``run(path_or_text, **opts) -> list[dict]`` returning one JSON object per
operation (specs/scenarios/FORMAT.md).  ``impl`` is registered here.  Another module
registers its own at import time::

    from rbmap.cli.scenario import BACKENDS
    BACKENDS["kernel"] = run_on_kernel

The module must be imported before the lookup: for a name not registered yet
``rbmap.cli.<name>`` is imported (the CLI loads a command's module only when it
runs).  A back end that cannot run raises
:class:`BackendError` (reported as bad input, exit 2); one that cannot observe some
fields lists them in an attribute ``unobserved`` of its run function (a set of
top-level keys such as ``{"page"}``, or ``"kmsg"`` for the warnings object), and the
diff skips them.

A back end may be given options inline: ``--on impl:abi=v2,impl:layout=6.10``.
``--abi`` and ``--layout`` set the same options for every back end that takes them.

With several back ends, each one's output is normalised (:func:`normalise`) and
compared with the first's step by step; the exit status is 0 when they agree on
everything both observe, 1 on a difference.
"""

from __future__ import annotations

import errno as _errno
import importlib
import json
import re
from typing import Callable

import click

from rbmap.impl import scenario as _scn

__all__ = ["BACKENDS", "BackendError", "register_backend", "normalise", "diff_results",
           "scenario", "run_backend", "parse_backend_spec"]


class BackendError(Exception):
    """A back end cannot run (not set up, bad option); the message says why."""


def _run_impl(path_or_text, abi: str = "upstream", layout: str = "6.12", **opts):
    if opts:
        raise BackendError(f"impl: unknown option(s) {', '.join(sorted(opts))}")
    if abi not in ("upstream", "v2"):
        raise BackendError(f"impl: --abi must be v2 or upstream, not '{abi}'")
    if layout not in ("6.12", "6.10"):
        raise BackendError(f"impl: --layout must be 6.12 or 6.10, not '{layout}'")
    return _scn.run_scenarios(path_or_text, abi=abi, layout=layout)


def _run_model(path_or_text, **opts):
    """The model (rbmap.scenario_model): what its abstraction covers, or exit 2
    naming the operations it cannot run."""
    from rbmap.scenario_model import ModelUnsupported, run_on_model
    try:
        return run_on_model(path_or_text, **opts)
    except ModelUnsupported as exc:
        raise BackendError(str(exc)) from None


BACKENDS: dict[str, Callable[..., list[dict]]] = {"impl": _run_impl,
                                                  "model": _run_model}


def register_backend(name: str, run: Callable[..., list[dict]]) -> None:
    """Register a back end under ``name`` (same as ``BACKENDS[name] = run``)."""
    BACKENDS[name] = run


def _lookup(name: str) -> Callable[..., list[dict]]:
    if name not in BACKENDS:
        try:
            importlib.import_module(f"rbmap.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rbmap.cli.{name}":
                raise
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown back end '{name}' (known: "
                           f"{', '.join(sorted(BACKENDS))})") from None


def parse_backend_spec(spec: str) -> tuple[str, dict]:
    """``"impl:abi=v2:layout=6.10"`` -> ``("impl", {"abi": "v2", "layout": "6.10"})``."""
    name, *parts = spec.split(":")
    if not name:
        raise BackendError(f"empty back-end name in '{spec}'")
    opts = {}
    for p in parts:
        key, eq, value = p.partition("=")
        if not eq or not key or not value:
            raise BackendError(f"back-end option '{p}' in '{spec}' is not KEY=VALUE")
        opts[key] = value
    return name, opts


def run_backend(spec: str, path_or_text, **defaults) -> list[dict]:
    """Run a scenario file on the back end named by ``spec`` (name[:k=v...])."""
    name, opts = parse_backend_spec(spec)
    fn = _lookup(name)
    merged = {k: v for k, v in defaults.items() if v is not None}
    merged.update(opts)
    return fn(path_or_text, **merged)


# --------------------------------------------------------------------------
# normalisation and diff
# --------------------------------------------------------------------------

_TIME_EVENTS = ("time_extend", "time_stamp")


def _normalise_page(page: dict) -> dict:
    """Drop time-extend / absolute-stamp events; shift what follows; shrink commit."""
    events = page.get("events")
    if not isinstance(events, list):
        return page
    shift = 0
    kept = []
    for ev in events:
        if ev.get("type") in _TIME_EVENTS:
            shift += ev.get("length", 8)
            continue
        if shift:
            ev = dict(ev, offset=ev["offset"] - shift)
        kept.append(ev)
    out = dict(page, events=kept)
    if shift and isinstance(page.get("commit"), int):
        out["commit"] = page["commit"] - shift
    return out


# operations after which a sub-buffer ID may name another page (renumbering at a
# first map) or a page's bytes may be rewritten from the start (reset)
_EPOCH_OPS = ("scenario", "map", "unmap", "reset")


def _reader_runs(objs: list[dict]) -> list[list[int]]:
    """Index runs over which one reader page stays the reader page.

    A run holds the steps whose ``meta.reader.id`` is the same, consecutively, with
    no map / unmap / reset in between, and the ``page`` observations of that ID
    among them.  While a page is the reader page its bytes only grow (the writer
    appends), so every observation in a run shows the same prefix.
    """
    runs: list[list[int]] = []
    run: list[int] = []
    current = None
    for i, o in enumerate(objs):
        if o.get("op") in _EPOCH_OPS or (i and o.get("scenario") != objs[i - 1].get("scenario")):
            if run:
                runs.append(run)
            run, current = [], None
        meta = o.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("reader"), dict):
            rid = meta["reader"].get("id")
            if rid != current:
                if run:
                    runs.append(run)
                run, current = [], rid
            run.append(i)
        page = o.get("page")
        if isinstance(page, dict) and current is not None and page.get("id") == current \
                and i not in run:
            run.append(i)
    if run:
        runs.append(run)
    return runs


def _time_events(page: dict) -> list[tuple[int, int]]:
    return [(e["offset"], e.get("length", 8)) for e in page.get("events", [])
            if e.get("type") in _TIME_EVENTS]


def normalise(objs: list[dict]) -> list[dict]:
    """The comparison view of a run (FORMAT.md, "Normalisation for comparisons").

    1. Time-extend and absolute-timestamp events are dropped from every ``page``,
       the offsets of the events after them are shifted down by the dropped bytes
       and ``page.commit`` is reduced by them.
    2. ``meta.reader.read`` is reduced by the bytes of the time events below it
       that a ``page`` observation of the same reader page shows (same
       ``reader.id`` run, see :func:`_reader_runs`); without such an observation it
       is left as printed.
    3. In every ``warn`` entry (a step's, or the end-of-scenario ``kmsg``
       object's), the number after ``timestamp:`` in ``message`` is dropped (the
       commit-overrun notice prints a page time stamp).

    Nothing else changes.
    """
    out = list(objs)
    for run in _reader_runs(objs):
        times: set[tuple[int, int]] = set()
        for i in run:
            if isinstance(objs[i].get("page"), dict):
                times.update(_time_events(objs[i]["page"]))
        if not times:
            continue
        for i in run:
            meta = objs[i].get("meta")
            if not isinstance(meta, dict):
                continue
            rread = meta["reader"].get("read")
            if not isinstance(rread, int):
                continue
            cut = sum(length for off, length in times if off < rread)
            if cut:
                out[i] = dict(objs[i], meta=dict(meta, reader=dict(meta["reader"],
                                                                    read=rread - cut)))
    for i, o in enumerate(out):
        if isinstance(o.get("page"), dict):
            o = dict(o, page=_normalise_page(o["page"]))
        if isinstance(o.get("warn"), list):
            o = dict(o, warn=[_normalise_warn(w) for w in o["warn"]])
        out[i] = o
    return out


_TIMESTAMP = re.compile(r"timestamp:-?\d+")


def _normalise_warn(w):
    if isinstance(w, dict) and isinstance(w.get("message"), str):
        return dict(w, message=_TIMESTAMP.sub("timestamp:", w["message"]))
    return w


def _key(o: dict) -> tuple:
    if o.get("op") == "kmsg":
        return (o.get("scenario"), "kmsg")
    return (o.get("scenario"), o.get("step"))


def _compare(a, b, path: str, out: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k in b:
                _compare(a[k], b[k], f"{path}.{k}" if path else k, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((f"{path}[len]", len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{path}[{i}]", out)
        return
    if a != b:
        out.append((path, a, b))


def diff_results(a: list[dict], b: list[dict], unobserved: set[str] = frozenset()
                 ) -> list[dict]:
    """Per-step comparison of two normalised runs.

    Returns one record per step seen on either side: ``scenario``, ``step``, ``op``
    and ``differences``, a list of ``(path, value_a, value_b)``; an empty list means
    the step agrees.  A step missing on one side is a difference (path ``step``),
    except a ``kmsg`` object when either back end does not observe kmsg.  Keys in
    ``unobserved`` are not compared.
    """
    ia = {_key(o): o for o in a}
    ib = {_key(o): o for o in b}
    order = list(ia)
    order += [k for k in ib if k not in ia]
    records = []
    for k in order:
        oa, ob = ia.get(k), ib.get(k)
        o = oa or ob
        rec = {"scenario": o.get("scenario"), "step": o.get("step"), "op": o.get("op"),
               "args": o.get("args", []), "differences": []}
        if oa is None or ob is None:
            if k[1] == "kmsg" and "kmsg" in unobserved:
                continue
            rec["differences"].append(("step", "present" if oa else "absent",
                                       "present" if ob else "absent"))
        else:
            diffs: list = []
            _compare({x: y for x, y in oa.items() if x not in unobserved},
                     {x: y for x, y in ob.items() if x not in unobserved}, "", diffs)
            rec["differences"] = diffs
        records.append(rec)
    return records


# --------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------


def rc_name(rc) -> str:
    """``-16`` -> ``-EBUSY``; non-negative values as they are."""
    if isinstance(rc, int) and rc < 0:
        name = _errno.errorcode.get(-rc)
        return f"-{name}" if name else str(rc)
    return str(rc)


def _summary(o: dict) -> str:
    parts = []
    m = o.get("meta")
    if isinstance(m, dict):
        if "reader" in m:
            r = m["reader"]
            parts.append(f"reader.id={r['id']} reader.read={r['read']} "
                         f"entries={m['entries']} overrun={m['overrun']} read={m['read']}")
            if r.get("lost_events"):
                parts.append(f"lost_events={r['lost_events']}")
        else:
            dp = m.get("data_pages")
            if isinstance(dp, list) and len(dp) > 8:   # a line, not a page of IDs
                dp = (f"[{', '.join(map(str, dp[:3]))}, ... "
                      f"{', '.join(map(str, dp[-2:]))}] ({len(dp)})")
            parts.append(f"reader_page={m.get('reader_page')} entries={m.get('entries')} "
                         f"overrun={m.get('overrun')} head={m.get('data_page_head')} "
                         f"data_pages={dp}")
    p = o.get("page")
    if isinstance(p, dict):
        ev = p.get("events", [])
        ndata = sum(1 for e in ev if e.get("type") == "data")
        flags = "".join(f for f, on in (("M", p.get("missed_events")),
                                         ("S", p.get("missed_stored"))) if on)
        s = f"page {p.get('id')}: commit={p.get('commit')} data={ndata}/{len(ev)} events"
        if flags:
            s += f" flags={flags} lost={p.get('lost')}"
        if p.get("error"):
            s += f" error={p['error']!r}"
        parts.append(s)
    if "value" in o:
        parts.append(f"value={o['value']}")
    if "child_mapped" in o:
        parts.append(f"child_mapped={o['child_mapped']}")
    pipe = o.get("pipe")
    if isinstance(pipe, dict):
        lines = pipe.get("lines", [])
        s = f"pipe: {len(lines)} lines"
        if pipe.get("partial"):
            s += f" +{pipe['partial']} bytes"
        if pipe.get("lost"):
            s += f" lost={pipe['lost']}"
        parts.append(s)
    for w in o.get("warn") or ():
        if isinstance(w, dict):
            head = " ".join(x for x in (w.get("kind"), w.get("function")) if x)
            parts.append(f"[{head}{': ' + w['message'] if w.get('message') else ''}]")
    t = o.get("tail")
    if isinstance(t, dict):
        parts.append(f"meta bytes {t['from']}..{t['from'] + t['bytes']}: "
                     f"{t['nonzero']} not zero")
    return "  ".join(parts)


def _print_table(objs: list[dict], scenarios: dict) -> None:
    current = None
    for o in objs:
        if o.get("scenario") != current:
            current = o.get("scenario")
            sc = scenarios.get(current)
            click.echo(f"scenario {current}")
            if sc is not None:
                for line in sc.description:   # the first paragraph
                    if not line:
                        break
                    click.echo(f"  # {line}")
        opargs = " ".join([o.get("op", "?")] + list(o.get("args", [])))
        click.echo(f"  {o.get('step', ''):>3} {opargs:<24} {rc_name(o.get('rc')):>8}  "
                   f"{_summary(o)}".rstrip())


def _fmt(v) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


# --------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------


@click.command("scenario")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--on", "on", default="impl", show_default=True,
              help="back end(s), comma-separated: impl, kernel, model; "
                   "options inline as NAME:KEY=VALUE")
@click.option("--abi", type=click.Choice(["upstream", "v2"]), default=None,
              help="impl: mapping ABI (default upstream)")
@click.option("--layout", type=click.Choice(["6.12", "6.10"]), default=None,
              help="impl, upstream ABI: meta area layout (default 6.12)")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
def scenario(file, on, abi, layout, as_json):
    """Run a scenario FILE (specs/scenarios/FORMAT.md) on one or more back ends.

    \b
    rbmap scenario specs/scenarios/read_ioctl_remap.scn --on impl
    rbmap scenario F.scn --on impl --abi v2 --json
    rbmap scenario F.scn --on impl:layout=6.10,impl:layout=6.12   (diff, exit 1 on a difference)
    """
    from rbmap.cli import fail

    try:
        parsed = _scn.load(file)
    except _scn.ScenarioError as exc:
        fail(str(exc))
    specs = [s.strip() for s in on.split(",") if s.strip()]
    if not specs:
        fail("--on names no back end")
    results = []
    for spec in specs:
        try:
            name, _ = parse_backend_spec(spec)
            fn = _lookup(name)
            results.append((spec, name, fn, run_backend(spec, file, abi=abi, layout=layout)))
        except BackendError as exc:
            fail(str(exc))
        except _scn.ScenarioError as exc:
            fail(str(exc))
    by_name = {sc.name: sc for sc in parsed}
    if len(results) == 1:
        objs = results[0][3]
        if as_json:
            for o in objs:
                click.echo(json.dumps(o))
        else:
            _print_table(objs, by_name)
        return
    status = _print_diffs(results, by_name, as_json)
    raise SystemExit(status)


def _print_diffs(results, by_name: dict, as_json: bool) -> int:
    spec0, name0, fn0, objs0 = results[0]
    base = normalise(objs0)
    status = 0
    for spec, name, fn, objs in results[1:]:
        unobserved = set(getattr(fn0, "unobserved", ())) | set(getattr(fn, "unobserved", ()))
        records = diff_results(base, normalise(objs), unobserved)
        bad = 0
        explained = 0
        for rec in records:
            bugs = []
            if rec["differences"] and "kernel" in (name0, name):
                sc = by_name.get(rec["scenario"])
                step = None if rec["op"] == "kmsg" else rec["step"]
                bugs = [t for s, t in (sc.kernel_bugs if sc else []) if s == step]
            rec["explained_by"] = bugs
            if rec["differences"]:
                if bugs:
                    explained += 1
                else:
                    bad += 1
            if as_json:
                click.echo(json.dumps({
                    "a": spec0, "b": spec, "scenario": rec["scenario"], "step": rec["step"],
                    "op": rec["op"], "agree": not rec["differences"],
                    "differences": [{"path": p, "a": x, "b": y}
                                    for p, x, y in rec["differences"]],
                    "explained_by": bugs}))
                continue
            opargs = " ".join([rec["op"] or "?"] + list(rec["args"]))
            mark = "=" if not rec["differences"] else ("~" if bugs else "!")
            click.echo(f"{mark} {rec['scenario']} {rec['step']!s:>3} {opargs}")
            for p, x, y in rec["differences"]:
                click.echo(f"      {p}: {spec0}={_fmt(x)}  {spec}={_fmt(y)}")
            for t in bugs:
                click.echo(f"      explained by kernel-bug: {t}")
        if not as_json:
            click.echo(f"{spec0} vs {spec}: {len(records)} steps, {bad} differing"
                       + (f", {explained} explained by kernel-bug notes" if explained else ""))
        if bad:
            status = 1
    return status
