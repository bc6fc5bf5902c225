"""Delivery end to end: the real daemon, real local HTTP servers as targets,
real SQLite, real kill -9."""
import base64
import hashlib
import hmac
import json
import signal
import subprocess
import time

import pytest

from conftest import BIN, PAYLOADS, SLOW
from targets import Target, free_port

TEMPLATE = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())
SECRET_KEY = b"an-example-signing-key-of-herald"
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()
FAST = """
delivery:
  max_attempts: {attempts}
  backoff_initial: 200ms
  backoff_max: 1s
  connect_timeout: 500ms
  timeout: {timeout}
  allow: [127.0.0.0/8]
"""


def event(pipeline="app", counter="1", state="Failed", result="Failed"):
    b = json.loads(json.dumps(TEMPLATE))
    b["pipeline"]["name"], b["pipeline"]["counter"] = pipeline, str(counter)
    b["pipeline"]["stage"]["state"], b["pipeline"]["stage"]["result"] = state, result
    return b


def config(tmp_path, body, attempts=3, timeout="1s", allow=True):
    text = FAST.format(attempts=attempts, timeout=timeout)
    if not allow:
        text = text.replace("  allow: [127.0.0.0/8]\n", "")
    p = tmp_path / "herald.yaml"
    p.write_text(text + body)
    return p


def send(h, body):
    status, answer = h.gocd("stage-status", body)
    assert (status, answer) == (200, {"status": "success"}), answer


def deliveries(h, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    status, data = h.get_json("/api/v1/deliveries" + ("?" + qs if qs else ""))
    assert status == 200, data
    return data["deliveries"]


def wait_state(h, state, n, timeout=20, **auth):
    """auth: token=T when herald has an API token."""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        got = deliveries(h, state=state, limit=500, **auth)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"wanted {n} {state}; have {deliveries(h, limit=500, **auth)}")


@pytest.mark.valgrind
def test_methods_headers_body_and_signature(tmp_path, herald_factory, monkeypatch):
    t = Target().start()
    monkeypatch.setenv("HOOK_TOKEN", "tok-12345-secret")
    cfg = config(tmp_path, f"""
targets:
  - name: post
    url: {t.url}/post/{{{{ .pipeline.name }}}}
    method: POST
    headers:
      X-Team: builds
      Authorization: {{ value: "Bearer ${{HOOK_TOKEN}}", secret: true }}
    body: '{{text: "\\(.pipeline.name) \\(.transition)", n: .pipeline.counter}}'
    signing_secret: {SECRET}
  - name: put
    url: {t.url}/put
    method: PUT
  - name: get
    url: {t.url}/get?p={{{{ .pipeline.name }}}}
    method: GET
  - name: delete
    url: {t.url}/delete
    method: DELETE
routes:
  - name: all
    targets: [post, put, get, delete]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event(pipeline="my app"))
    reqs = {r["path"].split("/")[1].split("?")[0]: r for r in t.wait(4)}
    post = reqs["post"]
    assert post["method"] == "POST" and post["path"] == "/post/my%20app"
    assert json.loads(post["body"]) == {"text": "my app failed", "n": "1"}
    assert post["headers"]["x-team"] == "builds"
    assert post["headers"]["authorization"] == "Bearer tok-12345-secret"
    assert post["headers"]["content-type"] == "application/json"
    wid, ts = post["headers"]["webhook-id"], post["headers"]["webhook-timestamp"]
    signed = f"{wid}.{ts}.".encode() + post["body"]
    want = base64.b64encode(hmac.new(SECRET_KEY, signed, hashlib.sha256).digest()).decode()
    assert post["headers"]["webhook-signature"] == "v1," + want
    assert wid == "herald-" + post["headers"]["x-herald-delivery"]
    put = reqs["put"]
    assert put["method"] == "PUT"
    default = json.loads(put["body"])
    assert default["pipeline"]["name"] == "my app" and default["transition"] == "failed"
    assert "raw" not in default
    assert reqs["get"]["method"] == "GET" and reqs["get"]["body"] == b""
    assert reqs["get"]["path"] == "/get?p=my%20app"
    assert reqs["delete"]["method"] == "DELETE" and reqs["delete"]["body"] == b""
    done = wait_state(h, "delivered", 4)
    for d in done:
        assert d["attempts"] == 1 and d["attempt_log"][0]["status"] == 200
        assert d["attempt_log"][0]["outcome"] == "delivered"
    # secrets: not in the log, the config view, or the deliveries API
    everything = h.log_text() + json.dumps(h.get_json("/api/v1/config")[1]) + \
        json.dumps(deliveries(h, limit=500))
    assert "tok-12345-secret" not in everything
    assert SECRET not in everything
    t.stop()


def test_retries_500_then_delivers(tmp_path, herald_factory):
    t = Target([500, 503, 200]).start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    t.wait(3)
    d = wait_state(h, "delivered", 1)[0]
    assert [a["status"] for a in d["attempt_log"]] == [500, 503, 200]
    assert [a["outcome"] for a in d["attempt_log"]] == ["retry", "retry", "delivered"]
    ids = {r["headers"]["webhook-id"] for r in t.requests}
    assert len(ids) == 1, "the id is stable across retries"
    t.stop()


def test_429_retry_after_is_honoured(tmp_path, herald_factory):
    t = Target([("status", 429, {"Retry-After": "1"}), 200]).start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    r = t.wait(2)
    assert r[1]["at"] - r[0]["at"] >= 0.9
    wait_state(h, "delivered", 1)
    t.stop()


def test_404_is_dead_at_once(tmp_path, herald_factory):
    t = Target([404]).start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    d = wait_state(h, "dead", 1)[0]
    assert d["attempts"] == 1 and d["last_status"] == 404
    assert d["attempt_log"][0]["excerpt"] == '{"ok":true}'
    time.sleep(0.5)
    assert len(t.requests) == 1
    t.stop()


@pytest.mark.parametrize("behaviour,word", [("hang", "imeout"), ("close", "")])
def test_hang_and_close_retry_then_dead(tmp_path, herald_factory, behaviour, word):
    t = Target([behaviour], hang=3).start()
    # Without a circuit breaker (failures: 0) a target that stays down
    # makes dead letters after max_attempts (with it, they are held:
    # test_target_health.py).
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/x", circuit: {{failures: 0}}}}]
routes: [{{name: all, targets: [hook]}}]
""", attempts=2, timeout="500ms")
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    d = wait_state(h, "dead", 1)[0]
    assert d["attempts"] == 2
    assert all(a["status"] is None and a["error"] for a in d["attempt_log"])
    assert word in d["attempt_log"][0]["error"], d
    assert "gave up after 2 attempts" in d["last_error"]
    t.stop()


