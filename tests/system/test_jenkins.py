"""Jenkins' two plugins and `herald notify`, end to end: the real daemon on
loopback, bodies as the plugins really send them (tests/payloads/jenkins/,
written from the plugins' source), real TCP and UDP sockets, real local
HTTP targets.

- the Job Status plugin (environment-variables-status-sync): its JSON by
  POST, PUT and DELETE, and its GET form, whose pairs follow a second "?"
  when herald's URL already has a query;
- the Notification plugin: JSON over HTTP, TCP and UDP; its XML refused;
- `herald notify`'s own body on /ci/notify.
"""
import base64
import json
import re
import socket
import time
import urllib.parse

import pytest

from conftest import ROOT, SLOW
from targets import Target, free_port

JP = ROOT / "tests" / "payloads" / "jenkins"
REDACTED = "********"
XML_REFUSED = "body: XML is not supported; set the Notification plugin's Format to JSON"
JOB_STATUS_WORDS = ("one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, "
                    "COMPLETE")

# The values tests/payloads/jenkins/job-status_secrets.json and
# notification_completed_failure.json hold that must never come out.
SECRETS = [
    "AKIAFAKEFAKEFAKE1234",
    "wJalrXUtnFEMIfakeK7MDENGbPxRfiCYFAKEKEY",
    "ghp_fakefakefakefakefakefakefakefake1234",
    "hunter2pass",
    "m1rr0rpw",
    "correct-horse-battery",
    "b0tpass",
    "pw-fake-123",
    "mirrorpw",
    "glcbt-fake",
]


def payload(name):
    return (JP / name).read_text()


def payload_json(name):
    return json.loads(payload(name))


def config(tmp_path, text):
    p = tmp_path / "herald.yaml"
    p.write_text(text)
    return p


def send(h, path, body, method="POST", headers=None):
    """One request; returns (status, parsed answer or raw bytes)."""
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    status, data = h.request(method, path, body, hdrs)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data


def accepted(h, path, body, method="POST", headers=None):
    """Sends a body herald must take; returns the answer's transition and
    the stored event (normalised) with its raw body."""
    status, answer = send(h, path, body, method, headers)
    assert status == 200, answer
    assert set(answer) == {"id", "transition"} and isinstance(answer["id"], int), answer
    got_status, one = h.get_json(f"/api/v1/events/{answer['id']}")
    assert got_status == 200, one
    assert one["event"]["transition"] == answer["transition"]
    return answer["transition"], one["event"], one["raw"]


def jenkins_events(h, **q):
    return h.events(source="jenkins", limit=500, **q)


def wait_events(h, n, source="jenkins", timeout=10):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        got = h.events(source=source, limit=500)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"wanted {n} events, have {h.events(source=source, limit=500)}")


