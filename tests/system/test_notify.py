"""herald notify and herald publish: the command-line clients, against the
real daemon and against small HTTP servers that misbehave on purpose.

Every client runs with a clean environment (PATH and what the test sets),
so the CI running these tests cannot leak its own variables in.
"""
import json
import re
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BIN, SLOW
from targets import free_port

SECRET = "hunter2-not-for-logs"
TOKEN = "tok-5b1d0c9e-herald"


def client(*args, env=None, timeout=120):
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=timeout)


def url_of(h):
    return f"http://127.0.0.1:{h.port}"


def stored(h, stdout):
    """The event notify's acknowledgement names: (event, raw body)."""
    assert stdout.startswith("herald stored event "), stdout
    ev_id = int(stdout.split()[3])
    status, data = h.get_json(f"/api/v1/events/{ev_id}")
    assert status == 200, data
    return data["event"], data["raw"]


def config(tmp_path, text):
    path = tmp_path / "herald.yaml"
    path.write_text(text)
    return ["--config", str(path)]


# ---- notify against the daemon ---------------------------------------------


def test_notify_from_flags(herald):
    r = client("notify", "--url", url_of(herald), "--status", "passed", "--job", "team/app",
               "--build", "17", "--branch", "main", "--commit", "0123abc",
               "--build-url", "http://ci/app/17", "--job-url", "http://ci/app",
               "--scm-url", "https://git/app.git", "--display-name", "#17 main",
               "--body", "all green")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    ev, raw = stored(herald, r.stdout)
    assert r.stdout == f"herald stored event {ev['id']} (passed)\n"
    assert json.loads(raw) == {
        "job": "team/app", "build": 17, "status": "SUCCESS", "url": "http://ci/app/17",
        "job_url": "http://ci/app", "branch": "main", "commit": "0123abc",
        "scm_url": "https://git/app.git", "display_name": "#17 main", "body": "all green"}
    assert list(json.loads(raw)) == ["job", "build", "status", "url", "job_url", "branch",
                                     "commit", "scm_url", "display_name", "body"]
    assert ev["source"] == "ci"
    assert ev["job"]["name"] == "team/app"
    assert ev["build"]["number"] == 17
    assert ev["build"]["status"] == "SUCCESS"
    assert ev["build"]["phase"] == "completed"
    assert ev["build"]["scm"]["commit"] == "0123abc"
    assert ev["build"]["body"] == "all green"


