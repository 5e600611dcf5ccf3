"""Start-up: commands load when used; networkx and z3 only where they are used;
rbmap check --stop-on-violation."""

import json
import subprocess
import sys

import pytest

from rbmap.cli import COMMANDS, SUMMARIES, first_sentence, main

SMALL_V2 = ["v2", "--pages", "2", "--page-events", "1", "--events", "4", "--nesting", "1"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_summaries_are_the_commands_first_sentences(name):
    assert SUMMARIES.get(name) == first_sentence(main.commands[name]), (
        f"rbmap.cli.SUMMARIES[{name!r}] must be the first sentence of the "
        "command's help")
    assert main.commands[name].name == name


def test_every_summary_names_a_command():
    assert set(SUMMARIES) == set(COMMANDS)


PROBE = """
import sys
from rbmap.cli import main
try:
    main.main({args!r}, prog_name="rbmap", standalone_mode=False)
except SystemExit:
    pass
print("LOADED:" + " ".join(sorted(m for m in ("networkx", "z3", "rbmap.cli.scenario",
                                  "rbmap.checker.memmodel") if m in sys.modules)))
"""


def loaded(*args):
    r = subprocess.run([sys.executable, "-c", PROBE.format(args=list(args))],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.rsplit("LOADED:", 1)[1].strip()


def test_help_and_check_load_neither_networkx_nor_z3():
    assert loaded("--help") == ""
    assert loaded("check", *SMALL_V2, "--stop-on-violation") == ""


def test_stop_on_violation_prints_the_first_shortest_counterexample():
    r = subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", "check", *SMALL_V2,
                        "--stop-on-violation", "--json"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert d["complete"] is False and d["stopped_by"] == "violation"
    violated = [p for p in d["properties"] if p["status"] == "violated"]
    assert [(p["name"], len(p["path"]["actions"])) for p in violated] == [
        ("no_duplicate_delivery", 17)]
    assert all(p["status"] in ("unknown", "reached", "violated", "n/a")
               for p in d["properties"])
