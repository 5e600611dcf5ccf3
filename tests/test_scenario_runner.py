"""The scenario runner's mechanics (FORMAT.md output contract), on the small fake."""

import errno

import pytest

from rbmap.impl.scenario import run_scenarios

from test_impl_user_fake import PAGE, FakeInstance


def run(text, factory=FakeInstance):
    return run_scenarios(text, instance_factory=factory)


def test_output_shape_and_step_numbering():
    out = run("scenario a\nopen\nmarkers 2\nmap\nioctl\npage\nscenario b\nmeta\n")
    assert [(o["scenario"], o["step"], o["op"]) for o in out] == [
        ("a", 1, "scenario"), ("a", 2, "open"), ("a", 3, "markers"), ("a", 4, "map"),
        ("a", 5, "ioctl"), ("a", 6, "page"), ("b", 1, "scenario"), ("b", 2, "meta")]
    for o in out:
        assert list(o)[:5] == ["step", "scenario", "op", "args", "rc"]
    assert out[0]["args"] == ["a"] and out[2]["args"] == ["2"]
    meta = out[4]["meta"]
    assert meta["reader"] == {"lost_events": 0, "id": 1, "read": 64}
    assert (meta["entries"], meta["read"], meta["nr_subbufs"]) == (2, 2, 6)
    page = out[5]["page"]
    assert page["id"] == 1 and page["commit"] == 64
    assert page["events"] == [{"offset": 0, "type": "data", "length": 32},
                              {"offset": 32, "type": "data", "length": 32}]
    assert "meta" not in out[2] and "page" not in out[4]


def test_map_follows_libtracefs():
    insts = []

    def factory(**kw):
        insts.append(FakeInstance(**kw))
        return insts[-1]

    run("scenario a\nopen\nmap\n", factory)
    mm = [c for c in insts[0].calls if c[0] == "mmap"]
    # one page at 0 (the meta page), then nr_subbufs * subbuf_size at meta_page_size
    assert mm == [("mmap", PAGE, 0), ("mmap", 6 * PAGE, PAGE)]
    # at the end of the scenario everything is unmapped, most recent first
    assert [c for c in insts[0].calls if c[0] == "munmap"] == [
        ("munmap", 6 * PAGE, PAGE), ("munmap", PAGE, 0)]
    assert insts[0].fds == set()


def test_missing_fd_and_mapping():
    out = run("scenario a\nclose\nmap\nioctl\nioctl_raw 0\nread_raw 4096\n"
              "trymap 4096 0 r shared\nunmap\nmeta\npage\npartial_munmap\n"
              "mprotect_write\nmremap_grow\nfork\ndofork_fork\n")
    rcs = {o["op"]: o["rc"] for o in out[1:]}
    for op in ("close", "map", "ioctl", "ioctl_raw", "read_raw", "trymap"):
        assert rcs[op] == -errno.EBADF, op
    assert rcs["unmap"] == -errno.EINVAL
    for op in ("meta", "page", "partial_munmap", "mprotect_write", "mremap_grow",
               "dofork_fork"):
        assert rcs[op] == -errno.EFAULT, op
    fork = [o for o in out if o["op"] == "fork"][0]
    assert fork["rc"] == 0 and fork["child_mapped"] is False


def test_page_id_out_of_range_and_explicit_id():
    out = run("scenario a\nopen\nmarkers 1\nmap\npage 6\npage 1\npage 5\n")
    assert out[4]["rc"] == -errno.EINVAL and "page" not in out[4]
    assert out[5]["page"]["id"] == 1 and len(out[5]["page"]["events"]) == 1
    assert out[6]["page"]["events"] == []


def test_ioctl_errnos_and_second_mapping():
    out = run("scenario a\nopen nonblock\nioctl\nioctl_raw 0x1234\nioctl_raw 0\n"
              "map\nmap\nunmap\nioctl\n")
    assert [o["rc"] for o in out[2:5]] == [-errno.ENODEV, -errno.ENOTTY, 0]
    # a second map is a second user mapping; after one unmap the ioctl still works
    assert out[-1]["rc"] == 0 and "meta" in out[-1]


def test_open_replaces_the_fd():
    insts = []

    def factory(**kw):
        insts.append(FakeInstance(**kw))
        return insts[-1]

    out = run("scenario a\nopen\nopen rdwr\nclose\nclose\n", factory)
    assert [o["rc"] for o in out[1:]] == [0, 0, 0, -errno.EBADF]
    assert insts[0].fds == set()


def test_warn_per_step_and_kmsg_object_for_the_clean_up():
    """Every step carries the kernel log records its operation printed; what the
    end-of-scenario clean-up prints comes in a kmsg object."""
    out = run_scenarios("scenario a\nopen nonblock\nmarkers 10\nmap\nioctl\n"
                        "dofork_fork\nunmap\nmap\ndofork_fork\n")
    assert all(o["warn"] == [] for o in out[:6])
    assert list(out[1])[-1] == "warn"
    mmap_close = {"kind": "WARNING", "function": "tracing_buffers_mmap_close",
                  "message": ""}
    assert out[6]["op"] == "unmap" and out[6]["warn"] == [mmap_close]
    assert out[-1] == {"scenario": "a", "op": "kmsg", "warn": [mmap_close]}
    assert "warn" not in [o["op"] for o in run("scenario a\nopen\n")]


def test_warn_from_a_facade_with_log_lines_only():
    class Warned(FakeInstance):
        def kmsg(self):
            return ["WARNING: something"]

    out = run("scenario a\nopen\n", Warned)
    assert out[0]["warn"] == [{"kind": "WARNING", "function": "",
                               "message": "WARNING: something"}]
    assert out[1]["warn"] == [] and out[-1]["op"] == "open"


def test_markers_rc_is_the_first_failure():
    out = run_scenarios("scenario a\nmarkers 1000\n",
                        instance_factory=lambda **kw: FakeInstance(**dict(kw, overwrite=False)))
    assert out[1]["rc"] == -errno.EBADF


def test_bad_abi_and_layout():
    with pytest.raises(ValueError):
        run_scenarios("scenario a\n", abi="v3", instance_factory=FakeInstance)
    with pytest.raises(ValueError):
        run_scenarios("scenario a\n", layout="6.11", instance_factory=FakeInstance)


def test_a_fault_on_a_user_read_is_reported_not_raised():
    class Fault(Exception):
        signal = "SIGBUS"

    class Faulting(FakeInstance):
        def mmap(self, *a, **kw):
            rc, vma = super().mmap(*a, **kw)
            if vma is not None and vma.offset > 0:
                def read(off, n):
                    raise Fault("no page there")
                vma.read = read
            return rc, vma

    out = run("scenario a\nopen\nmap\npage\nmeta\n", Faulting)
    assert out[3]["rc"] == -errno.EFAULT and out[3]["signal"] == "SIGBUS"
    assert out[4]["rc"] == 0 and "meta" in out[4]


def test_description_keeps_paragraphs():
    from rbmap.impl.scenario import parse
    (s,) = parse("scenario a\n# first\n#\n# second\n#\nmap\n")
    assert s.description == ["first", "", "second"]