def metrics(h):
    status, data = h.get("/metrics")
    assert status == 200
    return data.decode()


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(r"^" + re.escape(f"{name}{{{want}}}") + r" (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def with_number(body, number, status=None):
    """A Job Status body with another build number (and status)."""
    d = json.loads(body) if isinstance(body, str) else dict(body)
    for k in ("BUILD_NUMBER", "buildNo", "BUILD_ID"):
        d[k] = str(number)
    d["BUILD_DISPLAY_NAME"] = f"#{number}"
    if status:
        d["jobExecuteStatus"] = d["JOB_EXECUTE_STATUS"] = status
    return d


def compact(d):
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


# ---- the Job Status plugin ---------------------------------------------------

JOB_STATUS_CASES = [
    # file, phase, status, result, transition (first event of the job)
    ("job-status_start.json", "started", None, None, "building"),
    ("job-status_running.json", "running", None, None, "building"),
    ("job-status_notify.json", "running", None, None, "building"),
    ("job-status_notify_unstable.json", "running", "UNSTABLE", None, "building"),
    ("job-status_success.json", "completed", "SUCCESS", "Passed", "passed"),
    ("job-status_unstable.json", "completed", "UNSTABLE", "Failed", "failed"),
    ("job-status_failure.json", "completed", "FAILURE", "Failed", "failed"),
    ("job-status_not_built.json", "completed", "NOT_BUILT", "Unknown", "unknown"),
    ("job-status_aborted.json", "completed", "ABORTED", "Cancelled", "cancelled"),
    ("job-status_complete.json", "completed", "COMPLETE", "Unknown", "unknown"),
]


@pytest.mark.parametrize("name,phase,status,result,transition", JOB_STATUS_CASES)
def test_job_status_every_status(herald, name, phase, status, result, transition):
    got_transition, ev, raw = accepted(herald, "/jenkins/job-status", payload(name))
    assert got_transition == transition
    assert (ev["source"], ev["kind"], ev["version"]) == ("jenkins", "build-status", "job-status")
    b = ev["build"]
    assert (b["phase"], b["status"], b["result"]) == (phase, status, result)
    assert ev["summary"]["result"] == result
    sent = payload_json(name)
    assert ev["job"]["name"] == sent["JOB_NAME"]
    assert b["number"] == int(sent["BUILD_NUMBER"])
    assert b["body"] == sent.get("body")
    # raw: what was received, redacted, compact, in the order received.
    want = dict(sent)
    for k in ("HUDSON_SERVER_COOKIE", "JENKINS_SERVER_COOKIE"):
        if k in want:
            want[k] = REDACTED
    assert raw == compact(want)


def test_job_status_start_field_by_field(herald):
    _, ev, _ = accepted(herald, "/jenkins/job-status", payload("job-status_start.json"))
    env = ev.pop("environment")
    assert isinstance(ev.pop("id"), int) and ev.pop("received_at")
    assert ev == {
        "source": "jenkins",
        "kind": "build-status",
        "version": "job-status",
        "job": {
            "name": "acme/webapp/main",
            "base_name": "main",
            "url": "https://ci.example.com/job/acme/job/webapp/job/main/",
            "branch": "main",
        },
        "build": {
            "number": 42,
            "display_name": "#42",
            "url": "https://ci.example.com/job/acme/job/webapp/job/main/42/",
            "phase": "started",
            "status": None,
            "result": None,
            "queue_id": None,
            "started_at": None,
            "duration_ms": None,
            "scm": {"url": None, "branch": None, "commit": None, "changes": None,
                    "culprits": None},
            "parameters": None,
            "test_summary": None,
            "artifacts": None,
            "log": None,
            "notes": None,
            "body": None,
        },
        "summary": {
            "name": "acme/webapp/main",
            "number": "42",
            "result": None,
            "url": "https://ci.example.com/job/acme/job/webapp/job/main/42/",
        },
        "transition": "building",
    }
    sent = payload_json("job-status_start.json")
    for k in ("jobExecuteStatus", "JOB_EXECUTE_STATUS", "buildNo"):
        del sent[k]
    sent["HUDSON_SERVER_COOKIE"] = sent["JENKINS_SERVER_COOKIE"] = REDACTED
    assert env == sent


def test_job_status_freestyle_git_variables(herald):
    _, ev, _ = accepted(herald, "/jenkins/job-status", payload("job-status_running.json"))
    assert ev["job"] == {
        "name": "tools/nightly report",
        "base_name": "nightly report",
        "url": "https://ci.example.com/job/tools/job/nightly%20report/",
        "branch": "origin/develop",
    }
    assert ev["build"]["scm"] == {
        "url": "https://git.example.com/tools/report.git",
        "branch": "origin/develop",
        "commit": "8f2d1c4b9a7e6d5c4b3a29180f7e6d5c4b3a2918",
        "changes": None,
        "culprits": None,
    }
    assert ev["environment"]["NODE_NAME"] == "agent-1"


def test_put_and_delete_carry_the_body_like_post(herald):
    body = payload("job-status_success.json")
    events = []
    for i, method in enumerate(["POST", "PUT", "DELETE"]):
        _, ev, raw = accepted(herald, "/jenkins/job-status", with_number(body, 100 + i), method)
        events.append((ev, raw))
    for i, (ev, raw) in enumerate(events):
        assert ev["build"]["number"] == 100 + i
        assert ev["build"]["status"] == "SUCCESS"
        assert json.loads(raw)["BUILD_NUMBER"] == str(100 + i)
    # Apart from the number, the three are the same event.
    def strip(ev):
        ev = json.loads(json.dumps(ev))
        for k in ("id", "received_at", "transition", "summary"):
            ev.pop(k)
        ev["build"].pop("number")
        ev["build"].pop("display_name")
        for k in ("BUILD_NUMBER", "BUILD_ID", "BUILD_DISPLAY_NAME"):
            ev["environment"].pop(k)
        return ev
    assert strip(events[0][0]) == strip(events[1][0]) == strip(events[2][0])


def test_get_with_the_double_question_mark(herald_factory, tmp_path):
    cfg = config(tmp_path, "jenkins:\n  token: t0k3n-GET\n")
    h = herald_factory(["--config", str(cfg)])
    q = payload("job-status_get_success.query")
    assert q.startswith("token=t0k3n-GET?")
    # The plugin appends "?" and its pairs to the URL as configured.
    transition, ev, raw = accepted(h, "/jenkins/job-status?" + q, None, "GET")
    assert transition == "passed"
    assert ev["job"]["name"] == "tools/nightly report"
    assert ev["build"]["url"] == "https://ci.example.com/job/tools/job/nightly%20report/7/"
    assert (ev["build"]["number"], ev["build"]["status"]) == (7, "SUCCESS")
    assert "token" not in ev["environment"]
    # raw: the pairs again, as URLEncoder wrote them, without the token.
    assert raw == q[len("token=t0k3n-GET?"):]
    assert "t0k3n-GET" not in h.log_text()
    # A wrong token in the same place: 401, nothing stored.
    status, answer = send(h, "/jenkins/job-status?token=nope?" + q.split("?", 1)[1], None, "GET")
    assert status == 401, answer
    assert len(jenkins_events(h)) == 1


def test_get_decodes_like_the_plugin_encodes(herald):
    pairs = [("JOB_NAME", "team/a b+c"), ("jobExecuteStatus", "FAILURE"), ("BUILD_NUMBER", "5"),
             ("NOTE", "é & = ? % /"), ("body", "line1\nline2")]
    q = "&".join(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v) for k, v in pairs)
    _, ev, raw = accepted(herald, "/jenkins/job-status?" + q, None, "GET")
    assert ev["job"]["name"] == "team/a b+c"
    assert ev["job"]["base_name"] == "a b+c"
    assert ev["environment"]["NOTE"] == "é & = ? % /"
    assert ev["build"]["body"] == "line1\nline2"
    assert urllib.parse.parse_qsl(raw) == pairs


