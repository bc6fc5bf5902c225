"""Targets that fail well (issue 16): the real daemon, real local HTTP
servers as targets, real SQLite, real restarts and kill -9. Times are
shortened by the configuration (circuit.probe_initial, backoff_initial)."""
import http.server
import json
import signal
import threading
import time

import pytest

from conftest import PAYLOADS, SLOW
from targets import Target, free_port

TEMPLATE = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())


def event(counter):
    b = json.loads(json.dumps(TEMPLATE))
    b["pipeline"]["name"], b["pipeline"]["counter"] = "app", str(counter)
    return b


def config(tmp_path, targets, routes, failures=5, attempts=3, probe="300ms", probe_max="600ms",
           disable_after="3d", extra=""):
    p = tmp_path / "herald.yaml"
    p.write_text(f"""
delivery:
  max_attempts: {attempts}
  backoff_initial: 100ms
  backoff_max: 200ms
  connect_timeout: 500ms
  timeout: 2s
  connections_per_host: 1
  allow: [127.0.0.0/8]
  circuit:
    failures: {failures}
    probe_initial: {probe}
    probe_max: {probe_max}
    disable_after: {disable_after}
targets:
{targets}
routes:
{routes}
{extra}""")
    return p


def send(h, n, start=1):
    for i in range(start, start + n):
        status, answer = h.gocd("stage-status", event(i))
        assert (status, answer) == (200, {"status": "success"}), answer


