"""Robustness: every command, fed generated bad input, keeps rbmap's promises.

The promises (README, "Exit status"), checked on every example:

- the exit status is one of 0, 1, 2, 3, 130;
- never a traceback, nor rbmap's own "internal error" line (exit 70, a bug);
- a failure (exit 2) is exactly one line ``rbmap: ...`` on stderr, the last one;
- a check that did not complete never says "holds" (check, compare: per column;
  conform: never "verdict: conforms" unless it exits 0).

The commands: check, replay, bench, compare, conform, scenario, abi, litmus, fuzz,
report, explore (stopped where it would start serving), export, kernel run and
client (no kernel set up); list and manifest take no input to vary. The input families:
numbers for every numeric option (edge values, huge, negative,
nan/inf, garbage text); files of the wrong kind for every argument that takes one
(empty, binary, a directory, missing, random text); saved traces, expected
matrices and schedules, truncated or with a value replaced; variant files with
random edits (TOML values, keys, tables, lines, bytes); scenario files with random
edits (lines, numbers, operations); litmus programs with random edits.

Commands run in-process (click's CliRunner), at tiny configs bounded by
--max-states, in a scratch directory, with no kernel set up (RBMAP_KERNEL_CACHE
points at an empty directory: nothing boots, nothing is installed). The default
run draws a few examples per family (seconds); ``pytest -m slow`` draws many more
of the same families (minutes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rbmap.cli import main
from rbmap.impl import scenario as scn

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
ALLOWED = {0, 1, 2, 3, 130}
TINY = ["--pages", "2", "--page-events", "1", "--events", "3", "--processes", "1",
        "--nesting", "1"]
BOUND = ["--max-states", "300"]
NO_PROOFS = ["--no-abi", "--no-nc", "--no-weak-memory"]   # compare's slow rows

#: examples per family: the default run, and pytest -m slow
FAST, SLOW = 25, 600


# --------------------------------------------------------------------------
# running a command and the promises


class Env:
    """A scratch directory (the working directory of every run) with the base
    files the families mutate, and an empty kernel cache."""

    def __init__(self, root: Path):
        self.root = root
        (root / "kcache").mkdir()
        self.runner = CliRunner(env={"RBMAP_KERNEL_CACHE": str(root / "kcache"),
                                     "RBMAP_TRACEBACK": None})
        self.n = 0
        r = self.run(["check", "v2", *TINY, "--trace-out", str(root / "trace.json")])
        assert r.exit_code == 1, r.output
        self.trace = (root / "trace.json").read_text()
        r = self.run(["compare", "v3-read", *TINY, *NO_PROOFS, "--json"])
        # the refusals: rows with MADV_DOFORK copies violate what K8 does (the
        # trace.c accounting every variant shares); every other row holds
        assert r.exit_code == 1, r.output
        bad = {row["name"] for row in json.loads(r.stdout)["rows"]
               if row["status"]["v3-read"] not in ("holds", "reached", "n/a")}
        assert bad == {"refusals:snapshot_excludes_mapping",
                       "refusals:swap_cpu_refused_while_mapped"}, bad
        self.matrix = r.stdout
        self.schedule = json.dumps({
            "format": "rbmap-conform-schedule/1", "variant": "upstream",
            "config": {"pages": 2, "page_events": 2, "events": 4, "processes": 1,
                       "nesting": 2, "granularity": "fine"},
            "scenario": {}, "schedule": {"steps": [{"task": "writer", "label": "x"}]}})

    def path(self, suffix: str) -> Path:
        self.n += 1
        return self.root / f"in{self.n}{suffix}"

    def run(self, args):
        import os
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            return self.runner.invoke(main, [str(a) for a in args])
        finally:
            os.chdir(cwd)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The scratch directory; ``rbmap explore`` stops where it would start serving
    (its input is all checked by then)."""
    import rbmap.explore
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rbmap.explore, "serve", lambda explorer, port, say=print: None)
        yield Env(tmp_path_factory.mktemp("robust"))