# ---- the Notification plugin -------------------------------------------------

NOTIFICATION_CASES = [
    # file, phase, status, result, duration, started_at
    ("notification_queued.json", "queued", None, None, None, None),
    ("notification_started.json", "started", None, None, None, "2024-06-10T06:13:20.000Z"),
    ("notification_completed.json", "completed", "SUCCESS", "Passed", 93512,
     "2024-06-10T06:13:20.000Z"),
    ("notification_finalized.json", "finalized", "SUCCESS", "Passed", 93512, None),
    ("notification_completed_unstable.json", "completed", "UNSTABLE", "Failed", 60000,
     "2024-06-10T06:13:20.000Z"),
    ("notification_completed_failure.json", "completed", "FAILURE", "Failed", 30000,
     "2024-06-10T06:13:20.000Z"),
    ("notification_completed_aborted.json", "completed", "ABORTED", "Cancelled", 60000,
     "2024-06-10T06:13:20.000Z"),
    ("notification_completed_not_built.json", "completed", "NOT_BUILT", "Unknown", 60000,
     "2024-06-10T06:13:20.000Z"),
]


@pytest.mark.parametrize("name,phase,status,result,duration,started", NOTIFICATION_CASES)
def test_notification_every_phase_and_status(herald, name, phase, status, result, duration,
                                             started):
    _, ev, raw = accepted(herald, "/jenkins/notification", payload(name))
    assert (ev["source"], ev["kind"], ev["version"]) == ("jenkins", "build-status",
                                                         "notification")
    b = ev["build"]
    assert (b["phase"], b["status"], b["result"]) == (phase, status, result)
    assert (b["duration_ms"], b["started_at"]) == (duration, started)
    sent = payload_json(name)
    assert ev["job"]["base_name"] == sent["name"]
    assert b["queue_id"] == sent["build"]["queue_id"]
    assert json.loads(raw).keys() == sent.keys()


def test_notification_phases_of_one_build(herald):
    got = [accepted(herald, "/jenkins/notification", payload(f"notification_{p}.json"))[0]
           for p in ("queued", "started", "completed", "finalized")]
    # Only the completed phase counts, so a route fires once per build.
    assert got == ["building", "building", "passed", None]


