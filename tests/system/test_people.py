"""Who broke the build, end to end: the real daemon asks a local server
that answers as GoCD's API does (GET /go/api/pipelines/<name>/<counter>,
build_cause.material_revisions[].modifications[]) for a run's
modifications, then a Slack and a Teams target name the committers and
mention them through people:, and e-mail goes to the culprits (aiosmtpd).
With GoCD's API down (500s, or nothing listening), the messages still go out
after the lookup's retries, with revisions only."""
import json

import pytest

from targets import Target, free_port
from test_delivery import config, event, send, wait_state

GOCD_TOKEN = "gocd-token-0123456789-secret"
SITE = "https://gocd.example.com"

# GoCD's answer to GET /go/api/pipelines/deploy/42 (Accept:
# application/vnd.go.cd+json), trimmed to what herald reads and a little
# around it, as GoCD's pipeline instance API documents it.
INSTANCE = {
    "name": "deploy", "counter": 42, "label": "R-2024.06-3", "natural_order": 42.0,
    "can_run": True, "preparing_to_schedule": False, "comment": None,
    "scheduled_date": 1733300000000,
    "build_cause": {
        "trigger_message": "modified by Jane Doe <jane@example.com>",
        "trigger_forced": False, "approver": "",
        "material_revisions": [{
            "changed": True,
            "material": {"name": "app", "fingerprint": "f00d", "type": "Git",
                         "description": "URL: https://git.example.com/app.git, Branch: main"},
            "modifications": [
                {"revision": "0123456789abcdef0123456789abcdef01234567",
                 "modified_time": 1733299000000, "user_name": "Jane Doe <jane@example.com>",
                 "comment": "Fix the flaky login test\n\nIt raced the session store.",
                 "email_address": None},
                {"revision": "fedcba9876543210fedcba9876543210fedcba98",
                 "modified_time": 1733298000000, "user_name": "Bob Smith <bob@example.com>",
                 "comment": "Bump the version", "email_address": None},
            ]}]},
    "stages": [{"name": "verify", "counter": "2", "result": "Failed"}],
}

PEOPLE = """
people:
  "jane@example.com": {name: Jane Doe, slack: U0123ABCD, teams: jane@corp.example,
                       email: jane.doe@corp.example}
  "*carol*": {slack: U0999ZZZZ}
"""


def gocd_api(script=None):
    body = json.dumps(INSTANCE).encode()
    return Target(script or [("status", 200, {"Content-Type": "application/vnd.go.cd.v1+json"},
                              body)]).start()


