"""Retention end to end: the real daemon prunes old events, their
deliveries and attempts on its own, every interval, and keeps an event
whose delivery is still retrying."""
import json
import re
import time

from conftest import PAYLOADS, SLOW
from targets import Target, free_port

TEMPLATE = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())


def event(pipeline, counter):
    b = json.loads(json.dumps(TEMPLATE))
    b["pipeline"]["name"], b["pipeline"]["counter"] = pipeline, str(counter)
    return b


def metric(h, name):
    status, text = h.get("/metrics")
    assert status == 200
    m = re.search(r"^" + re.escape(name) + r" (\d+)$", text.decode(), re.M)
    return int(m.group(1)) if m else None


def wait_for(what, check, timeout=8):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout} s for {what}")


def test_old_events_are_pruned_and_a_retrying_delivery_keeps_its_event(tmp_path, herald_factory):
    up = Target([200] * 10).start()
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every try fails
    cfg = tmp_path / "herald.yaml"
    cfg.write_text(f"""
delivery:
  max_attempts: 100
  backoff_initial: 200ms
  backoff_max: 1s
  connect_timeout: 500ms
  allow: [127.0.0.0/8]
targets:
  - {{name: up, url: "{up.url}/x"}}
  - {{name: down, url: "{down}"}}
routes:
  - {{name: good, match: {{pipeline: good}}, targets: [up]}}
  - {{name: stuck, match: {{pipeline: stuck}}, targets: [down]}}
retention:
  events: 1s
  attempts: 1s
  interval: 1s
""")
    h = herald_factory(["--config", str(cfg)])
    status, conf = h.get_json("/api/v1/config")
    assert status == 200
    assert conf["retention"] == {"events_ms": 1000, "attempts_ms": 1000, "interval_ms": 1000}

    for i in range(3):
        assert h.gocd("stage-status", event("good", i + 1)) == (200, {"status": "success"})
    assert h.gocd("stage-status", event("stuck", 1)) == (200, {"status": "success"})
    up.wait(3)

    # Within a few intervals the delivered events are gone, with their
    # deliveries and attempts; the one whose delivery retries stays.
    wait_for("the delivered events to be pruned", lambda: h.events(pipeline="good") == [])
    left = h.events()
    assert [e["pipeline"]["name"] for e in left] == ["stuck"]
    status, data = h.get_json("/api/v1/deliveries?target=down")
    assert status == 200 and [d["state"] for d in data["deliveries"]] == ["retrying"]
    status, data = h.get_json("/api/v1/deliveries?target=up")
    assert status == 200 and data["deliveries"] == []

    assert metric(h, 'herald_store_pruned_total{what="events"}') >= 3
    assert metric(h, 'herald_store_pruned_total{what="deliveries"}') >= 3
    assert metric(h, 'herald_store_pruned_total{what="attempts"}') >= 3
    assert metric(h, "herald_store_size_bytes") > 0
    assert re.search(r"pruned \d+ events, \d+ deliveries \(events older than 1s\) and \d+ "
                     r"attempts \(older than 1s\) in \d+ ms", h.log_text())

    # The stage stays listed after its last event is gone.
    status, stages = h.get_json("/api/v1/stages")
    assert status == 200
    good = [s for s in stages["stages"] if s["pipeline"] == "good"]
    assert good and good[0]["last_event_id"] is None and good[0]["last_result"] == "Failed"
    up.stop()
    assert h.stop() == 0


def test_forever_keeps_everything(tmp_path, herald_factory):
    cfg = tmp_path / "herald.yaml"
    cfg.write_text("retention: {events: forever, attempts: forever, interval: 1s}\n")
    h = herald_factory(["--config", str(cfg)])
    assert h.gocd("stage-status", event("kept", 1)) == (200, {"status": "success"})
    # Two prunes measure the database and delete nothing.
    wait_for("a prune", lambda: (metric(h, "herald_store_size_bytes") or 0) > 0, timeout=5)
    time.sleep(1.2)
    assert len(h.events()) == 1
    assert metric(h, 'herald_store_pruned_total{what="events"}') == 0
    assert "pruned" not in h.log_text()
