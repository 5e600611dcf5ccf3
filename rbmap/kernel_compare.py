"""Output shape checks and comparisons of scenario outputs with kernel recordings.

The comparison itself is the one of ``rbmap scenario --on A,B``
(:func:`rbmap.cli.scenario.normalise` and :func:`rbmap.cli.scenario.diff_results`;
the normalisation is documented there and in specs/scenarios/FORMAT.md): only
time-extend/absolute-timestamp events are dropped (offsets after them shifted,
``commit`` reduced).  A difference in a step that a ``# kernel-bug:`` line of the
scenario names (the next operation line, or the ``kmsg`` object when no operation
follows) is *explained*; every other difference is *unexplained*.
"""

from __future__ import annotations

from rbmap.impl.scenario import OPS as _SCENARIO_OPS

OPS = tuple(_SCENARIO_OPS)   # the operations of FORMAT.md, one list
OUTPUT_KEYS = {"step", "scenario", "op", "args", "rc"}
OPTIONAL_KEYS = {"meta", "page", "value", "child_mapped", "signal", "pipe", "warn",
                 "tail"}
TAIL_KEYS = {"from", "bytes", "nonzero"}
META_KEYS = {"meta_page_size", "meta_struct_len", "subbuf_size", "nr_subbufs", "reader",
             "flags", "entries", "overrun", "read"}
READER_KEYS = {"lost_events", "id", "read"}
PAGE_KEYS = {"id", "commit", "missed_events", "missed_stored", "lost", "events"}
EVENT_KEYS = {"offset", "type", "length"}
EVENT_TYPES = {"data", "padding", "time_extend", "time_stamp"}
PIPE_KEYS = {"lines", "partial", "lost"}
WARN_KINDS = {"WARNING", "BUG", "info"}


def _warn_errors(warn) -> list[str]:
    if not isinstance(warn, list):
        return ["warn is not a list"]
    for w in warn:
        if not isinstance(w, dict) or w.get("kind") not in WARN_KINDS or \
                not isinstance(w.get("message"), str) or \
                not set(w) <= {"kind", "function", "message", "at"}:
            return [f"bad warn entry {w!r}"]
    return []


class ScenarioSyntaxError(ValueError):
    """A scenario file that does not follow FORMAT.md (message names file and line)."""


def _check_args(op: str, args: list[str], where: str) -> None:
    if op in ("open",):
        bad = [a for a in args if a not in ("nonblock", "rdwr")]
        if bad:
            raise ScenarioSyntaxError(f"{where}: open takes nonblock/rdwr, not {bad[0]!r}")
    elif op == "scenario":
        if not NAME_RE.match(args[0]):
            raise ScenarioSyntaxError(f"{where}: bad scenario name {args[0]!r}")
    elif op in ("trymap", "trymap_cpu1", "trymap_boot"):
        if not (NUM_RE.match(args[0]) and NUM_RE.match(args[1])):
            raise ScenarioSyntaxError(f"{where}: {op} LEN OFFSET need numbers")
        if args[2] not in ("r", "rw", "rx") or args[3] not in ("shared", "private"):
            raise ScenarioSyntaxError(f"{where}: {op} takes r|rw|rx shared|private")
    else:
        for a in args:
            if not NUM_RE.match(a):
                raise ScenarioSyntaxError(f"{where}: {op}: {a!r} is not a number")


def check_syntax(text: str, source: str = "<text>") -> list[str]:
    """Validate a scenario text; return its scenario names in order."""
    names: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{source}:{n}"
        op, args = words[0], words[1:]
        if op not in OPS:
            raise ScenarioSyntaxError(f"{where}: unknown operation {op!r}")
        lo, hi = OPS[op]
        if not lo <= len(args) <= hi:
            raise ScenarioSyntaxError(f"{where}: {op} takes {lo}..{hi} arguments, got {len(args)}")
        _check_args(op, args, where)
        if op == "scenario":
            names.append(args[0])
        elif not names:
            raise ScenarioSyntaxError(f"{where}: {op!r} before the first `scenario` line")
    if not names:
        raise ScenarioSyntaxError(f"{source}: no `scenario` line")
    return names


def kernel_bugs(text: str) -> dict[str, list[str]]:
    """`# kernel-bug: TEXT` lines, per scenario name."""
    out: dict[str, list[str]] = {}
    cur = None
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if words and words[0] == "scenario" and len(words) > 1:
            cur = words[1]
        m = KERNEL_BUG_RE.match(raw)
        if m and cur is not None:
            out.setdefault(cur, []).append(m.group(1))
    return out


