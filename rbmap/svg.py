"""A counterexample as a sequence diagram, in SVG (plain text, no dependency).

Time runs down the page, one row per step. Lanes, left to right:

- one per actor that takes a step: the writer, each nested interrupt (``irqN``),
  the kernel paths, the trace_pipe_raw reader, each process; the step is a box
  on its actor's lane with the action, under it what the actor itself now
  holds (what it loaded: ``inc (loaded entries=1)``), and, for a step that
  exists only because an assumption was dropped, the option that dropped it
  (``[--crash]``, dashed orange);
- shared state: ``cpu_buffer`` (its counters, ``mapped``), the ``meta page``
  (and ``subbuf_ids``), then one narrow lane per page with the pointers that
  name it after the step (R reader, H head, T tail, C commit; bold when they
  just moved there) and what the step wrote on it, and ``history`` (what was
  delivered, twice, lost);
- a line joins the step's box to each shared lane it changed, each value
  written shown there.

The violating step's row is tinted red. Every row is a ``<g class="step"
data-step="N">`` with a ``<title>`` listing all its changes, so a page embedding
the SVG can make rows clickable (the HTML report does).
"""

from __future__ import annotations

import re
import textwrap
from xml.sax.saxutils import escape

from rbmap.evidence import Evidence
from rbmap.report import POINTERS, needs_note, variant_label

__all__ = ["sequence_svg"]

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
SIZE = 11          # font size, px
CW = 6.7           # width of a character at SIZE, px (monospace)
LH = 13            # line height, px
PAD = 6
STEP_COL = 34
ACTOR_CH = 24      # characters of an actor lane
SHARED_CH = 26
PAGE_CH = 13
HIST_CH = 24
ROLE_LETTER = {"reader": "R", "head": "H", "tail": "T", "commit": "C"}
ROLE_COLOR = {"reader": "#1f77b4", "head": "#2ca02c", "tail": "#d62728",
              "commit": "#9467bd"}
_PAGE_KEY = re.compile(r"page(\d+)\.(\w+)$")


def _t(v) -> str:
    return v if isinstance(v, str) else str(v)


def _wrap(text: str, chars: int) -> list[str]:
    return textwrap.wrap(text, chars, break_on_hyphens=False,
                         subsequent_indent=" ") or [""]


def _text(x: float, y: float, s: str, cls: str = "", anchor: str = "start",
          weight: str = "") -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}"'
    if cls:
        attrs += f' class="{cls}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    return f"<text {attrs}>{escape(s)}</text>"


def _roles(view: dict) -> dict:
    out: dict = {}
    for key, word in POINTERS:
        p = view.get(key)
        if isinstance(p, int):
            out.setdefault(p, []).append(word)
    return out


def _classify(ev: Evidence, pages: list[int]):
    """field -> lane key ("cpu", "meta", ("page", n), "hist", ("actor", name))."""
    actors = {n for n, _ in ev.lanes}
    pointer_keys = {k for k, _ in POINTERS}

    def lane(k: str):
        m = _PAGE_KEY.match(k)
        if m:
            return ("page", int(m.group(1)))
        if k in pointer_keys:
            return None            # drawn as the pages' role letters
        if k.startswith("meta.") or k == "subbuf_ids":
            return "meta"
        if k in actors:
            return ("actor", k)
        if k in ev.history:
            return "hist"
        return "cpu"
    return lane


