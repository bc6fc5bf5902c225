"""The message a run keeps, end to end: the real daemon delivers GoCD
pipeline runs to local servers that answer as Slack's Web API
(chat.postMessage, chat.update) and Discord's webhooks (?wait=true, PATCH
.../messages/{id}) do, keeping the messages they were sent so a test reads
what a channel would show; and e-mails to a real SMTP server. One run is one
message, edited in place (or answered in its thread, or in its mail
thread), across a kill -9 between two events of the run."""
import http.server
import json
import threading
import time

import pytest

from targets import Target
from test_chat_targets import SITE
from test_delivery import config, deliveries, event, send, wait_state
from test_email_target import Mailbox, herald_mailing


class FakeSlack:
    """Slack's Web API as https://api.slack.com/methods documents
    chat.postMessage and chat.update: a bearer token, JSON in, HTTP 200 with
    {"ok": true, "channel", "ts", "message"} or {"ok": false, "error"};
    ratelimited comes with 429 and Retry-After; a 5xx comes from Slack's
    edge with a body that is not the API's. `fail` is a list of (method,
    status, error) answered once each, in order, before the real answer of
    that method."""

    TOKEN = "xoxb-1-SeCrEt"

    def __init__(self, fail=()):
        self.fail = list(fail)
        self.messages = {}  # (channel, ts) -> {"text", "color", "thread_ts", "edits"}
        self.calls = []
        self.lock = threading.Condition()
        self.clock = 1733220000
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body, headers=None):
                data = json.dumps(body).encode() if status < 500 else body["error"].encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n))
                method = self.path.rsplit("/", 1)[-1]
                with fake.lock:
                    fake.calls.append({"method": method, "body": body,
                                       "auth": self.headers.get("Authorization"),
                                       "at": time.time()})
                    fake.lock.notify_all()
                    status, reply, headers = fake.reply(method, body,
                                                        self.headers.get("Authorization"))
                self.answer(status, reply, headers)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, method, body, auth):
        if auth != f"Bearer {self.TOKEN}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        for i, (m, status, error) in enumerate(self.fail):
            if m == method:
                del self.fail[i]
                headers = {"Retry-After": "1"} if status == 429 else {}
                return status, {"ok": False, "error": error}, headers
        att = body["attachments"][0]
        channel = "C0RUN" if body["channel"] == "#ci" else body["channel"]
        if method == "chat.postMessage":
            self.clock += 1
            ts = f"{self.clock}.000100"
            self.messages[(channel, ts)] = {"text": body["text"], "color": att["color"],
                                            "thread_ts": body.get("thread_ts"), "edits": 0}
        elif method == "chat.update":
            ts = body["ts"]
            msg = self.messages.get((channel, ts))
            if msg is None:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            msg.update(text=body["text"], color=att["color"], edits=msg["edits"] + 1)
        else:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, {"ok": True, "channel": channel, "ts": ts,
                     "message": {"type": "message", "text": body["text"], "ts": ts}}, {}

    def wait(self, n, timeout=20):
        with self.lock:
            self.lock.wait_for(lambda: len(self.calls) >= n, timeout)
            assert len(self.calls) >= n, self.calls
            return list(self.calls)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def herald_for(tmp_path, herald_factory, target_yaml):
    cfg = config(tmp_path, f"""
targets:
  - {target_yaml}
routes: [{{name: all, targets: [chat]}}]
""")
    h = herald_factory(["--config", str(cfg)])
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x", "site_url": SITE,
                                                        "secure_site_url": None})
    assert status == 200
    return h


def restart_after_kill9(h):
    """kill -9, and the same herald started again on the same data."""
    h.kill9()
    h.start()
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x", "site_url": SITE,
                                                        "secure_site_url": None})
    assert status == 200


def building(pipeline, counter):
    return event(pipeline=pipeline, counter=counter, state="Building", result="Unknown")


def by_event(h):
    """Delivered deliveries, each read whole (service_ref, run), oldest first."""
    out = []
    for d in sorted(deliveries(h, state="delivered", limit=500), key=lambda d: d["id"]):
        status, full = h.get_json(f"/api/v1/deliveries/{d['id']}")
        assert status == 200
        out.append(full)
    return out


