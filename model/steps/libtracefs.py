"""A process reading with libtracefs 1.8.3 (``--client libtracefs``, Debian
1.8.3-1): tracefs_cpu_open_mapped, then tracefs_cpu_read_buf (nonblocking) in a
loop, the caller walking each returned kbuffer with kbuffer_read_event /
kbuffer_next_event, and tracefs_cpu_close. These steps stand instead of the
documented client's read_meta/read_event/page_done/ioctl; map, unmap, exit and
fork are the processes' (model/steps/procs.py). ``ltf_phase[i]`` says where
tracefs_cpu_read_buf is (``L_*``), ``ltf_skip[i]`` tmap->kbuf's read index.

Left out: tracefs_cpu_read (tfs_mmap_read copies from tmap->kbuf, whose read
index is its own), blocking reads and their select, error paths, the
sub-buffer header's time stamp. Every load from the meta page is merged with
the page load that follows it (only GET_READER, a map or a reset changes the
meta page, and they are steps of their own).
"""

from __future__ import annotations

from rbmap.checker.steps import require, step

from ..state import (L_CALL, L_IOCTL_MORE, L_IOCTL_NEXT, L_ITER, L_RELOAD, L_UNLOADED,
                     P_MAPPED, P_READING)
from .kernel import get_reader
from .procs import load_event, load_ok, meta_reader_page, syscall_ok


def iter_end(m, s, i):
    """kbuffer_next_event skips the padding: at the last event slot the kbuffer
    is at its end, and the read_buf call has been walked."""
    if s.proc_pos[i] >= min(s.proc_limit[i], m.K):
        s.proc_pos[i] = s.proc_limit[i]
        s.ltf_phase[i] = L_CALL


def ltf_load(m, s, i, page, skip):
    """kbuffer_load_subbuffer on ``page`` (loads its commit: the kbuffer's
    size), then past ``skip`` events; the caller iterates what is left."""
    commit = s.page_commit[page]
    s.proc_page[i] = page
    s.proc_base[i] = s.page_base[page]
    s.proc_limit[i] = commit
    s.proc_pos[i] = min(skip, commit)
    s.ltf_phase[i] = L_ITER
    iter_end(m, s, i)


@step("p")
def mmap_setup(m, s, i):
    """tfs_mmap after its two mmaps: loads reader.id and loads that sub-buffer
    into the mapping's own kbuffer (tmap->kbuf); if reader.read is not 0 it
    moves that kbuffer past the events below it (kept: ltf_skip)."""
    require(s.proc_phase[i] == P_MAPPED and load_ok(m, s, i))
    s.ltf_skip[i] = s.meta_reader_read
    s.ltf_phase[i] = L_UNLOADED
    s.proc_phase[i] = P_READING


@step("p")
def read_buf(m, s, i):
    """tfs_mmap_load_subbuf up to its GET_READER or its return: loads reader.id;
    if tcpu->kbuf is not on that sub-buffer, loads it and moves past ltf_skip
    events, then returns it (no GET_READER, whatever lies beyond reader.read).
    Else kbuffer_refresh loads the commit; events left: it calls GET_READER
    when the next event ends at or beyond reader.read (kbuffer_curr_offset
    counts the sub-buffer header, reader.read does not), then returns it; no
    events left: GET_READER."""
    lph = s.ltf_phase[i]
    require(s.proc_phase[i] == P_READING and load_ok(m, s, i))
    require(lph == L_CALL or lph == L_UNLOADED)
    page = meta_reader_page(m, s)
    if lph == L_UNLOADED or page != s.proc_page[i]:
        # "If kbuf doesn't point to the current sub-buffer just load it and
        # return", moved forward by tmap->kbuf's read index
        ltf_load(m, s, i, page, s.ltf_skip[i])
        return
    commit = s.page_commit[page]        # kbuffer_refresh
    s.proc_limit[i] = commit
    pos = s.proc_pos[i]
    if pos < min(commit, m.K):
        s.ltf_phase[i] = L_IOCTL_MORE if pos + 1 >= s.meta_reader_read else L_ITER
    else:
        s.proc_pos[i] = commit
        s.ltf_phase[i] = L_IOCTL_NEXT


@step("p", name="read_event")
def ltf_read_event(m, s, i):
    """The caller's kbuffer_read_event / kbuffer_next_event: one event of the
    returned kbuffer, whose size is the commit loaded above, not the live one;
    the padding is skipped."""
    require(s.proc_phase[i] == P_READING and load_ok(m, s, i))
    require(s.ltf_phase[i] == L_ITER)
    load_event(m, s, i, s.proc_page[i], s.proc_pos[i])
    iter_end(m, s, i)


@step("p")
def reload(m, s, i):
    """After the "no more events" GET_READER: loads reader.id; the same
    sub-buffer: returns 0 (no data, EAGAIN); else loads the new one
    (kbuffer_load_subbuffer: its commit) from offset 0 and returns it."""
    require(s.proc_phase[i] == P_READING and load_ok(m, s, i))
    require(s.ltf_phase[i] == L_RELOAD)
    page = meta_reader_page(m, s)
    if page == s.proc_page[i]:
        s.ltf_phase[i] = L_CALL
    else:
        ltf_load(m, s, i, page, 0)


@step("p", name="ioctl")
def ltf_ioctl(m, s, i):
    """The library's GET_READER (kernel.get_reader; fine: then ioctl_meta)."""
    lph = s.ltf_phase[i]
    require(s.proc_phase[i] == P_READING and syscall_ok(m, s))
    require(lph == L_IOCTL_MORE or lph == L_IOCTL_NEXT)
    rc = get_reader(m, s, s.proc_pos[i])
    if rc == 0 and m.ioctl_refresh:
        s.in_get_reader = i + 1
    if rc != 0:
        s.ltf_phase[i] = L_CALL       # returns -1
    elif lph == L_IOCTL_MORE:
        s.ltf_phase[i] = L_ITER
    else:
        s.ltf_phase[i] = L_RELOAD
