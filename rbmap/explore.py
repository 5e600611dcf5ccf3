"""``rbmap explore``: walk the model by hand in a browser (like Stateright's Explorer).

A small HTTP server on 127.0.0.1 (never another interface) serves one page
(``explore.html``, self-contained: no network) and a JSON API over one model:

``GET /api/model``
    the model: variant, config, assumptions, lanes, properties, the command
    line that rebuilds it, and the path to open first (``--trace``).
``GET /api/walk?path=3.0.1``
    a path given as the index of each step among the enabled actions of the
    state before it (the successors' order is deterministic): every step's
    state (the view, the page-list drawing), the enabled actions of the last
    state (actor, action, the dropped assumptions each needs, what it would
    change), each property's verdict at the last state and the step where an
    ``always`` property first fails, and the sequence diagram so far.
``GET /api/counterexamples``
    the shortest counterexample of each violated property (a full check,
    started on the first request, in the background; ``running`` until done).
``POST /api/path``
    a trace file's JSON (``rbmap check --trace-out``): its path as indices on
    this model (refused when the trace is for another model).
``GET /api/trace?path=...``
    the path as a trace file (``rbmap-traces/2``: replay or report it anywhere).

The page keeps the path in its URL (``#path=3.0.1``): a link shares it.
The server holds no session state; every request replays its path.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from rbmap.checker import Path
from rbmap.checker.engine import explore
from rbmap.checker.report import change_text, diff_views
from rbmap.evidence import (TraceError, evidence, model_for, read_trace_data,
                            traces_text)
from rbmap.report import needs_note
from rbmap.report_html import PANEL_CSS, PANEL_JS, step_data
from rbmap.svg import sequence_svg

__all__ = ["Explorer", "serve", "PathError"]

MAX_STEPS = 400


class PathError(ValueError):
    """A path the model cannot take (an index out of range, a bad encoding)."""


def encode(indices: list[int]) -> str:
    return ".".join(str(i) for i in indices)


def decode(text: str) -> list[int]:
    if not text:
        return []
    try:
        out = [int(x) for x in text.split(".")]
    except ValueError:
        raise PathError(f"a path is step indices separated by dots, not {text!r}") \
            from None
    if any(i < 0 for i in out):
        raise PathError("step indices are not negative")
    if len(out) > MAX_STEPS:
        raise PathError(f"at most {MAX_STEPS} steps")
    return out


class Explorer:
    """One model, walked by index paths (the server's state: none but caches)."""

    def __init__(self, model, desc: dict, command: str, start: list | None = None,
                 check_time_limit: float | None = None):
        self.model = model
        self.desc = desc
        self.command = command
        self.start = start or []
        self.check_time_limit = check_time_limit
        self.props = list(model.properties())
        self._cex: dict | None = None
        self._cex_lock = threading.Lock()
        self._cex_thread: threading.Thread | None = None

    # ---------------------------------------------------------------- paths
    def actions_of(self, indices: list[int]) -> tuple[list, list]:
        """The actions and states of an index path."""
        m = self.model
        s = m.init_states()[0]
        states, actions = [s], []
        for n, i in enumerate(indices, 1):
            succ = m.successors(s)
            if i >= len(succ):
                raise PathError(f"step {n}: index {i}, but only {len(succ)} "
                                "actions are enabled")
            a, s = succ[i]
            actions.append(a)
            states.append(s)
        return actions, states

    def indices_of(self, actions: list) -> list[int]:
        """The index path of a list of actions (PathError when one is not
        enabled where the path takes it)."""
        m = self.model
        s = m.init_states()[0]
        out = []
        for n, a in enumerate(actions, 1):
            succ = m.successors(s)
            hits = [i for i, (b, _) in enumerate(succ) if b == tuple(a)]
            if not hits:
                raise PathError(f"step {n}: {' '.join(map(str, a))} is not enabled "
                                "on this model")
            out.append(hits[0])
            s = succ[hits[0]][1]
        return out

    # ---------------------------------------------------------------- API
    def info(self) -> dict:
        d = {k: v for k, v in self.desc.items() if k != "variant_text"}
        return {"desc": d, "command": self.command, "start": encode(self.start),
                "lanes": [list(x) for x in self.model.actors()],
                "properties": [{"name": p.name, "kind": p.kind,
                                "doc": " ".join((p.doc or "").split("\n\n")[0].split())}
                               for p in self.props]}

    def walk(self, indices: list[int]) -> dict:
        m = self.model
        actions, states = self.actions_of(indices)
        path = Path(0, actions, None)
        path.states = states
        ev = evidence(m, path, self.desc)
        ev.violating = None
        last = states[-1]
        enabled = []
        before = m.view(last)
        for i, (a, t) in enumerate(m.successors(last)):
            needs = m.step_assumptions(last, a)
            enabled.append({"index": i, "actor": str(m.actor(a)),
                            "action": m.format_action(a),
                            "needs": needs_note(ev, needs) or "",
                            "changes": [change_text(k, b, x) for k, b, x in
                                        diff_views(before, m.view(t))]})
        verdicts, first = {}, {}
        for p in self.props:
            if p.kind == "always":
                bad = [n for n, s in enumerate(states) if not p(s)]
                verdicts[p.name] = "violated" if not p(last) else "holds"
                if bad:
                    first[p.name] = bad[0]
            elif p.kind == "sometimes":
                verdicts[p.name] = "reached" if p(last) else "not yet"
            else:
                verdicts[p.name] = "holds here" if p(last) else "not yet"
        if not enabled:
            stuck = not m.terminal_ok(last)
            verdicts["deadlock"] = "violated" if stuck else "holds"
        data = step_data(ev)
        return {"path": encode(indices), "steps": data, "enabled": enabled,
                "verdicts": verdicts, "first_violation": first,
                "svg": sequence_svg(ev, title=f"the path so far: {len(actions)} steps")
                if actions else ""}

    def counterexamples(self) -> dict:
        """The shortest counterexample of each violated property (a background
        check, started on the first call)."""
        with self._cex_lock:
            if self._cex is not None:
                return self._cex
            if self._cex_thread is None:
                self._cex_thread = threading.Thread(target=self._check, daemon=True)
                self._cex_thread.start()
        return {"status": "running"}

    def _check(self) -> None:
        t = time.perf_counter()
        r = explore(self.model, time_limit=self.check_time_limit, progress=False)
        out = {"status": "done", "complete": r.complete, "states": r.states,
               "seconds": round(time.perf_counter() - t, 1), "paths": []}
        for p in r.properties:
            if p.status == "violated" and p.path is not None:
                out["paths"].append({"property": p.name, "kind": p.kind,
                                     "steps": len(p.path),
                                     "path": encode(self.indices_of(p.path.actions))})
        with self._cex_lock:
            self._cex = out

    def path_of_trace(self, data: dict) -> dict:
        """A trace file's first path (or its only counterexample) on this model."""
        try:
            entries, _ = read_trace_data(data)
        except TraceError as exc:
            raise PathError(str(exc)) from None
        entry = next((e for e in entries if e.record.get("kind") in
                      ("always", "eventually")), entries[0])
        theirs = entry.desc
        mine = self.desc
        if "variant_text" in theirs:
            same = (theirs.get("variant_sha256") == mine.get("variant_sha256")
                    and theirs.get("rules") == mine.get("rules")
                    and theirs.get("config") == mine.get("config"))
            if not same:
                raise PathError(
                    "this trace is for another model (variant "
                    f"{theirs.get('variant')}, {theirs.get('config')}); open it "
                    "with: rbmap explore --trace FILE")
        return {"property": entry.path.property,
                "path": encode(self.indices_of(list(entry.path.actions)))}

    def trace(self, indices: list[int]) -> str:
        """The path as a trace file; its property: the first ``always`` property
        it violates, if any."""
        actions, states = self.actions_of(indices)
        prop = None
        for p in self.props:
            if p.kind == "always" and not p(states[-1]):
                prop = p.name
                break
        path = Path(0, actions, prop)
        path.states = states
        return traces_text(self.model, [path], self.desc)


def page() -> str:
    text = resources.files("rbmap").joinpath("explore.html").read_text()
    return text.replace("/*PANEL_CSS*/", PANEL_CSS).replace("/*PANEL_JS*/", PANEL_JS)


class Handler(BaseHTTPRequestHandler):
    explorer: Explorer  # set on the subclass serve() makes
    server_version = "rbmap-explore"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _send(self, code: int, body: str, ctype: str = "application/json",
              extra: dict | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj, code: int = 200) -> None:
        self._send(code, json.dumps(obj))

    def _local(self) -> bool:
        """Only requests addressed to this server by its local name (a page of
        another site that points its name at 127.0.0.1 gets nothing)."""
        port = self.server.server_address[1]
        if self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return True
        self._json({"error": f"only http://127.0.0.1:{port}/ serves this"}, 403)
        return False

    def do_GET(self):  # noqa: N802 - http.server's name
        if not self._local():
            return
        url = urlparse(self.path)
        q = parse_qs(url.query)
        ex = self.explorer
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, page(), "text/html")
            elif url.path == "/api/model":
                self._json(ex.info())
            elif url.path == "/api/walk":
                self._json(ex.walk(decode(q.get("path", [""])[0])))
            elif url.path == "/api/counterexamples":
                self._json(ex.counterexamples())
            elif url.path == "/api/trace":
                indices = decode(q.get("path", [""])[0])
                self._send(200, ex.trace(indices), extra={
                    "Content-Disposition": 'attachment; filename="trace.json"'})
            else:
                self._json({"error": f"no such page: {url.path}"}, 404)
        except PathError as exc:
            self._json({"error": str(exc)}, 400)

    def do_POST(self):  # noqa: N802
        if not self._local():
            return
        url = urlparse(self.path)
        if url.path != "/api/path":
            self._json({"error": f"no such page: {url.path}"}, 404)
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
            if n > 10_000_000:
                raise PathError("a trace file of more than 10 MB")
            data = json.loads(self.rfile.read(n).decode("utf-8"))
            self._json(self.explorer.path_of_trace(data))
        except (ValueError, UnicodeDecodeError) as exc:
            self._json({"error": f"not a trace file: {exc}"}, 400)


def make_server(explorer: Explorer, port: int) -> ThreadingHTTPServer:
    """The server on 127.0.0.1:``port`` (0: any free port); OSError when the port
    cannot be had."""
    handler = type("ExploreHandler", (Handler,), {"explorer": explorer})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def serve(explorer: Explorer, port: int, say=print) -> None:
    server = make_server(explorer, port)
    host, real = server.server_address[:2]
    say(f"rbmap explore: http://{host}:{real}/ (localhost only; Ctrl-C stops it)")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def explorer_for_trace(file: str, check_time_limit: float | None = None):
    """An explorer on the model a trace file describes, opened at its path."""
    from rbmap.evidence import read_trace
    entries, _ = read_trace(file)
    entry = next((e for e in entries if e.record.get("kind") in
                  ("always", "eventually")), entries[0])
    model, notes = model_for(entry.desc, file)
    desc = entry.desc
    if "variant_text" not in desc:   # an old trace: describe what was rebuilt
        from rbmap.evidence import describe
        desc = describe(model.variant.source, desc.get("rules", {}), model)
    ex = Explorer(model, desc, f"rbmap explore --trace {file}", [], check_time_limit)
    ex.start = ex.indices_of(list(entry.path.actions))
    return ex, notes