def promises(args, r) -> None:
    out, err = r.stdout, r.stderr
    what = f"rbmap {' '.join(map(str, args))}\nexit {r.exit_code}\n{err[-1500:]}"
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{what}\nescaped: {r.exception!r}") from r.exception
    assert r.exit_code in ALLOWED, what
    assert "Traceback" not in out + err, what
    assert "internal error" not in err, what
    if r.exit_code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("rbmap: "), what
        assert sum(ln.startswith("rbmap: ") for ln in lines) == 1, what
        assert not any(ln.startswith(("Usage:", "Error:", "Try ")) for ln in lines), what
    honest(args, r, what)


_STATUS_LINE = re.compile(r"^  (holds|VIOLATED|reached|UNREACHED|unknown)\s")


def honest(args, r, what) -> None:
    """Nothing said to hold by a run that did not complete."""
    cmd = args[0]
    out = r.stdout
    if cmd == "check" and r.exit_code in (0, 1, 3):
        if "--json" in args:
            d = json.loads(out)
            if not d["complete"]:
                assert "holds" not in {p["status"] for p in d["properties"]}, what
        elif "INCOMPLETE" in out:
            words = {m.group(1) for m in map(_STATUS_LINE.match, out.splitlines()) if m}
            assert "holds" not in words, what
    if cmd == "compare" and "--json" in args and r.exit_code in (0, 1, 3):
        mx = json.loads(out)
        for v, s in mx["stats"].items():
            if s["main"]["complete"]:
                continue
            for row in mx["rows"]:
                if not row["name"].startswith("abi:"):
                    assert row["status"][v] != "holds", what
    if cmd == "conform" and r.exit_code != 0:
        assert "verdict: conforms" not in out, what
    if r.exit_code == 3:
        assert "verdict: conforms" not in out, what


def family(strategy_fn):
    """Two tests from one family: a few examples in the default run, many with
    ``pytest -m slow``."""
    def make(n, slow):
        @settings(max_examples=n, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow,
                                         HealthCheck.data_too_large,
                                         HealthCheck.nested_given])
        @given(data=st.data())
        def test(env, data):
            args = strategy_fn(env, data)
            r = env.run(args)
            event(f"{' '.join(map(str, args[:2 if args[0] == 'kernel' else 1]))}: "
                  f"exit {r.exit_code}")
            promises(args, r)
        test.__doc__ = strategy_fn.__doc__
        return pytest.mark.slow(test) if slow else test
    return make(FAST, False), make(SLOW, True)


# --------------------------------------------------------------------------
# numbers

GARBAGE = ["", " ", "x", "nan", "NaN", "inf", "-inf", "1e309", "-0", "0x10", "1.5",
           "3e2", "1_000", "٣", "9" * 40, "-9" * 20, "+1", "0.0", "true", "--pages"]
EDGE = [0, -1, 1, 2, 3, 8, 9, 40, 41, 2**31, 2**32, 2**63, 2**64, -2**63, 10**30]


def any_number():
    return st.one_of(st.sampled_from(EDGE).map(str), st.sampled_from(GARBAGE),
                     st.integers(-2**70, 2**70).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.text(max_size=6))


def cheap_number(hi: int, lo: int = -3, skip: tuple = ()):
    """Bad values, or valid ones no larger than ``hi`` (a larger valid value is a
    long run, not bad input); ``skip``: values that mean "no bound"."""
    return st.one_of(st.sampled_from(GARBAGE),
                     st.integers(lo, hi).filter(lambda v: v not in skip).map(str),
                     st.floats(max_value=float(hi)).map(repr).filter(
                         lambda t: t not in {repr(float(v)) for v in skip}),
                     st.sampled_from(["-1e309", "-" + "9" * 30]))


CHECK_BASE = ["check", "upstream", *TINY, *BOUND]
SIZES = ["--pages", "--page-events", "--events", "--processes", "--nesting",
         "--pipe-reads", "--resets", "--nc-readers"]
