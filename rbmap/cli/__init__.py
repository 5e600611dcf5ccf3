"""The ``rbmap`` command line.

Each sub-command lives in its own module of this package and exposes a click
command object; ``COMMANDS`` lists them, so adding a command is one line here (the
summary of ``rbmap --help`` is made from the commands themselves). Options shared
by the commands that explore a model are defined once, in
:mod:`rbmap.cli.options`.

Exit codes, the same for every command (README, "Exit status"):

- 0: holds / conforms / done;
- 1: violated / differs (a property, a mismatch, a difference);
- 2: bad input or a failed write: one line ``rbmap: <problem>`` on stderr, never a
  traceback (usage errors click finds are put on one line too);
- 3: incomplete: a bound stopped the run before it could say "holds";
- 130: interrupted (Ctrl-C): what was explored so far is printed first where the
  command has a partial result.

Output to a pipe whose reader went away (``rbmap compare | head``) is dropped: the
exit status stays the verdict's. An unexpected exception is a bug of rbmap: one
line ``rbmap: internal error: ...`` and exit 70 (``RBMAP_TRACEBACK=1`` shows the
traceback).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


def fail(message: str, code: int = 2) -> "NoReturn":  # type: ignore[name-defined]
    """Print ``rbmap: message`` on stderr and exit with ``code`` (2: bad input)."""
    click.echo(f"rbmap: {message}", err=True)
    sys.exit(code)


def interrupted(what: str = "") -> "NoReturn":  # type: ignore[name-defined]
    """Say the run was interrupted (and what it had done) and exit 130."""
    click.echo("rbmap: interrupted" + (f": {what}" if what else ""), err=True)
    sys.exit(EXIT_INTERRUPTED)


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
    ("fuzz", "fuzz"),
    ("litmus", "litmus"),
    ("report", "report"),
    ("explore", "explore"),
]


class _PipeSafe:
    """A text stream whose writes to a pipe with no reader left are dropped.

    ``rbmap compare | head`` closes the pipe after ten lines; the rest of the output
    has nowhere to go, which is not an error of the run. The first BrokenPipeError
    points the file descriptor at /dev/null (so that the interpreter's last flush
    does not fail either) and every later write is dropped."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def _broke(self) -> None:
        self.broken = True
        try:
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, data):
        if self.broken:
            return len(data)
        try:
            return self._stream.write(data)
        except BrokenPipeError:
            self._broke()
            return len(data)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._broke()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _one_line(exc: click.ClickException) -> str:
    msg = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        msg += f" (see: {ctx.command_path} --help)"
    return msg


class Group(click.Group):
    """A command group whose ``--help`` lists every command with the whole first
    sentence of its help."""

    def format_commands(self, ctx, formatter) -> None:
        # click's default cuts the help at 45 characters with "..."
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, first_sentence(cmd)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _Group(Group):
    def main(self, args=None, prog_name=None, complete_var=None,
             standalone_mode=True, **extra):  # noqa: D401 - click hook
        """click's main with rbmap's exit codes (see the module docstring)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _PipeSafe(sys.stdout), _PipeSafe(sys.stderr)
        try:
            try:
                rv = super().main(args, prog_name or "rbmap", complete_var, False,
                                  **extra)
            except click.ClickException as exc:
                click.echo(f"rbmap: {_one_line(exc)}", err=True)
                rv = EXIT_BAD_INPUT
            except click.Abort:
                click.echo("rbmap: interrupted", err=True)
                rv = EXIT_INTERRUPTED
            sys.exit(rv if isinstance(rv, int) else 0)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = saved

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            interrupted()
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a bug of rbmap, not of the input
            if os.environ.get("RBMAP_TRACEBACK"):
                raise
            text = " ".join(str(exc).split())[:200]
            fail(f"internal error: {type(exc).__name__}: {text} (a bug of rbmap; "
                 "RBMAP_TRACEBACK=1 shows where)", EXIT_INTERNAL)


def first_sentence(cmd: click.Command) -> str:
    """The short help of a command: its ``short_help``, or the first sentence of
    its help text (whole, never cut)."""
    if cmd.short_help:
        return cmd.short_help
    text = (cmd.help or "").split("\n\n")[0]
    text = " ".join(text.split())
    end = text.find(". ")
    return text[:end + 1] if end >= 0 else text


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rbmap")
def main() -> None:
    """Model-check the Linux trace ring-buffer user-space mapping protocol.

    `rbmap COMMAND --help` explains each command. Exit status, the same for
    every command: 0 holds / conforms, 1 violated / differs, 2 bad input or a
    failed write, 3 incomplete (a bound stopped it), 130 interrupted.
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
