"""One URL rule (core/url.h), driven through the real daemon.

GoCD's settings page (validate-configuration), the settings' apply path
(plugin-settings-changed) and the YAML file (check-config) give every URL
the same verdict and the same message; and settings the page accepts are
applied, delivered to, and kept across a restart and a reload.
"""
import json
import sqlite3
import signal
import subprocess
import time

import pytest

from conftest import BIN, PAYLOADS, SLOW
from targets import Target

SPACES = "the URL must not contain spaces or control characters (write %20 for a space)"
SCHEME = "the URL must start with http:// or https://"
NO_HOST = "the URL must name a host"
IPV6 = "the URL's host is not a valid IPv6 address"
PORT = "the URL's port must be a number from 1 to 65535"
TEMPLATE_FIRST = "the URL's scheme, host and port must be written out before any {{ }} template"

# (url, message): message None means accepted.
URLS = [
    ("https://hooks.example.com/gocd", None),
    ("http://10.0.0.5:8080/hook?x=1#f", None),
    ("HTTPS://Example.COM", None),
    ("http://h:1", None),
    ("http://h:65535/", None),
    ("https://user:pw@[2001:db8::1]:443/x", None),
    ("http://[::1]:8080/hook", None),
    ("http://[::ffff:1.2.3.4]/", None),
    ("http://[1:2:3:4:5:6:7:8]/hook", None),
    ("http://h.example./x", None),
    ("http://a;b=c:p%40ss@h/", None),
    ("http://h/caf\u00e9|{x}", None),
    ("https://h/{{ .pipeline.name }}?x={{ .stage.name }}", None),
    ("https://h:8443?{{ .pipeline.name }}", None),
    ("https://h/#{{ .pipeline.counter }}", None),
    ("http://[1:2]/hook", IPV6),
    ("http://[::1/", IPV6),
    ("http://[]/", IPV6),
    ("http://[fe80::1%25eth0]/", IPV6),
    ("http://[::1]x/", PORT),
    ("ftp://example.com/x", SCHEME),
    ("socks5://p:1080", SCHEME),
    ("file:///etc/passwd", SCHEME),
    ("javascript:alert(1)", SCHEME),
    ("example.com/x", SCHEME),
    ("//example.com/x", SCHEME),
    ("{{ .url }}", SCHEME),
    ("http://", NO_HOST),
    ("http:///hook", NO_HOST),
    ("http://user@/x", NO_HOST),
    ("http://:8080/", NO_HOST),
    ("http://h:0/", PORT),
    ("http://h:65536/", PORT),
    ("http://h:/x", PORT),
    ("http://h:8a/", PORT),
    ("http://h:99999999999999999999/", PORT),
    ("http://exa mple.com/", SPACES),
    ("http://h/a b", SPACES),
    (" http://h/", SPACES),
    ("http://h/\t", SPACES),
    ("http://h/\r\nX-Evil: 1", SPACES),
    ("http://h/\x7f", SPACES),
    ("http://h/\x01", SPACES),
    ("http://exa\"mple.com/", "the URL's host must not contain '\"'"),
    ("http://h%41/", "the URL's host must not contain '%'"),
    ("http://h\\x/", "the URL's host must not contain '\\'"),
    ("http://b\u00fccher.example/",
     "the URL's host must be ASCII (write an international name in punycode)"),
    ("http://a@b@c/", "the URL's user information must not contain '@' (write %40)"),
    ("http://us\"er@h/", "the URL's user information must not contain '\"' (percent-encode it)"),
    ("https://{{ .host }}/x", TEMPLATE_FIRST),
    ("https://h{{ .path }}", TEMPLATE_FIRST),
    ("https://h:{{ .port }}/", TEMPLATE_FIRST),
    ("https://{{ .user }}@h/", TEMPLATE_FIRST),
    ("https://h/{{ .a", "a {{ template in the URL is not closed with }}"),
    ("https://h/{{ .a }} x", SPACES),
]


def yaml_string(s):
    """s as a YAML double-quoted scalar, every non-printable escaped."""
    out = []
    for ch in s:
        if ch in "\"\\":
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) >= 0x7f:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@pytest.fixture
def herald(settings_herald):
    return settings_herald()


def page_verdict(h, settings):
    """validate-configuration's message per key."""
    body = {"plugin-settings": {k: {"value": v} for k, v in settings.items()}}
    status, answer = h.gocd("go.plugin-settings.validate-configuration", body)
    assert status == 200, answer
    return {e["key"]: e["message"] for e in answer}


