"""Ctrl-C as a request to stop: a long run ends early and reports what it has.

Inside :func:`stop_on_sigint`, the first SIGINT only sets a flag that the
explorers poll where they already look at the clock (``check_bfs`` about every
0.05 s, ``simulate`` before each walk); they stop as if a bound had been hit, with
``stopped_by == "interrupted"`` and an incomplete result, so the caller can print
the partial verdict. A second SIGINT raises :class:`KeyboardInterrupt` at once.
Outside it (the default), SIGINT raises KeyboardInterrupt as usual.

Code with loops of its own polls :func:`requested` (or calls :func:`check`, which
raises :class:`Interrupted`).

>>> with stop_on_sigint():
...     request()          # what the first Ctrl-C does
...     requested()
True
>>> requested()
False
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["Interrupted", "stop_on_sigint", "requested", "request", "check",
           "on_request"]

_state = {"requested": False}
_callbacks: list = []     # called by the first SIGINT (see on_request)


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`check` once a stop was requested: a KeyboardInterrupt, so
    that code catching ``Exception`` (a task's failure, a check's error) lets it
    through."""


def requested() -> bool:
    """True once a stop was requested (the first Ctrl-C inside
    :func:`stop_on_sigint`)."""
    return _state["requested"]


def request() -> None:
    """Request a stop, as the first Ctrl-C does."""
    _state["requested"] = True
    for callback in list(_callbacks):
        callback()


def check() -> None:
    """Raise :class:`Interrupted` if a stop was requested."""
    if _state["requested"]:
        raise Interrupted("interrupted")


def _handler(signum, frame):
    if _state["requested"]:
        raise KeyboardInterrupt
    request()


@contextmanager
def on_request(callback):
    """Within the block, a stop request also calls ``callback()`` (e.g. to
    interrupt a solver this thread is waiting for)."""
    _callbacks.append(callback)
    try:
        yield
    finally:
        _callbacks.remove(callback)


@contextmanager
def stop_on_sigint():
    """Within the block the first SIGINT requests a stop, the second raises
    KeyboardInterrupt; the previous handler and flag are restored on exit (only
    the main thread can install a handler; elsewhere, and where SIGINT is
    ignored, as in a shell script's background job, it is left alone)."""
    saved = _state["requested"]
    _state["requested"] = False
    main = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
    previous = signal.signal(signal.SIGINT, _handler) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        _state["requested"] = saved
