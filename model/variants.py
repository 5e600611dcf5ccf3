"""Design variants: a name of a file in ``specs/`` or a path to a ``.toml`` file.

A variant file has the tables ``[variant]`` (name, description, history),
``[model]`` (one value per protocol rule of :mod:`rbmap.model.rules`; rules left out
take their default), ``[layout]`` and ``[mapping]`` (the ABI, read by
:mod:`rbmap.model.layout`). specs/README.md documents the format.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from .errors import SpecError
from .rules import Variant, validate_rules

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
#: the variants shipped in specs/, in history order
SHIPPED = ("v2", "v2-data-index", "v3-read", "v3-read-param", "upstream")


def shipped_names() -> list[str]:
    present = {p.stem for p in SPECS_DIR.glob("*.toml")}
    return [n for n in SHIPPED if n in present] + sorted(present - set(SHIPPED))


def spec_path(name_or_path: str) -> Path:
    """Resolve a variant argument to a file, or raise SpecError naming the problem."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or "/" in name_or_path:
        if p.is_dir():
            raise SpecError(f"{name_or_path}: is a directory, not a variant file")
        if not p.exists():
            raise SpecError(f"no such variant file: {name_or_path}")
        if not p.is_file():
            raise SpecError(f"{name_or_path}: not a regular file")
        return p
    cand = SPECS_DIR / f"{name_or_path}.toml"
    if not cand.is_file():
        raise SpecError(f"unknown variant {name_or_path!r} (shipped: "
                        f"{', '.join(shipped_names())}; or give a path to a .toml file)")
    return cand


def _locate(text: str, path: tuple) -> int | None:
    """Best-effort line number of a key path in a TOML text (1-based)."""
    lines = text.splitlines()
    if not path:
        return None
    tables = [str(p) for p in path if isinstance(p, str)]
    # the innermost table header that is a prefix of the path, then the key
    start = 0
    for k in range(len(tables), 0, -1):
        header = ".".join(tables[:k])
        pat = re.compile(r"^\s*\[\[?\s*" + re.escape(header) + r"\s*\]\]?\s*$")
        hits = [i for i, ln in enumerate(lines) if pat.match(ln)]
        if hits:
            idx = [p for p in path if isinstance(p, int)]
            start = hits[min(idx[-1], len(hits) - 1)] if idx and len(hits) > 1 else hits[0]
            if k == len(tables):
                return start + 1
            key = tables[k]
            kpat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
            for i in range(start + 1, len(lines)):
                if lines[i].lstrip().startswith("["):
                    break
                if kpat.match(lines[i]):
                    return i + 1
            return start + 1
    key = tables[-1]
    kpat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i, ln in enumerate(lines):
        if kpat.match(ln):
            return i + 1
    return None


def read_spec_text(path: Path) -> str:
    """The text of a variant file; a file that cannot be read or is not UTF-8
    text is a SpecError naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not a UTF-8 text file (byte {exc.start} is "
                        f"0x{data[exc.start]:02x}); a variant file is TOML text",
                        file=str(path)) from None


#: the tables a variant file may have, and the keys of [variant]
TABLES = ("variant", "model", "layout", "mapping")
VARIANT_KEYS = ("name", "description", "history")


def load_variant(name_or_path: str) -> Variant:
    """Load and validate a variant; every problem is a SpecError with file and line."""
    path = spec_path(name_or_path)
    text = read_spec_text(path)
    return load_variant_text(text, str(path))


def variant_digest(text: str) -> str:
    """The content hash a trace records for a variant file's text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_variant_text(text: str, source: str) -> Variant:
    """A variant from the TOML text of a variant file (a trace carries it);
    ``source`` names it in errors and in ``Variant.source``."""
    path = Path(source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise SpecError(f"not valid TOML: {exc}", file=str(path),
                        line=int(m.group(1)) if m else None) from None
    try:
        return _from_doc(doc, path)
    except SpecError as exc:
        exc.file = exc.file or str(path)
        if exc.line is None:
            from .layout import locate_line  # exact for array-of-tables paths
            exc.line = locate_line(text, exc.path) or _locate(text, exc.path)
        raise


def _from_doc(doc: dict, path: Path) -> Variant:
    for table in doc:
        if table not in TABLES:
            raise SpecError(f"unknown table [{table}] (a variant file has "
                            f"{', '.join(f'[{t}]' for t in TABLES)})", (table,))
    var = doc.get("variant")
    if not isinstance(var, dict):
        raise SpecError("missing table [variant] (name, description, history)",
                        ("variant",))
    for key in var:
        if key not in VARIANT_KEYS:
            raise SpecError(f"unknown key {key!r} in [variant] (known: "
                            f"{', '.join(VARIANT_KEYS)})", ("variant", key))
    name = var.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SpecError("[variant] needs a name of letters, digits, '-', '_' or '.'",
                        ("variant", "name"))
    for key in ("description", "history"):
        if not isinstance(var.get(key, ""), str):
            raise SpecError(f"{key} must be a string", ("variant", key))
    model = doc.get("model")
    if model is None:
        raise SpecError("missing table [model] (the protocol rules; see "
                        "`rbmap list` for the catalogue)", ("model",))
    if not isinstance(model, dict):
        raise SpecError("[model] must be a table", ("model",))
    rules = validate_rules(model)
    extra = {}
    if "layout" in doc or "mapping" in doc:
        from . import layout as _layout  # the ABI tables are validated here too
        lay = _layout.load_layout(doc) if "layout" in doc else None
        extra["layout"] = lay
        if "mapping" in doc:
            extra["mapping"] = _layout.load_mapping(doc, lay)
    return Variant(name, tuple(sorted(rules.items())), var.get("description", ""),
                   var.get("history", ""), str(path), extra)