def test_not_listening_retries_then_dead(tmp_path, herald_factory):
    port = free_port()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "http://127.0.0.1:{port}/x", circuit: {{failures: 0}}}}]
routes: [{{name: all, targets: [hook]}}]
""", attempts=2)
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    d = wait_state(h, "dead", 1)[0]
    assert d["attempts"] == 2 and "onnect" in d["attempt_log"][0]["error"]
    status, msgs = h.get_json("/gocd/health-messages")
    assert status == 200 and msgs[0]["type"] == "error" and "hook" in msgs[0]["message"]


def test_loopback_is_refused_unless_allowed(tmp_path, herald_factory):
    t = Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""", allow=False)
    h = herald_factory(["--config", str(cfg)])
    send(h, event())
    d = wait_state(h, "dead", 1)[0]
    assert "127.0.0.1 is a loopback address" in d["last_error"], d
    assert t.requests == []
    t.stop()


def test_routes_match_transitions_and_filters(tmp_path, herald_factory):
    t = Target().start()
    cfg = config(tmp_path, f"""
targets:
  - {{name: broken, url: "{t.url}/broken"}}
  - {{name: deploys, url: "{t.url}/deploys"}}
routes:
  - name: broken
    match: {{transition: [broken, fixed]}}
    targets: [broken]
  - name: deploys
    match: {{pipeline: "deploy-*"}}
    filter: '.stage.result == "Passed"'
    targets: [deploys]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event("app", 1, "Passed", "Passed"))    # passed: nothing
    send(h, event("app", 2, "Failed", "Failed"))    # broken
    send(h, event("app", 3, "Passed", "Passed"))    # fixed
    send(h, event("deploy-eu", 1, "Passed", "Passed"))  # deploys
    send(h, event("deploy-eu", 2, "Failed", "Failed"))  # broken + not deploys
    reqs = t.wait(4)
    time.sleep(0.5)
    paths = sorted(r["path"] for r in t.requests)
    assert paths == ["/broken", "/broken", "/broken", "/deploys"], paths
    t.stop()


def test_slow_target_does_not_hold_up_another(tmp_path, herald_factory):
    # The slow target hangs for 10 s: the fast one's 20 requests must all
    # arrive well before that (the bound leaves room for a loaded machine).
    slow, fast = Target(["hang"], hang=10 * SLOW).start(), Target().start()
    cfg = config(tmp_path, f"""
targets:
  - {{name: slow, url: "{slow.url}/s"}}
  - {{name: fast, url: "{fast.url}/f"}}
routes: [{{name: all, targets: [slow, fast]}}]
""", timeout=f"{int(12 * SLOW)}s")
    h = herald_factory(["--config", str(cfg)])
    t0 = time.time()
    for i in range(20):
        send(h, event(counter=i))
    acked = time.time() - t0
    fast.wait(20, timeout=7 * SLOW)
    assert time.time() - t0 < 7 * SLOW, "the fast target waited for the slow one"
    assert acked < 2 * SLOW, "acknowledging waited for delivery"
    slow.stop()
    fast.stop()


def test_hung_target_does_not_hold_up_another_on_its_host(tmp_path, herald_factory):
    """Two targets on one host and port: one path hangs, the other answers
    at once. With the default limits the hung target holds as many
    requests as connections_per_host; the other's must not wait behind
    them for a whole timeout."""
    t = Target(paths={"/slow": "hang"}, hang=12).start()
    cfg = config(tmp_path, f"""
targets:
  - {{name: slow, url: "{t.url}/slow"}}
  - {{name: fast, url: "{t.url}/fast"}}
routes:
  - {{name: slow, match: {{pipeline: slow}}, targets: [slow]}}
  - {{name: fast, match: {{pipeline: fast}}, targets: [fast]}}
""", timeout="10s")
    h = herald_factory(["--config", str(cfg)])
    for i in range(6):
        send(h, event("slow", i))
    t.wait(4, timeout=5 * SLOW)  # connections_per_host (4) requests hang
    t0 = time.time()
    for i in range(4):
        send(h, event("fast", i))
    deadline = time.time() + 3 * SLOW
    while time.time() < deadline:
        if sum(r["path"] == "/fast" for r in t.requests) == 4:
            break
        time.sleep(0.02)
    fast = [r for r in t.requests if r["path"] == "/fast"]
    assert len(fast) == 4, f"{len(fast)} of 4 arrived in {time.time() - t0:.1f}s"
    assert sum(r["path"] == "/slow" for r in t.requests) == 4, "the slow target kept its cap"
    wait_state(h, "delivered", 4)
    h.stop(timeout=30 * SLOW)
    t.stop()


def test_commit_batch_size_counts_events_not_attempts(tmp_path, herald_factory):
    t = Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/hook"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    for i in range(5):
        send(h, event(counter=i))
    wait_state(h, "delivered", 5)
    status, text = h.get("/metrics")
    assert status == 200
    values = dict(line.rsplit(" ", 1) for line in text.decode().splitlines()
                  if line.startswith("herald_store_commit_"))
    # five events stored; the five attempts' records are not events
    assert float(values["herald_store_commit_batch_size_sum"]) == 5, values
    assert 1 <= float(values["herald_store_commit_batch_size_count"]) <= 5, values
    # every transaction is timed, the attempts' too
    assert float(values["herald_store_commit_seconds_count"]) >= 6, values
    t.stop()


def test_kill9_mid_delivery_delivers_everything_later(tmp_path, herald_factory):
    port = free_port()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "http://127.0.0.1:{port}/x", circuit: {{failures: 0}}}}]
routes: [{{name: all, targets: [hook]}}]
""", attempts=50)
    h = herald_factory(["--config", str(cfg)])
    for i in range(100):
        send(h, event(counter=i))
    h.kill9()
    h.start()
    t = Target()
    t.server.server_close()
    # bring the target up on the port herald knows
    import http.server as hs
    t.server = hs.ThreadingHTTPServer(("127.0.0.1", port), t.server.RequestHandlerClass)
    t.thread = __import__("threading").Thread(target=t.server.serve_forever, daemon=True)
    t.start()
    wait_state(h, "delivered", 100, timeout=60)
    counters = [json.loads(r["body"])["pipeline"]["counter"] for r in t.requests]
    assert set(counters) == {str(i) for i in range(100)}
    print(f"\n100 events, {len(counters)} requests, {len(counters) - 100} duplicates")
    t.stop()


