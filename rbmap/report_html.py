"""A counterexample as one self-contained HTML file (no network, no script from
elsewhere): the summary, the sequence diagram (:mod:`rbmap.svg`) inline, and the
state after every step, shown when its row is clicked (or with the arrow keys):
the page list as the text report draws it and every field of the state. The
text report (:mod:`rbmap.report`) follows, for copying into a mail.
"""

from __future__ import annotations

import json
from html import escape

from rbmap.checker.report import change_text
from rbmap.evidence import Evidence
from rbmap.report import needs_note, state_lines, summary, text_report
from rbmap.svg import sequence_svg

__all__ = ["html_report", "step_data", "PANEL_CSS", "PANEL_JS"]

#: the state panel's style and script, shared with the explorer's page
PANEL_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{padding:10px 16px;border-bottom:1px solid #ddd;background:#fafafa}
header h1{font-size:17px;margin:0 0 6px 0}
header p{margin:4px 0;max-width:110ch;font-size:13px;line-height:1.4}
.note{color:#8a4b00}
main{display:flex;align-items:flex-start;gap:0}
#diagram{flex:1 1 auto;overflow:auto;padding:8px}
#panel{flex:0 0 auto;width:min(44rem,46vw);position:sticky;top:0;max-height:100vh;
  overflow:auto;border-left:1px solid #ddd;padding:8px 12px;background:#fcfcfc}
#panel h2{font-size:14px;margin:4px 0}
#panel pre,.textreport{font-family:DejaVu Sans Mono,Menlo,Consolas,monospace;
  font-size:12px;line-height:1.25;white-space:pre;overflow-x:auto}
#panel table{border-collapse:collapse;font-size:12px;font-family:monospace}
#panel td{border-bottom:1px solid #eee;padding:1px 6px;vertical-align:top}
#panel tr.changed td{background:#fff3c4}
.navbtn{font-size:13px;margin-right:4px}
g.step{cursor:pointer}
g.step.selected rect[class^=band]{fill:#dcebff}
.needs{color:#b35900;font-weight:bold}
details{padding:8px 16px}
"""

PANEL_JS = """
function rbmapPanel(data, opts) {
  const panel = document.getElementById(opts.panel || 'panel');
  function esc(s) { return String(s).replace(/[&<>"]/g,
      c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
  function show(i) {
    const st = data.steps[i];
    if (!st) return;
    let h = '<h2 id="state-title">' + (i === 0 ? 'The initial state' :
        'After step ' + i + ': ' + esc(st.actor) + ' ' + esc(st.action)) +
        (st.needs ? ' <span class="needs">' + esc(st.needs) + '</span>' : '') +
        (st.violating ? ' <span style="color:#c00">(the violation)</span>' : '') +
        '</h2>';
    if (opts.nav) h += opts.nav(i);
    if (st.changes.length) {
      h += '<pre id="state-changes">' + st.changes.map(esc).join('\\n') + '</pre>';
    }
    h += '<pre id="state-drawing">' + st.drawing.map(esc).join('\\n') + '</pre>';
    const changed = new Set(st.changed || []);
    h += '<table id="state-fields">';
    for (const [k, v] of Object.entries(st.view)) {
      h += '<tr' + (changed.has(k) ? ' class="changed"' : '') + '><td>' + esc(k) +
           '</td><td>' + esc(typeof v === 'string' ? v : Array.isArray(v) ?
           '[' + v.join(', ') + ']' : JSON.stringify(v)) +
           '</td></tr>';
    }
    h += '</table>';
    panel.innerHTML = h;
    panel.dataset.step = String(i);
    document.querySelectorAll('g.step').forEach(g =>
        g.classList.toggle('selected', g.dataset.step === String(i)));
  }
  return show;
}
"""

_PAGE_JS = """
(function () {
  const data = JSON.parse(document.getElementById('rbmap-data').textContent);
  let cur = data.start;
  const nav = i => '<p><button class="navbtn" id="prev">&larr; step ' + (i - 1) +
      '</button><button class="navbtn" id="next">step ' + (i + 1) +
      ' &rarr;</button> <small>(or click a row, or the arrow keys)</small></p>';
  const show = rbmapPanel(data, {nav: nav});
  function go(i) {
    if (i < 0 || i >= data.steps.length) return;
    cur = i; show(i);
    const p = document.getElementById('prev'), n = document.getElementById('next');
    if (p) { p.disabled = i === 0; p.onclick = () => go(cur - 1); }
    if (n) { n.disabled = i === data.steps.length - 1; n.onclick = () => go(cur + 1); }
  }
  document.querySelectorAll('g.step').forEach(g =>
      g.addEventListener('click', () => go(Number(g.dataset.step))));
  document.addEventListener('keydown', e => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowRight') { go(cur + 1); e.preventDefault(); }
    if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') { go(cur - 1); e.preventDefault(); }
  });
  go(cur);
})();
"""


def step_data(ev: Evidence) -> list[dict]:
    """Each step as the state panel shows it: action, changes, the page-list
    drawing and every field of the state after it."""
    out = []
    for st in ev.steps:
        out.append({"index": st.index, "actor": st.actor or "", "action": st.action,
                    "needs": needs_note(ev, st.needs) or "",
                    "violating": ev.violating == st.index,
                    "changes": [change_text(k, b, a) for k, b, a in st.changes],
                    "changed": [k for k, _, _ in st.changes],
                    "drawing": state_lines(st.view, ev),
                    "view": st.view})
    return out


def _script_json(obj) -> str:
    return (json.dumps(obj, ensure_ascii=False, sort_keys=False)
            .replace("</", "<\\/").replace("<!--", "<\\!--"))


def html_report(ev: Evidence, trace_name: str | None = None) -> str:
    """The self-contained HTML page of ``ev``."""
    svg = sequence_svg(ev)
    svg = svg[svg.index("<svg"):]   # inline: no XML declaration
    title = escape(svg[svg.index("<title>") + 7:svg.index("</title>")])
    para = escape(" ".join(summary(ev, 10_000)))
    notes = "".join(f'<p class="note">Note: {escape(n)}</p>' for n in ev.notes)
    start = ev.violating if ev.violating is not None else ev.length
    data = {"steps": step_data(ev), "start": start}
    replay = escape(ev.replay_line(trace_name))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{PANEL_CSS}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{para}</p>
{notes}
<p>Replay: <code>{replay}</code>. Click a step (a row of the diagram) to see the
state after it.</p>
</header>
<main>
<div id="diagram">
{svg}
</div>
<aside id="panel"></aside>
</main>
<details>
<summary>The text report (80 columns, for a mail)</summary>
<pre class="textreport">{escape(text_report(ev, trace_name=trace_name))}</pre>
</details>
<script type="application/json" id="rbmap-data">{_script_json(data)}</script>
<script>{PANEL_JS}{_PAGE_JS}</script>
</body>
</html>
"""
