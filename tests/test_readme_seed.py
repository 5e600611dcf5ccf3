"""README's seed findings table: every row's command gives the row's result.

Rows whose check takes a few seconds run here; the five non-consuming-reader and
crash rows (30 s together) run with ``-m slow``, and the default run checks that
their commands are the configs other default tests already hold to the same
verdicts (tests/test_model_teeth.py, tests/test_model_seed.py, the manifest)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from rbmap.cli import main
from rbmap.model import Config

ROOT = Path(__file__).resolve().parent.parent
SLOW_ROWS = {5, 6, 7, 8, 9}


def _rows() -> dict[int, dict]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("**Findings.**"):]
    rows = {}
    for line in table.splitlines():
        if not re.match(r"\| \d+ \|", line):
            if rows and not line.startswith("|"):
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        num, finding, source, prop, command, result, upstream = cells
        rows[int(num)] = {
            "props": [p.removeprefix("abi:") for p in re.findall(r"`([^`]+)`", prop)],
            "command": re.search(r"`([^`]+)`", command).group(1),
            "result": result, "upstream": upstream, "source": source}
    return rows


ROWS = _rows()


def test_table_is_there_and_attributed():
    assert sorted(ROWS) == list(range(1, len(ROWS) + 1)) and len(ROWS) >= 17
    for n, r in ROWS.items():
        # each row says where it comes from: a review reply, or rbmap
        assert re.search(r"#\d+|rbmap|commit message", r["source"]), n


def _run(command: str) -> tuple[int, str]:
    args = shlex.split(command)
    assert args[0] == "rbmap"
    res = CliRunner().invoke(main, args[1:] + ["--json"])
    return res.exit_code, res.output


def _expected_check(r):
    """(status, steps or None) per property, from the result column."""
    head = r["result"].split("(")[0]
    if head.startswith("VIOL"):
        steps = [int(x) for x in re.findall(r"\d+", head)]
        assert len(steps) == len(r["props"])
        return [("violated", s) for s in steps]
    assert head.startswith("holds")
    return [("holds", None)] * len(r["props"])


def _check_row(n):
    r = ROWS[n]
    code, out = _run(r["command"])
    kind = shlex.split(r["command"])[1]
    if kind == "check":
        got = {p["name"]: p for p in json.loads(out)["properties"]}
        for name, (status, steps) in zip(r["props"], _expected_check(r)):
            assert got[name]["status"] == status, (n, name)
            if steps is not None:
                assert len(got[name]["trace"]) - 1 == steps, (n, name)
    elif kind == "abi":
        got = {c["name"]: c["status"] for c in json.loads(out)}
        want = "violated" if r["result"].startswith("VIOLATED") else "holds"
        names = [p for p in r["props"] if p in got]
        assert names and {got[p] for p in names} == {want}, (n, got)
    elif kind == "scenario":
        objs = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        assert code == 0
        tail = next(o["tail"] for o in objs if o["op"] == "meta_tail")
        nonzero, total = map(int, re.search(r"(\d+) of the (\d+)", r["result"]).groups())
        assert (tail["nonzero"], tail["bytes"]) == (nonzero, total)
    elif kind == "litmus":
        got = json.loads(out)
        assert got["agrees"] and got["verdict"] == r["result"].split(",")[0], (n, got)
    else:  # pragma: no cover
        pytest.fail(f"row {n}: unknown command {r['command']!r}")


@pytest.mark.parametrize("n", sorted(n for n, r in ROWS.items()
                                     if r["command"].startswith("rbmap")
                                     and n not in SLOW_ROWS))
def test_row_command_gives_its_result(n):
    _check_row(n)


@pytest.mark.slow
@pytest.mark.parametrize("n", sorted(SLOW_ROWS))
def test_slow_row_command_gives_its_result(n):
    _check_row(n)


def _config(command: str) -> tuple[str, dict, dict]:
    """variant, config (with Config's defaults) and rules of an rbmap check line."""
    args = shlex.split(command)[2:]
    variant = args.pop(0)
    cfg, rules = Config().to_dict(), {}
    cfg["events"] = None
    while args:
        a = args.pop(0)
        if a == "--rule":
            k, v = args.pop(0).split("=")
            rules[k] = v
        elif a.startswith("--no-"):
            cfg[a[5:].replace("-", "_")] = False
        elif a in ("--crash", "--fork", "--overwrite"):
            cfg[a[2:]] = True
        else:
            cfg[a[2:].replace("-", "_")] = int(args.pop(0))
    if cfg["events"] is None:
        cfg["events"] = (cfg["pages"] + 1) * cfg["page_events"]
    return variant, cfg, rules


def test_slow_rows_are_configs_the_default_tests_check():
    from test_model_seed import NC
    from test_model_teeth import TEETH

    def same(command, variant, config, rules=None):
        v, cfg, rl = _config(command)
        want = dict(Config().to_dict(), **config)
        assert (v, cfg, rl) == (variant, want, rules or {}), command
    nc_variant, _, nc_cfg, (fixed, _) = TEETH["non_consuming_read_detects_overwrite"]
    same(ROWS[5]["command"], nc_variant, nc_cfg)
    same(ROWS[6]["command"], fixed, nc_cfg)
    same(ROWS[7]["command"], "v2", NC, {"nc_check": "commit"})
    same(ROWS[8]["command"], "v2", NC, {"nc_check": "commit_stamp"})
    manifest = json.loads((ROOT / "specs" / "manifest.json").read_text())
    entry = next(e for e in manifest["configs"] if e["name"] == "v3-read-param-crash")
    assert "no_duplicate_delivery" in entry["violated"]
    same(ROWS[9]["command"], entry["variant"], entry["config"])


def test_pytest_row_names_tests_that_exist():
    import test_impl_seed
    r = next(r for r in ROWS.values() if r["command"].startswith("pytest"))
    path, _, expr = r["command"].split()[1:4]
    assert (ROOT / path).is_file()
    assert [n for n in dir(test_impl_seed) if n.startswith("test_") and expr in n]


def test_seed_reset_compare_config_shows_the_reset_bug():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"The seed-reset config[^`]*`(rbmap compare[^`]+)`", text)
    args = shlex.split(m.group(1).replace("\n", " "))[1:]
    res = CliRunner().invoke(main, args + ["--json"])
    assert res.exit_code == 1          # violations are the result
    rows = {r["name"]: r["cells"] for r in json.loads(res.output)["rows"]}
    for v in ("v2", "v2-data-index"):
        assert [rows[p][v].get("steps") for p in (
            "data_pages_in_ring_order", "data_pages_order_after_update",
            "data_pages_lists_ring")] == [11, 14, 19]
    assert rows["data_pages_lists_ring"]["upstream"]["status"] == "n/a"
