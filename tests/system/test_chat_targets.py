"""Chat targets end to end: the real daemon delivers a GoCD stage and a
Jenkins build to local servers that answer as Slack, Microsoft Teams,
Discord, Mattermost and Google Chat document (../shared/targets.md),
failure answers included. Each target's url is the service's real-looking
URL and api_url points at the local server, so the path (where the
service's token lives) is checked as it arrives."""
import json
import subprocess
import time

import pytest

from conftest import BIN, PAYLOADS
from targets import Target
from test_delivery import config, deliveries, event, send, wait_state

SITE = "https://gocd.example.com"
JENKINS = json.loads((PAYLOADS.parent / "jenkins" / "notification_completed_failure.json").read_text())


def herald_with(tmp_path, herald_factory, target_yaml, attempts=3):
    cfg = config(tmp_path, f"""
targets:
  - {target_yaml}
routes: [{{name: all, targets: [chat]}}]
""", attempts=attempts)
    h = herald_factory(["--config", str(cfg)])
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x", "site_url": SITE,
                                                        "secure_site_url": None})
    assert status == 200
    return h


def one(h, state):
    d = wait_state(h, state, 1)[0]
    status, full = h.get_json(f"/api/v1/deliveries/{d['id']}")
    assert status == 200
    return full


def body_of(req):
    assert req["method"] == "POST"
    assert req["headers"]["content-type"] == "application/json"
    return json.loads(req["body"])


@pytest.mark.valgrind
def test_slack_message_and_its_answers(tmp_path, herald_factory):
    t = Target([("status", 200, {}, b"ok")]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      url: "https://hooks.slack.com/services/T0001/B0002/SeCrEt", api_url: "{t.url}"}}""")
    send(h, event(pipeline="deploy", counter=42))
    req = t.wait(1)[0]
    assert req["path"] == "/services/T0001/B0002/SeCrEt"
    b = body_of(req)
    assert b["text"] == "deploy/verify #42 failed"
    att = b["attachments"][0]
    assert att["color"] == "#E01E5A"
    head = att["blocks"][0]["text"]["text"]
    assert head == f"*<{SITE}/go/pipelines/deploy/42/verify/2|deploy/verify #42 failed>*"
    fields = [f["text"] for f in att["blocks"][1]["fields"]]
    assert "*Pipeline*\ndeploy #42 (R-2024.06-3)" in fields and "*Stage*\nverify #2" in fields
    assert any(f.startswith("*Revision*\n") for f in fields), fields
    d = one(h, "delivered")
    assert d["attempt_log"][0]["excerpt"] == "ok"
    # The API shows the type, never the hook URL.
    status, cfg = h.get_json("/api/v1/config")
    assert status == 200 and cfg["targets"][0]["type"] == "slack"
    assert cfg["targets"][0]["url"] == "******" and "SeCrEt" not in json.dumps(cfg)
    t.stop()


def test_slack_failures_are_final_with_slacks_word(tmp_path, herald_factory):
    t = Target([("status", 404, {}, b"no_service")]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      url: "https://hooks.slack.com/services/T/B/X", api_url: "{t.url}"}}""")
    send(h, event())
    d = one(h, "dead")
    assert d["attempts"] == 1
    assert d["attempt_log"][0]["error"] == "HTTP 404: no_service"
    t.stop()


