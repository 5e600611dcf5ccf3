"""The seed's non-consuming reader (``nc0``, --nc-readers 1): it maps the buffer,
calls the update ioctl, then reads every ring page in data_pages[] order from
data_page_head in place, up to its commit, without consuming; its check after
each page (nc_check, data_index) drops a page that changed under it."""

from __future__ import annotations

from rbmap.checker.steps import require, step

from ..state import (F_NC_TORN, G_NC_DISCARD, NC_IDLE, NC_LIST, NC_OPEN, NC_PAGE,
                     NC_START)
from .kernel import update_meta_page
from .procs import map_buffer

#: rule nc_check as a number
NC_CHECK = {"none": 0, "commit": 1, "commit_stamp": 2}


def nc_ok(m, s, ph):
    """nc0 is at ``ph`` and no GET_READER nor last unmap holds the locks."""
    return s.in_get_reader == 0 and s.unmap_waits == 0 and s.nc_phase == ph


def nc_page_changed(m, s, page):
    """The reader's check after copying a page (its loads of the writer counter,
    the commit field, the time stamp, after an smp_rmb()). ``data_index``:
    data_index[id].cnt moved since the page was opened. ``nc_check = commit``:
    the commit field is below the largest value the reader loaded from it on
    this page. ``commit_stamp``: that, or the page's time stamp is not the one
    the reader read under (the generation). rb_iter_head_event makes the same
    check around each event; the reader here makes it once a page."""
    if m.data_index and s.nc_cnt != 0:
        return 1
    if m.NC_CHECK == 0:
        return 0
    if s.page_commit[page] < s.nc_com:
        return 1
    if m.NC_CHECK == 2:
        return s.nc_base >= 0 and s.page_base[page] != s.nc_base
    return 0


@step("nc0", name="map")
def nc_map(m, s):
    """The non-consuming reader maps the buffer (tracing_buffers_mmap,
    ring_buffer_map)."""
    require(nc_ok(m, s, NC_IDLE))
    rc = map_buffer(m, s)
    require(rc == 0)
    s.nc_phase = NC_START


@step("nc0", name="update_meta")
def nc_update_meta(m, s):
    """The seed's update ioctl (ring_buffer_update_meta_page)."""
    require(nc_ok(m, s, NC_START))
    update_meta_page(m, s)
    s.nc_phase = NC_LIST


@step("nc0")
def read_head(m, s):
    """It loads data_page_head from the meta page."""
    require(nc_ok(m, s, NC_LIST))
    s.nc_dph = s.meta_data_page_head
    s.nc_i = 0
    s.nc_phase = NC_OPEN


@step("nc0")
def open_page(m, s):
    """It loads data_pages[(data_page_head + i) % nr] and resolves the ID through
    its mapping; it remembers the generation it opens (-1: nothing committed yet,
    the first events the writer puts there are the page's content) and, where
    checked, the commit field."""
    require(nc_ok(m, s, NC_OPEN))
    pid = s.data_pages[(s.nc_dph + s.nc_i) % m.N]
    page = 0
    for p in range(m.N + 1):
        if s.page_id[p] == pid:
            page = p
            break
    s.nc_page = page
    s.nc_base = s.page_base[page] if s.page_commit[page] != 0 else -1
    s.nc_cnt = 0
    s.nc_pos = 0
    s.nc_torn = 0
    if m.NC_CHECK != 0:
        s.nc_com = s.page_commit[page]
    s.nc_phase = NC_PAGE


@step("nc0", name="read_event")
def nc_read_event(m, s):
    """It reads one event in place, below the page's commit."""
    require(nc_ok(m, s, NC_PAGE))
    page = s.nc_page
    pos = s.nc_pos
    require(pos < s.page_commit[page])
    if s.nc_base < 0:
        s.nc_base = s.page_base[page]
    elif s.page_base[page] != s.nc_base:
        s.nc_torn = 1
    if m.NC_CHECK != 0 and s.page_commit[page] > s.nc_com:
        s.nc_com = s.page_commit[page]
    s.nc_pos = pos + 1


@step("nc0")
def page_end(m, s):
    """The page is read to its commit: the reader's check (nc_page_changed: the
    page is dropped, else a torn page is kept), then the next page, or the
    update ioctl again after the last."""
    require(nc_ok(m, s, NC_PAGE))
    page = s.nc_page
    require(s.nc_pos >= s.page_commit[page])
    if nc_page_changed(m, s, page) != 0:
        s.flags = s.flags | G_NC_DISCARD
    elif s.nc_torn != 0:
        s.flags = s.flags | F_NC_TORN
    i = s.nc_i + 1
    s.nc_page = 0
    s.nc_base = 0
    s.nc_pos = 0
    s.nc_cnt = 0
    s.nc_torn = 0
    s.nc_com = 0
    if i < m.N:
        s.nc_i = i
        s.nc_phase = NC_OPEN
    else:
        s.nc_i = 0
        s.nc_dph = 0
        s.nc_phase = NC_START


def instances(m):
    if not m.nc:
        return []
    return [m.bind(x) for x in (nc_map, nc_update_meta, read_head, open_page,
                                nc_read_event, page_end)]
