"""Self-contained traces: what a saved counterexample carries, and how it comes back.

A trace file (``rbmap check --trace-out``, ``rbmap compare --trace-dir``) is the
evidence a reviewer attaches to a reply, so it carries everything needed to
replay it and to read it, on any machine with rbmap, from any directory::

    {"format": "rbmap-traces/2",
     "rbmap": "0.1.0",                    # the version that made it
     "model": {                           # the model, described in full
       "variant": "v2",                   # as it was given (a name or a path)
       "variant_name": "v2",              # its [variant] name
       "shipped": true,                   # one of specs/*.toml
       "variant_sha256": "sha256:...",    # of the text below
       "rules": {...every rule value...},
       "rule_overrides": {...the --rule options...},
       "config": {...every config key...},
       "assumptions": [{key, text, value, in_force, option}, ...],
       "variant_text": "...the variant file, whole..."},
     "paths": [
       {"format": "rbmap-path/1", "property": "no_duplicate_delivery",
        "kind": "always", "doc": "...", "init": 0, "actions": [[...], ...],
        "model": {},                      # empty: the file's model applies
        "initial": {...the first state's view...},
        "steps": [{"actor", "action", "needs": [assumption keys],
                   "changes": [[field, before, after], ...]}, ...]}]}

``rbmap replay`` rebuilds the model from the trace's own copy of the variant (a
shipped variant that has changed since is said so; ``--current`` replays on the
file as it is now). The recorded ``steps`` make the file readable without
replaying it (``rbmap report`` falls back on them, saying so, when this rbmap's
model no longer replays the path).

Older files (``rbmap-traces/1``, and bare ``rbmap-path/1`` objects, which name
the variant and the rule overrides only) still replay when the variant can be
found: a shipped name is replayed on the shipped file as it is now, a path is
looked up from the current directory and next to the trace; otherwise the file
is refused with the reason (:class:`TraceError`, exit 2).

:class:`Evidence` is one path made readable: its steps with the state after
each (the model's ``view``), what each step needs of the dropped assumptions
(``step_assumptions``), the actors (``actors``), the config and assumptions.
The reports (:mod:`rbmap.report`), the sequence diagram (:mod:`rbmap.svg`) and
the explorer read only that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path as FsPath
from typing import Any

from rbmap.checker import NondeterminismError, Path, PathFormatError, ReplayError
from rbmap.checker import replay as replay_path
from rbmap.checker.report import ABSENT, diff_views, jsonable
from rbmap.model import Config, SpecError, build
from rbmap.model.properties import SPECS
from rbmap.model.variants import (SPECS_DIR, load_variant, load_variant_text,
                                  spec_path, variant_digest)

TRACES_FORMAT = "rbmap-traces/2"
OLD_TRACES_FORMAT = "rbmap-traces/1"
PATH_FORMAT = "rbmap-path/1"

__all__ = ["TRACES_FORMAT", "TraceError", "TraceEntry", "Evidence", "Step",
           "rbmap_version", "describe", "traces_text", "path_record", "read_trace",
           "read_trace_data",
           "model_for", "evidence", "evidence_from_record", "dumps"]


class TraceError(ValueError):
    """A trace file that cannot be read or replayed, with the reason (exit 2)."""


def rbmap_version() -> str:
    try:
        return metadata.version("rbmap")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed
        return "unknown"


_SOURCE: list = []


def rbmap_source() -> str | None:
    """The git commit of the rbmap checkout in use (``git describe --always
    --dirty``), when it runs from one: which model exactly made a trace."""
    if not _SOURCE:
        import subprocess
        here = FsPath(__file__).resolve().parent
        try:
            r = subprocess.run(["git", "-C", str(here), "describe", "--always",
                                "--dirty", "--abbrev=12"], capture_output=True,
                               text=True, timeout=5)
            _SOURCE.append(r.stdout.strip() if r.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _SOURCE.append(None)
    return _SOURCE[0]


# ----------------------------------------------------------------- writing
def describe(variant: str, overrides: dict, model) -> dict:
    """The full description of ``model``, built from the variant argument
    ``variant`` with the rule ``overrides``: what a trace records."""
    path = spec_path(variant)
    text = path.read_text()
    shipped = path.resolve().parent == SPECS_DIR
    return {
        "variant": variant,
        "variant_name": load_variant_text(text, str(path)).name,
        "shipped": shipped,
        "variant_sha256": variant_digest(text),
        "rules": dict(model.variant.rules),
        "rule_overrides": dict(overrides),
        "config": model.config.to_dict(),
        "assumptions": model.assumptions(),
        "rbmap": rbmap_version(),
        **({"rbmap_git": rbmap_source()} if rbmap_source() else {}),
        "variant_text": text,
    }


def _property_info(name: str) -> tuple[str, str]:
    for s in SPECS:
        if s.name == name:
            return s.kind, " ".join(s.doc.split("\n\n")[0].replace("``", "").split())
    if name == "deadlock":
        return "always", "Every state has a next step, unless every process has exited."
    return "", ""


def path_record(model, path: Path) -> dict:
    """One path of a trace file: the actions, and the steps as the model reads them
    (initial view, then actor, action, dropped assumptions needed and changes)."""
    ev = evidence(model, path, {})
    kind, doc = _property_info(path.property or "")
    steps = []
    for st in ev.steps[1:]:
        steps.append({"actor": st.actor, "action": st.action, "needs": list(st.needs),
                      "changes": [[k, jsonable(b), jsonable(a)]
                                  for k, b, a in st.changes]})
    return {"format": PATH_FORMAT, "property": path.property, "kind": kind, "doc": doc,
            "init": path.init, "actions": [list(a) for a in path.actions], "model": {},
            "lanes": [list(x) for x in ev.lanes], "history": list(ev.history),
            "initial": jsonable(ev.steps[0].view), "steps": steps}


def traces_text(model, paths: list[Path], desc: dict) -> str:
    """The ``rbmap-traces/2`` file of ``paths`` (each replayed on ``model``)."""
    return dumps({"format": TRACES_FORMAT, "rbmap": desc.get("rbmap", rbmap_version()),
                  "model": desc, "paths": [path_record(model, p) for p in paths]}) + "\n"


def dumps(obj: Any, indent: int = 0, width: int = 100) -> str:
    """JSON text with one item a line, except that arrays and objects whose
    compact form fits ``width`` stay on one line (an action, a change)."""
    flat = json.dumps(obj, ensure_ascii=False)
    if not isinstance(obj, (list, dict)) or len(flat) + indent <= width:
        return flat
    pad = " " * (indent + 1)
    if isinstance(obj, list):
        if not obj:
            return "[]"
        items = [pad + dumps(x, indent + 1, width) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    if not obj:
        return "{}"
    items = [pad + json.dumps(str(k)) + ": " + dumps(v, indent + 1, width)
             for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


# ----------------------------------------------------------------- reading
@dataclass
class TraceEntry:
    """One path of a trace file with the model description that applies to it."""

    path: Path
    desc: dict
    record: dict  # the path's JSON object (recorded steps, kind, doc when present)
    count: int = 1  # paths in the file (more than one: replay needs --property)


def read_trace(file: str) -> tuple[list[TraceEntry], str]:
    """The paths of a trace file and its format; :class:`TraceError` on bad input."""
    try:
        raw = FsPath(file).read_bytes()
    except IsADirectoryError:
        raise TraceError("is a directory, not a trace file") from None
    except OSError as exc:
        raise TraceError(f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TraceError(f"not JSON: {exc}") from None
    return read_trace_data(data)


def read_trace_data(data) -> tuple[list[TraceEntry], str]:
    """:func:`read_trace` on the file's parsed JSON."""
    if not isinstance(data, dict):
        raise TraceError("not an rbmap trace (a JSON object is expected)")
    fmt = data.get("format")
    if fmt in (TRACES_FORMAT, OLD_TRACES_FORMAT):
        items = data.get("paths")
        if not isinstance(items, list):
            raise TraceError("'paths' must be a list of paths")
        top = data.get("model", {})
        if not isinstance(top, dict):
            raise TraceError("'model' must be an object")
    elif fmt == PATH_FORMAT:
        items, top = [data], {}
    else:
        raise TraceError(f"not an rbmap trace: format {fmt!r} (this rbmap reads "
                         f"{TRACES_FORMAT}, {OLD_TRACES_FORMAT} and {PATH_FORMAT})")
    if not items:
        raise TraceError("no path to replay (the file's 'paths' is empty)")
    entries = []
    for i, item in enumerate(items):
        try:
            p = Path.from_json(item)
        except PathFormatError as exc:
            where = f"path {i + 1}: " if len(items) > 1 else ""
            raise TraceError(f"{where}{exc}") from None
        entries.append(TraceEntry(p, p.model or top, item, len(items)))
    return entries, fmt


