"""Errors raised while loading a design variant (a spec file or a built-in name)."""

from __future__ import annotations


class SpecError(Exception):
    """A variant file or name is wrong.

    ``path`` is the key path inside the file (e.g. ``("layout", "fields", 3, "type")``)
    so that the loader can name the file and line; ``file`` and ``line`` are filled in
    by the loader when it knows them.
    """

    def __init__(self, message: str, path: tuple = (), file: str | None = None,
                 line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        key = ".".join(str(p) for p in self.path)
        return f"{where}{key + ': ' if key else ''}{self.message}"
