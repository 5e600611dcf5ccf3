"""The live progress line of long runs."""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

__all__ = ["ProgressLine", "progress_reporter"]

#: Seconds between two progress reports.
INTERVAL = 1.0
#: The built-in line stays silent on runs shorter than this.
QUIET_SECONDS = 2.0


class ProgressLine:
    """Writes one refreshed line to a stream (stderr): states, depth, states/s, queue.

    Called with a dict of ``seconds, states, transitions, depth, queue``; silent
    for the first :data:`QUIET_SECONDS`. :meth:`close` erases the line.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.shown = False

    def __call__(self, info: dict[str, Any]) -> None:
        if info["seconds"] < QUIET_SECONDS:
            return
        rate = info["states"] / info["seconds"]
        line = (f"{info['states']:,} states  depth {info['depth']}  "
                f"{rate:,.0f} states/s  queue {info['queue']:,}  {info['seconds']:.0f} s")
        self.stream.write("\r" + line.ljust(79)[:79])
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the line if anything was shown."""
        if self.shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()
            self.shown = False


def progress_reporter(progress: Any) -> Callable[[dict[str, Any]], None] | None:
    """Resolve a ``progress`` argument to a callback or None.

    ``None``: the built-in line when stderr is a terminal; ``True``: the
    built-in line always; ``False``: nothing; a callable: itself (called about
    once a second with the statistics dict).
    """
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return ProgressLine() if isatty is not None and isatty() else None
    if progress is True:
        return ProgressLine()
    if progress is False:
        return None
    if callable(progress):
        return progress
    raise TypeError(f"progress must be None, a bool or a callable, not {type(progress).__name__}")
