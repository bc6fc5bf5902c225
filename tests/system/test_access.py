"""What a web page a developer visits can make a browser send herald, against
the real daemon on loopback (docs/operating.md, "Security model"):

- cross-site simple requests (text/plain or no type, with Origin or
  Sec-Fetch-Site: cross-site) are refused and change nothing, even with
  --insecure-local;
- DNS rebinding (a Host that is the page's own name) is refused to browsers;
- herald's real senders, which send neither Origin nor Sec-Fetch-Site, pass
  whatever Host they use, and send application/json where herald takes JSON;
- a reused X-Herald-Request-Id with another body is refused (409; GoCD's
  failure shape on /gocd/).
"""
import json

import pytest

from conftest import PAYLOADS, ROOT

JENKINS = ROOT / "tests" / "payloads" / "jenkins"
STAGE = (PAYLOADS / "stage-status_v4_completed_failed.json").read_text()
SETTINGS = {"webhook_url": "https://attacker.example/steal", "webhook_method": "POST",
            "webhook_body": "{t: .}"}
REPLAY = {"dead": True}

# Every endpoint that changes state from a JSON body: (path, body, headers).
GOCD = {"X-Go-Extension-Version": "4.0"}
JSON_WRITES = [
    ("/gocd/notification/go.plugin-settings.plugin-settings-changed", SETTINGS, GOCD),
    ("/gocd/notification/stage-status", STAGE, GOCD),
    ("/gocd/server-info", {"site_url": "https://attacker.example"}, {}),
    ("/api/v1/deliveries/replay", REPLAY, {}),
    ("/api/v1/deliveries/1/retry", "", {}),
    ("/api/v1/packages/ci/app/revisions", {"revision": "6.6.6"}, {}),
    ("/jenkins/job-status", (JENKINS / "job-status_failure.json").read_text(), {}),
    ("/jenkins/notification", (JENKINS / "notification_completed.json").read_text(), {}),
    ("/ci/notify", (JENKINS / "notify_minimal.json").read_text(), {}),
]
# Of those, what a herald without tokens takes only with --insecure-local.
TOKENLESS_WRITES = ("settings-changed", "replay", "retry", "revisions")
JOB_STATUS_GET = (JENKINS / "job-status_get_success.query").read_text().strip()


def post(h, path, body, headers):
    status, data = h.request("POST", path, body, headers)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data


def nothing_changed(h):
    assert h.get_json("/api/v1/settings")[1]["settings"] == {}
    assert h.get_json("/api/v1/gocd/server-info")[1]["server_info"] is None
    assert h.events() == []


@pytest.fixture
def open_herald(herald_factory):
    """--insecure-local: no token stands in the way, only the browser rules."""
    return herald_factory(["--insecure-local"])


# ---- cross-site simple requests ---------------------------------------------

@pytest.mark.parametrize("ctype", ["text/plain;charset=UTF-8", None,
                                   "application/x-www-form-urlencoded"])
def test_cross_site_simple_requests_are_refused(open_herald, ctype):
    h = open_herald
    origin = {"Origin": "https://attacker.example", "Content-Type": ctype}
    fetch = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Content-Type": ctype}
    for path, body, extra in JSON_WRITES:
        for marks in (origin, fetch):
            status, answer = post(h, path, body, {**extra, **marks})
            assert status == 403, (path, marks, answer)
            assert "herald refuses" in answer["error"], answer
    status, answer = post(h, "/gocd/notification/stage-status", STAGE,
                          {**GOCD, "Origin": "null", "Content-Type": "text/plain"})
    assert status == 403
    nothing_changed(h)


def test_cross_site_get_of_the_job_status_endpoint_is_refused(open_herald):
    # <img src="http://127.0.0.1:8190/jenkins/job-status?..."> from any page.
    h = open_herald
    status, data = h.request("GET", "/jenkins/job-status?" + JOB_STATUS_GET,
                             headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors",
                                      "Sec-Fetch-Dest": "image"})
    assert status == 403, data
    status, data = h.request("GET", "/jenkins/job-status?" + JOB_STATUS_GET,
                             headers={"Sec-Fetch-Site": "same-site"})
    assert status == 403, data
    nothing_changed(h)
    # The plugin itself sends no such header: taken.
    status, data = h.request("GET", "/jenkins/job-status?" + JOB_STATUS_GET)
    assert status == 200, data
    assert len(h.events()) == 1


