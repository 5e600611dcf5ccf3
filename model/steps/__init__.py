"""The protocol model's steps, one module per actor.

- :mod:`.writer`: the writer and the writers nested on top of it;
- :mod:`.kernel`: kernel reader paths: GET_READER's work, trace_pipe_raw,
  trace_pipe, rb_reset_cpu, the resize/swap_cpu gates (and the reader-side
  helpers everything shares: the swap, rb_update_meta_page...);
- :mod:`.procs`: user-space processes and the mapper (map, the loads from the
  mapping, GET_READER, unmap, exit, fork);
- :mod:`.admin`: root's writes a mapping refuses, the refused mmap, the order
  change;
- :mod:`.nc`: the seed's non-consuming reader;
- :mod:`.libtracefs`: the libtracefs 1.8.3 client's steps.

Each step is a function ``(m, s, *params)`` over the state's named slots
(model/state.py): its guard (the leading ``require``), its update, and a
docstring naming the kernel function it abstracts and what it leaves out.
:func:`instances` lists them for a model in the order its successors are
listed (the order every recorded trace and manifest digest depends on):
writer levels, write_begin, kernel paths, admin, each process's steps, nc0.

:data:`ASSUMES` notes the steps that exist only because an assumption of the
config was dropped (``RingBufferModel.step_assumptions``); Python only, read
for the action asked, never while exploring.
"""

from __future__ import annotations

from ..state import P_IDLE, P_PAGE_DONE
from . import admin, kernel, libtracefs, nc, procs, writer

__all__ = ["instances", "ASSUMES"]


def _process_steps(m):
    """Process ``i``'s steps in order (one unit per action: a step that does one
    thing in one phase and another elsewhere branches inside)."""
    out = []
    if m.ioctl_refresh:
        out.append(procs.ioctl_meta)
    if m.fine and m.v2_writer:
        out.append(procs.unmap_sync)
    out.append(procs.map)
    if m.refusals:
        out.append(admin.trymap_bad)
    if m.ltf:
        out += [libtracefs.mmap_setup, libtracefs.read_buf, libtracefs.ltf_read_event,
                libtracefs.reload, libtracefs.ltf_ioctl]
    else:
        out += [procs.read_meta, procs.read_event]
        if m.live_limit:
            out.append(procs.page_done)
        out.append(procs.ioctl)
        if m.has_update_ioctl:
            out.append(procs.update_meta)
    out += [procs.unmap, procs.exit]
    if m.fork:
        out += [procs.dofork, procs.child_exit]
    return out


def instances(m):
    """The step instances of model ``m``, in successor order."""
    out = writer.instances(m)
    out += kernel.instances(m)
    out += admin.instances(m)
    steps = _process_steps(m)
    for i, name in enumerate(m.proc_names):
        out += [m.bind(st, i, actor=name, action=(name, st.name)) for st in steps]
    out += nc.instances(m)
    return out


# ---------------------------------------------------------------- assumptions
def _consumers_if_mapped(m, v, *params):
    return ("consumers",) if v.mapped != 0 else ()


def _map(m, v, i):
    if m.snapshot_excl and v.snapshot != 0:
        return ()       # refused: listed for --refusals, no assumption
    return ("consumers",) if procs.others_hold(m, v, i) or v.text_pending else ()


def _why_leave(m, v, i):
    if not procs.clean(m, v, i):
        return ("crash",)
    if m.greedy_only and v.proc_phase[i] == P_PAGE_DONE:
        return ("client",)
    return ()


def _exit(m, v, i):
    last = ("reader_stays",) if procs.alive(m, v) <= 1 else ()
    if v.proc_phase[i] == P_IDLE:
        return last
    return _why_leave(m, v, i) + last


def _read_event(m, v, i):
    return ("client",) if m.greedy_only and v.proc_pos[i] >= v.proc_limit[i] else ()


def _page_done(m, v, i):
    return ("client",) if m.greedy_only else ()


def _fork(m, v, i):
    return ("fork",)


def _ltf_read_event(m, v, i):
    pos = v.proc_pos[i]
    if pos < m.K and pos >= v.meta_reader_read and \
            v.proc_page[i] == procs.meta_reader_page(m, v):
        # an event beyond reader.read: what the documented client never reads
        # (the library called no GET_READER for it)
        return ("client",)
    return ()


#: step -> assumes(m, view, *params): the dropped assumptions (config keys) the
#: step, enabled in that state, exists by
ASSUMES = {
    kernel.read_page: _consumers_if_mapped,
    kernel.text_read: _consumers_if_mapped,
    kernel.text_line: _consumers_if_mapped,
    kernel.text_full: _consumers_if_mapped,
    kernel.text_done: _consumers_if_mapped,
    procs.map: _map,
    procs.exit: _exit,
    procs.unmap: _why_leave,
    procs.read_event: _read_event,
    procs.page_done: _page_done,
    procs.dofork: _fork,
    procs.child_exit: _fork,
    libtracefs.ltf_read_event: _ltf_read_event,
}
