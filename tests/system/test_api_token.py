"""herald's API token against the real daemon: with --api-token-file or
HERALD_API_TOKEN, every /api/v1/ endpoint but publishing refuses a request
without the token (401, and nothing happens), takes it as a bearer token,
Basic auth's password or ?token=, and the token shows up in no log, answer
or output. `herald replay` sends it from --token, --token-file or
HERALD_API_TOKEN."""
import base64
import json
import os
import subprocess
import time

import pytest

from conftest import BIN, PAYLOADS, SLOW
from targets import Target

TOKEN = "api-tok-7c1e9b52d04f-unique"
JSON = {"Content-Type": "application/json"}
EVENT = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())

# Every endpoint under /api/v1/ that needs the API token: (method, path, body).
PROTECTED = [
    ("GET", "/api/v1/events", None),
    ("GET", "/api/v1/events/1", None),
    ("GET", "/api/v1/stages", None),
    ("GET", "/api/v1/settings", None),
    ("GET", "/api/v1/config", None),
    ("GET", "/api/v1/deliveries", None),
    ("GET", "/api/v1/deliveries/1", None),
    ("POST", "/api/v1/deliveries/1/retry", ""),
    ("POST", "/api/v1/deliveries/replay", {"dead": True}),
    ("POST", "/api/v1/deliveries/drop", {"state": "dead"}),
    ("POST", "/api/v1/deliveries/drop?dry_run=true", {"state": "dead"}),
    ("GET", "/api/v1/gocd/server-info", None),
    ("GET", "/api/v1/jobs", None),
    ("GET", "/api/v1/packages", None),
    ("GET", "/api/v1/packages/ci/app/revisions", None),
]


def token_file(tmp_path, text=TOKEN + "\n"):
    p = tmp_path / "api-token"
    p.write_text(text)
    return p


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def basic(token=TOKEN, user="ops"):
    raw = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def with_query(path, token=TOKEN):
    return path + ("&" if "?" in path else "?") + f"token={token}"


def config(tmp_path, body=""):
    p = tmp_path / "herald.yaml"
    p.write_text(body)
    return p


def dead_letter_config(tmp_path, url):
    """One target, one attempt: a 404 makes its delivery dead at once."""
    return config(tmp_path, f"""
delivery:
  max_attempts: 1
  backoff_initial: 200ms
  backoff_max: 1s
  connect_timeout: 500ms
  timeout: 1s
  allow: [127.0.0.0/8]
targets: [{{name: hook, url: "{url}/x"}}]
routes: [{{name: all, targets: [hook]}}]
""")


def send_event(h, counter=1):
    body = json.loads(json.dumps(EVENT))
    body["pipeline"]["counter"] = str(counter)
    status, answer = h.gocd("stage-status", body)
    assert (status, answer) == (200, {"status": "success"}), answer


def deliveries(h, state):
    status, data = h.request("GET", f"/api/v1/deliveries?state={state}", headers=bearer())
    assert status == 200, data
    return json.loads(data)["deliveries"]


def wait_deliveries(h, state, n):
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline:
        got = deliveries(h, state)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"wanted {n} {state} deliveries")


def replay_cli(h, *args, env=None, url=None):
    e = {k: v for k, v in os.environ.items() if k not in ("HERALD_API_TOKEN", "HERALD_TOKEN")}
    e.update(env or {})
    return subprocess.run([BIN, "replay", "--url", url or f"http://127.0.0.1:{h.port}", *args],
                          capture_output=True, text=True, timeout=30 * SLOW, env=e)


# ---- the daemon ------------------------------------------------------------

def test_every_api_endpoint_refuses_a_request_without_the_token(herald_factory, tmp_path):
    h = herald_factory(["--api-token-file", str(token_file(tmp_path))])
    for method, path, body in PROTECTED:
        for headers in ({}, bearer("wrong"), basic("wrong"), bearer(TOKEN + "x"),
                        bearer(TOKEN[:-1]), {"Authorization": TOKEN}):
            status, data = h.request(method, path, body, {**JSON, **headers})
            assert status == 401, (method, path, headers, data)
            error = json.loads(data)["error"]
            assert "herald's API token" in error and TOKEN not in error, error
        status, _ = h.request(method, with_query(path, "wrong"), body, JSON)
        assert status == 401, (method, path)


