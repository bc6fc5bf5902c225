"""State targets end to end: the real daemon reports GoCD stages and
Jenkins builds to local servers that answer as GitHub, GitLab, Bitbucket
(Cloud and Data Center) and PagerDuty document (../shared/targets.md),
failure answers included. Every request is checked byte for byte: method,
path, headers (the token included) and the JSON body."""
import json
import subprocess
import time

import pytest

from conftest import BIN, PAYLOADS, SLOW
from targets import Target
from test_delivery import config, deliveries, event, send, wait_state

SITE = "https://gocd.example.com"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
OTHER_SHA = "89e6c98d92887913cadf06b2adb97f26cde4849b"
JENKINS = json.loads((PAYLOADS.parent / "jenkins" / "notification_completed_failure.json").read_text())
JENKINS_SHA = "8f2d1c4b9a7e6d5c4b3a29180f7e6d5c4b3a2918"


def herald_with(tmp_path, herald_factory, targets_yaml, names, attempts=3, backoff_max="1s"):
    cfg = config(tmp_path, f"""
targets:
{targets_yaml}
routes: [{{name: all, targets: [{", ".join(names)}]}}]
""", attempts=attempts)
    cfg.write_text(cfg.read_text().replace("backoff_max: 1s", f"backoff_max: {backoff_max}"))
    h = herald_factory(["--config", str(cfg)])
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x", "site_url": SITE,
                                                        "secure_site_url": None})
    assert status == 200
    return h


def stage(state, result, counter=1, materials=None):
    """A GoCD stage whose build cause is the given git materials
    [(url, revision, changed)], by default github.com/acme/app at SHA."""
    b = event(pipeline="app", counter=counter, state=state, result=result)
    causes = []
    for url, rev, changed in materials or [("https://github.com/acme/app.git", SHA, True)]:
        causes.append({"material": {"type": "git", "fingerprint": "f" * 64,
                                    "git-configuration": {"url": url, "branch": "main",
                                                          "shallow-clone": False}},
                       "changed": changed,
                       "modifications": [{"revision": rev,
                                          "modified-time": "2024-06-10T10:00:00.000+0000",
                                          "data": {}}]})
    b["pipeline"]["build-cause"] = causes
    return b


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def headers_of(req, port, extra):
    """Every header herald sends a state service, with the delivery's ids."""
    h = dict(req["headers"])
    want = {"host": f"127.0.0.1:{port}", "content-type": "application/json",
            "user-agent": "herald/0.1", "content-length": str(len(req["body"])),
            "webhook-id": f"herald-{h.get('x-herald-delivery')}",
            "x-herald-delivery": h.get("x-herald-delivery"),
            "x-herald-event": h.get("x-herald-event"), "accept": "*/*", **extra}
    assert h == want, h


def detail(h, d):
    status, full = h.get_json(f"/api/v1/deliveries/{d['id']}")
    assert status == 200
    return full


def stage_url(counter=1):
    return f"{SITE}/go/pipelines/app/{counter}/verify/2"


