"""What the dashboard added to /api/v1, over the real daemon and real local
targets: events filtered by transition and time, deliveries by time, an
attempt's request headers kept with their secrets masked, and a test event
sent to one target (the API and `herald target test`)."""
import json
import subprocess
import time
import urllib.parse
from datetime import datetime, timezone

import pytest

from conftest import BIN, PAYLOADS, STORE, pg_uri
from targets import Target

TOKEN = "api-token-dashboard-123456"
AUTH = {"Authorization": "Bearer " + TOKEN}


def stage_body(counter, state, result, pipeline="app", stage="test"):
    body = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())
    p = body["pipeline"]
    p["name"], p["counter"] = pipeline, str(counter)
    p["stage"]["name"], p["stage"]["state"], p["stage"]["result"] = stage, state, result
    return body


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (ms % 1000)


def ms_of(text):
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=timezone.utc).timestamp() * 1000 + 0.5)


def get(h, path):
    status, data = h.request("GET", path, headers=AUTH)
    return status, json.loads(data)


def start(tmp_path, herald_factory, targets_yaml, routes="routes: [{name: all, targets: [hook]}]"):
    cfg = tmp_path / "herald.yaml"
    cfg.write_text(f"""
delivery: {{max_attempts: 2, backoff_initial: 100ms, allow: [127.0.0.0/8]}}
targets: {targets_yaml}
{routes}
""")
    (tmp_path / "tok").write_text(TOKEN + "\n")
    return herald_factory(["--config", str(cfg), "--api-token-file", str(tmp_path / "tok")])


def send(h, body):
    status, answer = h.gocd("stage-status", body)
    assert (status, answer) == (200, {"status": "success"}), answer


@pytest.mark.valgrind
def test_events_filter_by_transition(herald):
    seq = [("Passed", "passed"), ("Failed", "broken"), ("Failed", "still_failing"),
           ("Passed", "fixed"), ("Failed", "broken")]
    for i, (result, _) in enumerate(seq):
        send(herald, stage_body(i + 1, result, result))
    send(herald, stage_body(1, "Building", "Unknown", stage="build"))
    for name in ("broken", "still_failing", "fixed", "passed", "building"):
        got = herald.events(transition=name)
        want = [i + 1 for i, (_, t) in enumerate(seq) if t == name] if name != "building" else [1]
        assert sorted(int(e["pipeline"]["counter"]) for e in got) == sorted(want), name
        assert all(e["transition"] == name for e in got)
    # with the other filters, and paged
    assert len(herald.events(transition="broken", pipeline="app", limit=1)) == 1
    status, page = herald.get_json("/api/v1/events?transition=broken&limit=1")
    status, page2 = herald.get_json(f"/api/v1/events?transition=broken&limit=1"
                                    f"&cursor={page['next_cursor']}")
    assert page2["events"][0]["id"] < page["events"][0]["id"] and page2["next_cursor"] is None
    for bad in ("Broken", "nope", "", "failed,broken"):
        status, data = herald.get_json("/api/v1/events?transition=" + urllib.parse.quote(bad))
        assert status == 400 and data["error"].startswith("query parameter transition: "
                                                          "expected one of"), data