def test_every_api_endpoint_takes_the_token_three_ways(herald_factory, tmp_path):
    h = herald_factory(["--api-token-file", str(token_file(tmp_path))])
    send_event(h)
    for method, path, body in PROTECTED:
        for p, headers in ((path, bearer()), (path, basic()), (path, basic(user="")),
                           (with_query(path), {})):
            status, data = h.request(method, p, body, {**JSON, **headers})
            # The store holds event 1 but no delivery 1 and no package.
            assert status in (200, 404), (method, p, headers, data)
            assert status == 200 or "/deliveries/1" in path, (method, p, data)
    # The query's own parameters still work beside the token.
    status, data = h.request("GET", "/api/v1/events?limit=1&token=" + TOKEN)
    assert status == 200 and len(json.loads(data)["events"]) == 1


def test_a_replay_without_the_token_delivers_nothing_again(herald_factory, tmp_path):
    t = Target([404, 200]).start()
    h = herald_factory(["--api-token-file", str(token_file(tmp_path)),
                        "--config", str(dead_letter_config(tmp_path, t.url))])
    send_event(h)
    dead = wait_deliveries(h, "dead", 1)
    assert len(t.requests) == 1
    for path, body in ((f"/api/v1/deliveries/{dead[0]['id']}/retry", ""),
                       ("/api/v1/deliveries/replay", {"dead": True}),
                       ("/api/v1/deliveries/replay", {"target": "hook"})):
        status, _ = h.request("POST", path, body, JSON)
        assert status == 401
        status, _ = h.request("POST", path, body, {**JSON, **bearer("wrong")})
        assert status == 401
    time.sleep(1.0 * SLOW)
    assert len(t.requests) == 1
    assert [d["id"] for d in deliveries(h, "dead")] == [dead[0]["id"]]

    status, data = h.request("POST", f"/api/v1/deliveries/{dead[0]['id']}/retry", "",
                             {**JSON, **bearer()})
    assert (status, json.loads(data)) == (200, {"reset": 1})
    t.wait(2)
    wait_deliveries(h, "delivered", 1)
    t.stop()


def test_publishing_keeps_its_own_token_rules(herald_factory, tmp_path):
    rev = {"revision": "1.0.1", "data": {"VERSION": "1.0.1"}}
    path = "/api/v1/packages/ci/app/revisions"
    # No publish token in the config: publishing needs the API token.
    h = herald_factory(["--api-token-file", str(token_file(tmp_path)),
                        "--config", str(config(tmp_path, ""))])
    status, data = h.request("POST", path, rev, JSON)
    assert status == 401 and "API token" in json.loads(data)["error"], data
    status, data = h.request("POST", path, rev, {**JSON, **bearer()})
    assert status == 201, data
    status, _ = h.request("GET", path)
    assert status == 401
    status, data = h.request("GET", path, headers=bearer())
    assert status == 200 and json.loads(data)["revisions"][0]["revision"] == "1.0.1"
    h.stop()

    # A publish token: publishing needs it, and the API token does not stand in.
    cfg = config(tmp_path, "packages:\n  token: s3cret-publish-token\n")
    h = herald_factory(["--api-token-file", str(token_file(tmp_path)), "--config", str(cfg)])
    status, data = h.request("POST", path, rev, JSON)
    assert status == 401 and "publish token" in json.loads(data)["error"]
    status, _ = h.request("POST", path, rev, {**JSON, **bearer()})
    assert status == 401
    status, data = h.request("POST", path, rev,
                             {**JSON, "Authorization": "Bearer s3cret-publish-token"})
    assert status == 201, data
    # Nor does the publish token read the API.
    status, _ = h.request("GET", path, headers={"Authorization": "Bearer s3cret-publish-token"})
    assert status == 401


def test_healthz_metrics_and_the_ci_endpoints_stay_open(herald_factory, tmp_path):
    h = herald_factory(["--api-token-file", str(token_file(tmp_path))])
    assert h.get("/healthz")[0] == 200
    status, data = h.get("/metrics")
    assert status == 200 and b"herald_http_requests_total" in data
    # GoCD's and Jenkins' endpoints have their own tokens, none set here.
    send_event(h)
    status, data = h.request("POST", "/ci/notify", {"job": "nightly", "status": "failed"}, JSON)
    assert status == 200, data