def test_notification_completed_field_by_field(herald):
    _, ev, raw = accepted(herald, "/jenkins/notification", payload("notification_completed.json"))
    assert ev["job"] == {
        "name": "acme/webapp/main",
        "base_name": "main",
        "url": "https://ci.example.com/job/acme/job/webapp/job/main/",
        "branch": "main",
    }
    assert ev["build"] == {
        "number": 42,
        "display_name": None,
        "url": "https://ci.example.com/job/acme/job/webapp/job/main/42/",
        "phase": "completed",
        "status": "SUCCESS",
        "result": "Passed",
        "queue_id": 1187,
        "started_at": "2024-06-10T06:13:20.000Z",
        "duration_ms": 93512,
        "scm": {
            "url": "https://git.example.com/acme/webapp.git",
            "branch": "main",
            "commit": "c0ffee1234567890abcdef1234567890abcdef12",
            "changes": ["src/app.c", "README.md"],
            "culprits": ["alice", "bob"],
        },
        "parameters": {"DEPLOY_ENV": "staging", "SLACK_TOKEN": REDACTED},
        "test_summary": {"total": 120, "failed": 0, "passed": 117, "skipped": 3,
                         "failed_tests": []},
        "artifacts": {"webapp.tar.gz": {
            "archive": "https://ci.example.com/job/acme/job/webapp/job/main/42/artifact/dist/"
                       "webapp.tar.gz"}},
        "log": "[Pipeline] echo\nbuilt <webapp> & tested it\nFinished: SUCCESS\n",
        "notes": "Release candidate for 'v1.2'",
        "body": None,
    }
    assert ev["environment"] is None
    assert ev["summary"] == {"name": "acme/webapp/main", "number": "42", "result": "Passed",
                             "url": "https://ci.example.com/job/acme/job/webapp/job/main/42/"}
    want = payload_json("notification_completed.json")
    want["build"]["parameters"]["SLACK_TOKEN"] = REDACTED
    assert raw == compact(want)


def test_notification_xml_is_refused(herald):
    status, answer = send(herald, "/jenkins/notification", payload("notification.xml"),
                          headers={"Content-Type": "application/xml;charset=UTF-8"})
    assert status == 415
    assert answer["error"] == XML_REFUSED
    assert jenkins_events(herald) == []


def test_tcp_and_udp(herald_factory, tmp_path):
    tcp, udp = free_port(), free_port()
    cfg = config(tmp_path, f"jenkins:\n  tcp: 127.0.0.1:{tcp}\n  udp: 127.0.0.1:{udp}\n")
    h = herald_factory(["--config", str(cfg)])

    # TCP: the plugin writes the JSON and closes; nothing is answered.
    with socket.create_connection(("127.0.0.1", tcp)) as s:
        s.sendall(payload("notification_started.json").encode())
    wait_events(h, 1)
    # UDP: one datagram.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload("notification_completed.json").encode(), ("127.0.0.1", udp))
    got = wait_events(h, 2)
    assert [e["build"]["phase"] for e in got] == ["completed", "started"]
    assert [e["transition"] for e in got] == ["passed", "building"]
    assert got[0]["build"]["parameters"]["SLACK_TOKEN"] == REDACTED
    assert all(e["version"] == "notification" for e in got)

    # Bad input is logged and counted, never stored.
    before = metrics(h)
    for data in [b"not json", b"[1,2]", payload("notification.xml").encode()]:
        with socket.create_connection(("127.0.0.1", tcp)) as s:
            s.sendall(data)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b'{"name":"x","build":{"phase":"NONE"}}', ("127.0.0.1", udp))
    deadline = time.time() + 10 * SLOW
    while time.time() < deadline:
        m = metrics(h)
        if (metric(m, "herald_http_requests_total", endpoint="jenkins_tcp", status="400") -
                metric(before, "herald_http_requests_total", endpoint="jenkins_tcp",
                       status="400") == 2 and
                metric(m, "herald_http_requests_total", endpoint="jenkins_tcp", status="415") == 1
                and metric(m, "herald_http_requests_total", endpoint="jenkins_udp",
                           status="400") == 1):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(m)
    log = h.log_text()
    assert "invalid JSON at line 1, column 3: invalid token near 'not'" in log
    assert "body: expected an object; got an array" in log
    assert XML_REFUSED in log
    assert 'build.phase: expected one of QUEUED, STARTED, COMPLETED, FINALIZED; got "NONE"' in log
    assert len(jenkins_events(h)) == 2


def test_tcp_senders_do_not_wait_for_each_other(herald_factory, tmp_path):
    tcp, udp = free_port(), free_port()
    cfg = config(tmp_path, f"jenkins:\n  tcp: 127.0.0.1:{tcp}\n  udp: 127.0.0.1:{udp}\n")
    h = herald_factory(["--config", str(cfg)])
    # A sender that sends half its body and waits: the others go ahead.
    body = payload("notification_started.json").encode()
    slow = socket.create_connection(("127.0.0.1", tcp))
    slow.sendall(body[:20])
    with socket.create_connection(("127.0.0.1", tcp)) as s:
        s.sendall(payload("notification_completed.json").encode())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload("notification_queued.json").encode(), ("127.0.0.1", udp))
    got = wait_events(h, 2)
    assert sorted(e["build"]["phase"] for e in got) == ["completed", "queued"]
    # The slow one finishes and is taken too.
    slow.sendall(body[20:])
    slow.close()
    got = wait_events(h, 3)
    assert got[0]["build"]["phase"] == "started"


