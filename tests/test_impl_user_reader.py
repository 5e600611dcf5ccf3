"""The reader library in one OS process, the kernel side + writer in another.

Overwrite off (producer/consumer): every event arrives exactly once, in order.
Overwrite on: delivered + reported lost = written, and each reported loss is exactly
the gap in sequence numbers in front of the page that carries it.
"""

import importlib.util

import pytest

from rbmap.impl.userlib import run_pair

from test_impl_user_fake import FakeInstance

HAVE_FACADE = importlib.util.find_spec("rbmap.impl.tracefs") is not None
needs_facade = pytest.mark.skipif(not HAVE_FACADE, reason="rbmap.impl.tracefs not there")


def check_exactly_once(res):
    log = res.log
    assert log.seqs == list(range(res.events))
    assert log.lost_reported == 0 and log.missed_unknown == 0
    m = res.final_meta
    assert (m["entries"], m["read"], m["overrun"]) == (res.events, res.events, 0)


def check_accounted(res):
    log = res.log
    assert len(set(log.seqs)) == len(log.seqs), "an event was delivered twice"
    assert log.seqs == sorted(log.seqs), "events out of order"
    assert log.missed_unknown == 0
    assert len(log.seqs) + log.lost_reported == res.events
    assert res.final_meta["overrun"] == log.lost_reported
    assert res.final_meta["entries"] == res.events
    for idx, count in log.losses:
        before = log.seqs[idx - 1] if idx else -1
        assert log.seqs[idx] - before - 1 == count, (idx, before, log.seqs[idx], count)
    return log


def test_two_processes_exactly_once_on_the_fake():
    check_exactly_once(run_pair(1500, overwrite=False, instance_factory=FakeInstance))


def test_two_processes_overwrite_accounting_on_the_fake():
    res = run_pair(3000, overwrite=True, batch=600, buffer_size_kb=8,
                   instance_factory=FakeInstance)
    log = check_accounted(res)
    assert log.lost_reported > 0      # the writer did outrun the reader


@needs_facade
def test_two_processes_exactly_once():
    res = run_pair(2000, overwrite=False)
    check_exactly_once(res)
    assert res.log.pages >= 2000 * 32 // 4080


@needs_facade
def test_two_processes_overwrite_accounting():
    res = run_pair(3000, overwrite=True, batch=600, buffer_size_kb=8)
    log = check_accounted(res)
    assert log.lost_reported > 0


@needs_facade
@pytest.mark.slow
@pytest.mark.parametrize("overwrite", [False, True])
def test_two_processes_ten_thousand(overwrite):
    res = run_pair(10000, overwrite=overwrite,
                   **({"batch": 600, "buffer_size_kb": 8} if overwrite else {}))
    if overwrite:
        check_accounted(res)
    else:
        check_exactly_once(res)
    print(f"\n{res.events} events, overwrite={overwrite}: {res.rate:,.0f} events/s")