def test_the_token_from_the_environment(herald_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_API_TOKEN", TOKEN)
    h = herald_factory()
    assert h.get("/api/v1/events")[0] == 401
    assert h.request("GET", "/api/v1/events", headers=bearer())[0] == 200
    h.stop()
    # The file wins over the variable.
    h = herald_factory(["--api-token-file", str(token_file(tmp_path, "from-the-file\n"))])
    assert h.request("GET", "/api/v1/events", headers=bearer())[0] == 401
    assert h.request("GET", "/api/v1/events", headers=bearer("from-the-file"))[0] == 200


def test_an_empty_variable_means_no_token(herald_factory, monkeypatch):
    monkeypatch.setenv("HERALD_API_TOKEN", "")
    h = herald_factory()
    assert h.get("/api/v1/events")[0] == 200


WRITES = [(m, p, b) for m, p, b in PROTECTED if m == "POST"]


def test_without_a_token_reads_are_open_and_writes_refused(herald):
    """A herald without an API token answers /api/v1 reads, but refuses the
    writes (replay, retry, publishing) with a message that says what to do."""
    for method, path, body in PROTECTED:
        status, data = herald.request(method, path, body, JSON)
        if method == "GET":
            assert status in (200, 404), (method, path, data)
        else:
            assert status == 403, (method, path, data)
            msg = json.loads(data)["error"]
            assert "no API token" in msg and "--insecure-local" in msg, msg
    status, data = herald.request("POST", "/api/v1/packages/ci/app/revisions",
                                  {"revision": "1.0.1"}, JSON)
    assert status == 403 and "publishing" in json.loads(data)["error"], data
    assert herald.get_json("/api/v1/packages")[1]["packages"] == []


def test_insecure_local_opens_the_writes(herald_factory):
    h = herald_factory(["--insecure-local"])
    for method, path, body in PROTECTED:
        status, data = h.request(method, path, body, JSON)
        assert status in (200, 404), (method, path, data)
    status, data = h.request("POST", "/api/v1/packages/ci/app/revisions",
                             {"revision": "1.0.1"}, JSON)
    assert status == 201, data
    assert "--insecure-local" in h.log_text()


def test_insecure_local_is_for_loopback_only(tmp_path):
    r = subprocess.run([BIN, "serve", "--listen", "0.0.0.0:0", "--data", str(tmp_path / "d"),
                        "--insecure-local"], capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 2 and "only with a loopback --listen" in r.stderr, r.stderr


def test_the_token_is_never_logged(herald_factory, tmp_path):
    h = herald_factory(["--api-token-file", str(token_file(tmp_path)), "--log-level", "debug"])
    for method, path, body in PROTECTED:
        h.request(method, path, body, {**JSON, **bearer()})
        h.request(method, with_query(path), body, JSON)
        h.request(method, path, body, {**JSON, **basic()})
        h.request(method, path, body, {**JSON, **bearer(TOKEN + "-wrong")})
        h.request(method, with_query(path, TOKEN + "-wrong"), body, JSON)
    h.stop()
    log = h.log_text()
    assert "GET /api/v1/events 200" in log and "401" in log
    assert "need the API token" in log
    assert TOKEN not in log


@pytest.mark.parametrize("text, message", [
    ("", "holds no token"),
    ("\n  \n", "holds no token"),
    ("x" * 2000, "holds more than 1023 bytes"),
])
def test_a_bad_token_file_stops_herald(tmp_path, text, message):
    path = token_file(tmp_path, text)
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--api-token-file", str(path)],
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 1
    assert f"the API token file {path} {message}" in r.stderr, r.stderr


def test_a_missing_token_file_stops_herald(tmp_path):
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--api-token-file", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == 1 and "cannot read the API token file" in r.stderr, r.stderr


def test_help_documents_the_token_and_never_shows_it(monkeypatch):
    monkeypatch.setenv("HERALD_API_TOKEN", TOKEN)
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for words in ("--api-token-file FILE", "HERALD_API_TOKEN", "ACCESS",
                  "POST /api/v1/packages/R/P/revisions", "--token-file FILE"):
        assert words in r.stdout, words
    assert TOKEN not in r.stdout + r.stderr


# ---- herald replay -----------------------------------------------------------

def test_replay_sends_the_token(herald_factory, tmp_path):
    t = Target([404, 200]).start()
    h = herald_factory(["--api-token-file", str(token_file(tmp_path)),
                        "--config", str(dead_letter_config(tmp_path, t.url))])
    send_event(h)
    dead = wait_deliveries(h, "dead", 1)

    # Without it: refused, with a message that says how to give it.
    r = replay_cli(h, "--dead")
    assert r.returncode == 1
    assert "HTTP 401" in r.stderr
    assert "give it with --token, --token-file or HERALD_API_TOKEN" in r.stderr
    r = replay_cli(h, "--delivery", str(dead[0]["id"]), "--token", "wrong")
    assert r.returncode == 1 and "not herald's API token" in r.stderr, r.stderr
    time.sleep(0.5 * SLOW)
    assert len(t.requests) == 1

    # Each way of giving it works, and it is never printed.
    tf = tmp_path / "client-token"
    tf.write_text(TOKEN + "\nsecond line ignored\n")
    for args, env in ((["--token", TOKEN], None),
                      (["--token-file", str(tf)], None),
                      ([], {"HERALD_API_TOKEN": TOKEN}),
                      (["--token", TOKEN], {"HERALD_API_TOKEN": "wrong"})):
        r = replay_cli(h, "--target", "hook", *args, env=env)
        assert r.returncode == 0, (args, r.stderr)
        assert "deliveries will be sent again" in r.stdout
        assert TOKEN not in r.stdout + r.stderr
    r = replay_cli(h, "--delivery", str(dead[0]["id"]), "--token", TOKEN)
    assert r.returncode == 0 and "1 deliveries will be sent again" in r.stdout, r.stderr
    wait_deliveries(h, "delivered", 1)
    # HERALD_TOKEN is notify's and publish's: replay does not send it.
    r = replay_cli(h, "--dead", env={"HERALD_TOKEN": TOKEN})
    assert r.returncode == 1 and "HTTP 401" in r.stderr
    t.stop()


def test_replay_token_usage_errors(herald_factory, tmp_path):
    h = herald_factory(["--api-token-file", str(token_file(tmp_path))])
    r = replay_cli(h, "--dead", "--token", TOKEN, "--token-file", str(tmp_path / "api-token"))
    assert r.returncode == 2 and "give one" in r.stderr
    r = replay_cli(h, "--dead", "--token-file", str(tmp_path / "nope"))
    assert r.returncode == 2 and "cannot read it" in r.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    r = replay_cli(h, "--dead", "--token-file", str(empty))
    assert r.returncode == 2 and "holds no token" in r.stderr
    for out in (r.stdout, r.stderr):
        assert TOKEN not in out


def test_replay_hides_a_token_in_the_url(herald_factory, tmp_path):
    h = herald_factory(["--api-token-file", str(token_file(tmp_path))])
    # Basic auth from the URL is one more way of sending it.
    r = replay_cli(h, "--dead", url=f"http://ops:{TOKEN}@127.0.0.1:{h.port}")
    assert r.returncode == 0, r.stderr
    # Where herald cannot be reached, the URL is shown without it.
    r = replay_cli(h, "--dead", url=f"http://ops:{TOKEN}@127.0.0.1:1")
    assert r.returncode == 1 and "cannot reach herald" in r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_beyond_loopback_without_a_token_herald_warns(herald_factory, tmp_path):
    # The later --listen wins; 0.0.0.0 includes loopback, where the test talks.
    h = herald_factory(["--listen", "0.0.0.0:0"])
    assert "without an API token" in h.log_text()
    h.stop()
    h = herald_factory(["--listen", "0.0.0.0:0", "--api-token-file", str(token_file(tmp_path))])
    assert "without an API token" not in h.log_text()
    h.stop()
    h = herald_factory()
    assert "without an API token" not in h.log_text()