def test_dns_rebinding_is_refused(open_herald):
    """After rebinding, the page is same-origin to the browser: it may even
    send application/json. Its Host is its own name, which herald does not
    serve."""
    h = open_herald
    evil = f"evil.example:{h.port}"
    same = {"Host": evil, "Origin": f"http://{evil}", "Content-Type": "application/json"}
    for path, body, extra in JSON_WRITES:
        status, answer = post(h, path, body, {**extra, **same})
        assert status == 403, (path, answer)
        assert "evil.example" in answer["error"] and "--allow-host" in answer["error"], answer
    # A rebound page reading: a GET carries no Origin, and Sec-Fetch-Site
    # only to trustworthy origins; with one it is refused on any endpoint.
    status, data = h.request("GET", "/api/v1/events",
                             headers={"Host": evil, "Sec-Fetch-Site": "same-origin"})
    assert status == 403, data
    # Without any mark, token-less /api/v1 still answers only names herald
    # serves (what a rebound page's plain GET looks like).
    status, data = h.request("GET", "/api/v1/config", headers={"Host": evil})
    assert status == 403 and b"without a token" in data, data
    nothing_changed(h)


def test_other_origins_on_loopback_are_refused(open_herald):
    # Another local app (a dev server on port 3000) is another origin.
    h = open_herald
    status, answer = post(h, "/api/v1/deliveries/replay", REPLAY,
                          {"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site"})
    assert status == 403
    status, answer = post(h, "/api/v1/deliveries/replay", REPLAY,
                          {"Origin": "http://localhost:3000"})
    assert status == 403 and "localhost:3000" in answer["error"], answer


def test_the_browser_rules_hold_with_tokens_too(herald_factory, tmp_path):
    (tmp_path / "t").write_text("tok-abc\n")
    h = herald_factory(["--api-token-file", str(tmp_path / "t")])
    status, _ = post(h, "/api/v1/deliveries/replay", REPLAY,
                     {"Authorization": "Bearer tok-abc", "Origin": "https://attacker.example"})
    assert status == 403
    # With the token, any Host: the token is the proof, not the name.
    status, data = h.request("GET", "/api/v1/config",
                             headers={"Host": "herald.corp:443", "Authorization": "Bearer tok-abc"})
    assert status == 200, data


# ---- what real senders and herald's own pages send --------------------------

def test_programs_pass_whatever_their_host(open_herald):
    """The GoCD bridge, Jenkins and herald notify send no browser marks and
    may reach herald by any name (a proxy, a DNS alias)."""
    h = open_herald
    for path, body, extra in JSON_WRITES:
        status, answer = post(h, path, body, {**extra, "Host": "herald.corp:8190",
                                              "Content-Type": "application/json; charset=utf-8"})
        if "settings-changed" in path:
            # GoCD's shape: 200 and a failure GoCD shows.
            assert status == 200 and "without a token" in answer["messages"][0], answer
        elif any(w in path for w in TOKENLESS_WRITES):
            # Without a token, only names herald serves: what a rebound
            # page's request would look like.
            assert status == 403 and "without a token" in answer["error"], (path, answer)
        else:
            assert status == 200, (path, answer)
    status, data = h.request("GET", "/jenkins/job-status?" + JOB_STATUS_GET.replace(
        "JOB_NAME=", "JOB_NAME=other-"), headers={"Host": "jenkins-alias.example"})
    assert status == 200, data


def test_browsers_on_herald_itself_pass(open_herald):
    h = open_herald
    own = f"127.0.0.1:{h.port}"
    status, data = h.request("GET", "/api/v1/events", headers={"Sec-Fetch-Site": "none"})
    assert status == 200, data
    status, answer = post(h, "/api/v1/deliveries/replay", REPLAY,
                          {"Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin"})
    assert status == 200, answer