def sequence_svg(ev: Evidence, title: str | None = None) -> str:
    """The sequence diagram of ``ev`` as an SVG document (a string)."""
    used = {st.actor for st in ev.steps[1:]}
    actors = [n for n, _ in ev.lanes if n in used]
    descs = dict(ev.lanes)
    pages = sorted({int(m.group(1)) for st in ev.steps for k in st.view
                    for m in [_PAGE_KEY.match(k)] if m})
    lane_of = _classify(ev, pages)

    # ---- lanes: (key, title, description, width in px)
    lanes = []
    for a in actors:
        lanes.append((("actor", a), a, descs.get(a, ""), ACTOR_CH * CW + 2 * PAD))
    lanes.append(("cpu", "cpu_buffer", "the per-CPU buffer's counters",
                  SHARED_CH * CW + 2 * PAD))
    lanes.append(("meta", "meta page", "what user space maps: the meta page, "
                  "subbuf_ids", SHARED_CH * CW + 2 * PAD))
    for p in pages:
        lanes.append((("page", p), f"page{p}", "", PAGE_CH * CW + 2 * PAD))
    lanes.append(("hist", "history", "events written, delivered, lost",
                  HIST_CH * CW + 2 * PAD))
    x = STEP_COL + PAD
    lane_x = {}
    for key, _, _, w in lanes:
        lane_x[key] = (x, w)
        x += w
    width = x + PAD

    # ---- the header
    out_body: list[str] = []
    y = PAD + LH
    head = title or (f"{ev.property}: {'violated' if ev.violating is not None else 'shown'}"
                     f" in {ev.desc.get('variant', '?')}, {ev.length} steps")
    out_body.append(_text(PAD, y, head, "title", weight="bold"))
    y += LH + 2
    sub = [f"variant {variant_label(ev.desc)}"]
    if ev.doc:
        sub += _wrap(f"{ev.property}: {ev.doc}", int((width - 2 * PAD) / CW))
    cfg = ", ".join(f"{k}={_t(v)}" for k, v in ev.desc.get("config", {}).items())
    sub += _wrap("config: " + cfg, int((width - 2 * PAD) / CW))
    dropped = [a["option"] for a in ev.assumptions if not a.get("in_force")]
    sub.append("assumptions dropped: " + (", ".join(dropped) if dropped else "none")
               + "   (R reader, H head, T tail, C commit page; dashed: a step only a "
               "dropped assumption allows)")
    for line in sub:
        out_body.append(_text(PAD, y, line, "sub"))
        y += LH
    y += PAD

    # lane headers
    hdr_lines = 1 + max(len(_wrap(d, int(w / CW) - 1)) if d else 0
                        for _, _, d, w in lanes)
    hdr_h = hdr_lines * LH + 2 * PAD
    top = y
    for key, name, d, w in lanes:
        lx, _ = lane_x[key]
        cls = "hdr-actor" if isinstance(key, tuple) and key[0] == "actor" else "hdr"
        out_body.append(f'<rect x="{lx + 2:.1f}" y="{top:.1f}" width="{w - 4:.1f}" '
                        f'height="{hdr_h:.1f}" class="{cls}" rx="3"/>')
        out_body.append(_text(lx + w / 2, top + PAD + LH - 2, name, "lane",
                              anchor="middle", weight="bold"))
        for i, line in enumerate(_wrap(d, int(w / CW) - 1) if d else []):
            out_body.append(_text(lx + w / 2, top + PAD + LH * (i + 2) - 2, line,
                                  "small", anchor="middle"))
    y = top + hdr_h + PAD

    # ---- rows
    rows: list[str] = []
    grid_top = y
    prev_roles = _roles(ev.steps[0].view)
    initial_row = _initial_row(ev, lanes, lane_x, pages, y)
    rows.append(initial_row[0])
    y = initial_row[1]
    for st in ev.steps[1:]:
        per_lane: dict = {}
        for k, b, a in st.changes:
            ln = lane_of(k)
            if ln is None:
                continue
            per_lane.setdefault(ln, []).append((k, b, a))
        roles = _roles(st.view)
        cells: dict = {}
        akey = ("actor", st.actor)
        mine = [f"{_t(b)} → {_t(a)}" for _, b, a in per_lane.pop(akey, [])]
        note = needs_note(ev, st.needs)
        a_lines = [st.action] + [ln for m in mine for ln in _wrap(m, ACTOR_CH - 1)]
        if note:
            a_lines.append(note)
        cells[akey] = a_lines
        for ln in [ln for ln in per_lane if ln not in lane_x]:
            # an actor with no step in this path: its field goes with the counters
            per_lane.setdefault("cpu", []).extend(per_lane.pop(ln))
        for ln, items in per_lane.items():
            chars = int(lane_x[ln][1] / CW) - 1
            if isinstance(ln, tuple) and ln[0] == "page":
                texts = [f"{_PAGE_KEY.match(k).group(2)} {_t(a)}" for k, b, a in items]
            elif isinstance(ln, tuple):    # another actor's state, changed by this step
                texts = [f"{_t(b)} → {_t(a)}" for k, b, a in items]
            else:
                texts = [f"{k[5:] if k.startswith('meta.') else k} "
                         f"{_t(b)} → {_t(a)}" for k, b, a in items]
            cells[ln] = [w for t in texts for w in _wrap(t, chars)]
        n_lines = max(len(v) for v in cells.values())
        page_lines = 1 + max((len(cells.get(("page", p), [])) for p in pages), default=0)
        n_lines = max(n_lines, page_lines)
        h = n_lines * LH + 2 * PAD
        violating = ev.violating == st.index
        g = [f'<g class="step{" violating" if violating else ""}" '
             f'data-step="{st.index}">']
        tip = f"step {st.index}: {st.actor} {st.action}" + (
            f" {note}" if note else "") + "".join(
            f"\n{k}: {_t(b)} -> {_t(a)}" for k, b, a in st.changes)
        g.append(f"<title>{escape(tip)}</title>")
        g.append(f'<rect x="0" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" '
                 f'class="{"band-viol" if violating else "band" + str(st.index % 2)}"/>')
        g.append(_text(STEP_COL, y + PAD + LH - 3, f"{'>>' if violating else ''}"
                       f"{st.index}", "num", anchor="end",
                       weight="bold" if violating else ""))
        ax, aw = lane_x[akey]
        box_h = len(a_lines) * LH + 4
        cx = ax + aw / 2
        # connectors to each shared lane this step wrote
        for ln in cells:
            if ln == akey:
                continue
            lx, lw = lane_x[ln]
            tx = lx + 3
            if tx > cx:
                g.append(f'<line x1="{ax + aw - PAD:.1f}" y1="{y + PAD + 5:.1f}" '
                         f'x2="{tx:.1f}" y2="{y + PAD + 5:.1f}" class="link"/>')
            else:
                g.append(f'<line x1="{ax + PAD:.1f}" y1="{y + PAD + 5:.1f}" '
                         f'x2="{lx + lw - 3:.1f}" y2="{y + PAD + 5:.1f}" class="link"/>')
            g.append(f'<circle cx="{tx:.1f}" cy="{y + PAD + 5:.1f}" r="2.2" '
                     'class="dot"/>')
        cls = "box" + (" box-viol" if violating else "") + (" box-needs" if note else "")
        g.append(f'<rect x="{ax + PAD:.1f}" y="{y + PAD - 2:.1f}" '
                 f'width="{aw - 2 * PAD:.1f}" height="{box_h:.1f}" rx="3" '
                 f'class="{cls}"/>')
        for i, line in enumerate(a_lines):
            cls = "act" if i == 0 else ("needs" if note and i == len(a_lines) - 1
                                        else "small")
            g.append(_text(ax + PAD + 4, y + PAD + LH * (i + 1) - 3, line, cls,
                           weight="bold" if i == 0 else ""))
        for ln, lines in cells.items():
            if ln == akey:
                continue
            lx, lw = lane_x[ln]
            off = 1 if isinstance(ln, tuple) and ln[0] == "page" else 0
            for i, line in enumerate(lines):
                cls = "val-viol" if violating and ln == "hist" else "val"
                g.append(_text(lx + PAD + 2, y + PAD + LH * (i + 1 + off) - 3,
                               line, cls))
        # the pointers on each page after the step
        for p in pages:
            lx, lw = lane_x[("page", p)]
            xx = lx + PAD + 2
            for r in roles.get(p, []):
                moved = r not in prev_roles.get(p, [])
                g.append(f'<text x="{xx:.1f}" y="{y + PAD + LH - 3:.1f}" '
                         f'class="role{" role-moved" if moved else ""}" '
                         f'fill="{ROLE_COLOR[r]}">{ROLE_LETTER[r]}</text>')
                xx += CW * 1.6
        prev_roles = roles
        g.append("</g>")
        rows.append("\n".join(g))
        y += h
    grid_bottom = y
    # lifelines behind the rows
    life = []
    for key, _, _, w in lanes:
        lx, _ = lane_x[key]
        cls = "life" if isinstance(key, tuple) and key[0] == "actor" else "life2"
        life.append(f'<line x1="{lx + w / 2:.1f}" y1="{grid_top:.1f}" '
                    f'x2="{lx + w / 2:.1f}" y2="{grid_bottom:.1f}" class="{cls}"/>')
        life.append(f'<line x1="{lx:.1f}" y1="{grid_top:.1f}" x2="{lx:.1f}" '
                    f'y2="{grid_bottom:.1f}" class="sep"/>')
    height = grid_bottom + PAD + LH
    foot = _text(PAD, grid_bottom + LH, f"replay: {ev.replay_line()}", "small")
    style = (
        f"text{{font-family:{FONT};font-size:{SIZE}px;fill:#222}}"
        ".title{font-size:13px}.sub{fill:#444}.small{font-size:10px;fill:#555}"
        ".lane{font-size:11px}.num{fill:#666}.act{fill:#111}"
        ".needs{font-size:10px;fill:#b35900;font-weight:bold}"
        ".val{font-size:10px;fill:#1a1a1a}.val-viol{font-size:10px;fill:#c00;"
        "font-weight:bold}.role{font-size:10px}.role-moved{font-weight:bold;"
        "text-decoration:underline}"
        ".val,.val-viol,.role{paint-order:stroke;stroke:#fff;stroke-width:3px;"
        "stroke-linejoin:round}"
        ".hdr{fill:#eef2f7;stroke:#9aa7b8}.hdr-actor{fill:#f3f0e6;stroke:#b8ab8a}"
        ".band0{fill:#ffffff}.band1{fill:#f7f7f7}.band-viol{fill:#fde2e2}"
        ".box{fill:#fffdf5;stroke:#8a7a50}.box-viol{stroke:#c00;stroke-width:2}"
        ".box-needs{stroke:#e67e00;stroke-dasharray:4 2;stroke-width:1.5}"
        ".life{stroke:#c9bd9c;stroke-dasharray:3 3}.life2{stroke:#dde3ea}"
        ".sep{stroke:#e4e4e4}.link{stroke:#8a7a50;stroke-width:0.8}"
        ".dot{fill:#8a7a50}.step:hover rect[class^=band]{fill:#eef6ff}")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">\n'
            f"<title>{escape(head)}</title>\n<style>{style}</style>\n"
            f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" '
            'fill="#ffffff"/>\n'
            + "\n".join(out_body) + "\n" + "\n".join(life) + "\n"
            + "\n".join(rows) + "\n" + foot + "\n</svg>\n")


