"""``rbmap fuzz --on impl,kernel`` against Linux 6.12 under qemu (``pytest -m kernel``).

One seed, 100 programs in one boot: every program must run on the kernel, and impl
must agree with it on everything both observe (a difference is shrunk and printed
in the failure message, ready for specs/scenarios/).  impl-only problems (its own
invariants) are tests/test_fuzz.py's business.
"""

from __future__ import annotations

import pytest

from rbmap import fuzz as fz
from rbmap import kernel as k

pytestmark = pytest.mark.kernel

# kernel differences that a change under way removes: signature -> why
KNOWN_KERNEL: dict[str, str] = {}


@pytest.fixture(scope="module")
def state():
    st = k.load_state()
    if st is None:
        pytest.skip(f"kernel not set up in {k.cache_dir()}: run `rbmap kernel setup`")
    return st


def test_fuzz_impl_agrees_with_the_kernel(state):
    logs: list[str] = []
    rep = fz.Fuzzer(0, ["impl", "kernel"], budget=900, batch=100, max_programs=100,
                    shrink_rounds=4, log=logs.append).run()
    assert rep.uname_r == state.release
    assert rep.kernel_programs + rep.skipped == 100 and rep.skipped == 0
    bad = [d for d in rep.differences if d.kind == "kernel"
           and d.signature not in KNOWN_KERNEL]
    assert not bad, "\n\n".join(d.scenario_text(f"fuzz_0_{i}") for i, d in enumerate(bad))
