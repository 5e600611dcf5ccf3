"""Test-session settings shared by every test file.

The default run is spread over one worker process per core (pytest-xdist,
``-n auto`` in pyproject.toml).  Runs that select the ``kernel``, ``kernelsrc``
or ``browser`` tests get a single worker: their module fixtures boot one qemu
guest, fetch one source package or start one browser, and two workers would
each do it at the same time.
"""

import re

#: a marker named in ``-m`` without ``not`` in front of it
_SELECTED = re.compile(r"(?<!not )\b(kernel|kernelsrc|browser)\b")


def pytest_xdist_auto_num_workers(config):
    if _SELECTED.search(config.getoption("markexpr") or ""):
        return 1
    return None