def test_listeners_are_bound_before_herald_says_it_listens(herald_factory, tmp_path):
    # Whoever waits for the line that names the port (a test, an init
    # system) may send a datagram at once: it must not find the port closed.
    tcp, udp = free_port(), free_port()
    cfg = config(tmp_path, f"jenkins:\n  tcp: 127.0.0.1:{tcp}\n  udp: 127.0.0.1:{udp}\n")
    h = herald_factory(["--config", str(cfg)])
    log = h.log_text()
    ready = log.index("(port ")
    assert log.index(f"on tcp 127.0.0.1:{tcp}") < ready
    assert log.index(f"on udp 127.0.0.1:{udp}") < ready


def test_tcp_sender_that_never_finishes_is_dropped(herald_factory, tmp_path):
    tcp = free_port()
    cfg = config(tmp_path, f"jenkins:\n  tcp: 127.0.0.1:{tcp}\n")
    h = herald_factory(["--config", str(cfg)])
    stuck = socket.create_connection(("127.0.0.1", tcp))
    stuck.sendall(b'{"name":"stuck"')
    # herald gives a sender 5 s for its whole body, then closes it.
    stuck.settimeout(15 * SLOW)
    assert stuck.recv(1) == b""
    stuck.close()
    m = metrics(h)
    assert metric(m, "herald_http_requests_total", endpoint="jenkins_tcp", status="408") == 1
    assert "did not finish its body within 5000 ms" in h.log_text()
    assert jenkins_events(h) == []


# ---- herald notify -----------------------------------------------------------

def test_ci_notify(herald):
    _, ev, raw = accepted(herald, "/ci/notify", payload("notify_gitlab_success.json"))
    assert (ev["source"], ev["kind"], ev["version"]) == ("gitlab", "build-status", "notify")
    assert ev["job"] == {"name": "group/project/test", "base_name": "test",
                         "url": "https://gitlab.example.com/group/project", "branch": "main"}
    b = ev["build"]
    assert (b["number"], b["phase"], b["status"], b["result"]) == (123, "completed", "SUCCESS",
                                                                   "Passed")
    assert b["url"] == "https://gitlab.example.com/group/project/-/jobs/123"
    assert b["display_name"] == "test #123" and b["body"] == "all green"
    assert b["scm"] == {"url": "https://gitlab.example.com/group/project.git", "branch": "main",
                        "commit": "0123456789abcdef0123456789abcdef01234567", "changes": None,
                        "culprits": None}
    assert ev["environment"] == {
        "CI_PIPELINE_ID": "991", "CI_JOB_TOKEN": REDACTED,
        "CI_REPOSITORY_URL": "https://********@gitlab.example.com/group/project.git"}
    assert ev["transition"] == "passed"
    assert "glcbt-fake" not in raw

    _, ev, raw = accepted(herald, "/ci/notify", payload("notify_minimal.json"))
    assert ev["source"] == "ci" and ev["build"]["result"] == "Failed"
    assert ev["transition"] == "failed"
    assert raw == '{"job":"nightly","status":"failed"}'
    _, ev, _ = accepted(herald, "/ci/notify", payload("notify_started.json"))
    assert (ev["source"], ev["build"]["phase"], ev["transition"]) == ("drone", "started",
                                                                      "building")
    assert [e["id"] for e in herald.events(source="gitlab")] != []
    assert jenkins_events(herald) == []


# ---- secrets -----------------------------------------------------------------

