"""The protocol model in step form (model/steps/): one unit per step, documented,
and the generated Python the explorer runs equal to the steps as written."""

from __future__ import annotations

import pytest

from rbmap.checker.engine import compile_blocker
from rbmap.checker.steps import StepMachine
from rbmap.model import build
from rbmap.model import steps as S

SMALL = dict(pages=2, page_events=1, events=2, processes=2, nesting=2)


def _all_instances():
    """Step instances of configs that switch every step family on."""
    out = []
    for variant, cfg in (
            ("upstream", dict(SMALL, granularity="fine", pipe_reads=1, text_reads=1,
                              resets=1, refusals=True, fork=True, order_change=True)),
            ("v2", dict(SMALL, granularity="fine", nc_readers=1, resets=1)),
            ("upstream", dict(SMALL, client="libtracefs", granularity="fine"))):
        out += build(variant, **cfg).instances
    return out


def test_the_model_is_a_step_machine_with_no_hand_written_successors():
    m = build("upstream")
    assert isinstance(m, StepMachine)
    for name in ("successors", "successor_states", "init_states", "terminal_ok"):
        assert getattr(type(m), name) is getattr(StepMachine, name), name


def test_every_step_names_what_it_abstracts():
    """Each step's docstring names the kernel (or library, or user-space) code it
    stands for."""
    seen = set()
    for inst in _all_instances():
        st = inst.step
        if st in seen:
            continue
        seen.add(st)
        doc = st.doc
        assert len(doc) > 40, st.name
        assert any(w in doc for w in ("rb_", "ring_buffer", "tracing_", "tfs_",
                                      "kbuffer", "mmap", "munmap", "fork", "exit",
                                      "GET_READER", "ioctl", "loads", "reads",
                                      "echo", "tracefs", "synchronize_rcu",
                                      "__rb_", "buffer_", "update_max_tr")), st.name
    assert len(seen) >= 60


@pytest.mark.parametrize("variant,cfg", [
    ("upstream", dict(SMALL, processes=1, granularity="fine", pipe_reads=1)),
    ("v2", dict(SMALL, processes=1, nesting=1, events=1, nc_readers=1,
                granularity="fine")),
    ("upstream", dict(SMALL, processes=1, refusals=True, text_reads=1, resets=1)),
    ("upstream", dict(SMALL, processes=1, nesting=1, page_events=2,
                      client="libtracefs", granularity="fine")),
])
def test_generated_python_equals_the_steps_as_written(variant, cfg):
    """What the explorer runs (the steps printed as Python) lists the same
    actions, in the same order, with the same next states, as the step
    functions run as written, on every reachable state."""
    m = build(variant, **cfg)
    seen = set(m.init_states())
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            succ = m.successors(s)
            assert succ == m.successors_as_written(s)
            for _, t in succ:
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    assert len(seen) > 500


def test_every_assumption_note_is_a_step_of_the_model():
    names = {inst.step for inst in _all_instances()}
    assert set(S.ASSUMES) <= names


def test_the_compiled_engine_takes_the_model_unless_a_mutant_is_applied():
    """The protocol is compiled (its properties() is the property_list() printed
    as Python, plus check_state's bookkeeping); while a model mutant that wraps a
    step helper is applied, a model built meanwhile is interpreted and its
    successors are the steps as written with the wrapped helper."""
    from rbmap.model_mutants import MUTANTS, applied

    assert compile_blocker(build("upstream", **SMALL)) is None
    mut = next(x for x in MUTANTS if x.name == "reader_buffer_always_empty")
    with applied(mut):
        m = build("upstream", **SMALL)
        assert compile_blocker(m) is not None
        mutated, todo = {}, list(m.init_states())
        while todo and len(mutated) < 300:
            s = todo.pop()
            if s in mutated:
                continue
            mutated[s] = m.successors(s)
            assert mutated[s] == m.successors_as_written(s)
            todo.extend(t for _, t in mutated[s])
    plain = build("upstream", **SMALL)
    assert compile_blocker(plain) is None
    # the wrap was in force: somewhere the model as it is steps otherwise
    assert any(plain.successors(s) != out for s, out in mutated.items())
