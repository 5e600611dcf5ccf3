"""A counterexample as a reviewer mails it: plain ASCII, at most 80 columns.

:func:`text_report` turns an :class:`~rbmap.evidence.Evidence` into

1. a one-paragraph summary: the property and what it says, the variant (and its
   content hash), the config, the assumptions in force and the ones dropped;
2. the step table, each step that exists only because an assumption was
   dropped marked with the option that dropped it (``[--crash]``);
3. the state around the violation: the page list drawn as ring_buffer.c draws
   it (:func:`page_list`), with the reader, head, tail and commit pages
   marked, then the meta page, the cpu_buffer counters, the actors and the
   history variables (:func:`state_lines`);
4. one line that replays it.

Everything here reads the model's ``view`` of each state (kernel names:
``head_page``, ``pageN.write``, ``meta.reader.id``); nothing is parsed from
action names.
"""

from __future__ import annotations

import re
import textwrap

from rbmap.checker.report import change_text, format_steps
from rbmap.evidence import Evidence
from rbmap.model.config import ASSUMPTION_KEYS

__all__ = ["text_report", "page_list", "state_lines", "step_rows", "summary",
           "config_items", "assumption_lines", "needs_note", "variant_label"]

WIDTH = 80
POINTERS = (("reader_page", "reader"), ("head_page", "head"), ("tail_page", "tail"),
            ("commit_page", "commit"))
_PAGE_KEY = re.compile(r"page(\d+)\.(\w+)$")


def _v(x) -> str:
    return x if isinstance(x, str) else str(x)


# ------------------------------------------------------------------ the summary
def variant_label(desc: dict) -> str:
    """The variant as a reader needs to name it: the argument, the [variant] name
    where it differs, shipped or not, the content hash."""
    name = desc.get("variant", "?")
    parts = []
    vn = desc.get("variant_name")
    if vn and vn != name:
        parts.append(f"[variant] name {vn}")
    if "shipped" in desc:
        parts.append("shipped" if desc["shipped"] else "a variant file")
    if desc.get("variant_sha256"):
        parts.append(desc["variant_sha256"][:19])
    return f"{name} ({', '.join(parts)})" if parts else name


def config_items(ev: Evidence) -> list[str]:
    """``key=value`` of every config key that is not an assumption."""
    keys = {a["key"] for a in ev.assumptions} | set(ASSUMPTION_KEYS)
    return [f"{k}={_v(v)}" for k, v in ev.desc.get("config", {}).items()
            if k not in keys]


def assumption_lines(ev: Evidence) -> tuple[list[str], list[str]]:
    """(in force, dropped): each assumption in words; a dropped one with the
    option that dropped it."""
    held, dropped = [], []
    for a in ev.assumptions:
        if a.get("in_force"):
            held.append(a["text"])
        else:
            dropped.append(f"{a['option']} (drops: {a['text']})")
    return held, dropped


def needs_note(ev: Evidence, needs) -> str | None:
    """The step-table note of a step that needs dropped assumptions."""
    if not needs:
        return None
    return "[" + ", ".join(ev.option_of(k) for k in needs) + "]"


def summary(ev: Evidence, width: int = WIDTH) -> list[str]:
    """The one-paragraph summary, wrapped to ``width``."""
    what = {"always": "is violated", "eventually": "is violated",
            "sometimes": "is reached"}.get(ev.kind, "is shown")
    if ev.reproduced is False:
        what = "was saved as shown but is NOT reproduced by this rbmap"
    held, dropped = assumption_lines(ev)
    rules = ev.desc.get("rule_overrides") or {}
    text = (f"{ev.property} ({ev.kind or 'property'}) {what} in "
            f"{variant_label(ev.desc)} after {ev.length} steps"
            + (f" (at step {ev.violating})" if ev.violating not in (None, ev.length)
               else "") + ". ")
    if ev.doc:
        text += f"The property: {ev.doc.rstrip('.')}. "
    text += f"Config: {', '.join(config_items(ev))}. "
    if rules:
        text += "Rules overridden: " + ", ".join(
            f"{k}={v}" for k, v in sorted(rules.items())) + ". "
    text += ("Assumptions in force: " + ("; ".join(held) if held else "none") + ". ")
    text += ("Dropped: " + ("; ".join(dropped) if dropped else "none") + ".")
    if ev.desc.get("rbmap"):
        text += f" Checked with rbmap {ev.desc['rbmap']}."
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=True)


