"""The reader library (impl/userlib.py) under a concurrent writer, held to the model.

The library runs as process p0 of impl's interleavings (rbmap.conform.explore_library):
every library step is mapped to the model's process step (userlib.STEPS) and the
steps of the writer, the interrupt write and the library must linearize to a model
path at every quiescent point.  At every return of the library: the kernel's
consumed position is at least the library's; "no more data" only when nothing
committed was unread when its GET_READER began; a second reader taking over (and a
last one at the end) gets no duplicates, and nothing is lost uncounted.
"""

import pytest

from rbmap.conform import explore_library, model_for
from rbmap.impl.userlib import CLIENTS, LIBRARY_CLIENTS, STEPS
from rbmap.mutants import MUTANTS, applied

pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


def model(client="documented", events=4, **kw):
    cfg = dict(pages=2, page_events=2, events=events, processes=1, nesting=2,
               client=client)
    cfg.update(kw)
    return model_for("upstream", cfg)


def mutant(name):
    return applied(next(m for m in MUTANTS if m.name == name))


def test_clients_named_and_steps_mapped():
    from rbmap.model.config import CLIENTS as MODEL_CLIENTS
    assert set(MODEL_CLIENTS) == set(CLIENTS)      # each one named
    assert all(isinstance(v, str) and v for v in CLIENTS.values())
    assert set(LIBRARY_CLIENTS) <= set(MODEL_CLIENTS)
    model_steps = {"map", "read_meta", "read_event", "page_done", "ioctl", "unmap"}
    for step, to in STEPS.items():
        for t in (to if isinstance(to, tuple) else (to,)):
            assert t is None or t in model_steps, (step, t)


@pytest.mark.parametrize("client", ["documented", "greedy"])
def test_library_is_the_model_client(client):
    """Each client behaviour of the library linearizes to the model's client of
    that name (every order of the three tasks, no preemption), and not to the
    other one: the mapping of library steps to model steps has teeth."""
    other = "greedy" if client == "documented" else "documented"
    out = explore_library(model(client, events=2), client, 1, False, 0)
    assert out.mismatch is None, out.mismatch and out.mismatch.message
    assert out.complete and out.schedules == 3 and out.checks > 20
    bad = explore_library(model(other, events=2), client, 1, False, 0)
    assert bad.mismatch is not None
    assert "no order of the completed model steps" in bad.mismatch.message


def test_documented_library_under_a_concurrent_writer():
    """Seeded random schedules (few preemptions): writes land on the reader page
    between the library's GET_READER and its reads, the library reads them; every
    library step linearizes; every promise holds at every return."""
    out = explore_library(model(), "documented", 2, True, None, 80, seed=1)
    assert out.mismatch is None, out.mismatch and out.mismatch.message
    assert out.schedules == 80 and not out.violations
    cov = out.coverage
    assert cov["of them read by the library"] > 0
    assert cov["returns checked"] > 500 and cov["no-more returns checked"] > 50


def test_greedy_client_gives_the_next_reader_duplicates():
    """The model's --client greedy duplicate (no_duplicate_delivery), on impl
    through the library: a greedy reader leaves having read past reader.read; the
    reader taking over starts at reader.read and reads those events again."""
    out = explore_library(model("greedy", events=2), "greedy", 1, True, 1)
    assert out.mismatch is not None
    assert "delivered twice by readers taking over" in out.mismatch.message
    assert "no_duplicate_delivery" in out.violations
    # its other promises hold when nobody takes over
    ok = explore_library(model("greedy"), "greedy", 2, False, None, 60, seed=1,
                         last_reader=False)
    assert ok.mismatch is None, ok.mismatch and ok.mismatch.message


@pytest.mark.parametrize("name,client,wanted", [
    ("lib_no_more_on_same_page", "documented", "said no more data"),
    ("lib_old_no_more_rule", "greedy", "said no more data"),
    ("lib_new_page_keeps_pos", "documented", "the kernel consumed"),
    ("lib_setup_from_page_start", "documented", "no order of the completed"),
    ("lib_leaves_without_finish", "documented", "no order of the completed"),
])
def test_each_promise_has_teeth(name, client, wanted):
    """A library bug that breaks a promise is caught by the check that states it
    (or, first, by the step map)."""
    with mutant(name):
        out = explore_library(model(client), client, 2, client == "documented",
                              None, 80, seed=1, last_reader=client == "documented")
    assert out.mismatch is not None and wanted in out.mismatch.message, \
        out.mismatch and out.mismatch.message


def test_the_takeover_check_has_teeth():
    """A reader that ignores reader.read at setup re-reads what the one before it
    read: the final check says so even when the step map is not asked."""
    from rbmap.conform import library_final_check, library_tasks
    from rbmap.impl import sched
    m = model(nesting=1)

    def ghost(ex, st):          # keep the harness's record of the writes only
        run = ex.by_name[st.task]
        ex.system.observe(run.gen if run.state != "done" else None, st.label, 0)

    with mutant("lib_setup_from_page_start"):
        res = sched.explore_dfs(library_tasks(m, "documented", 1, True),
                                check=library_final_check, preemption_bound=0,
                                observer=ghost)
    assert res.failure and "delivered twice by readers taking over" in res.failure


@pytest.mark.slow
@pytest.mark.parametrize("calls", [0, 1, 2])
def test_documented_library_every_bound_1_schedule(calls):
    """Every schedule with at most one preemption (about 1,000 each)."""
    out = explore_library(model(), "documented", calls, True, 1)
    assert out.mismatch is None, out.mismatch and out.mismatch.message
    assert out.complete and out.schedules > 900 and not out.violations
    print(out.schedules, out.coverage)
