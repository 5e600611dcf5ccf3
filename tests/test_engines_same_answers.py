"""Same answers: on every manifest config the compiled and the interpreted engine
give the same distinct states, transitions, depth, graph, verdicts and shortest
counterexamples (the same paths, action for action); and every exploring command
prints and exits the same under both.

The default run takes the manifest entries that are not slow and have at most
TEST_STATES states (both engines on all 46 fast entries took 45 s with the
libraries built, 105 s without); the others are marked slow. Skipped, saying why,
while the protocol model is not a step machine (nothing to compile) or no C
compiler works."""

import json
import os
import re
import subprocess
import sys

import pytest

from rbmap.checker import check_bfs, native
from rbmap.checker.engine import compile_blocker
from rbmap.manifest import graph_digest, load_entries
from rbmap.model import build

#: the largest entry both engines explore in the default run (the configurations
#: `rbmap check` answers interpreted until their library is built,
#: rbmap.checker.engine.PROBE_STATES)
TEST_STATES = 50_000

ENTRIES = load_entries()


def _param(e):
    slow = e.get("slow") or e.get("states", 0) > TEST_STATES
    return pytest.param(e, id=e["name"], marks=[pytest.mark.slow] if slow else [])


def _model(e):
    return build(e["variant"], rules=e.get("rules") or None, **e["config"])


def _compiled_or_skip(m):
    why = compile_blocker(m)
    if why is not None:
        pytest.skip(f"the compiled engine cannot explore the protocol yet: {why}")
    if native.engine_choice("auto") != "native":
        pytest.skip("no C compiler: the compiled engine is not available")


def signature(r):
    """Everything a check says, each path action by action."""
    return (r.states, r.transitions, r.max_depth, r.complete, r.stopped_by,
            [(p.name, p.kind, p.status, p.note, p.extent,
              None if p.path is None else (p.path.init, list(p.path.actions)))
             for p in r.properties])


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_both_engines_give_the_same_answers(entry):
    m = _model(entry)
    _compiled_or_skip(m)
    a = check_bfs(m)
    b = native.check_native(m)
    assert b.engine == "native"
    assert signature(b) == signature(a)
    assert graph_digest(b.exploration) == graph_digest(a.exploration)
    # and both are what the manifest recorded
    assert (a.states, a.transitions, a.max_depth) == (
        entry["states"], entry["transitions"], entry["depth"])
    assert graph_digest(a.exploration) == entry["graph"]


# ---- the CLI prints and exits the same under both engines -------------------------
TINY = ["--pages", "2", "--page-events", "1", "--events", "3", "--processes", "1",
        "--nesting", "2"]
#: figures that depend on the clock, not on the engine
_CLOCK = re.compile(r"\b\d+\.\d+ s\b|[\d,]+ states/s|\d+(\.\d+)? s\)")


def _run(args, engine, tmp_path):
    env = dict(os.environ, RBMAP_ENGINE=engine)
    r = subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", *args],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    return r.returncode, r.stdout, r.stderr


def _clockless(text):
    try:
        data = json.loads(text)
    except ValueError:
        # a line folded after a figure of the clock folds elsewhere: unfold
        return _CLOCK.sub("<t>", re.sub(r"\n +", " ", text))
    return json.dumps(_drop_clock(data), sort_keys=True)


def _drop_clock(x):
    if isinstance(x, dict):
        return {k: _drop_clock(v) for k, v in x.items()
                if k not in ("seconds", "states_per_second")}
    if isinstance(x, list):
        return [_drop_clock(v) for v in x]
    return x


@pytest.mark.parametrize("args", [
    ["check", "v2", *TINY],
    ["check", "v2", *TINY, "--stop-on-violation"],
    ["check", "upstream", *TINY, "--json"],
    ["check", "v2", *TINY, "--max-states", "3000"],
    ["check", "v2", *TINY, "--max-depth", "9", "--json"],
    ["check", "v2", *TINY, "--trace-out", "t.json"],
    ["compare", "v2", "upstream", *TINY, "--no-abi", "--no-nc", "--no-extra"],
    ["manifest", "--only", "v2-tiny", "--only", "upstream-conform-fine"],
], ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_the_cli_says_the_same_under_both_engines(args, tmp_path):
    _compiled_or_skip(_model({"variant": "v2" if args[0] == "manifest" else args[1],
                              "config": {}}))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rc_a, out_a, err_a = _run(args, "interpreted", tmp_path / "a")
    rc_b, out_b, err_b = _run(args, "native", tmp_path / "b")
    assert rc_a in (0, 1, 3), err_a
    assert (rc_b, _clockless(out_b), err_b) == (rc_a, _clockless(out_a), err_a)
    if "--trace-out" in args:
        assert (tmp_path / "a" / "t.json").read_text() == \
            (tmp_path / "b" / "t.json").read_text()
