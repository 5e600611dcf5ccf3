"""Every primitive, by its own small litmus program (tests/litmus/*.litmus, each
stating its Result), under the Linux kernel memory model; the options that change
a verdict (local_t, the system call barrier) both ways; the witness."""

from pathlib import Path

import pytest

from rbmap.checker.litmus import parse
from rbmap.checker.memmodel import PRIMITIVES, check, states

DIR = Path(__file__).with_name("litmus")
FILES = sorted(DIR.glob("*.litmus"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_program_gets_its_stated_result(path):
    lit = parse(path.read_text())
    assert lit.expected is not None, "every program here states its Result"
    r = check(lit)
    assert r.agrees, (r.verdict, r.flags)


def test_the_programs_cover_every_kind_of_primitive():
    text = "\n".join(p.read_text() for p in FILES)
    used = {name for name in PRIMITIVES if f"{name}(" in text}
    for must in ("READ_ONCE", "WRITE_ONCE", "smp_rmb", "smp_wmb", "smp_mb",
                 "smp_load_acquire", "smp_store_release", "smp_store_mb", "cmpxchg",
                 "cmpxchg_relaxed", "cmpxchg_acquire", "cmpxchg_release", "xchg",
                 "xchg_relaxed", "atomic_inc", "atomic_dec", "atomic_inc_return",
                 "atomic_add_return", "atomic_inc_return_relaxed",
                 "atomic_fetch_add_relaxed", "atomic_set_release", "atomic_read_acquire",
                 "smp_mb__before_atomic", "smp_mb__after_atomic", "local_set",
                 "local_read", "local_inc", "local_add", "local_sub", "local_add_return",
                 "local_cmpxchg", "syscall", "syscall_enter", "syscall_exit",
                 "spin_lock", "spin_unlock", "spin_trylock", "spin_is_locked",
                 "smp_mb__after_spinlock", "smp_mb__after_unlock_lock",
                 "rcu_read_lock", "rcu_read_unlock", "synchronize_rcu",
                 "atomic_load_explicit", "atomic_store_explicit", "atomic_thread_fence",
                 "__atomic_load_n"):
        assert must in used, must


def _lit(name):
    return parse((DIR / f"{name}.litmus").read_text())


def test_local_t_generic_orders_value_returning_ops():
    lit = _lit("local-return-sb")
    assert check(lit).verdict == "Sometimes"
    assert check(lit, local_t="generic").verdict == "Never"
    # void local ops stay relaxed either way (asm-generic: atomic_long_inc)
    assert check(_lit("void-atomic-sb"), local_t="generic").verdict == "Sometimes"


def test_syscall_barrier_is_an_assumption_both_ways():
    lit = _lit("syscall-sb")
    assert check(lit).verdict == "Never"
    assert check(lit, syscall_barrier=False).verdict == "Sometimes"


def test_witness_names_each_read_source_and_the_coherence_order():
    r = check(_lit("once-mp"))
    assert r.verdict == "Sometimes" and r.validated
    ev = {e["code"]: e for e in r.witness["events"]}
    flag = ev["int r0 = READ_ONCE(*ready);"]
    data = ev["int r1 = READ_ONCE(*payload);"]
    assert flag["value"] == 1 and flag["reads_from"] == f"e{ev['WRITE_ONCE(*ready, 1);']['id']}"
    assert data["value"] == 0 and data["reads_from"] == "init payload"
    assert [w["value"] for w in r.witness["coherence"]["payload"]] == [0, 7]
    assert r.witness["registers"][1] == {"r0": 1, "r1": 0}
    assert check(_lit("wmb-rmb-mp")).witness is None


def test_forall_witness_is_a_violating_execution():
    r = check(_lit("is-locked-held"))
    assert r.verdict == "Always" and r.validated and r.witness is None
    lit = parse((DIR / "once-mp.litmus").read_text().replace(
        "exists (1:r0=1 /\\ 1:r1=0)", "forall (1:r0=0 \\/ 1:r1=7)"))
    r = check(lit)
    assert r.verdict == "Sometimes" and not r.validated
    assert r.witness["registers"][1] == {"r0": 1, "r1": 0}


def test_states_lists_every_final_state():
    got = states(_lit("once-mp"))
    assert len(got) == 4
    assert {"1:r0": 1, "1:r1": 0, "payload": 7, "ready": 1} in got
    assert len(states(_lit("wmb-rmb-mp"))) == 3


def test_the_verdict_and_witness_are_deterministic():
    a = check(_lit("plain-mp-race")).to_json()
    b = check(_lit("plain-mp-race")).to_json()
    a.pop("seconds"), b.pop("seconds")
    assert a == b and a["flags"] == ["data-race"]
