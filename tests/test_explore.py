"""rbmap explore: the server's API (in the default run) and the page in a real
headless Chromium (``pytest -m browser``; skipped, saying why, without one)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from rbmap.checker import check_bfs, replay
from rbmap.cli.check import model_info
from rbmap.explore import Explorer, make_server
from rbmap.model import build

V2 = dict(pages=2, page_events=1, events=3, nesting=1)
V2_ARGS = ["--pages", "2", "--page-events", "1", "--events", "3", "--nesting", "1"]


@pytest.fixture(scope="module")
def v2_model():
    m = build("v2", **V2)
    return m, model_info("v2", {}, m.config.to_dict(), m)


@pytest.fixture(scope="module")
def dup_path(v2_model):
    m, _ = v2_model
    r = check_bfs(m)
    return next(p for p in r.properties if p.name == "no_duplicate_delivery").path


@contextmanager
def running(explorer):
    server = make_server(explorer, 0)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url, data=None):
    req = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def indices(m, actions):
    s, out = m.init_states()[0], []
    for a in actions:
        succ = m.successors(s)
        i = [b for b, _ in succ].index(a)
        out.append(i)
        s = succ[i][1]
    return out


def test_the_api_walks_the_model_and_shares_paths(v2_model, dup_path):
    m, info = v2_model
    ex = Explorer(m, info, "rbmap explore v2", [])
    idx = indices(m, dup_path.actions)
    code_path = ".".join(map(str, idx))
    with running(ex) as url:
        code, page = get(url + "/")
        assert code == 200 and "rbmap explore" in page
        assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
        code, body = get(url + "/api/walk?path=" + code_path)
        assert code == 200
        d = json.loads(body)
        states = replay(m, dup_path)
        assert len(d["steps"]) == len(states)
        assert d["steps"][-1]["view"] == json.loads(json.dumps(m.view(states[-1])))
        assert d["verdicts"]["no_duplicate_delivery"] == "violated"
        assert d["first_violation"]["no_duplicate_delivery"] == len(idx)
        assert [(a["actor"], a["action"]) for a in d["enabled"]] == [
            (m.actor(a), m.format_action(a)) for a, _ in m.successors(states[-1])]
        assert d["svg"].startswith("<?xml")
        # a request addressed to another name (DNS rebinding) gets nothing
        req = urllib.request.Request(url + "/api/model", headers={"Host": "x.example"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code == 403
        # bad paths: one line of error, 400
        for bad in ("0.99", "x", "-1"):
            code, body = get(url + "/api/walk?path=" + bad)
            assert code == 400 and json.loads(body)["error"]
        # the path as a trace file, and back
        code, trace = get(url + "/api/trace?path=" + code_path)
        t = json.loads(trace)
        assert t["format"] == "rbmap-traces/2"
        assert t["paths"][0]["property"] == "no_duplicate_delivery"
        code, body = get(url + "/api/path", trace.encode())
        assert code == 200 and json.loads(body)["path"] == code_path
        # a trace of another model is refused
        other = json.loads(trace)
        other["model"]["config"]["pages"] = 3
        code, body = get(url + "/api/path", json.dumps(other).encode())
        assert code == 400 and "another model" in json.loads(body)["error"]
        # the counterexamples: a background check
        for _ in range(600):
            code, body = get(url + "/api/counterexamples")
            d = json.loads(body)
            if d["status"] == "done":
                break
            time.sleep(0.1)
        cex = {c["property"]: c["path"] for c in d["paths"]}
        assert cex["no_duplicate_delivery"] == code_path


def test_the_explorer_opens_a_saved_trace_anywhere(tmp_path, v2_model, dup_path):
    from rbmap.evidence import traces_text
    from rbmap.explore import explorer_for_trace
    m, info = v2_model
    f = tmp_path / "t.json"
    f.write_text(traces_text(m, [dup_path], info))
    ex, notes = explorer_for_trace(str(f))
    assert ex.start == indices(m, dup_path.actions) and notes == []


def test_explore_refuses_a_busy_port_and_both_a_variant_and_a_trace(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "rbmap.cli.__main__", "explore",
                            "v2", *V2_ARGS, "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot listen on 127.0.0.1" in r.stderr
    from click.testing import CliRunner

    from rbmap.cli import main
    r = CliRunner().invoke(main, ["explore", "v2", "--trace", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "not both" in r.stderr


# --------------------------------------------------------------------- browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]


class WebDriver:
    """The few W3C WebDriver commands the test needs, over chromedriver's HTTP
    API (no client library)."""

    ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

    def __init__(self, base: str, profile: str):
        self.base = base
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM,
                                   "args": FLAGS + [f"--user-data-dir={profile}"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"webdriver {method} {path}: {exc.read()[:300]!r}")

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return self.cmd("POST", "/element", {"using": "css selector",
                                             "value": css})[self.ELEMENT]

    def click(self, css):
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def wait(self, script, timeout=30.0, *args):
        end = time.time() + timeout
        while time.time() < end:
            value = self.js(script, *args)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {script}")

    def quit(self):
        try:
            self._call("DELETE", f"/session/{self.session}")
        except Exception:  # noqa: BLE001 - best effort at the end
            pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver "
                    "(/usr/bin/chromium, /usr/bin/chromedriver): apt-get install "
                    "chromium chromium-driver")
    port = _free_port()
    drv = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="rbmap-chromium-")
    try:
        base = f"http://127.0.0.1:{port}"
        end = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/status", timeout=2)
                break
            except OSError:
                if time.time() > end:
                    pytest.fail("chromedriver did not start")
                time.sleep(0.1)
        wd = WebDriver(base, profile)
        try:
            yield wd
        finally:
            wd.quit()
    finally:
        drv.terminate()
        drv.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def served():
    """rbmap explore v2 ... --port 0, as a user starts it."""
    proc = subprocess.Popen([sys.executable, "-m", "rbmap.cli.__main__", "explore", "v2",
                             *V2_ARGS, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("rbmap explore: http://127.0.0.1:"), (
            line + proc.stderr.read())
        yield line.split()[2]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


READY = "return document.body.dataset.path === arguments[0] ? " \
        "document.getElementById('state-json').textContent : null"


@pytest.mark.browser
def test_clicking_through_a_counterexample_in_chromium(browser, served, v2_model,
                                                       dup_path):
    """Click the seed's duplicate read action by action, compare the page's final
    state with the model's; then Back, Forward, a shared link and the
    Counterexamples jump land on the same states."""
    m, _ = v2_model
    states = replay(m, dup_path)
    want = json.loads(json.dumps(m.view(states[-1])))
    browser.go(served)
    browser.wait(READY, 30, "")
    done = []
    for a in dup_path.actions:
        actor, action = m.actor(a), m.format_action(a)
        browser.click(f'#actions button[data-actor="{actor}"]'
                      f'[data-action="{action}"]')
        done.append(indices(m, dup_path.actions[:len(done) + 1])[-1])
        browser.wait(READY, 30, ".".join(map(str, done)))
    got = json.loads(browser.wait(READY, 30, ".".join(map(str, done))))
    assert got == want
    status = browser.js("return document.querySelector("
                        "'#verdicts [data-property=no_duplicate_delivery]').textContent")
    assert "violated (first at step 17)" in status
    drawing = browser.js("return document.getElementById('state-drawing').textContent")
    assert "|page1 #0 |" in drawing
    # Back, then Forward
    code = ".".join(map(str, done))
    browser.click("#back")
    before = json.loads(browser.wait(READY, 30, ".".join(map(str, done[:-1]))))
    assert before == json.loads(json.dumps(m.view(states[-2])))
    browser.click("#fwd")
    assert json.loads(browser.wait(READY, 30, code)) == want
    # the link in the address bar opens the same state in a fresh page
    href = browser.js("return location.href")
    assert href.endswith("#path=" + code)
    browser.go("about:blank")
    browser.go(href)
    assert json.loads(browser.wait(READY, 30, code)) == want
    # Counterexamples: the full check, then a jump to the shortest one
    browser.click("#restart")
    browser.wait(READY, 30, "")
    browser.click("#cexbtn")
    browser.wait("return document.querySelector("
                 "'#cexlist div.cex[data-property=no_duplicate_delivery]')", 120)
    browser.click("#cexlist div.cex[data-property=no_duplicate_delivery]")
    assert json.loads(browser.wait(READY, 30, code)) == want
    # a step of the diagram shows the state after it
    browser.click('#seq g.step[data-step="10"]')
    title = browser.js("return document.getElementById('state-title').textContent")
    assert title.startswith("After step 10: p0 ioctl")


@pytest.mark.browser
def test_the_html_report_shows_the_state_after_a_clicked_step(browser, tmp_path,
                                                              v2_model, dup_path):
    """rbmap report --format html, opened from the file: a click on a row of the
    diagram shows the state after that step; the arrow keys move on."""
    from rbmap.cli.report import write_reports
    m, info = v2_model
    files = write_reports(str(tmp_path), "dup", m, dup_path, info)
    states = replay(m, dup_path)
    browser.go((tmp_path / files["html"]).as_uri())
    title = "return document.getElementById('state-title') && " \
            "document.getElementById('state-title').textContent"
    assert browser.wait(title).startswith("After step 17: p0 read_event")
    browser.click('g.step[data-step="10"]')
    assert browser.wait(title).startswith("After step 10: p0 ioctl")
    rows = browser.js("return Array.from(document.querySelectorAll("
                      "'#state-fields tr')).map(r => [r.cells[0].textContent, "
                      "r.cells[1].textContent])")
    view = m.view(states[10])
    assert dict(rows)["head_page"] == str(view["head_page"])
    assert dict(rows)["meta.data_pages"] == json.dumps(view["meta.data_pages"])
    browser.js("document.dispatchEvent(new KeyboardEvent('keydown', "
               "{key: 'ArrowDown'}))")
    assert browser.wait(title).startswith("After step 11: p0 read_meta")
