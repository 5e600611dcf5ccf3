"""Step tables (80 columns, what changed, the violating step marked) and JSON."""

from __future__ import annotations

import json

from rbmap.checker import (STATUSES, Path, check_bfs, diff_views, format_result,
                           result_to_json, replay, step_table)
from rbmap.checker.toys import Peterson, Retry


def test_diff_views():
    assert diff_views({"a": 1, "b": 2, "c": 0}, {"a": 1, "b": 3, "d": 4}) == [
        ("b", 2, 3), ("d", "(absent)", 4), ("c", 0, "(absent)")]


def test_step_table_of_pinned_counterexample():
    model = Peterson("turn_first")
    path = check_bfs(model)["mutual_exclusion"].path
    table = step_table(model, path, violating_index=len(path))
    lines = table.splitlines()
    assert lines[0].split() == ["#", "actor", "action", "changes"]
    assert lines[1].split() == ["0", "(initial", "state", "0)"]
    assert lines[2].split() == ["1", "p0", "set_turn(0)", "pc[0]:", "0", "->", "1"]
    assert lines[3].split() == ["turn:", "0", "->", "1"]  # continuation line
    marked = [ln for ln in lines if ln.startswith(">>")]
    assert marked == [ln for ln in lines if ln.startswith(">> 6")]
    assert marked[0].split() == [">>", "6", "p0", "enter(0)", "pc[0]:", "2", "->", "3"]
    assert all(len(ln) <= 80 for ln in lines)
    assert ">>" not in step_table(model, path)


class Wordy:
    """Long names everywhere, to test wrapping."""

    def init_states(self):
        return [(0, 0)]

    def successors(self, s):
        if s[0] >= 2:
            return []
        return [(("a_really_long_action_name_for_wrapping", "argument_" * 4, s[0]),
                 (s[0] + 1, s[1] + 7))]

    def terminal_ok(self, s):
        return True

    def actor(self, a):
        return "kernel_writer_interrupt_context"

    def view(self, s):
        return {"meta.some_very_long_field_name_in_the_meta_page.entries": s[0],
                "cpu_buffer.reader_page.commit": s[1]}

    def properties(self):
        return []


def test_step_table_wraps_to_width():
    model = Wordy()
    path = Path(init=0, actions=[a for a, _ in [model.successors((0, 0))[0],
                                                 model.successors((1, 7))[0]]])
    assert "    cpu_buffer.reader_page.commit: 7 -> 14" in step_table(model, path, width=60)
    for width in (80, 60, 40):
        table = step_table(model, path, violating_index=2, width=width)
        assert all(len(ln) <= width for ln in table.splitlines()), table
        words = table.split()
        assert words.index("cpu_buffer.reader_page.commit:") < words.index("14")
        assert sum(ln.startswith(">>") for ln in table.splitlines()) == 1


def test_result_to_json():
    model = Peterson("turn_first")
    r = check_bfs(model)
    data = json.loads(json.dumps(result_to_json(r, model, {"variant": "turn_first"})))
    assert {"strategy", "complete", "states", "transitions", "depth", "seconds",
            "states_per_second", "properties"} <= set(data)
    assert (data["states"], data["transitions"], data["depth"], data["complete"]) == (
        32, 60, 7, True)
    props = {p["name"]: p for p in data["properties"]}
    assert {p["status"] for p in props.values()} <= set(STATUSES)
    me = props["mutual_exclusion"]
    assert me["status"] == "violated" and me["kind"] == "always"
    trace = me["trace"]
    assert len(trace) == 7 and trace[0]["action"] == "init"
    assert trace[0]["state"] == {"pc[0]": 0, "pc[1]": 0, "flag[0]": 0, "flag[1]": 0, "turn": 0}
    assert trace[1] == {"step": 1, "actor": "p0", "action": "set_turn(0)", "args": ["set_turn", 0],
                        "changes": [{"field": "pc[0]", "before": 0, "after": 1},
                                    {"field": "turn", "before": 0, "after": 1}],
                        "violating": False}
    assert [s["violating"] for s in trace] == [False] * 6 + [True]
    assert props["deadlock"]["trace"] is None and props["deadlock"]["status"] == "holds"
    # The embedded path replays.
    path = Path.from_json(me["path"])
    assert path.model == {"variant": "turn_first"}
    assert replay(model, path)[-1][:2] == (3, 3)


def test_format_result_lists_every_property():
    model = Retry(livelock=True)
    text = format_result(check_bfs(model), model)
    assert "VIOLATED    finishes" in text
    assert "holds       deadlock" in text
    assert "stuck in a terminal component of 2 states" in " ".join(text.split())
    assert ">> 1  stall()" in text