@pytest.mark.valgrind
def test_github_statuses_follow_a_stage(tmp_path, herald_factory):
    t = Target([("status", 201, {}, b'{"id":1,"state":"pending"}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gh, type: github, token: ghp_SeCrEt,
      api_url: "{t.url}/api/v3", host: github.com}}""", ["gh"])
    send(h, stage("Building", "Unknown"))
    r = t.wait(1, timeout=20 * SLOW)
    send(h, stage("Passed", "Passed"))
    r = t.wait(2, timeout=20 * SLOW)
    for req, state, word in ((r[0], "pending", "building"), (r[1], "success", "passed")):
        assert req["method"] == "POST"
        assert req["path"] == f"/api/v3/repos/acme/app/statuses/{SHA}"
        headers_of(req, t.port, {"authorization": "Bearer ghp_SeCrEt",
                                 "accept": "application/vnd.github+json",
                                 "x-github-api-version": "2022-11-28"})
        assert req["body"] == compact({"state": state, "description": f"app/verify #1 {word}",
                                       "context": "gocd/app/verify",
                                       "target_url": stage_url()})
    wait_state(h, "delivered", 2)
    status, cfg = h.get_json("/api/v1/config")
    tc = cfg["targets"][0]
    assert tc["type"] == "github" and tc["token"] == "******" and "SeCrEt" not in json.dumps(cfg)
    assert tc["latest_wins"] is True and tc["context"] in tc["order_by"]
    t.stop()


def test_github_failed_and_cancelled_and_a_context_template(tmp_path, herald_factory):
    t = Target([201]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gh, type: github, token: t0k,
      api_url: "{t.url}", host: github.com, repository: acme/app,
      context: "ci/{{{{ .pipeline.group }}}}/{{{{ .stage.name }}}}"}}""", ["gh"])
    # Two git materials: the one `repository` names is reported, not the first.
    mats = [("git@github.com:acme/lib.git", OTHER_SHA, True),
            ("ssh://git@github.com/acme/app", SHA, False)]
    send(h, stage("Failed", "Failed", materials=mats))
    # One commit and context: sent before the first is delivered, the
    # second would rightly supersede it (the latest state wins).
    t.wait(1, timeout=20 * SLOW)
    send(h, stage("Cancelled", "Cancelled", counter=2, materials=mats))
    r = t.wait(2, timeout=20 * SLOW)
    group = event()["pipeline"]["group"]
    got = sorted(json.loads(x["body"])["state"] for x in r)
    assert got == ["error", "failure"]
    for x in r:
        assert x["path"] == f"/repos/acme/app/statuses/{SHA}"
        assert json.loads(x["body"])["context"] == f"ci/{group}/verify"
    t.stop()