@pytest.mark.parametrize("word,status,phase", [
    ("START", "START", "started"), ("started", "START", "started"),
    ("running", "RUNNING", "running"), ("Unstable", "UNSTABLE", "completed"),
    ("failed", "FAILURE", "completed"), ("not_built", "NOT_BUILT", "completed"),
    ("canceled", "ABORTED", "completed"), ("cancelled", "ABORTED", "completed"),
    ("complete", "COMPLETE", "completed"),
])
def test_notify_status_words(herald, word, status, phase):
    r = client("notify", "--url", url_of(herald), "--status", word, "--job", "j", "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    ev = herald.events()[0]
    status_, data = herald.get_json(f"/api/v1/events/{ev['id']}")
    assert json.loads(data["raw"])["status"] == status
    # herald keeps a status word only once the build has one (completed).
    assert (ev["build"]["status"], ev["build"]["phase"]) == (
        status if phase == "completed" else None, phase)


CI_ENVS = {
    "jenkins": (
        {"JENKINS_URL": "http://jenkins:8080/", "JOB_NAME": "folder/app", "BUILD_NUMBER": "12",
         "BUILD_URL": "http://jenkins:8080/job/folder/job/app/12/",
         "JOB_URL": "http://jenkins:8080/job/folder/job/app/", "GIT_BRANCH": "origin/main",
         "GIT_COMMIT": "c0ffee", "GIT_URL": "https://bot:pw-in-url@git.example/app.git",
         "BUILD_DISPLAY_NAME": "#12"},
        {"ci": "jenkins", "job": "folder/app", "build": 12, "status": "FAILURE",
         "url": "http://jenkins:8080/job/folder/job/app/12/",
         "job_url": "http://jenkins:8080/job/folder/job/app/", "branch": "origin/main",
         "commit": "c0ffee", "scm_url": "https://********@git.example/app.git",
         "display_name": "#12"}),
    "jenkins-multibranch": (
        {"JENKINS_HOME": "/var/jenkins_home", "JOB_NAME": "app/PR-4", "BUILD_NUMBER": "3",
         "BRANCH_NAME": "PR-4", "GIT_BRANCH": "PR-4-head"},
        {"ci": "jenkins", "job": "app/PR-4", "build": 3, "status": "FAILURE",
         "branch": "PR-4"}),
    "gitlab": (
        {"GITLAB_CI": "true", "CI_PROJECT_PATH": "group/app", "CI_JOB_NAME": "test",
         "CI_PIPELINE_IID": "88", "CI_JOB_ID": "123456", "CI_JOB_URL":
         "https://gitlab.example/group/app/-/jobs/123456", "CI_COMMIT_REF_NAME": "main",
         "CI_COMMIT_SHA": "deadbeef", "CI_PROJECT_URL": "https://gitlab.example/group/app",
         "CI_JOB_TOKEN": SECRET},
        {"ci": "gitlab", "job": "group/app/test", "build": 88, "status": "FAILURE",
         "url": "https://gitlab.example/group/app/-/jobs/123456", "branch": "main",
         "commit": "deadbeef", "scm_url": "https://gitlab.example/group/app"}),
    "gitlab-without-iid": (
        {"GITLAB_CI": "true", "CI_PROJECT_PATH": "group/app", "CI_JOB_NAME": "lint",
         "CI_JOB_ID": "123457"},
        {"ci": "gitlab", "job": "group/app/lint", "build": 123457, "status": "FAILURE"}),
    "github": (
        {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/app", "GITHUB_WORKFLOW": "CI",
         "GITHUB_JOB": "build", "GITHUB_RUN_NUMBER": "41", "GITHUB_RUN_ID": "9876543210",
         "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REF_NAME": "feature/x",
         "GITHUB_SHA": "feedface", "GITHUB_TOKEN": SECRET},
        {"ci": "github", "job": "octo/app/CI/build", "build": 41, "status": "FAILURE",
         "url": "https://github.com/octo/app/actions/runs/9876543210", "branch": "feature/x",
         "commit": "feedface", "scm_url": "https://github.com/octo/app"}),
    "gocd": (
        {"GO_SERVER_URL": "https://gocd.example:8154/go/", "GO_PIPELINE_NAME": "deploy",
         "GO_PIPELINE_COUNTER": "42", "GO_PIPELINE_LABEL": "1.2.42", "GO_STAGE_NAME": "test",
         "GO_STAGE_COUNTER": "2", "GO_JOB_NAME": "unit", "GO_REVISION_APP_REPO": "abc123"},
        {"ci": "gocd", "job": "deploy/test/unit", "build": 42, "status": "FAILURE",
         "url": "https://gocd.example:8154/go/tab/build/detail/deploy/42/test/2/unit",
         "job_url": "https://gocd.example:8154/go/pipeline/activity/deploy",
         "commit": "abc123", "display_name": "1.2.42"}),
}


@pytest.mark.parametrize("name", sorted(CI_ENVS))
def test_notify_reads_the_ci_variables(herald, name):
    env, want = CI_ENVS[name]
    r = client("notify", "--url", url_of(herald), "--status", "failure", env=env)
    assert r.returncode == 0, r.stderr
    ev, raw = stored(herald, r.stdout)
    assert json.loads(raw) == want
    assert ev["source"] == want["ci"]
    assert ev["job"]["name"] == want["job"]
    assert ev["build"]["number"] == want["build"]
    assert ev["build"]["status"] == "FAILURE"
    assert SECRET not in raw and "pw-in-url" not in raw


def test_flags_win_over_ci_variables(herald):
    env, _ = CI_ENVS["gitlab"]
    r = client("notify", "--url", url_of(herald), "--status", "success", "--job", "mine",
               "--build", "7", "--branch", "release", "--ci", "my-ci", env=env)
    assert r.returncode == 0, r.stderr
    _, raw = stored(herald, r.stdout)
    body = json.loads(raw)
    assert (body["ci"], body["job"], body["build"], body["branch"]) == (
        "my-ci", "mine", 7, "release")
    assert body["commit"] == "deadbeef"


def test_env_values_are_redacted_and_never_printed(herald_factory, tmp_path):
    h = herald_factory(args=["--log-level", "debug"])
    env = {"MY_SECRET": SECRET, "MY_DEPLOY_URL": "https://deploy:pw-in-url@host.example/x",
           "MY_PLAIN": "visible", "OTHER": "not asked for", "HERALD_TOKEN": TOKEN}
    r = client("notify", "--url", url_of(h), "--status", "success", "--job", "j",
               "--env", "my_*", "--env", "HERALD_TOKEN", env=env)
    assert r.returncode == 0, r.stderr
    ev, raw = stored(h, r.stdout)
    assert ev["environment"] == {"MY_SECRET": "********",
                                 "MY_DEPLOY_URL": "https://********@host.example/x",
                                 "MY_PLAIN": "visible", "HERALD_TOKEN": "********"}
    for text in (raw, r.stdout, r.stderr, h.log_text()):
        assert SECRET not in text and "pw-in-url" not in text and TOKEN not in text


def test_env_that_matches_nothing_sends_no_environment(herald):
    r = client("notify", "--url", url_of(herald), "--status", "success", "--job", "j",
               "--env", "NO_SUCH_*")
    assert r.returncode == 0, r.stderr
    _, raw = stored(herald, r.stdout)
    assert "environment" not in json.loads(raw)


def test_body_file_and_stdin(herald, tmp_path):
    f = tmp_path / "body.txt"
    f.write_text("line one\nline two ✓\n")
    r = client("notify", "--url", url_of(herald), "--status", "success", "--job", "j",
               "--body-file", str(f))
    assert r.returncode == 0, r.stderr
    ev, _ = stored(herald, r.stdout)
    assert ev["build"]["body"] == "line one\nline two ✓\n"
    p = subprocess.run([BIN, "notify", "--url", url_of(herald), "--status", "success",
                        "--job", "j", "--body-file", "-"], input="from stdin",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    ev, _ = stored(herald, p.stdout)
    assert ev["build"]["body"] == "from stdin"


def test_token(herald_factory, tmp_path):
    h = herald_factory(args=config(tmp_path, f"jenkins:\n  token: {TOKEN}\n"))
    base = ["notify", "--url", url_of(h), "--status", "success", "--job", "j"]

    r = client(*base)
    assert r.returncode == 1
    assert r.stderr.startswith("herald notify: herald refused the notification (HTTP 401): "
                               "this endpoint needs herald's Jenkins token"), r.stderr
    r = client(*base, "--token", "wrong-token")
    assert r.returncode == 1 and "(HTTP 401)" in r.stderr
    assert len(h.events()) == 0

    r = client(*base, "--token", TOKEN)
    assert r.returncode == 0, r.stderr
    r = client(*base, env={"HERALD_TOKEN": TOKEN})
    assert r.returncode == 0, r.stderr
    (tmp_path / "tok").write_text(TOKEN + "\n")
    r = client(*base, "--token-file", str(tmp_path / "tok"))
    assert r.returncode == 0, r.stderr
    assert len(h.events()) == 3
    r = client(*base, "--url", f"http://user:{TOKEN}@127.0.0.1:{h.port}")
    assert r.returncode == 0, r.stderr
    assert TOKEN not in h.log_text()


def test_refusal_lists_herald_messages(herald):
    r = client("notify", "--url", url_of(herald), "--status", "success",
               "--job", "j", "--ci", "x" * 33)
    assert r.returncode == 2
    assert r.stderr.startswith("herald notify: --ci " + "x" * 33 + ": expected 1 to 32")


# ---- retries and the deadline ---------------------------------------------


def test_herald_down_at_first_then_up(herald_factory):
    port = free_port()
    h = herald_factory(start=False)
    p = subprocess.Popen([BIN, "notify", "--url", f"http://127.0.0.1:{port}", "--status",
                          "success", "--job", "late/app", "--build", "3", "--deadline", "60s"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={"PATH": os.environ.get("PATH", "")})
    time.sleep(3)
    assert p.poll() is None, p.communicate()
    h.start(port=port)
    out, err = p.communicate(timeout=60 * SLOW)
    assert p.returncode == 0, err
    assert "herald notify: attempt 1: " in err
    assert "trying again in" in err
    ev, _ = stored(h, out)
    assert (ev["job"]["name"], ev["build"]["number"]) == ("late/app", 3)
    assert len(h.events()) == 1


def test_herald_down_past_the_deadline(tmp_path):
    port = free_port()
    start = time.monotonic()
    r = client("notify", "--url", f"http://user:{TOKEN}@127.0.0.1:{port}/", "--status",
               "success", "--job", "j", "--deadline", "2s", "--token", TOKEN)
    took = time.monotonic() - start
    assert r.returncode == 3
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"herald notify: herald at http://********@127.0.0.1:{port}/ did "
                           "not acknowledge within 2s: Failed to connect to 127.0.0.1 port "
                           f"{port}"), last
    assert "Couldn't connect to server" in last
    assert 1.5 <= took < 8, took
    assert TOKEN not in r.stderr + r.stdout


def test_quiet_deadline_still_says_why():
    port = free_port()
    r = client("notify", "--url", f"http://127.0.0.1:{port}", "--status", "success",
               "--job", "j", "--deadline", "1s", "--quiet")
    assert r.returncode == 3
    assert len(r.stderr.strip().splitlines()) == 1
    assert "did not acknowledge within 1s" in r.stderr


class Script:
    """A small HTTP server answering from a list of (status, headers, body),
    the last repeated; records every request."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                script.requests.append((self.path, dict(self.headers), body, time.monotonic()))
                i = min(len(script.requests), len(script.answers)) - 1
                status, headers, text = script.answers[i]
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def script():
    made = []

    def make(*answers):
        s = Script(answers)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_publish_retries_503_then_201(script):
    s = script((503, {}, '{"error": "the store is busy"}'),
               (503, {"Retry-After": "1"}, '{"error": "still busy"}'),
               (201, {}, '{"revision": "1.2.3", "timestamp": "2026-01-02T03:04:05.000Z"}'))
    r = client("publish", "--url", s.url + "/", "--token", TOKEN, "--repository", "ci",
               "--package", "app", "--revision", "1.2.3", "--user", "bob", "--comment", "c",
               "--trackback-url", "http://t/", "--timestamp", "2026-01-02T03:04:05.000Z",
               "--data", "VERSION=1.2.3", "--data", "A=x=y",
               env={"http_proxy": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1",
                    "ALL_PROXY": "http://127.0.0.1:1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "herald stored revision 1.2.3 of ci/app (2026-01-02T03:04:05.000Z)\n"
    assert len(s.requests) == 3
    err = r.stderr.splitlines()
    assert err[0].startswith("herald publish: attempt 1: HTTP 503: the store is busy; "
                             "trying again in "), err
    assert err[1].startswith("herald publish: attempt 2: HTTP 503: still busy; "
                             "trying again in 1.0s"), err
    assert s.requests[2][3] - s.requests[1][3] >= 0.95
    for path, headers, body, _ in s.requests:
        assert path == "/api/v1/packages/ci/app/revisions"
        assert headers["Authorization"] == "Bearer " + TOKEN
        assert headers["Content-Type"] == "application/json"
        assert body == s.requests[0][2]
    assert s.requests[0][2] == (
        b'{"revision":"1.2.3","timestamp":"2026-01-02T03:04:05.000Z","user":"bob",'
        b'"revisionComment":"c","trackbackUrl":"http://t/","data":{"VERSION":"1.2.3","A":"x=y"}}')
    assert TOKEN not in r.stderr + r.stdout


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_notify_retries(script, status):
    s = script((status, {}, "busy"), (200, {}, '{"id": 9, "transition": null}'))
    r = client("notify", "--url", s.url, "--status", "success", "--job", "j")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "herald stored event 9\n"
    assert len(s.requests) == 2
    assert f"attempt 1: HTTP {status}: busy; trying again in" in r.stderr


def test_notify_retries_carry_one_request_id(script):
    # A retry after a lost answer must not store the build twice: every
    # attempt names the same request, and each run of notify a new one.
    s = script((503, {}, "busy"), (200, {}, '{"id": 9, "transition": null}'),
               (200, {}, '{"id": 10, "transition": null}'))
    assert client("notify", "--url", s.url, "--status", "success", "--job", "j").returncode == 0
    assert client("notify", "--url", s.url, "--status", "success", "--job", "j").returncode == 0
    ids = [headers["X-Herald-Request-Id"] for _, headers, _, _ in s.requests]
    assert len(ids) == 3
    assert ids[0] == ids[1] != ids[2]
    for i in ids:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)


@pytest.mark.parametrize("status", [400, 404, 409, 413, 301])
def test_other_answers_are_final(script, status):
    s = script((status, {}, '{"error": "no: \\u001b[31mred", "errors": ["no: \\u001b[31mred", '
                            '"second problem"]}'))
    r = client("notify", "--url", s.url, "--status", "success", "--job", "j")
    assert r.returncode == 1
    assert len(s.requests) == 1
    assert r.stderr == (f"herald notify: herald refused the notification (HTTP {status}): "
                        "no:  [31mred\n  - second problem\n")


def test_retry_after_past_the_deadline_gives_up_at_once(script):
    s = script((503, {"Retry-After": "120"}, '{"error": "maintenance"}'))
    start = time.monotonic()
    r = client("notify", "--url", s.url, "--status", "success", "--job", "j",
               "--deadline", "30s")
    assert r.returncode == 3
    assert time.monotonic() - start < 10
    assert r.stderr.strip().endswith("did not acknowledge within 30s: HTTP 503: maintenance "
                                     "(asked to retry after 120s) (1 attempts)"), r.stderr


def test_exact_notify_body(script):
    s = script((200, {}, '{"id": 1, "transition": "broken"}'))
    env = {"GITLAB_CI": "true", "CI_PROJECT_PATH": "g/p", "CI_JOB_NAME": "t",
           "CI_PIPELINE_IID": "5", "K_ONE": "v1", "K_TOKEN": SECRET}
    r = client("notify", "--url", s.url, "--status", "FAILURE", "--body", "b",
               "--env", "K_*", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "herald stored event 1 (broken)\n"
    assert s.requests[0][0] == "/ci/notify"
    assert s.requests[0][2] == (b'{"ci":"gitlab","job":"g/p/t","build":5,"status":"FAILURE",'
                                b'"body":"b","environment":{"K_ONE":"v1","K_TOKEN":"********"}}')
    assert "Authorization" not in s.requests[0][1]


def test_per_attempt_timeout(tmp_path):
    """A herald that accepts the connection and never answers costs one
    --timeout per attempt, not the whole deadline."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        start = time.monotonic()
        r = client("notify", "--url", f"http://127.0.0.1:{port}", "--status", "success",
                   "--job", "j", "--timeout", "1s", "--deadline", "4s")
        took = time.monotonic() - start
    assert r.returncode == 3
    assert "Operation timed out" in r.stderr
    assert r.stderr.count("attempt ") >= 2
    assert took < 9


# ---- publish against the daemon -------------------------------------------


def test_publish_201_then_200_then_409(herald_factory, tmp_path):
    # The default setup: no publish token in the config, so publishing
    # needs herald's API token, which publish sends as --token-file.
    tok = tmp_path / "api-token"
    tok.write_text(TOKEN + "\n")
    herald = herald_factory(["--api-token-file", str(tok)])
    base = ["publish", "--url", url_of(herald), "--repository", "ci", "--package", "app",
            "--token-file", str(tok),
            "--revision", "1.0.0", "--timestamp", "2026-03-04T05:06:07.000Z", "--user", "ann",
            "--data", "VERSION=1.0.0"]
    r = client(*base)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "herald stored revision 1.0.0 of ci/app (2026-03-04T05:06:07.000Z)\n"
    r = client(*base)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("herald already had revision 1.0.0 of ci/app "
                        "(2026-03-04T05:06:07.000Z)\n")
    r = client(*base[:-1], "VERSION=other")
    assert r.returncode == 1
    assert r.stderr.startswith("herald publish: herald refused the revision (HTTP 409): "), \
        r.stderr
    assert "1.0.0" in r.stderr
    r = client(*base, "--quiet")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    status, data = herald.get_json(f"/api/v1/packages/ci/app/revisions?token={TOKEN}")
    assert status == 200, data
    assert "ann" in json.dumps(data)
    assert TOKEN not in herald.log_text()


def test_publish_without_any_token_is_refused_by_default(herald):
    r = client("publish", "--url", url_of(herald), "--repository", "ci", "--package", "app",
               "--revision", "1")
    assert r.returncode == 1
    assert "(HTTP 403)" in r.stderr and "--insecure-local" in r.stderr, r.stderr


def test_publish_refused_body(herald_factory):
    h = herald_factory(["--insecure-local"])
    r = client("publish", "--url", url_of(h), "--repository", "ci", "--package", "app",
               "--revision", "1", "--data", "BAD-KEY=1")
    assert r.returncode == 1
    assert "(HTTP 400)" in r.stderr and "BAD-KEY" in r.stderr


def test_publish_token(herald_factory, tmp_path):
    h = herald_factory(args=config(tmp_path, f"packages:\n  token: {TOKEN}\n"))
    base = ["publish", "--url", url_of(h), "--repository", "ci", "--package", "app",
            "--revision", "2"]
    r = client(*base, "--token", "wrong")
    assert r.returncode == 1 and "(HTTP 401)" in r.stderr, r.stderr
    r = client(*base, env={"HERALD_TOKEN": TOKEN})
    assert r.returncode == 0, r.stderr
    assert TOKEN not in r.stderr + r.stdout + h.log_text()


# ---- usage errors (exit 2, no request) ------------------------------------


@pytest.mark.parametrize("args,message", [
    (["notify", "--status", "success", "--job", "j"], "--url URL"),
    (["notify", "--url", "ftp://h", "--status", "success", "--job", "j"],
     "--url: expected an http:// or https:// URL"),
    (["notify", "--url", "http://h"], "--status is needed"),
    (["notify", "--url", "http://h", "--status", "exploded", "--job", "j"],
     "--status exploded: expected START, RUNNING, SUCCESS"),
    (["notify", "--url", "http://h", "--status", "success"], "--job NAME is needed"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--build", "0"],
     "--build 0: expected a build number, 1 or more"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--build", "7x"],
     "--build 7x: expected a build number"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--deadline", "soon"],
     "--deadline soon: expected a duration"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--timeout", "0s"],
     "--timeout 0s: expected a duration"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--body", "a",
      "--body-file", "/dev/null"], "give --body or --body-file, not both"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--body-file",
      "/nonexistent/file"], "--body-file /nonexistent/file: cannot read it"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--env", ""],
     "--env: expected a variable name or glob"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "extra"],
     "unexpected argument: extra"),
    (["notify", "--url", "http://h", "--status", "success", "--job", "j", "--token", "a",
      "--token-file", "/dev/null"], "--token and --token-file"),
    (["publish", "--url", "http://h", "--repository", "ci", "--package", "app"],
     "--url, --repository, --package and --revision are needed"),
    (["publish", "--url", "http://h", "--repository", "a b", "--package", "app",
      "--revision", "1"], "--repository a b: expected 1 to 128 of A-Z a-z 0-9 _ . -"),
    (["publish", "--url", "http://h", "--repository", "ci", "--package", "..",
      "--revision", "1"], "--package ..: expected 1 to 128"),
    (["publish", "--url", "http://h", "--repository", "ci", "--package", "app",
      "--revision", "1", "--data", "NOVALUE"], "--data NOVALUE: expected KEY=VALUE"),
    (["publish", "--url", "http://h", "--repository", "ci", "--package", "app",
      "--revision", ""], "--revision: expected a revision"),
])
def test_usage_errors(args, message):
    r = client(*args)
    assert r.returncode == 2, r.stderr
    cmd = args[0]
    assert r.stderr.startswith(f"herald {cmd}: {message}"), r.stderr
    assert r.stderr.endswith("Try 'herald --help'.\n")
    assert r.stdout == ""


def test_big_environment_is_refused_locally():
    env = {f"BIG_{i}": "x" * 60000 for i in range(20)}
    r = client("notify", "--url", "http://127.0.0.1:9", "--status", "success", "--job", "j",
               "--env", "BIG_*", env=env)
    assert r.returncode == 2
    assert "herald takes at most 1048576 (fewer --env?)" in r.stderr