def target(h, name):
    status, t = h.get_json(f"/api/v1/targets/{name}")
    assert status == 200, t
    return t


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def deliveries(h, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    status, data = h.get_json("/api/v1/deliveries?limit=500" + ("&" + qs if qs else ""))
    assert status == 200, data
    return data["deliveries"]


def counters(req):
    return [json.loads(r["body"])["pipeline"]["counter"] for r in req]


def post(h, path):
    status, body = h.request("POST", path, {})
    return status, json.loads(body)


def test_outage_opens_the_circuit_holds_everything_and_delivers_oldest_first(
        tmp_path, herald_factory):
    # One connection per host, so arrival order is send order.
    t = Target([503]).start()
    cfg = config(tmp_path, f"  - name: hook\n    url: {t.url}/hook\n",
                 "  - name: all\n    targets: [hook]\n", failures=5, attempts=3)
    h = herald_factory(["--config", str(cfg)])
    n = 30
    send(h, n)
    # Five failures in a row open the circuit.
    wait_for("the circuit to open", lambda: target(h, "hook")["circuit"] == "open")
    st = target(h, "hook")
    assert st["state"] == "open" and st["consecutive_failures"] >= 5, st
    # A simulated long outage: 4 s, ~13 probe intervals at the cap.
    at_open = len(t.requests)
    time.sleep(4)
    during = len(t.requests) - at_open
    print(f"\noutage of 4s with {n} deliveries pending: {at_open} attempts before the circuit "
          f"opened, {during} probes while it was open (max_attempts 3, so the old schedule "
          f"would have spent {n * 3} and left {n} dead letters)")
    # One probe at a time at 300ms doubling to 600ms: about 7, never the backlog.
    assert during <= 12, during
    assert deliveries(h, state="dead") == []
    assert len(deliveries(h, state="delivered")) == 0
    # Every delivery attempted before the circuit opened spent attempts; none died.
    held = deliveries(h)
    assert len(held) == n and all(d["state"] in ("pending", "retrying") for d in held)

    # The target comes back: the first probe closes the circuit and the
    # held deliveries flow, oldest first.
    t.script = [200]
    before = len(t.requests)
    wait_for("every delivery", lambda: len(deliveries(h, state="delivered")) == n)
    st = target(h, "hook")
    assert st["state"] == "healthy" and st["consecutive_failures"] == 0, st
    ok = [r for r in t.requests[before:]]
    got = counters(ok)
    # The probe (the oldest due delivery) is first; the rest flow oldest first.
    assert sorted(got, key=int) == [str(i) for i in range(1, n + 1)], got
    assert got[1:] == sorted(got[1:], key=int), got
    assert deliveries(h, state="dead") == []


def test_health_events_route_to_a_second_target_never_to_the_failing_one(
        tmp_path, herald_factory):
    down = Target([503]).start()
    ops = Target([200]).start()
    cfg = config(tmp_path,
                 f"  - name: down\n    url: {down.url}/down\n"
                 f"  - name: ops\n    url: {ops.url}/ops\n",
                 "  - name: builds\n    match: {kind: stage-status}\n    targets: [down]\n"
                 "  - name: health\n    match: {source: herald, kind: target-health}\n"
                 "    targets: [ops, down]\n",
                 failures=3)
    h = herald_factory(["--config", str(cfg)])
    send(h, 3)
    ops.wait(1)
    opened = json.loads(ops.requests[0]["body"])
    assert opened["source"] == "herald" and opened["kind"] == "target-health", opened
    th = opened["target_health"]
    assert th["target"] == "down" and th["change"] == "circuit-opened", th
    assert th["consecutive_failures"] == 3 and th["held"] == 3, th
    assert "503" in th["reason"], th
    down.script = [200]
    ops.wait(2)
    closed = json.loads(ops.requests[1]["body"])["target_health"]
    assert closed["target"] == "down" and closed["change"] == "circuit-closed", closed
    wait_for("the held deliveries", lambda: len(deliveries(h, state="delivered", target="down")) == 3)
    # The failing target never received an event about itself.
    assert all(json.loads(r["body"]).get("source") != "herald" for r in down.requests)
    # The events are stored like any event.
    evs = h.events(source="herald")
    assert [e["target_health"]["change"] for e in evs] == ["circuit-closed", "circuit-opened"], evs


def test_410_disables_at_once_and_enabling_delivers_what_was_held(tmp_path, herald_factory):
    t = Target([410]).start()
    cfg = config(tmp_path, f"  - name: gone\n    url: {t.url}/gone\n",
                 "  - name: all\n    targets: [gone]\n", failures=10)
    h = herald_factory(["--config", str(cfg), "--insecure-local"])
    send(h, 1)
    wait_for("disabled", lambda: target(h, "gone")["state"] == "disabled")
    st = target(h, "gone")
    assert "410" in st["disabled_reason"], st
    send(h, 4, start=2)
    time.sleep(1)
    # One request (the 410), nothing more while disabled; nothing dead.
    assert len(t.requests) == 1
    assert deliveries(h, state="dead") == []
    assert len(deliveries(h)) == 5
    t.script = [200]
    status, body = post(h, "/api/v1/targets/gone/enable")
    assert status == 200 and body["state"] == "healthy", body
    wait_for("the held deliveries", lambda: len(deliveries(h, state="delivered")) == 5)
    assert sorted(counters(t.requests[1:]), key=int) == ["1", "2", "3", "4", "5"]


def test_failing_longer_than_disable_after_disables(tmp_path, herald_factory):
    t = Target([503]).start()
    cfg = config(tmp_path, f"  - name: flaky\n    url: {t.url}/x\n",
                 "  - name: all\n    targets: [flaky]\n", failures=2, disable_after="2s")
    h = herald_factory(["--config", str(cfg)])
    send(h, 2)
    wait_for("disabled", lambda: target(h, "flaky")["state"] == "disabled", timeout=20)
    assert "disable_after" in target(h, "flaky")["disabled_reason"]
    seen = len(t.requests)
    time.sleep(1.5)
    assert len(t.requests) == seen
    assert deliveries(h, state="dead") == []


@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_pause_and_resume_survive_a_restart(tmp_path, herald_factory, how):
    t = Target([200]).start()
    cfg = config(tmp_path, f"  - name: hook\n    url: {t.url}/hook\n",
                 "  - name: all\n    targets: [hook]\n")
    h = herald_factory(["--config", str(cfg), "--insecure-local"])
    status, body = post(h, "/api/v1/targets/hook/pause")
    assert status == 200 and body["state"] == "paused" and body["paused"], body
    send(h, 3)
    time.sleep(1)
    assert t.requests == []
    # A reload keeps it paused: the pause is in the store, not the config.
    h.proc.send_signal(signal.SIGHUP)
    wait_for("the reload", lambda: "configuration reloaded" in h.log_text())
    time.sleep(0.5)
    assert target(h, "hook")["state"] == "paused" and t.requests == []
    if how == "kill9":
        h.kill9()
    else:
        h.stop()
    h.start()
    assert target(h, "hook")["state"] == "paused"
    time.sleep(1)
    assert t.requests == []
    # The metrics show it.
    status, text = h.get("/metrics")
    assert 'herald_target_state{target="hook",state="paused"} 1' in text.decode(), text
    status, body = post(h, "/api/v1/targets/hook/resume")
    assert status == 200 and body["state"] == "healthy", body
    t.wait(3)
    assert counters(t.requests) == ["1", "2", "3"]
    changes = [e["target_health"]["change"] for e in h.events(source="herald")]
    assert changes == ["resumed", "paused"], changes


def test_connection_refused_outage_then_the_target_comes_back(tmp_path, herald_factory):
    port = free_port()
    cfg = config(tmp_path, f"  - name: hook\n    url: http://127.0.0.1:{port}/hook\n",
                 "  - name: all\n    targets: [hook]\n", failures=3, attempts=2)
    h = herald_factory(["--config", str(cfg)])
    send(h, 10)
    wait_for("the circuit to open", lambda: target(h, "hook")["circuit"] == "open")
    time.sleep(2)
    st = target(h, "hook")
    assert "onnect" in st["last_error"], st
    print(f"\nrefused for 2s+ with 10 deliveries pending (max_attempts 2): "
          f"{st['consecutive_failures']} attempts in all, none dead")
    assert st["consecutive_failures"] <= 3 + 4 + 6, st
    assert deliveries(h, state="dead") == []
    t = Target([200])
    t.server.server_close()
    t.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), t.server.RequestHandlerClass)
    t.server.daemon_threads = True
    t.thread = threading.Thread(target=t.server.serve_forever, daemon=True)
    t.start()
    t.wait(10)
    wait_for("every delivery", lambda: len(deliveries(h, state="delivered")) == 10)
    got = counters(t.requests)
    assert sorted(got, key=int) == [str(i) for i in range(1, 11)] and got[1:] == sorted(got[1:], key=int), got
    t.stop()