def test_events_and_deliveries_filter_by_time(tmp_path, herald_factory):
    t = Target().start()
    h = start(tmp_path, herald_factory, f'[{{name: hook, url: "{t.url}/x"}}]')
    for i in range(6):
        send(h, stage_body(i + 1, "Passed", "Passed"))
        time.sleep(0.05)
    t.wait(6)
    _, page = get(h, "/api/v1/events")
    events = list(reversed(page["events"]))
    times = [ms_of(e["received_at"]) for e in events]
    assert times == sorted(times)
    since, until = times[2], times[4]  # [since, until): the 3rd and 4th
    _, got = get(h, f"/api/v1/events?since={iso(since)}&until={iso(until)}")
    assert [e["id"] for e in got["events"]] == [events[3]["id"], events[2]["id"]]
    _, got = get(h, f"/api/v1/events?since={iso(since)}")
    assert len(got["events"]) == 4
    _, got = get(h, f"/api/v1/events?until={iso(since)}&limit=1")
    assert got["events"][0]["id"] == events[1]["id"] and got["next_cursor"] is not None
    _, got = get(h, f"/api/v1/events?since={iso(times[-1] + 1)}")
    assert got["events"] == []
    _, got = get(h, f"/api/v1/events?until={iso(times[0])}")
    assert got["events"] == []
    # the same with the other filters
    _, got = get(h, f"/api/v1/events?since={iso(since)}&transition=passed&pipeline=app")
    assert len(got["events"]) == 4
    # after: only what is newer than a page already has (what a page left
    # open asks for)
    _, got = get(h, f"/api/v1/events?after={events[3]['id']}")
    assert [e["id"] for e in got["events"]] == [events[5]["id"], events[4]["id"]]
    _, got = get(h, f"/api/v1/events?after={events[5]['id']}&pipeline=app")
    assert got["events"] == []
    assert get(h, "/api/v1/events?after=0")[0] == 400

    _, page = get(h, "/api/v1/deliveries")
    ds = list(reversed(page["deliveries"]))
    created = [ms_of(d["created_at"]) for d in ds]
    _, got = get(h, f"/api/v1/deliveries?since={iso(created[2])}&until={iso(created[4])}")
    assert [d["id"] for d in got["deliveries"]] == [ds[3]["id"], ds[2]["id"]]
    _, got = get(h, f"/api/v1/deliveries?since={iso(created[5])}&state=delivered&target=hook")
    assert [d["id"] for d in got["deliveries"]] == [ds[5]["id"]]
    _, got = get(h, f"/api/v1/deliveries?after={ds[4]['id'] - 1}&limit=1")
    assert [d["id"] for d in got["deliveries"]] == [ds[5]["id"]]
    _, got = get(h, f"/api/v1/deliveries?after={ds[5]['id']}&state=delivered")
    assert got["deliveries"] == []

    for path in ("events", "deliveries"):
        for q, name in (("since=yesterday", "since"), ("until=2026-13-01T00:00:00Z", "until"),
                        ("since=1700000000000", "since")):
            status, data = get(h, f"/api/v1/{path}?{q}")
            assert status == 400 and data["error"].startswith(f"query parameter {name}: "), data
        status, data = get(h, f"/api/v1/{path}?since={iso(until)}&until={iso(since)}")
        assert status == 400 and "since must be before until" in data["error"]
    t.stop()


@pytest.mark.valgrind
def test_attempt_headers_are_kept_with_secrets_masked(tmp_path, herald_factory):
    t = Target(script=(500, 200)).start()
    h = start(tmp_path, herald_factory, f"""
  - name: hook
    url: "{t.url}/x"
    signing_secret: whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==
    headers:
      Authorization: "Bearer auth-secret-value-1"
      X-Api-Key: {{value: "key-secret-value-2", secret: true}}
      X-Callback: "https://user:url-password-3@example.com/cb?token=url-token-4"
      X-Plain: "shown as is"
""")
    send(h, stage_body(1, "Failed", "Failed"))
    reqs = t.wait(2)
    # The target gets the real values: masking is for the record only.
    assert reqs[0]["headers"]["authorization"] == "Bearer auth-secret-value-1"
    assert reqs[0]["headers"]["x-api-key"] == "key-secret-value-2"
    for _ in range(100):
        _, d = get(h, "/api/v1/deliveries")
        if d["deliveries"][0]["state"] == "delivered":
            break
        time.sleep(0.05)
    _, d = get(h, f"/api/v1/deliveries/{d['deliveries'][0]['id']}")
    assert [a["status"] for a in d["attempt_log"]] == [500, 200]
    for a in d["attempt_log"]:
        hdr = {x["name"].lower(): x["value"] for x in a["request_headers"]}
        assert hdr["authorization"] == "********"
        assert hdr["x-api-key"] == "********"
        assert hdr["webhook-signature"] == "********"
        assert hdr["x-callback"] == "https://********@example.com/cb?token=********"
        assert hdr["x-plain"] == "shown as is"
        assert hdr["content-type"] == "application/json"
        assert hdr["webhook-id"] and hdr["x-herald-delivery"] == str(d["id"])
        assert "expect" not in hdr  # "Expect:" only tells libcurl to send none
    # No secret reached the store: in any file of it, or any table.
    h.stop()
    if STORE == "postgresql":
        stored = b"".join(subprocess.run(
            ["psql", "-q", pg_uri(h.data_dir), "-c", f"COPY {table} TO STDOUT"],
            capture_output=True, check=True).stdout for table in ("events", "deliveries", "attempts"))
    else:
        stored = b"".join(p.read_bytes() for p in h.data_dir.rglob("*") if p.is_file())
    for secret in (b"auth-secret-value-1", b"key-secret-value-2", b"url-password-3",
                   b"url-token-4", b"c2VjcmV0LXNpZ25pbmcta2V5"):
        assert secret not in stored, secret
    assert b"shown as is" in stored
    t.stop()