def _check_desc(desc: dict) -> None:
    if not isinstance(desc.get("variant"), str):
        raise TraceError(f"the trace's model names no variant (got "
                         f"{desc.get('variant')!r})")
    for key in ("rules", "rule_overrides"):
        rules = desc.get(key, {})
        if not isinstance(rules, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in rules.items()):
            raise TraceError(f"the trace's {key} must map rule names to values "
                             "(strings)")
    if not isinstance(desc.get("config"), dict):
        raise TraceError("the trace's model has no config object")
    if "variant_text" in desc and not isinstance(desc["variant_text"], str):
        raise TraceError("the trace's variant_text must be a string")


def _made_by(desc: dict) -> str:
    v = desc.get("rbmap")
    return f" (the trace was made by rbmap {v}, this is {rbmap_version()})" if (
        v and v != rbmap_version()) else ""


def model_for(desc: dict, trace_file: str = "", current: bool = False):
    """The model a trace describes: ``(model, notes)``. ``notes`` say where the
    variant came from when that matters (a shipped variant changed since, an
    old-format trace replayed on a file found on disk). ``current``: replay on
    the shipped file as it is now instead of the trace's copy."""
    _check_desc(desc)
    notes: list[str] = []
    config = dict(desc["config"])
    try:
        if "variant_text" in desc:
            variant, overrides = _variant_of(desc, current, notes)
        else:
            variant, overrides = _old_variant_of(desc, trace_file, notes)
        known = {f for f in Config().to_dict()}
        missing = sorted(known - set(config))
        if missing:
            defaults = Config().to_dict()
            notes.append("config keys the trace does not have take their defaults: "
                         + ", ".join(f"{k}={defaults[k]}" for k in missing))
        Config.from_dict(config)     # unknown keys and bad values, named
        model = build(variant, rules=overrides or None, **config)
    except SpecError as exc:
        raise TraceError(f"{exc}{_made_by(desc)}") from None
    except TypeError as exc:  # a config value of the wrong type
        raise TraceError(f"the trace's config is not valid: {exc}{_made_by(desc)}") \
            from None
    return model, notes