def test_allow_host_names_a_proxy(herald_factory):
    h = herald_factory(["--insecure-local", "--allow-host", "herald.test"])
    status, answer = post(h, "/api/v1/deliveries/replay", REPLAY,
                          {"Host": "herald.test", "Origin": "https://herald.test",
                           "Sec-Fetch-Site": "same-origin"})
    assert status == 200, answer
    status, answer = post(h, "/api/v1/deliveries/replay", REPLAY,
                          {"Host": "herald.test2", "Origin": "https://herald.test2"})
    assert status == 403


# ---- JSON bodies come as application/json -----------------------------------

@pytest.mark.parametrize("ctype", ["text/plain", None, "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_json_endpoints_need_the_json_type(open_herald, ctype):
    h = open_herald
    for path, body, extra in JSON_WRITES:
        status, answer = post(h, path, body, {**extra, "Content-Type": ctype})
        assert status == 415, (path, ctype, answer)
        assert "Content-Type: application/json" in answer["error"], answer
    nothing_changed(h)


def test_jenkins_xml_keeps_its_own_message(open_herald):
    status, answer = post(open_herald, "/jenkins/notification",
                          (JENKINS / "notification.xml").read_text(),
                          {"Content-Type": "application/xml;charset=UTF-8"})
    assert status == 415 and "XML" in answer["error"], answer


# ---- beyond loopback ---------------------------------------------------------

def test_beyond_loopback_without_tokens_every_open_family_is_named(herald_factory):
    h = herald_factory(["--listen", "0.0.0.0:0"])
    log = h.log_text()
    assert "without a GoCD token" in log and "/gocd/" in log
    assert "without jenkins.token" in log and "/jenkins/" in log and "/ci/notify" in log
    assert "without an API token" in log and "/api/v1" in log and "packages" in log


def test_beyond_loopback_with_tokens_warns_of_nothing(herald_factory, tmp_path):
    (tmp_path / "t").write_text("tok-abc\n")
    (tmp_path / "h.yaml").write_text("jenkins:\n  token: jenkins-tok\n")
    h = herald_factory(["--listen", "0.0.0.0:0", "--api-token-file", str(tmp_path / "t"),
                        "--gocd-token-file", str(tmp_path / "t"),
                        "--config", str(tmp_path / "h.yaml")])
    assert "WARN" not in h.log_text()


# ---- one event per X-Herald-Request-Id, one body per id ---------------------

def test_a_request_id_reused_for_another_body_is_refused(herald_factory):
    h = herald_factory()
    rid = {"X-Herald-Request-Id": "3d0f2a9e-1c4b-4f7e-9a55-6b0e1d2c3f41"}
    first = {"ci": "gitlab", "job": "g/p/test", "build": 5, "status": "FAILURE"}
    other = {**first, "build": 6}
    ok = post(h, "/ci/notify", first, rid)
    assert ok == (200, {"id": 1, "transition": "failed"})
    assert post(h, "/ci/notify", first, rid) == ok  # a retry: idempotent
    status, answer = post(h, "/ci/notify", other, rid)
    assert status == 409, answer
    assert answer["error"].startswith("X-Herald-Request-Id was used before for another body"), \
        answer
    assert len(h.events()) == 1
    # The digest is stored: still refused after a restart, still idempotent.
    h.stop()
    h.start()
    assert post(h, "/ci/notify", other, rid)[0] == 409
    assert post(h, "/ci/notify", first, rid) == ok
    assert len(h.events()) == 1


def test_gocd_gets_a_reused_request_id_in_its_own_shape(herald):
    rid = {**GOCD, "X-Herald-Request-Id": "bridge-spool-000042"}
    assert post(herald, "/gocd/notification/stage-status", STAGE, rid) == (
        200, {"status": "success"})
    assert post(herald, "/gocd/notification/stage-status", STAGE, rid) == (
        200, {"status": "success"})
    changed = STAGE.replace('"Failed"', '"Passed"')
    assert changed != STAGE
    status, answer = post(herald, "/gocd/notification/stage-status", changed, rid)
    # GoCD reads only a 200's body: a failure, which the bridge does not retry.
    assert status == 200 and answer["status"] == "failure", answer
    assert answer["messages"][0].startswith("X-Herald-Request-Id was used before"), answer
    assert len(herald.events()) == 1
