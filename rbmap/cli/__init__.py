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
from pathlib import Path

import click

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


def fail(message: str, code: int = 2) -> "NoReturn":  # type: ignore[name-defined]
    """Print ``rbmap: message`` on stderr and exit with ``code`` (2: bad input)."""
    click.echo(f"rbmap: {message}", err=True)
    sys.exit(code)


def check_writable(path, what: str, directory: bool = False, create: bool = True
                   ) -> None:
    """Exit 2 now, before a long run, if ``path`` cannot be written later.

    A file: its directory must exist and the file must open for appending (a file
    that did not exist is removed again; with ``create=False`` only the directory
    is checked). A directory (``directory=True``): it is created if missing."""
    p = Path(path)
    try:
        if directory:
            p.mkdir(parents=True, exist_ok=True)
            if not os.access(p, os.W_OK):
                fail(f"{what} {path}: the directory is not writable")
            return
        if p.is_dir():
            fail(f"{what} {path}: is a directory")
        parent = p.parent
        if not parent.is_dir():
            fail(f"{what} {path}: no such directory {parent}")
        if not create:
            if not os.access(parent, os.W_OK):
                fail(f"{what} {path}: the directory {parent} is not writable")
            return
        existed = p.exists()
        with open(p, "a"):
            pass
        if not existed:
            p.unlink()
    except OSError as exc:
        fail(f"{what} {path}: cannot write: {exc.strerror or exc}")


def write_file(path, text: str, what: str) -> bool:
    """Write ``text`` to ``path``; on failure say so in one line on stderr and
    return False (the caller has printed its result and exits 2)."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return True
    except OSError as exc:
        click.echo(f"rbmap: {what} {path}: cannot write: {exc.strerror or exc}",
                   err=True)
        return False


def interrupted(what: str = "") -> "NoReturn":  # type: ignore[name-defined]
    """Say the run was interrupted (and what it had done) and exit 130."""
    click.echo("rbmap: interrupted" + (f": {what}" if what else ""), err=True)
    sys.exit(EXIT_INTERRUPTED)


# command name -> (module of rbmap.cli, attribute holding the click command). A
# module is imported only when its command runs (or for its own --help), so that
# `rbmap check` does not load z3 or the scenario runner.
COMMANDS = {
    "check": ("check", "check"),
    "replay": ("check", "replay"),
    "list": ("check", "list_cmd"),
    "bench": ("check", "bench"),
    "manifest": ("manifest", "manifest"),
    "compare": ("compare", "compare"),
    "kernel": ("kernel", "kernel"),
    "scenario": ("scenario", "scenario"),
    "abi": ("abi", "abi"),
    "conform": ("conform", "conform"),
    "mutants": ("conform", "mutants"),
    "fuzz": ("fuzz", "fuzz"),
    "litmus": ("litmus", "litmus"),
    "report": ("report", "report"),
    "explore": ("explore", "explore"),
    "export": ("export", "export"),
}

# what `rbmap --help` lists for each command without importing it: the first
# sentence of the command's help (tests/test_cli_startup.py holds them equal)
SUMMARIES = {
    "abi": "Prove a variant's meta-page layout and index arithmetic for all sizes.",
    "bench": "Print states/s of the exhaustive explorer on the default configs.",
    "check": "Explore VARIANT and check its properties.",
    "compare": "Check VARIANTS side by side: properties and ABI checks as rows.",
    "conform": "Check that impl refines the model for VARIANT (upstream or v2).",
    "explore": "Walk VARIANT's model by hand in a web browser, step by step.",
    "export": "Write a model in another tool's language (Promela for SPIN).",
    "fuzz": "Generate scenario programs; run them on impl (and the kernel); compare.",
    "kernel": "Run scenario files on a real Linux 6.12 kernel under qemu.",
    "list": "List the shipped variants, the properties, the protocol rules and defaults.",
    "litmus": "Decide litmus programs under the Linux kernel memory model (LKMM), with z3.",
    "manifest": "Check the model against its recorded results (specs/manifest.json).",
    "mutants": ("Run a catalogue of semantic mutants against the checks that should "
                "catch them, and print the kill rate."),
    "replay": "Re-run a saved trace on the model and re-check the properties along it.",
    "report": "Render a saved counterexample (TRACE.json) for a review.",
    "scenario": "Run a scenario FILE (specs/scenarios/FORMAT.md) on one or more back ends.",
}

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


class _Commands(dict):
    """``main.commands``: a command not loaded yet is loaded when asked for."""

    def __missing__(self, name):
        if name not in COMMANDS:
            raise KeyError(name)
        mod, attr = COMMANDS[name]
        cmd = getattr(importlib.import_module(f"rbmap.cli.{mod}"), attr)
        self[name] = cmd
        return cmd


class _Group(Group):
    """The main group: commands are loaded from :data:`COMMANDS` when used."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, name):
        try:
            return self.commands[name]
        except KeyError:
            return None

    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(name)
            if summary is None:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                summary = first_sentence(cmd)
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
