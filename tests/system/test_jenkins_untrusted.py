"""What a Jenkins sender can send that must not get through, end to end on
the real daemon: secrets by name and inside values into storage, the log
or deliveries, and a flood of bad datagrams into the log (every line
escaped, a few lines and a count instead of one line each).

Split from test_jenkins.py, whose helpers it uses.
"""
import json
import re
import socket
import time
import urllib.parse

from conftest import SLOW
from targets import Target, free_port
from test_jenkins import (REDACTED, accepted, config, metric, metrics, payload_json,
                          with_number)


# Secrets by name that the first defaults missed, and secrets inside values
# whatever their name: a connection string's password, chat webhook URLs,
# a URL's password. Each value is unique, so finding it anywhere is a leak.
MORE_SECRETS = {
    "MYSQL_PWD": "mysql-pwd-s1",
    "GH_PAT": "gh-pat-s2",
    "CREDS": "creds-s3",
    "VAULT_ROLE_ID": "vault-role-s4",
    "SONAR_LOGIN": "sonar-login-s5",
}
SECRET_VALUES = {
    "CONN": ("Server=db;User Id=app;Password=conn-s6;Encrypt=true",
             "Server=db;User Id=app;Password=********;Encrypt=true"),
    "NOTIFY": ("https://hooks.slack.com/services/T0/B0/slack-s7",
               "https://hooks.slack.com/********"),
    "CHAT": ("post to https://discord.com/api/webhooks/123/discord-s8 now",
             "post to https://discord.com/api/webhooks/******** now"),
    "TEAMS": ("https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/teams-s9",
              "https://contoso.webhook.office.com/********"),
    "GCHAT": ("https://chat.googleapis.com/v1/spaces/A/messages?key=gchat-s10&token=gchat-s11",
              "https://chat.googleapis.com/v1/spaces/A/messages?********"),
    "DATABASE": ("redis://:redis-s12@cache:6379/0", "redis://********@cache:6379/0"),
}


def test_more_secret_names_and_secrets_in_values(herald_factory, tmp_path):
    t = Target().start()
    cfg = config(tmp_path, f"""
delivery:
  allow: [127.0.0.0/8]
targets: [{{name: hook, url: "{t.url}/hook"}}]
routes: [{{name: all, targets: [hook]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    env = dict(MORE_SECRETS, **{k: v for k, (v, _) in SECRET_VALUES.items()})
    body = dict(payload_json("job-status_success.json"), **env)
    _, ev, raw = accepted(h, "/jenkins/job-status", body)
    q = "&".join(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v)
                 for k, v in with_number(body, 8).items())
    _, ev_get, _ = accepted(h, "/jenkins/job-status?" + q, None, "GET")
    notify = dict(payload_json("notify_gitlab_success.json"), environment=env,
                  body="failed: see " + SECRET_VALUES["NOTIFY"][0])
    _, ev_notify, _ = accepted(h, "/ci/notify", notify)
    for e in (ev, ev_get, ev_notify):
        for name in MORE_SECRETS:
            assert e["environment"][name] == REDACTED, name
        for name, (_, shown) in SECRET_VALUES.items():
            assert e["environment"][name] == shown, name
    assert ev_notify["build"]["body"] == "failed: see https://hooks.slack.com/********"

    reqs = t.wait(3)
    stored = json.dumps(h.all_events()) + raw
    for e in h.all_events():
        stored += h.get_json(f"/api/v1/events/{e['id']}")[1]["raw"]
    delivered = b"".join(r["body"] for r in reqs).decode()
    log = h.log_text()
    secrets = list(MORE_SECRETS.values()) + ["conn-s6", "slack-s7", "discord-s8", "teams-s9",
                                             "gchat-s10", "gchat-s11", "redis-s12"]
    for secret in secrets:
        assert secret not in stored, secret
        assert secret not in delivered, secret
        assert secret not in log, secret
    t.stop()


def test_bad_datagram_flood_is_logged_briefly_escaped_and_counted(herald_factory, tmp_path):
    """Thousands of bad datagrams (terminal escapes, bytes that are not
    UTF-8) make a few escaped lines and a count, not a line each."""
    udp = free_port()
    cfg = config(tmp_path, f"jenkins:\n  udp: 127.0.0.1:{udp}\n")
    h = herald_factory(["--config", str(cfg)])
    start = h.log_path.stat().st_size
    bads = [b"\x1b[31m\x07not json\r\nFAKE 2026 ERROR [main] owned",
            b'{"name":"x","build":{"phase":"NOPE\\u001b]0;title\\u0007"}}',
            b"\xff\xfe\x00\xc2\x9b2J",
            b'{"name":"\x1b[2J","build":{}}']
    sent = 4000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", udp))
        port = s.getsockname()[1]
        for i in range(sent):
            s.send(bads[i % len(bads)])
            if i % 200 == 199:
                time.sleep(0.01)  # let the listener keep up rather than the kernel drop them
    # Every datagram herald received is counted; wait until the count stops.
    got, last_change = -1, time.time()
    deadline = time.time() + 60 * SLOW
    while time.time() < deadline and (got < sent and time.time() - last_change < 2 * SLOW):
        now = metric(metrics(h), "herald_http_requests_total", endpoint="jenkins_udp", status="400")
        if now != got:
            got, last_change = now, time.time()
        time.sleep(0.05)
    assert got > sent // 2, got
    h.stop()  # the limit's summary of the open interval is logged on the way out

    log = h.log_path.read_bytes()[start:]
    assert len(log) < 8000, f"{len(log)} bytes of log for {got} bad datagrams"
    # Nothing a sender sent reaches the log raw: no control characters but
    # the line ends, no C1 controls, valid UTF-8 throughout.
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", log), log
    log.decode("utf-8")
    assert b"\xc2\x9b" not in log
    text = log.decode()
    rejected = re.findall(r"jenkins_udp: rejected a Notification plugin body from "
                          rf"127\.0\.0\.1:{port}: ", text)
    assert 1 <= len(rejected) <= 15, text
    assert "\\x1B[31m\\x07not json" in text or "\\x1B" in text, text
    # The rest are counted: the lines shown and the summaries add up.
    summaries = re.findall(r"(\d+) more bad datagrams on jenkins_udp in the last \d+ s, not logged "
                           r"\(the last from 127\.0\.0\.1:(\d+)\)", text)
    assert summaries, text
    assert all(int(p) == port for _, p in summaries)
    assert len(rejected) + sum(int(n) for n, _ in summaries) == got, text