# (base argv, option, value strategy)
NUMERIC = (
    [(CHECK_BASE, o, any_number()) for o in SIZES + ["--max-states", "--max-depth",
                                                     "--time-limit"]]
    + [(CHECK_BASE + ["--json"], o, any_number()) for o in SIZES]
    + [(CHECK_BASE + ["--simulate", "2", "--time-limit", "5"], "--seed", any_number()),
       (CHECK_BASE + ["--simulate", "2", "--time-limit", "5"], "--walk-depth",
        cheap_number(300)),
       (CHECK_BASE + ["--time-limit", "5"], "--simulate", cheap_number(20))]
    + [(["compare", "upstream", *TINY, *NO_PROOFS, *BOUND, "--json"], o,
        any_number()) for o in SIZES + ["--max-states", "--max-depth", "--time-limit"]]
    + [(["explore", "upstream", *TINY], o, any_number())
       for o in SIZES + ["--port", "--check-time-limit"]]
    + [(["bench", "v3-read", "--time-limit", "0.1"], "--repeat", cheap_number(2)),
       (["bench", "v3-read", "--repeat", "1"], "--time-limit", cheap_number(0))]
    + [(["conform", "upstream", "--depth", "1", "--schedules", "2", "--preemptions",
         "0"], o, values) for o, values in
       [("--depth", cheap_number(1, skip=(0,))),        # 0: the whole tree
        ("--schedules", cheap_number(3)), ("--preemptions", cheap_number(0)),
        ("--pages", cheap_number(2)), ("--page-events", cheap_number(1)),
        ("--events", cheap_number(2)), ("--processes", cheap_number(1)),
        ("--nesting", cheap_number(1))]]
    + [(["fuzz", "--on", "impl", "--budget", "0.2", "--programs", "2", "--max-ops",
         "4", "--shrink-rounds", "0"], o, cheap_number(hi)) for o, hi in
       [("--budget", 0), ("--batch", 3), ("--programs", 3), ("--max-ops", 5),
        ("--shrink-rounds", 0)]]
    + [(["fuzz", "--on", "impl", "--budget", "0.2", "--programs", "2", "--max-ops",
         "4"], "--seed", any_number())]
    + [(["kernel", "client"], o, any_number()) for o in ("--seconds", "--timeout")]
    + [(["export", "promela", "ring"], "--ring", st.one_of(
        st.lists(cheap_number(4, lo=-2), min_size=0, max_size=4).map(",".join),
        st.sampled_from(GARBAGE)))]
)


def _numbers(env, data):
    """A numeric option of a command given an edge, huge, negative, non-finite or
    garbage value."""
    base, opt, values = data.draw(st.sampled_from(NUMERIC), label="command")
    return [*base, opt, data.draw(values, label=opt)]


test_numbers, test_numbers_slow = family(_numbers)


# --------------------------------------------------------------------------
# files of the wrong kind


def _wrong_file(env, kind: str, data) -> str:
    if kind == "missing":
        return str(env.root / "no" / "such.file")
    if kind == "directory":
        d = env.path(".toml")
        d.mkdir()
        return str(d)
    p = env.path(data.draw(st.sampled_from([".toml", ".json", ".scn", ".litmus", ""]),
                           label="suffix"))
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "binary":
        p.write_bytes(data.draw(st.binary(min_size=1, max_size=300), label="bytes"))
    else:
        p.write_text(data.draw(st.text(max_size=300), label="text"), encoding="utf-8")
    return str(p)


FILE_COMMANDS = [
    lambda f: ["check", f, *TINY, *BOUND],
    lambda f: ["abi", f],
    lambda f: ["compare", f, *TINY, *NO_PROOFS, *BOUND],
    lambda f: ["compare", "v3-read", *TINY, *NO_PROOFS, "--expect", f],
    lambda f: ["replay", f],
    lambda f: ["scenario", f],
    lambda f: ["conform", "upstream", "--replay", f],
    lambda f: ["conform", "--schedule", f],
    lambda f: ["litmus", f],
    lambda f: ["kernel", "run", f],
    lambda f: ["report", f],
    lambda f: ["explore", "--trace", f],
    lambda f: ["explore", f, *TINY],
    lambda f: ["check", "v3-read", *TINY, "--trace-out", f],
    lambda f: ["check", "v2", *TINY, "--report", f],
    lambda f: ["export", "promela", "ring", "--ring", "2,2,2", "-o", f],
]