# ------------------------------------------------------------------ the steps
def step_rows(ev: Evidence) -> list:
    """The rows :func:`rbmap.checker.report.format_steps` lays out."""
    rows = [("", ev.steps[0].action, [], None)]
    for st in ev.steps[1:]:
        rows.append((st.actor or "", st.action,
                     [change_text(k, b, a) for k, b, a in st.changes],
                     needs_note(ev, st.needs)))
    return rows


def step_table(ev: Evidence, width: int = WIDTH) -> str:
    mark = ev.violating if ev.reproduced is not False else None
    return format_steps(step_rows(ev), mark, width)


# ------------------------------------------------------------------ the state
def _pages(view: dict) -> dict:
    """page number -> its fields (write, commit, read, events, next)."""
    pages: dict = {}
    for k, v in view.items():
        m = _PAGE_KEY.match(k)
        if m:
            pages.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return pages


def _ids(view: dict) -> dict:
    out = {}
    for item in str(view.get("subbuf_ids", "")).split():
        sid, _, page = item.partition(":")
        m = re.fullmatch(r"page(\d+)", page)
        if m and sid.isdigit():
            out[int(m.group(1))] = int(sid)
    return out


def _ring_order(view: dict, pages: dict) -> list[int]:
    """The ring from the head page, following each page's next."""
    reader = view.get("reader_page")
    head = view.get("head_page")
    order = []
    p = head
    while isinstance(p, int) and p in pages and p not in order and p != reader:
        order.append(p)
        p = pages[p].get("next")
    order += [q for q in sorted(pages) if q not in order and q != reader]
    return order


INNER = 9  # characters inside a page box


def _box(p: int, f: dict, ids: dict, is_reader: bool) -> list[str]:
    name = f"page{p}" + (f" #{ids[p]}" if p in ids else "")
    events = _v(f.get("events", "")).replace("+pad", "+")
    wc = f"w{_v(f.get('write', '?'))} c{_v(f.get('commit', '?'))}"
    if is_reader and "read" in f:
        wc += f" r{_v(f['read'])}"
    body = [name, events, wc]
    return ["+" + "-" * INNER + "+"] + [
        "|" + t[:INNER].ljust(INNER) + "|" for t in body] + ["+" + "-" * INNER + "+"]