def apply_verdict(h, settings):
    """plugin-settings-changed: None when applied, else the message per key."""
    status, answer = h.gocd("go.plugin-settings.plugin-settings-changed", settings)
    assert status == 200, answer
    if answer == {"status": "success"}:
        return None
    out = {}
    for m in answer["messages"]:
        assert m.startswith("GoCD plugin settings: "), m
        path, _, msg = m[len("GoCD plugin settings: "):].partition(": ")
        key, _, where = path.partition(" ")  # "webhook_headers line 2"
        out.setdefault(key, f"{where}: {msg}" if where else msg)
    return out


def file_verdicts(tmp_path, urls):
    """check-config on one file with a target per URL: the message per index."""
    lines = ["targets:"]
    for i, url in enumerate(urls):
        lines += [f"  - name: t{i}", f"    url: {yaml_string(url)}"]
    lines += ["routes:", "  - name: r", "    targets: [t0]"]
    path = tmp_path / "urls.yaml"
    path.write_text("\n".join(lines) + "\n")
    r = subprocess.run([BIN, "check-config", str(path)], capture_output=True, text=True,
                       timeout=30 * SLOW)
    out = {}
    for line in r.stderr.splitlines():
        for i in range(len(urls)):
            tag = f": targets[{i}].url: "
            if tag in line:
                out[i] = line.split(tag, 1)[1]
    return r.returncode, out


def test_settings_page_apply_path_and_file_agree_on_every_url(herald, tmp_path):
    urls = [u for u, _ in URLS]
    # One file, one target per URL: HR_MAX_ERRORS (20) caps the messages of
    # one run, so check the URLs in groups.
    file = {}
    for at in range(0, len(urls), 15):
        _, got = file_verdicts(tmp_path, urls[at:at + 15])
        file.update({at + i: m for i, m in got.items()})
    for i, (url, want) in enumerate(URLS):
        page = page_verdict(herald, {"webhook_url": url}).get("webhook_url")
        applied = apply_verdict(herald, {"webhook_url": url})
        applied = None if applied is None else applied.get("webhook_url")
        assert page == want, f"settings page, {url!r}"
        assert applied == want, f"apply path, {url!r}"
        assert file.get(i) == want, f"file, {url!r}"


def test_a_good_file_passes_check_config(tmp_path):
    rc, got = file_verdicts(tmp_path, [u for u, m in URLS if m is None])
    assert (rc, got) == (0, {})


def test_an_empty_url_is_required_on_the_page_and_in_the_file(herald, tmp_path):
    want = "the URL is empty"
    assert page_verdict(herald, {"webhook_url": ""}) == {"webhook_url": want}
    assert file_verdicts(tmp_path, [""])[1] == {0: want}
    # Applied, an empty URL means "no webhook" (GoCD's page never sends it).
    assert apply_verdict(herald, {"webhook_url": ""}) is None


def test_the_page_refuses_what_the_apply_path_would(herald):
    """Templates that do not compile, in the URL, a header or the body: the
    page used to accept them, and herald then refused to apply them."""
    cases = [
        ({"webhook_url": "https://h/{{ .a | }}"}, "webhook_url", "template does not compile: "),
        ({"webhook_url": "https://h/", "webhook_body": "{text: "}, "webhook_body",
         "jq program does not compile: "),
        ({"webhook_url": "https://h/", "webhook_headers": "X-A: {{ ((( }}"}, "webhook_headers",
         "line 1: template does not compile"),
    ]
    for settings, key, prefix in cases:
        page = page_verdict(herald, settings)
        applied = apply_verdict(herald, settings)
        assert page.get(key, "").startswith(prefix), (settings, page)
        assert applied is not None and applied[key] == page[key], (settings, applied, page)


def test_settings_herald_cannot_apply_are_not_stored(settings_herald):
    h = settings_herald()
    good = {"webhook_url": "https://hooks.example.com/a"}
    assert apply_verdict(h, good) is None
    assert apply_verdict(h, {"webhook_url": "http://[1:2]/hook"}) == {"webhook_url": IPV6}
    status, data = h.get_json("/api/v1/settings")
    assert data["settings"]["webhook_url"] == "https://hooks.example.com/a"
    # ... so a restart still starts, with the good settings.
    h.stop()
    h.start()
    status, data = h.get_json("/api/v1/settings")
    assert data["settings"]["webhook_url"] == "https://hooks.example.com/a"


