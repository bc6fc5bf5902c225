"""jq templates against the real daemon: a template sees its event and
nothing of the process (no environment, no ~/.jq, no input, no modules),
and a runaway template fails its own delivery while every other target
keeps receiving and SIGTERM still stops herald."""
import json
import signal
import subprocess
import time

import pytest

from conftest import BIN, SLOW
from targets import Target
from test_delivery import config, event, send
from test_gocd_protocol import validate

TOKEN = "api-tok-3f9d1c77-must-not-leak"
SECRET = "hook-secret-8e21b4-must-not-leak"
AUTH = {"Authorization": "Bearer " + TOKEN}


def deliveries(h, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    status, data = h.request("GET", "/api/v1/deliveries" + ("?" + qs if qs else ""),
                             headers=AUTH)
    assert status == 200, data
    return json.loads(data)["deliveries"]


def wait_deliveries(h, target, state, n, timeout=20):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        got = deliveries(h, target=target, state=state, limit=500)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"wanted {n} {state} for {target}; have {deliveries(h, limit=500)}")


def home_with_jq(tmp_path):
    """A HOME whose ~/.jq defines functions that read the environment."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".jq").write_text("def leak: env.HERALD_API_TOKEN;\n"
                              "def env: {HERALD_API_TOKEN: \"" + "from-home-jq" + "\"};\n")
    return home


@pytest.mark.valgrind
def test_templates_cannot_read_the_environment(tmp_path, settings_herald, monkeypatch):
    t = Target().start()
    monkeypatch.setenv("HERALD_API_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOME", str(home_with_jq(tmp_path)))
    body = ('{env: env, ENV: $ENV, token: env.HERALD_API_TOKEN, path: $ENV.PATH, '
            'hook: $ENV.HOOK_SECRET, def_env: (def f: $ENV; f), loc: $__loc__, '
            'input: (try input catch .), inputs: (try [inputs] catch .), '
            'search: get_search_list}')
    cfg = config(tmp_path, f"""
targets:
  - name: leak
    url: "{t.url}/u/{{{{ env.HERALD_API_TOKEN }}}}/{{{{ $ENV.HOOK_SECRET }}}}"
    headers:
      X-Env: "{{{{ $ENV | tojson }}}}"
      X-Token: "t={{{{ env.HERALD_API_TOKEN }}}}"
    body: '{body}'
routes:
  - name: all
    targets: [leak]
""")
    h = settings_herald(["--config", str(cfg)])
    # GoCD's plugin settings carry templates too.
    status, answer = h.gocd("go.plugin-settings.plugin-settings-changed", {
        "webhook_url": f"{t.url}/gocd/{{{{ env.HERALD_API_TOKEN }}}}",
        "webhook_headers": "X-Gocd: {{ $ENV.HOOK_SECRET }}",
        "webhook_body": "[env, $ENV, env.HERALD_API_TOKEN]", "notify_on": "any"})
    assert (status, answer) == (200, {"status": "success"}), answer
    send(h, event())
    reqs = {r["path"].split("/")[1]: r for r in t.wait(2)}
    for r in reqs.values():
        seen = json.dumps([r["path"], r["headers"], r["body"].decode()])
        assert TOKEN not in seen and SECRET not in seen and "from-home-jq" not in seen, seen
    leak = reqs["u"]
    assert leak["path"] == "/u//"
    assert leak["headers"]["x-env"] == "{}" and leak["headers"]["x-token"] == "t="
    got = json.loads(leak["body"])
    assert got == {"env": {}, "ENV": {}, "token": None, "path": None, "hook": None,
                   "def_env": {}, "loc": {"file": "<top-level>", "line": 1},
                   "input": "input is not available: a program reads only its event",
                   "inputs": "input is not available: a program reads only its event",
                   "search": []}
    gocd = reqs["gocd"]
    assert gocd["path"] == "/gocd/" and gocd["headers"]["x-gocd"] == ""
    assert json.loads(gocd["body"]) == [{}, {}, None]
    t.stop()


def test_check_config_refuses_modules_home_jq_and_runaways(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(home_with_jq(tmp_path)))
    for body, want in [
        ('import "x" as x; .', "import, include and module are not available"),
        ('include "herald" {search: "/etc"}; .', "import, include and module are not available"),
        ("leak", "leak/0 is not defined"),
        ("def f: f; f", "does not stay within its budget on an empty event"),
    ]:
        cfg = tmp_path / "c.yaml"
        cfg.write_text("targets:\n  - name: a\n    url: https://example.com/x\n"
                       f"    body: '{body}'\n"
                       "routes: [{name: r, targets: [a]}]\n")
        r = subprocess.run([BIN, "check-config", str(cfg)], capture_output=True, text=True)
        assert r.returncode == 1 and want in r.stderr, (body, r.stderr)
        assert "def _hr" not in r.stderr, r.stderr


def test_runaway_template_fails_alone(tmp_path, settings_herald):
    """`def f: f; f` as the body in GoCD's plugin settings (stored, so loaded
    again at every start; a config file's runaway is refused when read) and
    programs that run away only on real events: each fails its own
    delivery, the good target keeps receiving, SIGTERM stops herald."""
    t = Target().start()
    cfg = config(tmp_path, f"""
