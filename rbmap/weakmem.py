"""The protocol's publish/consume pairs under the Linux kernel memory model.

The model and impl are sequentially consistent; the mapping is read by user space
on another CPU with no lock.  Each pair below is a litmus program in
``specs/litmus/`` (the protocol's accesses with the barriers the code has, each
tied in its comment to the model step and the kernel or library function), whose
condition is the bad outcome: a reader that sees data older than the commit (or
count, or check) that covers it.  :mod:`rbmap.checker.memmodel` decides it; a
pair *holds* when the outcome is ``Never``.

Which pairs a design variant has follows from its rules, so a variant file of
one's own gets the right rows: the writer's publish is Linux 6.12.117's for every
variant (the variants differ in the mapping, not the writer); GET_READER by
``get_reader``; the libtracefs client where the meta page is 6.10's
(``meta_fields = "upstream"``); the seed's fast-path meta stores by
``writer_meta``; the non-consuming reader by ``meta_fields = "v2"`` and
``data_index``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .checker.litmus import parse
from .checker.memmodel import LitmusResult, check

LITMUS_DIR = Path(__file__).resolve().parent.parent / "specs" / "litmus"


@dataclass(frozen=True)
class Pair:
    """One row: its name, what it checks, and which program a variant's rules
    select (None: the pair means nothing for the variant)."""
    name: str
    what: str
    program: Callable[[dict], Optional[str]]


def _get_reader(rules: dict) -> Optional[str]:
    return {"consume_to_commit": "get-reader-consume",
            "read_param": "get-reader-consume",
            "v2_swap": "v2-get-reader-page"}.get(rules.get("get_reader"))


def _nc_reader(rules: dict) -> Optional[str]:
    if rules.get("meta_fields") != "v2":
        return None
    return "v2-data-index" if rules.get("data_index") == "writer_cnt" else "v2-nc-reader"


PAIRS = (
    Pair("publish", "the writer's publish (smp_wmb, commit) vs a reader with "
         "smp_rmb", lambda r: "publish-commit"),
    Pair("publish_left_behind", "a commit published by rb_set_commit_to_write's "
         "first loop (finding W1)", lambda r: "publish-left-behind"),
    Pair("get_reader", "GET_READER's consume and meta refresh vs the user's loads "
         "after the ioctl", _get_reader),
    Pair("libtracefs", "libtracefs 1.8.3's loads of commit and the bytes (finding "
         "W2)", lambda r: "libtracefs-refresh" if r.get("meta_fields") == "upstream"
         else None),
    Pair("fastpath_meta", "the seed's meta->entries at first map vs the fast path "
         "(finding W3)", lambda r: "v2-map-meta-init"
         if r.get("writer_meta") == "v2_fastpath" else None),
    Pair("nc_reader", "the writer vs a non-consuming reader of data_pages[]",
         _nc_reader),
)


def program_path(stem: str) -> Path:
    return LITMUS_DIR / f"{stem}.litmus"


def check_program(stem: str, cache: Optional[dict] = None, **options) -> LitmusResult:
    """The verdict of ``specs/litmus/STEM.litmus`` (memoised in ``cache``)."""
    key = (stem, tuple(sorted(options.items())))
    if cache is not None and key in cache:
        return cache[key]
    r = check(parse(program_path(stem).read_text(encoding="utf-8")), **options)
    if cache is not None:
        cache[key] = r
    return r


def rows(rules: dict, cache: Optional[dict] = None) -> dict:
    """``{"wm:NAME": cell}`` for a variant's rules, in the shape of rbmap
    compare's cells: status holds / violated / n/a, the program and its verdict."""
    out = {}
    for p in PAIRS:
        stem = p.program(rules)
        if stem is None:
            out[f"wm:{p.name}"] = {"status": "n/a"}
            continue
        r = check_program(stem, cache)
        out[f"wm:{p.name}"] = {
            "status": "holds" if r.verdict == "Never" else "violated",
            "program": f"specs/litmus/{stem}.litmus", "verdict": r.verdict,
            **({"flags": r.flags} if r.flags else {})}
    return out