def shape_errors(obj: dict) -> list[str]:
    """Keys and types of one output object against FORMAT.md (empty when valid)."""
    errs: list[str] = []
    if obj.get("op") == "kmsg":
        if not obj.get("warn"):
            errs.append("kmsg without a non-empty warn list")
        errs += _warn_errors(obj.get("warn"))
        if obj.keys() != {"scenario", "op", "warn"}:
            errs.append(f"kmsg keys {sorted(obj)}")
        return errs
    if "warn" in obj:
        errs += _warn_errors(obj["warn"])
    if "pipe" in obj:
        p = obj["pipe"]
        if not isinstance(p, dict) or set(p) != PIPE_KEYS or \
                sum(p["lines"]) + p["partial"] != obj.get("rc"):
            errs.append(f"bad pipe {p!r}")
    missing = OUTPUT_KEYS - obj.keys()
    if missing:
        errs.append(f"missing keys {sorted(missing)}")
    extra = obj.keys() - OUTPUT_KEYS - OPTIONAL_KEYS
    if extra:
        errs.append(f"unknown keys {sorted(extra)}")
    if not isinstance(obj.get("step"), int) or obj.get("step", 0) < 1:
        errs.append("step is not a positive int")
    if obj.get("op") not in OPS:
        errs.append(f"unknown op {obj.get('op')!r}")
    if not isinstance(obj.get("args"), list) or not all(isinstance(a, str) for a in obj.get("args", [])):
        errs.append("args is not a list of strings")
    rc = obj.get("rc")
    if not isinstance(rc, int) or (rc > 0 and obj.get("op") not in ("read_raw", "read_pipe")):
        errs.append(f"rc {rc!r} is not 0 or a negative errno")
    if "meta" in obj:
        m = obj["meta"]
        if set(m) != META_KEYS or set(m.get("reader", {})) != READER_KEYS:
            errs.append(f"meta keys {sorted(m)} / reader {sorted(m.get('reader', {}))}")
        elif not all(isinstance(v, int) for k, v in m.items() if k != "reader"):
            errs.append("meta values are not ints")
    if "tail" in obj:
        t = obj["tail"]
        if not isinstance(t, dict) or set(t) != TAIL_KEYS or not all(
                isinstance(v, int) and v >= 0 for v in t.values()):
            errs.append(f"tail {t!r} is not {{from, bytes, nonzero}} of ints")
        elif t["nonzero"] > t["bytes"]:
            errs.append("tail: more nonzero bytes than bytes")
    if "page" in obj:
        p = obj["page"]
        if not PAGE_KEYS <= set(p) <= PAGE_KEYS | {"error"}:
            errs.append(f"page keys {sorted(p)}")
        else:
            for e in p["events"]:
                if set(e) != EVENT_KEYS or e["type"] not in EVENT_TYPES:
                    errs.append(f"bad event {e}")
                    break
    return errs


def compare(scn_path, expected: list[dict], got: list[dict]) -> tuple[list[dict], list[dict]]:
    """Compare ``got`` with ``expected`` (the kernel's) for the scenario file at
    ``scn_path``; returns (unexplained, explained) difference records, each a
    record of :func:`rbmap.cli.scenario.diff_results` plus ``explained_by``."""
    from rbmap.cli.scenario import diff_results, normalise
    from rbmap.impl.scenario import load

    bugs = {sc.name: sc.kernel_bugs for sc in load(scn_path)}
    unexplained, explained = [], []
    for rec in diff_results(normalise(expected), normalise(got)):
        if not rec["differences"]:
            continue
        step = None if rec["op"] == "kmsg" else rec["step"]
        rec["explained_by"] = [t for s, t in bugs.get(rec["scenario"], []) if s == step]
        (explained if rec["explained_by"] else unexplained).append(rec)
    return unexplained, explained


def describe(rec: dict) -> str:
    """One line per difference record."""
    parts = [f"{p}: kernel={a!r} other={b!r}" for p, a, b in rec["differences"]]
    return f"{rec['scenario']} step {rec['step']} {rec['op']}: " + "; ".join(parts)


def split_by_scenario(objects: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in objects:
        out.setdefault(o.get("scenario"), []).append(o)
    return out