def _variant_of(desc: dict, current: bool, notes: list):
    name = desc["variant"]
    text = desc["variant_text"]
    digest = desc.get("variant_sha256")
    if digest and digest != variant_digest(text):
        raise TraceError("the trace's variant_text does not match its "
                         "variant_sha256 (the file was edited by hand?)")
    shipped_now = None
    if desc.get("shipped"):
        cand = SPECS_DIR / f"{desc.get('variant_name', name)}.toml"
        if cand.is_file():
            shipped_now = cand.read_text()
        if shipped_now is None:
            notes.append(f"the shipped variant {name} is not in this rbmap: "
                         "replayed on the trace's copy of it")
        elif variant_digest(shipped_now) != variant_digest(text):
            if current:
                notes.append(f"the shipped variant {name} has changed since this "
                             "trace was made: replayed, as asked (--current), on the "
                             f"file as it is now ({cand.name})")
            else:
                notes.append(f"the shipped variant {name} has changed since this "
                             f"trace was made ({variant_digest(text)[:19]} then, "
                             f"{variant_digest(shipped_now)[:19]} now): replayed on "
                             "the trace's copy (--current: on the file as it is now)")
    elif current:
        raise TraceError(f"--current: {name} is not a shipped variant (the trace's "
                         "copy is the only one rbmap knows)")
    if current and shipped_now is not None:
        variant = load_variant_text(shipped_now, str(SPECS_DIR / f"{name}.toml"))
        overrides = dict(desc.get("rule_overrides", {}))
    else:
        label = f"{name} (the trace's copy)" if desc.get("shipped") else name
        variant = load_variant_text(text, label)
        # every rule as the trace recorded it (a default that changed since, or
        # an override), applied over the copy's own values
        base = dict(variant.rules)
        overrides = {k: v for k, v in desc.get("rules", {}).items()
                     if base.get(k) != v}
        overrides.update(desc.get("rule_overrides", {}))
    return variant, overrides