def test_github_answers(tmp_path, herald_factory):
    t = Target([
        # 422: final, with GitHub's words.
        ("status", 422, {}, compact({"message": "Validation Failed", "errors": [
            {"resource": "Status", "code": "custom",
             "message": "This SHA and context has reached the maximum number of statuses."}]})),
        # A secondary rate limit with retry-after, then with x-ratelimit-reset.
        ("status", 403, {"retry-after": "1"},
         b'{"message":"You have exceeded a secondary rate limit."}'),
        None,  # the 429 with x-ratelimit-reset, written once its instant is known

        201,
        # A 403 that is no limit: the token cannot write statuses.
        ("status", 403, {}, b'{"message":"Resource not accessible by personal access token"}'),
    ]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gh, type: github, token: t,
      api_url: "{t.url}", host: github.com}}""", ["gh"], attempts=5, backoff_max="20s")
    send(h, stage("Failed", "Failed"))
    d = detail(h, wait_state(h, "dead", 1)[0])
    assert d["attempts"] == 1
    assert d["attempt_log"][0]["error"] == (
        "HTTP 422: Validation Failed: This SHA and context has reached the maximum number of "
        "statuses.")
    # GitHub's reset instant, in epoch seconds: about 3 s from now, so well
    # after the 403's one second and the engine's own backoff (0.2 s, 0.4 s).
    reset = int(time.time()) + 4
    t.script[2] = ("status", 429, {"x-ratelimit-reset": str(reset),
                                   "x-ratelimit-remaining": "0"},
                   b'{"message":"API rate limit exceeded"}')
    send(h, stage("Failed", "Failed", counter=2))
    r = t.wait(4, timeout=20 * SLOW)
    assert r[2]["at"] - r[1]["at"] >= 0.9
    # Not before the reset, and long before the backoff's cap (20 s) that a
    # 429 with no time it names would wait for (a shared store claims up to
    # a claim interval late; under valgrind every step takes seconds).
    assert r[3]["at"] >= reset - 0.01, (r[3]["at"], reset)
    if SLOW == 1:
        assert r[3]["at"] < reset + 5, (r[3]["at"], reset)
    d = detail(h, wait_state(h, "delivered", 1)[0])
    assert [a["error"] for a in d["attempt_log"]][:2] == [
        "HTTP 403: You have exceeded a secondary rate limit.", "HTTP 429: API rate limit exceeded"]
    send(h, stage("Failed", "Failed", counter=3))
    dead = wait_state(h, "dead", 2)
    d = detail(h, max(dead, key=lambda x: x["id"]))
    assert d["attempts"] == 1
    assert d["attempt_log"][0]["error"] == (
        "HTTP 403: Resource not accessible by personal access token")
    t.stop()


def test_gitlab_jenkins_build_and_cannot_transition(tmp_path, herald_factory):
    t = Target([
        201,
        ("status", 400, {}, b'{"message":"Cannot transition status via :run from :running"}'),
        ("status", 404, {}, b'{"message":"404 Project Not Found"}'),
    ]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gl, type: gitlab, token: glpat-SeCrEt,
      api_url: "{t.url}/api/v4/", host: git.example.com}}""", ["gl"])
    # A GoCD stage of a project in a subgroup, by scp-like URL.
    mats = [("git@git.example.com:group/sub/app.git", SHA, True)]
    send(h, stage("Building", "Unknown", materials=mats))
    req = t.wait(1, timeout=20 * SLOW)[0]
    assert req["path"] == f"/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}"
    headers_of(req, t.port, {"authorization": "Bearer glpat-SeCrEt"})
    assert req["body"] == compact({"state": "running", "name": "gocd/app/verify",
                                   "description": "app/verify #1 building",
                                   "target_url": stage_url()})
    # The same state again: GitLab's 400 "Cannot transition" is delivered.
    send(h, stage("Building", "Unknown"  , materials=mats))
    wait_state(h, "delivered", 2)
    # A Jenkins build (its scm.url had a password, which herald scrubbed).
    assert h.request("POST", "/jenkins/notification", JENKINS)[0] == 200
    req = t.wait(3, timeout=20 * SLOW)[2]
    assert req["path"] == f"/api/v4/projects/tools%2Freport/statuses/{JENKINS_SHA}"
    assert req["body"] == compact({
        "state": "failed", "name": "jenkins/tools/nightly report",
        "description": "tools/nightly report #7 failed",
        "target_url": "https://ci.example.com/job/tools/job/nightly%20report/7/"})
    d = detail(h, wait_state(h, "dead", 1)[0])
    assert d["attempts"] == 1 and d["attempt_log"][0]["error"] == "HTTP 404: 404 Project Not Found"
    t.stop()


