"""The manifest: what checking each recorded configuration must give.

``specs/manifest.json`` lists configurations (a variant, rule overrides, a
:class:`~rbmap.model.Config`) with what a complete exploration of each gave, as
TLA+'s Examples repository does: a regression test for the model itself. Per
entry it records

- ``states``, ``transitions`` and ``depth`` (the BFS depth) of the exploration;
- ``graph``: a digest of the reachable graph (:func:`graph_digest`), which does
  not depend on the order the states were explored in but changes with any state
  or edge;
- ``properties``: per property of the catalogue its verdict (``holds``,
  ``violated``, ``reached``, ``unreached``, ``n/a``), the length of its shortest
  counterexample (``steps``: for a violation, or the shortest example of a goal
  reached) and, for an ``eventually`` property, the extent of the terminal graph
  that violates it (``terminal_components``, ``violating_components``,
  ``violating_states``: see :func:`rbmap.checker.graph.violation_extent`);
- ``violated`` and ``unreached``: the names, for a reader skimming the file.

:func:`compare` turns a difference into lines that say what moved ("no_torn_read:
counterexample 17 -> 19 steps", "graph digest changed", "states 43729 -> 45041
(+3.0%)"). Some configs are *expected to fail* (the seed's races); ``slow`` ones
run only with ``rbmap manifest --slow``.

The default tests explore many of the same configurations (teeth, granularity,
seed); :func:`summary` keeps each summary for the rest of the process so one
exploration serves them all.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from rbmap.checker.engine import explore
from rbmap.model import build
from rbmap.model.variants import SPECS_DIR

__all__ = ["MANIFEST", "FORMAT", "RECORDED", "graph_digest", "summarize", "summary",
           "run_entry", "compare", "load_entries", "write_entries", "entry_key",
           "clear_cache"]

MANIFEST = SPECS_DIR / "manifest.json"
FORMAT = "rbmap-manifest/2"
#: the keys of an entry that a run fills in (the rest describe the config)
RECORDED = ("states", "transitions", "depth", "graph", "properties", "violated",
            "unreached")
_MASK = (1 << 64) - 1


def graph_digest(exploration) -> str:
    """A digest of the reachable graph of a complete exploration (16 hex digits).

    Each state contributes BLAKE2b (8 bytes) of its stored key (the state packed by
    the model's ``state_struct``, or its ``repr``) followed by the keys of its
    successors, sorted (a multiset: two actions to one state count twice); the
    digest is the sum of those contributions modulo 2**64. Sorting and summing make
    it independent of the order the search visited states and listed successors;
    any added, removed or changed state or edge changes it (but for a 2**-64
    chance). Without a recorded graph (a model with no ``eventually`` property)
    only the states count.

    A model whose state layout changes (slots added or moved) gets other digests
    for the same behaviour; its entries then differ only in ``graph``.

    The compiled engine's exploration computes the same digest in C
    (``exploration.graph_digest()``)."""
    fast = getattr(exploration, "graph_digest", None)
    if fast is not None:
        got = fast()
        if got is not None:
            return got
    keys = exploration.keys
    if exploration.pack is None:
        keys = [repr(k).encode() for k in keys]
    blake = hashlib.blake2b
    graph = exploration.graph
    total = 0
    if graph is None:
        for k in keys:
            total += int.from_bytes(blake(k, digest_size=8).digest(), "little")
        return f"{total & _MASK:016x}"
    offsets, targets = graph.offsets, graph.targets
    expanded = len(offsets) - 1
    for u, k in enumerate(keys):
        h = blake(k, digest_size=8)
        if u < expanded:
            a, b = offsets[u], offsets[u + 1]
            if b - a == 1:
                h.update(keys[targets[a]])
            elif b > a:
                for t in sorted([keys[v] for v in targets[a:b]]):
                    h.update(t)
        total += int.from_bytes(h.digest(), "little")
    return f"{total & _MASK:016x}"


def summarize(model, result) -> dict:
    """What the manifest records of one check (see the module docstring)."""
    props = {}
    for p in result.properties:
        rec = {"status": p.status}
        if p.path is not None and p.status in ("violated", "reached"):
            rec["steps"] = len(p.path)
        if p.extent is not None:
            rec.update({k: p.extent[k] for k in ("terminal_components",
                                                 "violating_components",
                                                 "violating_states")})
        props[p.name] = rec
    for name in getattr(model, "not_applicable", lambda: [])():
        props[name] = {"status": "n/a"}
    out = {
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.max_depth,
        "graph": graph_digest(result.exploration) if result.complete else None,
        "properties": dict(sorted(props.items())),
        "violated": sorted(n for n, r in props.items() if r["status"] == "violated"),
        "unreached": sorted(n for n, r in props.items() if r["status"] == "unreached"),
        "complete": result.complete,
    }
    return out


_CACHE: dict = {}


def entry_key(variant: str, rules: dict | None, config: dict):
    """The cache key of a configuration: the variant's rules after the overrides
    and the whole Config (defaults filled in)."""
    m = build(variant, rules=rules or None, **config)
    return (m.variant.name, m.variant.source, m.variant.rules, m.config), m


def summary(variant: str, rules: dict | None = None, max_states: int | None = None,
            **config) -> dict:
    """The manifest summary of ``variant`` at ``config`` (one exploration per
    process and configuration; ``seconds`` is that exploration's time).
    ``max_states`` bounds the exploration (an incomplete one is not kept)."""
    key, m = entry_key(variant, rules, config)
    got = _CACHE.get(key)
    if got is None:
        t = time.perf_counter()
        r = explore(m, max_states=max_states)
        got = summarize(m, r)
        got["seconds"] = round(time.perf_counter() - t, 2)
        if r.complete:
            _CACHE[key] = got
    return got


def clear_cache() -> None:
    """Forget the summaries :func:`summary` kept."""
    _CACHE.clear()


def run_entry(entry: dict, max_states: int | None = None) -> dict:
    """Check one manifest entry; return what it gave (a copy: callers may edit).
    ``max_states``: stop there (the result is then incomplete, a difference)."""
    got = summary(entry["variant"], entry.get("rules") or None, max_states,
                  **entry["config"])
    return json.loads(json.dumps(got))


def _steps(rec: dict) -> str:
    st = rec.get("status", "missing")
    if "steps" in rec:
        return f"{st} in {rec['steps']} steps"
    return st


def _percent(a, b) -> str:
    if not a:
        return ""
    return f" ({(b - a) / a * 100:+.1f}%)"


def compare(entry: dict, got: dict) -> list[str]:
    """What differs between a recorded entry and a run, one line per thing that
    moved (empty: the same)."""
    diffs = []
    if not got.get("complete", True):
        diffs.append("exploration incomplete")
    if "properties" not in entry:
        diffs.append("not recorded in this format (rbmap manifest --update)")
        return diffs
    for key in ("states", "transitions"):
        a, b = entry.get(key), got.get(key)
        if a != b:
            diffs.append(f"{key} {a} -> {b}{_percent(a, b) if a and b else ''}")
    if entry.get("depth") != got.get("depth"):
        diffs.append(f"depth {entry.get('depth')} -> {got.get('depth')}")
    if entry.get("graph") != got.get("graph"):
        diffs.append(f"graph digest changed ({entry.get('graph')} -> {got.get('graph')})")
    old, new = entry.get("properties", {}), got.get("properties", {})
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None:
            diffs.append(f"{name}: new, {_steps(b)}")
            continue
        if b is None:
            diffs.append(f"{name}: gone (was {_steps(a)})")
            continue
        if a.get("status") != b.get("status"):
            diffs.append(f"{name}: {_steps(a)} -> {_steps(b)}")
            continue
        if a.get("steps") != b.get("steps"):
            what = "counterexample" if a.get("status") == "violated" else "example"
            diffs.append(f"{name}: {what} {a.get('steps')} -> {b.get('steps')} steps")
        for k, label in (("violating_components", "violating terminal components"),
                         ("terminal_components", "terminal components"),
                         ("violating_states", "violating states")):
            if a.get(k) != b.get(k):
                diffs.append(f"{name}: {label} {a.get(k)} -> {b.get(k)}")
    return diffs


def load_entries(path: Path = MANIFEST) -> list[dict]:
    """The entries of a manifest file (OSError / ValueError on a bad file)."""
    data = json.loads(Path(path).read_text())
    return data["configs"]


def write_entries(entries: list[dict], path: Path = MANIFEST) -> None:
    """Write entries back: the description keys first, then what a run records;
    one line per property (the file is read in diffs)."""
    order = ("name", "variant", "config", "rules", "why", "slow") + RECORDED
    out = []
    tables = {}
    for i, e in enumerate(entries):
        d = {k: e[k] for k in order if k in e}
        d.update({k: v for k, v in e.items() if k not in d and k not in (
            "complete", "seconds")})
        if isinstance(d.get("properties"), dict):
            token = f"@properties{i}@"
            tables[token] = d["properties"]
            d["properties"] = token
        out.append(d)
    text = json.dumps({"format": FORMAT, "configs": out}, indent=1)
    for token, props in tables.items():
        rows = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}"
                          for k, v in props.items())
        text = text.replace(json.dumps(token), "{\n" + rows + "\n   }" if rows
                            else "{}", 1)
    Path(path).write_text(text + "\n")