def _old_variant_of(desc: dict, trace_file: str, notes: list):
    name = desc["variant"]
    overrides = dict(desc.get("rules", {}))
    looks_like_file = name.endswith(".toml") or "/" in name
    if not looks_like_file:
        try:
            variant = load_variant(name)
        except SpecError as exc:
            raise TraceError(f"an {OLD_TRACES_FORMAT} trace (it does not carry its "
                             f"variant) for {name!r}: {exc}") from None
        notes.append(f"an {OLD_TRACES_FORMAT} trace does not carry its variant: "
                     f"replayed on the shipped {name} as it is now")
        return variant, overrides
    candidates = [FsPath(name)]
    if trace_file and not FsPath(name).is_absolute():
        candidates.append(FsPath(trace_file).resolve().parent / name)
    for cand in candidates:
        if cand.is_file():
            notes.append(f"an {OLD_TRACES_FORMAT} trace does not carry its variant: "
                         f"replayed on the file {cand} as it is now")
            return load_variant(str(cand)), overrides
    raise TraceError(f"this {OLD_TRACES_FORMAT} trace names the variant file "
                     f"{name!r} but does not carry its text, and there is no such "
                     "file here or next to the trace; make the trace again with "
                     "this rbmap (rbmap check ... --trace-out FILE): it carries "
                     "the variant")


# ----------------------------------------------------------------- evidence
@dataclass
class Step:
    """A step of a path (index 0: the initial state, no actor): the state after it
    (``view``), what changed, and the dropped assumptions it needs."""

    index: int
    actor: str | None
    action: str
    needs: tuple = ()
    changes: list = field(default_factory=list)
    view: dict = field(default_factory=dict)


@dataclass
class Evidence:
    """One path made readable (see the module docstring)."""

    desc: dict
    property: str | None
    kind: str
    doc: str
    steps: list
    violating: int | None
    lanes: list            # [(actor, what it is)]
    history: tuple         # view fields that are history variables
    assumptions: list      # [{key, text, value, in_force, option}]
    reproduced: bool | None = None
    notes: list = field(default_factory=list)
    source: str = "replayed"   # or "recorded": read from the file's steps
    trace_file: str | None = None
    choose_property: bool = False  # the file has other paths: replay needs --property
    violated_along: list = field(default_factory=list)  # always-properties, sorted

    @property
    def length(self) -> int:
        return len(self.steps) - 1

    def option_of(self, key: str) -> str:
        for a in self.assumptions:
            if a["key"] == key:
                return a["option"]
        return key

    def replay_line(self, name: str | None = None) -> str:
        f = name or (FsPath(self.trace_file).name if self.trace_file else "TRACE.json")
        line = f"rbmap replay {f}"
        if self.choose_property and self.property:
            line += f" --property {self.property}"
        return line


def _shows(model, prop: str | None, final) -> bool | None:
    if prop == "deadlock":
        return not list(model.successors(final)) and not model.terminal_ok(final)
    for p in model.properties():
        if p.name == prop:
            return (not p(final)) if p.kind in ("always", "eventually") else p(final)
    return None