def test_bitbucket_cloud_and_data_center(tmp_path, herald_factory):
    cloud = Target([201, ("status", 400, {}, compact(
        {"type": "error", "error": {"message": "key: Ensure this value has at most 40 characters"}}))]
    ).start()
    dc = Target([("status", 200, {}, b'{}'), ("status", 401, {}, compact(
        {"errors": [{"context": None, "message": "Authentication failed. Please check your "
                     "credentials and try again.", "exceptionName": None}]}))]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: cloud, type: bitbucket, token: bb-SeCrEt,
      api_url: "{cloud.url}/2.0", host: bitbucket.org}}
  - {{name: dc, type: bitbucket, token: dc-SeCrEt,
      api_url: "{dc.url}/rest/api/1.0", host: git.corp.example}}""", ["cloud", "dc"])
    mats = [("https://bitbucket.org/acme/app.git", SHA, True),
            ("https://git.corp.example/scm/PROJ/app.git", OTHER_SHA, True)]
    send(h, stage("Cancelled", "Cancelled", materials=mats))
    c, d = cloud.wait(1, timeout=20 * SLOW)[0], dc.wait(1, timeout=20 * SLOW)[0]
    assert c["path"] == f"/2.0/repositories/acme/app/commit/{SHA}/statuses/build"
    headers_of(c, cloud.port, {"authorization": "Bearer bb-SeCrEt"})
    assert c["body"] == compact({"key": "gocd/app/verify", "state": "STOPPED",
                                 "name": "gocd/app/verify",
                                 "description": "app/verify #1 cancelled", "url": stage_url()})
    assert d["path"] == f"/rest/api/1.0/projects/PROJ/repos/app/commits/{OTHER_SHA}/builds"
    headers_of(d, dc.port, {"authorization": "Bearer dc-SeCrEt"})
    assert d["body"] == compact({"key": "gocd/app/verify", "state": "CANCELLED",
                                 "name": "gocd/app/verify",
                                 "description": "app/verify #1 cancelled", "url": stage_url()})
    wait_state(h, "delivered", 2)
    # Data Center by ssh (port 7999) this time; failures are final with the service's words.
    mats = [("https://bitbucket.org/acme/app.git", SHA, True),
            ("ssh://git@git.corp.example:7999/proj/app.git", OTHER_SHA, True)]
    send(h, stage("Passed", "Passed", counter=2, materials=mats))
    assert json.loads(cloud.wait(2, timeout=20 * SLOW)[1]["body"])["state"] == "SUCCESSFUL"
    assert dc.wait(2, timeout=20 * SLOW)[1]["path"] == f"/rest/api/1.0/projects/proj/repos/app/commits/{OTHER_SHA}/builds"
    errors = sorted(detail(h, x)["attempt_log"][0]["error"] for x in wait_state(h, "dead", 2))
    assert errors == [
        "HTTP 400: key: Ensure this value has at most 40 characters",
        "HTTP 401: Authentication failed. Please check your credentials and try again."]
    cloud.stop()
    dc.stop()


def test_a_commit_on_another_host_is_skipped(tmp_path, herald_factory):
    t = Target([201]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gh, type: github, token: t,
      api_url: "{t.url}", host: github.com}}
  - {{name: pd, type: pagerduty, token: r, api_url: "{t.url}"}}""", ["gh", "pd"])
    send(h, stage("Failed", "Failed", materials=[("https://gitlab.com/acme/app.git", SHA, True)]))
    assert h.request("POST", "/jenkins/notification", JENKINS)[0] == 200
    # The GoCD stage also pages (failed); the build page the on-call too.
    skipped = wait_state(h, "skipped", 2)
    reasons = sorted(detail(h, d)["last_error"] for d in skipped)
    assert reasons == ["no git material of the build cause is on github.com",
                       "the commit is on git.example.com, not github.com"]
    assert all(d["target"] == "gh" for d in skipped)
    assert all(detail(h, d)["attempts"] in (0, 1) for d in skipped)
    wait_state(h, "delivered", 2)
    assert all(r["path"] == "/v2/enqueue" for r in t.requests)
    status, text = h.get("/metrics")
    assert 'herald_deliveries_skipped_total{target="gh"} 2' in text.decode()
    t.stop()


