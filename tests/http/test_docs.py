"""`/docs` works offline (issue 13, item 8): ReDoc pinned and served by the service itself, the
page's Content-Security-Policy allows this origin only, and a real browser that can reach no
other host renders the API reference."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REDOC = Path(__file__).resolve().parents[2] / "service" / "static" / "docs"
REDOC_SHA256 = "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b"  # ReDoc 2.5.4


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


def _csp_sources(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}


@pytest.fixture
def app(fresh_app):
    """The docs need no database backend of their own: SQLite only."""
    return fresh_app("sqlite")


def test_docs_page_names_only_this_origin(app):
    client = app.test_client()
    resp = client.get("/docs")
    assert resp.status_code == 200
    parser = _Refs()
    parser.feed(resp.get_data(as_text=True))
    assert parser.refs, "the page loads its viewer and the document"
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in parser.refs), parser.refs
    csp = _csp_sources(resp.headers["Content-Security-Policy"])
    for directive, sources in csp.items():
        for source in sources:
            assert source in ("'self'", "'none'", "'unsafe-inline'", "data:", "blob:"), (directive, source)
    assert csp["script-src"] == ["'self'"]  # no inline script, no other origin
    assert csp["default-src"] == ["'none'"]


def test_the_viewer_is_the_pinned_file_with_its_licence(app):
    client = app.test_client()
    script = next(r for r in _page_refs(client) if r.endswith(".js"))
    resp = client.get(script)
    assert resp.status_code == 200
    assert resp.mimetype in ("text/javascript", "application/javascript")
    assert hashlib.sha256(resp.get_data()).hexdigest() == REDOC_SHA256
    assert "MIT" in (REDOC / "LICENSE").read_text()
    assert (REDOC / "redoc.standalone.js.LICENSE.txt").is_file()


def _page_refs(client) -> list[str]:
    parser = _Refs()
    parser.feed(client.get("/docs").get_data(as_text=True))
    return parser.refs


@pytest.fixture
def http_server(app):
    """The app on a real HTTP server on a loopback port, in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _chromium():
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.fail("chromedriver is missing: .ci/run installs chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                # Offline: every host but the loopback address fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def test_docs_render_in_a_browser_that_reaches_no_other_host(http_server):
    browser = _chromium()
    try:
        browser.get(http_server + "/docs")
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            text = browser.execute_script("return document.body.innerText") or ""
            if "/v1/lookup" in text and "PGx dose-guidance service" in text:
                break
            time.sleep(0.25)
        assert "PGx dose-guidance service" in text and "/v1/lookup" in text, text[:500]
        logs = browser.get_log("browser")
    finally:
        browser.quit()
    # Nothing this page needs was refused by its policy or failed to load (the browser's own
    # favicon request aside; ReDoc's "by Redocly" logo, asked of that company's CDN, may fail).
    problems = [e["message"] for e in logs if e["level"] == "SEVERE"
                and not re.search(r"/favicon\.ico |cdn\.redoc\.ly/redoc/logo-mini\.svg", e["message"])]
    assert problems == []