def test_slack_200_ok_false_is_a_failure(tmp_path, herald_factory):
    t = Target([("status", 200, {}, b'{"ok":false,"error":"channel_not_found"}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      url: "https://hooks.slack.com/services/T/B/X", api_url: "{t.url}"}}""")
    send(h, event())
    d = one(h, "dead")
    assert d["attempts"] == 1
    assert d["attempt_log"][0]["error"] == 'HTTP 200 with "ok": false: channel_not_found'
    t.stop()


def test_slack_429_waits_for_retry_after(tmp_path, herald_factory):
    t = Target([("status", 429, {"Retry-After": "1"}, b"rate_limited"),
                ("status", 200, {}, b"ok")]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      url: "https://hooks.slack.com/services/T/B/X", api_url: "{t.url}"}}""")
    send(h, event())
    r = t.wait(2)
    assert r[1]["at"] - r[0]["at"] >= 0.9
    d = one(h, "delivered")
    assert d["attempt_log"][0]["error"] == "HTTP 429: rate_limited"
    t.stop()


def test_slack_bot_token_posts_with_chat_postmessage(tmp_path, herald_factory):
    t = Target([("status", 200, {}, b'{"ok":true,"channel":"C0123","ts":"1733220000.000100"}'),
                ("status", 200, {}, b'{"ok":false,"error":"not_in_channel"}'),
                ("status", 429, {"Retry-After": "1"}, b'{"ok":false,"error":"ratelimited"}'),
                ("status", 200, {}, b'{"ok":true,"channel":"C0123","ts":"1733220001.000100"}')]
               ).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      token: xoxb-1-SeCrEt, channel: C0123, api_url: "{t.url}"}}""")
    send(h, event(pipeline="deploy", counter=1))
    req = t.wait(1)[0]
    assert req["path"] == "/api/chat.postMessage"
    assert req["headers"]["authorization"] == "Bearer xoxb-1-SeCrEt"
    assert req["headers"]["content-type"] == "application/json; charset=utf-8"
    b = json.loads(req["body"])
    assert b["channel"] == "C0123" and b["attachments"][0]["color"] == "#E01E5A"
    one(h, "delivered")
    # HTTP 200 with "ok": false is a failure, final; "ratelimited" waits.
    send(h, event(pipeline="deploy", counter=2))
    d = one(h, "dead")
    assert d["attempt_log"][0]["error"] == 'HTTP 200 with "ok": false: not_in_channel'
    send(h, event(pipeline="deploy", counter=3))
    r = t.wait(4)
    assert r[3]["at"] - r[2]["at"] >= 0.9
    wait_state(h, "delivered", 2)
    status, cfg = h.get_json("/api/v1/config")
    assert cfg["targets"][0]["token"] == "******" and "SeCrEt" not in json.dumps(cfg)
    t.stop()


def test_teams_adaptive_card_in_a_message(tmp_path, herald_factory):
    t = Target([("status", 202, {}, b"")]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: teams,
      url: "https://prod-1.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SeCrEt",
      api_url: "{t.url}"}}""")
    send(h, event(pipeline="deploy", counter=7))
    req = t.wait(1)[0]
    assert req["path"] == ("/workflows/abc/triggers/manual/paths/invoke"
                           "?api-version=2016-06-01&sig=SeCrEt")
    b = body_of(req)
    assert b["type"] == "message"
    att = b["attachments"][0]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert att["contentUrl"] is None
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["msteams"] == {"width": "Full"}
    assert card["body"][0]["text"] == "deploy/verify #7 failed"
    assert card["body"][0]["color"] == "attention"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Pipeline"] == "deploy #7 (R-2024.06-3)"
    assert card["actions"][0]["url"] == f"{SITE}/go/pipelines/deploy/7/verify/2"
    one(h, "delivered")
    t.stop()


def test_teams_flow_error_is_final_with_its_code(tmp_path, herald_factory):
    err = {"error": {"code": "TriggerInputSchemaMismatch",
                     "message": "The input body for trigger 'manual' of type 'Request' did not match"}}
    t = Target([("status", 400, {}, json.dumps(err).encode())]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: teams,
      url: "https://x.logic.azure.com/workflows/abc", api_url: "{t.url}"}}""")
    send(h, event())
    d = one(h, "dead")
    assert d["attempt_log"][0]["error"].startswith("HTTP 400: TriggerInputSchemaMismatch: The input")
    t.stop()


def test_discord_embed_and_rate_limit(tmp_path, herald_factory):
    limited = {"message": "You are being rate limited.", "retry_after": 0.8, "global": False}
    t = Target([("status", 429, {"X-RateLimit-Remaining": "0",
                                 "X-RateLimit-Reset-After": "30"}, json.dumps(limited).encode()),
                ("status", 200, {}, b'{"id":"1234567890","type":0}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: discord, username: herald,
      url: "https://discord.com/api/webhooks/111/SeCrEt", api_url: "{t.url}"}}""")
    h_jenkins = h.request("POST", "/jenkins/notification", JENKINS)
    assert h_jenkins[0] == 200, h_jenkins
    r = t.wait(2)
    # retry_after in the body wins over X-RateLimit-Reset-After's 30 s.
    assert 0.7 <= r[1]["at"] - r[0]["at"] < 10
    assert r[0]["path"] == "/api/webhooks/111/SeCrEt?wait=true"
    b = body_of(r[0])
    assert b["username"] == "herald" and b["allowed_mentions"] == {"parse": []}
    e = b["embeds"][0]
    assert e["color"] == 0xE01E5A
    assert e["title"].endswith(" failed") and e["url"].startswith("http")
    names = [f["name"] for f in e["fields"]]
    assert "Status" in names and all(f["inline"] for f in e["fields"])
    d = one(h, "delivered")
    assert d["attempt_log"][0]["error"] == "HTTP 429: You are being rate limited."
    t.stop()


def test_discord_unknown_webhook_is_final(tmp_path, herald_factory):
    t = Target([("status", 404, {}, b'{"message": "Unknown Webhook", "code": 10015}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: discord,
      url: "https://discord.com/api/webhooks/1/x", api_url: "{t.url}"}}""")
    send(h, event())
    d = one(h, "dead")
    assert d["attempt_log"][0]["error"] == "HTTP 404: Unknown Webhook (code 10015)"
    t.stop()