def start(tmp_path, herald_factory, gocd_url, targets, routes, attempts=2):
    cfg = config(tmp_path, f"""
gocd:
  api_url: {gocd_url}
  token: {GOCD_TOKEN}
  attempts: {attempts}
{PEOPLE}
targets:
{targets}
routes: [{{name: all, targets: [{routes}]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x", "site_url": SITE,
                                                        "secure_site_url": None})
    assert status == 200
    return h


def chat_targets(t):
    return f"""  - {{name: slack, type: slack, url: "https://hooks.slack.com/services/T1/B2/X",
       api_url: "{t.url}"}}
  - {{name: teams, type: teams, api_url: "{t.url}",
       url: "https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"}}
"""


def slack_fields(body):
    att = body["attachments"][0]
    return {f["text"].split("\n", 1)[0]: f["text"].split("\n", 1)[1]
            for b in att["blocks"] if b.get("fields") for f in b["fields"]}


def by_path(requests, prefix):
    return [json.loads(r["body"]) for r in requests if r["path"].startswith(prefix)]


@pytest.mark.valgrind
def test_gocd_modifications_name_and_mention_the_committers(tmp_path, herald_factory):
    api = gocd_api()
    chat = Target([("status", 200, {}, b"ok")]).start()
    h = start(tmp_path, herald_factory, api.url, chat_targets(chat), "slack, teams")
    send(h, event(pipeline="deploy", counter=42))
    got = chat.wait(2)
    # GoCD was asked once for the run, as its API wants.
    asks = api.wait(1)
    assert len(api.requests) == 1, api.requests
    assert asks[0]["method"] == "GET" and asks[0]["path"] == "/go/api/pipelines/deploy/42"
    assert asks[0]["headers"]["accept"] == "application/vnd.go.cd+json"
    assert asks[0]["headers"]["authorization"] == "Bearer " + GOCD_TOKEN

    slack = by_path(got, "/services/")[0]
    fields = slack_fields(slack)
    # Jane is mentioned (people: maps her address); Bob is named.
    assert fields["*Committers*"] == "<@U0123ABCD>, Bob Smith", fields
    changes = [f["text"] for b in slack["attachments"][0]["blocks"] if b.get("fields")
               for f in b["fields"] if f["text"].startswith("*Change*")]
    assert changes == ["*Change*\n0123456789ab Fix the flaky login test (Jane Doe)",
                       "*Change*\nfedcba987654 Bump the version (Bob Smith)"], changes
    # The changes take the place of the bare revisions.
    assert "*Revision*" not in fields

    teams = by_path(got, "/workflows/")[0]
    card = teams["attachments"][0]["content"]
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["msteams"]["entities"] == [{
        "type": "mention", "text": "<at>Jane Doe</at>",
        "mentioned": {"id": "jane@corp.example", "name": "Jane Doe"}}]
    texts = [b.get("text") for b in card["body"] if b["type"] == "TextBlock"]
    assert "Committers: <at>Jane Doe</at>, Bob Smith" in texts, texts
    facts = [f["title"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]]
    assert "Committers" not in facts and "Change" in facts and "Revision" not in facts

    # The next event of the run uses what was learnt: GoCD is not asked again.
    send(h, event(pipeline="deploy", counter=42, state="Passed", result="Passed"))
    chat.wait(4)
    assert len(api.requests) == 1
    # The token never shows: not in the log, not in the API's config.
    assert GOCD_TOKEN not in h.log_text()
    status, cfg = h.get_json("/api/v1/config")
    assert status == 200 and cfg["gocd"]["token"] == "******"
    assert GOCD_TOKEN not in json.dumps(cfg)
    assert cfg["people"][0]["slack"] == "U0123ABCD"
    api.stop()
    chat.stop()


@pytest.mark.parametrize("down", ["500", "refused"])
def test_gocd_down_the_message_goes_with_revisions_only(tmp_path, herald_factory, down):
    api = gocd_api([500]) if down == "500" else None
    url = api.url if api else f"http://127.0.0.1:{free_port()}"
    chat = Target([("status", 200, {}, b"ok")]).start()
    h = start(tmp_path, herald_factory, url, chat_targets(chat), "slack", attempts=3)
    send(h, event(pipeline="deploy", counter=42))
    slack = json.loads(chat.wait(1)[0]["body"])
    fields = slack_fields(slack)
    assert "*Revision*" in fields and "*Committers*" not in fields and "*Change*" not in fields
    d = wait_state(h, "delivered", 1)[0]
    assert d["attempts"] == 1  # the delivery itself was sent once
    if api:
        # Three lookups, the retries after the delivery backoff.
        assert len(api.requests) == 3, api.requests
        gaps = [b["at"] - a["at"] for a, b in zip(api.requests, api.requests[1:])]
        assert all(g >= 0.15 for g in gaps), gaps
        api.stop()
    assert "revisions only" in h.log_text()
    assert GOCD_TOKEN not in h.log_text()
    chat.stop()


def test_mail_goes_to_the_culprits_and_to_templates(tmp_path, herald_factory):
    from test_email_target import Mailbox
    box = Mailbox().start()
    api = gocd_api()
    h = start(tmp_path, herald_factory, api.url, f"""  - name: mail
    type: email
    smtp: smtp://127.0.0.1:{box.port}
    starttls: false
    from: herald@ci.example.com
    to: [culprits, "{{{{ .pipeline.name }}}}-team@example.com"]
  - name: custom
    type: email
    smtp: smtp://127.0.0.1:{box.port}
    starttls: false
    from: herald@ci.example.com
    to: [ops@example.com]
    subject: "CI: {{{{ .pipeline.name }}}} is {{{{ .transition }}}}"
""", "mail, custom")
    send(h, event(pipeline="deploy", counter=42))
    got = box.wait(2)
    mail = next(m for m in got if "ops@example.com" not in m["to"])
    # Jane through people: (her mapped address), Bob by GoCD's own, and the
    # template's address.
    assert sorted(mail["to"]) == ["bob@example.com", "deploy-team@example.com",
                                  "jane.doe@corp.example"], mail["to"]
    assert mail["message"]["Subject"] == "[herald] deploy #42 failed (verify)"
    text = mail["message"].get_body(("plain",)).get_content()
    assert "Committers: Jane Doe, Bob Smith" in text, text
    custom = next(m for m in got if "ops@example.com" in m["to"])
    assert custom["message"]["Subject"] == "[herald] CI: deploy is failed"
    box.stop()
    api.stop()


def test_check_config_places_people_and_gocd_errors(tmp_path):
    import subprocess
    from conftest import BIN
    p = tmp_path / "bad.yaml"
    p.write_text("""gocd:
  api_url: ftp://gocd.example.com
people:
  "jane@example.com": {slack: jane}
  "bob@example.com": {discord: "<@abc>"}
""")
    r = subprocess.run([BIN, "check-config", str(p)], capture_output=True, text=True)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert f"{p}:2:12: gocd.api_url:" in out, out
    assert f"{p}:4:31: people.\"jane@example.com\".slack: expected a Slack member id" in out, out
    assert f"{p}:5:32: people.\"bob@example.com\".discord: expected a Discord user id" in out, out


def test_a_hung_gocd_never_holds_the_acknowledgement_nor_other_targets(tmp_path, herald_factory):
    import time
    api = Target(["hang"], hang=3).start()
    chat = Target([("status", 200, {}, b"ok")]).start()
    hook = Target().start()
    h = start(tmp_path, herald_factory, api.url, chat_targets(chat) + f"""  - name: hook
    url: {hook.url}/hook
""", "slack, hook", attempts=1)
    began = time.time()
    send(h, event(pipeline="deploy", counter=42))
    assert time.time() - began < 0.5  # stored and answered; GoCD is asked later
    # The webhook does not wait for GoCD; the Slack message waits for the
    # lookup's timeout (1s), then goes with revisions only.
    hook.wait(1)
    assert not chat.requests
    fields = slack_fields(json.loads(chat.wait(1)[0]["body"]))
    assert "*Revision*" in fields and "*Committers*" not in fields
    assert hook.requests[0]["at"] < chat.requests[0]["at"]
    api.stop()
    chat.stop()
    hook.stop()
