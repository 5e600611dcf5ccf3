"""The kernel's own litmus tests (tools/memory-model/litmus-tests and
Documentation/litmus-tests of linux-source-6.12), fetched from Debian at test time
into ~/.cache/rbmap/linux-source (never copied here): rbmap agrees with the Result
every one of them states, and parses all of them.

Marked ``kernelsrc`` (``pytest -m kernelsrc``): the first run downloads a 150 MB
package; it is skipped, with the reason, when the package cannot be had.
"""

import pytest

from rbmap.checker.litmus import parse
from rbmap.checker.memmodel import check

pytestmark = pytest.mark.kernelsrc


@pytest.fixture(scope="module")
def kernel_tests():
    from rbmap.kernel import KernelError
    from rbmap.kernel_litmus import fetch, test_files
    try:
        d, info = fetch(log=lambda m: None)
    except KernelError as exc:
        pytest.skip(f"the kernel's litmus tests cannot be had: {exc}")
    return info, test_files(d, info)


def test_every_kernel_litmus_test_parses_and_agrees(kernel_tests):
    info, files = kernel_tests
    tools = [f for f in files if "/tools/memory-model/" in str(f)]
    assert len(tools) == 35 and len(files) == 47, (info, len(files))
    disagree = []
    for f in files:
        lit = parse(f.read_text())
        assert lit.expected is not None, f
        r = check(lit)
        if not r.agrees:
            disagree.append((f.name, lit.expected, r.verdict, r.flags))
    assert not disagree


def test_local_t_and_syscall_options_change_no_kernel_verdict(kernel_tests):
    # the kernel's tests use neither local_t nor system calls
    _, files = kernel_tests
    for f in files[:35]:
        lit = parse(f.read_text())
        assert check(lit, local_t="generic", syscall_barrier=False).agrees, f.name