def test_mattermost_attachment_and_error(tmp_path, herald_factory):
    err = {"id": "web.incoming_webhook.channel.app_error", "message": "Couldn't find the channel.",
           "detailed_error": "", "request_id": "x", "status_code": 404}
    t = Target([("status", 200, {}, b"ok"), ("status", 404, {}, json.dumps(err).encode())]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: mattermost,
      url: "https://mm.example.com/hooks/SeCrEtKey", api_url: "{t.url}",
      channel: town-square, username: herald, icon_url: "https://i.example/h.png"}}""")
    send(h, event(counter=1, state="Passed", result="Passed"))
    req = t.wait(1)[0]
    assert req["path"] == "/hooks/SeCrEtKey"
    b = body_of(req)
    assert (b["channel"], b["username"], b["icon_url"]) == ("town-square", "herald",
                                                           "https://i.example/h.png")
    att = b["attachments"][0]
    assert att["color"] == "#2EB67D" and att["title"].endswith("#1 passed")
    assert att["title_link"].startswith(SITE)
    one(h, "delivered")
    send(h, event(counter=2))
    d = one(h, "dead")
    assert d["attempt_log"][0]["error"] == "HTTP 404: Couldn't find the channel."
    t.stop()


def test_google_chat_card_threaded_by_run(tmp_path, herald_factory):
    busy = {"error": {"code": 429, "message": "Resource has been exhausted",
                      "status": "RESOURCE_EXHAUSTED"}}
    t = Target([("status", 429, {}, json.dumps(busy).encode()),
                ("status", 200, {}, b'{"name":"spaces/AAA/messages/1"}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: google-chat,
      url: "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=SeCrEt",
      api_url: "{t.url}"}}""")
    send(h, event(pipeline="deploy", counter=9))
    r = t.wait(2)
    assert r[0]["path"] == ("/v1/spaces/AAA/messages?key=k&token=SeCrEt"
                            "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
    b = body_of(r[1])
    assert b["thread"] == {"threadKey": "deploy/9"}
    card = b["cardsV2"][0]["card"]
    assert card["header"]["title"] == "deploy/verify #9 failed"
    widgets = card["sections"][0]["widgets"]
    assert widgets[0]["decoratedText"]["text"] == '<font color="#E01E5A"><b>failed</b></font>'
    assert widgets[-1]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"].startswith(SITE)
    d = one(h, "delivered")
    assert d["attempt_log"][0]["error"] == "HTTP 429: RESOURCE_EXHAUSTED: Resource has been exhausted"
    # The run's next stage answers in its thread; the next run starts its own.
    send(h, event(pipeline="deploy", counter=9, state="Passed", result="Passed"))
    send(h, event(pipeline="deploy", counter=10))
    r = t.wait(4)
    keys = sorted(body_of(x)["thread"]["threadKey"] for x in r[2:])
    assert keys == ["deploy/10", "deploy/9"]
    t.stop()


def test_google_chat_bad_request_is_final(tmp_path, herald_factory):
    bad = {"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}
    t = Target([("status", 400, {}, json.dumps(bad).encode())]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: google-chat,
      url: "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k", api_url: "{t.url}"}}""")
    send(h, event())
    d = one(h, "dead")
    assert d["attempts"] == 1
    assert d["attempt_log"][0]["error"] == "HTTP 400: INVALID_ARGUMENT: Invalid JSON payload"
    t.stop()


def test_check_config_checks_each_types_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n"
                   "  - name: s\n"
                   "    type: slack\n"
                   "    url: https://hooks.slack.com/services/T/B/SeCrEt\n"
                   "    method: PUT\n"
                   "  - name: d\n"
                   "    type: discrod\n"
                   "    url: https://discord.com/api/webhooks/1/x\n"
                   "  - name: m\n"
                   "    type: mattermost\n"
                   "    api_url: http://127.0.0.1:1\n"
                   "routes: [{name: r, targets: [s, d, m]}]\n")
    r = subprocess.run([BIN, "check-config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert (f'{bad}:5:5: targets[0].method: type slack takes no key "method" '
            "(its keys: name, type, url, token, api_url, channel, thread, title, text, order_by, "
            "latest_wins, rate_limit, circuit)") in r.stderr, r.stderr
    assert f'{bad}:7:11: targets[1].type: unknown target type "discrod"' in r.stderr
    assert f'{bad}:9:5: targets[2]: missing required key "url"' in r.stderr
    assert "SeCrEt" not in r.stderr
    good = tmp_path / "good.yaml"
    good.write_text("targets:\n"
                    "  - {name: s, type: slack, url: 'https://hooks.slack.com/services/T/B/X'}\n"
                    "  - {name: t, type: teams, url: 'https://x.logic.azure.com/workflows/1'}\n"
                    "  - {name: d, type: discord, url: 'https://discord.com/api/webhooks/1/x'}\n"
                    "  - {name: m, type: mattermost, url: 'https://mm.example/hooks/k'}\n"
                    "  - {name: g, type: google-chat, url: 'https://chat.googleapis.com/v1/x'}\n"
                    "routes: [{name: r, targets: [s, t, d, m, g]}]\n")
    r = subprocess.run([BIN, "check-config", str(good)], capture_output=True, text=True)
    assert r.returncode == 0 and "ok: 5 targets, 1 routes" in r.stdout, r.stderr


def test_a_chat_target_is_replayed_like_a_webhook(tmp_path, herald_factory):
    # A 404 is a dead letter (a 410 would disable the target and hold the
    # delivery instead: test_target_health.py).
    t = Target([("status", 404, {}, b"no_service"), ("status", 200, {}, b"ok")]).start()
    tok = tmp_path / "api-token"
    tok.write_text("chat-tok-8c1f\n")
    cfg = config(tmp_path, f"""
targets:
  - {{name: chat, type: slack, url: "https://hooks.slack.com/services/T/B/X", api_url: "{t.url}"}}
routes: [{{name: all, targets: [chat]}}]
""")
    h = herald_factory(["--config", str(cfg), "--api-token-file", str(tok)])
    send(h, event())
    dead = wait_state(h, "dead", 1, token="chat-tok-8c1f")
    r = subprocess.run([BIN, "replay", "--url", f"http://127.0.0.1:{h.port}", "--delivery",
                        str(dead[0]["id"]), "--token-file", str(tok)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_state(h, "delivered", 1, token="chat-tok-8c1f")
    assert len(t.wait(2)) == 2
    t.stop()


@pytest.mark.valgrind
def test_title_and_text_programs_replace_parts_of_the_message(tmp_path, herald_factory):
    t = Target([("status", 200, {}, b"ok")]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      url: "https://hooks.slack.com/services/T/B/X", api_url: "{t.url}",
      title: '"\\(.pipeline.name) went \\(.transition) <again>"',
      text: '"Ask #oncall & the release team"'}}""")
    send(h, event(pipeline="deploy", counter=3))
    b = body_of(t.wait(1)[0])
    assert b["text"] == "deploy went failed &lt;again&gt;"
    blocks = b["attachments"][0]["blocks"]
    assert blocks[0]["text"]["text"].endswith("|deploy went failed &lt;again&gt;>*")
    assert blocks[1]["text"]["text"] == "Ask #oncall &amp; the release team"
    assert blocks[2]["fields"][0]["text"].startswith("*Pipeline*")
    one(h, "delivered")
    t.stop()


