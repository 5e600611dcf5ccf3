"""The reader library in one OS process, the kernel side + writer in another.

Overwrite off (producer/consumer): every event arrives exactly once, in order.
Overwrite on: delivered + reported lost = written, and each reported loss is exactly
the gap in sequence numbers in front of the page that carries it.
"""

import importlib.util
import os

import pytest

from rbmap.impl.userlib import run_pair

from test_impl_user_fake import FakeInstance

HAVE_FACADE = importlib.util.find_spec("rbmap.impl.tracefs") is not None
needs_facade = pytest.mark.skipif(not HAVE_FACADE, reason="rbmap.impl.tracefs not there")


def check_exactly_once(res):
    assert res.status["pid"] != os.getpid()     # the writer ran in another process
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


def _two_readers(n, from_page_start, factory=None):
    """Reader A reads a little and leaves; reader B maps and reads the rest."""
    import os
    import tempfile

    from rbmap.impl.shm import WriterConfig, spawn_kernel_side
    from rbmap.impl.userlib import TraceReader

    with tempfile.TemporaryDirectory() as tmp:
        backing = os.path.join(tmp, "buf")
        proc, chan = spawn_kernel_side(backing, WriterConfig(events=n, batch=40),
                                       factory)
        try:
            a = TraceReader(chan, backing)
            assert a.open() == 0 and a.map() == 0
            chan.call(call="start")
            for _ in range(3):
                a.step()
            a.finish()
            a_pos = a.pos
            assert a.unmap() == 0 and a.close() == 0
            b = TraceReader(chan, backing, from_page_start=from_page_start)
            assert b.open() == 0 and b.map() == 0
            b_start = b.pos
            while True:
                done = chan.call(call="status")["done"]
                if b.drain() == 0 and done:
                    break
            b.unmap()
            b.close()
            chan.call(call="bye")
        finally:
            chan.close()
            proc.join(10)
    return a.log.seqs, b.log.seqs, a_pos, b_start


@pytest.mark.parametrize("factory", [pytest.param(None, marks=needs_facade), FakeInstance],
                         ids=["impl", "fake"])
def test_second_reader_starts_at_reader_read(factory):
    """The duplicate read fixed: B starts where the kernel's reader position is, nothing twice."""
    a, b, a_pos, b_start = _two_readers(1000, False, factory)
    assert a and b_start == a_pos > 0
    assert a + b == list(range(1000))


@needs_facade
def test_reader_from_page_start_reads_twice():
    """The seed's reader (no reader.read): B reads A's events on that page again."""
    a, b, a_pos, b_start = _two_readers(1000, True)
    assert b_start == 0
    dup = set(a) & set(b)
    assert dup and len(dup) == a_pos // 32
    assert sorted(set(a) | set(b)) == list(range(1000))


@needs_facade
@pytest.mark.parametrize("layout", ["6.12", "6.10"])
def test_eight_kib_sub_buffers(layout):
    """6.12: meta_page_size = 8192 > a page, so the reader maps the meta area again
    with its full size (§1.6 step 1); 6.10: the meta area stays one page."""
    res = run_pair(1500, overwrite=False, subbuf_size_kb=8, buffer_size_kb=32,
                   layout=layout)
    check_exactly_once(res)
    assert res.final_meta["subbuf_size"] == 8192
    assert res.final_meta["meta_page_size"] == (8192 if layout == "6.12" else 4096)
