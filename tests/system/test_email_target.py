"""The email target end to end: the real daemon sends over SMTP (libcurl)
to a real SMTP server on loopback (aiosmtpd, Debian's python3-aiosmtpd),
which reads each message back: recipients, subject, both parts,
threading headers; a 4xx reply is retried, a 5xx reply is dead, and
STARTTLS is required unless the target turns it off."""
import email
import email.policy
import threading

import pytest

from targets import free_port
from test_delivery import config, event, send, wait_state

aiosmtpd = pytest.importorskip("aiosmtpd.controller")


class Mailbox:
    """An SMTP server that keeps every message and answers DATA from a
    script: a list of replies used in order (the last one repeats)."""

    def __init__(self, replies=("250 OK",)):
        self.replies = list(replies)
        self.messages = []
        self.lock = threading.Condition()
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with box.lock:
                    i = len(box.messages)
                    box.messages.append({
                        "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                        "message": email.message_from_bytes(envelope.content,
                                                            policy=email.policy.default)})
                    box.lock.notify_all()
                return box.replies[min(i, len(box.replies) - 1)]

        self.port = free_port()
        self.controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait(self, n, timeout=20):
        with self.lock:
            self.lock.wait_for(lambda: len(self.messages) >= n, timeout)
            assert len(self.messages) >= n, self.messages
            return list(self.messages)


def herald_mailing(tmp_path, herald_factory, box, extra="starttls: false", attempts=3):
    cfg = config(tmp_path, f"""
targets:
  - name: mail
    type: email
    smtp: smtp://127.0.0.1:{box.port}
    {extra}
    from: herald@ci.example.com
    to: [dev@example.com, ops@example.com]
routes: [{{name: all, targets: [mail]}}]
""", attempts=attempts)
    h = herald_factory(["--config", str(cfg)])
    status, _ = h.request("POST", "/gocd/server-info", {"server_id": "x",
                          "site_url": "https://gocd.example.com", "secure_site_url": None})
    assert status == 200
    return h


@pytest.mark.valgrind
def test_a_broken_stage_is_mailed_with_both_parts_and_threads(tmp_path, herald_factory):
    box = Mailbox().start()
    h = herald_mailing(tmp_path, herald_factory, box)
    send(h, event(pipeline="deploy", counter=42))
    send(h, event(pipeline="deploy", counter=42, state="Passed", result="Passed"))
    got = box.wait(2)
    first, second = got[0], got[1]
    assert first["from"] == "herald@ci.example.com"
    assert first["to"] == ["dev@example.com", "ops@example.com"]
    m = first["message"]
    assert m["Subject"] == "[herald] deploy #42 failed (verify)"
    assert m["To"] == "dev@example.com, ops@example.com"
    assert m.get_content_type() == "multipart/alternative"
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    assert text.splitlines()[0] == "deploy/verify #42 failed", text
    assert "Pipeline: deploy #42" in text
    assert "https://gocd.example.com/go/pipelines/deploy/42/verify/2" in text
    assert 'href="https://gocd.example.com/go/pipelines/deploy/42/verify/2"' in html
    assert "border-left:6px solid #E01E5A" in html
    # One Message-ID per delivery; the run's later message answers its
    # first (In-Reply-To and References), which starts the thread.
    ids = [g["message"]["Message-ID"] for g in got]
    assert ids[0] != ids[1] and all(i.endswith("@ci.example.com>") for i in ids)
    assert m["In-Reply-To"] is None and m["References"] is None
    assert second["message"]["In-Reply-To"] == second["message"]["References"] == ids[0]
    assert second["message"]["Subject"] == "[herald] deploy #42 fixed (verify)"
    d = wait_state(h, "delivered", 2)
    assert all(x["attempts"] == 1 for x in d)
    box.stop()


def test_4xx_is_retried_and_5xx_is_dead(tmp_path, herald_factory):
    box = Mailbox(["451 4.3.0 Try again later", "250 OK"]).start()
    h = herald_mailing(tmp_path, herald_factory, box)
    send(h, event(counter=1))
    box.wait(2)
    d = wait_state(h, "delivered", 1)[0]
    status, full = h.get_json(f"/api/v1/deliveries/{d['id']}")
    log = full["attempt_log"]
    assert [a["outcome"] for a in log] == ["retry", "delivered"]
    assert log[0]["status"] == 451 and log[0]["error"].startswith("SMTP 451"), log
    box.stop()

    box = Mailbox(["554 5.7.1 Rejected"]).start()
    other = tmp_path / "other"
    other.mkdir()
    h2 = herald_mailing(other, herald_factory, box)
    send(h2, event(counter=2))
    d = wait_state(h2, "dead", 1)[0]
    status, full = h2.get_json(f"/api/v1/deliveries/{d['id']}")
    assert full["attempts"] == 1
    assert full["attempt_log"][0]["status"] == 554
    assert full["attempt_log"][0]["error"].startswith("SMTP 554"), full
    box.stop()


def test_starttls_is_required_unless_turned_off(tmp_path, herald_factory):
    box = Mailbox().start()
    # Without a circuit (failures: 0) the refusals end in a dead letter;
    # with it, the target's circuit would open and hold the delivery.
    h = herald_mailing(tmp_path, herald_factory, box, extra="circuit: {failures: 0}", attempts=2)
    send(h, event())
    d = wait_state(h, "dead", 1)[0]
    status, full = h.get_json(f"/api/v1/deliveries/{d['id']}")
    assert "SSL" in full["attempt_log"][0]["error"] or "TLS" in full["attempt_log"][0]["error"], full
    assert box.messages == []
    box.stop()