def _initial_row(ev: Evidence, lanes, lane_x, pages, y):
    """Row 0: the initial state's pointers and page contents."""
    view = ev.steps[0].view
    roles = _roles(view)
    lines = 1 + (1 if any(_t(view.get(f"page{p}.events", "[]")) != "[]"
                          for p in pages) else 0)
    h = lines * LH + 2 * PAD
    g = ['<g class="step" data-step="0">',
         "<title>the initial state</title>",
         f'<rect x="0" y="{y:.1f}" width="{sum(w for *_, w in lanes) + STEP_COL + 2 * PAD:.1f}" '
         f'height="{h:.1f}" class="band1"/>',
         _text(STEP_COL, y + PAD + LH - 3, "0", "num", anchor="end")]
    first = lanes[0][0]
    lx, _ = lane_x[first]
    g.append(_text(lx + PAD + 2, y + PAD + LH - 3, "initial state", "small"))
    for p in pages:
        px, _ = lane_x[("page", p)]
        xx = px + PAD + 2
        for r in roles.get(p, []):
            g.append(f'<text x="{xx:.1f}" y="{y + PAD + LH - 3:.1f}" class="role" '
                     f'fill="{ROLE_COLOR[r]}">{ROLE_LETTER[r]}</text>')
            xx += CW * 1.6
        ev_text = _t(view.get(f"page{p}.events", "[]"))
        if ev_text != "[]":
            g.append(_text(px + PAD + 2, y + PAD + 2 * LH - 3, ev_text, "val"))
    g.append("</g>")
    return "\n".join(g), y + h