def stage_event(pipeline):
    body = json.loads((PAYLOADS / "stage-status_v4_completed_failed.json").read_text())
    body["pipeline"]["name"] = pipeline
    return body


def send(h, body):
    status, answer = h.gocd("stage-status", body)
    assert (status, answer) == (200, {"status": "success"}), answer


def received(t, prefix):
    """The first request whose path starts with prefix (waits for it)."""
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline:
        for r in t.wait(1):
            if r["path"].startswith(prefix):
                return r
        time.sleep(0.05)
    raise AssertionError(f"no request to {prefix}")


def wait_all_delivered(h, n):
    """Waits until n deliveries are recorded as delivered (so a restart
    does not send one again: delivery is at least once)."""
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline:
        status, data = h.get_json("/api/v1/deliveries?state=delivered")
        if status == 200 and len(data["deliveries"]) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} deliveries delivered")


@pytest.mark.valgrind
def test_settings_the_page_accepts_are_applied_and_survive_restart_and_reload(
        tmp_path, settings_herald):
    t = Target().start()
    cfg = tmp_path / "herald.yaml"
    cfg.write_text("delivery:\n  allow: [127.0.0.0/8]\n  backoff_initial: 200ms\n")
    h = settings_herald(["--config", str(cfg)])
    settings = {
        "webhook_url": t.url.upper().replace("HTTP://", "http://")
        + "/gocd/{{ .pipeline.name }}?n={{ .pipeline.counter }}",
        "webhook_method": "PUT",
        "webhook_headers": "X-Token: s3cr3t-value",
        "webhook_body": "{text: .pipeline.name}",
        "notify_on": "failed, broken",
    }
    assert page_verdict(h, settings) == {}
    assert apply_verdict(h, settings) is None

    send(h, stage_event("app one"))
    r = received(t, "/gocd/app%20one?n=")
    assert r["method"] == "PUT"
    assert json.loads(r["body"]) == {"text": "app one"}
    assert r["headers"]["x-token"] == "s3cr3t-value"

    # A restart reads the stored settings and uses them.
    wait_all_delivered(h, 1)
    h.stop()
    h.start()
    status, data = h.get_json("/api/v1/config")
    assert [x["name"] for x in data["targets"]] == ["gocd-settings"]
    send(h, stage_event("after-restart"))
    received(t, "/gocd/after-restart?n=")

    # So does a reload of the file (SIGHUP).
    h.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10 * SLOW
    while "configuration reloaded" not in h.log_text() and time.time() < deadline:
        time.sleep(0.05)
    assert "configuration reloaded" in h.log_text()
    send(h, stage_event("after-reload"))
    received(t, "/gocd/after-reload?n=")
    assert "s3cr3t-value" not in h.log_text()
    t.stop()


def health(h):
    status, data = h.request("GET", "/gocd/health-messages", headers=h.gocd_headers)
    return status, json.loads(data)


@pytest.mark.sqlite_only
def test_stored_settings_this_herald_refuses_are_set_aside_not_fatal(settings_herald):
    # An older herald stored settings that the one URL rule now refuses
    # (here written into the store directly, as that herald would have).
    # herald must still start and accept events: GoCD never resends a
    # refused notification. The settings are set aside, said so in the log
    # and in GoCD's health messages, and kept until saved again.
    h = settings_herald()
    assert apply_verdict(h, {"webhook_url": "https://hooks.example.com/a",
                             "webhook_headers": "X-Key: k3y-s3cret"}) is None
    h.stop()
    refused = "https://hooks.example.com/secret-path-key?k=v#frag\x01"
    db = sqlite3.connect(h.data_dir / "herald.db")
    with db:
        db.execute("UPDATE settings SET value = ? WHERE key = 'webhook_url'", (refused,))
    db.close()

    h.start()
    send(h, stage_event("still-accepted"))
    status, data = h.get_json("/api/v1/config")
    assert status == 200 and data["targets"] == []
    status, msgs = health(h)
    assert status == 200
    errors = [m["message"] for m in msgs if m["type"] == "error"]
    assert len(errors) == 1 and "set aside" in errors[0] and "webhook_url" in errors[0], msgs
    log = h.log_text()
    assert "set aside" in log
    for secret in ("secret-path-key", "k3y-s3cret"):
        assert secret not in log and secret not in errors[0]

    # Saving good settings again on the page ends it.
    assert apply_verdict(h, {"webhook_url": "https://hooks.example.com/b"}) is None
    status, msgs = health(h)
    assert not [m for m in msgs if "set aside" in m["message"]], msgs
