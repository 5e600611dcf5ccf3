"""Failure atomicity on impl: every refused system call leaves all kernel state as
it was (``rbmap.impl.invariants.kernel_state``: meta page bytes, page IDs,
counters, every sub-buffer's bytes, ``mapped``/``user_mapped``, resize_disabled,
tr->mapped, the snapshot user count, VMAs, open files), and what a mapping refuses
works again once nothing is mapped.  The kernel side of the same paths is
specs/scenarios/refusals.scn (recorded on 6.12.117)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbmap.impl.invariants import CheckedInstance, diff_states, kernel_state
from rbmap.impl.scenario import load, run_parsed
from rbmap.impl.tracefs import PROT_EXEC, PROT_READ, PROT_WRITE

SCEN = Path(__file__).resolve().parent.parent / "specs" / "scenarios"
SCN = [sc for f in ("refusals.scn", "refused_then_allowed.scn", "refused_cpu_boot.scn")
       for sc in load(SCEN / f)]
EINVAL, EACCES, EBUSY, EPERM, ENODEV, ENOTTY, EINTR = -22, -13, -16, -1, -19, -25, -4

# UPSTREAM.md 1.3 numbering; (name, errno, call(inst, fd))
MMAP_REFUSALS = [
    ("1 unaligned offset", EINVAL, lambda i, fd: i.mmap(fd, 4096, 100)),
    ("2 PROT_WRITE on O_RDONLY", EACCES,
     lambda i, fd: i.mmap(fd, 4096, 0, prot=PROT_READ | PROT_WRITE)),
    ("6 PROT_EXEC", EPERM, lambda i, fd: i.mmap(fd, 4096, 0, prot=PROT_READ | PROT_EXEC)),
    ("6 MAP_PRIVATE", EPERM, lambda i, fd: i.mmap(fd, 4096, 0, shared=False)),
    ("8 length 0", EINVAL, lambda i, fd: i.mmap(fd, 0, 0)),
    ("8 too long", EINVAL, lambda i, fd: i.mmap(fd, 8 * 4096, 0)),
    ("8 offset past the end", EINVAL, lambda i, fd: i.mmap(fd, 4096, 7 * 4096)),
]
OTHER_REFUSALS = [
    ("resize while mapped", EBUSY,
     lambda i, fd: i.write_file("per_cpu/cpu0/buffer_size_kb", "32")),
    ("all-CPU resize while mapped", EBUSY, lambda i, fd: i.write_file("buffer_size_kb", "16")),
    ("order change while mapped", EBUSY, lambda i, fd: i.write_file("buffer_subbuf_size_kb", "8")),
    ("snapshot while mapped", EBUSY, lambda i, fd: i.write_file("snapshot", "1")),
    ("snapshot trigger while mapped", EBUSY,
     lambda i, fd: i.write_file("events/sched/sched_switch/trigger", "snapshot")),
    ("unknown ioctl", ENOTTY, lambda i, fd: i.ioctl(fd, 0x5221)),
]


def _state(mapped: bool, nonblock: bool = True, markers: int = 300):
    inst = CheckedInstance()
    fd = inst.open(nonblock=nonblock)
    for k in range(markers):
        inst.write_marker(b"x" * (k % 40))
    vmas = []
    if mapped:
        for length, off in ((4096, 0), (6 * 4096, 4096)):
            rc, v = inst.mmap(fd, length, off)
            assert rc == 0
            vmas.append(v)
        assert inst.ioctl(fd, inst.GET_READER) == 0
    return inst, fd, vmas


@pytest.mark.parametrize("mapped", [False, True], ids=["first-map", "further-map"])
@pytest.mark.parametrize("name,errno,call", MMAP_REFUSALS, ids=[r[0] for r in MMAP_REFUSALS])
def test_refused_mmap_changes_nothing_and_mapping_works_after(mapped, name, errno, call):
    inst, fd, vmas = _state(mapped)
    before = kernel_state(inst)
    rc, vma = call(inst, fd)
    assert rc == errno and vma is None
    assert diff_states(before, kernel_state(inst)) == []
    assert inst.atomicity_violations == []
    for v in vmas:
        assert inst.munmap(v) == 0
    # nothing leaked: the resize a mapping refuses works after the last unmap
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "32") == 0
    rc, v = inst.mmap(fd, 4096, 0)
    assert rc == 0 and inst.munmap(v) == 0


@pytest.mark.parametrize("name,errno,call", OTHER_REFUSALS, ids=[r[0] for r in OTHER_REFUSALS])
def test_refused_while_mapped_changes_nothing_and_works_after_unmap(name, errno, call):
    inst, fd, vmas = _state(True)
    before = kernel_state(inst)
    assert call(inst, fd) == errno
    assert diff_states(before, kernel_state(inst)) == []
    for v in vmas:
        assert inst.munmap(v) == 0
    if errno == EBUSY:
        assert call(inst, fd) == 0, f"{name} still refused after the last unmap"


# checks 3 and 5 on a file other than the mapped one; (name, errno, file, mmap args)
OTHER_FILE_REFUSALS = [
    ("3 boot-mapped", ENODEV, "boot", {}),
    ("3 before 6", ENODEV, "boot", {"prot": PROT_READ | PROT_EXEC}),
    ("1 before 3", EINVAL, "boot", {"offset": 100}),
    ("2 before 3", EACCES, "boot", {"prot": PROT_READ | PROT_WRITE}),
    ("5 no cpu_buffer", EINVAL, "cpu1", {}),
    ("5 before 6", EINVAL, "cpu1", {"shared": False}),
    ("2 before 5", EACCES, "cpu1", {"prot": PROT_READ | PROT_WRITE}),
]


@pytest.mark.parametrize("mapped", [False, True], ids=["unmapped", "mapped"])
@pytest.mark.parametrize("name,errno,which,kw", OTHER_FILE_REFUSALS,
                         ids=[r[0] for r in OTHER_FILE_REFUSALS])
def test_refused_mmap_of_boot_instance_or_absent_cpu(mapped, name, errno, which, kw):
    inst, fd, vmas = _state(mapped)
    if which == "boot":
        target = CheckedInstance()
        target.boot_mapped = True
        tfd = target.open(nonblock=True)
    else:
        target, tfd = inst, inst.open(nonblock=True, cpu=1)
    before = kernel_state(inst), kernel_state(target)
    args = {"offset": 0, **kw}
    rc, vma = target.mmap(tfd, 4096, args.pop("offset"), **args)
    assert (rc, vma) == (errno, None)
    assert (kernel_state(inst), kernel_state(target)) == before
    assert target.mapped == 0 or target is inst and inst.mapped == len(vmas)
    for v in vmas:
        assert inst.munmap(v) == 0
    # tr->mapped went back: what a mapping refuses works
    assert inst.write_file("snapshot", "1") == 0
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "32") == 0


def test_cpu_files_exist_for_possible_cpus_only():
    from rbmap.impl.tracefs import POSSIBLE_CPUS
    inst = CheckedInstance()
    assert inst.open(cpu=POSSIBLE_CPUS - 1) > 0
    assert inst.open(cpu=POSSIBLE_CPUS) == -2          # ENOENT
    assert POSSIBLE_CPUS - 1 not in inst.array_buffer.cpumask


def test_refused_ioctls_consume_nothing():
    inst, fd, _ = _state(False, nonblock=False, markers=10)   # below the watermark
    for cmd, errno in ((inst.GET_READER, EINTR), (0x5221, ENOTTY)):
        before = kernel_state(inst)
        assert inst.ioctl(fd, cmd) == errno
        assert diff_states(before, kernel_state(inst)) == []
    nb = inst.open(nonblock=True)
    before = kernel_state(inst)
    assert inst.ioctl(nb, inst.GET_READER) == ENODEV
    assert diff_states(before, kernel_state(inst)) == []


def test_refused_vma_operations_change_nothing():
    inst, fd, (meta, data) = _state(True)
    for call in (lambda: inst.munmap(data, 0, 4096), lambda: inst.mprotect(meta, 3),
                 lambda: inst.mremap(meta, 8192)):
        before = kernel_state(inst)
        assert call() < 0
        assert diff_states(before, kernel_state(inst)) == []


@pytest.mark.parametrize("sc", SCN, ids=lambda sc: sc.name)
def test_refusals_scenario_on_impl(sc):
    insts = []

    def factory(**kw):
        insts.append(CheckedInstance(**kw))
        return insts[-1]

    out = run_parsed([sc], instance_factory=factory)
    refused = [o for o in out if o.get("rc", 0) < 0 and o["op"] != "read_raw"]
    assert refused, "the scenario refuses something"
    # (trymap_boot's refusals are the boot-mapped instance's, a second one)
    assert sum(i.refused_calls for i in insts) >= len(refused)
    assert [v for i in insts for v in i.atomicity_violations] == []


def test_kernel_state_sees_what_a_refusal_could_leak():
    """Teeth: each part of the snapshot changes when the state does."""
    inst, fd, (meta, data) = _state(True)
    base = kernel_state(inst)
    inst.cpu_buffer.resize_disabled += 1
    assert any("resize_disabled" in d for d in diff_states(base, kernel_state(inst)))
    inst.cpu_buffer.resize_disabled -= 1
    inst.mapped += 1
    assert any("tr.mapped" in d for d in diff_states(base, kernel_state(inst)))
    inst.mapped -= 1
    inst.cpu_buffer.subbuf_ids[1].page.buf[40] ^= 1
    assert any(".bytes" in d for d in diff_states(base, kernel_state(inst)))
    inst.cpu_buffer.subbuf_ids[1].page.buf[40] ^= 1
    inst.cpu_buffer.meta_page.buf[24] ^= 1
    assert any("meta_page" in d for d in diff_states(base, kernel_state(inst)))
    inst.cpu_buffer.meta_page.buf[24] ^= 1
    assert diff_states(base, kernel_state(inst)) == []


def test_checked_instance_catches_a_non_atomic_refusal(monkeypatch):
    """Teeth: a resize that changes the ring before it finds it is mapped."""
    from rbmap.impl import ringbuf

    orig = ringbuf._resize_locked

    def leaky(buffer, nr_pages, cpu_id):
        buffer.buffers[0].overrun.value += 1
        return (yield from orig(buffer, nr_pages, cpu_id))

    monkeypatch.setattr(ringbuf, "_resize_locked", leaky)
    inst, fd, _ = _state(True)
    assert inst.write_file("per_cpu/cpu0/buffer_size_kb", "32") == EBUSY
    [(call, diff)] = inst.atomicity_violations
    assert call.startswith("write_file(") and any("overrun" in d for d in diff)