def test_pagerduty_trigger_trigger_resolve(tmp_path, herald_factory):
    t = Target([("status", 202, {}, b'{"status":"success","message":"Event processed",'
                                    b'"dedup_key":"gocd/app/verify"}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: pd, type: pagerduty, token: R0uTiNgKeY,
      api_url: "{t.url}", severity: critical,
      summary: "{{{{ .pipeline.name }}}} is red"}}""", ["pd"])
    send(h, stage("Passed", "Passed", counter=1))
    wait_state(h, "skipped", 1)
    send(h, stage("Failed", "Failed", counter=2))      # broken
    t.wait(1, timeout=20 * SLOW)
    send(h, stage("Failed", "Failed", counter=3))      # still failing
    t.wait(2, timeout=20 * SLOW)
    send(h, stage("Passed", "Passed", counter=4))      # fixed
    r = t.wait(3, timeout=20 * SLOW)
    actions = []
    for i, req in enumerate(r):
        assert req["method"] == "POST" and req["path"] == "/v2/enqueue"
        headers_of(req, t.port, {})
        b = json.loads(req["body"])
        actions.append((b["event_action"], b["dedup_key"], b["routing_key"]))
    assert actions == [("trigger", "gocd/app/verify", "R0uTiNgKeY")] * 2 + [
        ("resolve", "gocd/app/verify", "R0uTiNgKeY")]
    first = json.loads(r[0]["body"])
    ts = first["payload"]["timestamp"]
    assert r[0]["body"] == compact({
        "routing_key": "R0uTiNgKeY", "event_action": "trigger", "dedup_key": "gocd/app/verify",
        "payload": {"summary": "app is red", "source": "gocd", "severity": "critical",
                    "component": "app/verify", "timestamp": ts,
                    "custom_details": {"transition": "broken", "number": "2"}},
        "links": [{"href": stage_url(2), "text": "the run"}]})
    assert r[2]["body"] == compact({"routing_key": "R0uTiNgKeY", "event_action": "resolve",
                                    "dedup_key": "gocd/app/verify"})
    wait_state(h, "delivered", 3)
    status, cfg = h.get_json("/api/v1/config")
    assert "R0uTiNgKeY" not in json.dumps(cfg)
    t.stop()


def test_pagerduty_400_is_final_and_429_waits(tmp_path, herald_factory):
    t = Target([
        ("status", 400, {}, compact({"status": "invalid event", "message": "Event object is invalid",
                                     "errors": ["Length of 'routing_key' is incorrect"]})),
        ("status", 429, {"Retry-After": "1"}, b'{"status":"throttle"}'),
        ("status", 202, {}, b'{"status":"success"}'),
    ]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: pd, type: pagerduty, token: short,
      api_url: "{t.url}"}}""", ["pd"])
    send(h, stage("Failed", "Failed", counter=1))
    d = detail(h, wait_state(h, "dead", 1)[0])
    assert d["attempts"] == 1
    assert d["attempt_log"][0]["error"] == (
        "HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect")
    send(h, stage("Failed", "Failed", counter=2))
    r = t.wait(3, timeout=20 * SLOW)
    assert r[2]["at"] - r[1]["at"] >= 0.9
    wait_state(h, "delivered", 1)
    t.stop()


def test_herald_notify_reports_its_commit(tmp_path, herald_factory):
    """herald notify (a GitLab CI job) names its commit and repository URL:
    the GitLab target reports the job's state on it, running then success."""
    t = Target([201]).start()
    h = herald_with(tmp_path, herald_factory, f"""  - {{name: gl, type: gitlab, token: glpat-x,
      api_url: "{t.url}/api/v4", host: gitlab.example.com}}""", ["gl"])
    url = f"http://127.0.0.1:{h.port}"
    for n, status in enumerate(("started", "success"), 1):
        r = subprocess.run([BIN, "notify", "--url", url, "--status", status,
                            "--job", "group/project/test", "--build", "123",
                            "--build-url", "https://gitlab.example.com/group/project/-/jobs/123",
                            "--commit", SHA,
                            "--scm-url", "git@gitlab.example.com:group/project.git"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                           timeout=60 * SLOW)
        assert r.returncode == 0, r.stderr
        # Each state sent before the next is stored: else the latest one
        # rightly supersedes it.
        t.wait(n, timeout=20 * SLOW)
    r = t.wait(2, timeout=20 * SLOW)
    for req, state, word in ((r[0], "running", "building"), (r[1], "success", "passed")):
        assert req["path"] == f"/api/v4/projects/group%2Fproject/statuses/{SHA}"
        assert req["body"] == compact({
            "state": state, "name": "ci/group/project/test",
            "description": f"group/project/test #123 {word}",
            "target_url": "https://gitlab.example.com/group/project/-/jobs/123"})
    t.stop()