def evidence(model, path: Path, desc: dict, notes: list | None = None,
             trace_file: str | None = None) -> Evidence:
    """Replay ``path`` on ``model`` and read it (ReplayError when it does not
    replay)."""
    states = replay_path(model, path)
    views = [dict(model.view(s)) for s in states]
    step_needs = getattr(model, "step_assumptions", None)
    steps = [Step(0, None, f"(initial state {path.init})", (), [], views[0])]
    for i, a in enumerate(path.actions, 1):
        needs = tuple(step_needs(states[i - 1], a)) if step_needs else ()
        steps.append(Step(i, str(model.actor(a)), model.format_action(a), needs,
                          diff_views(views[i - 1], views[i]), views[i]))
    kind, doc = _property_info(path.property or "")
    shows = _shows(model, path.property, states[-1])
    props = [p for p in model.properties() if p.kind == "always"]
    along = sorted({p.name for p in props for s in states if not p(s)})
    lanes = list(model.actors()) if hasattr(model, "actors") else []
    seen = {n for n, _ in lanes}
    for st in steps[1:]:
        if st.actor not in seen:
            lanes.append((st.actor, ""))
            seen.add(st.actor)
    return Evidence(desc=desc, property=path.property, kind=kind, doc=doc, steps=steps,
                    violating=len(path.actions) if kind != "sometimes" else None,
                    lanes=lanes, history=tuple(getattr(model, "history_fields", ())),
                    assumptions=(model.assumptions() if hasattr(model, "assumptions")
                                 else []),
                    reproduced=shows, notes=list(notes or []), trace_file=trace_file,
                    violated_along=along)


def evidence_from_record(entry: TraceEntry, why: str,
                         trace_file: str | None = None) -> Evidence:
    """The evidence as the trace recorded it (for a path this rbmap's model no
    longer replays: ``why`` says so)."""
    rec = entry.record
    if not isinstance(rec.get("initial"), dict) or not isinstance(rec.get("steps"), list):
        raise TraceError(f"does not replay on this rbmap's model ({why}) and "
                         "records no steps to read instead")
    view = dict(rec["initial"])
    steps = [Step(0, None, f"(initial state {entry.path.init})", (), [], dict(view))]
    actors: list = []
    for i, st in enumerate(rec["steps"], 1):
        try:
            changes = [(k, b, a) for k, b, a in st["changes"]]
            for k, _, a in changes:
                if a == ABSENT:
                    view.pop(k, None)
                else:
                    view[k] = a
            steps.append(Step(i, st["actor"], st["action"], tuple(st.get("needs", ())),
                              changes, dict(view)))
        except (KeyError, TypeError, ValueError):
            raise TraceError(f"step {i} of the recorded steps is malformed") from None
        if st["actor"] not in actors:
            actors.append(st["actor"])
    desc = entry.desc
    kind = rec.get("kind") or _property_info(entry.path.property or "")[0]
    assumptions = desc.get("assumptions") if isinstance(desc.get("assumptions"),
                                                        list) else []
    return Evidence(desc=desc, property=entry.path.property, kind=kind,
                    doc=rec.get("doc", ""), steps=steps,
                    violating=len(steps) - 1 if kind != "sometimes" else None,
                    lanes=[tuple(x) for x in rec["lanes"]] if isinstance(
                        rec.get("lanes"), list) else [(a, "") for a in _lane_order(actors)],
                    history=tuple(rec.get("history", ())),
                    assumptions=assumptions, reproduced=None,
                    notes=[f"read from the steps the trace recorded: {why}"],
                    source="recorded", trace_file=trace_file)


def _lane_order(actors: list) -> list:
    def key(a):
        a = a or ""
        if a == "writer":
            return (0, 0, a)
        if a.startswith("irq") and a[3:].isdigit():
            return (1, int(a[3:]), a)
        if a in ("kernel", "pipe"):
            return (2, 0, a)
        if a[:1] == "p" and a[1:].isdigit():
            return (3, int(a[1:]), a)
        return (4, 0, a)
    return sorted(actors, key=key)


def replay_entry(entry: TraceEntry, trace_file: str, current: bool = False,
                 allow_recorded: bool = False) -> Evidence:
    """Rebuild the entry's model and replay it; with ``allow_recorded`` a path
    that no longer replays is read from its recorded steps instead."""
    model, notes = model_for(entry.desc, trace_file, current)
    try:
        ev = evidence(model, entry.path, entry.desc, notes, trace_file)
    except (ReplayError, NondeterminismError) as exc:
        if not allow_recorded:
            raise TraceError(f"does not replay on the current model: {exc}"
                             f"{_made_by(entry.desc)}") from None
        ev = evidence_from_record(entry, f"this rbmap's model does not replay it "
                                  f"({exc}){_made_by(entry.desc)}", trace_file)
        ev.notes = notes + ev.notes
    ev.choose_property = entry.count > 1
    return ev