targets:
  - name: spin-url
    url: "{t.url}/spin-url/{{{{ if .pipeline then last(repeat(1)) else 1 end }}}}"
  - name: big
    url: {t.url}/big
    body: 'if .pipeline then reduce range(40) as $i (1; [., .]) else 1 end'
  - name: good
    url: {t.url}/good
routes:
  - name: all
    targets: [spin-url, big, good]
  - name: spinning-filter
    filter: 'if .pipeline then (def f: f; f) else true end'
    targets: [good]
""")
    h = settings_herald(["--config", str(cfg)])
    status, answer = h.gocd("go.plugin-settings.plugin-settings-changed", {
        "webhook_url": f"{t.url}/spin", "webhook_body": "def f: f; f", "notify_on": "any"})
    assert (status, answer) == (200, {"status": "success"}), answer
    for i in range(3):
        send(h, event(counter=i + 1))
    got = t.wait(3)
    time.sleep(0.5)
    assert sorted(r["path"] for r in t.requests) == ["/good"] * 3
    assert sorted(json.loads(r["body"])["pipeline"]["counter"] for r in got) == ["1", "2", "3"]
    budget = "jq: error: the program ran past its budget of 100 ms and was stopped"
    for name, why in [("gocd-settings", "body: " + budget),
                      ("spin-url", "url: template: the part at byte "),
                      ("spin-url", budget),
                      ("big", "body: jq output is larger than 1048576 bytes")]:
        for d in wait_deliveries(h, name, "dead", 3):
            log = d["attempt_log"]
            assert len(log) == 1 and why in log[0]["error"], (name, log)
    assert "filter failed" in h.log_text() and budget in h.log_text()
    # The delivery thread is free: SIGTERM stops herald in its usual time.
    started = time.time()
    h.stop(signal.SIGTERM, timeout=10 * SLOW)
    assert time.time() - started < 5 * SLOW
    # The stored settings load again at the start, and stall nothing: the
    # bad deliveries stay dead and new events reach the good target.
    h.start()
    send(h, event(counter=4))
    t.wait(4)
    wait_deliveries(h, "gocd-settings", "dead", 4)
    assert sorted(r["path"] for r in t.requests) == ["/good"] * 4
    t.stop()


def test_gocd_settings_page_refuses_what_cannot_run(settings_herald):
    herald = settings_herald()
    """GoCD validates its settings page before it saves: a body that does
    not compile or runs away, or a URL template that runs away, is refused
    there (the ingest module checks the rest)."""
    url = "https://hooks.example.com/ci"
    assert validate(herald, {"webhook_url": url, "webhook_body": "{text: .pipeline.name}"}) == {}
    got = validate(herald, {"webhook_url": url, "webhook_body": "def f: f; f"})
    assert "does not stay within its budget" in got["webhook_body"], got
    got = validate(herald, {"webhook_url": url, "webhook_body": 'import "x" as x; .'})
    assert "import, include and module are not available" in got["webhook_body"], got
    got = validate(herald, {"webhook_url": url + "/{{ [range(1e12)] }}"})
    assert "does not stay within its budget" in got["webhook_url"], got