def test_slack_one_message_per_run_edited_in_place_across_kill9(tmp_path, herald_factory):
    # The run's first post fails once (503): the run's second event must
    # wait for it, not post a message of its own; its first edit is
    # rate-limited once (429 ratelimited, Retry-After) and still edits.
    slack = FakeSlack(fail=[("chat.postMessage", 503, "service_unavailable"),
                            ("chat.update", 429, "ratelimited")])
    h = herald_for(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      token: {FakeSlack.TOKEN}, channel: "#ci", api_url: "{slack.url}"}}""")
    send(h, building("deploy", 1))
    send(h, event(pipeline="deploy", counter=1))
    wait_state(h, "delivered", 2)
    calls = slack.wait(4)
    assert [c["method"] for c in calls] == ["chat.postMessage", "chat.postMessage",
                                           "chat.update", "chat.update"]
    assert calls[3]["at"] - calls[2]["at"] >= 0.9, "the edit waited for Retry-After"
    assert len(slack.messages) == 1
    (channel, ts), msg = next(iter(slack.messages.items()))
    assert calls[3]["body"]["channel"] == channel == "C0RUN" and calls[3]["body"]["ts"] == ts
    assert msg["text"] == "deploy/verify #1 failed" and msg["color"] == "#E01E5A"
    assert msg["edits"] == 1

    # The API shows what Slack answered, per delivery and run.
    d = by_event(h)
    assert [x["run"] for x in d] == ["deploy/1", "deploy/1"]
    assert [x["service_ref"] for x in d] == [{"channel": "C0RUN", "ts": ts}] * 2
    assert [a["outcome"] for a in d[0]["attempt_log"]] == ["retry", "delivered"]
    assert d[1]["attempt_log"][0]["error"] == "HTTP 429: ratelimited"

    # The next run is a new message.
    send(h, event(pipeline="deploy", counter=2, state="Passed", result="Passed"))
    wait_state(h, "delivered", 3)
    assert len(slack.messages) == 2
    assert slack.calls[-1]["method"] == "chat.postMessage"

    # kill -9 between two events of a run: the edit still finds the first
    # message, from the store.
    send(h, building("deploy", 3))
    wait_state(h, "delivered", 4)
    first = by_event(h)[-1]["service_ref"]
    restart_after_kill9(h)
    send(h, event(pipeline="deploy", counter=3, state="Passed", result="Passed"))
    wait_state(h, "delivered", 5)
    assert slack.calls[-1]["method"] == "chat.update"
    assert slack.calls[-1]["body"]["ts"] == first["ts"]
    assert len(slack.messages) == 3
    assert slack.messages[("C0RUN", first["ts"])]["text"] == "deploy/verify #3 passed"
    assert slack.messages[("C0RUN", first["ts"])]["color"] == "#2EB67D"
    slack.stop()


def test_slack_thread_true_answers_in_the_runs_thread(tmp_path, herald_factory):
    slack = FakeSlack()
    h = herald_for(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      token: {FakeSlack.TOKEN}, channel: "#ci", thread: true, api_url: "{slack.url}"}}""")
    send(h, building("deploy", 5))
    send(h, event(pipeline="deploy", counter=5))
    wait_state(h, "delivered", 2)
    calls = slack.wait(2)
    assert [c["method"] for c in calls] == ["chat.postMessage"] * 2
    parent = by_event(h)[0]["service_ref"]["ts"]
    assert "thread_ts" not in calls[0]["body"]
    assert calls[1]["body"]["thread_ts"] == parent and calls[1]["body"]["channel"] == "C0RUN"
    replies = [m for m in slack.messages.values() if m["thread_ts"] == parent]
    assert [m["text"] for m in replies] == ["deploy/verify #5 failed"]
    # The reply's own ts stays with its delivery; the run keeps its parent.
    d = by_event(h)
    assert d[1]["service_ref"]["ts"] != parent
    slack.stop()


def test_slack_edit_of_a_deleted_message_is_final_with_slacks_word(tmp_path, herald_factory):
    slack = FakeSlack()
    h = herald_for(tmp_path, herald_factory, f"""{{name: chat, type: slack,
      token: {FakeSlack.TOKEN}, channel: "#ci", api_url: "{slack.url}"}}""")
    send(h, building("deploy", 8))
    wait_state(h, "delivered", 1)
    slack.messages.clear()  # someone deleted the message in Slack
    send(h, event(pipeline="deploy", counter=8))
    d = wait_state(h, "dead", 1)[0]
    status, full = h.get_json(f"/api/v1/deliveries/{d['id']}")
    assert full["attempt_log"][0]["error"] == 'HTTP 200 with "ok": false: message_not_found'
    assert full["service_ref"] is None
    slack.stop()