def test_secrets_are_not_stored_logged_or_delivered(herald_factory, tmp_path):
    t = Target().start()
    cfg = config(tmp_path, f"""
delivery:
  backoff_initial: 200ms
  allow: [127.0.0.0/8]
targets: [{{name: hook, url: "{t.url}/hook"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    secrets_body = payload_json("job-status_secrets.json")
    accepted(h, "/jenkins/job-status", secrets_body)
    q = "&".join(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v)
                 for k, v in with_number(secrets_body, 8).items())
    accepted(h, "/jenkins/job-status?" + q, None, "GET")
    accepted(h, "/jenkins/job-status", with_number(secrets_body, 9), "PUT")
    accepted(h, "/jenkins/notification", payload("notification_completed_failure.json"))
    accepted(h, "/ci/notify", payload("notify_gitlab_success.json"))
    # A refused body with a secret in it is not logged either.
    bad = dict(secrets_body, jobExecuteStatus="EXPLODED")
    assert send(h, "/jenkins/job-status", bad)[0] == 400

    reqs = t.wait(5)
    events = h.all_events()
    assert len(events) == 5
    stored = json.dumps(events)
    for e in events:
        status, one = h.get_json(f"/api/v1/events/{e['id']}")
        assert status == 200
        stored += one["raw"]
    delivered = b"".join(r["body"] for r in reqs).decode()
    log = h.log_text()
    for secret in SECRETS:
        assert secret not in stored, secret
        assert secret not in delivered, secret
        assert secret not in log, secret
    # What was hidden shows as hidden.
    env = [e for e in events if e["version"] == "job-status"][0]["environment"]
    assert env["AWS_SECRET_ACCESS_KEY"] == env["GITHUB_TOKEN"] == REDACTED
    assert env["GIT_URL"] == "https://********@git.example.com/tools/report.git"
    t.stop()


def test_redact_and_keep_config(herald_factory, tmp_path):
    cfg = config(tmp_path, """
jenkins:
  redact: ["*TOKEN*", "*_URL"]
  keep: ["JOB_*", "BUILD_*", "GIT_*", "*TOKEN*"]
""")
    h = herald_factory(["--config", str(cfg)])
    _, ev, raw = accepted(h, "/jenkins/job-status", payload("job-status_secrets.json"))
    env = ev["environment"]
    assert sorted(env) == sorted([
        "BUILD_DISPLAY_NAME", "BUILD_ID", "BUILD_NUMBER", "BUILD_TAG", "BUILD_URL",
        "GIT_BRANCH", "GIT_COMMIT", "GIT_PREVIOUS_COMMIT", "GIT_URL", "GITHUB_TOKEN",
        "JOB_BASE_NAME", "JOB_NAME", "JOB_URL"])
    assert env["GITHUB_TOKEN"] == env["BUILD_URL"] == env["GIT_URL"] == REDACTED
    assert env["JOB_NAME"] == "tools/nightly report"
    # The patterns replace the defaults; the mapping reads hidden values
    # hidden.
    assert ev["build"]["url"] == ev["job"]["url"] == ev["build"]["scm"]["url"] == REDACTED
    assert "AWS_SECRET_ACCESS_KEY" not in raw and "DB_PASSWORD" not in raw
    assert json.loads(raw)["jobExecuteStatus"] == "FAILURE"


# ---- transitions and routes --------------------------------------------------

def test_sequence_fires_each_route_once(herald_factory, tmp_path):
    t = Target().start()
    words = ["passed", "broken", "still_failing", "fixed", "building"]
    targets = "\n".join(f'  - {{name: {w}, url: "{t.url}/{w}"}}' for w in words)
    routes = "\n".join(f"  - {{name: r-{w}, match: {{transition: [{w}]}}, targets: [{w}]}}"
                       for w in words)
    cfg = config(tmp_path, f"""
delivery:
  backoff_initial: 200ms
  allow: [127.0.0.0/8]
targets:
{targets}
routes:
{routes}
  - {{name: done, match: {{source: jenkins, state: [completed, finalized]}}, targets: [passed]}}
""")
    h = herald_factory(["--config", str(cfg)])
    body = payload("job-status_success.json")
    got = [send(h, "/jenkins/job-status", with_number(body, n, st))[1]["transition"]
           for n, st in [(1, "SUCCESS"), (2, "FAILURE"), (3, "FAILURE"), (4, "SUCCESS")]]
    assert got == ["passed", "broken", "still_failing", "fixed"]
    # Another branch of a multibranch job has its own history: Jenkins
    # names the branch's job <project>/<branch>.
    other = with_number(body, 1, "FAILURE")
    other["BRANCH_NAME"] = "feature-x"
    other["JOB_NAME"] = other["JOB_NAME"] + "/feature-x"
    assert send(h, "/jenkins/job-status", other)[1]["transition"] == "failed"
    # A build that starts is building; a notify step's result mid-run too.
    start = with_number(payload("job-status_start.json"), 5)
    assert send(h, "/jenkins/job-status", start)[1]["transition"] == "building"
    step = with_number(payload("job-status_notify_unstable.json"), 5)
    assert send(h, "/jenkins/job-status", step)[1]["transition"] == "building"

    reqs = t.wait(10)
    time.sleep(0.5 * SLOW)
    paths = sorted(r["path"] for r in t.requests)
    # /passed: the route "passed" once, and "done" for the five completed
    # events (an event goes to a target once, so #1 counts once).
    assert paths == ["/broken", "/building", "/building", "/fixed", "/passed", "/passed",
                     "/passed", "/passed", "/passed", "/still_failing"], paths
    fixed = json.loads([r for r in reqs if r["path"] == "/fixed"][0]["body"])
    assert fixed["transition"] == "fixed"
    assert fixed["build"]["number"] == 4 and fixed["job"]["name"] == "acme/webapp/main"
    t.stop()


def test_completed_then_finalized_fires_once(herald_factory, tmp_path):
    t = Target().start()
    cfg = config(tmp_path, f"""
delivery:
  allow: [127.0.0.0/8]
targets: [{{name: hook, url: "{t.url}/hook"}}]
routes: [{{name: results, match: {{transition: [passed, failed]}}, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    got = [send(h, "/jenkins/notification", payload(f"notification_{p}.json"))[1]["transition"]
           for p in ("queued", "started", "completed", "finalized")]
    assert got == ["building", "building", "passed", None]
    t.wait(1)
    time.sleep(0.5 * SLOW)
    assert len(t.requests) == 1
    assert json.loads(t.requests[0]["body"])["build"]["phase"] == "completed"
    t.stop()


# ---- bad input ---------------------------------------------------------------

def refused(h, path, body, message, method="POST", status=400):
    got_status, answer = send(h, path, body, method)
    assert got_status == status, answer
    assert answer["error"] == message, answer
    assert answer["errors"][0] == message
    return answer


def test_refused_values_are_never_quoted(herald):
    # A refused body is never redacted, so a message about a value in a
    # build's environment says its type, not the value: a credential sent
    # the wrong way must not reach the log or the answer.
    cases = [
        ("/jenkins/job-status", "POST",
         {"JOB_NAME": "a", "jobExecuteStatus": "START", "DB_PASSWORD": 987654321},
         "DB_PASSWORD: expected a string; got a number"),
        ("/ci/notify", "POST",
         {"job": "j", "status": "SUCCESS", "environment": {"AWS_SECRET_KEY": 31415926}},
         "environment.AWS_SECRET_KEY: expected a string; got a number"),
        ("/jenkins/notification", "POST",
         {"name": "j", "build": {"phase": "STARTED", "parameters": {"DEPLOY_PASSWORD": 123456}}},
         "build.parameters.DEPLOY_PASSWORD: expected a string; got a number"),
        ("/jenkins/job-status?JOB_NAME=a&jobExecuteStatus=START&DB_PASSWORD=hunter2%zz", "GET",
         None, 'query: pair 3 ("DB_PASSWORD=..."): invalid %-escape'),
    ]
    for path, method, body, message in cases:
        refused(herald, path, body, message, method)
    log = herald.log_text()
    for secret in ("987654321", "31415926", "123456", "hunter2"):
        assert secret not in log


def test_bad_input_exact_messages(herald):
    js = "/jenkins/job-status"
    refused(herald, js, "not json", "invalid JSON at line 1, column 3: invalid token near 'not'")
    refused(herald, js, "[1,2]", "body: expected a JSON object of strings; got an array")
    refused(herald, js, {"JOB_NAME": "a", "jobExecuteStatus": "SUCCESS", "BUILD_NUMBER": 5},
            "BUILD_NUMBER: expected a string; got a number")
    refused(herald, js, {"JOB_NAME": "a", "jobExecuteStatus": "EXPLODED"},
            f'jobExecuteStatus: expected {JOB_STATUS_WORDS}; got "EXPLODED"')
    refused(herald, js, {"jobExecuteStatus": "START"},
            "JOB_NAME: expected a non-empty string; got nothing")
    answer = refused(herald, js, {"JOB_NAME": "", "jobExecuteStatus": "DONE", "N": True},
                     "N: expected a string; got a boolean")
    assert answer["errors"] == [
        "N: expected a string; got a boolean",
        'JOB_NAME: expected a non-empty string; got ""',
        f'jobExecuteStatus: expected {JOB_STATUS_WORDS}; got "DONE"',
    ]
    for method in ("PUT", "DELETE"):
        status, answer = send(herald, js, "[]", method)
        assert (status, answer["error"]) == (400, "body: expected a JSON object of strings; "
                                                  "got an array")
    refused(herald, js + "?JOB_NAME=a&BUILD_NUMBER=%ZZ&jobExecuteStatus=START", None,
            'query: pair 2 ("BUILD_NUMBER=..."): invalid %-escape', "GET")
    refused(herald, js + "?JOB_NAME=a&jobExecuteStatus=EXPLODED", None,
            f'jobExecuteStatus: expected {JOB_STATUS_WORDS}; got "EXPLODED"', "GET")
    refused(herald, "/jenkins/notification", {"name": "a", "build": {"phase": "NONE"}},
            'build.phase: expected one of QUEUED, STARTED, COMPLETED, FINALIZED; got "NONE"')
    refused(herald, "/jenkins/notification", "[]", "body: expected an object; got an array")
    refused(herald, "/ci/notify", {"job": "j", "status": "SUCCESS", "pipeline": "x"},
            "pipeline: unknown member; the members are ci, job, build, status, url, job_url, "
            "branch, commit, scm_url, display_name, body, environment")
    refused(herald, "/ci/notify", {"ci": "Git Lab", "job": "j", "status": "SUCCESS"},
            "ci: expected a name of 1 to 32 characters from a-z, 0-9 and '-'; got \"Git Lab\"")
    assert herald.all_events() == []


def test_two_mib_environment_is_413(herald):
    body = with_number(payload("job-status_success.json"), 1)
    body["BIG"] = "x" * (2 * 1024 * 1024)
    for path in ("/jenkins/job-status", "/jenkins/notification", "/ci/notify"):
        status, _ = send(herald, path, body)
        assert status == 413, path
    assert herald.all_events() == []


# ---- tokens ------------------------------------------------------------------

def test_tokens(herald_factory, tmp_path):
    token = "s3cret-jenkins-tok"
    cfg = config(tmp_path, f"jenkins:\n  token: {token}\n")
    h = herald_factory(["--config", str(cfg)])
    body = payload("job-status_success.json")
    basic = base64.b64encode(f"jenkins:{token}".encode()).decode()
    wrong_basic = base64.b64encode(b"jenkins:nope").decode()
    q = "&".join(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v)
                 for k, v in with_number(body, 50).items())

    # Missing or wrong: 401, nothing stored.
    for path, data, method, headers in [
        ("/jenkins/job-status", body, "POST", {}),
        ("/jenkins/job-status", body, "PUT", {"Authorization": "Bearer nope"}),
        ("/jenkins/job-status", body, "DELETE", {"Authorization": f"Basic {wrong_basic}"}),
        ("/jenkins/job-status?token=nope", body, "POST", {}),
        ("/jenkins/job-status?" + q, None, "GET", {}),
        ("/jenkins/job-status?token=nope?" + q, None, "GET", {}),
        ("/jenkins/notification", payload("notification_completed.json"), "POST", {}),
        ("/jenkins/notification", payload("notification.xml"), "POST", {}),
        ("/ci/notify", payload("notify_minimal.json"), "POST", {"Authorization": "Bearer x"}),
        # A bad body without the token is a 401 too: the token comes first.
        ("/jenkins/job-status", "not json", "POST", {}),
    ]:
        status, answer = send(h, path, data, method, headers)
        assert status == 401, (path, method, answer)
        assert "jenkins.token" in answer["error"]
    assert h.all_events() == []

    # Right: Bearer, Basic (any user), ?token=, and the double-? GET form.
    n = 0
    for path, data, method, headers in [
        ("/jenkins/job-status", with_number(body, 51), "POST",
         {"Authorization": f"Bearer {token}"}),
        ("/jenkins/job-status", with_number(body, 52), "PUT", {"Authorization": f"Basic {basic}"}),
        ("/jenkins/job-status?token=" + token, with_number(body, 53), "DELETE", {}),
        ("/jenkins/job-status?token=" + token + "?" + q, None, "GET", {}),
        ("/jenkins/job-status?" + q + "&token=" + token, None, "GET", {}),
        ("/jenkins/notification?token=" + token, payload("notification_completed.json"), "POST",
         {}),
        ("/ci/notify", payload("notify_minimal.json"), "POST",
         {"Authorization": f"Basic {base64.b64encode(f'x:{token}'.encode()).decode()}"}),
    ]:
        status, answer = send(h, path, data, method, headers)
        assert status == 200, (path, method, answer)
        n += 1
    assert len(h.all_events()) == n
    assert token not in h.log_text()
    for e in h.all_events():
        assert token not in h.get_json(f"/api/v1/events/{e['id']}")[1]["raw"]


def test_a_repeated_request_id_is_one_build(herald):
    # herald notify names each run with X-Herald-Request-Id and sends the
    # same id when it retries: a retry after a lost answer is not a second
    # build (nor a second "still failing").
    body = {"ci": "gitlab", "job": "g/p/test", "build": 5, "status": "FAILURE"}
    hdrs = {"X-Herald-Request-Id": "b0c4d7e2-91aa-4a8e-8f6d-3c9e2d4b5a60"}
    first = send(herald, "/ci/notify", body, headers=hdrs)
    again = send(herald, "/ci/notify", body, headers=hdrs)
    assert first == again == (200, {"id": 1, "transition": "failed"})
    assert len(herald.events(source="gitlab")) == 1
    status, answer = send(herald, "/ci/notify", body, headers={"X-Herald-Request-Id": "a b"})
    assert status == 400
    assert answer["error"].startswith("X-Herald-Request-Id: expected 1 to 128 letters")
