"""The dashboard's files at /ui/ and the summary its overview reads
(/api/v1/targets/health), over real sockets. The page itself is tested in
headless Chromium (tests/browser/)."""
import json

import pytest

from conftest import PAYLOADS
from targets import Target

TEMPLATE = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())


@pytest.mark.valgrind
def test_ui_files_are_served_from_the_binary(herald_factory):
    h = herald_factory()
    for path in ("/ui", "/ui/"):
        c = h.conn()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and r.getheader("Content-Type") == "text/html; charset=utf-8"
        assert b'<script src="/ui/app.js"' in body
    for name, ctype in (("app.js", "text/javascript"), ("targets.js", "text/javascript"),
                        ("app.css", "text/css")):
        status, body = h.get("/ui/" + name)
        assert status == 200 and len(body) > 1000
        c = h.conn()
        c.request("GET", "/ui/" + name)
        assert c.getresponse().getheader("Content-Type").startswith(ctype)
    status, body = h.get("/ui/../api/v1/events")
    assert status in (400, 404)
    status, body = h.get("/ui/nothing.js")
    assert status == 404 and b"no such file" in body


def test_ui_opens_from_a_link_on_another_site_but_the_api_still_refuses(herald_factory):
    h = herald_factory()
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://chat.example.com"}
    status, body = h.request("GET", "/ui/", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 200 and b"<title>herald</title>" in body
    status, _ = h.request("GET", "/api/v1/targets/health", headers=cross)
    assert status == 403


@pytest.mark.valgrind
def test_targets_health_counts_by_window_and_needs_the_token(tmp_path, herald_factory):
    t = Target().start()
    cfg = tmp_path / "herald.yaml"
    cfg.write_text(f"""
delivery: {{max_attempts: 1, backoff_initial: 100ms, allow: [127.0.0.0/8]}}
targets: [{{name: hook, url: "{t.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    (tmp_path / "tok").write_text("api-token-123456789\n")
    h = herald_factory(["--config", str(cfg), "--api-token-file", str(tmp_path / "tok")])
    auth = {"Authorization": "Bearer api-token-123456789"}
    assert h.gocd("stage-status", TEMPLATE)[0] == 200
    t.wait(1)
    assert h.request("GET", "/api/v1/targets/health")[0] == 401
    for _ in range(100):
        status, data = h.request("GET", "/api/v1/targets/health?window=3600", headers=auth)
        got = json.loads(data)
        if got["targets"] and got["targets"][0]["delivered"] == 1:
            break
    assert status == 200 and got["window_s"] == 3600
    assert got["targets"] == [{"target": "hook", "pending": 0, "retrying": 0, "dead": 0,
                               "delivered": 1, "last_error": None}]
    for bad in ("0", "604801", "x", ""):
        status, data = h.request("GET", "/api/v1/targets/health?window=" + bad, headers=auth)
        assert status == 400 and b"window" in data
    t.stop()
