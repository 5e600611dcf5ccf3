"""The memory model against an independent oracle: sequential consistency by
brute-force interleaving (a few lines of Python, written here, sharing nothing
with rbmap.checker.memmodel).

- Every outcome some interleaving reaches is allowed by LKMM (LKMM is weaker
  than SC, never stronger): a random program's SC states are a subset of
  ``states()``.
- With smp_mb() between every two accesses, LKMM allows exactly the SC
  outcomes: the sets are equal.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbmap.checker.litmus import parse
from rbmap.checker.memmodel import states

LOCS = ("x", "y")

op = st.one_of(
    st.tuples(st.just("W"), st.sampled_from(LOCS), st.integers(1, 2),
              st.sampled_from(["WRITE_ONCE", "smp_store_release"])),
    st.tuples(st.just("R"), st.sampled_from(LOCS),
              st.sampled_from(["READ_ONCE", "smp_load_acquire"])),
    st.tuples(st.just("F"), st.sampled_from(["smp_mb", "smp_wmb", "smp_rmb"])),
    st.tuples(st.just("X"), st.sampled_from(LOCS), st.integers(1, 2),
              st.sampled_from(["xchg", "xchg_relaxed", "xchg_acquire"])),
    st.tuples(st.just("C"), st.sampled_from(LOCS), st.integers(0, 1), st.integers(1, 2),
              st.sampled_from(["cmpxchg", "cmpxchg_relaxed", "cmpxchg_release"])),
    st.tuples(st.just("I"), st.sampled_from(LOCS)),
)
program = st.lists(st.lists(op, min_size=1, max_size=3), min_size=2, max_size=3)


def render(threads, fenced=False) -> str:
    out = ["C random", "", "{}", ""]
    for t, ops in enumerate(threads):
        out.append(f"P{t}(int *x, int *y)")
        out.append("{")
        reg = 0
        for i, o in enumerate(ops):
            if fenced and i:
                out.append("\tsmp_mb();")
            if o[0] == "W":
                arg = f"*{o[1]}" if o[3] == "WRITE_ONCE" else o[1]
                out.append(f"\t{o[3]}({arg}, {o[2]});")
            elif o[0] == "R":
                arg = f"*{o[1]}" if o[2] == "READ_ONCE" else o[1]
                out.append(f"\tint r{reg} = {o[2]}({arg});")
                reg += 1
            elif o[0] == "F":
                out.append(f"\t{o[1]}();")
            elif o[0] == "X":
                out.append(f"\tint r{reg} = {o[3]}({o[1]}, {o[2]});")
                reg += 1
            elif o[0] == "C":
                out.append(f"\tint r{reg} = {o[4]}({o[1]}, {o[2]}, {o[3]});")
                reg += 1
            else:
                out.append(f"\tatomic_inc({o[1]});")
        out.append("}")
        out.append("")
    out.append("exists (true)")
    return "\n".join(out) + "\n"


def sc_states(threads) -> set:
    """Final states of every interleaving: memory is one array, each operation
    atomic, fences do nothing."""
    n = len(threads)
    nregs = [sum(1 for o in ops if o[0] in "RXC") for ops in threads]
    done = set()
    seen = set()
    stack = [((0,) * n, (0, 0), tuple((0,) * k for k in nregs))]
    while stack:
        pcs, mem, regs = stack.pop()
        if (pcs, mem, regs) in seen:
            continue
        seen.add((pcs, mem, regs))
        if all(pcs[t] == len(threads[t]) for t in range(n)):
            state = {}
            for t in range(n):
                for i, v in enumerate(regs[t]):
                    state[f"{t}:r{i}"] = v
            state["x"], state["y"] = mem
            done.add(tuple(sorted(state.items())))
            continue
        for t in range(n):
            if pcs[t] == len(threads[t]):
                continue
            o = threads[t][pcs[t]]
            m = list(mem)
            r = list(regs[t])
            k = sum(1 for p in threads[t][:pcs[t]] if p[0] in "RXC")
            if o[0] == "W":
                m[LOCS.index(o[1])] = o[2]
            elif o[0] == "R":
                r[k] = m[LOCS.index(o[1])]
            elif o[0] == "X":
                j = LOCS.index(o[1])
                r[k], m[j] = m[j], o[2]
            elif o[0] == "C":
                j = LOCS.index(o[1])
                r[k] = m[j]
                if m[j] == o[2]:
                    m[j] = o[3]
            elif o[0] == "I":
                m[LOCS.index(o[1])] += 1
            npcs = pcs[:t] + (pcs[t] + 1,) + pcs[t + 1:]
            nregs_ = regs[:t] + (tuple(r),) + regs[t + 1:]
            stack.append((npcs, tuple(m), nregs_))
    return done


def lkmm_states(text) -> set:
    return {tuple(sorted(s.items())) for s in states(parse(text))}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program)
def test_lkmm_allows_every_sequentially_consistent_outcome(threads):
    sc = sc_states(threads)
    lk = lkmm_states(render(threads))
    assert sc <= lk, sorted(sc - lk)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program.map(lambda ts: [[o for o in ops if o[0] != "F"] or [("I", "x")]
                               for ops in ts]))
def test_full_barriers_everywhere_give_exactly_sequential_consistency(threads):
    assert lkmm_states(render(threads, fenced=True)) == sc_states(threads)


def test_the_oracle_sees_weak_outcomes_as_weak():
    # store buffering: the both-zero outcome is not SC, and LKMM allows it
    sb = [[("W", "x", 1, "WRITE_ONCE"), ("R", "y", "READ_ONCE")],
          [("W", "y", 1, "WRITE_ONCE"), ("R", "x", "READ_ONCE")]]
    both_zero = (("0:r0", 0), ("1:r0", 0), ("x", 1), ("y", 1))
    assert both_zero not in sc_states(sb)
    assert both_zero in lkmm_states(render(sb))
    assert both_zero not in lkmm_states(render(sb, fenced=True))