def _files(env, data):
    """A file argument that is empty, binary, a directory, missing or random text."""
    kind = data.draw(st.sampled_from(["missing", "directory", "empty", "binary",
                                      "text"]), label="kind")
    f = _wrong_file(env, kind, data)
    return data.draw(st.sampled_from(FILE_COMMANDS), label="command")(f)


test_files, test_files_slow = family(_files)


# --------------------------------------------------------------------------
# JSON: saved traces, expected matrices, schedules


def json_values():
    return st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                  st.floats(allow_nan=False), st.text(max_size=10)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _nodes(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, path + (i,))


def mutate_json(data, text: str) -> str:
    how = data.draw(st.sampled_from(["truncate", "replace", "delete", "replace",
                                     "replace"]), label="how")
    if how == "truncate":
        return text[:data.draw(st.integers(0, max(0, len(text) - 1)), label="cut")]
    doc = json.loads(text)
    paths = [p for p in _nodes(doc) if p]
    path = data.draw(st.sampled_from(paths), label="at")
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if how == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values(), label="value")
    return json.dumps(doc)


JSON_COMMANDS = [
    ("trace", lambda f: ["replay", f]),
    ("trace", lambda f: ["replay", f, "--json"]),
    ("trace", lambda f: ["conform", "v2", "--replay", f]),
    ("trace", lambda f: ["report", f]),
    ("trace", lambda f: ["report", f, "--format", "svg"]),
    ("trace", lambda f: ["report", f, "--format", "html"]),
    ("trace", lambda f: ["explore", "--trace", f]),
    ("matrix", lambda f: ["compare", "v3-read", *TINY, *NO_PROOFS, "--expect", f]),
    ("schedule", lambda f: ["conform", "--schedule", f]),
]


def _json(env, data):
    """A saved trace, expected matrix or schedule, truncated or with a value
    replaced or deleted."""
    which, cmd = data.draw(st.sampled_from(JSON_COMMANDS), label="command")
    base = {"trace": env.trace, "matrix": env.matrix, "schedule": env.schedule}[which]
    f = env.path(".json")
    f.write_text(mutate_json(data, base))
    return cmd(str(f))


test_json, test_json_slow = family(_json)


# --------------------------------------------------------------------------
# variant files


def toml_scalars():
    return st.one_of(
        st.integers(-2**70, 2**70).map(str), st.sampled_from(["true", "false", "1.5",
                                                              "nan", "inf", "[]", "{}",
                                                              '""', "[1, 2]", '"x"']),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789. ", max_size=12).map(
            json.dumps))


def mutate_lines(data, text: str, values, words) -> str:
    """One random edit of a line-based text: delete, duplicate or swap lines,
    replace a value or a word, insert a line, truncate, or a non-UTF-8 byte."""
    lines = text.splitlines()
    how = data.draw(st.sampled_from(["delete", "duplicate", "swap", "value", "value",
                                     "word", "insert", "truncate", "byte"]), label="how")
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    elif how == "swap":
        j = data.draw(st.integers(0, len(lines) - 1), label="other")
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "value":
        key, eq, _ = lines[i].partition("=")
        tokens = lines[i].split()
        if eq:
            lines[i] = f"{key}= {data.draw(values, label='value')}"
        elif len(tokens) > 1:
            k = data.draw(st.integers(1, len(tokens) - 1), label="arg")
            tokens[k] = data.draw(values, label="value")
            lines[i] = " ".join(tokens)
    elif how == "word":
        tokens = lines[i].split() or [""]
        tokens[0] = data.draw(words, label="word")
        lines[i] = " ".join(tokens)
    elif how == "insert":
        lines.insert(i, data.draw(st.one_of(
            words.map(lambda w: f"[{w}]"),
            st.tuples(words, values).map(lambda kv: f"{kv[0]} = {kv[1]}"),
            st.tuples(words, st.lists(values, max_size=4)).map(
                lambda kv: " ".join([kv[0], *kv[1]]))), label="line"))
    elif how == "truncate":
        out = "\n".join(lines)
        return out[:data.draw(st.integers(0, len(out)), label="cut")]
    else:
        out = "\n".join(lines).encode()
        k = data.draw(st.integers(0, len(out)), label="at")
        return (out[:k] + b"\xff\xfe" + out[k:]).decode("utf-8", "surrogateescape")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