class FakeDiscord:
    """A Discord webhook: POST /api/webhooks/{id}/{token}?wait=true answers
    200 with the message it made ({"id", "channel_id", ...}); PATCH
    /api/webhooks/{id}/{token}/messages/{message_id} edits it (200 with the
    message) or answers 404 {"message": "Unknown Message", "code": 10008}."""

    HOOK = "/api/webhooks/1234/SeCrEt"

    def __init__(self):
        self.messages = {}
        self.calls = []
        self.next_id = 1300000000000000000
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n))
                fake.calls.append({"method": self.command, "path": self.path, "body": body})
                status, reply = fake.reply(self.command, self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, method, path, body):
        route, _, query = path.partition("?")
        if method == "POST" and route == self.HOOK and "wait=true" in query:
            self.next_id += 1
            mid = str(self.next_id)
            self.messages[mid] = {"title": body["embeds"][0]["title"], "edits": 0}
            return 200, {"id": mid, "channel_id": "555", "type": 0, "embeds": body["embeds"]}
        prefix = self.HOOK + "/messages/"
        if method == "PATCH" and route.startswith(prefix):
            msg = self.messages.get(route[len(prefix):])
            if msg is None:
                return 404, {"message": "Unknown Message", "code": 10008}
            msg.update(title=body["embeds"][0]["title"], edits=msg["edits"] + 1)
            return 200, {"id": route[len(prefix):], "channel_id": "555", "type": 0}
        return 404, {"message": "Unknown Webhook", "code": 10015}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.valgrind
def test_discord_edit_true_edits_the_runs_message_across_kill9(tmp_path, herald_factory):
    dc = FakeDiscord()
    h = herald_for(tmp_path, herald_factory, f"""{{name: chat, type: discord, edit: true,
      url: "https://discord.com{FakeDiscord.HOOK}", api_url: "{dc.url}"}}""")
    send(h, building("deploy", 1))
    wait_state(h, "delivered", 1)
    first = by_event(h)[0]
    assert first["run"] == "deploy/1"
    mid = first["service_ref"]["id"]
    assert first["service_ref"] == {"id": mid, "channel_id": "555"}
    restart_after_kill9(h)
    send(h, event(pipeline="deploy", counter=1))
    wait_state(h, "delivered", 2)
    assert [c["method"] for c in dc.calls] == ["POST", "PATCH"]
    assert dc.calls[1]["path"] == f"{FakeDiscord.HOOK}/messages/{mid}?wait=true"
    assert dc.messages == {mid: {"title": "deploy/verify #1 failed", "edits": 1}}
    # The next run is a message of its own.
    send(h, event(pipeline="deploy", counter=2, state="Passed", result="Passed"))
    wait_state(h, "delivered", 3)
    assert dc.calls[-1]["method"] == "POST" and len(dc.messages) == 2
    dc.stop()


def test_email_threads_under_the_runs_first_message_across_kill9(tmp_path, herald_factory):
    box = Mailbox().start()
    h = herald_mailing(tmp_path, herald_factory, box)
    send(h, building("deploy", 9))
    wait_state(h, "delivered", 1)
    first = box.wait(1)[0]["message"]
    assert first["In-Reply-To"] is None
    d = by_event(h)[0]
    assert d["service_ref"] == {"message_id": first["Message-ID"]}
    h.kill9()
    h.start()
    send(h, event(pipeline="deploy", counter=9))
    send(h, event(pipeline="deploy", counter=10))
    got = box.wait(3)
    second = next(g["message"] for g in got[1:] if "#9" in g["message"]["Subject"])
    other = next(g["message"] for g in got[1:] if "#10" in g["message"]["Subject"])
    assert second["In-Reply-To"] == second["References"] == first["Message-ID"]
    assert second["Message-ID"] != first["Message-ID"]
    assert other["In-Reply-To"] is None  # another run, another thread
    box.stop()


def test_google_chat_keeps_the_runs_thread_name(tmp_path, herald_factory):
    answer = json.dumps({"name": "spaces/AAA/messages/M1.M1",
                         "thread": {"name": "spaces/AAA/threads/T1", "threadKey": "deploy/4"},
                         "text": "deploy/verify #4 building"}).encode()
    t = Target([("status", 200, {"Content-Type": "application/json"}, answer)]).start()
    h = herald_for(tmp_path, herald_factory, f"""{{name: chat, type: google-chat,
      url: "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K&token=SeCrEt",
      api_url: "{t.url}"}}""")
    send(h, building("deploy", 4))
    send(h, event(pipeline="deploy", counter=4))
    wait_state(h, "delivered", 2)
    reqs = t.wait(2)
    assert all(json.loads(r["body"])["thread"] == {"threadKey": "deploy/4"} for r in reqs)
    assert all("messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD" in r["path"] for r in reqs)
    d = by_event(h)
    assert [x["service_ref"] for x in d] == [{"message": "spaces/AAA/messages/M1.M1",
                                              "thread": "spaces/AAA/threads/T1"}] * 2
    assert json.loads(reqs[0]["body"])["text"] == "deploy/verify #4 building"
    t.stop()
