"""The generic z3 helpers of rbmap.checker.symbolic, on toy claims."""

import pytest
import z3

from rbmap.checker import symbolic as sym


def test_prove_holds_and_refutes_with_the_least_counterexample():
    x, y = sym.bv("x", 16), sym.bv("y", 16)
    assert isinstance(sym.prove(sym.ULE(x & 0xFF, 255), variables=[x]), sym.Proved)
    # x + y wraps at 2^16: the least x (then y) where the sum is below x.
    r = sym.prove(sym.UGE(x + y, x), assumptions=[sym.ULE(x, 1000)],
                  variables=[x, y, ("sum", x + y)], minimize=[x, y])
    assert isinstance(r, sym.Refuted)
    assert r.counterexample == {"x": 1, "y": 65535, "sum": 0}


def test_minimize_is_lexicographic():
    a, b = sym.bv("a", 8), sym.bv("b", 8)
    # Violations: a * b == 12 with a, b >= 2 (no overflow below 16 each).
    claim = z3.Not(z3.And(a * b == 12, sym.UGE(a, 2), sym.UGE(b, 2)))
    r = sym.prove(claim, assumptions=[sym.ULE(a, 15), sym.ULE(b, 15)],
                  variables=[a, b], minimize=[b, a])
    assert r.counterexample == {"a": 6, "b": 2}
    r = sym.prove(claim, assumptions=[sym.ULE(a, 15), sym.ULE(b, 15)],
                  variables=[a, b], minimize=[a, b])
    assert r.counterexample == {"a": 2, "b": 6}


def test_integers_and_timeout_give_unknown_not_a_verdict():
    n, k = sym.integer("n"), sym.integer("k")
    r = sym.prove((k + n) % n < n, assumptions=[n >= 1, k >= 0], variables=[n, k])
    assert isinstance(r, sym.Proved)
    r = sym.prove((k + n) % n < k, assumptions=[n >= 1, k >= 0], variables=[n, k],
                  minimize=[n, k])
    assert r.counterexample == {"n": 1, "k": 0}
    # Factoring a 62-bit semiprime is not settled in 1 ms: Unknown, not a verdict.
    x, y = sym.bv("x", 64), sym.bv("y", 64)
    semiprime = 2147483647 * 2147483629
    r = sym.prove(x * y != semiprime,
                  assumptions=[sym.in_range(x, 2, 1 << 32), sym.in_range(y, 2, 1 << 32)],
                  variables=[x, y], timeout_ms=1)
    assert isinstance(r, sym.Unknown) and r.holds is None


def test_split_proves_per_value_and_reports_the_first_failing_value():
    o, x = sym.bv("o", 8), sym.bv("x", 32)
    shift = z3.ZeroExt(24, o)
    claim = sym.ULT(z3.LShR(x, shift), 1 << 28)          # false for o < 4
    base = [sym.ULE(o, 7)]
    r = sym.prove(claim, assumptions=base, variables=[o, x], minimize=[x],
                  split=(o, range(7, -1, -1)))
    assert isinstance(r, sym.Refuted)
    assert r.counterexample["o"] == 3 and r.counterexample["x"] == 1 << 31
    ok = sym.prove(sym.ULT(z3.LShR(x, shift), 1 << 29), assumptions=base + [sym.UGE(o, 3)],
                   variables=[o, x], split=(o, range(3, 8)))
    assert isinstance(ok, sym.Proved)
    with pytest.raises(ValueError):          # o may be 0..2 here: split must cover it
        sym.prove(claim, assumptions=base, variables=[o], split=(o, range(3, 8)))


def test_enumerate_values_blocks_each_value_and_says_when_incomplete():
    x = sym.bv("x", 8)
    f = z3.And(z3.URem(x, 7) == 3, sym.ULT(x, 40))
    values, complete = sym.enumerate_values(f, x, limit=100)
    assert complete and values == [v for v in range(40) if v % 7 == 3]
    values, complete = sym.enumerate_values(f, x, limit=2)
    assert not complete and len(values) == 2 and all(v % 7 == 3 for v in values)


def test_value_ranges_match_brute_force():
    x = sym.bv("x", 32)
    # "x's lowest 4 bits are above 9, or x is in 100..130": runs of a few values.
    pred = z3.Or(sym.UGT(x & 15, 9), sym.in_range(x, 100, 130))
    runs, complete = sym.value_ranges(pred, x, 0, 200)
    assert complete
    want, start = [], None
    for v in range(202):
        hit = v <= 200 and ((v & 15) > 9 or 100 <= v <= 130)
        if hit and start is None:
            start = v
        if not hit and start is not None:
            want.append((start, v - 1))
            start = None
    assert runs == want
    y = sym.bv("y", 32)
    with pytest.raises(ValueError):
        sym.value_ranges(sym.ULT(x, y), x, 0, 10)


def test_free_constants_and_evaluate():
    x, y = sym.bv("x", 8), sym.bv("y", 8)
    t = z3.If(sym.ULT(x, y), x + 1, y * 2)
    assert [c.decl().name() for c in sym.free_constants(t)] == ["x", "y"]
    assert sym.evaluate(t, {"x": 3, "y": 5}) == 4
    assert sym.evaluate(t, {"x": 201, "y": 200}) == 144     # 400 mod 256
    assert sym.evaluate(sym.ULT(x, y), {"x": 1, "y": 1}) is False


def test_ctrl_c_during_a_solve_is_an_interrupt_not_an_unknown():
    """A Ctrl-C while z3 solves interrupts the solve at once and raises
    KeyboardInterrupt. (z3's own handler answered unknown, "interrupted from
    keyboard", which `rbmap abi` printed as a check z3 gave up on before carrying
    on, or lost the signal when the check finished anyway.)"""
    import os
    import signal
    import threading
    import time

    x, y = sym.bv("x", 128), sym.bv("y", 128)
    # 16263406447356900581 * 14048371414229151271: two 64-bit primes, a factoring
    # z3 does not finish in seconds
    n = 0xABE2905AD622AEBF577042971A3834E3
    claim = z3.Not(z3.And(x * y == n, sym.UGT(x, 1), sym.UGT(y, 1),
                          sym.ULT(x, 1 << 64), sym.ULT(y, 1 << 64)))
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    t = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sym.prove(claim, variables=[x, y])
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, saved)
    assert time.monotonic() - t < 30


def test_a_stop_request_interrupts_a_solve_at_once():
    """Inside stop_on_sigint (rbmap compare) the first Ctrl-C is a stop request:
    it interrupts the solve too."""
    import threading
    import time

    from rbmap.checker import interrupt
    x, y = sym.bv("x", 128), sym.bv("y", 128)
    n = 0xABE2905AD622AEBF577042971A3834E3
    claim = z3.Not(z3.And(x * y == n, sym.UGT(x, 1), sym.UGT(y, 1),
                          sym.ULT(x, 1 << 64), sym.ULT(y, 1 << 64)))
    t = time.monotonic()
    with interrupt.stop_on_sigint():
        timer = threading.Timer(0.5, interrupt.request)
        timer.start()
        with pytest.raises(interrupt.Interrupted):
            sym.prove(claim, variables=[x, y])
    assert time.monotonic() - t < 30
