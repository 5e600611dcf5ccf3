"""The ``rbmap`` command line.

Each sub-command lives in its own module of this package and exposes a click
command object; ``COMMANDS`` lists them, so adding a command is one line here.
Exit codes shared by every command: 0 success / property holds, 1 a violation or
mismatch, 2 bad input (a message naming the problem, never a traceback), 3 a bound
was hit before completion.
"""

from __future__ import annotations

import importlib
import sys

import click

def fail(message: str, code: int = 2) -> "NoReturn":  # type: ignore[name-defined]
    """Print ``rbmap: message`` on stderr and exit with ``code`` (2: bad input)."""
    click.echo(f"rbmap: {message}", err=True)
    sys.exit(code)


# module name -> attribute holding the click command
COMMANDS = [
    ("check", "check"),
    ("check", "replay"),
    ("check", "list_cmd"),
    ("check", "bench"),
    ("manifest", "manifest"),
    ("compare", "compare"),
    ("kernel", "kernel"),
    ("scenario", "scenario"),
    ("abi", "abi"),
    ("conform", "conform"),
    ("conform", "mutants"),
]


class _Group(click.Group):
    def main(self, *args, **kwargs):  # noqa: D401 - click hook
        # click reports usage errors with exit code 2 already; make sure nothing
        # else escapes as a traceback either.
        kwargs.setdefault("standalone_mode", True)
        return super().main(*args, **kwargs)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rbmap")
def main() -> None:
    """Model-check the Linux trace ring-buffer user-space mapping protocol.

    \b
    rbmap check [VARIANT]      explore a design variant, check its properties
    rbmap replay FILE          re-run a saved trace on the model
    rbmap list                 variants, properties and defaults
    rbmap bench                states/s of the explorer on the default configs
    """


_seen = set()
for _mod, _attr in COMMANDS:
    try:
        _m = importlib.import_module(f"rbmap.cli.{_mod}")
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != f"rbmap.cli.{_mod}":
            raise
        continue
    _cmd = getattr(_m, _attr, None)
    if _cmd is not None and id(_cmd) not in _seen:
        _seen.add(id(_cmd))
        main.add_command(_cmd)