VARIANT_WORDS = st.one_of(st.sampled_from(["name", "get_reader", "layout", "mapping",
                                           "model", "variant", "fields", "type",
                                           "translate", "meta_area", "extends",
                                           "written_by", "trailing", "modle"]),
                          st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1,
                                  max_size=10))


def _variants(env, data):
    """A shipped variant file with a random edit, given to check, abi or compare."""
    base = data.draw(st.sampled_from(["v3-read", "upstream", "v2"]), label="base")
    text = mutate_lines(data, (SPECS / f"{base}.toml").read_text(), toml_scalars(),
                        VARIANT_WORDS)
    f = env.path(".toml")
    _write(f, text)
    cmd = data.draw(st.sampled_from(["check", "check-json", "compare", "abi"]
                                    if base == "v3-read" else
                                    ["check", "check-json", "compare"]), label="command")
    return {"check": ["check", f, *TINY, *BOUND],
            "check-json": ["check", f, *TINY, *BOUND, "--json"],
            "compare": ["compare", f, *TINY, *NO_PROOFS, *BOUND, "--json"],
            "abi": ["abi", f, "--json"]}[cmd]


test_variants, test_variants_slow = family(_variants)


# --------------------------------------------------------------------------
# scenario files


def scenario_numbers():
    limits = sorted({x for lim in scn.LIMITS.values() for x in lim})
    return st.one_of(st.integers(0, 300).map(str), st.sampled_from(
        [str(x + 1) for x in limits] + [str(2**64), str(2**65), "-1", "0x", "0xffff",
                                        "1.5", "x", "0x10000000000000000"]))


SCENARIO_WORDS = st.one_of(st.sampled_from(sorted(scn.OPS)),
                           st.sampled_from(["scenario", "# kernel-bug: x", "#", "nop",
                                            "open nonblock nonblock", "trymap"]),
                           st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1,
                                   max_size=8))
SCENARIOS = sorted(p.name for p in (SPECS / "scenarios").glob("*.scn")
                   if len(p.read_text().splitlines()) < 60)


def _scenarios(env, data):
    """A corpus scenario file with a random edit, run on impl (alone, or against
    impl at the other layout), or given to the kernel runner (not set up)."""
    base = data.draw(st.sampled_from(SCENARIOS), label="base")
    text = mutate_lines(data, (SPECS / "scenarios" / base).read_text(),
                        scenario_numbers(), SCENARIO_WORDS)
    f = env.path(".scn")
    _write(f, text)
    return data.draw(st.sampled_from([
        ["scenario", f], ["scenario", f, "--json"],
        ["scenario", f, "--on", "impl,impl:layout=6.10"],
        ["scenario", f, "--on", "impl", "--abi", "v2"],
        ["kernel", "run", f]]), label="command")


test_scenarios, test_scenarios_slow = family(_scenarios)


# --------------------------------------------------------------------------
# litmus programs

LITMUS = sorted((ROOT / "tests" / "litmus").glob("*.litmus"))
LITMUS_WORDS = st.one_of(st.sampled_from(["C", "P0(int *x)", "exists", "~exists",
                                          "forall", "{", "}", "smp_mb();", "(*", "*)",
                                          "locations", "WRITE_ONCE(*x,", "int r0 ="]),
                         st.text(alphabet="abcdefghijklmnopqrstuvwxyz_();*{}=~ ",
                                 min_size=1, max_size=12))


def _litmus(env, data):
    """A litmus program of the test corpus with a random edit."""
    if not LITMUS:
        pytest.skip("no litmus corpus")
    base = data.draw(st.sampled_from(LITMUS), label="base")
    text = mutate_lines(data, base.read_text(), st.one_of(
        st.integers(-3, 3).map(str), st.sampled_from(["x", "y", "0", "r0", "1:r0"])),
        LITMUS_WORDS)
    f = env.path(".litmus")
    _write(f, text)
    return ["litmus", f] + data.draw(st.sampled_from([[], ["--json"]]), label="json")


test_litmus, test_litmus_slow = family(_litmus)