def test_a_dead_letter_is_told(tmp_path, herald_factory):
    bad = Target([400]).start()
    ops = Target([200]).start()
    cfg = config(tmp_path,
                 f"  - name: bad\n    url: {bad.url}/bad\n"
                 f"  - name: ops\n    url: {ops.url}/ops\n",
                 "  - name: builds\n    match: {kind: stage-status}\n    targets: [bad]\n"
                 "  - name: health\n    match: {kind: target-health}\n    targets: [ops]\n")
    h = herald_factory(["--config", str(cfg)])
    send(h, 1)
    ops.wait(1)
    th = json.loads(ops.requests[0]["body"])["target_health"]
    d = deliveries(h, state="dead")[0]
    assert th["change"] == "delivery-dead" and th["target"] == "bad", th
    assert th["delivery_id"] == d["id"] and "400" in th["reason"], th
    # A dead letter is the delivery's, not the target's: still healthy.
    assert target(h, "bad")["state"] == "healthy"


def test_cli_pauses_resumes_and_lists(tmp_path, herald_factory):
    import subprocess
    from conftest import BIN
    t = Target([200]).start()
    cfg = config(tmp_path, f"  - name: hook\n    url: {t.url}/hook\n",
                 "  - name: all\n    targets: [hook]\n")
    tok = tmp_path / "api-token"
    tok.write_text("an-api-token-for-the-test\n")
    h = herald_factory(["--config", str(cfg), "--api-token-file", str(tok)])
    url = f"http://127.0.0.1:{h.port}"

    def cli(*args):
        return subprocess.run([BIN, "target", *args, "--url", url, "--token-file", str(tok)],
                              capture_output=True, text=True, timeout=30)
    r = cli("pause", "hook")
    assert r.returncode == 0 and "hook: paused" in r.stdout, r
    assert "an-api-token" not in r.stdout + r.stderr
    r = cli("list")
    assert r.returncode == 0 and "hook: paused" in r.stdout, r
    r = cli("resume", "hook")
    assert r.returncode == 0 and "hook: healthy" in r.stdout, r
    r = cli("pause", "nosuch")
    assert r.returncode == 1 and "no target" in r.stderr, r
    r = subprocess.run([BIN, "target", "pause", "hook", "--url", url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "401" in r.stderr, r


def test_gocd_health_messages_name_an_open_circuit(tmp_path, herald_factory):
    t = Target([503]).start()
    cfg = config(tmp_path, f"  - name: hook\n    url: {t.url}/hook\n",
                 "  - name: all\n    targets: [hook]\n", failures=2)
    h = herald_factory(["--config", str(cfg)])
    send(h, 2)
    wait_for("the circuit to open", lambda: target(h, "hook")["circuit"] == "open")
    status, msgs = h.get_json("/gocd/health-messages")
    assert status == 200
    assert any(m["type"] == "error" and "hook is down" in m["message"] for m in msgs), msgs
    status, text = h.get("/metrics")
    text = text.decode()
    assert 'herald_target_state{target="hook",state="open"} 1' in text, text
    assert 'herald_target_consecutive_failures{target="hook"} ' in text