def test_long_titles_and_texts_are_cut(tmp_path, herald_factory):
    t = Target([("status", 200, {}, b'{"id":"1"}')]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: discord,
      url: "https://discord.com/api/webhooks/1/x", api_url: "{t.url}",
      title: '"é" * 400', text: '"x" * 5000'}}""")
    send(h, event())
    e = body_of(t.wait(1)[0])["embeds"][0]
    assert e["title"] == "é" * 123 + "…" and len(e["title"].encode()) <= 250
    assert len(e["description"].encode()) <= 2000 and e["description"].endswith("…")
    one(h, "delivered")
    t.stop()


def test_a_text_with_no_output_adds_nothing(tmp_path, herald_factory):
    t = Target([("status", 200, {}, b"ok")]).start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: mattermost,
      url: "https://mm.example.com/hooks/k", api_url: "{t.url}",
      text: 'if .transition == "fixed" then "Back to green" else empty end'}}""")
    send(h, event())
    att = body_of(t.wait(1)[0])["attachments"][0]
    assert "text" not in att and att["title"].endswith(" failed")
    one(h, "delivered")
    t.stop()


def test_a_title_that_is_not_a_string_is_dead_with_the_reason(tmp_path, herald_factory):
    t = Target().start()
    h = herald_with(tmp_path, herald_factory, f"""{{name: chat, type: discord,
      url: "https://discord.com/api/webhooks/1/x", api_url: "{t.url}", title: '.pipeline'}}""")
    send(h, event())
    d = one(h, "dead")
    assert d["attempt_log"][0]["error"] == ("cannot render the request: title: the jq program "
                                             "must give a string")
    assert t.requests == []
    t.stop()