def test_sighup_reloads_and_refuses_a_bad_file(tmp_path, herald_factory):
    a, b = Target().start(), Target().start()
    cfg = config(tmp_path, f"""
targets: [{{name: a, url: "{a.url}/a"}}]
routes: [{{name: all, targets: [a]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    send(h, event(counter=1))
    a.wait(1)
    cfg.write_text(cfg.read_text().replace(f"{a.url}/a", f"{b.url}/b"))
    h.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5 * SLOW)
    send(h, event(counter=2))
    b.wait(1)
    cfg.write_text("targets: [{name: }]\n")
    h.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5 * SLOW)
    assert "keeping the running one" in h.log_text()
    send(h, event(counter=3))
    b.wait(2)
    a.stop()
    b.stop()


def test_replay_dead_letters(tmp_path, herald_factory):
    t = Target([404, 404, 200]).start()
    cfg = config(tmp_path, f"""
targets: [{{name: hook, url: "{t.url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    # Replaying needs the API token (docs/operating.md); herald replay
    # sends it from --token-file.
    tok = tmp_path / "api-token"
    tok.write_text("replay-tok-5d2e\n")
    auth = {"Authorization": "Bearer replay-tok-5d2e"}
    h = herald_factory(["--config", str(cfg), "--api-token-file", str(tok)])
    send(h, event(counter=1))
    send(h, event(counter=2))
    dead = wait_state(h, "dead", 2, token="replay-tok-5d2e")
    r = subprocess.run([BIN, "replay", "--url", f"http://127.0.0.1:{h.port}", "--delivery",
                        str(dead[0]["id"])], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "HTTP 401" in r.stderr, r.stderr
    r = subprocess.run([BIN, "replay", "--url", f"http://127.0.0.1:{h.port}", "--delivery",
                        str(dead[0]["id"]), "--token-file", str(tok)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "1 deliveries will be sent again" in r.stdout, r.stderr
    r = subprocess.run([BIN, "replay", "--url", f"http://127.0.0.1:{h.port}", "--target", "hook",
                        "--dead", "--token-file", str(tok)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    wait_state(h, "delivered", 1, token="replay-tok-5d2e")
    status, data = h.request("POST", f"/api/v1/deliveries/{dead[0]['id']}/retry", "", auth)
    assert status == 200
    status, data = h.request("POST", "/api/v1/deliveries/replay", {}, auth)
    assert status == 400
    t.stop()


def test_gocd_settings_page_alone_delivers(tmp_path, herald_factory):
    t = Target().start()
    cfg = config(tmp_path, "")
    # GoCD's settings page needs the GoCD token (docs/gocd.md), which the
    # bridge sends.
    tok = tmp_path / "gocd-token"
    tok.write_text("gocd-tok-91ab\n")
    h = herald_factory(["--config", str(cfg), "--gocd-token-file", str(tok)])
    h.gocd_headers = {"Authorization": "Bearer gocd-tok-91ab"}
    status, answer = h.gocd("go.plugin-settings.plugin-settings-changed", {
        "webhook_url": f"{t.url}/gocd", "webhook_method": "PUT",
        "webhook_headers": "X-Token: abc-secret-value", "notify_on": "broken,failed"})
    assert (status, answer) == (200, {"status": "success"}), answer
    send(h, event())
    r = t.wait(1)[0]
    assert r["method"] == "PUT" and r["path"] == "/gocd" and r["headers"]["x-token"] == "abc-secret-value"
    assert "abc-secret-value" not in json.dumps(h.get_json("/api/v1/config")[1])
    t.stop()


def test_check_config(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("targets: [{name: a, url: 'https://example.com/x'}]\n"
                    "routes: [{name: r, targets: [a]}]\n")
    r = subprocess.run([BIN, "check-config", str(good)], capture_output=True, text=True)
    assert r.returncode == 0 and "ok: 1 targets, 1 routes" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - name: a\n    url: ftp://x\n    method: PATCH\n"
                   "routes: [{name: r, targets: [b]}]\n")
    r = subprocess.run([BIN, "check-config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{bad}:3:" in r.stderr and f"{bad}:4:" in r.stderr, r.stderr
    assert "PATCH" in r.stderr and '"b"' in r.stderr
    r = subprocess.run([BIN, "serve", "--config", str(bad), "--listen", "127.0.0.1:0",
                        "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "PATCH" in r.stderr


def test_bodies_can_link_to_gocd_pages(tmp_path, herald_factory):
    t = Target().start()
    cfg = config(tmp_path, f"""
targets:
  - name: hook
    url: {t.url}/x
    body: '{{link: "\\(.gocd.site_url)/go/pipelines/\\(.pipeline.name)/\\(.pipeline.counter)"}}'
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x",
                          "site_url": "https://gocd.example.com", "secure_site_url": None})
    assert status == 200
    send(h, event(pipeline="app", counter=7))
    body = json.loads(t.wait(1)[0]["body"])
    assert body == {"link": "https://gocd.example.com/go/pipelines/app/7"}
    t.stop()