@pytest.mark.valgrind
def test_test_event_goes_to_its_target_alone(tmp_path, herald_factory):
    hook, other = Target().start(), Target().start()
    h = start(tmp_path, herald_factory,
              f'[{{name: hook, url: "{hook.url}/x"}}, {{name: other, url: "{other.url}/y"}}]',
              "routes: [{name: all, targets: [hook, other]}]")
    path = "/api/v1/targets/hook/test"
    assert h.request("POST", path, {})[0] == 401
    status, data = h.request("POST", path, {}, headers=AUTH)
    assert status == 201, data
    got = json.loads(data)
    req = hook.wait(1)[0]
    body = json.loads(req["body"])
    assert body["source"] == "herald" and body["kind"] == "test"
    assert body["test"]["target"] == "hook" and "test event" in body["test"]["message"]
    _, d = get(h, f"/api/v1/deliveries/{got['delivery']}")
    assert d["target"] == "hook" and d["event_id"] == got["event"] and d["route"] == "test"
    for _ in range(100):
        if d["state"] == "delivered":
            break
        time.sleep(0.05)
        _, d = get(h, f"/api/v1/deliveries/{got['delivery']}")
    assert d["state"] == "delivered" and d["attempt_log"][0]["status"] == 200
    _, ev = get(h, f"/api/v1/events/{got['event']}")
    assert ev["event"]["source"] == "herald" and ev["event"]["kind"] == "test"
    _, ds = get(h, f"/api/v1/deliveries?event={got['event']}")
    assert len(ds["deliveries"]) == 1
    time.sleep(0.3)
    assert other.requests == []
    # A second click is a second test.
    status, data = h.request("POST", path, {}, headers=AUTH)
    assert status == 201 and json.loads(data)["delivery"] != got["delivery"]
    hook.wait(2)
    # A request sent again with its request id is answered as the first.
    rid = {"X-Herald-Request-Id": "test-once-1", **AUTH}
    first = json.loads(h.request("POST", path, {}, headers=rid)[1])
    again = json.loads(h.request("POST", path, {}, headers=rid)[1])
    assert first == again
    for bad, code in (("/api/v1/targets/nobody/test", 404), ("/api/v1/targets/hook/nope", 404),
                      ("/api/v1/targets/hook", 404)):
        status, data = h.request("POST", bad, {}, headers=AUTH)
        assert status == code, (bad, data)
    assert b"nobody" in h.request("POST", "/api/v1/targets/nobody/test", {}, headers=AUTH)[1]

    # herald target test NAME
    (tmp_path / "tok2").write_text(TOKEN + "\n")
    url = f"http://127.0.0.1:{h.port}"
    r = subprocess.run([BIN, "target", "test", "hook", "--url", url, "--token-file",
                        str(tmp_path / "tok2")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "sent to hook as delivery" in r.stdout
    did = int(r.stdout.split("as delivery ")[1].split()[0])
    _, d = get(h, f"/api/v1/deliveries/{did}")
    assert d["target"] == "hook"
    r = subprocess.run([BIN, "target", "test", "nobody", "--url", url, "--token-file",
                        str(tmp_path / "tok2")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "nobody" in r.stderr
    r = subprocess.run([BIN, "target", "test", "hook", "--url", url], capture_output=True,
                       text=True, timeout=60, env={"PATH": "/usr/bin"})
    assert r.returncode == 1 and "401" in r.stderr and TOKEN not in r.stderr
    r = subprocess.run([BIN, "target", "frobnicate", "hook"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown subcommand" in r.stderr
    hook.stop()
    other.stop()