def page_list(view: dict, width: int = WIDTH, indent: int = 2) -> list[str]:
    """The page list as ring_buffer.c draws it: the reader page apart, then the
    ring from the head page in list order (``-->`` is each page's next), each box
    ``pageN #id`` (the subbuf ID while mapped), its events, ``w`` write, ``c``
    commit (``r`` read on the reader page; ``+`` the writer's padding), and under
    each box the pointers that name it (reader, head, tail, commit)."""
    pages = _pages(view)
    if not pages:
        return []
    ids = _ids(view)
    reader = view.get("reader_page")
    ring = _ring_order(view, pages)
    bw = INNER + 2
    step = bw + 3
    lead = " " * indent
    left = bw + 6 if reader in pages else 0   # reader box and the gap after it
    per_row = max(1, (width - indent - left - 3) // step)
    rows = [ring[i:i + per_row] for i in range(0, len(ring), per_row)] or [[]]
    roles: dict = {}
    for key, word in POINTERS:
        p = view.get(key)
        if isinstance(p, int):
            roles.setdefault(p, []).append(word)
    out = [lead + ("reader".ljust(left) if left else "")
           + "ring, from the head page (--> is next)"]
    for r, row in enumerate(rows):
        boxes = [_box(p, pages[p], ids, False) for p in row]
        first = r == 0
        lines = []
        for j in range(5):
            text = ""
            if left:
                text = (_box(reader, pages[reader], ids, True)[j] if first
                        else " " * bw).ljust(left)
            if not first and j == 1:
                text = text[:-3] + "-->"
            for k, b in enumerate(boxes):
                joint = "-->" if j == 1 and k > 0 else "   "
                text += (joint if k else "") + b[j]
            if j == 1:
                text += "-->" if len(rows) > 1 else "--+"
            elif len(rows) == 1 and j > 1:
                text += "  |"
            lines.append(lead + text)
        depth = max([len(roles.get(p, [])) for p in row]
                    + [len(roles.get(reader, [])) if first and left else 0])
        for d in range(depth):
            text = ""
            if left:
                rr = roles.get(reader, []) if first else []
                text = (" " + rr[d] if d < len(rr) else "").ljust(left)
            for k, p in enumerate(row):
                rp = roles.get(p, [])
                text += ((" " + rp[d]) if d < len(rp) else "").ljust(bw + (3 if k < len(row) - 1 else 0))
            if len(rows) == 1:
                text = text.ljust(left + len(row) * step - 3) + "  |"
            lines.append(lead + text.rstrip() if len(rows) > 1 else lead + text)
        out += [ln.rstrip() for ln in lines]
    if len(rows) > 1:
        out.append(lead + " " * max(0, left - 3)
                   + f"--> back to page{ring[0]}, the head page")
    if len(rows) == 1 and ring:
        end = left + len(rows[0]) * step - 3 + 2
        out.append(lead + " " * (left + 1) + "^".ljust(end - left - 1) + "|")
        out.append(lead + " " * (left + 1) + "+" + "-" * (end - left - 2) + "+")
    return out


def _group(view: dict, ev: Evidence) -> dict:
    actors = {n for n, _ in ev.lanes}
    groups: dict = {"meta": [], "ids": [], "cpu": [], "actors": [], "history": []}
    pointer_keys = {k for k, _ in POINTERS}
    for k, v in view.items():
        if _PAGE_KEY.match(k) or k in pointer_keys:
            continue
        if k.startswith("meta."):
            groups["meta"].append(f"{k[5:]}={_v(v)}")
        elif k == "subbuf_ids":
            groups["ids"].append(_v(v))
        elif k in actors:
            groups["actors"].append(f"{k}: {_v(v)}")
        elif k in ev.history:
            groups["history"].append(f"{k}={_v(v)}")
        else:
            groups["cpu"].append(f"{k}={_v(v)}")
    return groups


def state_lines(view: dict, ev: Evidence, width: int = WIDTH) -> list[str]:
    """A state: the page list, then the meta page, subbuf_ids, the cpu_buffer
    fields, the actors and the history variables, wrapped to ``width``."""
    g = _group(view, ev)
    out = page_list(view, width)

    def para(label: str, items: list, sep: str = " ") -> None:
        if items:
            out.extend(textwrap.wrap(f"{label}: " + sep.join(items), width,
                                     initial_indent="  ", subsequent_indent="      ",
                                     break_on_hyphens=False))
    para("meta page", g["meta"])
    para("subbuf_ids", g["ids"])
    para("cpu_buffer", g["cpu"])
    for a in g["actors"]:
        para(a.split(":", 1)[0], [a.split(": ", 1)[1]] if ": " in a else [])
    para("history", g["history"])
    return out


# ------------------------------------------------------------------ the report
def text_report(ev: Evidence, width: int = WIDTH, trace_name: str | None = None) -> str:
    """The whole mail-ready report (see the module docstring)."""
    head = {"always": "VIOLATED", "eventually": "VIOLATED",
            "sometimes": "reached"}.get(ev.kind, "")
    if ev.reproduced is False:
        head = "NOT reproduced"
    title = f"{ev.property} {head} in {ev.desc.get('variant', '?')} ({ev.length} steps)"
    out = [title, "=" * min(width, len(title)), ""]
    out += summary(ev, width)
    for n in ev.notes:
        out += textwrap.wrap(f"Note: {n}", width, subsequent_indent="  ")
    out.append("")
    tagged = [st for st in ev.steps[1:] if st.needs]
    legend = ("Steps (>> the violation" if ev.violating is not None
              else "Steps (")
    if tagged:
        legend += ("; [--option]: a step that exists only because that option "
                   "dropped an assumption")
    legend += "):"
    out += textwrap.wrap(legend, width)
    out.append(step_table(ev, width))
    out.append("")
    last = ev.violating if ev.violating is not None else ev.length
    if last >= 1:
        before, step, after = ev.steps[last - 1], ev.steps[last], ev.steps[last]
        b_lines = state_lines(before.view, ev, width)
        a_lines = state_lines(after.view, ev, width)
        which = "the violation" if ev.violating is not None else "the last step"
        if page_list(before.view, width) != page_list(after.view, width):
            out.append(f"The state before step {last}:")
            out += b_lines
            out.append("")
        out.append(f"Step {last}: {step.actor} {step.action}"
                   + (f" {needs_note(ev, step.needs)}" if step.needs else ""))
        for k, b, a in step.changes:
            out += textwrap.wrap(change_text(k, b, a), width, initial_indent="  ",
                                 subsequent_indent="      ")
        out.append("")
        out.append(f"The state after step {last} ({which}):")
        out += a_lines
    else:
        out.append("The initial state:")
        out += state_lines(ev.steps[0].view, ev, width)
    out.append("")
    out.append("Replay: " + ev.replay_line(trace_name))
    return "\n".join(line.rstrip() for line in out) + "\n"
